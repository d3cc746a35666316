"""Audit 10 (H, hostile and messy partner files): workbooks read as the partner meant them."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys

import openpyxl

from pipelines.config import REPO_ROOT, Workspace
from pipelines.intake import stage_file

from conftest import drop, query

SALT = "test-salt"
SCHOOLS, CLINIC = "riverbend_schools", "northside_clinic"
SCHOOLS_HEADER = ["Student Number", "School Year", "Ethnicity/Race Codes", "Lunch Status",
                  "K Readiness Met"]
CLINIC_HEADER = ["PersonalID", "ReportYear", "HouseholdIncome", "HouseholdSize", "State", "WCV"]
VISITS_HEADER = ["PersonalID", "Visit Date", "HouseholdIncome", "HouseholdSize", "State",
                 "Dev Screen"]


def _save(book: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _stage(workspace, config, partner, name, content):
    return stage_file(drop(workspace, partner, name, content), config, partner, SALT,
                      workspace.staging)


def test_h1_an_error_cell_is_set_aside_as_the_csv_excel_saves_it_would_be(workspace, config):
    """A formula whose result is #N/A, #DIV/0! or #REF! is no blank answer: python-calamine
    gives "" for it, and the row loaded with the income, size or outcome missing, silently."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(CLINIC_HEADER)
    for i in range(12):
        sheet.append([f"E{i:03d}", 2023, 40000, 3, "WA", 1])
    sheet["C2"], sheet["F3"], sheet["D4"] = "#N/A", "#DIV/0!", "#REF!"  # t="e", as Excel stores
    assert sheet["C2"].data_type == "e"
    staged = _stage(workspace, config, CLINIC, "wcv errors.xlsx", _save(book))
    assert staged.status == "staged", staged.problems
    set_aside = query(staged.staged_db,
                      "SELECT _row, column_name, rule, value FROM quarantine ORDER BY 1")
    assert set_aside == [(2, "household_income", "wrong_type", "#N/A"),
                         (3, "well_child_visit", "wrong_type", "#DIV/0!"),
                         (4, "household_size", "wrong_type", "#REF!")]
    rows = query(staged.staged_db, "SELECT source_row FROM records ORDER BY 1")
    assert rows == [(row,) for row in range(5, 14)]


def test_h2_a_workbook_with_the_table_on_several_sheets_is_refused_naming_them(workspace,
                                                                              config):
    """One sheet per campus: only the first was read and the others' rows vanished unanswered."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for campus in ("Hillcrest", "Oak Park"):
        sheet = book.create_sheet(campus)
        sheet.append(SCHOOLS_HEADER)
        for i in range(6):
            sheet.append([f"{campus[:2].upper()}{i}", 2023, 700, "F", "Y"])
    summary = book.create_sheet("Summary")  # names two columns but no ids: not a table of rows
    summary.append(["School Year", "Lunch Status", "Students"])
    summary.append([2023, "F", 12])
    staged = _stage(workspace, config, SCHOOLS, "RUSD campuses.xlsx", _save(book))
    assert staged.status == "rejected"
    problem = staged.problems[0]
    assert problem["rule"] == "several_data_sheets"
    assert "'Hillcrest', 'Oak Park'" in problem["message"] and "Summary" not in \
        problem["message"]

    # A hidden old copy, or a summary sheet beside the data, still leaves one table to read.
    book["Oak Park"].sheet_state = "hidden"
    staged = _stage(workspace, config, SCHOOLS, "RUSD one campus.xlsx", _save(book))
    assert staged.status == "staged", staged.problems
    assert staged.rows_read == 6


def test_h3_a_number_id_of_sixteen_digits_is_refused_not_read_with_invented_digits(workspace,
                                                                                 config):
    """Excel keeps 15 significant digits: two MRNs typed ...451 and ...452 are both stored
    1234567890123450 and were one child. Refused as the CSV Excel saves ("1.23457E+15") is;
    a 15-digit id is exact and still read digit for digit."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(VISITS_HEADER)
    ids = [1234567890123450.0, 1234567890123450.0, 123456789012345.0,
           *(float(100000 + i) for i in range(9))]
    for mrn in ids:
        sheet.append([mrn, dt.date(2024, 3, 4), 40000, 3, "WA", "Y"])
        sheet.cell(sheet.max_row, 2).number_format = "m/d/yyyy"
    staged = _stage(workspace, config, CLINIC, "visits mrn.xlsx", _save(book))
    assert staged.status == "staged", staged.problems
    set_aside = query(staged.staged_db, "SELECT _row, rule FROM quarantine ORDER BY 1")
    assert set_aside == [(2, "id_in_scientific_notation"), (3, "id_in_scientific_notation")]
    assert query(staged.staged_db, "SELECT min(source_row), count(*) FROM records") == [(4, 10)]


def test_h4_values_under_a_blank_header_cell_are_told_not_dropped_silently(workspace, config):
    """A header merged over two columns names only the first: the second race column's codes
    were left out without a word, and six Multiracial children published as White."""
    from pipelines.feedback import write_report

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Student Number", "School Year", "Ethnicity/Race Codes", None, "Lunch Status",
                  "K Readiness Met", None])  # G: blank all the way down, as Excel saves widths
    sheet.merge_cells("C1:D1")
    for i in range(12):
        sheet.append([f"MG{i:03d}", 2023, 700, 400 if i % 2 else None, "F", "Y"])
    staged = _stage(workspace, config, SCHOOLS, "RUSD merged.xlsx", _save(book))
    assert staged.status == "staged", staged.problems
    assert staged.unnamed_columns == ["the column after 'Ethnicity/Race Codes' (6 rows with a "
                                      "value)"]
    report = write_report(workspace.path("reports"), staged, "loaded", [],
                          workspace.path("archive", "RUSD merged.xlsx")).read_text()
    assert "no name in the header row were not read" in report
    assert "Ethnicity/Race Codes" in report.split("no name in the header row")[1]

    csv = ("Student Number,School Year,Ethnicity/Race Codes,,Lunch Status,K Readiness Met,\n"
           + "".join(f"U{i},2023,700,,F,Y,\n" for i in range(12)))
    staged = _stage(workspace, config, SCHOOLS, "RUSD blank columns.csv", csv)
    assert staged.status == "staged" and staged.unnamed_columns == []


def test_h5_cells_wrapped_as_formulas_are_read_as_excel_shows_them(workspace, config):
    """Systems that export `="00123"` to keep an id's zeros often wrap every cell so; Excel
    shows 2023, 45000, WA. Only the id was unwrapped: every row was refused, the file too."""
    content = ("PersonalID,ReportYear,HouseholdIncome,HouseholdSize,State,WCV\n"
               + "".join(f'="00{i}",="2023","=""45,000""",="3",="WA",="{i % 2}"\n'
                         for i in range(10))
               + '"=""0099""","=""2023""",="",="3",="WA",="1"\n'  # quoted, and an empty one
               + 'X1,2023,=45000,3,WA,1\n')  # a formula that is no wrapped text stays refused
    staged = _stage(workspace, config, CLINIC, "wrapped.csv", content)
    assert staged.status == "staged", staged.problems
    assert query(staged.staged_db, "SELECT _row, column_name, rule FROM quarantine") == [
        (13, "household_income", "wrong_type")]
    records = query(staged.staged_db, "SELECT source_row, period, household_income, "
                    "household_size, state, well_child_visit FROM records ORDER BY 1")
    assert records[0] == (2, "2023", 45000.0, 3, "WA", 0)
    assert records[-1] == (12, "2023", None, 3, "WA", 1)
    assert len(records) == 11


def test_h6_an_excel_sep_line_is_named_in_the_reason(workspace, config):
    """Excel hides a first line `sep=,`: "delete the rows above the column names" pointed at a
    row the partner cannot see."""
    content = "sep=,\nPersonalID,ReportYear,WCV\n" + "".join(f"A{i},2023,1\n" for i in range(5))
    staged = _stage(workspace, config, CLINIC, "with hint.csv", content)
    assert staged.status == "rejected"
    assert staged.problems[0]["rule"] == "title_rows_above_header"
    assert "first line is 'sep=,'" in staged.problems[0]["message"]


def test_h7_check_says_which_columns_it_would_ignore(tmp_path):
    """`check` said nothing of a column it would not read: "Household Income (USD)" left every
    child's class "Not reported" while check said OK; only the night's report named it."""
    home = tmp_path / "home"
    Workspace(home).add_definitions()
    path = tmp_path / "ign.csv"
    path.write_text("PersonalID,ReportYear,Household Income (USD),HouseholdSize,State,WCV\n"
                    + "".join(f"IG{i},2023,15000,3,WA,1\n" for i in range(12)))
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "check", str(path), "--partner", CLINIC,
         "--home", str(home)], capture_output=True, text=True, cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "would be ignored: 'Household Income (USD)'" in done.stdout


def test_h8_a_cell_merged_down_a_column_is_the_value_of_every_row_it_covers(workspace, config):
    """A school year merged beside all of that year's students shows 2023 on every row; the
    file was refused: "'School Year' is required and is blank" (11 rows)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Riverbend USD: kindergarten readiness"])  # a title merged across: not data
    sheet.merge_cells("A1:E1")
    sheet.append(SCHOOLS_HEADER)
    for i in range(12):
        sheet.append([f"VM{i:03d}", 2023 if i in (0, 6) else None, 700, "F", "Y"])
    sheet.merge_cells("B3:B8")
    sheet.merge_cells("B9:B12")  # rows 13-14: not merged, blank, so set aside as before
    staged = _stage(workspace, config, SCHOOLS, "RUSD merged year.xlsx", _save(book))
    assert staged.status == "staged", staged.problems
    assert query(staged.staged_db, "SELECT _row, rule FROM quarantine ORDER BY 1") == [
        (13, "missing_value"), (14, "missing_value")]
    assert query(staged.staged_db, "SELECT count(*), min(period), max(period) FROM records") == [
        (10, "2023", "2023")]


def test_h9_a_stray_cell_in_the_last_excel_column_does_not_run_the_file_out_of_memory(
        workspace, config):
    """One cell typed in XFD1 makes Excel save 16,384 cells a row: a 200-row file ran DuckDB
    out of memory, stayed in intake "not processed" and failed every night unanswered."""
    width = 16384
    header = CLINIC_HEADER + [""] * (width - len(CLINIC_HEADER) - 1) + ["x"]
    rows = [[f"W{i:03d}", "2023", "40000", "3", "WA", "1"] + [""] * (width - 6)
            for i in range(30)]
    rows[4][9] = "note"  # a value under no name: kept, and told (F4)
    lines = [",".join(header)] + [",".join(row) for row in rows]
    lines.insert(3, "")  # a blank line (row 4) keeps its place in the numbering
    lines.append("W999,2023,40000,3,WA")  # a short row: still set aside, at its row
    staged = _stage(workspace, config, CLINIC, "wide.csv", "\n".join(lines) + "\n")
    assert staged.status == "staged", staged.problems
    assert staged.rows_loaded == 30
    assert query(staged.staged_db, "SELECT _row, rule FROM quarantine") == [
        (33, "malformed_row")]
    assert query(staged.staged_db, "SELECT min(source_row), max(source_row) FROM records") == [
        (2, 32)]
    assert staged.ignored_columns == ["x"]
    assert staged.unnamed_columns == ["the column after 'WCV' (1 row with a value)"]

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(CLINIC_HEADER)
    for row in rows:
        sheet.append(row[:6])
    sheet["XFD1"] = "x"
    staged = _stage(workspace, config, CLINIC, "wide.xlsx", _save(book))
    assert staged.status == "staged", staged.problems
    assert staged.rows_loaded == 30


def test_h10_a_count_the_partner_suppressed_is_named_as_such(workspace, config):
    """Aggregate exports often hide small cells ("<10", "*"): told "must be an integer", and
    the table's other rows "do not add up", the partner was not told to send the exact count."""
    content = ("indicator_id,period,race,class,numerator,denominator\n"
               "stable_housing,2023,ALL,ALL,30,50\nstable_housing,2023,White,ALL,<10,30\n"
               "stable_housing,2023,Asian,ALL,*,20\nstable_housing,2023,ALL,Below 100% FPG,12,25\n"
               "stable_housing,2023,ALL,400%+ FPG,18,25\nstable_housing,2023,ALL,Not reported,"
               "n/a,0\n")
    staged = _stage(workspace, config, "riverbend_housing", "rha 2023.csv", content)
    rules = query(staged.staged_db, "SELECT _row, column_name, rule, value FROM quarantine "
                  "WHERE rule IN ('suppressed_count', 'wrong_type') ORDER BY 1")
    assert rules == [(3, "numerator", "suppressed_count", "<10"),
                     (4, "numerator", "suppressed_count", "*"),
                     (7, "numerator", "wrong_type", "n/a")]
    message = query(staged.staged_db, "SELECT message FROM quarantine "
                    "WHERE rule = 'suppressed_count' LIMIT 1")[0][0]
    assert "send the exact number" in message
