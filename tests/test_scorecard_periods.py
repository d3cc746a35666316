"""The scorecard with periods of any grain: quarters and months named as a reader says them,
ordered by when they start, baselines and targets in the indicator's own type, and a crowded
quarterly trend that stays readable in a real browser."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pipelines.periods import period_from_label
from pipelines.scorecard import render_scorecard
from pipelines.scorecard_print import chromium_command, find_chromium
from tests.test_scorecard import GENERATED, INITIATIVE, RESULT_SCHEMA, result, write_parquet

PERIOD_SCHEMA = RESULT_SCHEMA + ", period_type VARCHAR, period_start DATE, period_end DATE"
SCREENING = {
    "id": "dev_screen", "title": "Toddlers screened", "description": "",
    "unit": "percent", "direction": "higher_is_better", "counted": "people",
    # A partner's form of the label: normalized to the canonical 2024Q1 the data carries.
    "baseline": {"value": 0.40, "period": "Q1 2024"}, "target": {"value": 0.70, "period": "2026Q4"},
}


def quarters(first_year: int, count: int) -> list[str]:
    return [f"{first_year + i // 4}Q{i % 4 + 1}" for i in range(count)]


def dated(row: tuple, period_type: str) -> tuple:
    period = period_from_label(row[2], period_type)
    return row + (period_type, period.start, period.end)


def write_periods(folder: Path, labels: list[str], period_type: str, indicator: str = "dev_screen",
                  hidden: tuple[str, ...] = (), extra: list[tuple] = ()) -> None:
    rows = []
    for i, label in enumerate(labels):
        num, den = (4, 6) if label in hidden else (400 + 9 * i, 1000)
        rows.append(dated(result(indicator, label, num, den), period_type))
        rows.append(dated(result(indicator, label, num // 2, den // 2, tab="alone", race="White"),
                          period_type))
    # Written in reverse: the page must not depend on the file's order either.
    write_parquet(folder / "indicator_results.parquet", PERIOD_SCHEMA, rows[::-1] + list(extra))


def trend(html: str) -> str:
    return html.split("Trend over time")[1].split("Show the numbers as a table")[0]


def table(html: str) -> str:
    return html.split("Data for the trend chart")[1].split("</table>")[0]


def axis_texts(html: str) -> list[str]:
    return re.findall(r'<text class="tick" x="[\d.]+" y="2\d\d(?:\.\d+)?" text-anchor="middle">'
                      r'([^<]*)</text>', trend(html))


def test_quarters_are_named_ordered_and_the_milestones_are_quarters(tmp_path: Path) -> None:
    write_periods(tmp_path, quarters(2024, 6), "quarter")
    html = render_scorecard(tmp_path, INITIATIVE, [SCREENING], generated_at=GENERATED).read_text()
    assert "Latest (2025 Q2)" in html
    assert "since 2024 Q1 (40.0%, 95% CI" in html  # the measured baseline, named as a quarter
    assert "Goal: 70.0% by 2026 Q4" in html
    # Table rows and axis in time order; the target quarter extends the axis, every quarter
    # up to it keeps its place (equal steps are equal time).
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th>', table(html))
    assert rows == ["2024 Q1", "2024 Q2", "2024 Q3", "2024 Q4", "2025 Q1", "2025 Q2"]
    assert axis_texts(html) == rows + ["2025 Q3", "2025 Q4", "2026 Q1", "2026 Q2", "2026 Q3",
                                       "2026 Q4"]
    assert "Baseline" in trend(html) and "40.0% (2024 Q1)" in trend(html)
    assert "70.0% (2026 Q4)" in trend(html)
    assert "2024Q1" not in html.split("<body>")[1]  # canonical labels are data, not words
    assert "One point per quarter: someone with several records in a quarter is counted once" in html
    assert "Line chart of Toddlers screened by quarter;" in html
    assert "By race and ethnicity (2025 Q2)" in html


def test_months_in_time_order_not_alphabetical(tmp_path: Path) -> None:
    months = [f"2024-{m:02d}" for m in range(1, 13)]
    write_periods(tmp_path, months, "month")
    monthly = dict(SCREENING, baseline=None, target=None)
    html = render_scorecard(tmp_path, INITIATIVE, [monthly], generated_at=GENERATED).read_text()
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th>', table(html))
    assert rows[:3] == ["January 2024", "February 2024", "March 2024"]
    assert rows[-1] == "December 2024" and len(rows) == 12
    assert "Latest (December 2024)" in html
    spanish = render_scorecard(tmp_path, INITIATIVE, [monthly], generated_at=GENERATED,
                               language="es").read_text()
    assert "Más reciente (diciembre 2024)" in spanish
    assert "Un punto por mes" in spanish


def test_school_years_sort_by_start_and_old_versions_read_as_years(tmp_path: Path) -> None:
    # A version published before period grains: integer-year labels, no period columns.
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA,
                  [result("dev_screen", p, 500, 1000) for p in ("2025", "2023", "2024")])
    yearly = dict(SCREENING, baseline={"value": 0.5, "period": "2023"},
                  target={"value": 0.7, "period": "2027"})
    html = render_scorecard(tmp_path, INITIATIVE, [yearly], generated_at=GENERATED).read_text()
    assert axis_texts(html) == ["2023", "2024", "2025", "2026", "2027"]
    assert "One point per" not in html  # yearly pages read as they always did

    labels = ["2022-23", "2023-24", "2024-25"]
    write_periods(tmp_path, labels, "school_year")
    school = dict(SCREENING, baseline={"value": 0.4, "period": "SY2023"},
                  target={"value": 0.7, "period": "2026-27"})
    html = render_scorecard(tmp_path, INITIATIVE, [school], generated_at=GENERATED).read_text()
    assert axis_texts(html) == labels + ["2025-26", "2026-27"]
    assert "since 2022-23" in html and "Goal: 70.0% by 2026-27" in html


def test_stories_pick_the_latest_period_by_its_start(tmp_path: Path) -> None:
    write_periods(tmp_path, quarters(2024, 8), "quarter")
    stories = tmp_path / "stories"
    stories.mkdir()
    for name, period, words in (("a", "2024Q4", "older quarter"), ("b", "2025Q1", "newer quarter")):
        (stories / f"dev_screen.{name}.md").write_text(
            f'---\nperiod: "{period}"\ndate: 2025-01-05\ntook_part: [Home visitors]\n---\n{words}\n',
            encoding="utf-8")
    html = render_scorecard(tmp_path, INITIATIVE, [SCREENING], generated_at=GENERATED,
                            stories_dir=stories).read_text()
    assert "newer quarter" in html and "older quarter" not in html
    assert "about the 2025 Q1 results" in html


def test_a_crowded_quarterly_axis_is_compacted_in_the_markup(tmp_path: Path) -> None:
    labels = quarters(2021, 20)
    write_periods(tmp_path, labels, "quarter", hidden=("2023Q2",))
    html = render_scorecard(tmp_path, INITIATIVE, [SCREENING], generated_at=GENERATED).read_text()
    axis = axis_texts(html)
    # "Q1" over its year: each year named once, the latest quarter always named.
    assert axis.count("2021") == 1 and axis.count("2025") == 1 and "2026" in axis
    assert "2024 Q1" not in axis and axis[-1] in ("Q4", "2026")
    # Every number is still in the table, in order.
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th>', table(html))
    assert rows[0] == "2021 Q1" and rows[-1] == "2025 Q4" and len(rows) == 20
    # The hidden quarter says "Hidden" without a second line that would spill into neighbours.
    assert trend(html).count(">Hidden</text>") == 1
    assert ">a count of 1 to 10</text>" not in trend(html)


def test_a_quarter_without_results_is_a_gap_not_a_line(tmp_path: Path) -> None:
    labels = [q for q in quarters(2024, 6) if q != "2024Q3"]
    write_periods(tmp_path, labels, "quarter")
    html = render_scorecard(tmp_path, INITIATIVE, [dict(SCREENING, target=None)],
                            generated_at=GENERATED).read_text()
    assert axis_texts(html)[:4] == ["2024 Q1", "2024 Q2", "2024 Q3", "2024 Q4"]
    lines = re.findall(r'<polyline class="trendline" points="([^"]*)"', trend(html))
    assert [len(line.split()) for line in lines] == [2, 3]  # two runs, broken at 2024 Q3


# ------------------------------------------------------------------ as drawn by Chromium

MEASURE = """
const boxes = sel => [...document.querySelectorAll(sel)].map(e => {
  const b = e.getBoundingClientRect(); return [e.textContent, b.left, b.right, b.top, b.bottom]; });
const out = document.createElement('pre'); out.id = 'boxes';
out.textContent = JSON.stringify({
  axis: boxes('figure svg .axis text.tick[text-anchor="middle"]'),
  values: boxes('figure svg text.halo'),
  plots: boxes('figure svg .baseaxis')});
document.body.appendChild(out);
"""


def drawn_boxes(page: Path, tmp: Path, width: int) -> dict:
    checked = tmp / f"measured-{width}-{page.name}"
    checked.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", f"<script>{MEASURE}</script></body>"), encoding="utf-8")
    cmd = chromium_command(find_chromium(), tmp / f"profile-{width}") + [
        f"--window-size={width},2000", "--dump-dom", checked.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="boxes">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"no measurements (exit {proc.returncode}): {proc.stderr[-2000:]}"
    import html as html_lib

    return json.loads(html_lib.unescape(found.group(1)))


def overlaps(boxes: list[list]) -> list[tuple[str, str]]:
    clashes = []
    for i, (text, left, right, top, bottom) in enumerate(boxes):
        for other, l2, r2, t2, b2 in boxes[i + 1:]:
            if left < r2 - 0.5 and l2 < right - 0.5 and top < b2 - 0.5 and t2 < bottom - 0.5:
                clashes.append((text, other))
    return clashes


@pytest.mark.parametrize("count", [8, 12, 24])
def test_quarterly_trend_labels_never_overlap_in_a_browser(tmp_path: Path, count: int) -> None:
    labels = quarters(2020, count)
    write_periods(tmp_path, labels, "quarter")
    indicator = dict(SCREENING, baseline={"value": 0.4, "period": labels[0]},
                     target={"value": 0.7, "period": labels[-1]})
    page = render_scorecard(tmp_path, INITIATIVE, [indicator], generated_at=GENERATED)
    for width in (1280, 800):
        boxes = drawn_boxes(page, tmp_path, width)
        trend_axis = [b for b in boxes["axis"] if re.fullmatch(r"(\d{4} )?Q\d|\d{4}", b[0])]
        assert trend_axis, boxes["axis"][:5]
        assert not overlaps(trend_axis), (width, overlaps(trend_axis)[:3])
        assert not overlaps(boxes["values"]), (width, overlaps(boxes["values"])[:3])
        # The latest value and the latest quarter are always named.
        assert boxes["values"][-1][0].startswith(f"{(400 + 9 * (count - 1)) / 10:.1f}%")
        last = labels[-1]
        assert any(b[0] in (f"{last[:4]} {last[4:]}", last[4:]) for b in trend_axis[-3:])
        if count <= 8:  # eight quarters fit as whole labels
            assert [b[0] for b in trend_axis] == [f"{q[:4]} {q[4:]}" for q in labels]
