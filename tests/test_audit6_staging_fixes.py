"""Staging fixes for the session-6 audit (D0, D3, D5, D6, D7): each fails on the code before them.

Staging only (no Prefect): seconds each, on the Cedar scenario (tests/test_audit6_scenario.py).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

import test_audit6_scenario as cedar

HEADER = ",".join(cedar.CLINIC_HEADER)
GOOD = [f"G{i},2024-04-0{1 + i},W,20000,2,OR,1,Y" for i in range(5)]


def _config(tmp_path: Path, aggregates: bool = False):
    workspace = cedar.build(tmp_path / "home")
    if aggregates:
        cedar.add_aggregate_partners(workspace)
    return workspace.load(cedar.INITIATIVE)


def _stage(tmp_path: Path, text: str, partner: str = "clinic", name: str = "visits.csv",
           aggregates: bool = False):
    from pipelines.feedback import bad_rows
    from pipelines.intake import stage_file

    path = tmp_path / name
    path.write_text(text)
    staged = stage_file(path, _config(tmp_path, aggregates), partner, "salt",
                        tmp_path / "staging")
    return staged, bad_rows(staged.staged_db, "client_id")


def _records(staged, columns: str) -> dict:
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute(f"SELECT source_row, {columns} FROM records")
                .fetchall()}
    finally:
        con.close()


def test_d0_rows_of_only_blank_cells_are_blank_lines(tmp_path):
    """",,,,,,," (a sheet's empty rows saved as CSV) and " , ,,," are no rows: not read, not
    quarantined, and the rows after them keep their spreadsheet numbers."""
    rows = [GOOD[0], ",,,,,,,", " , ,\u00a0,,,,,", GOOD[1], "X1,2024-04-09,W,lots,2,OR,1,Y",
            *GOOD[2:], *[",,,,,,,"] * 8]
    staged, bad = _stage(tmp_path, "\r\n".join([HEADER, *rows]) + "\r\n")
    assert (staged.status, staged.rows_read, staged.rows_loaded) == ("staged", 6, 5), \
        staged.reasons
    assert [b[:3] for b in bad] == [(6, "inc", "wrong_type")]  # row 6 in the sheet, as before
    assert sorted(_records(staged, "person_key")) == [2, 5, 7, 8, 9]


def test_d0_a_workbook_and_its_csv_number_and_skip_blank_rows_alike(tmp_path):
    import openpyxl

    rows = [GOOD[0].split(","), [""] * 8, ["X1", "2024-04-09", "W", "lots", "2", "OR", "1", "Y"],
            GOOD[1].split(",")]
    book = openpyxl.Workbook()
    sheet = book.active
    for row in [cedar.CLINIC_HEADER, *rows]:
        sheet.append([cell or None for cell in row])
    book.save(tmp_path / "visits.xlsx")
    # What "Save as CSV" writes for that sheet: the empty row as ",,,,,,,".
    (tmp_path / "visits.csv").write_text(
        "\n".join(",".join(r) for r in [cedar.CLINIC_HEADER, *rows]) + "\n")
    from pipelines.feedback import bad_rows
    from pipelines.intake import stage_file

    config = _config(tmp_path)
    answers = []
    for folder, name in (("x", "visits.xlsx"), ("c", "visits.csv")):
        staged = stage_file(tmp_path / name, config, "clinic", "salt", tmp_path / folder)
        answers.append((staged.status, staged.rows_read, staged.rows_loaded,
                        [b[:3] for b in bad_rows(staged.staged_db, "client_id")]))
    assert answers[0] == answers[1] == ("staged", 3, 2, [(4, "inc", "wrong_type")])


def test_d0_a_file_of_only_blank_rows_has_no_data_rows(tmp_path):
    staged, _ = _stage(tmp_path, "\n".join([HEADER, ",,,,,,,", ",,,,,,,"]) + "\n")
    assert staged.status == "rejected"
    assert [p["rule"] for p in staged.problems] == ["no_rows"]


def test_d3_a_whole_known_code_is_not_split_and_a_bad_cell_is_shown_as_written(tmp_path):
    # "2+" is the standard's "more than one race, not specified", under a "+" separator.
    staged, bad = _stage(tmp_path, "\n".join([HEADER, "A1,2024-04-02,2+,20000,2,OR,1,Y",
                                              "A2,2024-04-02,W+Z+Q,20000,2,OR,1,Y",
                                              "A3,2024-04-02,W + B,20000,2,OR,1,Y", *GOOD]) + "\n")
    assert [b[:4] for b in bad] == [(3, "race", "unknown_race_code", "W+Z+Q")]  # once, whole
    flags = _records(staged, "race_multi_unspecified, race_white, race_black")
    assert flags[2] == (True, False, False)
    assert flags[4] == (False, True, True)


def test_d5_inner_spaces_are_only_thousands_groups(tmp_path):
    staged, bad = _stage(tmp_path, "\n".join([
        HEADER, "A1,2024-04-02,W,1 2,2,OR,1,Y", "A2,2024-04-02,W,20 000,2,OR,1,Y",
        'A3,2024-04-02,W,"1 234 567.5",2,OR,1,Y', "A4,2024-04-02,W,$ 20000,2,OR,1,Y",
        "A5,2024-04-02,W,12 34,2,OR,1,Y", *GOOD]) + "\n")
    assert [b[:4] for b in bad] == [(2, "inc", "wrong_type", "1 2"),
                                    (6, "inc", "wrong_type", "12 34")]
    incomes = {row: income for row, (income,) in _records(staged, "household_income").items()}
    assert (incomes[3], incomes[4], incomes[5]) == (20000, 1234567.5, 20000)


def test_d6_invisible_edge_characters_do_not_make_another_person(tmp_path):
    # A carriage return is a line end unless quoted.
    ids = ["K1", "K1\u00a0", "K1\t", "K1\u200b", "\ufeffK1", "\u200dK1\u2060", '"K1\r"']
    rows = [f"{pid},2024-04-0{i + 1},W,20000,2,OR,1,Y" for i, pid in enumerate(ids)]
    staged, bad = _stage(tmp_path, "\n".join([HEADER, *rows, "\u200b,2024-04-09,W,20000,2,OR,1,Y",
                                              "K\u200b1,2024-04-09,W,20000,2,OR,1,Y", *GOOD])
                         + "\n")
    # An id of nothing but invisible characters is blank; one inside an id is kept.
    assert [b[:3] for b in bad] == [(9, "client_id", "missing_value")]
    keys = {row: key for row, (key,) in _records(staged, "person_key").items()}
    assert {keys[row] for row in range(2, 9)} == {keys[2]}
    assert keys[10] != keys[2]


def test_d7_an_aggregate_table_with_an_impossible_cell_is_set_aside_whole(tmp_path):
    bad = {("White", "Below 100% FPG"): (13, 12), ("Asian", "400%+ FPG"): (5, 9),
           ("Black or African American", "100-199% FPG"): (20, 30)}
    good = {("Asian", "400%+ FPG"): (5, 9), ("White", "Below 100% FPG"): (30, 40)}
    staged, quarantined = _stage(
        tmp_path, cedar.to_csv(cedar.AGGREGATE_HEADER, cedar.aggregate_table("FY2024", bad)
                               + cedar.aggregate_table("FY2025", good)),
        partner="housing_b", name="b.csv", aggregates=True)
    # Three rows of 17 have their own problem: the file loads, without the FY2024 table.
    assert (staged.status, staged.rows_read, staged.rows_quarantined) == ("staged", 17, 10)
    assert {period for period, *_ in _records(staged, "period").values()} == {"FY2025"}
    rules = {row: (rule, message) for row, _, rule, _, message in quarantined}
    assert sorted(rules) == list(range(2, 12))
    assert rules[2][0] == rules[5][0] == rules[8][0] == "numerator_over_denominator"
    rule, message = rules[3]
    assert rule == "table_set_aside"
    assert "housed_fy for FY2024" in message and "row 2" in message
