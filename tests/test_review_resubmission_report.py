"""Review: the held-file report must not say a part shrinks "more than half" when it does not."""

from pipelines.resubmission import PartChange
from pipelines.resubmission_report import sections


def _held(part, before, carried, kept):
    return PartChange((part,), [7], before, carried, kept, after=carried, decision="replaced",
                      held=True)


def test_only_the_part_that_shrinks_too_far_is_said_to():
    # One file, two periods: 2023 drops 80 of 100 (the reason it is held), 2024 drops 10 of 100.
    changes = [_held(2023, 100, 20, 20), _held(2024, 100, 90, 90)]
    text = "\n".join(sections(changes, "held", "rows", 0.5, [], "data/archive/x.csv"))
    line_2023 = next(line for line in text.splitlines() if line.startswith("- **2023**"))
    line_2024 = next(line for line in text.splitlines() if line.startswith("- **2024**"))
    assert "more than half" in line_2023
    assert "more than" not in line_2024
    assert "would give 90 rows" in line_2024


def test_the_configured_shrink_limit_is_named():
    changes = [_held(2023, 100, 60, 60)]  # drops 40%: held only under a 30% limit
    text = "\n".join(sections(changes, "held", "rows", 0.5, [], "x", max_shrink=0.3))
    assert "more than half" not in text
    assert "more than 30%" in text


def test_the_run_summary_does_not_call_unmeasured_data_invalid_definitions():
    from pipelines.run_summary import run_summary_markdown

    text = run_summary_markdown([{"initiative": "riverbend", "files": [],
                                  "error": "no guideline for 2014",
                                  "error_kind": "not measured"}], "run-1")
    assert "not measured" in text and "definitions invalid" not in text
