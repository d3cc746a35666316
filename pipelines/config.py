"""Declarative configuration: initiatives, partners, intake schemas, crosswalks, indicators.

Everything a backbone team edits lives in YAML under the workspace (`indicators/`, `schemas/`) and
is validated here on load. A mistake names the file and the key, like a compiler error.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines import definition_checks
from pipelines.errors import ConfigError

if TYPE_CHECKING:
    from pipelines.equity.workspace import EquityStandards

IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"
REPO_ROOT = Path(__file__).resolve().parents[1]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _not_an_sql_keyword(name: str) -> str:
    """Column and initiative names become SQL identifiers, unquoted in generated queries."""
    if name in definition_checks.reserved_sql_words():
        raise ValueError(f"{name!r} is a reserved SQL word; choose another name (e.g. "
                         f"{name}_flag)")
    return name


# --- intake schemas -------------------------------------------------------------------------

ColumnType = Literal["string", "integer", "number", "date"]
ColumnRole = Literal[
    "person_id", "period", "race_codes", "race_flag", "race_none", "household_income",
    "household_size", "state", "class_proxy", "partner_id", "measure", "attribute",
    # aggregate templates
    "indicator_id", "race_group", "class_group", "numerator", "denominator",
]
ROLES_REQUIRED = {
    "records": ("person_id", "period"),
    "aggregates": ("indicator_id", "period", "race_group", "class_group", "numerator",
                   "denominator"),
}


class IntakeColumn(_Strict):
    name: str = Field(pattern=IDENTIFIER)
    type: ColumnType = "string"
    role: ColumnRole = "attribute"
    required: bool = False
    description: str = ""
    aliases: tuple[str, ...] = ()
    allowed: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    # "current_year" rejects future periods, relative to the day of the run.
    max_is_current_year: bool = False
    pattern: str | None = None
    race_code: str | None = None  # for role race_flag: which SPD 15 code the 0/1 column marks

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        return _not_an_sql_keyword(value)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value

    @model_validator(mode="after")
    def _race_flag_has_code(self) -> IntakeColumn:
        if self.role == "race_flag" and not self.race_code:
            raise ValueError("a race_flag column needs race_code (one of the SPD 15 codes)")
        return self


class IntakeSchema(_Strict):
    id: str = Field(pattern=IDENTIFIER)
    kind: Literal["records", "aggregates"] = "records"
    title: str
    grain: str
    columns: tuple[IntakeColumn, ...]
    unique: tuple[str, ...] = ()
    # A file whose share of bad rows exceeds this is rejected whole: it is probably the wrong template.
    max_bad_row_share: float = Field(default=0.5, ge=0, le=1)
    # Resubmissions (pipelines/resubmission.py): a night's files replace a whole period when they
    # carry at least this share of its current rows; a replacement dropping more than
    # max_shrink_share of them is held for a data lead (`backbone accept`).
    complete_file_share: float = Field(default=0.5, gt=0, le=1)
    max_shrink_share: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> IntakeSchema:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"column names repeat: {sorted({n for n in names if names.count(n) > 1})}")
        for key in self.unique:
            if key not in names:
                raise ValueError(f"unique key {key!r} is not a column")
        for role in ROLES_REQUIRED[self.kind]:
            if [c.role for c in self.columns].count(role) != 1:
                raise ValueError(f"a {self.kind} schema needs exactly one column with role {role!r}")
        return self

    def column(self, name: str) -> IntakeColumn:
        return next(c for c in self.columns if c.name == name)

    def by_role(self, role: str) -> list[IntakeColumn]:
        return [c for c in self.columns if c.role == role]

    def role_column(self, role: str) -> str | None:
        found = self.by_role(role)
        return found[0].name if found else None

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


# --- partner crosswalks -----------------------------------------------------------------------

class Crosswalk(_Strict):
    """How one partner's local file maps onto the shared template."""

    header_aliases: dict[str, str] = Field(default_factory=dict)
    # local race code -> SPD 15 codes; "not_reported" marks an explicit refusal/unknown.
    race_codes: dict[str, tuple[str, ...] | Literal["not_reported"]] = Field(default_factory=dict)
    race_separator: str = ";"
    class_proxy: dict[str, str] = Field(default_factory=dict)
    # column -> {local value -> shared value}, applied before validation
    values: dict[str, dict[str, str | int | float]] = Field(default_factory=dict)
    # True: every file is a complete extract of each period it carries, so it replaces them
    # (people it does not list are dropped), however few rows it has.
    complete_extracts: bool = False

    @field_validator("race_codes", mode="before")
    @classmethod
    def _single_code_to_list(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): ([v] if isinstance(v, str) and v != "not_reported" else v)
                    for k, v in value.items()}
        return value

    @field_validator("race_separator")
    @classmethod
    def _separator_is_one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("race_separator must be a single character")
        return value


# --- initiatives and indicators ---------------------------------------------------------------

Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null"]


class Condition(_Strict):
    column: str = Field(pattern=IDENTIFIER)
    op: Op = "="
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op in ("is_null", "not_null"):
            if self.value is not None:
                raise ValueError(f"op {self.op!r} takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, (list, tuple)) or not self.value:
                raise ValueError(f"op {self.op!r} needs a non-empty list value")
        elif not isinstance(self.value, (int, float, str)) or isinstance(self.value, bool):
            raise ValueError(f"op {self.op!r} needs a number or text value")
        return self


class Milestone(_Strict):
    value: float
    period: str


class Indicator(_Strict):
    id: str = Field(pattern=IDENTIFIER)
    title: str
    description: str = ""
    unit: Literal["percent"] = "percent"
    # Who one count is: the scorecard says "families" for a housing indicator, not "people".
    counted: Literal["people", "families", "households"] = "people"
    direction: Literal["higher_is_better", "lower_is_better"]
    # "aggregates": measured only from partners' aggregate submissions (no conditions needed).
    source: Literal["records", "aggregates"] = "records"
    denominator: tuple[Condition, ...] = ()
    numerator: tuple[Condition, ...] = ()
    target: Milestone | None = None
    baseline: Milestone | None = None
    disaggregations: tuple[Literal["race", "class", "race_x_class", "partner"], ...] = (
        "race", "class", "race_x_class", "partner")

    @model_validator(mode="after")
    def _conditions_for_records(self) -> Indicator:
        if self.source == "records" and not (self.numerator and self.denominator):
            raise ValueError("an indicator measured from records needs numerator and denominator "
                             "conditions")
        return self


class Partner(_Strict):
    name: str
    submits: Literal["records", "aggregates"] = "records"
    # A file name under schemas/crosswalks/<initiative>/, never a path out of it.
    crosswalk: str | None = Field(default=None, pattern=r"^[^/\\]+$")


class Suppression(_Strict):
    # 0 would suppress nothing while the scorecard promises small counts are hidden.
    threshold: int = Field(default=10, ge=1)


class Initiative(_Strict):
    id: str = Field(pattern=IDENTIFIER)
    name: str
    description: str = ""
    state: str = Field(default="", pattern=r"^([A-Z]{2})?$")
    record_schema: str
    aggregate_schema: str = "aggregate_counts_v1"
    suppression: Suppression = Suppression()
    # The open-data licence written into the public datapackage.json.
    license: Literal["CC-BY-4.0", "ODC-BY-1.0", "ODC-PDDL-1.0", "CC0-1.0"] = "CC-BY-4.0"
    reference_groups: dict[Literal["race", "class"], str] = Field(
        default_factory=lambda: {"race": "White", "class": "400%+ FPG"})
    partners: dict[str, Partner]

    @field_validator("id")
    @classmethod
    def _id_not_reserved(cls, value: str) -> str:
        return _not_an_sql_keyword(value)  # the initiative's DuckDB schema is named after it

    @field_validator("partners")
    @classmethod
    def _partner_ids(cls, value: dict[str, Partner]) -> dict[str, Partner]:
        for partner_id in value:
            if not re.match(IDENTIFIER, partner_id):
                raise ValueError(f"partner id {partner_id!r} must be lowercase letters, digits, _")
        return value


# --- loading ----------------------------------------------------------------------------------

def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def parse_model(model: type[BaseModel], path: Path, data: Any | None = None) -> Any:
    """Validate YAML content against a model; the error names the file and the dotted key."""
    data = _read_yaml(path) if data is None else data
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            problems.append(f"{path}: {key}: {error['msg']}")
        raise ConfigError("\n".join(problems)) from None


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
        initiative: Initiative = parse_model(Initiative, initiative_file)
        if initiative.id != initiative_id:
            raise ConfigError(f"{initiative_file}: id: {initiative.id!r} does not match folder "
                              f"name {initiative_id!r}")
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

        record_schema = load_schema(workspace, initiative.record_schema, initiative_file)
        aggregate_schema = None
        if any(p.submits == "aggregates" for p in initiative.partners.values()):
            aggregate_schema = load_schema(workspace, initiative.aggregate_schema, initiative_file)
        for indicator in indicators:
            definition_checks.check_conditions(indicator, record_schema,
                                               indicator_files[indicator.id])
        if aggregate_schema is not None and aggregate_schema.kind != "aggregates":
            raise ConfigError(f"{initiative_file}: aggregate_schema: {aggregate_schema.id!r} is "
                              "not an aggregates schema")

        from pipelines.equity.workspace import EquityStandards

        standards = EquityStandards.load(workspace.path("schemas", "equity"))
        race, bands = standards.race, standards.class_bands
        definition_checks.check_reference_groups(
            initiative, [g for g in race.tabulation_labels if g != race.not_reported_label],
            [g for g in bands.labels if g != bands.not_reported_label], initiative_file)
        crosswalks = {}
        for partner_id, partner in initiative.partners.items():
            crosswalks[partner_id] = Crosswalk()
            if partner.crosswalk:
                path = workspace.path("schemas", "crosswalks", initiative_id, partner.crosswalk)
                if not path.is_file():
                    raise ConfigError(f"{initiative_file}: partners.{partner_id}.crosswalk: no "
                                      f"file {path}")
                crosswalks[partner_id] = parse_model(Crosswalk, path)
                schema = aggregate_schema if partner.submits == "aggregates" else record_schema
                _check_crosswalk(crosswalks[partner_id], schema, path, standards)
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
        import hashlib

        parts = [self.initiative.model_dump_json(), self.record_schema.model_dump_json()]
        parts += [i.model_dump_json() for i in self.indicators]
        # Class is re-derived at measure time from the guidelines, bands and proxy crosswalks,
        # so a change to any of them must re-measure the warehouse.
        parts.append(self.standards.digest)
        parts += [f"{p}:{sorted(c.class_proxy.items())}" for p, c in sorted(self.crosswalks.items())]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def load_schema(workspace: Workspace, schema_id: str, referenced_from: Path) -> IntakeSchema:
    path = workspace.path("schemas", "intake", f"{schema_id}.yaml")
    if not path.is_file():
        raise ConfigError(f"{referenced_from}: schema {schema_id!r}: no file {path}")
    schema: IntakeSchema = parse_model(IntakeSchema, path)
    return schema


def _check_crosswalk(crosswalk: Crosswalk, schema: IntakeSchema, path: Path,
                     standards: EquityStandards) -> None:
    names = {c.name for c in schema.columns}
    for local, canonical in crosswalk.header_aliases.items():
        if canonical not in names:
            raise ConfigError(f"{path}: header_aliases.{local}: {canonical!r} is not a column of "
                              f"intake schema {schema.id!r}")
    proxies = standards.class_bands.proxy_labels
    for local, label in crosswalk.class_proxy.items():
        if label not in (proxies.low_income, proxies.not_low_income):
            raise ConfigError(f"{path}: class_proxy.{local}: {label!r} is not a proxy class label "
                              f"({proxies.low_income!r} or {proxies.not_low_income!r})")
    known = standards.race.codes
    for local, codes in crosswalk.race_codes.items():
        for code in () if codes == "not_reported" else codes:
            if code not in known:
                raise ConfigError(f"{path}: race_codes.{local}: {code!r} is not an SPD 15 code "
                                  f"({', '.join(known)}) or not_reported")
    for column in crosswalk.values:
        if column not in names:
            raise ConfigError(f"{path}: values.{column}: not a column of intake schema "
                              f"{schema.id!r}")
