"""Submission status: per partner x owed period (the `reporting:` calendar), what has arrived.

One row per partner, obligation and owed period: from the obligation's `first_period` through
every period that has started by the as-of date. So it lists each period whose due date has
passed and the current one(s) not yet due; a period that has not begun is not owed yet.

States, decided in this order (the first that holds wins):
1. no file attributed to the period: `missing` once the due date has passed (as-of later than
   the due date), else `not_yet_due`;
2. the latest attributed file is held (a replacement waiting for `backbone accept`): `held`;
3. the latest attributed file was rejected and nothing from the partner covers the period:
   `rejected`;
4. the latest loaded file covering the period had rows set aside (quarantined):
   `partly_quarantined`, with `quarantined_share` = that file's quarantined rows / rows read
   (quarantined rows have no trusted period of their own, so the share is the file's);
5. otherwise `on_time` or `late`.
Whatever the state, `on_time` says whether the period was first received (a loaded or held
file, even one replaced since: what arrived counts) by its due date, and `overdue` whether the
due date has passed with nothing received. A file received on its due date is on time.

Attribution:
- a loaded or held file covers an owed period when some of its rows (in `<init>.records`, or
  `<init>.aggregate_counts` for a partner sending aggregates, all rows ever loaded, set-aside
  and superseded ones included) lie wholly inside the period (record period_start..period_end),
  and, when the obligation names `measures`, it has a non-null value for every one of them
  there (for aggregates: a row for every named indicator). Records coarser than the owed
  period (a yearly file against a quarterly obligation) cover none of its periods.
- a rejected file has no rows: it is attributed to the earliest owed period that had begun and
  was not yet covered when the file arrived (the report the partner most likely tried to send).
- duplicates (the same bytes again) add nothing; files received after the as-of date are not
  counted, so `--as-of` shows the calendar as it stood that day.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pipelines.escape import one_line
from pipelines.periods import PERIOD_TYPES, end_sql, label_sql, period_from_label, start_sql
from pipelines.sql import has_table, sql_literal
from pipelines.status_parts import per_file_sql

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from pipelines.config import InitiativeConfig, Workspace
    from pipelines.periods import Calendar

STATES = ("on_time", "late", "missing", "not_yet_due", "rejected", "held", "partly_quarantined")
COLUMNS = ("initiative_id", "partner_id", "partner_name", "obligation", "obligation_text",
           "period", "period_type", "period_start", "period_end", "due_date", "state", "on_time",
           "overdue", "quarantined_share", "rows", "files", "latest_file", "latest_status",
           "latest_received_at", "first_received_at", "quality_flags", "as_of")


def _obligations(config: InitiativeConfig, partner: str | None = None) -> list[tuple]:
    """(partner_id, number, every, due_days, first_start, measures, description) per obligation."""
    calendar = config.initiative.calendar
    rows = []
    for partner_id, obligations in config.initiative.reporting.items():
        if partner is not None and partner_id != partner:
            continue
        for number, ob in enumerate(obligations):
            first = period_from_label(ob.first_period, ob.every, calendar)
            rows.append((partner_id, number, ob.every, ob.due_days, first.start,
                         tuple(ob.measures), ob.describe()))
    return rows


def _owed_sql(obligations: list[tuple], as_of: dt.date, calendar: Calendar) -> str:
    """Owed periods: every period of the obligation's type from its first through the one that
    holds as-of. Every period type starts on a month's first day, so stepping month by month
    from the first period's start meets each period; DISTINCT keeps one row per period."""
    values = ", ".join(f"({sql_literal(p)}, {n}, {sql_literal(e)}, {d}, DATE '{s}')"
                       for p, n, e, d, s, _, _ in obligations)
    parts = []
    for every in PERIOD_TYPES:
        if not any(o[2] == every for o in obligations):
            continue
        parts.append(f"""
            SELECT DISTINCT partner_id, obligation, every AS period_type, due_days,
                   {label_sql('m', every, calendar)} AS period,
                   {start_sql('m', every, calendar)} AS period_start,
                   {end_sql('m', every, calendar)} AS period_end
            FROM (SELECT *, unnest(generate_series(first_start::TIMESTAMP,
                         greatest(DATE '{as_of}', first_start)::TIMESTAMP, INTERVAL 1 MONTH)) AS m
                  FROM (VALUES {values}) AS o(partner_id, obligation, every, due_days, first_start)
                  WHERE every = {sql_literal(every)})""")
    return " UNION ALL ".join(parts)


def _covered_sql(config: InitiativeConfig, obligations: list[tuple],
                 parts: str | None = None) -> str:
    """CTEs ending in `covered`: (partner_id, obligation, period_start, submission_id, rows) for
    every loaded or held file and owed period it covers. Rows are first counted per file and
    record period, so the range join to owed periods runs over a few rows per file, not over
    every record; and for all of a partner's obligations in one scan of its files' rows
    (`per_file_<n>`: each obligation's counts are columns of it), not one per obligation.
    `parts`: measure's part summary of this warehouse step, read instead of the records of the
    submissions it describes whole (pipelines/status_parts.py)."""
    counts: dict[str, dict[str, str]] = {}  # partner -> count expression -> column

    def column(partner_id: str, expression: str) -> str:
        named = counts.setdefault(partner_id, {})
        return named.setdefault(expression, f"c{len(named)}")

    selects = []
    for partner_id, number, _, _, _, measures, _ in obligations:
        aggregates = config.initiative.partners[partner_id].submits == "aggregates"
        if aggregates:
            present = [f"count(*) FILTER (WHERE indicator_id = {sql_literal(m)})" for m in measures]
            counted = ("indicator_id IN (" + ", ".join(sql_literal(m) for m in measures) + ")"
                       if measures else "true")
        else:
            present = [f"count({m})" for m in measures]  # measure names: validated identifiers
            counted = " OR ".join(f"{m} IS NOT NULL" for m in measures) or "true"
        n = column(partner_id, f"count(*) FILTER (WHERE {counted})")
        every_measure = "".join(f" AND sum(r.{column(partner_id, count)}) > 0"
                                for count in present)
        selects.append(f"""
            SELECT {sql_literal(partner_id)} AS partner_id, {number} AS obligation,
                   w.period_start, r.submission_id, CAST(sum(r.{n}) AS BIGINT) AS rows
            FROM per_file_{list(counts).index(partner_id)} AS r
            JOIN owed AS w ON w.partner_id = {sql_literal(partner_id)} AND w.obligation = {number}
                 AND r.period_start >= w.period_start AND r.period_end <= w.period_end
            GROUP BY ALL
            HAVING sum(r.{n}) > 0{every_measure}""")
    scans = []
    for index, (partner_id, expressions) in enumerate(counts.items()):
        aggregates = config.initiative.partners[partner_id].submits == "aggregates"
        table = f"{config.id}.aggregate_counts" if aggregates else f"{config.id}.records"
        columns = "".join(f", {e} AS {alias}" for e, alias in expressions.items())
        body = (per_file_sql(config, partner_id, parts, expressions)
                if parts and not aggregates else None) or f"""
            SELECT r.submission_id, r.period_start, r.period_end{columns}
            FROM {table} AS r JOIN files AS f USING (submission_id)
            WHERE f.partner_id = {sql_literal(partner_id)} AND f.status IN ('loaded', 'held')
            GROUP BY ALL"""
        # MATERIALIZED: scanned once, however many obligations read it.
        scans.append(f"per_file_{index} AS MATERIALIZED ({body}),")
    return "\n    ".join(scans) + "\n    covered AS (" + " UNION ALL ".join(selects) + ")"


def status_sql(config: InitiativeConfig, as_of: dt.date, flags: bool = False,
               partner_id: str | None = None, parts: str | None = None) -> str | None:
    """The status query over a warehouse (or snapshot) connection; None when nothing is owed.
    `flags`: a relation `status_flags(partner_id, period_start)` is registered to count.
    `parts`: see `_covered_sql`."""
    obligations = _obligations(config, partner_id)
    if not obligations:
        return None
    calendar = config.initiative.calendar
    names = config.initiative.partners
    described = ", ".join(
        f"({sql_literal(p)}, {n}, {sql_literal(names[p].name)}, {sql_literal(text)})"
        for p, n, _, _, _, _, text in obligations)
    partners = ", ".join(sorted({sql_literal(o[0]) for o in obligations}))
    day = f"DATE '{as_of.isoformat()}'"
    flag_count = ("""(SELECT count(*) FROM status_flags AS q WHERE q.partner_id = w.partner_id
                       AND CAST(q.period_start AS DATE) BETWEEN w.period_start AND w.period_end)"""
                  if flags else "CAST(NULL AS BIGINT)")
    # The latest file: the last submission. Ids are given in order of receipt (a rebuild keeps
    # them), whatever the clock did: set back, its times would make an older file the latest.
    latest = "submission_id"
    return f"""
    WITH owed AS (
        SELECT *, CAST(period_end + due_days AS DATE) AS due_date
        FROM ({_owed_sql(obligations, as_of, calendar)})),
    described AS (
        SELECT * FROM (VALUES {described}) AS d(partner_id, obligation, partner_name,
                                                 obligation_text)),
    files AS (
        SELECT submission_id, partner_id, file_name, status, received_at, rows_read,
               rows_quarantined
        FROM main.submissions
        WHERE initiative_id = {sql_literal(config.id)} AND partner_id IN ({partners})
          AND status IN ('loaded', 'held', 'rejected')
          AND CAST(received_at AS DATE) <= {day}),
    {_covered_sql(config, obligations, parts)},
    received AS (
        SELECT c.*, f.status, f.received_at, f.file_name, f.rows_read, f.rows_quarantined
        FROM covered AS c JOIN files AS f USING (submission_id)),
    rejected AS (
        -- No rows to place it by: the earliest owed period begun and not yet covered on arrival.
        SELECT f.submission_id, w.partner_id, w.obligation, min(w.period_start) AS period_start
        FROM files AS f
        JOIN owed AS w ON w.partner_id = f.partner_id
             AND w.period_start <= CAST(f.received_at AS DATE)
        WHERE f.status = 'rejected' AND NOT EXISTS (
            SELECT 1 FROM received AS r WHERE r.partner_id = w.partner_id
               AND r.obligation = w.obligation AND r.period_start = w.period_start
               AND r.submission_id < f.submission_id)
        GROUP BY ALL),
    attributed AS (
        SELECT partner_id, obligation, period_start, submission_id, rows, status, received_at,
               file_name, rows_read, rows_quarantined FROM received
        UNION ALL
        SELECT r.partner_id, r.obligation, r.period_start, r.submission_id, NULL, f.status,
               f.received_at, f.file_name, f.rows_read, f.rows_quarantined
        FROM rejected AS r JOIN files AS f USING (submission_id)),
    per_period AS (
        SELECT partner_id, obligation, period_start, count(*) AS files,
               min(received_at) FILTER (WHERE status <> 'rejected') AS first_received_at,
               arg_max(status, {latest}) AS latest_status,
               arg_max(file_name, {latest}) AS latest_file,
               arg_max(received_at, {latest}) AS latest_received_at,
               arg_max(rows, {latest}) FILTER (WHERE status <> 'rejected') AS rows,
               arg_max(CAST(rows_quarantined AS DOUBLE) / nullif(rows_read, 0), {latest})
                   FILTER (WHERE status = 'loaded') AS quarantined_share
        FROM attributed GROUP BY ALL)
    SELECT {sql_literal(config.id)} AS initiative_id, w.partner_id, d.partner_name,
           w.obligation, d.obligation_text, w.period, w.period_type, w.period_start,
           w.period_end, w.due_date,
           CASE WHEN p.files IS NULL THEN
                    CASE WHEN {day} > w.due_date THEN 'missing' ELSE 'not_yet_due' END
                WHEN p.latest_status = 'held' THEN 'held'
                WHEN p.latest_status = 'rejected' THEN 'rejected'
                WHEN coalesce(p.quarantined_share, 0) > 0 THEN 'partly_quarantined'
                WHEN CAST(p.first_received_at AS DATE) <= w.due_date THEN 'on_time'
                ELSE 'late' END AS state,
           CAST(p.first_received_at AS DATE) <= w.due_date AS on_time,
           p.first_received_at IS NULL AND {day} > w.due_date AS overdue,
           round(p.quarantined_share, 4) AS quarantined_share,
           p.rows, coalesce(p.files, 0) AS files, p.latest_file, p.latest_status,
           p.latest_received_at, p.first_received_at, {flag_count} AS quality_flags,
           {day} AS as_of
    FROM owed AS w
    JOIN described AS d USING (partner_id, obligation)
    LEFT JOIN per_period AS p USING (partner_id, obligation, period_start)
    ORDER BY w.partner_id, w.obligation, w.period_start"""


def submission_status(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                      as_of: dt.date | None = None, partner_id: str | None = None,
                      parts: str | None = None) -> pa.Table:
    """The status table (columns COLUMNS), as Arrow, for every partner with obligations (or
    only `partner_id`); empty when nothing is owed. `parts`: the part summary measure made in
    this warehouse step (`measure_reuse.PARTS`), read instead of records it describes whole."""
    as_of = as_of or dt.date.today()
    query = status_sql(config, as_of, partner_id=partner_id)
    if query is None:
        return _empty()
    scratch = None
    if not _has_tables(con, config):
        # Nothing received yet (no warehouse, or no file for this initiative): all is owed.
        import duckdb

        con = scratch = duckdb.connect()
        _empty_layout(con, config)
    flags = quality_flags(con, config)
    if parts is not None and (scratch is not None or not (
            has_table(con, config.id, "records_set_aside")
            and has_table(con, config.id, "records_superseded"))):
        # Nothing received, or a layout that says otherwise what is current: from the records.
        parts = None
    if flags is not None or parts is not None:
        if flags is not None:
            con.register("status_flags", flags)
        query = status_sql(config, as_of, flags=flags is not None, partner_id=partner_id,
                           parts=parts)
    try:
        return con.sql(query).to_arrow_table()
    finally:
        if flags is not None:
            con.unregister("status_flags")
        if scratch is not None:
            scratch.close()


def _has_tables(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> bool:
    return (has_table(con, "main", "submissions") and has_table(con, config.id, "records")
            and has_table(con, config.id, "aggregate_counts"))


def _empty_layout(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> None:
    """The tables the status query reads, empty, in a scratch database."""
    from pipelines.warehouse import DDL

    measures = sorted({m for p, obligations in config.initiative.reporting.items()
                       if config.initiative.partners[p].submits != "aggregates"
                       for o in obligations for m in o.measures})
    period = "period_start DATE, period_end DATE"
    con.execute(DDL)
    con.execute(f"CREATE SCHEMA {config.id}")
    con.execute(f"CREATE TABLE {config.id}.records (submission_id BIGINT, {period}"
                + "".join(f", {m} INTEGER" for m in measures) + ")")
    con.execute(f"CREATE TABLE {config.id}.aggregate_counts (submission_id BIGINT, "
                f"indicator_id VARCHAR, {period})")


def _empty() -> pa.Table:
    import duckdb  # pa.array() from Python objects would import pandas

    con = duckdb.connect()
    try:
        return con.sql("SELECT " + ", ".join(f"NULL::VARCHAR AS {name}" for name in COLUMNS)
                       + " WHERE false").to_arrow_table()
    finally:
        con.close()


def quality_flags(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> pa.Table | None:
    """(partner_id, period_start) per current quality flag, as Arrow straight from DuckDB (Python
    rows would import pandas); None when the flags table cannot be read, so status goes on."""
    import duckdb

    from pipelines.quality import flag_periods

    try:
        return flag_periods(con, config)
    except duckdb.Error:  # a flags table from another version of quality.py
        return None


class StatusUnavailable(RuntimeError):
    """The warehouse cannot answer yet (a layout older than this code): say what to do."""


def read_status(workspace: Workspace, config: InitiativeConfig, as_of: dt.date | None = None
                ) -> tuple[pa.Table, str]:
    """The status table and where it was read from, never waiting for a writer: the live
    warehouse read-only, or, while a run holds it, the analysts' snapshot (as of that run)."""
    import duckdb

    from pipelines.warehouse import WarehouseBusy, connect

    source = "warehouse"
    if workspace.warehouse_file.exists():
        try:
            con = connect(workspace.warehouse_file, read_only=True)
        except WarehouseBusy:
            if not workspace.snapshot_file.exists():
                raise StatusUnavailable(
                    f"{workspace.warehouse_file} is being written by a run and there is no "
                    f"snapshot yet ({workspace.snapshot_file}); try again when the run ends"
                    ) from None
            con = duckdb.connect(str(workspace.snapshot_file), read_only=True)
            source = f"snapshot {workspace.snapshot_file} (a run is writing the warehouse)"
    else:
        con, source = duckdb.connect(), "nothing received yet (no warehouse)"
    try:
        if _has_tables(con, config) and "period_start" not in {r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = "
                "current_database() AND schema_name = ? AND table_name = 'records'",
                [config.id]).fetchall()}:
            raise StatusUnavailable(
                f"{source}: the records predate period dates (warehouse schema version < 3); "
                "run `backbone run` once to bring the warehouse up to date")
        return submission_status(con, config, as_of), source
    except duckdb.Error as exc:  # e.g. a measure the template gained since the last run
        raise StatusUnavailable(f"{source}: the status could not be read ({one_line(exc, 300)});"
                                " a `backbone run` brings the warehouse up to date") from None
    finally:
        con.close()
