"""Count again only the indicator periods whose records changed: the profile counts of the others
come from the last measure, kept next to the warehouse.

Measuring counts each person once per indicator period across partners, so a new file cannot be
added to yesterday's counts: every indicator period it touches is counted again, whole, from all
of its current records. The other periods' rows of `_profile_counts_<period type>` (people per
partner or 'ALL', period, race bits and class rank; see `measure_counts.build_profile_counts`)
are the same as a full count would give when both their records and the way they are counted
are unchanged. That is what the guard checks, per period type:

- the counting SQL is the same (`fingerprint`: what `measure_counts.profile_counts_sql`
  writes, with the classed records of every guideline year of the workspace's table, so the
  indicator conditions, the class bands, guidelines and crosswalks, the race coding, the record
  period types and this code are all in it; and the warehouse schema version, since a migration
  may rewrite records in place);
- the guideline year that classes each calendar year is the same (`poverty_guideline_years`;
  a period whose records start in a year whose guideline year changed is counted again);
- the current records of each (partner, period, submission) part are the same: how many, the
  sum and a hash of their source rows, and when they were loaded (rows are never changed once
  loaded; a rebuild loads them again, so they count as changed).

Anything else (no state, another fingerprint, a part with no period start) counts the period type
in full, as before. The state is written after every measure, so it describes exactly the counts
it holds, whichever path made them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import uuid
from pathlib import Path

import duckdb

from pipelines import periods
from pipelines.config import InitiativeConfig
from pipelines.sql import sql_literal

FORMAT = 1
STATE = "state.json"
PARTS = "_measure_parts"
PART_KEYS = ("partner_id", "period", "period_type", "period_start", "period_end",
             "submission_id")


def cache_folder(warehouse_file: Path, initiative_id: str) -> Path:
    return warehouse_file.parent / "measure-cache" / initiative_id


def measure_columns(config: InitiativeConfig) -> list[str]:
    return [c.name for c in config.record_schema.by_role("measure")]


def count_parts(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> None:
    """`_measure_parts`: what identifies the current records of each part (one scan of
    records_current: ids and load times), and how many have each measure (`with_<column>`),
    from which the quality checks count rows per partner-period without a scan of their own,
    and how many have what classing needs (`classable_rows`), from which measure finds the
    guideline years to look up (`profiles.prepare`)."""
    measures = "".join(f", count({m}) AS with_{m}" for m in measure_columns(config))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {PARTS} AS
        SELECT {', '.join(PART_KEYS)}, count(*) AS n, sum(source_row)::BIGINT AS row_sum,
               bit_xor(hash(source_row)) AS row_hash, min(loaded_at) AS first_loaded,
               max(loaded_at) AS last_loaded,
               count(*) FILTER (WHERE household_income IS NOT NULL AND household_size >= 1)
                   AS classable_rows{measures}
        FROM {config.id}.records_current GROUP BY ALL""")


def fingerprint(statements: tuple[str, str], schema_version: int | None) -> str:
    text = json.dumps([FORMAT, schema_version, list(statements)])
    return hashlib.sha256(text.encode()).hexdigest()


def guideline_years(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> dict:
    """calendar year -> [guideline year, beyond latest], as `profiles.prepare` just wrote them."""
    return {str(p): [g, bool(b)] for p, g, b in con.execute(
        f"SELECT period, guideline_year, beyond_latest FROM "
        f"{config.id}.poverty_guideline_years").fetchall()}


class Reuse:
    """The kept counts of one initiative, and which indicator periods must be counted again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state = self._read_state()

    def _read_state(self) -> dict | None:
        try:
            state = json.loads((self.folder / STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        # A state of another shape (edited, restored in part, another version) is no state.
        if not isinstance(state, dict) or state.get("format") != FORMAT \
                or not isinstance(state.get("parts"), str) \
                or not isinstance(state.get("types"), dict) \
                or not isinstance(state.get("years"), dict) \
                or not (self.folder / state["parts"]).is_file():
            return None
        return state

    def drop(self) -> None:
        """Kept counts that could not be read: none are used or kept (a full count follows)."""
        self.state = None
        forget(self.folder)

    def periods_to_count(self, con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                         period_type: str, fingerprint_now: str, years: dict) -> list | None:
        """The indicator period starts to count again, or None to count every period."""
        state = self.state
        if state is None:
            return None
        kept = state["types"].get(period_type)
        if kept is None or kept["fingerprint"] != fingerprint_now \
                or not (self.folder / kept["counts"]).is_file():
            return None
        changed_years = sorted({y for y in set(years) | set(state["years"])
                                if years.get(y) != state["years"].get(y)}, key=int)
        old = f"read_parquet({sql_literal(str(self.folder / state['parts']))})"
        keys = ", ".join(PART_KEYS)
        columns = f"{keys}, n, row_sum, row_hash, first_loaded, last_loaded"
        year_changed = (f"OR year(period_start) IN ({', '.join(changed_years)})"
                        if changed_years else "")
        # Both sides of the difference: a part that came, went or changed.
        changed = f"""
            (SELECT {columns} FROM {PARTS} EXCEPT SELECT {columns} FROM {old})
            UNION ALL (SELECT {columns} FROM {old} EXCEPT SELECT {columns} FROM {PARTS})
            UNION ALL (SELECT {columns} FROM {PARTS} WHERE false {year_changed})"""
        calendar = config.initiative.calendar
        rows = con.execute(f"""
            SELECT DISTINCT period_start IS NULL,
                   {periods.start_sql('period_start', period_type, calendar)}
            FROM ({changed})""").fetchall()
        if any(null for null, _ in rows):
            return None  # such records have no indicator period to count again by
        return sorted(start for _, start in rows)

    def fill(self, con: duckdb.DuckDBPyConnection, table: str, period_type: str,
             counted: list) -> None:
        """Add the kept rows of every period not just counted again."""
        path = self.folder / self.state["types"][period_type]["counts"]
        starts = ", ".join(f"DATE '{d.isoformat()}'" for d in counted)
        keep = (f"WHERE period_start IS NULL OR period_start NOT IN ({starts})" if counted
                else "")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM "
                    f"read_parquet({sql_literal(str(path))}) {keep}")


def save(con: duckdb.DuckDBPyConnection, folder: Path, counted: dict[str, tuple[str, str]],
         years: dict) -> None:
    """Keep this measure's counts (`counted`: period type -> (fingerprint, temp table)) and the
    parts they were counted from. New files first, then the state naming them, so a crash
    leaves either the old state whole or the new one. A folder that cannot be written costs
    the next night a full count, never this night's publication."""
    try:
        _write(con, folder, counted, years)
    except (OSError, duckdb.IOException) as exc:
        logging.getLogger(__name__).warning("%s: measure counts not kept (the next measure "
                                            "counts every period): %s", folder, exc)
        try:
            forget(folder)
        except OSError:
            pass


def _write(con: duckdb.DuckDBPyConnection, folder: Path, counted: dict[str, tuple[str, str]],
           years: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    token = f"{dt.datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    parts = f"parts-{token}.parquet"
    con.execute(f"COPY {PARTS} TO {sql_literal(str(folder / parts))} (FORMAT parquet)")
    types = {}
    for period_type, (print_, table) in counted.items():
        name = f"counts-{period_type}-{token}.parquet"
        con.execute(f"COPY {table} TO {sql_literal(str(folder / name))} (FORMAT parquet)")
        types[period_type] = {"fingerprint": print_, "counts": name}
    state = {"format": FORMAT, "parts": parts, "types": types, "years": years}
    # On disk before the state names them: after a power cut, a state naming truncated files
    # would cost a full count (Reuse.drop), not a wrong one, but need not cost anything.
    for name in (parts, *(t["counts"] for t in types.values())):
        _sync(folder / name)
    temporary = folder / f".{STATE}.{token}"
    temporary.write_text(json.dumps(state, indent=1), encoding="utf-8")
    _sync(temporary)
    os.replace(temporary, folder / STATE)
    named = {parts, STATE, *(t["counts"] for t in types.values())}
    for path in folder.iterdir():
        if path.name not in named:
            path.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def forget(folder: Path) -> None:
    """Drop the state (the counts it names no longer describe the warehouse's last measure)."""
    (folder / STATE).unlink(missing_ok=True)
