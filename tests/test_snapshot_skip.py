"""The analysts' snapshot is rebuilt only when what it is built from changed (issue 14: a night
with nothing new paid ~0.7 s on the sample, and minutes on a large warehouse, to rebuild it)."""

from __future__ import annotations

import duckdb

from pipelines import warehouse
from pipelines.snapshot import snapshot_warehouse


def _identity(path):
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def _add_submission(workspace, status: str = "rejected") -> None:
    con = warehouse.connect(workspace.warehouse_file)
    try:
        con.execute("INSERT INTO submissions (initiative_id, partner_id, file_name, status, "
                    "received_at) VALUES ('riverbend', 'riverbend_schools', 'x.csv', ?, now())",
                    [status])
    finally:
        con.close()


def _statuses(snapshot) -> list:
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        return con.execute("SELECT status FROM submissions ORDER BY submission_id").fetchall()
    finally:
        con.close()


def test_unchanged_warehouse_keeps_its_snapshot_and_any_change_rebuilds_it(workspace, config):
    con = warehouse.connect(workspace.warehouse_file)
    warehouse.ensure_initiative_tables(con, config)
    con.close()
    _add_submission(workspace)
    first = _identity(snapshot_warehouse(workspace))

    # A run that finds nothing new still rewrites some of the warehouse's catalog.
    con = warehouse.connect(workspace.warehouse_file)
    warehouse.ensure_initiative_tables(con, config)
    con.close()
    assert _identity(snapshot_warehouse(workspace)) == first

    _add_submission(workspace, "duplicate")
    second = snapshot_warehouse(workspace)
    assert _identity(second) != first
    assert _statuses(second) == [("rejected",), ("duplicate",)]

    # A status changed in place (an accepted held file) is a change too.
    con = warehouse.connect(workspace.warehouse_file)
    con.execute("UPDATE submissions SET status = 'held' WHERE status = 'duplicate'")
    con.close()
    assert _statuses(snapshot_warehouse(workspace)) == [("rejected",), ("held",)]


def test_changed_definitions_or_a_replaced_snapshot_rebuild_it(workspace, config):
    con = warehouse.connect(workspace.warehouse_file)
    warehouse.ensure_initiative_tables(con, config)
    con.close()
    first = _identity(snapshot_warehouse(workspace))
    definition = workspace.path("indicators", "riverbend", "initiative.yaml")
    definition.write_text(definition.read_text() + "\n# edited\n")
    second = _identity(snapshot_warehouse(workspace))
    assert second != first

    # A snapshot put in place by anything else carries no mark: rebuilt, not trusted.
    target = workspace.snapshot_file
    copy = target.with_name("copy.duckdb")
    copy.write_bytes(target.read_bytes())
    target.chmod(0o644)
    copy.replace(target)
    replaced = _identity(target)
    assert _identity(snapshot_warehouse(workspace)) != replaced


def test_values_rewritten_in_place_rebuild_it(workspace, config):
    """A migration or repair may rewrite values without adding rows or submissions."""
    con = warehouse.connect(workspace.warehouse_file)
    warehouse.ensure_initiative_tables(con, config)
    con.execute("INSERT INTO quarantine (submission_id, initiative_id, partner_id, source_row, "
                "column_name, rule, value, message) SELECT range, 'riverbend', 'p', range, 'c', "
                "'wrong_type', 'v', 'old' FROM range(5000)")
    con.close()
    snapshot_warehouse(workspace)
    con = warehouse.connect(workspace.warehouse_file)
    con.execute("UPDATE quarantine SET message = 'new' WHERE source_row = 4321")
    con.close()
    snapshot = duckdb.connect(str(snapshot_warehouse(workspace)), read_only=True)
    try:
        assert snapshot.execute("SELECT message FROM quarantine WHERE source_row = 4321"
                                ).fetchall() == [("new",)]
    finally:
        snapshot.close()
