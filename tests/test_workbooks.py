"""Excel workbooks in intake: read through the CSV path, with the partner's own sheet rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

import duckdb
import openpyxl
import pytest

from pipelines.intake import stage_file
from pipelines.read import load_csv, map_header, sniff
from pipelines.workbook import OLE_MAGIC

from conftest import drop, query

SALT = "test-salt"
SCHOOLS = "riverbend_schools"
HEADER = ["Student Number", "School Year", "Ethnicity/Race Codes", "Lunch Status",
          "K Readiness Met"]
# Numbers as Excel holds them: years and race codes typed as numbers, ids typed as text.
ROWS = [["007", 2024, 700, "F", "Y"], ["S2", 2024, "400|300", "P", "N"],
        *([f"T{i}", 2024, 200, "R", "N"] for i in range(8))]


def _xlsx(*sheets: tuple[str, list[list]], hidden: tuple[str, ...] = (),
          merge: dict[str, str] | None = None) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets:
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if name in hidden:
            sheet.sheet_state = "hidden"
        if merge and name in merge:
            sheet.merge_cells(merge[name])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _csv(rows: list[list]) -> str:
    return "".join(",".join(str(c) for c in row) + "\n" for row in [HEADER, *rows])


def _stage(workspace, config, name, content, partner=SCHOOLS):
    path = drop(workspace, partner, name, content)
    return stage_file(path, config, partner, SALT, workspace.staging)


def _query(staged, sql):
    return query(staged.staged_db, sql)


def test_a_clean_workbook_stages_exactly_like_the_same_csv(workspace, config):
    content = _xlsx(("Outcomes", [HEADER, *ROWS]))
    book = _stage(workspace, config, "RUSD 2024.xlsx", content)
    text = _stage(workspace, config, "RUSD 2024.csv", _csv(ROWS))
    assert book.status == text.status == "staged", book.problems
    assert book.sha256 == hashlib.sha256(content).hexdigest()
    assert book.size_bytes == len(content) and book.encoding == "xlsx"
    assert book.header_names == text.header_names
    assert (book.rows_read, book.rows_loaded, book.rows_quarantined) == \
        (text.rows_read, text.rows_loaded, text.rows_quarantined) == (10, 10, 0)
    records = "SELECT * FROM records ORDER BY ALL"
    assert _query(book, records) == _query(text, records)
    # The working CSV written from the sheet is not kept in staging.
    assert not list(workspace.staging.rglob("*.utf8.csv"))


def test_cells_are_written_as_the_partner_sees_them(tmp_path, config):
    rows = [HEADER, ["007", 2024.0, 700, "F", "Y"], ["A1", dt.date(2024, 3, 1), 1.5, True, None],
            ["A2", dt.datetime(2024, 3, 1, 9, 30), "00123", False, "N"]]
    path = tmp_path / "cells.xlsx"
    path.write_bytes(_xlsx(("Sheet1", rows)))
    crosswalk = config.crosswalks[SCHOOLS]
    sniffed = sniff(path, tmp_path / "staging", config.record_schema, crosswalk)
    con = duckdb.connect()
    load_csv(con, sniffed, map_header(sniffed.header, config.record_schema, crosswalk))
    assert con.execute("SELECT * FROM raw ORDER BY _row").fetchall() == [
        (2, "007", "2024", "700", "F", "Y"),
        (3, "A1", "2024-03-01", "1.5", "TRUE", None),
        (4, "A2", "2024-03-01 09:30:00", "00123", "FALSE", "N")]


def test_title_rows_above_the_header_keep_sheet_row_numbers(workspace, config):
    title = ["Riverbend USD: kindergarten readiness, 2024", None, None, None, None]
    rows = [title, [], HEADER,                      # sheet rows 1-3: merged title, blank, header
            ["S1", 2024, 700, "F", "Y"],            # 4
            ["S2", 2024, 123, "F", "Y"],            # 5: unknown race code
            [],                                     # 6: blank row inside the table
            ["S4", 2099, 400, "P", "N"],            # 7: future period
            *([f"T{i}", 2024, 200, "R", "N"] for i in range(8))]  # 8-15
    staged = _stage(workspace, config, "RUSD titled.xlsx",
                    _xlsx(("Report", rows), merge={"Report": "A1:E1"}))
    assert staged.status == "staged", staged.problems
    bad = _query(staged, "SELECT _row, column_name, rule, value FROM quarantine ORDER BY ALL")
    assert bad == [(5, "race", "unknown_race_code", "123"), (7, "period", "future_period", "2099")]
    assert staged.rows_read == 11 and staged.rows_loaded == 9


def test_a_missing_column_names_the_header_row_of_the_sheet(workspace, config):
    rows = [["Kindergarten readiness"], HEADER[1:], ["2024", 700, "F", "Y"]]
    staged = _stage(workspace, config, "RUSD no id.xlsx", _xlsx(("Sheet1", rows)))
    assert staged.status == "rejected"
    problem = staged.problems[0]
    assert problem["rule"] == "missing_column" and problem["row"] == 2
    assert "Row 2 needs a column" in problem["message"]


def test_the_sheet_named_in_the_crosswalk_is_read(workspace, config):
    config.crosswalks[SCHOOLS] = config.crosswalks[SCHOOLS].model_copy(update={"sheet": "Data"})
    content = _xlsx(("Read me", [["How to fill this workbook"], ["Student Number is the id"]]),
                    ("Data", [HEADER, *ROWS]))
    staged = _stage(workspace, config, "RUSD sheets.xlsx", content)
    assert staged.status == "staged", staged.problems
    assert staged.rows_loaded == 10

    config.crosswalks[SCHOOLS] = config.crosswalks[SCHOOLS].model_copy(
        update={"sheet": "Outcomes"})
    staged = _stage(workspace, config, "RUSD sheets 2.xlsx", content)
    assert staged.status == "rejected"
    assert staged.problems[0]["rule"] == "missing_sheet"
    assert "'Read me', 'Data'" in staged.problems[0]["message"]


def test_hidden_sheets_are_ignored(workspace, config):
    old = [HEADER, *([f"OLD{i}", 2023, 700, "F", "Y"] for i in range(3))]
    content = _xlsx(("Last year", old), ("This year", [HEADER, *ROWS]), hidden=("Last year",))
    staged = _stage(workspace, config, "RUSD hidden.xlsx", content)
    assert staged.status == "staged", staged.problems
    assert staged.rows_read == 10
    assert _query(staged, "SELECT DISTINCT period FROM records") == [("2024",)]


@pytest.mark.parametrize("name, content", [
    ("RUSD broken.xlsx", b"PK\x03\x04\x14\x00\x00\x00xl/workbook.xml truncated"),
    ("RUSD old.xls", OLE_MAGIC + bytes(504)),
    ("RUSD a web page.xls", b"<html><body><table><tr><td>S1</td></tr></table></body></html>"),
])  # Text named .xlsx or .xls is read as text (tests/test_audit8_fixes.py).
def test_a_corrupt_workbook_is_rejected_with_a_reason(workspace, config, name, content):
    staged = _stage(workspace, config, name, content)
    assert staged.status == "rejected"
    assert staged.problems[0]["rule"] == "unreadable_workbook"
    assert "could not be opened as an Excel workbook" in staged.problems[0]["message"]
    assert not list(workspace.staging.rglob("*.utf8.csv"))


def test_a_password_protected_workbook_is_rejected_with_a_reason(workspace, config):
    from msoffcrypto.format.ooxml import OOXMLFile

    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(_xlsx(("Sheet1", [HEADER, *ROWS])))).encrypt("secret", encrypted)
    for name in ("RUSD locked.xlsx", "RUSD locked.xls"):
        staged = _stage(workspace, config, name, encrypted.getvalue())
        assert staged.status == "rejected"
        assert staged.problems[0]["rule"] == "encrypted_workbook"
        assert "protected with a password" in staged.problems[0]["message"]


def test_a_workbook_goes_through_the_nightly_flow_and_its_bytes_are_archived(
        workspace, prefect_harness):
    from pipelines.flows import nightly

    content = _xlsx(("Outcomes", [["Riverbend USD export"], HEADER, *ROWS,
                                  ["S9", 2024, 123, "F", "Y"]]))  # sheet row 13: bad race code
    drop(workspace, SCHOOLS, "RUSD 2024.xlsx", content)
    summaries = nightly(home=str(workspace.root), initiative="riverbend")
    outcome = summaries[0]["files"][0]
    assert outcome["status"] == "loaded", outcome
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        (sha256, stored, encoding), = con.execute(
            "SELECT sha256, stored_path, encoding FROM submissions").fetchall()
        assert con.execute("SELECT count(*) FROM riverbend.records").fetchall()[0][0] == 10
        quarantined = con.execute("SELECT source_row, rule FROM quarantine").fetchall()
    finally:
        con.close()
    assert quarantined == [(13, "unknown_race_code")]
    # What is archived is the workbook itself, and its hash is of the workbook's bytes.
    assert sha256 == hashlib.sha256(content).hexdigest() and encoding == "xlsx"
    assert stored.endswith(".xlsx") and Path(stored).read_bytes() == content


def test_a_table_that_starts_below_and_right_of_a1_keeps_its_sheet_rows(workspace, config):
    book = openpyxl.Workbook()
    sheet = book.active
    for r, row in enumerate([HEADER, ["S1", 2024, 700, "F", "Y"], ["S2", 2024, 123, "F", "Y"],
                             *([f"T{i}", 2024, 200, "R", "N"] for i in range(8))], start=4):
        for c, value in enumerate(row, start=3):  # the table starts at C4
            sheet.cell(row=r, column=c, value=value)
    buffer = io.BytesIO()
    book.save(buffer)
    staged = _stage(workspace, config, "RUSD offset.xlsx", buffer.getvalue())
    assert staged.status == "staged", staged.problems
    assert _query(staged, "SELECT _row, rule FROM quarantine") == [(6, "unknown_race_code")]
    assert staged.rows_loaded == 9


def _xls(rows: list[list], hidden_first: list[list] | None = None) -> bytes:
    """A real BIFF8 .xls (Excel 97-2003), written by xlwt: numbers, text and date-formatted
    cells as Excel stores them."""
    import xlwt

    book = xlwt.Workbook()
    dated = xlwt.easyxf(num_format_str="M/D/YYYY")
    if hidden_first is not None:
        old = book.add_sheet("Old")
        for r, row in enumerate(hidden_first):
            for c, value in enumerate(row):
                old.write(r, c, value)
        old.visibility = 1  # hidden
    sheet = book.add_sheet("Visits")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, (dt.date, dt.datetime)):
                sheet.write(r, c, value, dated)
            else:
                sheet.write(r, c, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_real_xls_workbook_with_dates_titles_and_sheet_rows(workspace, config):
    """A BIFF8 .xls of dated visits: a title block above the table, the date column mapped onto
    the period by the crosswalk alone, typed date cells read as dates, a year typed as a
    number, a year written as text, and every message naming the sheet row."""
    clinic = "northside_clinic"
    config.crosswalks[clinic] = config.crosswalks[clinic].model_copy(update={"header_aliases": {
        **config.crosswalks[clinic].header_aliases, "Visit Date": "period"}})
    header = ["PersonalID", "Visit Date", "WCV", "HouseholdIncome", "HouseholdSize"]
    rows = [["Northside CHC: well-child visits, March 2024"],   # sheet row 1: title
            [],                                                 # 2: blank
            header,                                             # 3: header
            ["N1", dt.date(2024, 3, 4), 1, 30000, 3],           # 4: a date cell
            ["N2", dt.datetime(2024, 3, 15, 10, 30), 0, 45000.5, 4],  # 5: a datetime cell
            ["N3", 2024, 1, None, None],                        # 6: a year typed as a number
            ["N4", "Q1 2024", 1, None, None],                   # 7: a label as text
            ["N5", "13/45/2024", 1, None, None],                # 8: no such date
            *([f"M{i}", dt.date(2024, 3, 20 + i), 1, 20000, 2] for i in range(5))]  # 9-13
    content = _xls(rows, hidden_first=[header, ["OLD", "2020", 1, 1, 1]])
    assert content.startswith(OLE_MAGIC)
    staged = _stage(workspace, config, "northside visits.xls", content, partner=clinic)
    assert staged.status == "staged", staged.problems
    assert staged.encoding == "xls" and staged.header_names["period"] == "Visit Date"
    assert staged.rows_read == 10 and staged.rows_loaded == 9
    bad = _query(staged, "SELECT _row, column_name, rule, value, message FROM quarantine")
    assert [b[:4] for b in bad] == [(8, "period", "bad_period", "13/45/2024")]
    assert bad[0][4].startswith("'Visit Date' must be a period")
    got = _query(staged, "SELECT source_row, period, period_type, period_start, household_income "
                         "FROM records WHERE source_row <= 7 ORDER BY source_row")
    assert got == [(4, "2024-03-04", "day", dt.date(2024, 3, 4), 30000.0),
                   (5, "2024-03-15", "day", dt.date(2024, 3, 15), 45000.5),
                   (6, "2024", "year", dt.date(2024, 1, 1), None),
                   (7, "2024Q1", "quarter", dt.date(2024, 1, 1), None)]
    # The hidden sheet's rows were not read.
    assert _query(staged, "SELECT count(*) FROM records WHERE period = '2020'") == [(0,)]


def test_an_instructions_sheet_first_is_passed_over_for_the_sheet_with_the_data(workspace,
                                                                              config):
    """Audit 8, A8-10: a template workbook often opens on an "Instructions" sheet. The first
    visible sheet naming two template columns is read; when none does, the reasons name the
    sheet they were read from."""
    notes = [["How to fill in this workbook"], ["One row per student. Do not rename columns."]]
    staged = _stage(workspace, config, "RUSD 2024.xlsx",
                    _xlsx(("Instructions", notes), ("Data", [HEADER, *ROWS])))
    assert staged.status == "staged", staged.problems
    assert staged.rows_read == len(ROWS)
    refused = _stage(workspace, config, "RUSD notes.xlsx",
                     _xlsx(("Instructions", notes), ("More notes", notes)))
    assert refused.status == "rejected"
    assert refused.problems[0]["rule"] == "missing_column"
    assert refused.problems[0]["message"].startswith("Sheet 'Instructions': Required column")


def test_a_date_cell_shown_as_a_year_or_month_is_that_period_in_the_period_column(workspace,
                                                                                config):
    """Audit 9 (B, F6): "2024" typed into a date-formatted column is stored as 2024-01-01 and
    shown as 2024 (format `yyyy`); "Mar-24" (`mmm-yy`) is March 2024. In the period column the
    period shown is read, not a day: a later CSV correction of 2024 replaces it."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    formats = {"S1": "yyyy", "S2": "yyyy", "S3": "mmm-yy", "S4": "m/d/yyyy"}
    for person, shown in formats.items():
        sheet.append([person, dt.datetime(2024, 3 if shown != "yyyy" else 1, 1), 700, "F", "Y"])
        sheet.cell(sheet.max_row, 2).number_format = shown
    buffer = io.BytesIO()
    book.save(buffer)
    staged = _stage(workspace, config, "RUSD dates.xlsx", buffer.getvalue())
    assert staged.status == "staged", staged.problems
    assert _query(staged, "SELECT period, period_type FROM records ORDER BY source_row") == [
        ("2024", "year"), ("2024", "year"), ("2024-03", "month"), ("2024-03-01", "day")]
