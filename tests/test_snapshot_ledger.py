"""The row ledger stands in for hashing every old row of the big tables when the snapshot is
brought up to date (pipelines/snapshot_ledger.py), and only when the warehouse file is in the
state the pipeline sealed: any other writer, and the ways it could write (a value changed in
place, rows deleted and as many inserted, a vacuum, an older snapshot put back), ends with the
same snapshot as a fresh build. Each night is real staging and a real warehouse load."""

from __future__ import annotations

import itertools
import json
import re
import shutil

import duckdb
import pytest

from benchmarks.snapshot_ab import contents
from pipelines import ingest, snapshot_incremental, snapshot_ledger, warehouse
from pipelines.config import REPO_ROOT
from pipelines.intake import stage_file
from pipelines.snapshot import snapshot_warehouse
from pipelines.snapshot_incremental import read_mark

from conftest import drop

SALT = "ledger-test-salt"
_runs = itertools.count(1)


@pytest.fixture(autouse=True)
def no_forced_check(monkeypatch):
    """The ledger's own path (the suite otherwise checks it against a full hash every time)."""
    monkeypatch.delenv(snapshot_ledger.VERIFY_ENVIRONMENT, raising=False)


def school_file(period: int, people, ready: int = 1) -> str:
    return "person_id,period,kinder_ready\n" + "".join(f"{p},{period},{ready}\n" for p in people)


def night(workspace, config, period: int, people, ready: int = 1) -> None:
    """One run's warehouse step over one school file, closed as the nightly flow closes it."""
    name = f"k{period}-{next(_runs)}.csv"
    staged = [stage_file(drop(workspace, "riverbend_schools", name,
                              school_file(period, people, ready)),
                         config, "riverbend_schools", SALT, workspace.staging)]
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        ingest.settle_all(con, workspace, config, staged, [], f"run-{next(_runs)}")
    finally:
        warehouse.close(con)


def update_equals_fresh(workspace, tmp_path) -> dict:
    """Bring the snapshot up to date, compare with a fresh build of the same warehouse (left in
    place as the next night's start) and return the update's mark."""
    snapshot_warehouse(workspace)
    updated = tmp_path / "updated.duckdb"
    shutil.copy2(workspace.snapshot_file, updated)
    mark = read_mark(updated)
    snapshot_warehouse(workspace, fresh=True)
    assert contents(updated) == contents(workspace.snapshot_file)
    return mark


def sealed(workspace) -> bool:
    path = workspace.warehouse_file
    return snapshot_ledger.seal_applies(path, snapshot_ledger.file_state(path)) is not None


def two_nights(workspace, config) -> None:
    night(workspace, config, 2023, range(1, 400))
    snapshot_warehouse(workspace, fresh=True)  # hashes every row and seals the warehouse
    assert sealed(workspace)
    night(workspace, config, 2024, range(1, 300))


def test_the_ledger_stands_in_for_the_old_rows_and_the_update_equals_a_fresh_build(
        workspace, config, tmp_path):
    two_nights(workspace, config)
    assert sealed(workspace)  # the load's session began sealed and sealed what it left
    mark = update_equals_fresh(workspace, tmp_path)
    assert (mark["updates"], mark["ledger_nights"]) == (1, 1)
    # The ledger never reaches analysts.
    assert "main.row_ledger" not in contents(workspace.snapshot_file)

    # A resend of a period (rows superseded, not deleted) and a period added: still appends.
    night(workspace, config, 2024, range(1, 300), ready=0)
    night(workspace, config, 2025, range(5, 50))
    mark = update_equals_fresh(workspace, tmp_path)
    # Nights since every row was last hashed: the fresh build between took the ledger's too.
    assert mark["ledger_nights"] == 2


def test_both_paths_give_the_same_counts_and_hashes(workspace, config):
    """The fast path (ledger and new rows) against the full hash on the same warehouse."""
    two_nights(workspace, config)
    previous = read_mark(workspace.snapshot_file)["tables"]
    path = workspace.warehouse_file
    con = duckdb.connect()
    try:
        con.execute("ATTACH ? AS live (READ_ONLY)", [str(path)])
        ledger = snapshot_ledger.read(con, snapshot_ledger.seal_applies(
            path, snapshot_ledger.file_state(path)))
        fast = snapshot_incremental.table_states(con, previous, ledger)
        full = snapshot_incremental.table_states(con, previous)
        checked = snapshot_incremental.table_states(con, previous, ledger, verify=True)
    finally:
        con.close()
    by_ledger = {k for k, s in fast.items() if s.by_ledger}
    assert by_ledger == {json.dumps(["main", "quarantine"]),
                         json.dumps(["riverbend", "records"]),
                         json.dumps(["riverbend", "aggregate_counts"])}
    for key in full:
        assert (fast[key].rows, fast[key].digest, fast[key].prefix_rows,
                fast[key].prefix_digest) == (full[key].rows, full[key].digest,
                                             full[key].prefix_rows, full[key].prefix_digest)
        assert checked[key].digest == full[key].digest


def _outside(workspace, *statements) -> None:
    """Another program writing the warehouse: not this code's `connect`/`close`."""
    con = duckdb.connect(str(workspace.warehouse_file))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


FIRST_ROW = "(SELECT min(rowid) FROM riverbend.records)"


@pytest.mark.parametrize("statements", [
    # A value changed in place, the count unchanged.
    [f"UPDATE riverbend.records SET kinder_ready = 1 - kinder_ready WHERE rowid = {FIRST_ROW}"],
    # One old row deleted and a copy of a new row with a changed value inserted: same count.
    [f"DELETE FROM riverbend.records WHERE rowid = {FIRST_ROW}",
     "INSERT INTO riverbend.records SELECT * REPLACE (1 - kinder_ready AS kinder_ready) "
     "FROM riverbend.records WHERE rowid = (SELECT max(rowid) FROM riverbend.records)"],
    # Deleted, inserted, then vacuumed and checkpointed: row ids moved.
    [f"DELETE FROM riverbend.records WHERE rowid < {FIRST_ROW} + 50",
     "INSERT INTO riverbend.records SELECT * REPLACE (source_row + 1000 AS source_row) "
     "FROM riverbend.records USING SAMPLE 50 ROWS",
     "VACUUM riverbend.records", "CHECKPOINT"],
    # Only a checkpoint: nothing changed, and still not the sealed state.
    ["CHECKPOINT", "SELECT 1"],
], ids=["update-in-place", "delete-insert-same-count", "vacuum", "checkpoint"])
def test_a_write_by_another_program_breaks_the_seal(workspace, config, tmp_path, statements):
    two_nights(workspace, config)
    _outside(workspace, *statements)
    # DuckDB writes nothing for a checkpoint with nothing to write: the file is as sealed.
    changed = statements[0] != "CHECKPOINT"
    assert sealed(workspace) is not changed
    mark = update_equals_fresh(workspace, tmp_path)
    assert mark["ledger_nights"] == (0 if changed else 1)  # 0: every row hashed
    # The full hash sealed the warehouse again, with offsets for what the ledger missed.
    assert sealed(workspace)
    night(workspace, config, 2025, range(1, 30))
    mark = update_equals_fresh(workspace, tmp_path)
    assert mark["ledger_nights"] >= 1


def test_a_session_that_began_unsealed_or_left_a_log_seals_nothing(workspace, config):
    two_nights(workspace, config)
    _outside(workspace, "UPDATE riverbend.records SET kinder_ready = 0 WHERE rowid = 0")
    night(workspace, config, 2025, range(1, 30))
    assert not sealed(workspace)

    snapshot_warehouse(workspace, fresh=True)
    assert sealed(workspace)
    con = warehouse.connect(workspace.warehouse_file)
    con.execute("CREATE TABLE main.scratch AS SELECT 1 AS x")
    # A second connection of the process keeps the database open past `close`, which seals
    # the state it checkpointed; a write after that leaves a log, and the seal no longer applies.
    other = duckdb.connect(str(workspace.warehouse_file))
    try:
        warehouse.close(con)
        assert sealed(workspace)
        other.execute("INSERT INTO main.scratch VALUES (2)")
        assert not sealed(workspace)
    finally:
        other.close()
    assert not sealed(workspace)  # checkpointed at its close: another state


def test_an_older_snapshot_put_back_is_brought_up_to_date_from_its_own_mark(
        workspace, config, tmp_path):
    two_nights(workspace, config)
    older = tmp_path / "older.duckdb"
    shutil.copy2(workspace.snapshot_file, older)  # with its marks: the 2023 night's
    snapshot_warehouse(workspace)
    night(workspace, config, 2025, range(1, 60))
    workspace.snapshot_file.unlink()
    shutil.copy2(older, workspace.snapshot_file)
    mark = update_equals_fresh(workspace, tmp_path)
    assert mark["ledger_nights"] >= 1


def test_a_write_by_this_process_without_the_ledger_is_caught(workspace, config, tmp_path,
                                                               monkeypatch, caplog):
    """Inside a sealed session: rows added are caught by the count or the new rows' hash; a
    value changed in place only by the full check (every VERIFY_EVERY-th night, and the test
    suite's every night), which then builds afresh."""
    two_nights(workspace, config)
    snapshot_warehouse(workspace)
    con = warehouse.connect(workspace.warehouse_file)
    con.execute("INSERT INTO quarantine (submission_id, rule, message) VALUES (1, 'x', 'y')")
    warehouse.close(con)
    assert sealed(workspace)
    mark = update_equals_fresh(workspace, tmp_path)
    assert mark["updates"] == 0 and "row ledger" in caplog.text

    con = warehouse.connect(workspace.warehouse_file)
    con.execute("UPDATE riverbend.records SET kinder_ready = 1 - kinder_ready WHERE rowid = 3")
    warehouse.close(con)
    monkeypatch.setenv(snapshot_ledger.VERIFY_ENVIRONMENT, "1")
    with pytest.raises(snapshot_incremental.LedgerMismatch):
        snapshot_warehouse(workspace)
    monkeypatch.delenv(snapshot_ledger.VERIFY_ENVIRONMENT)
    # The periodic check: as if the ledger had stood in for the last VERIFY_EVERY - 1 nights.
    monkeypatch.setattr(snapshot_ledger, "VERIFY_EVERY", 1)
    mark = update_equals_fresh(workspace, tmp_path)
    assert mark["updates"] == 0 and mark["ledger_nights"] == 0


# Where the pipeline's SQL may write a table the ledger tracks: the load (which keeps the
# ledger), a rebuild (a new file, never sealed) and migrations (which void the session's seal).
WRITERS = {"warehouse.py", "rebuild.py", "intake.py", "folded_rules.py", "validate.py",
           "standardize.py", "submission_status.py"}


def test_no_other_module_writes_a_tracked_table():
    """intake, folded_rules, validate and standardize write the staging database's quarantine;
    submission_status an in-memory one: only listed modules may name one after a write."""
    write = re.compile(r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM|ALTER\s+TABLE|TRUNCATE|"
                       r"CREATE\s+OR\s+REPLACE\s+TABLE|DROP\s+TABLE)\s+[^\s(]*"
                       r"(records|aggregate_counts|quarantine)\b(?!_)", re.IGNORECASE)
    found = {path.name for path in (REPO_ROOT / "pipelines").glob("*.py")
             if write.search(path.read_text(encoding="utf-8"))}
    assert found <= WRITERS, found - WRITERS


def test_a_sealed_session_and_the_snapshot_keep_duckdbs_lock(workspace, config):
    """Checking the file's state never opens it: closing a descriptor would drop the process's
    POSIX locks, DuckDB's too, and let another process write during the session."""
    import subprocess
    import sys

    two_nights(workspace, config)
    con = warehouse.connect(workspace.warehouse_file)
    try:
        assert warehouse._sealed_session(con)
        other = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])",
             str(workspace.warehouse_file)], capture_output=True, text=True)
        assert other.returncode != 0 and "lock" in other.stderr.lower(), other.stderr
    finally:
        warehouse.close(con)
