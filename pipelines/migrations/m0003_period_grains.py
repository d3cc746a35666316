"""Version 2 -> 3: periods of any grain, and the "more than one race, not specified" code.

- `<initiative>.records` and `<initiative>.aggregate_counts`: `period` was an INTEGER year; it
  becomes the canonical label (VARCHAR, `2024`) beside `period_type` ('year'), `period_start`
  and `period_end` (2024-01-01, 2024-12-31), the layout staging writes now (pipelines/periods.py).
  Records gain `race_multi_unspecified` (false: version 2 had no such code).
- `<table>_set_aside`: `period` VARCHAR, holding the same label, so the `_current` views subtract
  exactly the rows they subtracted before. Resubmission keys keep their meaning: (person, period
  label); `part_changes.part` was text already ("2024" / "indicator 2024") and is unchanged.
- Marts (`indicator_cells`, `disparities`, `poverty_guideline_years`) are rebuilt by measure.
  One `part_changes` row with `published = false` makes the next night re-measure and publish
  even when no file arrives, so the marts and published tables gain the new period columns.

The DDL is written out here, not imported from pipelines/resubmission.py: a migration is the
layout of version 3 for ever. Safe on a warehouse already (partly) in version 3's layout: a
column is converted only while it is still an INTEGER, and added only when missing.
"""

from __future__ import annotations

import duckdb

from pipelines.migrations import initiative_schemas
from pipelines.sql import has_table

# (table, parts of its `_set_aside`), as in version 3.
LAYOUTS = (("records", ("period",)), ("aggregate_counts", ("indicator_id", "period")))
NEW_COLUMNS = (("period_type", "VARCHAR"), ("period_start", "DATE"), ("period_end", "DATE"))


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    return dict(con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
        "current_database() AND schema_name = ? AND table_name = ?", [schema, table]).fetchall())


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    for schema in initiative_schemas(con):
        changed = False
        for name, part in LAYOUTS:
            if not has_table(con, schema, name):
                continue
            changed |= _period_labels(con, schema, name)
            if name == "records" and "race_multi_unspecified" not in _columns(con, schema, name):
                con.execute(f"ALTER TABLE {schema}.records ADD COLUMN race_multi_unspecified "
                            "BOOLEAN")
                con.execute(f"UPDATE {schema}.records SET race_multi_unspecified = false")
                changed = True
            if has_table(con, schema, f"{name}_set_aside"):
                if _columns(con, schema, f"{name}_set_aside").get("period") == "INTEGER":
                    con.execute(f"ALTER TABLE {schema}.{name}_set_aside ALTER period SET DATA "
                                "TYPE VARCHAR USING period::VARCHAR")
                _current_view(con, f"{schema}.{name}", part)
        if changed and has_table(con, schema, "part_changes"):
            con.execute(f"""INSERT INTO {schema}.part_changes (run_id, how, decided_at, published)
                            VALUES (NULL, 'migrated to warehouse schema version 3 (period
                            labels)', now(), false)""")


def _period_labels(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """A year as its label, type and dates; True when anything changed."""
    columns = _columns(con, schema, table)
    changed = False
    for column, sql_type in NEW_COLUMNS:
        if column not in columns:
            con.execute(f"ALTER TABLE {schema}.{table} ADD COLUMN {column} {sql_type}")
            changed = True
    if columns.get("period") == "INTEGER":
        con.execute(f"ALTER TABLE {schema}.{table} ALTER period SET DATA TYPE VARCHAR "
                    "USING period::VARCHAR")
        changed = True
    if changed:
        # Every version-2 period is a calendar year.
        con.execute(f"""UPDATE {schema}.{table} SET period_type = 'year',
                            period_start = make_date(period::INTEGER, 1, 1),
                            period_end = make_date(period::INTEGER, 12, 31)
                        WHERE period_type IS NULL AND period IS NOT NULL""")
    return changed


def _current_view(con: duckdb.DuckDBPyConnection, table: str, part: tuple[str, ...]) -> None:
    """Version 3's `_current` view (the same text as version 2's, over the label columns)."""
    on_part = " AND ".join(f"x.{c} = t.{c}" for c in part)
    con.execute(f"""
        CREATE OR REPLACE VIEW {table}_current AS
        SELECT t.* FROM {table} t
        WHERE NOT EXISTS (SELECT 1 FROM {table}_set_aside x
                          WHERE x.submission_id = t.submission_id AND {on_part})
          AND NOT EXISTS (SELECT 1 FROM {table}_superseded s
                          WHERE s.submission_id = t.submission_id
                            AND s.source_row = t.source_row)""")
