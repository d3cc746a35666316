"""Measure, suppress, compare and publish one initiative: the marts step every writer shares.

The nightly warehouse step and `backbone rebuild` both end here, so a rebuilt warehouse publishes
with exactly the rules a night does (the workspace's own race and class labels included).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines import measure_reuse, part_changes, quality, quality_text
from pipelines.config import InitiativeConfig, Workspace
from pipelines.disparities import compute_disparities
from pipelines.measure import build_indicator_cells
from pipelines.escape import one_line
from pipelines.publish import publish, render_partnership_scorecard, write_manifest
from pipelines.status_page import STATUS_FILES, publish_status, status_stamp, status_table
from pipelines.suppress import suppress_cells
from pipelines.versions import PARTNERSHIP, current_version, derive_version, discard_version, \
    finish_version


@dataclass(frozen=True)
class Refreshed:
    cells: int
    suppressed: dict[str, int]
    published: Path
    # What the partnership file holds: {"cells", "primary", "complementary"}. `cells` and
    # `suppressed` count every breakdown measured, most of which an indicator does not publish.
    shown: dict[str, int] = field(default_factory=dict)


def not_reported_labels(config: InitiativeConfig) -> tuple[str, ...]:
    """Missing data is not a group to compare: the workspace's own labels for it."""
    return tuple(sorted({config.standards.race.not_reported_label,
                         config.standards.class_bands.not_reported_label}))


def measure_and_publish(con: duckdb.DuckDBPyConnection, workspace: Workspace,
                        config: InitiativeConfig, run_id: str) -> Refreshed:
    """Rebuild the marts from `records_current` and publish the partnership version.

    Raises ConfigError (from measure) when the definitions cannot class the data, e.g. a period
    before the first poverty-guideline year; nothing is published then.
    """
    try:
        cells = build_indicator_cells(con, config, reuse=measure_reuse.cache_folder(
            workspace.warehouse_file, config.id))
        race = config.standards.race
        counts = suppress_cells(con, f"{config.id}.indicator_cells",
                                config.initiative.suppression.threshold,
                                multiracial_label=race.multiracial_label,
                                not_reported_label=race.not_reported_label)
        compute_disparities(con, f"{config.id}.indicator_cells", f"{config.id}.disparities",
                            dict(config.initiative.reference_groups),
                            exclude_groups=not_reported_labels(config),
                            favorable_indicators=[i.id for i in config.indicators
                                                  if i.direction == "higher_is_better"])
        quality.build_flags(con, config, parts=measure_reuse.PARTS)
        published = publish(con, workspace, config, run_id, parts=measure_reuse.PARTS)
    finally:
        con.execute(f"DROP TABLE IF EXISTS temp.{measure_reuse.PARTS}")
    part_changes.mark_published(con, config)
    quality_text.add_to_reports(con, config, run_id)  # written at load, before these flags
    return Refreshed(cells, counts, published, published_counts(con, published))


def published_counts(con: duckdb.DuckDBPyConnection, published: Path) -> dict[str, int]:
    """Cells in a published partnership version's results, and how many are hidden, by reason."""
    path = Path(published) / "indicator_results.parquet"
    if not path.is_file():
        return {}
    cells, primary, complementary = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE suppression_reason = 'primary'), "
        "count(*) FILTER (WHERE suppression_reason = 'complementary') FROM read_parquet(?)",
        [str(path)]).fetchall()[0]
    return {"cells": cells, "primary": primary, "complementary": complementary}


def refresh_status(con: duckdb.DuckDBPyConnection, workspace: Workspace,
                   config: InitiativeConfig, run_id: str) -> Path | None:
    """On a night that publishes no results: a status-only partnership version when the
    submission status changed since the one published (a due date passed with no file, a period
    began, a file was held or rejected). The results files are carried over unchanged (hard
    links) and the manifest keeps describing them as before (`generated_at`, `data_version`,
    `definitions_fingerprint` are the results'); `status` and `results_run_id` say what is new.
    Returns the new version, or None when nothing changed (the usual quiet night: one status
    query, no file written). The public audience is never touched.

    A status that cannot be worked out is a warning: the night's files are loaded by then and
    the published version stands."""
    current = current_version(workspace, config.id, PARTNERSHIP)
    if current is None or not (current / "manifest.json").is_file():
        return None  # nothing published yet: the first results publish the status with them
    manifest = json.loads((current / "manifest.json").read_text(encoding="utf-8"))
    try:
        table = status_table(con, config)
    except duckdb.Error as exc:
        logging.getLogger(__name__).warning("%s: submission status not republished: %s",
                                            config.id, one_line(exc, 300))
        return None
    stamp = status_stamp(table)
    published = manifest.get("status")
    if (stamp or {}).get("fingerprint") == (published or {}).get("fingerprint") and (
            stamp is not None or not any((current / n).exists() for n in STATUS_FILES)):
        return None
    # The scorecard too: its headlines say which partners still owe their period.
    staging, _ = derive_version(workspace, config.id, PARTNERSHIP, run_id,
                                STATUS_FILES + ("scorecard.html",))
    try:
        if table is not None:
            publish_status(con, config, staging, table)
        render_partnership_scorecard(staging, config,
                                     manifest.get("poverty_guideline_years") or [], table,
                                     manifest.get("generated_at"))
        head = {k: v for k, v in manifest.items() if k != "files"}
        head.update(run_id=run_id, results_run_id=manifest.get("results_run_id",
                                                               manifest.get("run_id")),
                    status=stamp and {**stamp, "generated_at": dt.datetime.now(
                        dt.timezone.utc).isoformat(timespec="seconds")})
        # The status files are new here: a same-sized old entry must not describe them.
        write_manifest(staging, head, known={k: v for k, v in manifest.get("files", {}).items()
                                             if k not in STATUS_FILES})
    except BaseException:
        discard_version(staging)
        raise
    return finish_version(workspace, config.id, PARTNERSHIP, staging, run_id)

