"""Audit 12 (E): the scorecard's sentences at the edges, read against the published rows.

Each page is rendered from a small published folder (Parquet written here), as a real night's
would be, and read as text.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

from pipelines.scorecard import render_scorecard
from tests.test_scorecard import (DISPARITY_SCHEMA, GENERATED, INITIATIVE, KINDER,  # noqa: F401
                                  RESULT_SCHEMA, published, wilson, write_parquet)
from tests.test_scorecard_print import axe_script, axe_violations  # noqa: F401

MISSED = {"id": "missed_visits", "title": "Children who missed a well-child visit",
          "description": "", "unit": "percent", "direction": "lower_is_better",
          "baseline": None, "target": None}


def shown(indicator: str, period: str, num: int, den: int, *, tab: str = "total",
          race: str = "ALL", cls: str = "ALL") -> tuple:
    """A published, unsuppressed cell (zeros are shown, as suppress.py shows them)."""
    low, high = wilson(num, den)
    return ("north-star", indicator, period, "ALL", tab, race, cls, num, den, num / den,
            max(low, 0.0), min(high, 1.0), den < 30, False, None, "records")


def text_of(page: Path) -> str:
    html = page.read_text(encoding="utf-8")
    html = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_reference_group_at_zero_percent_still_shows_its_gaps(tmp_path: Path) -> None:
    """Not one White child missed a visit (0 of 60) and 24 of 60 Black children did: the
    disparities table publishes a difference of +40 points and no ratio (there is none to 0%).
    The key-gaps table left every row without a ratio out and said "No disparity comparisons
    are available for this indicator" beside a bar chart of 40% and 0%."""
    rows = [shown("missed_visits", "2024", 40, 200),
            shown("missed_visits", "2024", 24, 60, tab="alone", race="Black or African American"),
            shown("missed_visits", "2024", 0, 60, tab="alone", race="White"),
            shown("missed_visits", "2024", 16, 80, tab="alone", race="Hispanic or Latino")]
    gaps = [("north-star", "missed_visits", "2024", "ALL", "race", group, "White", rate, 0.0,
             None, rate, None, 2)
            for group, rate in (("Black or African American", 0.4), ("Hispanic or Latino", 0.2))]
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    write_parquet(tmp_path / "disparities.parquet", DISPARITY_SCHEMA, gaps)
    text = text_of(render_scorecard(tmp_path, INITIATIVE, [MISSED], generated_at=GENERATED))
    key = text.split("Key gaps compared with the reference group")[1]
    assert "No disparity comparisons are available" not in key
    # Most adverse first (lower is better: the highest rate above the reference's 0%).
    assert ("Black or African American 40.0% White 0.0% — +40.0 pts Higher (worse) "
            "Hispanic or Latino 20.0% White 0.0% — +20.0 pts Higher (worse)") in key
    assert "the reference group's rate is 0%, so no ratio can be worked out" in key

    spanish = text_of(render_scorecard(tmp_path, INITIATIVE, [MISSED], generated_at=GENERATED,
                                       language="es"))
    assert "la tasa del grupo de referencia es 0 %" in spanish
    assert "Más alto (peor)" in spanish.split("Brechas principales")[1]


def test_a_definition_with_no_breakdowns_says_they_are_not_published(tmp_path: Path) -> None:
    """`disaggregations: []` publishes totals only; the page said "No results by race and
    ethnicity", which reads as missing data rather than a definition that asks for none."""
    totals_only = dict(MISSED, id="ready", title="Ready for kindergarten",
                       direction="higher_is_better", disaggregations=[])
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA,
                  [shown("ready", "2024", 55, 100)])
    text = text_of(render_scorecard(tmp_path, INITIATIVE, [totals_only], generated_at=GENERATED))
    assert ("Not published: this indicator's definition does not break results down by race "
            "and ethnicity.") in text
    assert ("Not published: this indicator's definition does not break results down by "
            "household income.") in text
    assert "No results by" not in text


def test_one_period_without_a_baseline_does_not_say_there_is_no_latest_value(
        tmp_path: Path) -> None:
    """The card beside "Latest (2024) 55.0%" said "No baseline or latest value to compare."
    (Spanish: "No hay punto de partida ni último valor")."""
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA,
                  [shown("missed_visits", "2024", 55, 100)])
    text = text_of(render_scorecard(tmp_path, INITIATIVE, [MISSED], generated_at=GENERATED))
    card = text.split("Change since baseline")[1].split("Target")[0]
    assert "Not available No earlier result is shown to compare with." in card
    assert "latest value" not in text
    spanish = text_of(render_scorecard(tmp_path, INITIATIVE, [MISSED], generated_at=GENERATED,
                                       language="es"))
    assert "No se muestra ningún resultado anterior con el que comparar." in spanish
    assert "ni último valor" not in spanish


def test_no_one_measured_is_not_marked_as_a_less_reliable_estimate(tmp_path: Path) -> None:
    """An aggregate table of 0 of 0 is published with `low_reliability` (0 < 30): the trend table
    said "† Fewer than 30 families" beside "—", and the footnote "Based on fewer than 30
    families, so the estimate is less reliable" stood under a chart whose only † was that row."""
    housing = {"id": "housing", "title": "Families stably housed", "description": "",
               "unit": "percent", "direction": "higher_is_better", "counted": "families",
               "source": "aggregates", "baseline": None, "target": None}
    nobody = ("north-star", "housing", "2024", "ALL", "total", "ALL", "ALL", 0, 0, None, None,
              None, True, False, None, "aggregates")
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA,
                  [shown("housing", "2023", 50, 100), nobody])
    text = text_of(render_scorecard(tmp_path, INITIATIVE, [housing], generated_at=GENERATED))
    assert "2024 — — 0 of 0" in text
    assert "Fewer than 30 families" not in text and "less reliable" not in text
    assert "No one was measured in 2024." in text


def test_a_reference_group_never_measured_is_not_said_to_be_missing_one_period(
        tmp_path: Path) -> None:
    """Partners that send a class proxy only (free/reduced lunch) never have anyone in an income
    band: every indicator said "the reference group (400%+ FPG) has no results that period", as
    if 2024's data were short. A reference group absent only from the latest period keeps the
    period in its note."""
    rows = [shown("missed_visits", "2024", 40, 200),
            shown("missed_visits", "2024", 20, 100, cls="Low income (proxy)"),
            shown("missed_visits", "2024", 20, 100, cls="Not low income (proxy)"),
            shown("missed_visits", "2023", 30, 100, tab="alone", race="White"),
            shown("missed_visits", "2024", 40, 200, tab="alone", race="Hispanic or Latino")]
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    write_parquet(tmp_path / "disparities.parquet", DISPARITY_SCHEMA, [])
    text = text_of(render_scorecard(tmp_path, INITIATIVE, [MISSED], generated_at=GENERATED))
    assert ("No gaps by household income are shown: the reference group (400%+ FPG) has no "
            "results for this indicator in any period.") in text
    assert "(400%+ FPG) has no results that period" not in text
    assert ("No gaps by race and ethnicity are shown for 2024: the reference group (White) has "
            "no results that period.") in text
    spanish = text_of(render_scorecard(tmp_path, INITIATIVE, [MISSED], generated_at=GENERATED,
                                       language="es"))
    assert "no tiene resultados en ningún período de este indicador" in spanish


def test_alone_or_in_combination_is_not_said_to_always_exceed_100_percent(tmp_path: Path) -> None:
    """A partner whose system keeps one race per child has no multiracial children, and "Not
    reported" is in no alone-or-in-combination group: here the groups hold 75 of 100 children,
    yet the page said "these groups add up to more than 100% of people" (and, in "About these
    numbers", "those groups add up to more than 100%")."""
    rows = [shown("ready", "2024", 55, 100)]
    for tab in ("alone", "alone_or_in_combination"):
        rows += [shown("ready", "2024", 14, 25, tab=tab, race=race)
                 for race in ("Black or African American", "Hispanic or Latino", "White")]
    rows.append(shown("ready", "2024", 13, 25, tab="alone", race="Not reported"))
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA, rows)
    ready = dict(MISSED, id="ready", title="Ready for kindergarten", direction="higher_is_better")
    text = text_of(render_scorecard(tmp_path, INITIATIVE, [ready], generated_at=GENERATED))
    assert "these groups can add up to more than 100%." in text
    assert "those groups can add up to more than 100%." in text.split("About these numbers")[1]
    assert "groups add up to more than 100%" not in text
    spanish = text_of(render_scorecard(tmp_path, INITIATIVE, [ready], generated_at=GENERATED,
                                       language="es"))
    assert spanish.count("pueden sumar más del 100 %") == 2 and "grupos suman más" not in spanish


LONG_TITLE = ("Children who missed their well-child visit in the year, among all children enrolled "
              "with a partner clinic or school-based health center in Edgeville County")


def test_a_long_indicator_title_keeps_the_contents_links_apart(tmp_path: Path,  # noqa: F811
                                                              axe_script: str) -> None:
    """With a title that wraps in the two-column list of indicators, axe-core (WCAG 2.2 AA
    target-size) found the next links 22.8px apart, under the 24px the page promises to meet."""
    write_parquet(tmp_path / "indicator_results.parquet", RESULT_SCHEMA,
                  [shown("missed_visits", "2024", 40, 200)])
    indicators = [dict(MISSED, id=f"other{i}", title=title) for i, title in
                  enumerate(["Families stably housed", LONG_TITLE, "Third graders reading",
                             "Ready for kindergarten", "Developmental screening"])]
    indicators[1]["id"] = "missed_visits"
    page = render_scorecard(tmp_path, INITIATIVE, indicators, generated_at=GENERATED)
    assert [v["id"] for v in axe_violations(page, axe_script, tmp_path)] == []


def test_the_key_gaps_caption_does_not_call_the_least_favourable_the_largest(
        published: Path) -> None:  # noqa: F811
    """The table lists the three least favourable groups: in the shared fixture, Asian at 0.97×
    (2.5 points) is listed and Multiracial at 1.10× (7.5 points, in the group's favour) is not,
    under a caption that said "Largest gaps in 2024"."""
    text = text_of(render_scorecard(published, INITIATIVE, [KINDER], generated_at=GENERATED))
    key = text.split("Key gaps compared with the reference group")[1]
    assert "0.97×" in key and "1.10×" not in key
    assert "Largest gaps" not in text
    assert "Gaps in 2024, least favourable first (up to three per breakdown)." in key
    spanish = text_of(render_scorecard(published, INITIATIVE, [KINDER], generated_at=GENERATED,
                                       language="es"))
    assert "Brechas en 2024, de la menos favorable a la más favorable" in spanish
