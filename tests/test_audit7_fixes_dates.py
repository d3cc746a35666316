"""Session 7, finding A2: a date-time in a date column is read as its day. Excel (US locale) saves a
date-time cell to CSV as `10/1/2024 0:00` or `10/01/2024 12:00:00 AM`; ISO date-times were read,
these were `bad_period`. Month/day order is the US one the README documents for 3/15/2024."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import test_audit7_scenario as J
from pipelines.feedback import bad_rows, write_report
from pipelines.intake import stage_file
from pipelines.periods import parse_label


@pytest.mark.parametrize("text, day", [
    ("10/1/2024 0:00", "2024-10-01"), ("10/01/2024 12:00:00 AM", "2024-10-01"),
    ("10/1/2024 13:45", "2024-10-01"), ("10/1/2024 12:30 PM", "2024-10-01"),
    ("10/1/2024 11:59:59 pm", "2024-10-01"), ("10/1/2024 1:05 a.m.", "2024-10-01"),
    ("10/1/24 0:00", "2024-10-01"), ("1/2/2024 0:00", "2024-01-02"),  # month first, as 1/2/2024
    ("2024-10-01 10:30:00", "2024-10-01"), ("2024-10-01T10:30:00.000", "2024-10-01"),
    ("2024/10/01 10:30", "2024-10-01"),
    # A zone is ignored: the day is the one written, not that moment on another clock.
    ("2024-10-01T10:30:00Z", "2024-10-01"), ("2024-10-01T23:30:00-07:00", "2024-10-01"),
    ("2024-10-01T00:30:00+0200", "2024-10-01"),
    ("1-Oct-24", "2024-10-01"), ("01-Oct-2024", "2024-10-01"),  # Excel's d-mmm-yy
])
def test_date_times_are_read_as_the_day_written(text, day):
    period = parse_label(text)
    assert (period.type, period.label) == ("day", day)


@pytest.mark.parametrize("text", [
    "10/1/2024 13:45 PM", "10/1/2024 0:00 AM", "10/1/2024 25:00", "10/1/2024 10:60",
    "2024-10-01 24:00", "2024-10-01 10:30:61", "2024-10-01T10:30+25:00", "10/1/2024T10:30",
    "10/1/2024 10:30Z", "2023-24 10:00", "2024-03 10:00", "13/1/2024 0:00", "2/30/2024 0:00",
    "45566", "45566.5", "10/1/2024 0:00 extra"])
def test_what_is_no_date_time_stays_refused(text):
    with pytest.raises(ValueError, match="is not a period: write e.g. .*a time after it is fine"):
        parse_label(text)


def test_an_excel_us_export_loads_as_days_and_a_bare_serial_is_refused_saying_where(tmp_path):
    """A clinic's visits saved from Excel: date-times load as their day; an Excel serial number
    (45566) is no date anyone can read safely, and the report names the file, the row, the
    partner's column and the forms accepted."""
    config = J.build(tmp_path / "home").load(J.INITIATIVE)
    forms = ["10/1/2024 0:00", "10/01/2024 12:00:00 AM", "10/1/2024 13:45", "10/1/2024 1:15 PM"]
    rows = [[f"D{i}", form, "WHT", "45000", "2", "NM", "3", "No"] for i, form in enumerate(forms)]
    rows.append(["S1", "45566", "WHT", "45000", "2", "NM", "3", "No"])  # spreadsheet row 6
    rows += [[f"G{i}", "2024-10-02", "WHT", "45000", "2", "NM", "3", "No"] for i in range(5)]
    path = tmp_path / "visits oct.csv"
    path.write_text(J.to_csv(J.CLINIC_HEADER, rows))
    staged = stage_file(path, config, "clinic", "salt", tmp_path / "staging")
    assert (staged.status, staged.rows_loaded, staged.rows_quarantined) == ("staged", 9, 1)
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        days = con.execute("SELECT source_row, period, period_type FROM records "
                           "WHERE source_row <= 5 ORDER BY source_row").fetchall()
    finally:
        con.close()
    assert days == [(row, "2024-10-01", "day") for row in range(2, 6)]
    bad = bad_rows(staged.staged_db, "pid")
    # named as Excel's day number since audit 11 (C6), not only "must be a period"
    assert [b[:4] for b in bad] == [(6, "visit_on", "excel_date_number", "45566")]
    report = write_report(tmp_path / "reports", staged, "loaded", bad,
                          Path("visits oct.csv")).read_text()
    assert report.startswith("# visits oct.csv: ACCEPTED")
    line = next(line for line in report.splitlines() if line.startswith("| 6 |"))
    assert "`Fecha Visita`" in line and "`45566`" in line and "excel\\_date\\_number" in line
    for form in ("3/15/2024", "2024-03-15", "a time after it is fine"):
        assert form in line
