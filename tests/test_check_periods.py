"""`backbone check` says which periods rows were read as, and which rows an indicator's grain
would not count (a yearly row for a quarterly indicator)."""

from __future__ import annotations

from typer.testing import CliRunner

from pipelines.check_periods import PeriodRows, period_lines
from pipelines.cli import app

runner = CliRunner()
HEADER = ("PersonalID,Visit Date,Visit Type,AmIndAKNative,Asian,BlackAfAmerican,HispanicLatinaeo,"
          "MidEastNAfrican,NativeHIPacific,White,RaceNone,HouseholdIncome,HouseholdSize,State,"
          "Dev Screen\n")


def _visit(person: int, when: str, screened: str = "Y") -> str:
    return f"RB{person},{when},Well child,0,0,0,0,0,0,1,,40000,3,WA,{screened}\n"


def _check(workspace, path):
    result = runner.invoke(app, ["check", str(path), "--partner", "northside_clinic",
                                 "--home", str(workspace.root)])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # the console wraps long lines


def test_check_lists_periods_and_notes_rows_too_coarse_for_a_quarterly_indicator(
        workspace, tmp_path):
    path = tmp_path / "visits.csv"
    path.write_text(HEADER + "".join(_visit(i, "2024") for i in range(3))  # a year: too coarse
                    + "".join(_visit(10 + i, "2024-02") for i in range(4))  # a month: fits
                    + _visit(20, "1/5/2024") + _visit(21, "1/5/2024") + _visit(22, "1/9/2024"))
    output = _check(workspace, path)
    assert "Periods the rows were read as:" in output
    assert "2024-01 (dated rows, 2 days): 3 rows" in output
    assert "2024-02 (month): 4 rows" in output
    assert "2024 (calendar year): 3 rows" in output
    # In time order, by first day (pipelines.periods.sort_key): the year starts on 1 January.
    assert output.index("2024 (calendar year)") < output.index("2024-01 (dated") \
        < output.index("2024-02 (month)")
    assert ("3 of 10 rows would not count in 'Young children with a developmental screening' "
            "(developmental_screening), which is measured quarterly") in output


def test_check_says_nothing_of_grains_when_every_row_fits(workspace, tmp_path):
    path = tmp_path / "visits.csv"
    path.write_text(HEADER + _visit(1, "3/30/2024") + _visit(2, "4/1/2024", "N"))
    output = _check(workspace, path)
    assert "2024-03 (dated rows, 1 day): 1 row" in output
    assert "2024-04 (dated rows, 1 day): 1 row" in output
    assert "would not count" not in output


def test_rows_outside_the_indicators_denominator_are_not_noted(workspace, tmp_path):
    path = tmp_path / "visits.csv"  # no screening result: not in the indicator's denominator
    path.write_text(HEADER + _visit(1, "2024", "") + _visit(2, "2024", ""))
    output = _check(workspace, path)
    assert "2024 (calendar year): 2 rows" in output
    assert "would not count" not in output


def test_a_long_list_of_periods_is_cut_and_summed():
    months = [PeriodRows(f"2024-{m:02d}", "month", m) for m in range(1, 13)]
    months += [PeriodRows(f"2025-{m:02d}", "month", 100) for m in range(1, 4)]
    lines = period_lines(months)
    assert len(lines) == 13
    assert lines[0] == "2024-01 (month): 1 row"
    assert lines[-1] == "...and 3 more periods, to 2025-03: 300 rows"
