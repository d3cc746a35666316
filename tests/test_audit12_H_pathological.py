"""Audit 12 (H): pathological files get a bounded answer, not a crash, a night-long parse or a
report of thousands of lines. Staging only (no Prefect), small sizes with the limits lowered."""

from __future__ import annotations

import pytest

from pipelines import csv_rows, feedback, lines, wide_copy
from pipelines.intake import stage_file
from pipelines.read import map_header

from conftest import drop, query

SALT = "test-salt"
SCHOOLS = "riverbend_schools"
HEADER = ["Student Number", "School Year", "Ethnicity/Race Codes", "Lunch Status",
          "K Readiness Met"]


def _stage(workspace, config, name, content):
    return stage_file(drop(workspace, SCHOOLS, name, content), config, SCHOOLS, SALT,
                      workspace.staging)


def test_h1_thousands_of_named_columns_are_read_not_run_out_of_memory(workspace, config,
                                                                       monkeypatch):
    """5,000 named columns, 200 rows (2 MB): DuckDB ran out of memory telling blank rows and
    repeated headers apart over every cell, so the file stayed in intake unanswered every
    night. The columns outside the template are folded into one; rows keep their numbers,
    blank rows stay blank, a repeated header and a short row are still set aside."""
    # Scaled down: 1,100 columns against a 100 MB limit ran out of memory as 5,000 against 600.
    monkeypatch.setenv("BACKBONE_MEMORY_LIMIT", "100MB")
    width = 1100
    extra = [f"q{i}" for i in range(width - len(HEADER))]
    good = [[f"RB{i:04d}", "2024", "700", "F", "Y"] + ["v"] * len(extra) for i in range(40)]
    rows = [",".join(HEADER + extra)] + [",".join(r) for r in good]
    rows.insert(4, "," * (width - 1))  # row 5: blank, in every column
    rows.insert(8, ",".join(HEADER + extra))  # row 9: the header again
    rows.insert(12, ",".join(["RB9999", "2024", "700", "F", "Y"] + [""] * len(extra)))  # row 13: data
    rows.append("RB9998,2024,700,F")  # short: set aside at its row
    staged = _stage(workspace, config, "survey.csv", "\n".join(rows) + "\n")
    assert staged.status == "staged", staged.problems
    assert staged.rows_loaded == 41  # 40 good rows and the one with only template cells
    assert query(staged.staged_db, "SELECT _row, rule FROM quarantine ORDER BY 1") == [
        (9, "repeated_header"), (45, "malformed_row")]
    # The partner's header, not the folded copy's, in the message.
    assert "fewer cells than the header (1100)" in query(
        staged.staged_db, "SELECT message FROM quarantine WHERE _row = 45")[0][0]
    assert query(staged.staged_db, "SELECT min(source_row), max(source_row), count(*) "
                 "FROM records") == [(2, 44, 41)]
    assert len(staged.ignored_columns) == len(extra)  # still told, from the partner's header


def test_h1_folding_keeps_a_row_whose_only_value_is_outside_the_template(tmp_path, config):
    """A row empty in the template's columns but not elsewhere is a row (its required cells
    are blank), not a blank line: the folded column says it holds something."""
    header = ["person_id", "period"] + [f"q{i}" for i in range(wide_copy.WIDE_COLUMNS)]
    path = tmp_path / "wide.csv"
    path.write_text(",".join(header) + "\n" + "A1,2024" + ",x" * (len(header) - 2) + "\n"
                    + ",," + "," * (len(header) - 3) + "\n"
                    + ",," + "," * (len(header) - 3) + "note\n")
    from pipelines.read import sniff

    staging = tmp_path / "s"
    staging.mkdir()
    sniffed = sniff(path, staging, config.record_schema)
    folded, positions = wide_copy.fold(sniffed, {0: "person_id", 1: "period"})
    assert positions == {0: "person_id", 1: "period"}
    assert folded.header == ["person_id", "period", wide_copy.FOLDED_NAME]
    assert folded.readable_path.read_text().splitlines()[1:] == ["A1,2024,x", ",,", ",,x"]


def test_h2_blank_lines_after_the_header_take_few_pieces_and_keep_rows_right(
        workspace, config, monkeypatch):
    """A header, then a run of blank lines: every blank line counted as a possibly refused
    row, so the file was parsed in pieces of 14,285 records (20 MB of line breaks: 1,400 scans,
    a quarter of an hour). Only rows that are not blank fill a piece now (here lowered: pieces
    of 100 rows; a piece ends after PIECE_LINES records, 1,000)."""
    monkeypatch.setattr("pipelines.read.REFUSED_CELLS_PER_SCAN", 100 * len(HEADER))
    monkeypatch.setattr(lines, "PIECE_LINES", 1000, raising=False)
    pieces = []
    split = csv_rows.split_records
    monkeypatch.setattr(csv_rows, "split_records",
                        lambda *a: (pieces.append(p) or p for p in split(*a)))
    good = [f"RB{i:04d},2024,700,F,Y" for i in range(5)]
    content = (",".join(HEADER) + "\n" + "\n".join(good[:2]) + "\n" + "\n" * 2500
               + "\n".join(good[2:]) + "\nRB9999,2024,700\n")
    staged = _stage(workspace, config, "padded.csv", content)
    assert staged.status == "staged", staged.problems
    assert len(pieces) == 3  # 2,506 records in pieces of 1,000 lines (was 26 of 100)
    assert query(staged.staged_db, "SELECT list(source_row ORDER BY source_row) FROM records"
                 ) == [([2, 3, 2504, 2505, 2506],)]
    assert query(staged.staged_db, "SELECT _row, rule FROM quarantine") == [
        (2507, "malformed_row")]


def test_h2_a_run_of_blank_lines_over_a_megabyte_does_not_make_the_next_row_too_long(
        workspace, config):
    """In one scan, DuckDB refuses the row after more than 1 MB of blank lines as "longer than
    1 MB": pieces therefore end after PIECE_LINES records, blank or not."""
    content = ",".join(HEADER) + "\nRB0001,2024,700,F,Y\n" + "\n" * 1_100_000 + \
        "RB0002,2024,700,F,Y\n"
    staged = _stage(workspace, config, "long run.csv", content)
    assert staged.status == "staged", staged.problems
    assert query(staged.staged_db, "SELECT list(source_row ORDER BY source_row) FROM records"
                 ) == [([2, 1_100_003],)]
    assert staged.rows_quarantined == 0


def test_h2_blank_rows_are_yielded_not_listed(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"a,b\n1,2\n\n\r\n\"x\n\n\",3\n\n")
    rows = lines.blank_rows(path)
    assert iter(rows) is rows and list(rows) == [3, 4, 6]


def test_h3_a_header_repeating_one_name_a_thousand_times_is_one_problem(config):
    header = HEADER + ["Student Number"] * 1000
    try:
        map_header(header, config.record_schema, config.crosswalks[SCHOOLS])
    except Exception as exc:  # noqa: BLE001 - FileRejected, checked below
        problems = exc.problems
    [problem] = problems
    assert problem.rule == "duplicate_column" and problem.column == "Student Number"
    assert problem.message == (
        "Columns 'Student Number' (column A), 'Student Number' (column F), 'Student Number' "
        "(column G) and 998 more (1,001 columns in all) all mean 'person_id'; keep only one of them.")


def test_h3_ignored_columns_are_listed_once_each_and_at_most_twenty():
    names = ["Campus"] * 1000 + [f"q{i}" for i in range(30)]
    said = feedback.ignored_shown(names)
    assert said.startswith("'Campus' (1,000 columns), 'q0', 'q1'")
    assert said.endswith("'q18' and 11 more (1,030 columns in all)")
    assert feedback.ignored_shown(["Notes"]) == "'Notes'"


def test_h4_a_stray_cell_at_the_end_of_the_sheet_is_refused_not_a_crash(workspace, config):
    """One value in XFD1048576 (a 5 KB workbook): python-calamine asked for 550 GB for the
    sheet and aborted the process, the staging worker or the whole night, every night. The
    sheet's extent is read from its XML first; past MAX_SHEET_CELLS the file is refused, saying
    where the stray cell is. A stray cell at the foot of column A still reads."""
    import io

    import openpyxl

    def workbook(stray: str) -> bytes:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(HEADER)
        for i in range(12):
            sheet.append([f"RB{i:04d}", 2024, "700", "F", "Y"])
        sheet[stray] = "x"
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    staged = _stage(workspace, config, "stray.xlsx", workbook("XFD1048576"))
    assert staged.status == "rejected"
    [problem] = staged.problems
    assert problem["rule"] == "sheet_too_large"
    assert "reaches row 1,048,576 and column XFD" in problem["message"]
    staged = _stage(workspace, config, "stray foot.xlsx", workbook("A2000"))
    assert staged.status == "staged" and staged.rows_loaded == 12


def test_h5_a_report_names_at_most_twenty_files_counted_with_it():
    """10,000 campus files for one period in one night are one submission, and each report
    named the 9,999 others: 10,000 reports of ~200 KB (quadratic, gigabytes)."""
    from pipelines import resubmission_report
    from pipelines.resubmission import PartChange

    change = PartChange(("2023",), list(range(10_000)), before=0, carried=10_000, kept=0,
                        after=10_000, decision="added")
    others = [f"campus_{k:05d}.csv" for k in range(1, 10_000)]
    lines = resubmission_report.sections([change], "loaded", "people", 0.5, others, "")
    [said] = [line for line in lines if line.startswith("Received in the same run")]
    assert "`campus_00020.csv` and 9,979 more files (9,999 in all)." in said
    assert "campus_00021" not in said and len(said) < 1000
    two = resubmission_report.sections([change], "loaded", "people", 0.5, others[:2], "")
    assert "`campus_00001.csv`, `campus_00002.csv`. Where" in "".join(two)


def test_a_header_cell_over_the_field_limit_is_refused_whatever_the_csv_limit_is(tmp_path):
    """frictionless (imported by a process that also checks data packages) raises the csv
    module's process-wide field limit: the header's 128 KiB bound must not depend on it."""
    import csv
    import io

    from pipelines.header_record import TOO_LONG, read_header
    from pipelines.problems import FileRejected

    text = "Student Number,School Year," + "N" * 200_000 + "\nS1,2024,x\n"
    before = csv.field_size_limit(2**31 - 1)
    try:
        with pytest.raises(FileRejected) as caught:
            read_header(io.StringIO(text, newline=""))
    finally:
        csv.field_size_limit(before)
    assert caught.value.problems == [TOO_LONG]
