"""Version 1 -> 2: the resubmission rule, held and duplicate files, class inputs in the record.

- `submissions.status` also allows `duplicate` and `held`. DuckDB cannot alter a CHECK, so the
  table is rebuilt under the new DDL with the same columns and ids (the sequence is kept).
- `<initiative>.records.class_proxy_value`: the partner's own proxy value, which measure now
  classes with the current crosswalk. Older records have NULL there, and measure then uses the
  class they were given when loaded (pipelines/equity/profiles.py), so their class is unchanged.
- `<table>_set_aside`, `<table>_superseded` and `part_changes`, and the `_current` views that
  subtract them. Version 1 showed the latest file per partner and part (period; indicator and
  period for aggregate cells): every earlier file's rows for that part are set aside as
  `replaced`, so `_current` shows exactly the rows version 1 showed and no published number
  moves. New files are judged by the new rule from then on.

The DDL is written out here, not imported from pipelines/resubmission.py: a migration is the
layout of version 2 for ever, whatever later versions change.

Safe to run on a warehouse that already has some of version 2 (each piece is added only where
missing), which covers warehouses written by unreleased code between versions 1 and 2.
"""

from __future__ import annotations

import duckdb

from pipelines.migrations import initiative_schemas
from pipelines.sql import has_table

SUBMISSIONS = """
CREATE TABLE submissions (
    submission_id BIGINT PRIMARY KEY DEFAULT nextval('submission_ids'),
    initiative_id VARCHAR NOT NULL, partner_id VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL, sha256 VARCHAR, size_bytes BIGINT,
    encoding VARCHAR, delimiter VARCHAR,
    status VARCHAR NOT NULL CHECK (status IN ('loaded', 'rejected', 'duplicate', 'held')),
    reason_code VARCHAR, reasons VARCHAR,
    rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
    received_at TIMESTAMP NOT NULL, run_id VARCHAR, stored_path VARCHAR, report_path VARCHAR,
    validation JSON
)"""
# (table, part columns with types, key columns) per initiative schema, as in version 2.
LAYOUTS = (("records", (("period", "INTEGER"),)),
           ("aggregate_counts", (("indicator_id", "VARCHAR"), ("period", "INTEGER"))))


# Version 1 kept up to 200 characters of every failing cell: a date of birth in the year column
# or a name in the race column. Version 2 keeps the first character and the length only (the full
# value is in the partner's own bad_rows.csv); written out here so the migration never changes.
MASK_OLD_VALUES = r"""
    UPDATE quarantine SET value = left(value, 1)
        || CASE WHEN length(value) > 1 THEN '…' ELSE '' END || ' (' || length(value)
        || CASE WHEN length(value) = 1 THEN ' character)' ELSE ' characters)' END
    WHERE value IS NOT NULL AND value <> '(hidden: person identifier)'
      AND NOT regexp_full_match(value, '.…? \(\d+ characters?\)')"""


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    _widen_status_check(con)
    con.execute(MASK_OLD_VALUES)
    for schema in initiative_schemas(con):
        columns = {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = 'records'", [schema]).fetchall()}
        if columns and "class_proxy_value" not in columns:
            con.execute(f"ALTER TABLE {schema}.records ADD COLUMN class_proxy_value VARCHAR")
        con.execute(f"""CREATE TABLE IF NOT EXISTS {schema}.part_changes (
            run_id VARCHAR, how VARCHAR, partner_id VARCHAR, source_table VARCHAR, part VARCHAR,
            batch BIGINT, submission_ids BIGINT[], rows_before BIGINT, rows_carried BIGINT,
            rows_kept BIGINT, rows_after BIGINT, decision VARCHAR, held BOOLEAN,
            decided_at TIMESTAMP, published BOOLEAN)""")
        for name, part in LAYOUTS:
            if has_table(con, schema, name):
                _resubmission_tables(con, f"{schema}.{name}", part,
                                     adopt=not has_table(con, schema, f"{name}_set_aside"))


def _widen_status_check(con: duckdb.DuckDBPyConnection) -> None:
    sql = con.execute("SELECT sql FROM duckdb_tables() WHERE database_name = current_database() "
                      "AND schema_name = 'main' AND table_name = 'submissions'").fetchall()[0][0]
    if "'held'" in sql:
        return
    con.execute("ALTER TABLE submissions RENAME TO submissions_version_1")
    con.execute(SUBMISSIONS)
    con.execute("INSERT INTO submissions SELECT * FROM submissions_version_1")
    con.execute("DROP TABLE submissions_version_1")


def _resubmission_tables(con: duckdb.DuckDBPyConnection, table: str,
                         part: tuple[tuple[str, str], ...], adopt: bool) -> None:
    names = ", ".join(c for c, _ in part)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table}_set_aside (submission_id BIGINT, "
                f"{', '.join(f'{c} {t}' for c, t in part)}, reason VARCHAR, "
                "by_submission BIGINT, decided_at TIMESTAMP)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {table}_superseded (submission_id BIGINT, "
                "source_row BIGINT, by_submission BIGINT, decided_at TIMESTAMP)")
    if adopt:
        # Version 1's view: the latest file (highest submission) per partner and part.
        con.execute(f"""
            INSERT INTO {table}_set_aside
            SELECT DISTINCT t.submission_id, {', '.join('t.' + c for c, _ in part)}, 'replaced',
                   l.latest, now()
            FROM {table} t
            JOIN (SELECT partner_id, {names}, max(submission_id) AS latest FROM {table}
                  GROUP BY ALL) l USING (partner_id, {names})
            WHERE t.submission_id < l.latest""")
    on_part = " AND ".join(f"x.{c} = t.{c}" for c, _ in part)
    con.execute(f"""
        CREATE OR REPLACE VIEW {table}_current AS
        SELECT t.* FROM {table} t
        WHERE NOT EXISTS (SELECT 1 FROM {table}_set_aside x
                          WHERE x.submission_id = t.submission_id AND {on_part})
          AND NOT EXISTS (SELECT 1 FROM {table}_superseded s
                          WHERE s.submission_id = t.submission_id
                            AND s.source_row = t.source_row)""")
