"""Audit 12 (helper B): what a partner is told about a bad or odd file is true and actionable."""

from __future__ import annotations

from pathlib import Path

from conftest import drop, query

from pipelines.intake import stage_file

CLINIC_VISITS = "PersonalID,Visit Date,White,HouseholdIncome,HouseholdSize,State,Dev Screen"


def _stage(workspace, config, partner, name, text):
    path = drop(workspace, partner, name, text)
    return stage_file(path, config, partner, "test-salt", workspace.staging)


def _quarantine(staged):
    return query(staged.staged_db, "SELECT _row, column_name, rule, message FROM quarantine "
                                   "ORDER BY _row")


def test_a_visit_log_saved_day_first_is_not_read_month_first(workspace, config):
    """UK-locale Excel writes 20/03/2024. Those rows were `bad_period` ("must be a period"), and
    the same file's 01/03/2024 .. 12/03/2024 loaded as January 3 .. December 3: seven March
    visits counted in seven months, without a word."""
    days = [1, 2, 5, 7, 9, 11, 12, 20, 25, 28]
    rows = [f"RB{i:05d},{day:02d}/03/2024,1,40000,3,WA,Y" for i, day in enumerate(days)]
    staged = _stage(workspace, config, "northside_clinic", "visits uk.csv",
                    "\n".join([CLINIC_VISITS, *rows]) + "\n")
    bad = _quarantine(staged)
    assert [(row, rule) for row, _, rule, _ in bad] == [
        (r, "day_first_date") for r in range(2, 12)]
    assert "day/month/year" in bad[0][3] and "yyyy-mm-dd" in bad[0][3]
    assert staged.status == "rejected"


def test_dotted_dates_are_named_day_first_and_us_dates_still_load(workspace, config):
    rows = [f"RB{i:05d},{i + 1:02d}.03.2024,1,40000,3,WA,Y" for i in range(3)]
    # A US file whose days are all 12 or less holds no day-first evidence: it loads as written,
    # and a US file with one typo (13/1) beside 3/15 is not day first either.
    us = [f"RC{i:05d},3/{i + 1}/2024,1,40000,3,WA,Y" for i in range(6)]
    us += ["RC00010,3/15/2024,1,40000,3,WA,Y", "RC00011,13/1/2024,1,40000,3,WA,Y"]
    staged = _stage(workspace, config, "northside_clinic", "visits.csv",
                    "\n".join([CLINIC_VISITS, *rows, *us]) + "\n")
    bad = _quarantine(staged)
    assert [(row, rule) for row, _, rule, _ in bad] == [
        (2, "day_first_date"), (3, "day_first_date"), (4, "day_first_date"), (12, "bad_period")]
    periods = query(staged.staged_db, "SELECT DISTINCT period FROM records ORDER BY 1")
    assert periods == [(f"2024-03-{d:02d}",) for d in (1, 2, 3, 4, 5, 6, 15)]


def test_a_header_written_without_spaces_matches_the_template(workspace, config):
    """The intake schema matches headers "ignoring spaces and punctuation", but spaces were
    folded to "_", not dropped: an export's "StudentNumber" was "Required column 'person_id' is
    missing ... named one of: 'Student Number', ...", which looks like the same name."""
    header = "StudentNumber,SchoolYear,EthnicityRaceCodes,LunchStatus,KReadinessMet"
    rows = [f"S{i:03d},2023,700,F,Y" for i in range(5)]
    staged = _stage(workspace, config, "riverbend_schools", "rusd.csv",
                    "\n".join([header, *rows]) + "\n")
    assert staged.status == "staged" and staged.rows_quarantined == 0
    assert query(staged.staged_db, "SELECT count(*) FROM records WHERE kinder_ready = 1") == [(5,)]


def test_a_workbook_report_numbers_rows_as_its_sheet_shows_them(workspace, config, tmp_path):
    """Rows were Excel's (row 6 below a title block), but every report ended "the header is
    row 1": counting from the header the partner went to the wrong row, and nothing said which
    sheet of a workbook with an Instructions sheet first was read."""
    import io

    import openpyxl

    from pipelines.feedback import bad_rows, write_report

    book = openpyxl.Workbook()
    book.active.title = "Instructions"
    book.active.append(["One row per student"])
    sheet = book.create_sheet("Data")
    sheet.append(["Riverbend USD readiness export"])
    sheet.append([None, None, "Demographics"])
    sheet.append(["Student Number", "School Year", "Ethnicity/Race Codes", "Lunch Status",
                  "K Readiness Met"])
    for i in range(6):
        sheet.append([f"S{i:03d}", "2023", "700", "F", "Maybe" if i == 2 else "Y"])
    data = io.BytesIO()
    book.save(data)
    path = drop(workspace, "riverbend_schools", "rusd.xlsx", data.getvalue())
    staged = stage_file(path, config, "riverbend_schools", "test-salt", workspace.staging)
    rows = bad_rows(staged.staged_db, "person_id")
    assert [r[:3] for r in rows] == [(6, "kinder_ready", "wrong_type")]
    text = write_report(tmp_path, staged, "loaded", rows, Path("rusd.xlsx")).read_text()
    assert ("Row numbers are spreadsheet rows of the sheet `Data`, as Excel shows them: the "
            "column names are on row 3.") in text
    assert "the header is row 1" not in text


def test_two_columns_named_alike_are_told_apart_by_their_letters(workspace, config):
    """Two "K Readiness Met" columns (fall and spring) were "Columns 'K Readiness Met' and
    'K Readiness Met' both mean ...": which two? In a workbook the letters are the sheet's."""
    import io

    import openpyxl

    header = "Student Number,School Year,K Readiness Met,K Readiness Met\n"
    staged = _stage(workspace, config, "riverbend_schools", "two.csv", header + "S1,2023,Y,N\n")
    assert staged.problems[0]["message"].startswith(
        "Columns 'K Readiness Met' (column C) and 'K Readiness Met' (column D) both mean")
    book = openpyxl.Workbook()
    for j, name in enumerate(header.strip().split(",")):  # the table starts in column C
        book.active.cell(row=3, column=3 + j, value=name)
        book.active.cell(row=4, column=3 + j, value=["S1", "2023", "Y", "N"][j])
    data = io.BytesIO()
    book.save(data)
    path = drop(workspace, "riverbend_schools", "two.xlsx", data.getvalue())
    staged = stage_file(path, config, "riverbend_schools", "test-salt", workspace.staging)
    assert "Columns 'K Readiness Met' (column E) and 'K Readiness Met' (column F)" in (
        staged.problems[0]["message"])


def test_a_person_id_of_the_wrong_shape_says_what_an_id_may_hold(workspace, config):
    """The id is hidden in every answer, and its rule said only "has characters or a shape it
    may not have": with `RB9~99` the partner had nothing to look for."""
    header = "Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met"
    rows = [f"S{i:03d},2023,300,F,Y" for i in range(9)] + ["RB9~99,2023,300,F,Y"]
    staged = _stage(workspace, config, "riverbend_schools", "rusd.csv",
                    "\n".join([header, *rows]) + "\n")
    [(row, column, rule, message)] = _quarantine(staged)
    assert (row, column, rule) == (11, "person_id", "bad_format")
    assert message == ("'Student Number' has characters or a shape it may not have: it may hold "
                       "only letters, digits, '_', '.' and '-', start with a letter or digit and "
                       "be 1 to 64 characters long.")


def test_a_period_a_rejected_file_is_placed_on_names_that_file():
    """A rejected file has no rows: status puts it on the earliest period owed (README), and
    the report said "2021 ... sent, but the file was rejected" to a district that had sent only
    'RUSD 2023 no year.csv'. What it says now is true whichever period the file meant."""
    import datetime as dt

    from pipelines.status_text import still_due_lines

    row = {"state": "rejected", "overdue": True, "period": "2021",
           "due_date": dt.date(2022, 3, 31),
           "obligation_text": "year (kinder_ready), due in 90 days",
           "latest_file": "RUSD 2023 no year.csv"}
    text = "\n".join(still_due_lines([row]))
    assert "sent, but" not in text
    assert ("not received: 'RUSD 2023 no year.csv' was rejected; please send this period "
            "(overdue)") in text
