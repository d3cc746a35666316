"""Audit 12 (helper C): operational accidents in a night lose nothing, count nothing twice."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pipelines import warehouse

from test_resubmission import SCHOOLS, current, night, people, query, school_file

LOAD_NIGHT = warehouse.load_night


def _during_the_load(monkeypatch, action):
    """Run `action` right after the partner's load committed, before its file moves."""
    def load_night(*args, **kwargs):
        result = LOAD_NIGHT(*args, **kwargs)
        action()
        return result

    monkeypatch.setattr(warehouse, "load_night", load_night)


def test_a_file_deleted_or_replaced_by_its_partner_during_the_load_is_archived_as_loaded(
        workspace, config, monkeypatch):
    folder = workspace.intake / "riverbend" / SCHOOLS
    first = school_file(2023, people("S", 20))
    # The partner takes the file back while the night loads it: the night still answers it
    # and archives the bytes it loaded (a rebuild reads them back).
    _during_the_load(monkeypatch, lambda: (folder / "2023.csv").unlink())
    settled = night(workspace, config, (SCHOOLS, "2023.csv", first))["2023.csv"]
    assert settled.status == "loaded" and Path(settled.report).is_file()
    stored = Path(query(workspace, "SELECT stored_path FROM submissions")[0][0])
    assert stored.read_text() == first

    # A corrected upload renamed over the name while the night loads the earlier one (what
    # rsync and SFTP clients do): the earlier bytes are archived, the correction stays in
    # intake for the next night, never archived unread under the earlier file's submission.
    second, corrected = school_file(2024, people("T", 20)), school_file(2024, people("T", 25))

    def replace():
        (folder / ".2024.csv.tmp").write_text(corrected)
        os.replace(folder / ".2024.csv.tmp", folder / "2024.csv")

    _during_the_load(monkeypatch, replace)
    assert night(workspace, config, (SCHOOLS, "2024.csv", second))["2024.csv"].status == "loaded"
    stored, sha = query(workspace, "SELECT stored_path, sha256 FROM submissions "
                                   "WHERE submission_id = 2")[0]
    assert Path(stored).read_text() == second
    assert hashlib.sha256(Path(stored).read_bytes()).hexdigest() == sha
    assert (folder / "2024.csv").read_text() == corrected
    monkeypatch.setattr(warehouse, "load_night", LOAD_NIGHT)
    assert night(workspace, config, (SCHOOLS, "2024.csv", corrected))["2024.csv"].status \
        == "loaded"
    assert current(workspace) == {2023: 20, 2024: 25}


def test_a_clock_set_back_does_not_make_an_older_file_the_latest(workspace):
    import datetime as dt

    from test_status import QUARTERLY, Books

    books = Books(workspace, QUARTERLY)
    try:
        # The server's clock ran a week ahead when the held file came, and was set right before
        # the clean replacement: the replacement is still the latest file of the quarter.
        held = books.file("northside_clinic", "q1.csv", "held", "2024-06-10")
        books.records(held, dt.date(2024, 1, 1), dt.date(2024, 3, 31), well_child_visit=1)
        clean = books.file("northside_clinic", "q1 fixed.csv", "loaded", "2024-06-05")
        books.records(clean, dt.date(2024, 1, 1), dt.date(2024, 3, 31), well_child_visit=1)
        row = books.status(dt.date(2024, 6, 20))[0]
        assert (row["state"], row["latest_file"], str(row["latest_received_at"])[:10]) == \
            ("late", "q1 fixed.csv", "2024-06-05")
    finally:
        books.con.close()


def test_a_night_whose_publish_or_snapshot_fails_still_lists_its_files_and_publishes_next(
        workspace, prefect_harness, monkeypatch):
    """Operational accidents in one night: a partner folder that cannot be listed, the
    published folder not writable, the disk full for the snapshot. The night answers what it
    can, names each accident, and the next night finishes the job."""
    import pathlib
    import shutil

    import pytest

    from pipelines import publish, snapshot
    from pipelines.flows import nightly
    from pipelines.run_summary import NightNeedsAttention

    from conftest import SAMPLES, drop

    drop(workspace, SCHOOLS, "2023.csv", school_file(2023, people("S", 20)))
    housing = workspace.intake / "riverbend" / "riverbend_housing"
    housing.mkdir()
    shutil.copy2(SAMPLES / "riverbend_housing" / "rha_stability_2023.csv", housing)
    iterdir = pathlib.Path.iterdir

    def unreadable(self):  # as chmod 000 would (the tests run as root, which chmod cannot stop)
        if self == housing:
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "data/published")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "iterdir", unreadable)
    monkeypatch.setattr(publish, "start_version", read_only)
    monkeypatch.setattr(snapshot, "_build", disk_full)
    with pytest.raises(NightNeedsAttention) as failed:
        nightly(home=str(workspace.root), initiative="riverbend")
    # The file was loaded and answered: the night says so, not "not loaded", and the snapshot's
    # failure is named after everything else was reported.
    summary = failed.value.summaries[0]
    assert [(f["file_name"], f["status"]) for f in summary["files"]] == [("2023.csv", "loaded")]
    assert summary["error_kind"] == "not published"
    assert "analysts' snapshot was not refreshed" in str(failed.value)
    assert [(f["partner_id"], f["file_name"]) for f in summary["failed"]] == \
        [("riverbend_housing", "riverbend_housing/")]
    monkeypatch.undo()
    # And a version half-written by an earlier run killed mid-publish: it goes with the next.
    from pipelines.versions import PARTNERSHIP, versions_dir

    torn = versions_dir(workspace, "riverbend", PARTNERSHIP) / ".20261201T020000-abc123.partial"
    torn.mkdir(parents=True)
    (torn / "indicator_results.parquet").write_bytes(b"PAR1")
    after = nightly(home=str(workspace.root), initiative="riverbend")[0]
    assert not torn.exists()
    assert [(f["file_name"], f["status"]) for f in after["files"]] == \
        [("rha_stability_2023.csv", "loaded")]
    assert (workspace.published("riverbend") / "partnership" / "manifest.json").is_file()
    assert workspace.snapshot_file.is_file()


def test_a_crash_while_copying_to_an_archive_on_another_disk_is_finished_by_the_rerun(
        workspace, config, monkeypatch):
    import shutil

    import pytest

    class Killed(BaseException):
        pass

    def torn(source, target, *args, **kwargs):  # SIGKILL half-way through the copy
        Path(target).write_bytes(Path(source).read_bytes()[:10])
        raise Killed()

    content = school_file(2023, people("S", 20))
    monkeypatch.setattr(warehouse, "_same_device", lambda *args: False)  # intake mounted apart
    monkeypatch.setattr(shutil, "copy2", torn)
    with pytest.raises(Killed):
        night(workspace, config, (SCHOOLS, "2023.csv", content))
    monkeypatch.undo()
    monkeypatch.setattr(warehouse, "_same_device", lambda *args: False)
    assert night(workspace, config, (SCHOOLS, "2023.csv", content))["2023.csv"].status \
        == "recovered"
    stored = Path(query(workspace, "SELECT stored_path FROM submissions")[0][0])
    assert stored.read_text() == content
    assert current(workspace) == {2023: 20}


def test_a_night_waits_for_a_status_reading_the_warehouse_instead_of_failing(workspace):
    import subprocess
    import sys
    import time

    import pytest

    warehouse.connect(workspace.warehouse_file).close()
    # `backbone status` holds the live warehouse read-only for a moment as the night starts.
    reader = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], "
         "read_only=True); print('ready', flush=True); time.sleep(2); c.close()",
         str(workspace.warehouse_file)], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "ready"
        with pytest.raises(warehouse.WarehouseBusy):
            warehouse.connect(workspace.warehouse_file)  # an analyst's tool: told at once
        started = time.monotonic()
        warehouse.close(warehouse.connect(workspace.warehouse_file,
                                          wait_seconds=warehouse.night_wait_seconds()))
        assert time.monotonic() - started < 20
    finally:
        reader.kill()
        reader.wait()
