"""The snapshot brought up to date from yesterday's copy equals a fresh build of the same
warehouse, or is built fresh (issue 14: rebuilding it was most of an incremental night).

Each night here is real staging and a real warehouse load (`ingest.settle_all`), then the
incremental snapshot and a fresh one of the same warehouse, compared table by table."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil

import duckdb

from benchmarks.snapshot_ab import contents
from pipelines import ingest, warehouse
from pipelines.intake import stage_file
from pipelines.measure import build_indicator_cells
from pipelines.snapshot import snapshot_warehouse
from pipelines.snapshot_incremental import TableState, plan, read_mark

from conftest import drop

SALT = "snapshot-test-salt"
SECRET = "Zelda Quarantina 1987-04-12"
_runs = itertools.count(1)


def school_file(period: int, people, ready: int = 1) -> str:
    return "person_id,period,kinder_ready\n" + "".join(f"{p},{period},{ready}\n" for p in people)


def night(workspace, config, *files, secret: str | None = None) -> None:
    """One run's warehouse step over school files, indicator cells measured again; `secret`
    becomes a quarantined partner value."""
    staged = [stage_file(drop(workspace, "riverbend_schools", name, content), config,
                         "riverbend_schools", SALT, workspace.staging) for name, content in files]
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        ingest.settle_all(con, workspace, config, staged, [], f"run-{next(_runs)}")
        build_indicator_cells(con, config)
        if secret:
            con.execute("INSERT INTO quarantine (submission_id, initiative_id, partner_id, "
                        "source_row, column_name, rule, value, message) SELECT max(submission_id),"
                        " 'riverbend', 'riverbend_schools', 7, 'kinder_ready', 'wrong_type', ?, "
                        "'kinder_ready is not 0 or 1' FROM submissions", [secret])
    finally:
        con.close()


def updated_equals_fresh(workspace, tmp_path) -> dict:
    """Bring the snapshot up to date, compare it with a fresh build of the same warehouse
    (which then stays in place, as the next night's start), and return the update's mark."""
    snapshot_warehouse(workspace)
    updated = tmp_path / "updated.duckdb"
    shutil.copy2(workspace.snapshot_file, updated)
    mark = read_mark(updated)
    snapshot_warehouse(workspace, fresh=True)
    assert read_mark(workspace.snapshot_file)["updates"] == 0
    assert contents(updated) == contents(workspace.snapshot_file)
    return mark


def test_appended_nights_update_the_copy_and_equal_a_fresh_build(workspace, config, tmp_path):
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, 300))))
    snapshot_warehouse(workspace, fresh=True)
    assert read_mark(workspace.snapshot_file)["updates"] == 0

    # A new period: rows, a submission, quarantine (with a partner's value) only appended;
    # indicator cells and part changes measured again.
    night(workspace, config, ("k2024.csv", school_file(2024, range(1, 250))), secret=SECRET)
    assert updated_equals_fresh(workspace, tmp_path)["updates"] == 1
    assert SECRET.encode() not in (tmp_path / "updated.duckdb").read_bytes()

    # A resubmission: 40 corrections supersede earlier rows (recorded in a side table).
    fixes = school_file(2024, range(1, 41), ready=0) + \
        school_file(2024, range(1000, 1010)).split("\n", 1)[1]
    night(workspace, config, ("k2024 fixes.csv", fixes))
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    superseded = con.execute("SELECT count(*) FROM riverbend.records_superseded").fetchall()
    con.close()
    assert superseded[0][0] > 0
    assert updated_equals_fresh(workspace, tmp_path)["updates"] == 1


def test_rows_changed_in_place_or_a_migration_build_it_fresh(workspace, config, tmp_path):
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, 300))))
    snapshot_warehouse(workspace, fresh=True)

    # A repair rewrites a stored record (same row count): the copy's rows are not the live
    # prefix any more, and the table is most of the snapshot, so it is built fresh.
    con = warehouse.connect(workspace.warehouse_file)
    con.execute("UPDATE riverbend.records SET kinder_ready = 1 - kinder_ready WHERE rowid = 5")
    con.close()
    assert updated_equals_fresh(workspace, tmp_path)["updates"] == 0

    # A small table changed in place is copied again inside the update.
    night(workspace, config, ("k2024.csv", school_file(2024, range(1, 250))))
    snapshot_warehouse(workspace, fresh=True)
    con = warehouse.connect(workspace.warehouse_file)
    con.execute("UPDATE submissions SET status = 'held' WHERE submission_id = 1")
    con.close()
    assert updated_equals_fresh(workspace, tmp_path)["updates"] == 1

    # A schema migration (a new column) is never patched in: fresh.
    con = warehouse.connect(workspace.warehouse_file)
    con.execute("ALTER TABLE riverbend.records ADD COLUMN migrated_note VARCHAR")
    con.close()
    night(workspace, config, ("k2025.csv", school_file(2025, range(1, 200))))
    assert updated_equals_fresh(workspace, tmp_path)["updates"] == 0


def test_rows_deleted_and_others_appended_are_not_mistaken_for_appends(workspace, config,
                                                                       tmp_path):
    """A row count grown past the old one, but the first rows are not the old rows."""
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, 300))), secret=SECRET)
    snapshot_warehouse(workspace, fresh=True)
    con = warehouse.connect(workspace.warehouse_file)
    con.execute("DELETE FROM quarantine")
    con.execute("INSERT INTO quarantine (submission_id, initiative_id, partner_id, source_row, "
                "column_name, rule, value, message) SELECT 1, 'riverbend', 'p', range, 'c', "
                "'wrong_type', 'v', 'm' FROM range(3)")
    con.close()
    night(workspace, config, ("k2024.csv", school_file(2024, range(1, 250))))
    assert updated_equals_fresh(workspace, tmp_path)["updates"] == 1  # quarantine copied again


def test_the_old_snapshot_stays_whole_and_readable_while_the_new_one_is_made(workspace, config,
                                                                            tmp_path):
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, 300))))
    old = snapshot_warehouse(workspace, fresh=True)
    held = tmp_path / "held.duckdb"
    os.link(old, held)  # the inode an analyst's open session keeps
    before = hashlib.sha256(held.read_bytes()).hexdigest()
    reader = duckdb.connect(str(old), read_only=True)
    try:
        rows = reader.execute("SELECT count(*) FROM riverbend.records").fetchall()
        night(workspace, config, ("k2024.csv", school_file(2024, range(1, 250))), secret=SECRET)
        new = snapshot_warehouse(workspace)
        assert read_mark(new)["updates"] == 1
        assert reader.execute("SELECT count(*) FROM riverbend.records").fetchall() == rows
    finally:
        reader.close()
    assert hashlib.sha256(held.read_bytes()).hexdigest() == before
    assert new.stat().st_ino != held.stat().st_ino
    assert sorted(p.name for p in new.parent.iterdir()) == ["backbone.duckdb", "snapshot.duckdb"]
    assert SECRET.encode() not in new.read_bytes()


def test_a_damaged_previous_snapshot_is_built_fresh(workspace, config, tmp_path):
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, 300))))
    old = snapshot_warehouse(workspace, fresh=True)
    old.chmod(0o644)
    with open(old, "r+b") as file:  # its headers: the marks stay, DuckDB cannot open it
        file.write(b"\0" * 3 * 4096)
    old.chmod(0o444)
    night(workspace, config, ("k2024.csv", school_file(2024, range(1, 250))))
    assert updated_equals_fresh(workspace, tmp_path)["updates"] == 0


def test_a_grown_file_or_a_mismatched_mark_means_a_fresh_build(tmp_path):
    snapshot = tmp_path / "s.duckdb"
    snapshot.write_bytes(b"x" * 1000)
    key = '["main", "t"]'
    states = {key: TableState(["a"], 10, "7", 4, 4, "3")}
    mark = {"base": "b", "fresh_size": 1000, "tables": {key: [4, "3"]}}
    assert plan(mark, "b", states, snapshot).append == {key: 4}
    assert plan(mark, "other code or catalog", states, snapshot) is None
    assert plan({**mark, "fresh_size": 600}, "b", states, snapshot) is None  # grown past 1.5x
    assert plan({**mark, "tables": {}}, "b", states, snapshot) is None
    # The prefix hashes differently: copied again, which here is all of it, so fresh.
    assert plan({**mark, "tables": {key: [4, "2"]}}, "b", states, snapshot) is None


def test_a_mark_too_large_for_an_extended_attribute_is_kept_beside_the_snapshot(
        workspace, config, tmp_path):
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, 100))))
    con = warehouse.connect(workspace.warehouse_file)
    try:  # many initiatives' worth of tables: far more mark than ext4's ~4 KB of attributes
        for i in range(150):
            con.execute(f"CREATE TABLE main.partner_table_with_a_long_name_{i:03d} (x INTEGER)")
    finally:
        con.close()
    snapshot_warehouse(workspace, fresh=True)
    assert read_mark(workspace.snapshot_file)["updates"] == 0

    night(workspace, config, ("k2024.csv", school_file(2024, range(1, 80))))
    snapshot_warehouse(workspace)
    assert read_mark(workspace.snapshot_file)["updates"] == 1  # brought up to date, not rebuilt
    marks = workspace.snapshot_file.parent / ".snapshot-marks"
    stored = list(marks.iterdir()) if marks.is_dir() else []
    assert len(stored) <= 1  # the previous night's mark is gone
    updated = tmp_path / "updated.duckdb"
    shutil.copyfile(workspace.snapshot_file, updated)
    snapshot_warehouse(workspace, fresh=True)
    assert contents(updated) == contents(workspace.snapshot_file)

    if stored:  # a mark whose file was altered is no mark: the next night builds afresh
        night(workspace, config, ("k2025.csv", school_file(2025, range(1, 60))))
        named = next(marks.iterdir())
        named.write_bytes(named.read_bytes().replace(b'"updates":0', b'"updates":7'))
        assert read_mark(workspace.snapshot_file) is None
