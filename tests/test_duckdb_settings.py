"""Every database a run opens is capped, and staging leaves only what the warehouse step reads."""

from __future__ import annotations

import duckdb
import pytest

from pipelines import warehouse
from pipelines.duckdb_settings import DEFAULT_MEMORY_LIMIT
from pipelines.intake import stage_file

from conftest import drop


def _limit(con) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def _as_limit(size: str) -> str:
    con = duckdb.connect()
    con.execute("SET memory_limit = $size", {"size": size})
    shown = _limit(con)
    con.close()
    return shown


def test_the_warehouse_is_capped_and_the_cap_can_be_raised(tmp_path, monkeypatch):
    monkeypatch.delenv("BACKBONE_MEMORY_LIMIT", raising=False)
    con = warehouse.connect(tmp_path / "a.duckdb")
    assert _limit(con) == _as_limit(DEFAULT_MEMORY_LIMIT)
    con.close()
    monkeypatch.setenv("BACKBONE_MEMORY_LIMIT", "2GB")
    con = warehouse.connect(tmp_path / "b.duckdb")
    assert _limit(con) == _as_limit("2GB") != _as_limit(DEFAULT_MEMORY_LIMIT)
    con.close()


def test_a_staged_file_keeps_only_records_and_quarantine(workspace, config):
    content = ("Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met,Campus\n"
               + "".join(f"S{i},2024,700,F,Y,Oak Park\n" for i in range(30))
               + "S1,2024,700,F,maybe,Oak Park\n")
    path = drop(workspace, "riverbend_schools", "k.csv", content)
    staged = stage_file(path, config, "riverbend_schools", "salt", workspace.staging)
    assert staged.status == "staged", staged.problems
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        # no parsed or typed cells, no raw ids: the set-aside rows' people only as hashed keys
        assert tables == {"records", "quarantine", "quarantined_keys"}
        listed = con.execute("SELECT * FROM quarantined_keys").fetchall()
        assert listed and not any("S1" == v for row in listed for v in row)
        columns = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE "
                                             "table_name = 'records'").fetchall()}
        assert "person_id" not in columns and "person_key" in columns
        assert con.execute("SELECT count(*) FROM records").fetchall()[0][0] == 29
    finally:
        con.close()


def test_running_out_of_memory_is_an_error_not_a_rejected_file(workspace, config, monkeypatch):
    # A rejection would tell the partner their file is unreadable; the flow instead leaves the
    # file in intake for the next run (tests/test_nightly_flow.py).
    monkeypatch.setenv("BACKBONE_MEMORY_LIMIT", "4MB")
    content = ("Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met\n"
               + "".join(f"S{i:07d},2024,700|200,F,Y\n" for i in range(200_000)))
    path = drop(workspace, "riverbend_schools", "big.csv", content)
    with pytest.raises(duckdb.OutOfMemoryException):
        stage_file(path, config, "riverbend_schools", "salt", workspace.staging)
    assert path.exists()
    assert list(workspace.staging.glob("*/spill")) == []
