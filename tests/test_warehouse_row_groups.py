"""The warehouse keeps its row groups as inserted (`warehouse.keep_row_groups`): the same rows in
the same order as a database whose checkpoint merges part-filled row groups, without rewriting
them at every close."""

from __future__ import annotations

import duckdb

from pipelines import warehouse

# Three loads of 150,000 rows, each in its own transaction: each leaves a part-filled row group
# (27,120 rows) between full ones, which DuckDB's checkpoint merges when it may.
LOADS = 3
ROWS = 150_000


def _load(con: duckdb.DuckDBPyConnection) -> None:
    for load in range(LOADS):
        con.execute("BEGIN")
        con.execute(
            "INSERT INTO riverbend.records (submission_id, source_row, loaded_at, partner_id, "
            "person_key, period) SELECT $load, i, TIMESTAMP '2026-01-01', 'p', "
            "hash(i, $load)::UHUGEINT, (2020 + i % 3)::VARCHAR FROM range($rows) r(i)",
            {"load": load + 1, "rows": ROWS})
        con.execute("COMMIT")


def _closed(path) -> tuple[list[tuple], list[int]]:
    """The rows (count and a hash of each row with its rowid: their order counts), and the row
    groups' sizes, of the closed database."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT count(*), sum(hash(rowid, submission_id, source_row, "
                           "person_key, period)::HUGEINT) FROM riverbend.records").fetchall()
        groups = [n for (n,) in con.execute(
            "SELECT max(count) FROM pragma_storage_info('riverbend.records') "
            "WHERE column_name = 'source_row' GROUP BY row_group_id ORDER BY row_group_id"
        ).fetchall()]
    finally:
        con.close()
    return rows, groups


def _create_and_load(con) -> None:
    con.execute("CREATE SCHEMA riverbend")
    con.execute("CREATE TABLE riverbend.records (submission_id BIGINT NOT NULL, source_row "
                "BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL, partner_id VARCHAR, "
                "person_key UHUGEINT, period VARCHAR)")
    _load(con)


def test_the_warehouse_keeps_row_groups_and_the_same_rows_as_a_merging_checkpoint(tmp_path):
    kept = tmp_path / "kept.duckdb"
    merged = tmp_path / "merged.duckdb"
    con = warehouse.connect(kept)
    assert con.execute("SELECT current_setting('max_vacuum_tasks')").fetchall() == [(0,)]
    _create_and_load(con)
    con.close()
    con = duckdb.connect(str(merged))  # DuckDB's default checkpoint
    _create_and_load(con)
    con.close()
    kept_rows, kept_groups = _closed(kept)
    merged_rows, merged_groups = _closed(merged)
    assert kept_rows == merged_rows
    assert kept_rows[0][0] == LOADS * ROWS
    # the default checkpoint did merge (so the comparison is not between two equal layouts)
    assert len(merged_groups) < len(kept_groups) == 2 * LOADS
    # a connection opened again for writing keeps them too
    warehouse.connect(kept).close()
    assert _closed(kept)[1] == kept_groups
