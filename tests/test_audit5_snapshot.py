"""Audit (session 5) of the snapshot brought up to date from a copy made while the warehouse is
scanned: crashes, quiet nights, a moved workspace, nights that delete rows.

Each test compares the snapshot a night leaves with a fresh build of the same warehouse
(`benchmarks.snapshot_ab.contents`)."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from benchmarks.snapshot_ab import contents
from pipelines import snapshot_analyst
from pipelines.snapshot import snapshot_warehouse
from pipelines.snapshot_incremental import read_mark

from test_snapshot_incremental import night, school_file


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def made(workspace, tmp_path, name: str) -> tuple:
    """Copy the snapshot in place aside; its contents and mark."""
    kept = tmp_path / f"{name}.duckdb"
    shutil.copy2(workspace.snapshot_file, kept)
    return contents(kept), read_mark(kept)


def fresh_contents(workspace, tmp_path):
    snapshot_warehouse(workspace, fresh=True)
    return made(workspace, tmp_path, "fresh")[0]


def two_nights(workspace, config) -> None:
    """A fresh snapshot, then a second night's data loaded (not yet in the snapshot)."""
    night(workspace, config, ("k2023.csv", school_file(2023, range(1, 300))))
    snapshot_warehouse(workspace, fresh=True)
    night(workspace, config, ("k2024.csv", school_file(2024, range(1, 250))))


def test_an_exception_while_the_copy_is_updated_leaves_the_snapshot_and_a_later_night_right(
        workspace, config, tmp_path, monkeypatch):
    two_nights(workspace, config)
    target = workspace.snapshot_file
    before, inode = digest(target), target.stat().st_ino

    def boom(con, workspace):
        raise RuntimeError("injected while the copy was brought up to date")

    monkeypatch.setattr(snapshot_analyst, "refresh", boom)
    with pytest.raises(RuntimeError):
        snapshot_warehouse(workspace)
    monkeypatch.undo()
    assert digest(target) == before and target.stat().st_ino == inode
    assert not target.with_name(f".{target.name}.tmp").exists()
    snapshot_warehouse(workspace)
    assert read_mark(target)["updates"] == 1
    assert made(workspace, tmp_path, "updated")[0] == fresh_contents(workspace, tmp_path)


def test_quiet_nights_then_one_with_data(workspace, config, tmp_path):
    two_nights(workspace, config)
    snapshot_warehouse(workspace)
    inode = workspace.snapshot_file.stat().st_ino
    for _ in range(2):  # nothing new: skipped, the file stays
        snapshot_warehouse(workspace)
    assert workspace.snapshot_file.stat().st_ino == inode
    night(workspace, config, ("k2025.csv", school_file(2025, range(1, 200))))
    snapshot_warehouse(workspace)  # brought up to date, or rebuilt past 1.5x growth: the same
    assert made(workspace, tmp_path, "updated")[0] == fresh_contents(workspace, tmp_path)


def test_a_moved_workspace_gives_the_fresh_contents(workspace, config, tmp_path):
    from pipelines.config import Workspace

    two_nights(workspace, config)
    moved_root = tmp_path.parent / (tmp_path.name + "-moved")
    os.rename(workspace.root, moved_root)
    try:
        moved = Workspace(moved_root)
        snapshot_warehouse(moved)  # built afresh: the definitions' paths are part of the base
        updated = made(moved, moved_root, "updated")[0]
        assert updated == fresh_contents(moved, moved_root)
    finally:
        os.rename(moved_root, workspace.root)


def test_nights_that_delete_rows_then_append_keep_the_snapshot_equal_to_fresh(
        workspace, tmp_path):
    """A held file accepted (DELETE of its set-asides, with the warehouse's checkpoints no longer
    merging row groups) between nights: every update equals a fresh build."""
    from pathlib import Path

    from pipelines.accept import accept_file
    from test_resubmission import SCHOOLS, night as load, people, query, school_file as file

    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    config = workspace.load("riverbend")
    load(workspace, config, (SCHOOLS, "full.csv", file(2023, people("S", 300))))
    snapshot_warehouse(workspace, fresh=True)
    load(workspace, config, (SCHOOLS, "cut.csv", file(2023, people("S", 100), ready=0)),
         (SCHOOLS, "RUSD_2024.csv", file(2024, people("N", 80))))
    snapshot_warehouse(workspace)
    stored = query(workspace, "SELECT stored_path FROM submissions WHERE status = 'held'")
    accept_file(workspace, Path(stored[0][0]))
    snapshot_warehouse(workspace)
    assert made(workspace, tmp_path, "updated")[0] == fresh_contents(workspace, tmp_path)
    load(workspace, config, (SCHOOLS, "RUSD_2025.csv", file(2025, people("Y", 60))))
    snapshot_warehouse(workspace)
    assert made(workspace, tmp_path, "updated")[0] == fresh_contents(workspace, tmp_path)
