"""Declarative configuration: initiatives, partners, intake schemas, crosswalks, indicators.

Everything a backbone team edits lives in YAML under the workspace (`indicators/`, `schemas/`) and
is validated here on load. A mistake names the file and the key, like a compiler error. The models
live in yaml_models.py, intake_schema.py and definitions.py; they are re-exported here so callers
import every definition name from one place.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import definition_checks
from pipelines.definitions import (  # noqa: F401  (re-exported)
    Condition,
    Indicator,
    Initiative,
    Milestone,
    Op,
    Partner,
    Suppression,
)
from pipelines.errors import ConfigError
from pipelines.curve_plan import check_plans_and_stories
from pipelines.reporting import check_measures
from pipelines.intake_schema import (  # noqa: F401  (re-exported)
    ROLES_REQUIRED,
    ColumnRole,
    ColumnType,
    Crosswalk,
    IntakeColumn,
    IntakeSchema,
    _check_crosswalk,
    load_schema,
)
from pipelines.yaml_models import (  # noqa: F401  (re-exported)
    IDENTIFIER,
    _not_an_sql_keyword,
    _read_yaml,
    _Strict,
    parse_model,
)

if TYPE_CHECKING:
    from pipelines.equity.workspace import EquityStandards

REPO_ROOT = Path(__file__).resolve().parents[1]


# What a backbone team edits; everything else in a workspace is under data/.
DEFINITION_FOLDERS = ("indicators", "schemas")


@dataclass(frozen=True)
class Workspace:
    """A backbone home: indicators/, schemas/ and data/ under one root."""

    root: Path

    @classmethod
    def resolve(cls, home: str | Path | None = None) -> Workspace:
        chosen = home or os.environ.get("BACKBONE_HOME") or REPO_ROOT
        return cls(Path(chosen).resolve())

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def add_definitions(self, source: Path = REPO_ROOT) -> Workspace:
        """Copy `source`'s indicators/ and schemas/ here, each unless already present."""
        for folder in DEFINITION_FOLDERS:
            if not self.path(folder).exists():
                shutil.copytree(source / folder, self.path(folder))
        return self

    @property
    def intake(self) -> Path:
        return self.path("data", "intake")

    @property
    def warehouse_file(self) -> Path:
        return self.path("data", "warehouse", "backbone.duckdb")

    @property
    def snapshot_file(self) -> Path:
        return self.path("data", "warehouse", "snapshot.duckdb")

    @property
    def staging(self) -> Path:
        return self.path("data", "staging")

    def archive(self, initiative: str, partner: str) -> Path:
        return self.path("data", "archive", initiative, partner)

    def rejected(self, initiative: str, partner: str) -> Path:
        return self.path("data", "rejected", initiative, partner)

    def reports(self, initiative: str, partner: str) -> Path:
        return self.path("data", "reports", initiative, partner)

    def published(self, initiative: str) -> Path:
        return self.path("data", "published", initiative)

    def initiative_ids(self) -> list[str]:
        base = self.path("indicators")
        return sorted(p.name for p in base.iterdir() if (p / "initiative.yaml").is_file()) \
            if base.is_dir() else []

    def load(self, initiative_id: str) -> InitiativeConfig:
        return InitiativeConfig.load(self, initiative_id)


def _refuse_unread_definitions(folder: Path) -> None:
    """Windows saves `X.YAML`, and Notepad adds `.txt` to a name typed as `x.yaml`: neither is
    read, so an indicator would vanish from the scorecard, or an edit never apply, silently."""
    for path in sorted(folder.iterdir()):
        name, lowered = path.name, path.name.lower()
        if not path.is_file() or name.startswith("."):
            continue
        if lowered.endswith((".yaml.txt", ".yml.txt")):
            meant = name[:-4]
        elif lowered.endswith((".yaml", ".yml")) and not name.endswith((".yaml", ".yml")):
            meant = name[:name.rindex(".")] + name[name.rindex("."):].lower()
        else:
            continue
        raise ConfigError(f"{path}: (file name): not read as a definition: only names ending "
                          f"in .yaml or .yml (lowercase) are; rename it {meant!r}")


def _refuse_forgotten_crosswalk(workspace: Workspace, initiative_file: Path, initiative_id: str,
                                partner_id: str, crosswalk: str | None) -> None:
    """A partner's crosswalk written but not named in initiative.yaml: its files would be read
    against the bare template, and rejected or set aside as the partner's mistake."""
    if crosswalk:
        return
    for suffix in (".yaml", ".yml"):
        path = workspace.path("schemas", "crosswalks", initiative_id, partner_id + suffix)
        if path.is_file():
            raise ConfigError(f"{initiative_file}: partners.{partner_id}: no crosswalk: is given, "
                              f"but {path} exists: add `crosswalk: {path.name}` (or delete "
                              "that file if the partner sends the template as it is)")


@dataclass(frozen=True)
class InitiativeConfig:
    """An initiative with everything its partners' files are checked and measured against."""

    workspace: Workspace
    initiative: Initiative
    indicators: tuple[Indicator, ...]
    record_schema: IntakeSchema
    aggregate_schema: IntakeSchema | None
    crosswalks: dict[str, Crosswalk]
    # The workspace's schemas/equity/: race standard, class bands, poverty guidelines.
    standards: EquityStandards

    @property
    def id(self) -> str:
        return self.initiative.id

    @classmethod
    def load(cls, workspace: Workspace, initiative_id: str) -> InitiativeConfig:
        folder = workspace.path("indicators", initiative_id)
        initiative_file = folder / "initiative.yaml"
        if not initiative_file.is_file() and initiative_id not in workspace.initiative_ids():
            known = ", ".join(workspace.initiative_ids()) or "none yet"
            raise ConfigError(f"{initiative_file}: no initiative {initiative_id!r} in workspace "
                              f"{workspace.root} (initiatives there: {known})")
        initiative: Initiative = parse_model(Initiative, initiative_file)
        if initiative.id != initiative_id:
            raise ConfigError(f"{initiative_file}: id: {initiative.id!r} does not match folder "
                              f"name {initiative_id!r}")
        _refuse_unread_definitions(folder)
        indicators, indicator_files = [], {}
        # `.yml` is as much YAML as `.yaml`: a definition saved so must count, not vanish.
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            if path.stem == "initiative":
                continue
            indicator: Indicator = parse_model(Indicator, path)
            if indicator.id != path.stem:
                raise ConfigError(f"{path}: id: {indicator.id!r} does not match file name")
            if indicator.id in indicator_files:
                raise ConfigError(f"{path}: id: indicator {indicator.id!r} is also defined in "
                                  f"{indicator_files[indicator.id].name}; keep one of the two")
            indicators.append(indicator)
            indicator_files[indicator.id] = path
        if not indicators:
            raise ConfigError(f"{folder}: no indicator definitions (*.yaml) found")
        check_plans_and_stories(folder, initiative, list(indicator_files), initiative_file)

        record_schema = load_schema(workspace, initiative.record_schema, initiative_file)
        aggregate_schema = None
        if any(p.submits == "aggregates" for p in initiative.partners.values()):
            aggregate_schema = load_schema(workspace, initiative.aggregate_schema, initiative_file)
        definition_checks.check_aggregate_sources(initiative, indicators, indicator_files)
        if aggregate_schema is not None and aggregate_schema.kind != "aggregates":
            raise ConfigError(f"{initiative_file}: aggregate_schema: {aggregate_schema.id!r} is "
                              "not an aggregates schema")

        from pipelines.equity.workspace import EquityStandards

        standards = EquityStandards.load(workspace.path("schemas", "equity"))
        race, bands = standards.race, standards.class_bands
        definition_checks.check_reference_groups(
            initiative, [g for g in race.tabulation_labels if g != race.not_reported_label],
            [g for g in bands.labels if g != bands.not_reported_label], initiative_file)
        for indicator in indicators:
            definition_checks.check_conditions(indicator, record_schema, list(bands.labels),
                                               indicator_files[indicator.id])
        crosswalks = {}
        for partner_id, partner in initiative.partners.items():
            crosswalks[partner_id] = Crosswalk()
            _refuse_forgotten_crosswalk(workspace, initiative_file, initiative_id, partner_id,
                                        partner.crosswalk)
            if partner.crosswalk:
                path = workspace.path("schemas", "crosswalks", initiative_id, partner.crosswalk)
                if not path.is_file():
                    raise ConfigError(f"{initiative_file}: partners.{partner_id}.crosswalk: no "
                                      f"file {path}")
                crosswalks[partner_id] = parse_model(Crosswalk, path)
                schema = aggregate_schema if partner.submits == "aggregates" else record_schema
                _check_crosswalk(crosswalks[partner_id], schema, path, standards)
        check_measures(initiative, record_schema, aggregate_schema, list(indicator_files),
                       initiative_file)
        return cls(workspace, initiative, tuple(indicators), record_schema, aggregate_schema,
                   crosswalks, standards)

    def schema_for(self, partner_id: str) -> IntakeSchema:
        if self.initiative.partners[partner_id].submits == "aggregates":
            assert self.aggregate_schema is not None
            return self.aggregate_schema
        return self.record_schema

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever a definition that shapes published numbers changes."""
        parts = [self.initiative.model_dump_json(), self.record_schema.model_dump_json()]
        parts += [i.model_dump_json() for i in self.indicators]
        # Class is re-derived at measure time from the guidelines, bands and proxy crosswalks,
        # so a change to any of them must re-measure the warehouse.
        return _digest([*parts, self.standards.digest, *self._class_proxies()])

    @cached_property
    def settings_fingerprint(self) -> str:
        """The fingerprint's parts outside the indicators and the suppression threshold (which
        a release note names on their own): a release note can then say these changed too
        when an indicator also did, instead of putting every move on the indicator."""
        return _digest([self.initiative.model_dump_json(exclude={"suppression": {"threshold"}}),
                        self.record_schema.model_dump_json(), self.standards.digest,
                        *self._class_proxies()])

    def _class_proxies(self) -> list[str]:
        return [f"{p}:{sorted(c.class_proxy.items())}" for p, c in sorted(self.crosswalks.items())]


def _digest(parts: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
