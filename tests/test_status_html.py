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
