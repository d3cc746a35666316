"""People a file lists in rows it set aside: a complete file does not remove them.

A partner's complete file replaces a period, removing the people it does not list. A row set
aside (quarantined: a typo in a measure, a row sent twice) still lists its person for its period,
so that person's earlier row stays on file until the partner sends the row again, fixed: removing
it would lose data the partner never meant to withdraw, and the report would count the person
among those "not in" the file.

A set-aside row lists someone only when its person id and its period can be read: a row whose id
or period cell is the broken one (blank, a bad shape, not a period, a period out of range or in
the future), a row that belongs to another partner, and a line the parser refused list no one.
Those are counted (the key left NULL) so the report can say that they could not keep anyone.

Keys are derived at staging, from the same typed rows and with the same hash and period lookup
as `standardize` (`person_key_sql`, `_periods`): the quarantine keeps raw values, and the warehouse
gets only the hashed key, in `<initiative>.records_quarantined_keys`, kept for `backbone accept`
of a held file and for a rebuild (which stages every file again).
"""

from __future__ import annotations

import duckdb

from pipelines.config import InitiativeConfig
from pipelines.period_intake import PERIODS
from pipelines.sql import sql_int_list, sql_literal
from pipelines.standardize import person_key_sql
from pipelines.validate import VIEW

STAGED = "quarantined_keys"  # the staging database's table
COLUMNS = ("source_row BIGINT, person_key UHUGEINT, period VARCHAR, period_type VARCHAR, "
           "period_start DATE")


def table(config: InitiativeConfig) -> str:
    return f"{config.id}.records_quarantined_keys"


def stage_keys(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, salt: str,
               quarantine: str = "quarantine", out: str = f"kept.{STAGED}") -> None:
    """Create `out`: one row per quarantined row of a person-record file, with the key it
    lists (NULL when it lists no one). Reads only the quarantined rows of `typed`."""
    schema = config.record_schema
    person = schema.by_role("person_id")[0].name
    period = schema.by_role("period")[0].name
    con.execute(f"CREATE TABLE {out} ({COLUMNS})")
    if not con.execute(f"SELECT count(*) FROM {quarantine}").fetchall()[0][0]:
        return
    # A line naming no column was refused by the parser: its cells were never read.
    unreadable = (f"bool_or(coalesce(column_name, '') IN ('', {sql_literal(person)}, "
                  f"{sql_literal(period)}) OR rule = 'other_partner')")
    readable = f"NOT b.unreadable AND t.{person} IS NOT NULL AND p.label IS NOT NULL"
    con.execute(f"""
        INSERT INTO {out}
        SELECT b._row,
               CASE WHEN {readable} THEN {person_key_sql(salt, f"t.{person}")} END,
               CASE WHEN {readable} THEN p.label END,
               CASE WHEN {readable} THEN p.period_type END,
               CASE WHEN {readable} THEN p.period_start END
        FROM (SELECT _row, {unreadable} AS unreadable FROM {quarantine} GROUP BY _row) b
        LEFT JOIN {VIEW} t ON t._row = b._row
        LEFT JOIN {PERIODS} p ON p.text = t.{period}""")


def ensure_table(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {table(config)} (submission_id BIGINT, {COLUMNS})")


def load(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, alias: str,
         submission_id: int) -> None:
    """Copy an attached staging database's keys (inside the loading transaction). Aggregate
    files, and files staged by a version without the table, have none."""
    present = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND "
                          "table_name = ?", [alias, STAGED]).fetchall()[0][0]
    if present:
        con.execute(f"INSERT INTO {table(config)} SELECT ?, * FROM {alias}.{STAGED}",
                    [int(submission_id)])


def keys_sql(records: str, ids: str) -> str:
    """The distinct keys (person_key, period) the files `ids` list in set-aside rows (some may
    be in their valid rows too: callers tell these apart). `records`: the records table."""
    return (f"SELECT DISTINCT person_key, period FROM {records}_quarantined_keys "
            f"WHERE submission_id IN ({ids}) AND person_key IS NOT NULL")


def any_keys(con: duckdb.DuckDBPyConnection, records: str, ids: str) -> bool:
    return con.execute(f"SELECT count(*) FROM ({keys_sql(records, ids)} LIMIT 1)"
                       ).fetchall()[0][0] > 0


def unmatched(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
              submission_ids: list[int]) -> dict[int, int]:
    """Per file: its set-aside rows that list no one (an unreadable id or period)."""
    if not submission_ids:
        return {}
    rows = con.execute(f"SELECT submission_id, count(*) FROM {table(config)} WHERE submission_id "
                       f"IN ({sql_int_list(submission_ids)}) AND person_key IS "
                       "NULL GROUP BY ALL").fetchall()
    return dict(rows)


def replace_keeping(con: duckdb.DuckDBPyConnection, lay, partner_id: str, ids: str, first: int,
                    values: str, grain: str = "true") -> None:
    """`resubmission._apply`'s replacement of the parts `values` when the group `ids` lists
    people in rows it set aside: the earlier rows of those people (a key no valid row of the
    group carries) stay current. `_set_aside` names whole (file, period) slices, so a slice
    holding such a row is not set aside; its other rows are superseded one by one instead (by
    the group's first file, as a slice would be). Slices without one are set aside as usual.
    `grain`: which earlier rows of the parts are replaced (resubmission._grains)."""
    stored, key, part = ", ".join(lay.part), ", ".join(lay.key), lay.part_names
    columns = ", ".join(dict.fromkeys((*lay.part, *lay.key)))  # the stored part is in the key
    earlier = f"""
        WITH keep AS (
            SELECT person_key, period, true AS keep FROM ({keys_sql(lay.table, ids)}) q
            WHERE NOT EXISTS (SELECT 1 FROM {lay.table} r WHERE r.submission_id IN ({ids})
                              AND r.person_key = q.person_key AND r.period = q.period)),
        earlier AS (
            SELECT submission_id, source_row, {stored}, coalesce(keep, false) AS keep,
                   bool_or(coalesce(keep, false)) OVER (PARTITION BY submission_id, {stored})
                       AS slice_kept
            FROM (SELECT submission_id, source_row, {columns}
                  FROM (SELECT submission_id, source_row, {columns}, {lay.parts()}
                        FROM {lay.table}_current
                        WHERE partner_id = $partner AND submission_id < {first}
                          AND {grain})
                  SEMI JOIN (VALUES {values}) p({part}) USING ({part}))
            LEFT JOIN keep USING ({key}))"""
    con.execute(f"""INSERT INTO {lay.table}_superseded {earlier}
                    SELECT submission_id, source_row, {first}, now() FROM earlier
                    WHERE slice_kept AND NOT keep""", {"partner": partner_id})
    # After the insert above the kept slices hold only their kept rows: still not set aside.
    con.execute(f"""INSERT INTO {lay.table}_set_aside {earlier}
                    SELECT DISTINCT submission_id, {stored}, 'replaced', {first}, now()
                    FROM earlier WHERE NOT slice_kept""", {"partner": partner_id})
