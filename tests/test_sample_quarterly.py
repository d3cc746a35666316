"""The sample's quarterly indicator, end to end through the real nightly flow: the clinic's dated
monthly CSVs and Bright Start's home-visit workbook become developmental screening by quarter,
each child counted once per quarter however many visits (and partners) they had; the
scorecard shows the quarters in time order.

Expected counts are computed here from the sample files with plain Python (csv, calamine),
independently of the pipeline's SQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import synth_visits
from pipelines.scorecard_print import render_published

from conftest import SAMPLES

pytestmark = pytest.mark.usefixtures("prefect_harness")

INDICATOR = "developmental_screening"
CLINIC, HOME = "northside_clinic", "bright_start"


def quarter(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def clinic_visits() -> list[tuple[str, dt.date, str]]:
    visits = []
    files = sorted((SAMPLES / CLINIC).glob("northside_visits_*.csv"))
    assert len(files) >= 18  # monthly files across at least six quarters
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                month, day, year = (int(part) for part in row["Visit Date"].split("/"))
                visits.append((row["PersonalID"], dt.date(year, month, day), row["Dev Screen"]))
    return visits


def home_visits() -> list[tuple[str, dt.date, str]]:
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(
        str(SAMPLES / HOME / synth_visits.WORKBOOK_NAME))
    rows = book.get_sheet_by_index(0).to_python()
    header = next(i for i, row in enumerate(rows) if row and row[0] == "Child ID")
    assert header > 0  # a title block sits above the table, as partners' workbooks have
    names = rows[header]
    at = {name: names.index(name) for name in ("Child ID", "Visit Date", "ASQ-3 Done?")}
    return [(row[at["Child ID"]], row[at["Visit Date"]], row[at["ASQ-3 Done?"]])
            for row in rows[header + 1:] if row[0]]


def expected(visits: list[tuple[str, dt.date, str]]) -> dict[str, tuple[int, int]]:
    """quarter -> (numerator, denominator): a child counts once per quarter, screened if any
    of their visits that quarter had a screening."""
    seen, screened = defaultdict(set), defaultdict(set)
    for person, day, done in visits:
        seen[quarter(day)].add(person)
        if done in ("Y", "Yes"):
            screened[quarter(day)].add(person)
    return {q: (len(screened[q]), len(seen[q])) for q in seen}


@pytest.fixture(scope="module")
def published(demo_run):
    workspace, summaries, _hashes = demo_run
    folder = workspace.published("riverbend") / "partnership"
    rows = [r for r in pq.read_table(folder / "indicator_results.parquet").to_pylist()
            if r["indicator_id"] == INDICATOR]
    return workspace, summaries, folder, rows


def totals(rows: list[dict], partner: str = "ALL") -> dict[str, dict]:
    return {r["period"]: r for r in rows if r["partner_id"] == partner and r["race"] == "ALL"
            and r["class"] == "ALL" and r["race_tabulation"] == "total"}


def test_the_dated_files_and_the_workbook_are_loaded(published) -> None:
    _workspace, summaries, _folder, _rows = published
    status = {f["file_name"]: f for f in summaries[0]["files"]}
    workbook = status[synth_visits.WORKBOOK_NAME]
    assert workbook["status"] == "loaded" and workbook["rows_quarantined"] == 0
    assert workbook["rows_loaded"] == len(home_visits())
    monthly = [f for name, f in status.items() if name.startswith("northside_visits_")]
    assert len(monthly) >= 18 and all(f["status"] == "loaded" for f in monthly)
    assert sum(f["rows_loaded"] for f in monthly) == len(clinic_visits())


def test_published_by_quarter_with_dates(published) -> None:
    _workspace, _summaries, _folder, rows = published
    assert rows and {r["period_type"] for r in rows} == {"quarter"}
    for row in rows:
        year, number = re.fullmatch(r"(\d{4})Q([1-4])", row["period"]).groups()
        start = dt.date(int(year), 3 * int(number) - 2, 1)
        assert row["period_start"] == start
        end_month = dt.date(int(year) + (int(number) == 4), (3 * int(number)) % 12 + 1, 1)
        assert row["period_end"] == end_month - dt.timedelta(days=1)
    quarters = sorted(totals(rows))
    assert len(quarters) >= 6 and quarters[0] == "2024Q1"


def test_each_child_counts_once_per_quarter_across_visits_and_partners(published) -> None:
    _workspace, _summaries, _folder, rows = published
    clinic, home = clinic_visits(), home_visits()
    # The point of the test: children really are seen several times in a quarter.
    per_child = Counter((person, quarter(day)) for person, day, _ in clinic + home)
    assert sum(1 for n in per_child.values() if n > 1) > 100
    both = expected(clinic + home)
    published_totals = totals(rows)
    assert set(published_totals) == set(both)
    for period, (numerator, denominator) in both.items():
        row = published_totals[period]
        assert (row["numerator"], row["denominator"]) == (numerator, denominator), period
        assert row["denominator"] < sum(n for (_, q), n in per_child.items() if q == period)
    # Per partner, each partner's own children once; across partners, the union (children
    # both the clinic and a home visitor saw that quarter count once in the total).
    for partner, visits in ((CLINIC, clinic), (HOME, home)):
        mine = totals(rows, partner)
        for period, (numerator, denominator) in expected(visits).items():
            if not mine[period]["suppressed"]:
                assert (mine[period]["numerator"], mine[period]["denominator"]) == \
                    (numerator, denominator), (partner, period)
    overlap = expected(home)
    assert any(both[q][1] < expected(clinic)[q][1] + overlap[q][1] for q in overlap)


def test_the_scorecard_shows_quarters_in_order(published, tmp_path: Path) -> None:
    workspace, _summaries, folder, rows = published
    quarters = sorted(totals(rows), key=lambda p: totals(rows)[p]["period_start"])
    names = [f"{q[:4]} {q[4:]}" for q in quarters]
    html = (folder / "scorecard.html").read_text(encoding="utf-8")
    section = next(s for s in html.split('<section class="indicator"')[1:]
                   if "Young children with a developmental screening</h2>" in s)
    trend = section.split("Trend over time")[1].split("Show the numbers as a table")[0]
    axis = re.findall(r'<text class="tick" [^>]*text-anchor="middle">([^<]*)</text>', trend)
    # The axis runs on, quarter by quarter, to the target quarter (2026 Q4).
    assert axis == names + ["2026 Q1", "2026 Q2", "2026 Q3", "2026 Q4"]
    table = section.split("Data for the trend chart")[1].split("</table>")[0]
    assert re.findall(r'<tr><th scope="row">([^<]*)</th>', table) == names
    assert f"Latest ({names[-1]})" in section
    assert "since 2024 Q1" in section and "Goal: 70.0% by 2026 Q4" in section
    assert "One point per quarter" in section
    # The yearly indicators still read in years.
    assert "Latest (2025)" in html

    config = workspace.load("riverbend")
    spanish = render_published(workspace, config, "partnership", "es", tmp_path)[0]
    text = spanish.read_text(encoding="utf-8")
    assert "Un punto por trimestre" in text and f"Más reciente ({names[-1]})" in text
