"""Audit 10 (S): what scorecard readers are told agrees with the numbers shown beside it."""

from __future__ import annotations

from pipelines.scorecard_charts import _key_disparities
from pipelines.scorecard_i18n import use_language
from pipelines.scorecard_text import headline


def _cell(race: str, klass: str, tabulation: str, numerator: int, denominator: int,
          low: float, high: float) -> dict:
    return {"period": "2024", "race": race, "class": klass, "race_tabulation": tabulation,
            "numerator": numerator, "denominator": denominator,
            "value": numerator / denominator, "ci_lower": low, "ci_upper": high,
            "suppressed": False, "low_reliability": False}


def _gap(dimension: str, group: str, reference: str, group_rate: float, ref_rate: float) -> dict:
    return {"period": "2024", "period_order": (1,), "period_label": "2024",
            "dimension": dimension, "group_label": group, "reference_group": reference,
            "group_rate": group_rate, "reference_rate": ref_rate,
            "rate_ratio": group_rate / ref_rate, "rate_difference": group_rate - ref_rate}


# 61 of 132 vs 62 of 132 (Wilson intervals as published): no real difference; 20 of 80 vs
# 74 of 120: a clear one.
RESULTS = [
    _cell("ALL", "Below 100% FPG", "total", 61, 132, 0.379345, 0.547039),
    _cell("ALL", "400%+ FPG", "total", 62, 132, 0.386622, 0.554486),
    _cell("Black or African American", "ALL", "alone", 20, 80, 0.168062, 0.354847),
    _cell("White", "ALL", "alone", 74, 120, 0.527341, 0.698755),
]
GAPS = [
    _gap("class", "Below 100% FPG", "400%+ FPG", 61 / 132, 62 / 132),
    _gap("race", "Black or African American", "White", 20 / 80, 74 / 120),
]


def _comparisons(language: str = "en") -> dict:
    with use_language(language):
        found = _key_disparities(GAPS, "higher_is_better", "percent", RESULTS)
    return {g["dimension"]: g["rows"][0]["comparison"] for g in found["groups"]}


def test_a_gap_inside_the_margin_of_error_is_not_called_worse() -> None:
    said = _comparisons()
    assert said["Household income"] == "No clear difference"  # was "Lower (worse)" for -0.8 pts
    assert said["Race and ethnicity"] == "Lower (worse)"


def test_a_gap_inside_the_margin_of_error_in_spanish() -> None:
    said = _comparisons("es")
    assert said["Ingresos del hogar"] == "Sin diferencia clara"
    assert said["Raza y etnia"] == "Más bajo (peor)"


def _target_text(value: float, target: float, direction: str, language: str = "en") -> dict:
    indicator = {"id": "x", "target": {"value": target, "period": "2025", "label": "2025"}}
    row = {"period": "2025", "period_label": "2025", "suppressed": False, "value": value,
           "ci_lower": value - 0.02, "ci_upper": value + 0.02, "low_reliability": False,
           "denominator": 2657, "numerator": round(value * 2657)}
    with use_language(language):
        head = headline(indicator, [row], "percent", direction, 10, "people")
    return {"value": head["value"], **head["target"]}


def test_not_met_by_less_than_the_shown_precision_does_not_say_zero_to_go() -> None:
    said = _target_text(1593 / 2657, 0.60, "higher_is_better")  # 59.955%, shown as 60.0%
    assert said["value"] == "60.0%" and said["met"] is False
    assert said["text"] == "Less than 0.1 percentage points to go"
    said = _target_text(0.4504, 0.45, "lower_is_better")
    assert said["met"] is False and said["text"] == "Less than 0.1 percentage points to go"
    assert _target_text(0.4504, 0.45, "lower_is_better", "es")["text"] == (
        "faltan menos de 0,1 puntos porcentuales")
    # Further away, the gap is said as before.
    assert _target_text(0.466, 0.60, "higher_is_better")["text"] == (
        "13.4 percentage points to go")


def test_a_baseline_declared_after_the_latest_results_is_no_change_since() -> None:
    from pipelines.periods import DEFAULT_CALENDAR
    from pipelines.scorecard_periods import annotate, milestone

    rows = [{"period": str(year), "period_type": "year", "suppressed": False, "value": value,
             "ci_lower": value - 0.03, "ci_upper": value + 0.03, "low_reliability": False,
             "denominator": 900, "numerator": round(value * 900)}
            for year, value in ((2023, 0.40), (2024, 0.45))]
    annotate(rows, "year", DEFAULT_CALENDAR)
    indicator = {"id": "x", "baseline": milestone({"value": 0.30, "period": "2025"}, "year",
                                                  DEFAULT_CALENDAR)}
    head = headline(indicator, rows, "percent", "higher_is_better", 10, "people")
    # Was: "Up 15.0 percentage points since the declared 2025 baseline ... Improving".
    assert head["trend"] is None
    assert head["no_trend"] == ("The 2025 baseline period comes after the latest results "
                                "(2024), so no change is shown yet.")
    # A declared baseline before the latest results still compares, as before.
    indicator["baseline"] = milestone({"value": 0.30, "period": "2022"}, "year", DEFAULT_CALENDAR)
    head = headline(indicator, rows, "percent", "higher_is_better", 10, "people")
    assert head["trend"]["word"] == "Improving" and head["trend"]["kind"] == "declared"


def test_a_story_with_one_group_that_took_part_does_not_stop_the_initiative(tmp_path) -> None:
    from pipelines.scorecard_stories import load_story

    path = tmp_path / "reading.md"
    path.write_text('---\nperiod: "2024"\ndate: 2025-03-01\ntook_part: Parents from the family '
                    'council\n---\nWe met and talked about reading.\n', encoding="utf-8")
    # Was: ConfigError "took_part: Input should be a valid tuple", and the whole initiative
    # skipped for the night (its partners' files left in intake).
    story = load_story(path, {"reading"})
    assert story.meta.took_part == ("Parents from the family council",)


def test_a_latest_period_not_over_yet_is_said_to_be_so_far() -> None:
    from datetime import date

    from pipelines.periods import DEFAULT_CALENDAR
    from pipelines.scorecard_periods import annotate

    rows = [{"period": str(year), "period_type": "year", "period_start": date(year, 1, 1),
             "period_end": date(year, 12, 31), "suppressed": False, "value": value,
             "ci_lower": value - 0.05, "ci_upper": value + 0.05, "low_reliability": False,
             "denominator": 300, "numerator": round(value * 300)}
            for year, value in ((2025, 0.66), (2026, 0.20))]
    annotate(rows, "year", DEFAULT_CALENDAR)
    indicator = {"id": "x"}
    # Data of 2 December 2026: 2026 holds only the files sent so far (was: no word of it).
    head = headline(indicator, rows, "percent", "higher_is_better", 10, "people",
                    as_of=date(2026, 12, 2))
    assert head["in_progress"].startswith("2026 is not over yet")
    with use_language("es"):
        head = headline(indicator, rows, "percent", "higher_is_better", 10, "people",
                        as_of=date(2026, 12, 2))
    assert head["in_progress"].startswith("2026 aún no ha terminado")
    # Once the period is over nothing is added.
    assert headline(indicator, rows, "percent", "higher_is_better", 10, "people",
                    as_of=date(2027, 1, 1))["in_progress"] == ""


def _note_after(tmp_path, config, changed_part: str) -> str:
    import datetime as dt

    from pipelines.release_note import indicator_definitions, write_release_note

    before = indicator_definitions(config)
    first = next(iter(before))
    before[first] = {**before[first], changed_part: "0" * 12}
    previous = {"release_id": "r1", "released_at": "2026-11-01",
                "definitions_fingerprint": "an older one",
                "suppression_threshold": config.initiative.suppression.threshold,
                "indicator_definitions": before}
    note = tmp_path / f"{changed_part}.md"
    write_release_note(note, config, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"},
                       previous, [])
    return note.read_text()


def test_a_new_target_is_not_said_to_change_published_numbers(tmp_path, config) -> None:
    text = _note_after(tmp_path, config, "target")
    assert ": target." in text
    # Was: "Numbers below can differ because of this change" (a goal moves no count).
    assert "Numbers below can differ" not in text
    assert "no number below changed because of it" in text
    text = _note_after(tmp_path, config, "conditions")
    assert "who is counted" in text and "Numbers below can differ because of this change" in text


def test_a_latest_period_of_0_of_0_is_not_called_hidden() -> None:
    indicator = {"id": "housed", "target": {"value": 0.85, "period": "2026", "label": "2026"},
                 "baseline": {"value": 0.70, "period": "2023", "label": "2023"}}
    rows = [{"period": "2023", "period_label": "2023", "suppressed": False, "value": 0.75,
             "ci_lower": 0.69, "ci_upper": 0.80, "low_reliability": False, "denominator": 200,
             "numerator": 150},
            # An aggregate partner's table of 0 of 0 (published, not suppressed).
            {"period": "2024", "period_label": "2024", "suppressed": False, "value": None,
             "ci_lower": None, "ci_upper": None, "low_reliability": True, "denominator": 0,
             "numerator": 0}]
    head = headline(indicator, rows, "percent", "higher_is_better", 10, "families")
    # Was: "Progress is not shown: the latest number is hidden." and a † beside "—".
    assert head["target"]["text"] == "Progress is not shown: no one was measured in 2024."
    assert head["no_trend"] == "No one was measured in 2024."
    assert head["low_reliability"] is False and head["suppressed"] is False
    with use_language("es"):
        head = headline(indicator, rows, "percent", "higher_is_better", 10, "families")
    assert head["target"]["text"] == "No se muestra el avance: no se midió a nadie en 2024."
