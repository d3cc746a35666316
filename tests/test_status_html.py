"""status.html as a browser shows it: every state in words, partner and file names as inert text,
no external resource, and no WCAG A/AA violation found by axe-core in headless Chromium."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from pipelines.config import Workspace
from pipelines.status_page import render_status
from pipelines.status_text import STATE_WORDS
from tests.test_scorecard import browser_text
from tests.test_scorecard_print import axe_script, axe_violations  # noqa: F401  (fixture)
from tests.test_status import QUARTERLY, Books

D = dt.date
HOSTILE_FILE = "<script>alert('x')</script>\u202egpj.csv\n<b>bold</b> & \"quoted\""
HOSTILE_PARTNER = "<img src=x onerror=alert(1)> Northside & Sons"


@pytest.fixture
def every_state(workspace: Workspace):
    """Status rows in every state, one of them naming a hostile file, from a real warehouse."""
    books = Books(workspace, QUARTERLY)
    try:
        q1 = books.file("northside_clinic", HOSTILE_FILE, "loaded", "2024-04-30 23:00")
        books.records(q1, D(2024, 2, 1), D(2024, 2, 29), well_child_visit=1)
        q2 = books.file("northside_clinic", "q2.csv", "loaded", "2024-08-01")
        books.records(q2, D(2024, 5, 3), D(2024, 5, 3), well_child_visit=0)
        q3 = books.file("northside_clinic", "q3.csv", "loaded", "2024-10-20", read=10,
                        quarantined=3)
        books.records(q3, D(2024, 8, 1), D(2024, 8, 31), well_child_visit=1)
        q4 = books.file("northside_clinic", "q4.csv", "held", "2025-01-10")
        books.records(q4, D(2024, 12, 1), D(2024, 12, 31), well_child_visit=1)
        books.file("northside_clinic", "broken.csv", "rejected", "2025-05-02")
        rows = books.status(D(2025, 9, 1))
    finally:
        books.con.close()
    assert {r["state"] for r in rows} == set(STATE_WORDS)
    return rows


def page(rows: list[dict], folder: Path) -> Path:
    return render_status(rows, "Riverbend <Partnership>", {"northside_clinic": HOSTILE_PARTNER},
                         D(2025, 9, 1), folder / "status.html",
                         generated_at=dt.datetime(2025, 9, 1, 6, 0, tzinfo=dt.timezone.utc))


def test_hostile_names_are_text_not_markup(every_state, tmp_path: Path) -> None:
    html = page(every_state, tmp_path).read_text(encoding="utf-8")
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "\u202e" not in html and "\n<b>" not in html
    # Self-contained: nothing fetched from anywhere.
    assert not re.search(r"""<[^>]*\s(src|href|srcset|action)\s*=|url\(|@import""", html)
    text = browser_text(tmp_path / "status.html", tmp_path)
    assert "<script>alert('x')</script>\\u202egpj.csv\\n<b>bold</b> & \"quoted\"" in text
    assert HOSTILE_PARTNER in text and "Riverbend <Partnership>" in text


def test_every_state_is_said_in_words(every_state, tmp_path: Path) -> None:
    text = browser_text(page(every_state, tmp_path), tmp_path)
    for words in ("on time", "late", "missing (overdue)", "not yet due", "rejected (overdue)",
                  "held for review (received on time)",
                  "partly quarantined (30% set aside, received on time)"):
        assert words in text, words
    assert "as of 2025-09-01: 1 on time, 1 late, 1 missing (overdue)" in text
    assert "For the partnership only" in text and "How to read this page" in text


def test_status_page_has_no_accessibility_violations(every_state, axe_script: str,  # noqa: F811
                                                     tmp_path: Path) -> None:
    assert axe_violations(page(every_state, tmp_path), axe_script, tmp_path) == []


def test_axe_sees_a_planted_violation_on_the_status_page(every_state,
                                                         axe_script: str,  # noqa: F811
                                                         tmp_path: Path) -> None:
    # The check can fail: a table header emptied and grey-on-white state text are reported.
    html = page(every_state, tmp_path).read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace('<html lang="en">', "<html>", 1)
                      .replace(".not_yet_due { color: #374151;", ".not_yet_due { color: #c8c8c8;"),
                      encoding="utf-8")
    found = {v["id"] for v in axe_violations(broken, axe_script, tmp_path)}
    assert {"html-has-lang", "color-contrast"} <= found, found


def test_sample_status_page_as_published(demo_run, axe_script: str,  # noqa: F811
                                         tmp_path: Path) -> None:
    workspace, _summaries, _hashes = demo_run
    published = workspace.published("riverbend") / "partnership" / "status.html"
    text = browser_text(published, tmp_path)
    assert "Riverbend Unified School District" in text and "missing (overdue)" in text
    assert axe_violations(published, axe_script, tmp_path) == []


# ------------------------------------------------------------------ kept current every night

RESULT_FILES = ("indicator_results.parquet", "disparities.parquet", "scorecard.html",
                "datapackage.json", "quality_flags.parquet")


def _latest_status_artifact() -> list[dict]:
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        [found] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
                any_=["submission-status-riverbend"])), sort=ArtifactSort.CREATED_DESC, limit=1)
    return json.loads(found.data) if isinstance(found.data, str) else found.data


def test_quiet_nights_republish_the_status_only_when_it_changes(workspace: Workspace,
                                                                prefect_harness,
                                                                monkeypatch) -> None:
    import json
    import os

    import duckdb

    from conftest import drop
    from pipelines import status_page
    from pipelines.flows import nightly
    from pipelines.publish import file_entry
    from pipelines.status_text import state_words
    from pipelines.versions import PARTNERSHIP, versions_dir
    from tests.test_status import set_reporting

    set_reporting(workspace, {"riverbend_schools": [
        {"every": "year", "due_days": 90, "first_period": "2023", "measures": ["kinder_ready"]}]})
    drop(workspace, "riverbend_schools", "2023.csv", "person_id,period,kinder_ready\n"
         + "".join(f"S{i:03d},2023,1\n" for i in range(60)))
    home = str(workspace.root)
    nightly(home=home, initiative="riverbend")
    partnership = workspace.published("riverbend") / "partnership"
    versions = versions_dir(workspace, "riverbend", PARTNERSHIP)
    first = os.readlink(partnership)
    kept = sorted(p.name for p in versions.iterdir())
    results = {name: (partnership / name).read_bytes() for name in RESULT_FILES}

    # Nothing arrived and no due date passed: no new version, nothing written.
    [summary] = nightly(home=home, initiative="riverbend")
    assert summary["note"].startswith("nothing new") and "republished" not in summary["note"]
    assert os.readlink(partnership) == first and sorted(p.name for p in versions.iterdir()) == kept

    # Still nothing arrives, but the clock passes this year's due date (March 31 + 90 days is
    # in the next year): the year becomes missing, a status-only version is published.
    later = D(D.today().year + 1, 4, 1)
    monkeypatch.setattr(status_page, "today", lambda: later)
    [summary] = nightly(home=home, initiative="riverbend")
    assert summary["note"].endswith("(its submission status changed and was republished)")
    assert os.readlink(partnership) != first
    assert {name: (partnership / name).read_bytes() for name in RESULT_FILES} == results
    # Carried over, not rewritten: the same files (hard links) as the results' version.
    assert (partnership / "indicator_results.parquet").stat().st_ino == \
        (versions / os.path.basename(first) / "indicator_results.parquet").stat().st_ino
    manifest = json.loads((partnership / "manifest.json").read_text())
    assert manifest["run_id"] == partnership.resolve().name
    assert manifest["results_run_id"] == os.path.basename(first)
    assert manifest["status"]["as_of"] == later.isoformat()
    # The manifest describes every file as it is, the new status files included.
    assert set(manifest["files"]) == {p.name for p in partnership.iterdir()} - {"manifest.json"}
    for name, entry in manifest["files"].items():
        assert file_entry(partnership / name) == entry, name
    published = duckdb.sql(f"SELECT partner_id, period, state, overdue, on_time, as_of FROM "
                           f"'{partnership / 'submissions.parquet'}'").to_arrow_table().to_pylist()
    states = {r["period"]: r["state"] for r in published}
    assert states == {**{str(y): "missing" for y in range(2024, later.year)},
                      "2023": "late", str(later.year): "not_yet_due"}
    assert f"as of {later.isoformat()}" in (partnership / "status.html").read_text()
    assert not (workspace.published("riverbend") / "public").exists()  # never public
    # The night's Prefect artifact is the published table.
    artifact = {(r["partner"], r["period"]): r["state"] for r in _latest_status_artifact()}
    assert artifact == {("riverbend\\_schools", r["period"]): state_words(r) for r in published}

    # The same day again: the status-only version stands, no new one.
    second = os.readlink(partnership)
    [summary] = nightly(home=home, initiative="riverbend")
    assert "republished" not in summary["note"] and os.readlink(partnership) == second


def test_the_nightly_status_path_does_not_import_pandas(workspace: Workspace) -> None:
    # Every night reads the status with its quality flags; pandas alone costs ~0.4 s there.
    import subprocess
    import sys

    from pipelines.quality import FLAGS_DDL

    books = Books(workspace, QUARTERLY)
    try:
        q1 = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-20")
        books.records(q1, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
        books.con.execute(f"CREATE TABLE riverbend.quality_flags ({FLAGS_DDL})")
        books.con.execute("INSERT INTO riverbend.quality_flags (partner_id, period_start) "
                          "VALUES ('northside_clinic', DATE '2024-01-01')")
    finally:
        books.con.close()
    script = f"""
import sys
from pipelines.config import Workspace
from pipelines.status_page import status_stamp
from pipelines.submission_status import read_status
workspace = Workspace.resolve({str(workspace.root)!r})
table, _ = read_status(workspace, workspace.load("riverbend"))
status_stamp(table)
flags = {{r["period"]: r["quality_flags"] for r in table.to_pylist()}}
assert flags["2024Q1"] == 1, flags
print("pandas" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
