"""Published outputs by audience: partnership (every run) and public (only on `backbone release`).

Through the real nightly flow and a real warehouse: a restricted indicator publishes nothing its
definition withholds in any file, the public folder holds initiative-wide rows only and changes
only on a release, whose note lists what was revised, and every data package validates with
`frictionless`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from frictionless import validate
from typer.testing import CliRunner

from pipelines import synth
from pipelines.cli import app
from pipelines.lock import workspace_lock
from pipelines.release import ReleaseError, release, small_changes
from pipelines.release_note import revisions
from pipelines.scorecard import CLASS_ORDER

RESTRICTED = "kindergarten_readiness"
PUBLISHED_FILES = {"indicator_results.parquet", "disparities.parquet", "manifest.json",
                   "datapackage.json", "scorecard.html"}


def _restrict(workspace) -> None:
    path = workspace.path("indicators", "riverbend", f"{RESTRICTED}.yaml")
    path.write_text(path.read_text() + "disaggregations: [race]\n")


def _rows(folder: Path, name: str) -> list[dict]:
    return pq.read_table(folder / f"{name}.parquet").to_pylist()


def _restricted_section(html: str) -> str:
    return html.split("Children ready for kindergarten</h2>")[1].split('<section class="indicator"')[0]


def _assert_nothing_withheld(folder: Path) -> None:
    results = [r for r in _rows(folder, "indicator_results") if r["indicator_id"] == RESTRICTED]
    assert results and all(r["partner_id"] == "ALL" and r["class"] == "ALL" for r in results)
    assert any(r["race"] != "ALL" for r in results)  # what it does publish is there
    gaps = [r for r in _rows(folder, "disparities") if r["indicator_id"] == RESTRICTED]
    assert gaps and all(r["partner_id"] == "ALL" and r["dimension"] == "race" for r in gaps)
    package = json.loads((folder / "datapackage.json").read_text())
    described = {i["id"]: i for i in package["indicators"]}
    assert described[RESTRICTED]["disaggregations"] == ["race"]
    section = _restricted_section((folder / "scorecard.html").read_text())
    assert not any(label in section for label in CLASS_ORDER if label != "Not reported")
    assert "does not break results down by household income" in section
    for partner in ("riverbend_schools", "northside_clinic", "bright_start"):
        assert partner not in section


def _assert_valid_package(folder: Path) -> None:
    report = validate(str(folder / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]
    package = json.loads((folder / "datapackage.json").read_text())
    assert {r["path"] for r in package["resources"]} == {"indicator_results.parquet",
                                                         "disparities.parquet"}
    fields = {f["name"]: f for f in package["resources"][0]["schema"]["fields"]}
    # Field descriptions come from the indicator YAML.
    assert "Children ready for kindergarten" in fields["indicator_id"]["description"]
    assert fields["indicator_id"]["constraints"]["enum"] == sorted(fields["indicator_id"]
                                                                  ["constraints"]["enum"])
    assert package["sources"] and package["licenses"]


def _world_readable(folder: Path) -> None:
    for path in [folder, *folder.iterdir()]:
        assert path.stat().st_mode & 0o444 == 0o444, f"{path}: {oct(path.stat().st_mode)}"


@pytest.mark.usefixtures("prefect_harness")
def test_restricted_indicator_partnership_nightly_and_public_only_on_release(workspace):
    from pipelines.flows import nightly

    _restrict(workspace)
    synth.write_sample(workspace.intake / "riverbend", children_per_year=1500, years=(2024,))
    nightly(home=str(workspace.root), initiative="riverbend")

    base = workspace.published("riverbend")
    partnership, public = base / "partnership", base / "public"
    assert base.is_dir() and not base.is_symlink()
    assert partnership.is_symlink() and not public.exists()
    assert {p.name for p in partnership.iterdir()} == PUBLISHED_FILES | {
        "quality_flags.parquet", "submissions.parquet", "status.html"}
    _assert_nothing_withheld(partnership)
    _assert_valid_package(partnership)
    _world_readable(partnership)
    # Other indicators keep their partner rows, for partners under the data-sharing agreement.
    assert any(r["partner_id"] != "ALL" for r in _rows(partnership, "indicator_results"))
    assert json.loads((partnership / "datapackage.json").read_text())["licenses"][0]["name"] == \
        "other-closed"

    # The first release, through the command a data lead runs.
    outcome = CliRunner().invoke(app, ["release", "riverbend", "--home", str(workspace.root)])
    assert outcome.exit_code == 0, outcome.output
    assert "public release" in outcome.output and "first release" in outcome.output
    assert public.is_symlink()
    assert {p.name for p in public.iterdir()} == PUBLISHED_FILES | {"release_note.md"}
    _assert_nothing_withheld(public)
    _assert_valid_package(public)
    assert json.loads((public / "datapackage.json").read_text())["licenses"][0]["name"] == "CC-BY-4.0"
    _world_readable(public)
    for name in ("indicator_results", "disparities"):
        rows = _rows(public, name)
        assert rows and {r["partner_id"] for r in rows} == {"ALL"}
    # The public rows are exactly the partnership's initiative-wide rows, same suppression.
    assert _rows(public, "indicator_results") == [
        r for r in _rows(partnership, "indicator_results") if r["partner_id"] == "ALL"]
    html = (public / "scorecard.html").read_text()
    assert "Partnership preview" not in html and "riverbend_schools" not in html
    assert "Partnership preview" in (partnership / "scorecard.html").read_text()
    manifest = json.loads((public / "manifest.json").read_text())
    assert manifest["audience"] == "public" and manifest["previous_release"] is None
    assert all("file_name" not in s and "rows_loaded" not in s for s in manifest["source_files"])
    assert {s["partner_id"] for s in manifest["source_files"]} >= {"riverbend_housing"}
    assert "First public release" in (public / "release_note.md").read_text()
    first_release, public_bytes = manifest["release_id"], {
        p.name: p.read_bytes() for p in public.iterdir()}

    # A second night with a new year: the partnership folder moves, the public one does not.
    # This workspace's own guideline table stops at 2024, so 2025 is classed with 2024's, and
    # every output says so.
    guidelines = workspace.path("schemas", "equity", "poverty_guidelines.csv")
    lines = guidelines.read_text().splitlines(keepends=True)
    guidelines.write_text("".join(line for line in lines if not line.startswith(("2025,", "2026,"))))
    synth.write_sample(workspace.intake / "riverbend", children_per_year=1500, years=(2025,))
    nightly(home=str(workspace.root), initiative="riverbend")
    assert "2025" in {r["period"] for r in _rows(partnership, "indicator_results")}
    beyond = "Period 2025 was classed with the 2024 HHS poverty guidelines, the latest available"
    notice = "Household income groups for 2025 use the 2024 HHS poverty guidelines"
    assert any(beyond in note for note in
               json.loads((partnership / "manifest.json").read_text())["notes"])
    assert notice in " ".join((partnership / "scorecard.html").read_text().split())
    assert notice not in " ".join((public / "scorecard.html").read_text().split())
    assert {p.name: p.read_bytes() for p in public.iterdir()} == public_bytes
    assert "2025" not in {r["period"] for r in _rows(public, "indicator_results")}

    config = workspace.load("riverbend")
    second = release(workspace, config)
    assert second.previous == first_release and second.changes.get("new", 0) > 0
    note = (public / "release_note.md").read_text()
    assert f"Previous release: {first_release}" in note.replace("\\", "")
    new_2025 = [r for r in _rows(public, "indicator_results") if r["period"] == "2025"]
    assert f"{len(new_2025)} new cell" in note
    assert "| Children ready for kindergarten | 2025 |" in note
    manifest = json.loads((public / "manifest.json").read_text())
    assert any(beyond in note for note in manifest["notes"])
    assert notice in " ".join((public / "scorecard.html").read_text().split())
    assert manifest["previous_release"] == first_release
    assert manifest["revisions"] == second.changes
    _assert_nothing_withheld(public)

    # Nothing changed since: the release stands, the link does not move.
    link = os.readlink(public)
    third = release(workspace, config)
    assert third.release_id is None and third.previous == second.release_id
    assert os.readlink(public) == link


def test_release_before_any_run_or_while_the_workspace_is_busy(workspace):
    runner = CliRunner()
    outcome = runner.invoke(app, ["release", "riverbend", "--home", str(workspace.root)])
    assert outcome.exit_code == 1
    assert "nothing has been published yet" in outcome.output
    with pytest.raises(ReleaseError, match="run `backbone run` first"):
        release(workspace, workspace.load("riverbend"))
    with workspace_lock(workspace, purpose="run"):
        outcome = runner.invoke(app, ["release", "riverbend", "--home", str(workspace.root)])
    assert outcome.exit_code == 3 and "busy" in outcome.output
    assert not (workspace.published("riverbend") / "public").exists()


def _cells(path: Path, rows: list[tuple]) -> Path:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (indicator_id VARCHAR, period VARCHAR, partner_id VARCHAR, "
                "race_tabulation VARCHAR, race VARCHAR, class VARCHAR, numerator BIGINT, "
                "denominator BIGINT, suppressed BOOLEAN)")
    con.executemany("INSERT INTO t VALUES (?, ?, 'ALL', ?, ?, 'ALL', ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()
    return path


def test_revisions_name_each_changed_cell(tmp_path: Path):
    old = _cells(tmp_path / "old.parquet", [
        ("k", "2023", "total", "ALL", 870, 1500, False),
        ("k", "2024", "total", "ALL", 900, 1500, False),
        ("k", "2024", "alone", "Asian", None, None, True),
        ("k", "2024", "alone", "White", 300, 500, False),
        ("k", "2024", "alone", "Gone", 50, 100, False)])
    new = _cells(tmp_path / "new.parquet", [
        ("k", "2023", "total", "ALL", 870, 1500, False),
        ("k", "2024", "total", "ALL", 901, 1501, False),
        ("k", "2024", "alone", "Asian", 40, 100, False),
        ("k", "2024", "alone", "White", None, None, True),
        ("k", "2025", "total", "ALL", 10, 20, False)])
    con = duckdb.connect()
    changed = {(c["period"], c["race"]): c["change"] for c in revisions(con, old, new)}
    assert changed == {("2024", "ALL"): "revised", ("2024", "Asian"): "now shown",
                       ("2024", "White"): "now hidden", ("2024", "Gone"): "removed",
                       ("2025", "ALL"): "new"}
    assert {c["change"] for c in revisions(con, None, new)} == {"new"}
    # One more person in the total: a differencing risk the data lead is told about.
    assert small_changes(revisions(con, old, new), threshold=10) == 1
    assert small_changes(revisions(con, old, new), threshold=0) == 0


def test_the_old_single_link_layout_is_replaced_by_audience_folders(workspace):
    # Before audiences, data/published/<initiative> was one link to a version with partner rows.
    from pipelines.versions import PARTNERSHIP, finish_version, start_version

    old = workspace.path("data", "published", ".versions", "riverbend", "20250101T000000-aaaaaa")
    old.mkdir(parents=True)
    (old / "indicator_results.parquet").write_bytes(b"partner rows")
    base = workspace.published("riverbend")
    base.symlink_to(os.path.relpath(old, base.parent))

    staging = start_version(workspace, "riverbend", PARTNERSHIP, "20260101T000000-bbbbbb")
    (staging / "scorecard.html").write_text("<!DOCTYPE html>")
    staging.chmod(0o700)
    (staging / "scorecard.html").chmod(0o600)
    folder = finish_version(workspace, "riverbend", PARTNERSHIP, staging, "20260101T000000-bbbbbb")

    assert base.is_dir() and not base.is_symlink() and sorted(os.listdir(base)) == [PARTNERSHIP]
    assert folder == base / PARTNERSHIP and (folder / "scorecard.html").read_text() == "<!DOCTYPE html>"
    assert not old.exists()  # partner rows are no longer reachable at the old path
    assert (folder / "scorecard.html").stat().st_mode & 0o777 == 0o644
    assert folder.resolve().stat().st_mode & 0o777 == 0o755


def test_status_only_versions_keep_the_results_they_carry_over(tmp_path):
    """A status-only version links the results of the one before; pruning that one (after
    KEEP_VERSIONS quiet nights with a changed status) leaves the linked files in place, and
    the public audience is never written."""
    from pipelines.config import Workspace
    from pipelines.versions import (KEEP_VERSIONS, PARTNERSHIP, PUBLIC, audience_dir,
                                    derive_version, finish_version, start_version,
                                    versions_dir)

    workspace = Workspace(tmp_path)
    first = "20261101T000000-aaaaaa"
    staging = start_version(workspace, "riverbend", PARTNERSHIP, first)
    (staging / "indicator_results.parquet").write_bytes(b"the results")
    (staging / "status.html").write_text("status 0")
    (staging / "manifest.json").write_text("{}")
    finish_version(workspace, "riverbend", PARTNERSHIP, staging, first)
    for night in range(1, KEEP_VERSIONS + 2):
        staging, current = derive_version(workspace, "riverbend", PARTNERSHIP,
                                          f"20261102T0000{night:02d}-bbbbbb", ("status.html",))
        assert sorted(p.name for p in staging.iterdir()) == ["indicator_results.parquet"]
        (staging / "status.html").write_text(f"status {night}")
        finish_version(workspace, "riverbend", PARTNERSHIP, staging, staging.name[1:-8])
        # The version it came from is whole: nothing was changed in place.
        assert (current / "status.html").read_text() == f"status {night - 1}"
    folder = audience_dir(workspace, "riverbend", PARTNERSHIP)
    assert not (versions_dir(workspace, "riverbend", PARTNERSHIP) / first).exists()  # pruned
    assert (folder / "indicator_results.parquet").read_bytes() == b"the results"
    assert (folder / "status.html").read_text() == f"status {KEEP_VERSIONS + 1}"
    assert not audience_dir(workspace, "riverbend", PUBLIC).exists()
    assert not versions_dir(workspace, "riverbend", PUBLIC).exists()
