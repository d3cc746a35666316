"""Staging reads exactly the bytes that are then archived, and leaves no raw ids behind."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bad_corpus import SCHOOLS, schools
from pipelines import ingest, intake, read, warehouse
from pipelines.intake import stage_file

from conftest import drop

SALT = "test-salt"


def _leftovers(workspace) -> list[Path]:
    return [p for p in workspace.staging.rglob("*") if p.is_file()] \
        if workspace.staging.exists() else []


def _settle(workspace, config, staged):
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        [settled] = ingest.settle_all(con, workspace, config, [staged], [], "test")
        submissions = con.execute("SELECT sha256, stored_path FROM submissions").fetchall()
    finally:
        con.close()
    return settled, submissions


def test_a_file_written_to_after_it_was_read_waits_for_the_next_run(workspace, config):
    path = drop(workspace, SCHOOLS, "RUSD 2023.csv", schools(tag="A", good=4))
    staged = stage_file(path, config, SCHOOLS, SALT, workspace.staging)
    assert staged.status == "staged"
    with path.open("ab") as handle:  # the upload goes on after the run read the file
        handle.write(b"A900,2023,700,F,Y\n")

    settled, submissions = _settle(workspace, config, staged)
    assert settled.status == "unsettled" and submissions == []
    assert path.exists() and _leftovers(workspace) == []

    # The next run takes the whole file: the bytes hashed are the bytes archived.
    staged = stage_file(path, config, SCHOOLS, SALT, workspace.staging)
    settled, [(sha256, stored)] = _settle(workspace, config, staged)
    assert settled.status == "loaded" and settled.rows_loaded == 5
    assert hashlib.sha256(Path(stored).read_bytes()).hexdigest() == sha256
    assert not path.exists()


def test_a_file_that_changes_while_it_is_read_is_not_staged(workspace, config, monkeypatch):
    path = drop(workspace, SCHOOLS, "RUSD 2023.csv", schools(tag="B"))

    def sniff_while_written(source, staging_dir, *schema_and_crosswalk):
        sniffed = read.sniff(source, staging_dir, *schema_and_crosswalk)
        with source.open("ab") as handle:  # a writer still appending as the file is read
            handle.write(b"B900,2023,700,F,Y\n")
        return sniffed

    monkeypatch.setattr(intake, "sniff", sniff_while_written)
    staged = stage_file(path, config, SCHOOLS, SALT, workspace.staging)
    assert (staged.status, staged.staged_db, staged.sha256) == ("unsettled", None, "")
    assert _leftovers(workspace) == []
    settled, submissions = _settle(workspace, config, staged)
    assert settled.status == "unsettled" and submissions == [] and path.exists()


def test_a_crash_while_staging_leaves_no_staging_database(workspace, config, monkeypatch):
    """The file stays in intake for a rerun; the half-made staging database (its quarantine
    holds raw ids) does not stay anywhere."""
    path = drop(workspace, SCHOOLS, "RUSD 2023.csv", schools("x!,2023,700,F,Y", tag="C"))

    def crash(*args, **kwargs):
        raise RuntimeError("a bug in standardize")

    monkeypatch.setattr(intake, "standardize", crash)
    with pytest.raises(RuntimeError, match="a bug"):
        stage_file(path, config, SCHOOLS, SALT, workspace.staging)
    assert _leftovers(workspace) == [] and path.exists()


def test_a_year_past_integer_range_is_a_quarantined_cell(workspace, config):
    """It used to pass the typed view and crash standardize's INTEGER cast, every night."""
    path = drop(workspace, SCHOOLS, "RUSD 2023.csv",
                schools("Y1,99999999999,700,F,Y", "Y2,-99999999999,700,F,Y", tag="Y"))
    staged = stage_file(path, config, SCHOOLS, SALT, workspace.staging)
    assert staged.status == "staged" and staged.rows_loaded == 8, staged.problems
    import duckdb

    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        bad = con.execute("SELECT _row, column_name, rule FROM quarantine ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert bad == [(2, "period", "bad_period"), (3, "period", "bad_period")]
    assert os.path.exists(path)


def test_a_file_of_many_refused_rows_and_one_huge_row_gets_every_row_answered(workspace,
                                                                               config):
    """100k rows the parser refuses (quarantined in SQL, in bounded pieces) and one row of
    40 MB (over the parser's buffer: it used to vanish and shift every later row's number)."""
    short = 100_000
    path = drop(workspace, SCHOOLS, "RUSD 2023.csv", b"")
    with path.open("wb") as handle:
        handle.write(schools(tag="G", good=150_000))
        handle.write(b"".join(b"R%d,2023\n" % i for i in range(short)))
        handle.write(b"H1,2023,700,F," + b"Y" * 40_000_000 + b"\n")
        handle.write(b"Z1,2023,700,F,Y\n")
    staged = stage_file(path, config, SCHOOLS, SALT, workspace.staging)
    assert staged.status == "staged", staged.problems
    assert (staged.rows_read, staged.rows_quarantined) == (150_000 + short + 2, short + 1)
    import duckdb

    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        bad = con.execute("SELECT count(*), min(_row), max(_row), count(DISTINCT rule) "
                          "FROM quarantine").fetchall()[0]
        huge = con.execute("SELECT message FROM quarantine WHERE _row = $row",
                           {"row": 150_000 + short + 2}).fetchall()
        last = con.execute("SELECT max(source_row) FROM records").fetchall()[0][0]
    finally:
        con.close()
    assert bad == (short + 1, 150_002, 150_000 + short + 2, 1)
    assert "longer than 1 MB" in huge[0][0]
    assert last == 150_000 + short + 3  # Z1: numbered as the spreadsheet shows it
    assert staged.rows_loaded == 150_001
