"""The snapshot a night replaced (the spare) is brought up to date in place the night after, two
nights behind, and equals both the copy path and a fresh build of the same warehouse; it is never
written while anyone (another process through the DuckDB CLI, or this one) has it open.

Test warehouses are small: a night grows their snapshot by far more than MAX_CATCH_UP (DuckDB
writes whole blocks), so most tests here lift that limit (`any_catch_up`), as a large snapshot
and a small night would."""

from __future__ import annotations

import os
import shutil
import subprocess

import duckdb
import pytest

from benchmarks.snapshot_ab import contents
from pipelines.snapshot import snapshot_warehouse
from pipelines.snapshot_incremental import TABLES_ATTRIBUTE, read_mark
from pipelines import snapshot_spare
from pipelines.snapshot_spare import candidate, spare_of

from test_snapshot import duckdb_cli
from test_snapshot_incremental import SECRET, night, school_file

FIRST = 300


@pytest.fixture
def any_catch_up(monkeypatch):
    monkeypatch.setattr(snapshot_spare, "MAX_CATCH_UP", float("inf"))


RECORDS = "SELECT count(*), sum(hash(r)::HUGEINT) FROM riverbend.records AS r"


def two_nights(workspace, config) -> None:
    """A fresh snapshot, a night brought up to date (by a copy: no spare yet), a third night's
    data loaded: the spare is then the first night's file, two nights behind the warehouse."""
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, FIRST))))
    snapshot_warehouse(workspace, fresh=True)
    night(workspace, config, ("k2024.csv", school_file(2024, range(1, 250))), secret=SECRET)
    snapshot_warehouse(workspace)
    assert read_mark(workspace.snapshot_file)["updates"] == 1
    night(workspace, config, ("k2025.csv", school_file(2025, range(1, 200))),
          ("k2024 fixes.csv", school_file(2024, range(1, 41), ready=0)))


def made(workspace, tmp_path, name: str) -> tuple:
    """Copy the snapshot in place aside; its contents and mark."""
    kept = tmp_path / f"{name}.duckdb"
    shutil.copy2(workspace.snapshot_file, kept)
    return contents(kept), read_mark(kept)


def test_the_spare_is_updated_in_place_and_equals_the_copy_path_and_a_fresh_build(
        workspace, config, tmp_path, any_catch_up):
    two_nights(workspace, config)
    target, spare = workspace.snapshot_file, spare_of(workspace.snapshot_file)
    assert candidate(target) == spare and read_mark(spare)["updates"] == 0
    # The same starting point for the copy path: the spare's bytes and marks, at the snapshot's
    # name, and no spare.
    start = tmp_path / "start.duckdb"
    shutil.copy2(spare, start)
    spare_inode, replaced_inode = spare.stat().st_ino, target.stat().st_ino

    snapshot_warehouse(workspace)
    assert target.stat().st_ino == spare_inode  # the spare itself, brought up to date
    assert spare.stat().st_ino == replaced_inode  # and yesterday's file is the next spare
    in_place, mark = made(workspace, tmp_path, "in-place")
    assert mark["updates"] == 1  # the spare's own mark (a fresh build), plus one
    assert SECRET.encode() not in target.read_bytes()

    target.unlink()
    shutil.copy2(start, target)
    spare.unlink()  # no spare: the copy path
    snapshot_warehouse(workspace)
    copied, mark = made(workspace, tmp_path, "copied")
    assert mark["updates"] == 1

    snapshot_warehouse(workspace, fresh=True)
    fresh, mark = made(workspace, tmp_path, "fresh")
    assert mark["updates"] == 0
    assert in_place == copied == fresh


def test_a_reader_in_another_process_keeps_the_spare_as_it_was(workspace, config, tmp_path,
                                                              any_catch_up):
    """An analyst's DuckDB CLI opened the first night's snapshot and still reads it two nights
    later, when it is the spare: its fcntl lock makes the night copy instead."""
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, FIRST))))
    snapshot_warehouse(workspace, fresh=True)
    analyst = subprocess.Popen([duckdb_cli(), "-readonly", "-csv", "-noheader",
                                str(workspace.snapshot_file)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ask() -> str:
        analyst.stdin.write(RECORDS + ";\n")
        analyst.stdin.flush()
        return analyst.stdout.readline().strip()

    try:
        seen = ask()
        assert seen.startswith(f"{FIRST - 1},")
        night(workspace, config, ("k2024.csv", school_file(2024, range(1, 250))))
        snapshot_warehouse(workspace)
        held = spare_of(workspace.snapshot_file).stat().st_ino  # the analyst's file
        night(workspace, config, ("k2025.csv", school_file(2025, range(1, 200))))
        snapshot_warehouse(workspace)
        # Not the spare (whose update would count 1): copied, or built fresh when a small
        # file has grown past MAX_GROWTH.
        assert read_mark(workspace.snapshot_file)["updates"] in (0, 2)
        assert workspace.snapshot_file.stat().st_ino != held
        assert ask() == seen  # the analyst's file was not written
    finally:
        analyst.stdin.close()
        analyst.wait(timeout=30)
    assert analyst.returncode == 0, analyst.stderr.read()
    updated = tmp_path / "updated.duckdb"
    shutil.copy2(workspace.snapshot_file, updated)
    snapshot_warehouse(workspace, fresh=True)
    assert contents(updated) == contents(workspace.snapshot_file)


def test_a_reader_in_this_process_keeps_the_spare_as_it_was(workspace, config, any_catch_up):
    """Classic fcntl locks do not conflict within a process; the probe's lock does."""
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, FIRST))))
    reader = duckdb.connect(str(snapshot_warehouse(workspace, fresh=True)), read_only=True)
    try:
        seen = reader.execute(RECORDS).fetchall()
        night(workspace, config, ("k2024.csv", school_file(2024, range(1, 250))))
        snapshot_warehouse(workspace)
        night(workspace, config, ("k2025.csv", school_file(2025, range(1, 200))))
        snapshot_warehouse(workspace)
        assert read_mark(workspace.snapshot_file)["updates"] in (0, 2)  # not the spare
        assert reader.execute(RECORDS).fetchall() == seen
    finally:
        reader.close()


def test_a_spare_with_another_name_damaged_or_unmarked_is_not_used(workspace, config, tmp_path,
                                                                  any_catch_up):
    two_nights(workspace, config)
    target, spare = workspace.snapshot_file, spare_of(workspace.snapshot_file)
    yesterday = tmp_path / "yesterday.duckdb"
    shutil.copy2(target, yesterday)
    spare_copy = tmp_path / "spare.duckdb"
    shutil.copy2(spare, spare_copy)
    fresh = None

    def night_from(prepare) -> dict:
        """The night from yesterday's snapshot and a spare altered by `prepare`: the mark
        says which path ran (the spare's counts 1 update, not the copy's 2 or a fresh 0)."""
        nonlocal fresh
        for path, source in ((target, yesterday), (spare, spare_copy)):
            path.unlink(missing_ok=True)
            shutil.copy2(source, path)
        spare.chmod(0o644)
        prepare()
        snapshot_warehouse(workspace)
        found, mark = made(workspace, tmp_path, "updated")
        if fresh is None:
            snapshot_warehouse(workspace, fresh=True)
            fresh = made(workspace, tmp_path, "fresh")[0]
        assert found == fresh
        return mark

    def damage():  # the headers: the marks stay, DuckDB cannot open it
        with open(spare, "r+b") as file:
            file.write(b"\0" * 3 * 4096)

    def crash_between_link_and_rename():  # the spare is the snapshot in place
        spare.unlink()
        spare.hardlink_to(target)

    assert night_from(lambda: None)["updates"] == 1  # as it is: used
    for prepare in (lambda: (tmp_path / "linked.duckdb").hardlink_to(spare),  # someone's link
                    damage,
                    lambda: spare.with_name(spare.name + ".wal").write_bytes(b""),
                    lambda: os.removexattr(spare, TABLES_ATTRIBUTE),
                    crash_between_link_and_rename):
        assert night_from(prepare)["updates"] in (0, 2)
        assert not spare.with_name(spare.name + ".wal").exists()


def test_a_night_that_grew_the_snapshot_much_keeps_no_spare(workspace, config, tmp_path):
    """Bringing the spare up to date would cost more than the copy it saves: no spare is kept
    (no second file on disk), and the night after copies, as before."""
    two_nights(workspace, config)  # each night grows a test snapshot by a third or more
    target = workspace.snapshot_file
    assert not spare_of(target).exists()
    assert candidate(target) is None
    snapshot_warehouse(workspace)
    updated, mark = made(workspace, tmp_path, "updated")
    assert mark["updates"] in (0, 2)  # copied, or fresh past MAX_GROWTH
    snapshot_warehouse(workspace, fresh=True)
    assert made(workspace, tmp_path, "fresh")[0] == updated
