"""Scorecard rendering: content, privacy labelling, escaping, offline-ness, and a real browser render."""

from __future__ import annotations

import math
import re
import shutil
import struct
import subprocess
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from pipelines.scorecard import render_scorecard

INITIATIVE = {
    "id": "north-star",
    "name": "North Star Youth Partnership",
    "description": "Partners across the county working so every child starts school ready and stays engaged.",
    "reference_groups": {"race": "White", "class": "400%+ FPG"},
    "suppression_threshold": 10,
}
KINDER = {
    "id": "kinder_ready", "title": "Children ready for kindergarten",
    "description": "Share of entering kindergartners meeting all readiness domains.",
    "unit": "percent", "direction": "higher_is_better",
    "target": {"value": 0.80, "period": "2027"}, "baseline": {"value": 0.55, "period": "2021"},
}
ABSENCE = {
    "id": "chronic_absence", "title": "Students chronically absent",
    "description": "Share of K-12 students missing 10% or more of school days.",
    "unit": "percent", "direction": "lower_is_better",
    "target": {"value": 0.25, "period": "2026"}, "baseline": None,
}
GENERATED = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
CHROMIUM_INSTALL = "apt-get update && apt-get install -y chromium"
WINDOW = (1280, 2400)

RESULT_SCHEMA = """initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, partner_id VARCHAR,
    race_tabulation VARCHAR, race VARCHAR, class VARCHAR, numerator BIGINT, denominator BIGINT,
    value DOUBLE, ci_lower DOUBLE, ci_upper DOUBLE, low_reliability BOOLEAN, suppressed BOOLEAN,
    suppression_reason VARCHAR, source VARCHAR"""
DISPARITY_SCHEMA = """initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, partner_id VARCHAR,
    dimension VARCHAR, group_label VARCHAR, reference_group VARCHAR, group_rate DOUBLE,
    reference_rate DOUBLE, rate_ratio DOUBLE, rate_difference DOUBLE, index_of_disparity DOUBLE,
    groups_compared INTEGER"""


def wilson(num: int, den: int, z: float = 1.96) -> tuple[float, float]:
    p = num / den
    centre = (p + z * z / (2 * den)) / (1 + z * z / den)
    half = z * math.sqrt(p * (1 - p) / den + z * z / (4 * den * den)) / (1 + z * z / den)
    return centre - half, centre + half


def result(indicator: str, period: str, num: int, den: int, *, tab: str = "total", race: str = "ALL",
           cls: str = "ALL", partner: str = "ALL", reason: str = "small_cell",
           initiative: str = "north-star") -> tuple:
    suppressed = num < 10 or den < 10 if reason == "small_cell" else True
    if suppressed:
        return (initiative, indicator, period, partner, tab, race, cls, None, None, None, None, None,
                False, True, reason, "records")
    lo, hi = wilson(num, den)
    return (initiative, indicator, period, partner, tab, race, cls, num, den, num / den, lo, hi,
            den < 30, False, None, "aggregates" if partner != "ALL" else "records")


def synthetic_results(extra: list[tuple] = ()) -> list[tuple]:
    rows = []
    for period, (num, den) in {"2021": (500, 1000), "2022": (540, 1020), "2023": (580, 1040), "2024": (651, 1050)}.items():
        rows.append(result("kinder_ready", period, num, den))
    race_alone = {
        "American Indian or Alaska Native": (14, 25, "complementary"), "Asian": (70, 100, None),
        "Black or African American": (120, 240, None), "Hispanic or Latino": (170, 300, None),
        "Middle Eastern or North African": (15, 22, None),  # low reliability: denominator < 30
        "Native Hawaiian or Pacific Islander": (4, 6, None),  # suppressed small cell
        "White": (232, 320, None), "Multiracial and/or Multiethnic": (26, 37, None),
    }
    for race, (num, den, reason) in race_alone.items():
        rows.append(result("kinder_ready", "2024", num, den, tab="alone", race=race, reason=reason or "small_cell"))
    for race, (num, den) in {"Asian": (82, 118), "Black or African American": (140, 275),
                             "Hispanic or Latino": (185, 326), "White": (250, 345),
                             "American Indian or Alaska Native": (30, 52)}.items():
        rows.append(result("kinder_ready", "2024", num, den, tab="alone_or_in_combination", race=race))
    for cls, (num, den) in {"Below 100% FPG": (150, 300), "100-199% FPG": (170, 290),
                            "200-399% FPG": (180, 260), "400%+ FPG": (140, 175),
                            "Low income (proxy)": (12, 20), "Not reported": (3, 5)}.items():
        rows.append(result("kinder_ready", "2024", num, den, cls=cls))
    for period, (num, den) in {"2021": (600, 2000), "2022": (5, 9), "2023": (560, 2000), "2024": (530, 2040)}.items():
        rows.append(result("chronic_absence", period, num, den))
    for race, (num, den) in {"Black or African American": (180, 500), "White": (150, 700), "Asian": (20, 140)}.items():
        rows.append(result("chronic_absence", "2024", num, den, tab="alone", race=race))
    # Rows that must never reach the page: a single partner's slice and another initiative.
    rows.append(result("kinder_ready", "2024", 50, 80, tab="alone", race="Partner-only group", partner="P1"))
    rows.append(result("kinder_ready", "2024", 50, 80, tab="alone", race="Other initiative group", initiative="elsewhere"))
    return rows + list(extra)


def disparity(indicator: str, dimension: str, group: str, ref: str, rate: float, ref_rate: float) -> tuple:
    return ("north-star", indicator, "2024", "ALL", dimension, group, ref, rate, ref_rate,
            rate / ref_rate, rate - ref_rate, 0.18, 6)


def synthetic_disparities() -> list[tuple]:
    return [
        disparity("kinder_ready", "race", "Black or African American", "White", 0.50, 0.725),
        disparity("kinder_ready", "race", "Hispanic or Latino", "White", 0.567, 0.725),
        disparity("kinder_ready", "race", "Asian", "White", 0.70, 0.725),
        disparity("kinder_ready", "race", "Multiracial and/or Multiethnic", "White", 0.80, 0.725),
        disparity("kinder_ready", "class", "Below 100% FPG", "400%+ FPG", 0.50, 0.80),
        disparity("chronic_absence", "race", "Black or African American", "White", 0.36, 0.214),
        disparity("chronic_absence", "race", "Asian", "White", 0.143, 0.214),
    ]


def write_parquet(path: Path, schema: str, rows: list[tuple]) -> None:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({schema})")
    if rows:
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()


@pytest.fixture
def published(tmp_path: Path) -> Path:
    out = tmp_path / "published"
    out.mkdir()
    write_parquet(out / "indicator_results.parquet", RESULT_SCHEMA, synthetic_results())
    write_parquet(out / "disparities.parquet", DISPARITY_SCHEMA, synthetic_disparities())
    return out


def render(published: Path, indicators: list[dict] | None = None, **kwargs) -> str:
    path = render_scorecard(published, INITIATIVE, indicators or [KINDER, ABSENCE], generated_at=GENERATED, **kwargs)
    return path.read_text(encoding="utf-8")


def sections(html: str) -> list[str]:
    return html.split('<section class="indicator"')[1:]


def test_writes_default_path_with_every_indicator(published: Path) -> None:
    path = render_scorecard(published, INITIATIVE, [KINDER, ABSENCE], generated_at=GENERATED)
    assert path == published / "scorecard.html"
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html
    assert "<h1>North Star Youth Partnership</h1>" in html
    for ind in (KINDER, ABSENCE):
        assert f">{ind['title']}</h2>" in html
    assert "Data as of March 1, 2025 at 12:00 UTC" in html
    # Atomic write leaves nothing behind but the inputs and the page.
    assert sorted(p.name for p in published.iterdir()) == [
        "disparities.parquet", "indicator_results.parquet", "scorecard.html"]


def test_custom_out_path_replaces_existing_file(published: Path, tmp_path: Path) -> None:
    target = tmp_path / "site" / "north-star.html"
    target.parent.mkdir()
    target.write_text("stale")
    path = render_scorecard(published, INITIATIVE, [KINDER], target, generated_at=GENERATED)
    assert path == target
    assert "Children ready for kindergarten" in target.read_text(encoding="utf-8")
    assert [p.name for p in target.parent.iterdir()] == ["north-star.html"]
    assert not (published / "scorecard.html").exists()


def test_only_unduplicated_rows_for_this_initiative(published: Path) -> None:
    html = render(published)
    assert "Partner-only group" not in html
    assert "Other initiative group" not in html


def test_suppressed_cells_are_labelled_not_dropped(published: Path) -> None:
    kinder, absence = sections(render(published))
    # NHPI (small cell) and two small income groups are placeholders in chart and table.
    race_chart = kinder.split("By race and ethnicity")[1].split("By household income")[0]
    assert "Native Hawaiian or Pacific Islander" in race_chart
    assert "Hidden: a count of 1 to 10" in race_chart  # hatched bar
    assert "Hidden: 1 to 10 people in this group, or 1 to 10 of them" in race_chart  # table note
    assert "Hidden: protects a small group" in race_chart  # complementary suppression
    income_chart = kinder.split("By household income")[1].split("Key gaps")[0]
    assert "Hidden: a count of 1 to 10" in income_chart
    assert 'fill="url(#ind0-race-alone-hatch)"' in race_chart
    # A suppressed trend period is a labelled gap, not a silent hole.
    trend = absence.split("Trend over time")[1].split("By race and ethnicity")[0]
    assert trend.count(">Hidden</text>") == 1
    assert ">a count of 1 to 10</text>" in trend


def test_low_reliability_values_marked_with_footnote(published: Path) -> None:
    kinder, absence = sections(render(published))
    assert "68.2% †" in kinder  # MENA 15 of 22
    assert "60.0% †" in kinder  # Low income (proxy) 12 of 20
    assert "Based on fewer than 30 people" in kinder
    assert "Based on fewer than 30 people" not in absence


def test_headline_trend_and_target_respect_direction(published: Path) -> None:
    kinder, absence = sections(render(published))
    assert "Latest (2024)" in kinder and "62.0%" in kinder
    # Measured 2021 (500 of 1,000) is the baseline, not the 55% typed into the definition.
    low, high = wilson(500, 1000)
    assert "▲ Up 12.0 percentage points" in kinder
    assert f"since 2021 (50.0%, 95% CI {low * 100:.1f}–{high * 100:.1f}%)" in kinder
    assert "The plan declared 55.0% for 2021; the measured value is used." in kinder
    assert '<span class="tag better">Improving</span>' in kinder
    assert "18.0 percentage points to go" in kinder and "Goal: 80.0% by 2027" in kinder
    assert ">2027</text>" in kinder  # target period extends the trend axis
    # Lower is better and no declared baseline: falling from 30% to 26% is an improvement.
    assert "▼ Down 4.0 percentage points" in absence
    assert "since 2021 (30.0%, 95% CI" in absence
    assert '<span class="tag better">Improving</span>' in absence
    assert "Lower is better" in absence


def test_alone_or_in_combination_section_has_over_100_note(published: Path) -> None:
    kinder, absence = sections(render(published))
    assert "Race, alone or in combination (2024)" in kinder
    assert "add up to more than 100%" in kinder.split("Race, alone or in combination")[1]
    assert "Race, alone or in combination" not in absence


def test_key_disparities_show_most_adverse_gaps_first(published: Path) -> None:
    kinder, absence = sections(render(published))
    gaps = kinder.split("Key gaps")[1]
    assert gaps.index("0.69×") < gaps.index("0.78×") < gaps.index("0.97×")  # Black, Hispanic, Asian
    assert "1.10×" not in gaps  # only three per dimension
    assert "0.62×" in gaps and "Lower (worse)" in gaps
    absence_gaps = absence.split("Key gaps")[1]
    assert absence_gaps.index("1.68×") < absence_gaps.index("0.67×")
    # Asian 20 of 140 vs White 150 of 700: the difference's 95% interval includes zero.
    assert "Higher (worse)" in absence_gaps and "No clear difference" in absence_gaps
    assert "Lower (better)" not in absence_gaps


def test_every_chart_has_a_captioned_table(published: Path) -> None:
    html = render(published)
    charts = html.count('role="img"')
    assert charts == 2 + 3 + 1  # trends, kinder race/class/aic, absence race
    assert html.count("<caption>Data for the") == charts


def test_no_external_resources(published: Path) -> None:
    html = render(published)
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?\s*(?:[a-z]+:)?//""", html, re.I)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', html))


def test_text_from_config_is_escaped(tmp_path: Path) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, synthetic_results(
        [result("kinder_ready", "2024", 40, 90, tab="alone", race=hostile)]))
    indicator = dict(KINDER, title='Reading <script>alert("pwned")</script>')
    html = render_scorecard(tmp_path, INITIATIVE, [indicator], generated_at=GENERATED).read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_renders_when_disparities_missing(published: Path) -> None:
    (published / "disparities.parquet").unlink()
    html = render(published)
    assert "Disparity comparisons have not been published" in html
    assert html.count("No disparity comparisons are available for this indicator.") == 2
    assert "Children ready for kindergarten" in html and "By race and ethnicity (2024)" in html


def test_renders_when_disparities_empty(published: Path) -> None:
    write_parquet(published / "disparities.parquet", DISPARITY_SCHEMA, [])
    html = render(published)
    assert "Disparity comparisons have not been published" not in html
    assert html.count("No disparity comparisons are available for this indicator.") == 2


def test_suppressed_latest_period_is_labelled_in_headline(tmp_path: Path) -> None:
    rows = [result("enrolled", "2023", 300, 600), result("enrolled", "2024", 5, 8)]
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    indicator = dict(KINDER, id="enrolled", title="Enrolled in pre-K", baseline=None)
    html = render_scorecard(tmp_path, INITIATIVE, [indicator], generated_at=GENERATED).read_text()
    card = html.split("Latest (2024)")[1].split("Trend over time")[0]
    assert "Hidden to protect privacy" in card
    assert "Hidden: 1 to 10 people in this group, or 1 to 10 of them with (or without)" in card
    assert "Not available" in card  # no trend claim from a hidden number
    assert "The latest number is hidden to protect privacy." in card
    assert "Improving" not in card and "Getting worse" not in card
    # KINDER's target still stands: only the progress towards it is unknown.
    assert "No target set" not in card and "Goal: " in card
    assert "Progress is not shown: the latest number is hidden." in card
    assert "Target met" not in card and "Not yet met" not in card


def test_indicator_without_results_says_so(published: Path) -> None:
    ghost = dict(KINDER, id="not_yet", title="Families with a medical home")
    html = render(published, [KINDER, ghost])
    assert "Families with a medical home" in sections(html)[1]
    assert "No results have been published for this indicator yet." in sections(html)[1]


# ------------------------------------------------------------------ real browser render

def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def screenshot(html: Path, png: Path, tmp: Path) -> None:
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if chromium is None:
        pytest.fail(f"Chromium is required for the scorecard screenshot test; install it with: {CHROMIUM_INSTALL}")
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / ('profile-' + png.stem)}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={png}", html.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and png.exists(), f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"


def test_browser_screenshot_is_rendered_and_not_blank(published: Path, tmp_path: Path) -> None:
    page = render_scorecard(published, INITIATIVE, [KINDER, ABSENCE], generated_at=GENERATED)
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><head><title>blank</title></head><body></body></html>")
    shot, blank_shot = tmp_path / "scorecard.png", tmp_path / "blank.png"
    screenshot(page, shot, tmp_path)
    screenshot(blank, blank_shot, tmp_path)
    assert png_size(shot) == WINDOW
    assert png_size(blank_shot) == WINDOW
    # A white page compresses to almost nothing; charts and text cannot.
    assert shot.stat().st_size > 20 * blank_shot.stat().st_size, (shot.stat().st_size, blank_shot.stat().st_size)


# ------------------------------------------------------------------ what the page says, as rendered

class _VisibleText(HTMLParser):
    """Text a reader sees (or a screen reader reads) in a DOM Chromium serialised."""

    SKIP = {"style", "script", "head"}

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def browser_text(page: Path, tmp: Path) -> str:
    """Render `page` in headless Chromium and return its visible text, whitespace collapsed."""
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if chromium is None:
        pytest.fail(f"Chromium is required for the scorecard tests; install it with: {CHROMIUM_INSTALL}")
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp / 'profile-dom'}", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "<body" in proc.stdout, proc.stderr[-2000:]
    parser = _VisibleText()
    parser.feed(proc.stdout)
    return " ".join(" ".join(parser.parts).split())


WELL_CHILD = {
    "id": "well_child", "title": "Children with a well-child visit", "description": "",
    "unit": "percent", "direction": "higher_is_better", "counted": "people",
    "baseline": {"value": 0.61, "period": "2022"}, "target": {"value": 0.80, "period": "2027"},
}


def _well_child_rows(latest: tuple[int, int]) -> list[tuple]:
    return [result("well_child", "2022", 660, 1000), result("well_child", "2023", 655, 1000),
            result("well_child", "2024", *latest)]


def test_change_since_baseline_compares_with_the_measured_baseline(tmp_path: Path) -> None:
    # The sample's bug: the YAML says 61% for 2022 but 66.0% was measured; the chart falls to
    # 64.2%, so "Up 3.2 points, Improving" contradicted the page's own chart.
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, _well_child_rows((642, 1000)))
    page = render_scorecard(tmp_path, INITIATIVE, [WELL_CHILD], generated_at=GENERATED)
    text = browser_text(page, tmp_path)
    card = text.split("Change since baseline")[1].split("Target")[0]
    low, high = wilson(660, 1000)
    assert "▼ Down 1.8 percentage points" in card
    assert f"since 2022 (66.0%, 95% CI {low * 100:.1f}–{high * 100:.1f}%)" in card
    # 1.8 points on 1,000 people each is within the margin of error: no verdict either way.
    assert "No clear change" in card and "within the margin of error" in card
    assert "Improving" not in card and "Up" not in card
    assert "The plan declared 61.0% for 2022; the measured value is used." in card
    # The chart's baseline line is the number the text compares with.
    trend = text.split("Trend over time")[1].split("Show the numbers")[0]
    assert "Baseline 66.0% (2022)" in trend and "61.0%" not in trend

    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, _well_child_rows((560, 1000)))
    card = browser_text(render_scorecard(tmp_path, INITIATIVE, [WELL_CHILD], generated_at=GENERATED),
                        tmp_path).split("Change since baseline")[1].split("Target")[0]
    assert "▼ Down 10.0 percentage points" in card and "Getting worse" in card


def test_declared_baseline_only_when_nothing_was_measured_for_it(tmp_path: Path) -> None:
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, _well_child_rows((700, 1000)))
    declared = dict(WELL_CHILD, baseline={"value": 0.61, "period": "2020"})
    text = browser_text(render_scorecard(tmp_path, INITIATIVE, [declared], generated_at=GENERATED), tmp_path)
    card = text.split("Change since baseline")[1].split("Target")[0]
    assert "▲ Up 9.0 percentage points" in card
    assert "since the declared 2020 baseline of 61.0% (no results for 2020)" in card
    assert "Improving" in card

    hidden = [result("well_child", "2022", 5, 9), result("well_child", "2024", 700, 1000)]
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, hidden)
    text = browser_text(render_scorecard(tmp_path, INITIATIVE, [WELL_CHILD], generated_at=GENERATED), tmp_path)
    card = text.split("Change since baseline")[1].split("Target")[0]
    assert "Not available" in card
    assert "The 2022 baseline number is hidden to protect privacy, so no change is shown." in card


def test_suppression_labels_say_the_rule_and_tell_primary_from_complementary(tmp_path: Path) -> None:
    rows = [
        result("kinder_ready", "2024", 600, 1000),
        # 3 of 200 met the benchmark: 200 people, but a count of 3 is still shown nowhere.
        result("kinder_ready", "2024", 3, 200, tab="alone", race="Asian", reason="primary"),
        result("kinder_ready", "2024", 150, 300, tab="alone", race="Hispanic or Latino", reason="complementary"),
        result("kinder_ready", "2024", 300, 500, tab="alone", race="White"),
    ]
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    text = browser_text(render_scorecard(tmp_path, INITIATIVE, [KINDER], generated_at=GENERATED), tmp_path)
    assert "fewer than 10" not in text and "Suppressed" not in text
    race = text.split("By race and ethnicity")[1].split("By household income")[0]
    assert "Asian Hidden: a count of 1 to 10" in race
    assert "Hidden: 1 to 10 people in this group, or 1 to 10 of them with (or without) the result" in race
    assert "Hispanic or Latino Hidden: protects a small group" in race
    assert "cannot be worked out by subtraction (this number itself is not small)" in race
    about = text.split("About these numbers")[1]
    assert "a group of 1 to 10 people: the people counted, those with the result, or those without it" in about


def test_a_suppressed_reference_group_says_why_no_gap_is_shown(tmp_path: Path) -> None:
    rows = [result("kinder_ready", "2024", 600, 1000),
            result("kinder_ready", "2024", 150, 300, tab="alone", race="Hispanic or Latino"),
            result("kinder_ready", "2024", 5, 8, tab="alone", race="White"),
            result("kinder_ready", "2024", 140, 300, cls="Below 100% FPG")]
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    write_parquet(tmp_path / "disparities.parquet", DISPARITY_SCHEMA, [])
    text = browser_text(render_scorecard(tmp_path, INITIATIVE, [KINDER], generated_at=GENERATED), tmp_path)
    gaps = text.split("Key gaps compared with the reference group")[1]
    assert ("No gaps by race and ethnicity are shown for 2024: the reference group (White) is hidden "
            "to protect privacy, so there is nothing to compare with.") in gaps
    # 400%+ FPG is in no period at all (audit 12: not "has no results that period").
    assert ("No gaps by household income are shown: the reference group (400%+ FPG) has no "
            "results for this indicator in any period.") in gaps


HOUSING = {"id": "stable_housing", "title": "Families stably housed", "description": "",
           "unit": "percent", "direction": "higher_is_better", "counted": "families",
           "source": "aggregates", "baseline": None, "target": None}


def test_units_follow_the_indicator_and_aggregates_are_not_called_unduplicated(tmp_path: Path) -> None:
    rows = [result("stable_housing", "2023", 700, 1000), result("stable_housing", "2024", 20, 25),
            result("kinder_ready", "2024", 600, 1000)]
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    text = browser_text(render_scorecard(tmp_path, INITIATIVE, [HOUSING, KINDER], generated_at=GENERATED), tmp_path)
    housing_text = text.split("Families stably housed ▲")[1].split("Children ready for kindergarten ▲")[0]
    assert "Based on 25 families" in housing_text
    assert "Fewer than 30 families" in housing_text and "Families" in housing_text
    assert "counted once" not in housing_text and " people" not in housing_text
    assert "families served by more than one partner may be counted more than once" in housing_text
    kinder = text.split("Children ready for kindergarten ▲")[1].split("About these numbers")[0]
    assert "Based on 1,000 people" in kinder and "each counted once even if served by several partners" in kinder
    about = text.split("About these numbers")[1]
    assert "Families stably housed: these are summary counts partners report directly" in about


def test_a_quarterly_aggregate_trend_is_not_said_to_count_anyone_once(tmp_path: Path) -> None:
    rows = [result("stable_housing", "2024 Q1", 700, 1000), result("stable_housing", "2024 Q2", 720, 1000),
            result("kinder_ready", "2024", 600, 1000)]
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    initiative = dict(INITIATIVE, period_types={"stable_housing": "quarter"})
    text = browser_text(render_scorecard(tmp_path, initiative, [HOUSING, KINDER], generated_at=GENERATED), tmp_path)
    housing_text = text.split("Families stably housed ▲")[1].split("Children ready for kindergarten ▲")[0]
    assert "One point per quarter: the partners' counts for that quarter, added up." in housing_text
    assert "counted once" not in housing_text and "someone" not in housing_text


def test_about_these_numbers_explains_the_methods(published: Path, tmp_path: Path) -> None:
    text = browser_text(render_scorecard(published, INITIATIVE, [KINDER, ABSENCE], generated_at=GENERATED), tmp_path)
    about = text.split("About these numbers")[1]
    assert "Hidden: a count of 1 to 10" in about and "Hidden: protects a small group" in about
    assert "Wilson score interval" in about
    assert "† (a dagger) marks rates based on fewer than 30 people" in about
    assert "their race is every race any partner reported for them that period" in about
    assert ("their income group is the lowest any partner reported, with income-based groups (FPG) "
            "taking priority over program-eligibility proxies") in about


def test_audience_and_guideline_year_notices(published: Path, tmp_path: Path) -> None:
    initiative = dict(INITIATIVE, audience="partnership",
                      guideline_notes=[{"period": "2026", "guideline_year": 2025, "beyond_latest": True}])
    text = browser_text(render_scorecard(published, initiative, [KINDER], generated_at=GENERATED), tmp_path)
    assert "Partnership preview, not the public scorecard." in text
    assert ("Household income groups for 2026 use the 2025 HHS poverty guidelines, the latest "
            "available") in text
    public = browser_text(render_scorecard(published, dict(INITIATIVE, audience="public"), [KINDER],
                                           generated_at=GENERATED), tmp_path)
    assert "Partnership preview" not in public and "poverty guidelines, the latest available" not in public


def test_scorecard_is_world_readable(published: Path) -> None:
    page = render_scorecard(published, INITIATIVE, [KINDER], generated_at=GENERATED)
    assert page.stat().st_mode & 0o777 == 0o644


def test_the_race_note_and_the_dagger_note_follow_counted(tmp_path: Path) -> None:
    """Audit 11 (A): a households indicator said "Each person counted in one group", and "About
    these numbers" said the dagger marks "fewer than 30 people (or families)" on a page whose
    daggers also marked fewer than 30 households."""
    households = dict(HOUSING, title="Households stably housed", counted="households")
    rows = [result("stable_housing", "2024", 20, 25), result("kinder_ready", "2024", 600, 1000)]
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    html = render_scorecard(tmp_path, INITIATIVE, [households, KINDER],
                            generated_at=GENERATED).read_text(encoding="utf-8")
    housing, kinder = html.split("Households stably housed</h2>")[1].split(
        "Children ready for kindergarten</h2>")[:2]
    assert "Each household counted in one group (“alone”)." in housing
    assert "Each person counted in one group" not in housing
    assert "Each person counted in one group (“alone”)." in kinder
    about = html.split("About these numbers")[-1]
    assert "marks rates based on fewer than 30 people or households." in about
    spanish = render_scorecard(tmp_path, INITIATIVE, [households, KINDER], generated_at=GENERATED,
                               language="es").read_text(encoding="utf-8")
    assert "Cada hogar se cuenta en un solo grupo" in spanish
    assert "menos de 30 personas o hogares." in spanish
    only_people = render_scorecard(tmp_path, INITIATIVE, [KINDER], generated_at=GENERATED)
    assert "fewer than 30 people. They" in only_people.read_text(encoding="utf-8")


def test_the_guideline_year_sentence_says_each_record_uses_its_own_year(published: Path) -> None:
    """Audit 12 (A): "About these numbers" said "Each period uses the guidelines of the year it
    starts in", but a record is priced by the year its own date or period starts in (README,
    Equity): a school year 2025-26 (August start) fed by clinic visits of March 2026 classes
    those visits with the 2026 guidelines, not 2025's as the page told its readers."""
    english = render(published)
    assert "Each period uses the guidelines of the year it starts in" not in english
    assert ("Each record is compared with the guidelines of the year its own date or period "
            "starts in, whatever period it is counted in") in english
    spanish = render_scorecard(published, INITIATIVE, [KINDER, ABSENCE], generated_at=GENERATED,
                               language="es").read_text(encoding="utf-8")
    assert "Cada registro se compara con las pautas del año en que empieza su propia fecha" in spanish


def test_a_gap_to_a_reference_rate_of_zero_is_shown_not_called_unavailable(tmp_path: Path) -> None:
    """Audit 12 (A): when no one in the reference group had the (adverse) outcome, 0 of 200
    White students chronically absent, disparities.parquet has each group's difference but no
    ratio, and "Key gaps" dropped every such row: the page said "No disparity comparisons are
    available for this indicator" beside groups 20 and 30 points worse."""
    rows = [result("chronic_absence", "2024", 250, 1000)]
    for race, (num, den) in {"White": (0, 200), "Black or African American": (90, 300),
                             "Asian": (40, 200)}.items():
        low, high = wilson(num, den)
        rows.append(("north-star", "chronic_absence", "2024", "ALL", "alone", race, "ALL", num,
                     den, num / den, max(0.0, low), high, False, False, None, "records"))
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    write_parquet(tmp_path / "disparities.parquet", DISPARITY_SCHEMA, [
        ("north-star", "chronic_absence", "2024", "ALL", "race", group, "White", rate, 0.0, None,
         rate, None, 2) for group, rate in (("Black or African American", 0.3), ("Asian", 0.2))])
    html = render_scorecard(tmp_path, INITIATIVE, [ABSENCE],
                            generated_at=GENERATED).read_text(encoding="utf-8")
    gaps = html.split("Key gaps compared with the reference group")[1]
    assert "No disparity comparisons are available" not in gaps
    black, asian = gaps.index("Black or African American"), gaps.index("Asian")
    assert black < asian, "the larger gap first (lower is better)"
    assert gaps.count("+30.0 pts") == 1 and gaps.count("+20.0 pts") == 1
    assert gaps.count("Higher (worse)") == 2
