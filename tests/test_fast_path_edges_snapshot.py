"""Audit of the incremental snapshot: a held file accepted on a later night (rows of
`records_set_aside` deleted, a submission updated in place), vacuumed tables, and quarantine
values, each compared with a fresh build."""

from __future__ import annotations

import duckdb

from pipelines import warehouse
from pipelines.snapshot import snapshot_warehouse
from pipelines.snapshot_incremental import read_mark

from test_snapshot_incremental import SECRET, night, school_file, updated_equals_fresh


def _live(workspace, *statements):
    con = warehouse.connect(workspace.warehouse_file)
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def test_held_then_accepted_then_vacuumed_equals_fresh(workspace, config, tmp_path):
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, 300))))
    night(workspace, config, ("k2022.csv", school_file(2022, range(1, 300))))
    snapshot_warehouse(workspace, fresh=True)
    # Night 2: a file held (its parts set aside, its status 'held'), a partner value quarantined.
    night(workspace, config, ("k2024.csv", school_file(2024, range(1, 200))), secret=SECRET)
    _live(workspace,
          "INSERT INTO riverbend.records_set_aside SELECT DISTINCT submission_id, period, "
          "'held', NULL, now() FROM riverbend.records WHERE submission_id = "
          "(SELECT max(submission_id) FROM submissions)",
          "UPDATE submissions SET status = 'held' WHERE submission_id = "
          "(SELECT max(submission_id) FROM submissions)")
    assert updated_equals_fresh(workspace, tmp_path)["updates"] == 1
    # Night 3: accepted (set-aside rows deleted, status back to loaded), tables checkpointed
    # after deletes (row ids may move), the quarantined value redacted in place, a new file.
    _live(workspace,
          "DELETE FROM riverbend.records_set_aside WHERE reason = 'held'",
          "UPDATE submissions SET status = 'loaded' WHERE status = 'held'",
          "UPDATE quarantine SET value = NULL",
          "DELETE FROM submissions WHERE submission_id = 1",
          "INSERT INTO submissions SELECT * REPLACE (999 AS submission_id) FROM submissions "
          "WHERE submission_id = 2",
          "CHECKPOINT")
    night(workspace, config, ("k2025.csv", school_file(2025, range(1, 100))))
    mark = updated_equals_fresh(workspace, tmp_path)
    assert mark["updates"] == 1
    assert SECRET.encode() not in (tmp_path / "updated.duckdb").read_bytes()
    assert SECRET.encode() not in workspace.snapshot_file.read_bytes()


def test_a_quarantine_value_never_reaches_an_updated_copy(workspace, config, tmp_path):
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, 300))), secret=SECRET)
    snapshot_warehouse(workspace, fresh=True)
    for year in (2024, 2025):  # appended, then appended again on the updated copy
        night(workspace, config, (f"k{year}.csv", school_file(year, range(1, 50))),
              secret=f"{SECRET} {year}")
        snapshot_warehouse(workspace)
        if year == 2024:  # (a small file may grow past MAX_GROWTH: then fresh)
            assert read_mark(workspace.snapshot_file)["updates"] == 1
        data = workspace.snapshot_file.read_bytes()
        assert SECRET.encode() not in data
    con = duckdb.connect(str(workspace.snapshot_file), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 3
    finally:
        con.close()
