"""Publish stage: aggregates only, suppressed, with a manifest, swapped in atomically.

Each run writes a complete new version under `data/published/.versions/<initiative>/<run_id>/`
and then repoints the symlink `data/published/<initiative>` at it with one rename, so a reader
sees either the old set of files or the new one, never a mix. The last few versions are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import duckdb

from pipelines.config import InitiativeConfig, Workspace
from pipelines.equity.stats import RELIABILITY_MIN_DENOMINATOR, register_stat_macros
from pipelines.scorecard import render_scorecard

KEEP_VERSIONS = 5
RESULT_COLUMNS = """
    initiative_id, indicator_id, period, partner_id, race_tabulation, race, class,
    CASE WHEN suppressed THEN NULL ELSE numerator END AS numerator,
    CASE WHEN suppressed THEN NULL ELSE denominator END AS denominator,
    CASE WHEN suppressed OR denominator = 0 THEN NULL ELSE numerator / denominator END AS value,
    CASE WHEN suppressed THEN NULL ELSE wilson_lower(numerator, denominator) END AS ci_lower,
    CASE WHEN suppressed THEN NULL ELSE wilson_upper(numerator, denominator) END AS ci_upper,
    CASE WHEN suppressed THEN NULL ELSE denominator < {min_n} END AS low_reliability,
    suppressed, suppression_reason, source"""


def _wanted_cells(config: InitiativeConfig) -> str:
    """SQL filter keeping only the disaggregations each indicator asks to publish."""
    clauses = []
    for indicator in config.indicators:
        wanted = set(indicator.disaggregations)
        parts = [f"indicator_id = '{indicator.id}'"]
        if "partner" not in wanted:
            parts.append("partner_id = 'ALL'")
        if "race_x_class" not in wanted:
            parts.append("(race = 'ALL' OR class = 'ALL')")
        if "race" not in wanted:
            parts.append("(race = 'ALL' OR class <> 'ALL')")
        if "class" not in wanted:
            parts.append("(class = 'ALL' OR race <> 'ALL')")
        clauses.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(clauses)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish(con: duckdb.DuckDBPyConnection, workspace: Workspace, config: InitiativeConfig,
            run_id: str) -> Path:
    register_stat_macros(con)
    versions = workspace.path("data", "published", ".versions", config.id)
    target = versions / run_id
    staging = versions / f".{run_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    results = staging / "indicator_results.parquet"
    columns = RESULT_COLUMNS.format(min_n=RELIABILITY_MIN_DENOMINATOR)
    con.execute(f"COPY (SELECT {columns} FROM {config.id}.indicator_cells "
                f"WHERE {_wanted_cells(config)} ORDER BY ALL) TO '{results}' "
                "(FORMAT parquet, COMPRESSION zstd)")
    disparities = staging / "disparities.parquet"
    con.execute(f"COPY (SELECT * FROM {config.id}.disparities ORDER BY ALL) TO '{disparities}' "
                "(FORMAT parquet, COMPRESSION zstd)")

    render_scorecard(staging, _initiative_view(config), _indicator_views(config),
                     staging / "scorecard.html")
    _write_manifest(con, config, run_id, staging)
    os.replace(staging, target)
    _point_current(workspace.published(config.id), target)
    _prune(versions)
    return workspace.published(config.id)


def data_version(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> int:
    """The newest loaded submission: published outputs are current iff they were built from it."""
    return con.execute("SELECT coalesce(max(submission_id), 0) FROM submissions WHERE "
                       "initiative_id = ? AND status = 'loaded'", [config.id]).fetchall()[0][0]


def is_current(con: duckdb.DuckDBPyConnection, workspace: Workspace,
               config: InitiativeConfig) -> bool:
    """True when the published version was built from today's data and definitions.

    Lets a night with no new files skip re-measuring a large warehouse. A run killed after
    loading but before publishing leaves a stale data_version, so its rerun still publishes.
    """
    manifest = workspace.published(config.id) / "manifest.json"
    if not manifest.is_file():
        return False
    published = json.loads(manifest.read_text())
    return (published.get("definitions_fingerprint") == config.fingerprint
            and published.get("data_version") == data_version(con, config))


def _initiative_view(config: InitiativeConfig) -> dict:
    initiative = config.initiative
    return {"id": initiative.id, "name": initiative.name, "description": initiative.description,
            "reference_groups": dict(initiative.reference_groups),
            "suppression_threshold": initiative.suppression.threshold}


def _indicator_views(config: InitiativeConfig) -> list[dict]:
    return [i.model_dump(include={"id", "title", "description", "unit", "direction", "target",
                                  "baseline"}) for i in config.indicators]


def _write_manifest(con, config: InitiativeConfig, run_id: str, folder: Path) -> None:
    files = {}
    for path in sorted(folder.iterdir()):
        entry = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        if path.suffix == ".parquet":
            entry["rows"] = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchall()[0][0]
        files[path.name] = entry
    sources = con.execute(f"""
        SELECT s.submission_id, s.partner_id, s.file_name, s.sha256, s.rows_loaded,
               strftime(s.received_at, '%Y-%m-%dT%H:%M:%S') AS received_at
        FROM submissions s
        WHERE s.submission_id IN (SELECT DISTINCT submission_id FROM {config.id}.records_current)
        ORDER BY s.submission_id""").fetchall()
    manifest = {
        "initiative_id": config.id, "run_id": run_id,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "definitions_fingerprint": config.fingerprint,
        "data_version": data_version(con, config),
        "suppression_threshold": config.initiative.suppression.threshold,
        "files": files,
        "source_files": [dict(zip(("submission_id", "partner_id", "file_name", "sha256",
                                   "rows_loaded", "received_at"), row)) for row in sources],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _point_current(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() and not link.is_symlink():
        # A directory from an older layout: keep it, aside, rather than delete anything.
        link.rename(link.with_name(link.name + f".pre-versioned-{dt.datetime.now():%Y%m%d%H%M%S}"))
    temporary = link.with_name(f".{link.name}.link")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(os.path.relpath(target, link.parent))
    os.replace(temporary, link)


def _prune(versions: Path) -> None:
    done = sorted((p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)
    for old in done[:-KEEP_VERSIONS]:
        shutil.rmtree(old, ignore_errors=True)


def snapshot_warehouse(warehouse_file: Path, snapshot_file: Path) -> None:
    """Copy the closed warehouse to a read-only snapshot analysts can open during the next run."""
    temporary = snapshot_file.with_name(f".{snapshot_file.name}.tmp")
    # Left read-only by a crash just before the rename; copyfile cannot open it again (non-root).
    temporary.unlink(missing_ok=True)
    shutil.copyfile(warehouse_file, temporary)
    os.chmod(temporary, 0o444)
    os.replace(temporary, snapshot_file)
