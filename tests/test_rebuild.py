"""`backbone rebuild`: a new warehouse from data/archive/ that publishes what the live one did.

The live warehouse here has every kind of history: the sample, a complete resend, a held file
that stays held, a held file a data lead accepted, a rejected file, a duplicate, and another
initiative's submission in between. Real staging, real DuckDB files, the real CLI.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines import warehouse
from pipelines.accept import accept_file
from pipelines.cli import app
from pipelines.config import Workspace
from pipelines.lock import WorkspaceLocked, workspace_lock
from pipelines.rebuild import RebuildError, publish_now, rebuild

import warehouse_versions as versions
from warehouse_versions import assert_same_rows

SCHOOLS = "riverbend_schools"


def school_rows(name: str, keep: float) -> tuple[str, bytes]:
    lines = (versions.SAMPLES / SCHOOLS / name).read_text(encoding="utf-8-sig").splitlines()
    return lines[0], ("\n".join(lines[: 1 + int((len(lines) - 1) * keep)]) + "\n").encode()


def files_under(folder: Path) -> dict[str, tuple[str, float]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                         p.stat().st_mtime)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def table(path: Path, sql: str) -> list:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def history(workspace):
    """A live warehouse with every kind of history, published."""
    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", f"{SCHOOLS}.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    versions.night(workspace, versions.sample_files())
    header, _ = school_rows("RUSD_outcomes_2022.csv", 0)
    second = versions.night(workspace, [
        versions.complete_resend(),
        (SCHOOLS, "late_2022.csv", f"{header}\nRB999999,2022,300,F,Y,,Hillcrest\n".encode()),
        ("bright_start", "broken.csv", b"nothing,like,the,template\n1,2,3,4\n"),
        (SCHOOLS, "RUSD_outcomes_2022.csv",
         (versions.SAMPLES / SCHOOLS / "RUSD_outcomes_2022.csv").read_bytes())])
    assert {k: v.status for k, v in second.items()} == {
        "RUSD_outcomes_2024_corrected.csv": "loaded", "late_2022.csv": "held",
        "broken.csv": "rejected", "RUSD_outcomes_2022.csv": "duplicate"}
    con = duckdb.connect(str(workspace.warehouse_file))
    con.execute("INSERT INTO submissions (initiative_id, partner_id, file_name, status, "
                "received_at) VALUES ('other', 'p', 'o.csv', 'loaded', now())")
    con.execute("CREATE SCHEMA other; CREATE TABLE other.records AS SELECT * FROM "
                "riverbend.records WHERE source_row < 4; CREATE VIEW other.records_current AS "
                "SELECT * FROM other.records")
    con.close()
    _, cut = school_rows("RUSD_outcomes_2023.csv", 0.3)
    third = versions.night(workspace, [(SCHOOLS, "cut_2023.csv", cut)])
    assert third["cut_2023.csv"].status == "held"
    stored = table(workspace.warehouse_file, "SELECT stored_path FROM submissions WHERE "
                                             "file_name = 'cut_2023.csv'")[0][0]
    accept_file(workspace, Path(stored))
    con = warehouse.connect(workspace.warehouse_file)
    try:
        publish_now(con, workspace, workspace.load("riverbend"), "live")
    finally:
        con.close()
    return workspace


def kept(path: Path) -> dict[str, list]:
    """What must come back the same from a rebuild (times of re-loading left out)."""
    return {
        "submissions": table(path, "SELECT * FROM submissions ORDER BY submission_id"),
        "quarantine": table(path, "SELECT * FROM quarantine ORDER BY ALL"),
        "records": table(path, "SELECT * EXCLUDE (loaded_at) FROM riverbend.records ORDER BY ALL"),
        "current": table(path, "SELECT * EXCLUDE (loaded_at) FROM riverbend.records_current "
                               "ORDER BY ALL"),
        "aggregates": table(path, "SELECT * EXCLUDE (loaded_at) FROM "
                                  "riverbend.aggregate_counts_current ORDER BY ALL"),
        "set_aside": table(path, "SELECT * EXCLUDE (decided_at) FROM "
                                 "riverbend.records_set_aside ORDER BY ALL"),
        "other": table(path, "SELECT * FROM other.records_current ORDER BY ALL"),
    }


def test_a_rebuild_from_the_archive_publishes_what_the_live_warehouse_did(history):
    workspace = history
    live = workspace.warehouse_file
    published = workspace.published("riverbend") / "partnership"
    before = {name: pq.read_table(published / name) for name in
              ("indicator_results.parquet", "disparities.parquet")}
    manifest_before = (published / "manifest.json").read_text()
    old_bytes = live.read_bytes()
    expected = kept(live)
    archive = files_under(workspace.path("data", "archive"))
    reports = files_under(workspace.path("data", "reports"))
    rejected = files_under(workspace.path("data", "rejected"))

    result = CliRunner().invoke(app, ["rebuild", "--home", str(workspace.root)])
    assert result.exit_code == 0, result.output
    assert "file(s) loaded again" in result.output

    for name, table_before in before.items():
        assert_same_rows(pq.read_table(published / name), table_before)
    assert '"data_version"' in manifest_before
    old_manifest, new_manifest = json.loads(manifest_before), json.loads(
        (published / "manifest.json").read_text())
    assert new_manifest["data_version"] == old_manifest["data_version"]
    assert new_manifest["source_files"] == old_manifest["source_files"]
    assert kept(live) == expected
    statuses = dict(table(live, "SELECT file_name, status FROM submissions"))
    assert statuses["late_2022.csv"] == "held" and statuses["cut_2023.csv"] == "loaded"
    # Nothing a partner sent moved or changed, no report was written or rewritten.
    assert files_under(workspace.path("data", "archive")) == archive
    assert files_under(workspace.path("data", "reports")) == reports
    assert files_under(workspace.path("data", "rejected")) == rejected
    assert not any(workspace.intake.rglob("*.csv"))
    [backup] = live.parent.glob("backbone.duckdb.*.before-rebuild.bak")
    assert backup.read_bytes() == old_bytes
    assert not list(live.parent.glob("*.rebuilding*"))
    assert not list(workspace.staging.glob(".rebuild-*"))
    # The next file gets the next id, after every original one.
    last = table(live, "SELECT max(submission_id) FROM submissions")[0][0]
    versions.night(workspace, [(SCHOOLS, "next.csv", school_rows("RUSD_outcomes_2025.csv", 1)[1]
                                .replace(b"RB0", b"RBX"))])
    assert table(live, "SELECT submission_id FROM submissions WHERE file_name = 'next.csv'") == \
        [(last + 1,)]


def test_a_rebuild_that_cannot_stage_an_archived_file_leaves_the_live_warehouse_alone(workspace):
    versions.night(workspace, [versions.sample_files()[0]])
    live = workspace.warehouse_file
    old_bytes = live.read_bytes()
    [stored] = table(live, "SELECT stored_path FROM submissions")[0]
    Path(stored).write_bytes(b"not,the,template\n")
    with pytest.raises(RebuildError, match=r"no longer stages.*live warehouse is unchanged"):
        rebuild(workspace, "riverbend")
    assert live.read_bytes() == old_bytes
    assert not list(live.parent.glob("*.bak")) and not list(live.parent.glob("*.rebuilding*"))


def test_a_rebuild_waits_for_no_one_while_a_run_holds_the_workspace(workspace):
    versions.night(workspace, [versions.sample_files()[0]])
    with workspace_lock(workspace, purpose="run"):
        with pytest.raises(WorkspaceLocked):
            rebuild(workspace)
        result = CliRunner().invoke(app, ["rebuild", "--home", str(workspace.root)])
    assert result.exit_code == 3


def test_a_workspace_moved_elsewhere_rebuilds_from_its_own_archive(workspace, tmp_path):
    """Submissions record absolute archive paths; a restored or moved workspace still has each
    file under its own data/archive/."""
    versions.night(workspace, [versions.sample_files()[0]])
    moved = tmp_path / "moved"
    shutil.copytree(workspace.root, moved)
    shutil.rmtree(workspace.path("data", "archive"))
    outcome = rebuild(Workspace(moved))
    assert outcome.files == 1
