"""The scorecard's "Not final" note: a headline period a partner still owes under `reporting:`.

Real workspaces: a warehouse filled as loads leave it, measured and published by refresh, then
released; the partnership page names who still owes, the public one only says how many."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import yaml

from pipelines import status_page, warehouse
from pipelines.config import Workspace
from pipelines.periods import period_from_label
from pipelines.refresh import measure_and_publish, refresh_status
from pipelines.release import release
from pipelines.scorecard_owed import feeding_obligations, not_final
from pipelines.scorecard_print import render_published
from tests.test_status import set_reporting

D = dt.date
YEARLY = {"every": "year", "due_days": 60, "first_period": "2023",
          "measures": ["well_child_visit"]}
TWO_PARTNERS = {"northside_clinic": [YEARLY], "bright_start": [YEARLY]}
TODAY = D(2025, 6, 1)  # 2024 was due 2025-03-01


def fill(workspace: Workspace, sent: dict[str, list[int]], reporting: dict | None = None,
         names: dict[str, str] | None = None):
    """A warehouse where each partner sent one file per year in `sent`: 40 children a year,
    half with a well-child visit."""
    set_reporting(workspace, TWO_PARTNERS if reporting is None else reporting)
    if names:
        path = workspace.path("indicators", "riverbend", "initiative.yaml")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for partner, name in names.items():
            data["partners"][partner]["name"] = name
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    config = workspace.load("riverbend")
    con = warehouse.connect(workspace.warehouse_file)
    warehouse.ensure_initiative_tables(con, config)
    for n, (partner, years) in enumerate(sorted(sent.items())):
        for year in years:
            submission = con.execute(
                "INSERT INTO submissions (initiative_id, partner_id, file_name, status, "
                "rows_read, rows_loaded, rows_quarantined, received_at) VALUES ('riverbend', ?, "
                "?, 'loaded', 40, 40, 0, ?) RETURNING submission_id",
                [partner, f"{year}.csv", f"{year + 1}-01-20"]).fetchall()[0][0]
            con.execute(f"""
                INSERT INTO riverbend.records (submission_id, source_row, loaded_at, partner_id,
                    person_key, period, period_type, period_start, period_end, race_aian,
                    race_asian, race_black, race_hispanic, race_white, race_mena, race_nhpi,
                    race_multi_unspecified, race_reported, state, class, well_child_visit)
                SELECT ?, i + 2, now(), ?, ({n} * 10000000 + {year} * 1000 + i)::UHUGEINT,
                       '{year}', 'year', DATE '{year}-01-01', DATE '{year}-12-31', false,
                       false, false, false, true, false, false, false, true, 'WA',
                       'Not reported', i % 2
                FROM range(40) t(i)""", [submission, partner])
    return config, con


def publish(workspace: Workspace, sent: dict, monkeypatch, today: D = TODAY, **kwargs):
    monkeypatch.setattr(status_page, "today", lambda: today)
    config, con = fill(workspace, sent, **kwargs)
    try:
        measure_and_publish(con, workspace, config, "20250601T000000-aaaaaa")
    finally:
        con.close()
    return config


def notes(html: str) -> list[str]:
    """The text of each "Not final" paragraph."""
    return [re.sub(r"<[^>]+>", "", p) for p in
            re.findall(r'<p class="not-final">(.*?)</p>', html, flags=re.S)]


def well_child_section(html: str) -> str:
    titles = ("Children with a well-child visit", "Niños con una consulta de niño sano")
    return next(part for part in html.split('<section class="indicator"')[1:]
                if any(title in part for title in titles))


def test_a_partner_missing_the_latest_period_makes_it_not_final(workspace, monkeypatch):
    publish(workspace, {"northside_clinic": [2023, 2024], "bright_start": [2023]}, monkeypatch)
    html = (workspace.published("riverbend") / "partnership" / "scorecard.html").read_text()
    section = well_child_section(html)
    assert notes(section) == ["Not final: 1 of 2 partners has not yet sent data for 2024 (due "
                              "March 1, 2025). Still to come from: Bright Start Early Learning "
                              "(overdue)."]
    # Only the indicator the obligation feeds: kindergarten readiness has no calendar here.
    assert len(notes(html)) == 1


def test_all_received_or_no_calendar_says_nothing(workspace, tmp_path, monkeypatch):
    publish(workspace, {"northside_clinic": [2023, 2024], "bright_start": [2023, 2024]},
            monkeypatch)
    html = (workspace.published("riverbend") / "partnership" / "scorecard.html").read_text()
    assert "well-child" in html.lower() and notes(html) == []

    other = Workspace(tmp_path / "no-calendar").add_definitions()
    publish(other, {"northside_clinic": [2023, 2024]}, monkeypatch, reporting={})
    html = (other.published("riverbend") / "partnership" / "scorecard.html").read_text()
    assert notes(html) == [] and "Not final" not in html


def test_public_release_says_how_many_never_which(workspace, tmp_path, monkeypatch):
    config = publish(workspace, {"northside_clinic": [2023, 2024], "bright_start": [2023]},
                     monkeypatch)
    released = release(workspace, config)
    html = (released.folder / "scorecard.html").read_text()
    [note] = notes(well_child_section(html))
    assert note == "Not final: 1 of 2 partners has not yet sent data for 2024 (due March 1, 2025)."
    manifest = (released.folder / "manifest.json").read_text()
    owed = json.loads(manifest)["still_owed"]
    assert owed["named"] is False and "partner_names" not in owed
    assert "bright_start" not in json.dumps(owed) and "northside" not in json.dumps(owed)
    assert {r["state"] for r in owed["indicators"]["well_child_visits"]} == {"owed", "received"}
    # Printed again later (another language), the release keeps its own note, still unnamed.
    [page] = render_published(workspace, config, "public", "es", out_dir=tmp_path)
    [note] = notes(well_child_section(page.read_text()))
    assert note.startswith("Aún no es definitivo: 1 de 2 socios aún no ha enviado los datos de "
                           "2024") and "Bright" not in note
    [page] = render_published(workspace, config, "partnership", out_dir=tmp_path)
    assert "Bright Start Early Learning (overdue)" in notes(well_child_section(page.read_text()))[0]


def test_partner_names_are_escaped(workspace, monkeypatch):
    publish(workspace, {"northside_clinic": [2023, 2024], "bright_start": [2023]}, monkeypatch,
            names={"bright_start": "<img src=x onerror=alert(1)> & Co\u202e"})
    html = (workspace.published("riverbend") / "partnership" / "scorecard.html").read_text()
    assert "<img src=x" not in html and "\u202e" not in html
    # A right-to-left override would reverse the rest of the line: shown as its escape.
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; Co\\u202e (overdue)" in html


def test_not_yet_due_then_overdue_republishes_the_partnership_page(workspace, monkeypatch):
    # 2024 is over but not yet due on Feb 1, 2025; on Mar 2 it is overdue: a status-only night.
    config = publish(workspace, {"northside_clinic": [2023, 2024], "bright_start": [2023]},
                     monkeypatch, today=D(2025, 2, 1))
    partnership = workspace.published("riverbend") / "partnership"
    assert "Bright Start Early Learning (not yet due)" in notes(
        well_child_section((partnership / "scorecard.html").read_text()))[0]
    monkeypatch.setattr(status_page, "today", lambda: D(2025, 3, 2))
    con = warehouse.connect(workspace.warehouse_file)
    try:
        assert refresh_status(con, workspace, config, "20250302T000000-bbbbbb") is not None
    finally:
        con.close()
    assert "Bright Start Early Learning (overdue)" in notes(
        well_child_section((partnership / "scorecard.html").read_text()))[0]
    manifest = json.loads((partnership / "manifest.json").read_text())
    assert set(manifest["files"]) == {p.name for p in partnership.iterdir()} - {"manifest.json"}


def test_which_partners_feed_an_indicator(workspace):
    set_reporting(workspace, {
        "northside_clinic": [YEARLY, {"every": "quarter", "due_days": 30,
                                      "first_period": "2024Q1", "measures": ["dev_screening"]}],
        "bright_start": [{"every": "year", "due_days": 30, "first_period": "2023"}],
        "riverbend_housing": [{"every": "year", "due_days": 45, "first_period": "2022",
                               "measures": ["stable_housing"]}]})
    feeds = feeding_obligations(workspace.load("riverbend"))
    # `measures` pick the indicators; an obligation naming none feeds every records indicator.
    assert feeds["well_child_visits"] == {("northside_clinic", 0), ("bright_start", 0)}
    assert feeds["developmental_screening"] == {("northside_clinic", 1), ("bright_start", 0)}
    assert feeds["kindergarten_readiness"] == {("bright_start", 0)}
    # Aggregates feed aggregate indicators only, by indicator id.
    assert feeds["stable_housing"] == {("riverbend_housing", 0)}


def _row(partner, start, end, due, state):
    return {"partner": partner, "period_start": start, "period_end": end, "due_date": due,
            "state": state}


@pytest.mark.parametrize("as_of, named, expected", [
    (D(2025, 9, 29), True, None),  # the quarter is not over: "is not over yet" says so
    (D(2025, 10, 1), True, "Not final: 2 of 2 partners have not yet sent data for 2025 Q3 (due "
                           "October 30, 2025 to March 1, 2026)."),
    # In public, "2 of 2" (or "1 of 1") would say who: every partner the page lists for it.
    (D(2025, 10, 1), False, "Not final: some data for 2025 Q3 has not arrived yet (due "
                            "October 30, 2025 to March 1, 2026)."),
])
def test_owed_periods_of_another_grain_count_when_they_overlap(as_of, named, expected):
    owes = "missing" if named else "owed"  # the public manifest keeps no partner's state
    owed = {"named": named, "partner_names": {}, "indicators": {"x": [
        _row("a", "2025-07-01", "2025-09-30", "2025-10-30", owes),
        _row("b", "2025-01-01", "2025-12-31", "2026-03-01", owes),  # a yearly report
        _row("b", "2024-01-01", "2024-12-31", "2025-03-01", "received"),
        _row("c", "2024-07-01", "2025-06-30", "2025-07-30", owes)]}}  # ends before Q3
    quarter = period_from_label("2025Q3", "quarter")
    found = not_final(owed, "x", quarter, "2025 Q3", as_of)
    assert (found and found["text"]) == expected
    assert not_final(None, "x", quarter, "2025 Q3", as_of) is None
