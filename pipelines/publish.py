"""Publish stage: aggregates only, suppressed, with a manifest, swapped in atomically.

Each run writes a complete new partnership version (partner rows included, for partners and
analysts under the data-sharing agreement) and swaps `data/published/<initiative>/partnership`
to it (see pipelines/versions.py). The public folder is not touched here: it changes only when a
data lead runs `backbone release` (pipelines/release.py), so nightly resends cannot be differenced
by outsiders.

Every table publishes only the breakdowns each indicator's `disaggregations` allow: a cell withheld
from indicator_results must not come back through disparities, the data package or the scorecard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow.parquet as pq

from pipelines import unlisted
from pipelines.config import InitiativeConfig, Workspace
from pipelines.datapackage import PRIMARY_KEYS, write_datapackage
from pipelines.digests import json_digest
from pipelines.dictionary import parquet_kv_metadata
from pipelines.equity.stats import RELIABILITY_MIN_DENOMINATOR, register_stat_macros
from pipelines.quality import publish_flags
from pipelines.scorecard import render_scorecard, scorecard_settings
from pipelines.scorecard_owed import owed_view
from pipelines.measure_grains import other_calendar_note
from pipelines.sql import has_column, has_table, sql_literal
from pipelines.status_page import publish_status, status_stamp, status_table
from pipelines.versions import (KEEP_VERSIONS, PARTNERSHIP, audience_dir, finish_version,  # noqa: F401
                                start_version)

if TYPE_CHECKING:
    import pyarrow as pa

RESULT_COLUMNS = """
    initiative_id, indicator_id, period, period_type, period_start, period_end, partner_id,
    race_tabulation, race, class,
    CASE WHEN suppressed THEN NULL ELSE numerator END AS numerator,
    CASE WHEN suppressed THEN NULL ELSE denominator END AS denominator,
    CASE WHEN suppressed OR denominator = 0 THEN NULL ELSE numerator / denominator END AS value,
    CASE WHEN suppressed THEN NULL ELSE wilson_lower(numerator, denominator) END AS ci_lower,
    CASE WHEN suppressed THEN NULL ELSE wilson_upper(numerator, denominator) END AS ci_upper,
    CASE WHEN suppressed THEN NULL ELSE denominator < {min_n} END AS low_reliability,
    suppressed, suppression_reason, source"""


def _row_order(table: str) -> str:
    """A table's rows in the order of its key; periods by their first day, never by label text
    ("2023-24" before "2024Q1")."""
    return ", ".join("period_start" if c == "period" else c for c in PRIMARY_KEYS[table])


RESULT_ORDER = _row_order("indicator_results")
DISPARITY_ORDER = _row_order("disparities")
# How published numbers are computed and said, beyond the definitions: changed when the code
# changes a published number or what the published pages say of them (2: the index of disparity
# on adverse rates; 3: gaps to a reference rate of 0% shown, the guideline-year sentence, the
# data package's counted words), so that the first night on the new code publishes again even
# with no new data (`is_current`).
METHODS = 3
SOURCE_FIELDS = ("submission_id", "partner_id", "file_name", "sha256", "rows_loaded", "received_at",
                 "kind")


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


def _wanted_disparities(config: InitiativeConfig) -> str:
    """The same rule for disparities: a dimension or partner an indicator withholds is not there."""
    clauses = []
    for indicator in config.indicators:
        wanted = set(indicator.disaggregations)
        dimensions = [f"'{d}'" for d in ("race", "class") if d in wanted]
        if not dimensions:
            continue
        parts = [f"indicator_id = '{indicator.id}'", f"dimension IN ({', '.join(dimensions)})"]
        if "partner" not in wanted:
            parts.append("partner_id = 'ALL'")
        clauses.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(clauses) or "FALSE"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def publish(con: duckdb.DuckDBPyConnection, workspace: Workspace, config: InitiativeConfig,
            run_id: str, parts: str | None = None) -> Path:
    """Write a new partnership version from the warehouse marts; returns the partnership folder.
    `parts`: measure's per-part count of the current records (`measure_reuse.count_parts`),
    which names their submissions without another scan of the records."""
    register_stat_macros(con)
    staging = start_version(workspace, config.id, PARTNERSHIP, run_id)
    columns = RESULT_COLUMNS.format(min_n=RELIABILITY_MIN_DENOMINATOR)
    con.execute(f"COPY (SELECT {columns} FROM {config.id}.indicator_cells "
                f"WHERE {_wanted_cells(config)} ORDER BY {RESULT_ORDER}) TO "
                f"{sql_literal(str(staging / 'indicator_results.parquet'))} (FORMAT parquet, "
                f"COMPRESSION zstd, "
                f"{parquet_kv_metadata(config, 'indicator_results')})")
    con.execute(f"COPY (SELECT * FROM {config.id}.disparities WHERE {_wanted_disparities(config)} "
                f"ORDER BY {DISPARITY_ORDER}) TO "
                f"{sql_literal(str(staging / 'disparities.parquet'))} "
                f"(FORMAT parquet, COMPRESSION zstd, {parquet_kv_metadata(config, 'disparities')})")
    sources = source_files(con, config, parts)
    guidelines = guideline_years(con, config)
    created = _now()
    write_datapackage(staging, config, public=False, version=run_id, created=created,
                      partner_ids=sorted({s["partner_id"] for s in sources}))
    status = status_table(con, config, parts)
    render_partnership_scorecard(staging, config, guidelines, status, created)
    publish_status(con, config, staging, status)  # partnership only: names partners' files
    publish_flags(con, config, staging)  # partnership only: partner rows
    # Partnership only (names partners): rows kept in the warehouse that these numbers leave out.
    gone = unlisted.not_counted(con, config)
    grains = indicator_periods(con, config)
    write_manifest(staging, {
        "initiative_id": config.id, "audience": PARTNERSHIP, "run_id": run_id,
        "generated_at": created, "definitions_fingerprint": config.fingerprint,
        "data_version": data_version(con, config),
        "suppression_threshold": config.initiative.suppression.threshold,
        "poverty_guideline_years": guidelines,
        "notes": guideline_notes(guidelines) + grain_notes(grains) + [g["note"] for g in gone],
        "partners_not_listed": [{k: v for k, v in g.items() if k != "note"} for g in gone],
        "indicator_periods": grains, "status": status_stamp(status),
        "crosswalk_reading": crosswalk_reading(config), "methods": METHODS,
        "source_files": sources})
    return finish_version(workspace, config.id, PARTNERSHIP, staging, run_id)


def crosswalk_reading(config: InitiativeConfig) -> dict[str, str]:
    """Per partner, a short hash of what its crosswalk does to a file as it is loaded (header
    aliases, race codes, value maps, period words, sheet): applied at load, never re-derived
    (class proxies and complete_extracts are not: they act on every run)."""
    out = {}
    for partner_id, crosswalk in sorted(config.crosswalks.items()):
        parts = crosswalk.model_dump(mode="json", exclude={"class_proxy", "complete_extracts"})
        # Added in session 12: left out at its default, so the upgrade notes no partner.
        if parts.get("household_income_per") == "year":
            del parts["household_income_per"]
        out[partner_id] = json_digest(parts)
    return out


def crosswalk_reading_notes(workspace: Workspace, config: InitiativeConfig) -> list[str]:
    """Partners whose crosswalk reads files differently since the published version: the
    change applies to files loaded from now on, not to the rows already loaded."""
    manifest = audience_dir(workspace, config.id, PARTNERSHIP) / "manifest.json"
    try:
        before = json.loads(manifest.read_text()).get("crosswalk_reading")
    except (OSError, ValueError):
        return []
    if not isinstance(before, dict):
        return []
    now = crosswalk_reading(config)
    return [f"partner {p!r}: its crosswalk's header aliases, race codes, value maps or period "
            f"words changed: they apply to files loaded from now on; rows already loaded keep "
            f"what the earlier crosswalk made of them (`backbone rebuild` reads every archived "
            f"file again with today's crosswalks)"
            for p in sorted(now) if p in before and before[p] != now[p]]


def data_version(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> int:
    """The newest loaded submission: published outputs are current iff they were built from it."""
    return con.execute("SELECT coalesce(max(submission_id), 0) FROM submissions WHERE "
                       "initiative_id = ? AND status = 'loaded'", [config.id]).fetchall()[0][0]


def is_current(con: duckdb.DuckDBPyConnection, workspace: Workspace,
               config: InitiativeConfig) -> bool:
    """True when the partnership version was built from today's data, definitions and methods.

    Lets a night with no new files skip re-measuring a large warehouse. A run killed after
    loading but before publishing leaves a stale data_version, so its rerun still publishes.
    """
    manifest = audience_dir(workspace, config.id, PARTNERSHIP) / "manifest.json"
    if not manifest.is_file():
        return False
    published = json.loads(manifest.read_text())
    return (published.get("definitions_fingerprint") == config.fingerprint
            and published.get("methods", 1) == METHODS
            and published.get("data_version") == data_version(con, config)
            and published.get("crosswalk_reading") in (None, crosswalk_reading(config)))


def guideline_years(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> list[dict]:
    """Which HHS guideline year classed each period (written by measure, when it exists)."""
    if not has_table(con, config.id, "poverty_guideline_years"):
        return []
    rows = con.execute(f"SELECT period::VARCHAR, guideline_year::INTEGER, beyond_latest::BOOLEAN "
                       f"FROM {config.id}.poverty_guideline_years ORDER BY 1").fetchall()
    return [{"period": p, "guideline_year": y, "beyond_latest": bool(b)} for p, y, b in rows]


def indicator_periods(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> list[dict]:
    """Per indicator: its period type, and what it did not count because of that grain
    (records in its denominator coarser than or straddling its periods; aggregate rows whose
    period is not one of its periods, listed as "partner period"). Written by measure."""
    if not has_table(con, config.id, "indicator_grains"):
        return []
    other = ("records_other_calendar" if has_column(con, config.id, "indicator_grains",
                                                    "records_other_calendar") else "0")
    rows = con.execute(f"SELECT indicator_id, period_type, records_not_counted, "
                       f"aggregate_rows_not_counted, aggregate_periods_not_counted, {other} "
                       f"FROM {config.id}.indicator_grains").fetchall()
    order = {indicator.id: i for i, indicator in enumerate(config.indicators)}
    # records_other_calendar (part of records_not_counted) only when there are any.
    return [{"indicator_id": i, "period_type": t, "records_not_counted": r,
             "aggregate_rows_not_counted": a, "aggregate_periods_not_counted": list(p or []),
             **({"records_other_calendar": o} if o else {})}
            for i, t, r, a, p, o in sorted(rows, key=lambda row: order.get(row[0], len(order)))]


def guideline_notes(guidelines: list[dict]) -> list[str]:
    """What a reader of the manifest must know about how class was assigned."""
    return [f"Period {g['period']} was classed with the {g['guideline_year']} HHS poverty "
            "guidelines, the latest available: it is after the latest guideline year."
            for g in guidelines if g.get("beyond_latest")]


def grain_notes(grains: list[dict]) -> list[str]:
    """Records or aggregate rows an indicator's period grain left out: said in words, since an
    indicator measured monthly from yearly files publishes nothing at all."""
    notes = []
    for grain in grains:
        every = {"school_year": "school year", "fiscal_year": "fiscal year"}.get(
            grain["period_type"], grain["period_type"])
        other = grain.get("records_other_calendar") or 0
        if other:
            notes.append(other_calendar_note(grain["indicator_id"], grain["period_type"], other))
        if (grain["records_not_counted"] or 0) - other:
            notes.append(f"Indicator {grain['indicator_id']} (one {every} at a time) did not "
                         f"count {grain['records_not_counted'] - other:,} records of its "
                         f"denominator: their period is longer than one {every} or spans two.")
        if grain["aggregate_rows_not_counted"]:
            notes.append(f"Indicator {grain['indicator_id']} (one {every} at a time) did not "
                         f"count {grain['aggregate_rows_not_counted']:,} aggregate rows, for "
                         f"periods that are not one {every}: "
                         f"{', '.join(grain['aggregate_periods_not_counted'])}.")
    return notes


def source_files(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                 parts: str | None = None) -> list[dict]:
    """Every submission whose rows are in the current data, records and aggregates alike."""
    feeds = [f"SELECT submission_id, 'records' AS kind FROM "
             f"{parts or f'{config.id}.records_current'}"]
    if has_table(con, config.id, "aggregate_counts"):
        feeds.append(f"SELECT submission_id, 'aggregates' FROM {config.id}.aggregate_counts_current")
    rows = con.execute(f"""
        SELECT s.submission_id, s.partner_id, s.file_name, s.sha256, s.rows_loaded,
               strftime(s.received_at, '%Y-%m-%dT%H:%M:%S') AS received_at, f.kind
        FROM submissions s
        JOIN (SELECT DISTINCT * FROM ({' UNION ALL '.join(feeds)})) f USING (submission_id)
        ORDER BY s.submission_id""").fetchall()
    return [dict(zip(SOURCE_FIELDS, row)) for row in rows]


def render_partnership_scorecard(folder: Path, config: InitiativeConfig, guidelines: list[dict],
                                 status: pa.Table | None, generated_at: str | None) -> None:
    """`folder`/scorecard.html for the partnership: its headlines name the partners that still
    owe their period (as status.html does). `generated_at`: when the results were published (the
    manifest's), which a status-only version keeps."""
    view = initiative_view(config, guidelines, PARTNERSHIP, owed_view(config, status, named=True))
    render_scorecard(folder, view, indicator_views(config), folder / "scorecard.html",
                     generated_at=dt.datetime.fromisoformat(generated_at) if generated_at else None)


def initiative_view(config: InitiativeConfig, guidelines: list[dict], audience: str,
                    still_owed: dict | None = None) -> dict:
    """`still_owed`: pipelines/scorecard_owed.owed_view of the status these numbers go with."""
    initiative = config.initiative
    return {"id": initiative.id, "name": initiative.name, "description": initiative.description,
            "reference_groups": dict(initiative.reference_groups),
            "suppression_threshold": initiative.suppression.threshold,
            "audience": audience, "still_owed": still_owed,
            "guideline_notes": [g for g in guidelines if g.get("beyond_latest")],
            **scorecard_settings(config)}


def indicator_views(config: InitiativeConfig) -> list[dict]:
    views = []
    for i in config.indicators:
        view = i.model_dump(include={"id", "title", "description", "unit", "direction", "target",
                                     "baseline", "source", "translations"})
        view["counted"] = getattr(i, "counted", "people")
        view["disaggregations"] = list(i.disaggregations)
        views.append(view)
    return views


def file_entry(path: Path) -> dict:
    """A manifest's entry for one file: checksum, size, and rows for Parquet."""
    entry = {"sha256": _sha256(path), "bytes": path.stat().st_size}
    if path.suffix == ".parquet":
        entry["rows"] = pq.ParquetFile(path).metadata.num_rows
    return entry


def write_manifest(folder: Path, manifest: dict, known: dict | None = None) -> None:
    """Checksums (and Parquet row counts) of every file in `folder`, then the manifest itself.
    `known`: entries of files hard-linked unchanged from a version they describe (same bytes),
    reused rather than read again."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name == "manifest.json":
            continue
        entry = (known or {}).get(path.name)
        files[path.name] = (entry if entry and entry.get("bytes") == path.stat().st_size
                            else file_entry(path))
    head = {k: v for k, v in manifest.items() if k not in ("source_files",)}
    body = {**head, "files": files, "source_files": manifest.get("source_files", [])}
    (folder / "manifest.json").write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
