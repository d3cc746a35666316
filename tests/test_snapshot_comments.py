"""The snapshot's comments set only where they differ (`snapshot_analyst._comment`) against
setting every one again (`ALWAYS_COMMENT`, as before): the same comments on a snapshot brought
up to date, and on a copy whose comments were removed, changed or never set."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from pipelines import snapshot_analyst
from pipelines.snapshot import snapshot_warehouse

from test_snapshot_incremental import night, school_file

COMMENTS = """
    SELECT 'table', schema_name, table_name, NULL, comment::VARCHAR FROM duckdb_tables()
    WHERE database_name = 'snap'
    UNION ALL SELECT 'view', schema_name, view_name, NULL, comment::VARCHAR FROM duckdb_views()
    WHERE database_name = 'snap' AND NOT internal
    UNION ALL SELECT 'column', schema_name, table_name, column_name, comment::VARCHAR
    FROM duckdb_columns() WHERE database_name = 'snap' ORDER BY ALL"""


def _commented(workspace, copy, always: bool, monkeypatch) -> list:
    monkeypatch.setattr(snapshot_analyst, "ALWAYS_COMMENT", always)
    con = duckdb.connect()
    try:
        con.execute("ATTACH ? AS live (READ_ONLY)", [str(workspace.warehouse_file)])
        con.execute("ATTACH ? AS snap", [str(copy)])
        snapshot_analyst.refresh(con, workspace)
        return con.execute(COMMENTS).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("damage", ["none", "removed", "changed", "both"])
def test_comments_set_where_they_differ_equal_every_comment_set(workspace, config, tmp_path,
                                                                 monkeypatch, damage):
    night(workspace, config, ("RUSD_2024.csv", school_file(2024, range(30))))
    snapshot_warehouse(workspace)
    night(workspace, config, ("RUSD_2025.csv", school_file(2025, range(40))))
    found = {}
    for always in (False, True):
        copy = tmp_path / f"copy-{always}.duckdb"
        shutil.copyfile(workspace.snapshot_file, copy)
        con = duckdb.connect(str(copy))
        try:
            if damage in ("removed", "both"):
                con.execute("COMMENT ON TABLE riverbend.records IS NULL")
                con.execute("COMMENT ON COLUMN riverbend.records.period IS NULL")
            if damage in ("changed", "both"):
                con.execute("COMMENT ON TABLE main.submissions IS 'edited'")
                con.execute("COMMENT ON COLUMN main.submissions.status IS 'edited'")
        finally:
            con.close()
        found[always] = _commented(workspace, copy, always, monkeypatch)
    assert found[False] == found[True]
    described = [row for row in found[True] if row[4]]
    assert len(described) > 50 and not [row for row in described if row[4] == "edited"]
