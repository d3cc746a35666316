"""The analysts' snapshot: opened by the DuckDB CLI analysts install, documented inside the data,
with stable analyst views, no partner values from quarantine, and written atomically."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.config import Workspace
from pipelines.snapshot import snapshot_warehouse

ANALYST_VIEWS = ("submissions_by_partner_period", "quarantine_by_rule")


def duckdb_cli() -> str:
    """The `duckdb` executable of PyPI's duckdb-cli (a test extra), next to this interpreter."""
    found = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
    assert found, "no duckdb CLI: install the test extras (pip install -e '.[test]')"
    return found


def cli(database: Path, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run([duckdb_cli(), "-readonly", "-json", str(database), "-c", sql],
                          capture_output=True, text=True, timeout=60)


def cli_rows(database: Path, sql: str) -> list[dict]:
    done = cli(database, sql)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout or "[]")


@pytest.fixture(scope="module")
def snapshot(demo_run) -> Path:
    workspace, _, _ = demo_run
    return workspace.snapshot_file


def test_the_duckdb_cli_opens_the_snapshot_not_only_python(demo_run, snapshot):
    workspace, _, _ = demo_run
    version = subprocess.run([duckdb_cli(), "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("v1."), version.stdout  # a 1.x client, as analysts have
    rows = cli_rows(snapshot, "SELECT count(*) AS n FROM riverbend.records_current")
    live = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        expected = live.execute("SELECT count(*) FROM riverbend.records_current").fetchall()[0][0]
    finally:
        live.close()
    assert rows == [{"n": expected}] and expected > 0
    # Every view binds in the older client too (views are stored as SQL and re-bound by it).
    views = cli_rows(snapshot, "SELECT schema_name, view_name FROM duckdb_views() "
                               "WHERE NOT internal ORDER BY ALL")
    assert {v["view_name"] for v in views} >= {*ANALYST_VIEWS, "records_current",
                                               "data_dictionary"}
    counts = " UNION ALL ".join(f"SELECT '{v['view_name']}' AS v, count(*) AS n FROM "
                                f"{v['schema_name']}.{v['view_name']}" for v in views)
    assert len(cli_rows(snapshot, counts)) == len(views)


def test_the_live_warehouse_keeps_the_newest_format(demo_run):
    """Only the snapshot is written for older clients; the live file is left as DuckDB writes it."""
    workspace, _, _ = demo_run
    done = cli(workspace.warehouse_file, "SELECT 1")
    assert done.returncode != 0 and "version number" in done.stderr


def test_every_table_view_and_column_is_described(snapshot):
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        bare = con.execute("""
            SELECT schema_name || '.' || table_name FROM duckdb_tables()
            WHERE coalesce(comment, '') = ''
            UNION ALL SELECT schema_name || '.' || view_name FROM duckdb_views()
            WHERE NOT internal AND coalesce(comment, '') = ''
            UNION ALL SELECT schema_name || '.' || table_name || '.' || column_name
            FROM duckdb_columns() WHERE NOT internal AND coalesce(comment, '') = ''
            ORDER BY 1""").fetchall()
        assert bare == [], f"no COMMENT (add them to pipelines/dictionary.py): {bare}"
        described = dict(con.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = 'riverbend' "
            "AND table_name = 'records'").fetchall())
        # From the intake schema's YAML, and the indicators from theirs.
        assert described["kinder_ready"].startswith("1 if the child met the kindergarten")
        cells = dict(con.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = 'riverbend' "
            "AND table_name = 'indicator_cells'").fetchall())
        assert "kindergarten_readiness = Children ready for kindergarten" in cells["indicator_id"]
        indicators = con.execute("SELECT indicator_id, description FROM riverbend.indicators "
                                 "ORDER BY 1").fetchall()
        assert ("third_grade_reading",
                "Share of third graders tested who met standard in reading.") in indicators
        dictionary = con.execute("SELECT count(*), count(column_comment) FROM data_dictionary "
                                 "WHERE table_name = 'indicator_results'").fetchall()[0]
        assert dictionary[0] == dictionary[1] > 10
    finally:
        con.close()


def test_published_parquet_carries_the_same_descriptions(demo_run, snapshot):
    workspace, _, _ = demo_run
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        for name in ("indicator_results", "disparities"):
            path = workspace.published("riverbend") / "partnership" / f"{name}.parquet"
            schema = pq.read_schema(path)
            metadata = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
            assert metadata.get("description"), path
            missing = [c for c in schema.names if not metadata.get(f"description:{c}")]
            assert missing == [], f"{path}: columns without a description: {missing}"
            comments = dict(con.execute(
                "SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = "
                "'riverbend' AND table_name = ?", [name]).fetchall())
            assert {c: metadata[f"description:{c}"] for c in comments} == comments
    finally:
        con.close()


def test_analyst_views_answer_from_the_same_data(demo_run, snapshot):
    workspace, _, _ = demo_run
    results = workspace.published("riverbend") / "partnership" / "indicator_results.parquet"
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        kinds = dict(con.execute(
            "SELECT view_name, 'view' FROM duckdb_views() WHERE schema_name = 'riverbend' "
            "UNION ALL SELECT table_name, 'table' FROM duckdb_tables() "
            "WHERE schema_name = 'riverbend'").fetchall())
        assert all(kinds.get(v) == "view" for v in ANALYST_VIEWS), kinds
        # As published, row for row.
        differ = con.execute(
            "SELECT (SELECT count(*) FROM (FROM riverbend.indicator_results EXCEPT ALL "
            "FROM read_parquet($p))) + (SELECT count(*) FROM (FROM read_parquet($p) EXCEPT ALL "
            "FROM riverbend.indicator_results)), (SELECT count(*) FROM read_parquet($p))",
            {"p": str(results)}).fetchall()[0]
        assert differ[0] == 0 and differ[1] > 0
        files, rows, current = con.execute(
            "SELECT sum(files), sum(rows_loaded), sum(rows_current) FROM "
            "riverbend.submissions_by_partner_period WHERE status = 'loaded'").fetchall()[0]
        truth = con.execute(
            "SELECT (SELECT count(*) FROM (SELECT DISTINCT submission_id, period FROM "
            "riverbend.records UNION SELECT DISTINCT submission_id, period FROM "
            "riverbend.aggregate_counts)), "
            "(SELECT count(*) FROM riverbend.records) + "
            "(SELECT count(*) FROM riverbend.aggregate_counts), "
            "(SELECT count(*) FROM riverbend.records_current) + "
            "(SELECT count(*) FROM riverbend.aggregate_counts_current)").fetchall()[0]
        # A file appears once per period it holds (a dated file in each of its days).
        assert (files, rows, current) == truth and files > 0
        statuses = {r[0] for r in con.execute(
            "SELECT DISTINCT status FROM riverbend.submissions_by_partner_period").fetchall()}
        assert statuses == {r[0] for r in con.execute(
            "SELECT DISTINCT status FROM submissions").fetchall()}
        by_rule = con.execute("SELECT sum(cells), count(*) FROM riverbend.quarantine_by_rule"
                              ).fetchall()[0]
        assert by_rule[0] == con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] > 0
        columns = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE "
                                             "table_name = 'quarantine_by_rule'").fetchall()}
        assert not columns & {"value", "message"}
    finally:
        con.close()


def test_quarantined_values_never_reach_the_snapshot(demo_run, tmp_path):
    """A partner's value in a failing cell stays in the live warehouse (for the data lead)."""
    demo, _, _ = demo_run
    workspace = Workspace(tmp_path).add_definitions()
    workspace.warehouse_file.parent.mkdir(parents=True)
    shutil.copyfile(demo.warehouse_file, workspace.warehouse_file)
    secret = "Zelda Quarantina 1987-04-12"
    live = duckdb.connect(str(workspace.warehouse_file))
    try:
        live.execute("INSERT INTO quarantine (submission_id, initiative_id, partner_id, "
                     "source_row, column_name, rule, value, message) SELECT submission_id, "
                     "initiative_id, partner_id, 99, 'race', 'unknown_race_code', ?, "
                     "'race has a code ...' FROM submissions LIMIT 1", [secret])
        raw = [r[0] for r in live.execute("SELECT value FROM quarantine").fetchall()]
    finally:
        live.close()

    snapshot = snapshot_warehouse(workspace)
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        columns = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE "
                                             "table_name = 'quarantine'").fetchall()]
        assert "value" not in columns and "rule" in columns
        assert con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == len(raw)
        text = " ".join(str(cell) for row in con.execute("FROM quarantine").fetchall()
                        for cell in row)
        assert secret not in text
    finally:
        con.close()
    assert secret.encode() not in snapshot.read_bytes()


def test_snapshot_is_replaced_whole_and_read_only(demo_run, tmp_path):
    demo, _, _ = demo_run
    workspace = Workspace(tmp_path).add_definitions()
    workspace.warehouse_file.parent.mkdir(parents=True)
    shutil.copyfile(demo.warehouse_file, workspace.warehouse_file)
    first = snapshot_warehouse(workspace)
    reader = duckdb.connect(str(first), read_only=True)  # an analyst's open session
    try:
        before = reader.execute("SELECT count(*) FROM submissions").fetchall()[0][0]
        # A crash just before the rename leaves a read-only temporary (and maybe its log).
        leftover = first.with_name(f".{first.name}.tmp")
        leftover.write_bytes(b"half a database")
        leftover.chmod(0o444)
        live = duckdb.connect(str(workspace.warehouse_file))
        live.execute("DELETE FROM submissions WHERE status = 'rejected'")
        live.close()
        second = snapshot_warehouse(workspace)
        assert reader.execute("SELECT count(*) FROM submissions").fetchall()[0][0] == before
    finally:
        reader.close()
    assert stat.S_IMODE(second.stat().st_mode) == 0o444
    assert sorted(p.name for p in second.parent.iterdir()) == ["backbone.duckdb", "snapshot.duckdb"]
    rows = cli_rows(second, "SELECT count(*) AS n FROM submissions WHERE status = 'rejected'")
    assert rows == [{"n": 0}]


def test_submission_view_follows_every_status(demo_run, tmp_path):
    """Duplicates (no rows) and held files (rows that do not count) each get their own rows."""
    demo, _, _ = demo_run
    workspace = Workspace(tmp_path).add_definitions()
    workspace.warehouse_file.parent.mkdir(parents=True)
    shutil.copyfile(demo.warehouse_file, workspace.warehouse_file)
    live = duckdb.connect(str(workspace.warehouse_file))
    try:
        held, period = live.execute("SELECT submission_id, min(period) FROM riverbend.records "
                                    "GROUP BY ALL ORDER BY 1 DESC LIMIT 1").fetchall()[0]
        live.execute("UPDATE submissions SET status = 'held' WHERE submission_id = ?", [held])
        live.execute("INSERT INTO riverbend.records_set_aside (submission_id, period, reason) "
                     "VALUES (?, ?, 'held')", [held, period])
        live.execute("INSERT INTO submissions (initiative_id, partner_id, file_name, status, "
                     "rows_read, rows_loaded, received_at) SELECT initiative_id, partner_id, "
                     "file_name, 'duplicate', rows_read, 0, now() FROM submissions "
                     "WHERE submission_id = ?", [held])
        rows = live.execute("SELECT count(*) FROM riverbend.records WHERE submission_id = ?",
                            [held]).fetchall()[0][0]
    finally:
        live.close()
    con = duckdb.connect(str(snapshot_warehouse(workspace)), read_only=True)
    try:
        got = con.execute("SELECT status, period, files, rows_loaded, rows_current FROM "
                          "riverbend.submissions_by_partner_period WHERE status IN "
                          "('held', 'duplicate') ORDER BY status").fetchall()
    finally:
        con.close()
    assert got == [("duplicate", None, 1, 0, 0), ("held", str(period), 1, rows, 0)]
