"""Version 0 -> 1: person keys from 64-hex text to 128-bit integers.

Version 0 stored `sha256(salt || ':' || id)` as its hex text; version 1 stores the first 128 bits
of that same digest as a UHUGEINT (`('0x' || left(sha256(...), 32))::UHUGEINT`, see
pipelines/standardize.py). The integer is therefore re-derived exactly from the text key, with no
salt and no raw id: a person keeps one key across the upgrade, and counts keep unduplicating
old and new records together. A key that is not 64 hex digits was not written by backbone; the
step then refuses (the whole migration rolls back) and says to rebuild from data/archive/.
"""

from __future__ import annotations

import duckdb

from pipelines.migrations import initiative_schemas

HEX_KEY = "^[0-9a-f]{64}$"


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    for schema in initiative_schemas(con):
        typed = con.execute("SELECT data_type FROM duckdb_columns() WHERE database_name = "
                            "current_database() AND schema_name = ? AND table_name = 'records' "
                            "AND column_name = 'person_key'", [schema]).fetchall()
        if not typed or typed[0][0] != "VARCHAR":
            continue
        bad = con.execute(f"SELECT submission_id, source_row, person_key FROM {schema}.records "
                          f"WHERE NOT regexp_full_match(coalesce(person_key, ''), '{HEX_KEY}') "
                          "ORDER BY ALL LIMIT 1").fetchall()
        if bad:
            submission_id, row, _ = bad[0]
            raise ValueError(
                f"{schema}.records: submission {submission_id}, row {row}, column person_key is "
                "not a 64-hex-digit key, so it cannot be converted; rebuild the warehouse from "
                "data/archive/ with `backbone rebuild`")
        con.execute(f"ALTER TABLE {schema}.records ALTER person_key SET DATA TYPE UHUGEINT "
                    f"USING ('0x' || left(person_key, 32))::UHUGEINT")
        _latest_file_views(con, schema)


def _latest_file_views(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Version 1's `_current` views (text of 318c782's warehouse._create_latest_file_view)."""
    for table, grain in ((f"{schema}.aggregate_counts", "partner_id, indicator_id, period"),
                         (f"{schema}.records", "partner_id, period")):
        con.execute(f"""
            CREATE OR REPLACE VIEW {table}_current AS
            SELECT * FROM {table}
            WHERE ({grain}, submission_id) IN (
                SELECT ({grain}, max(submission_id)) FROM {table} GROUP BY {grain})""")
