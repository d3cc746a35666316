"""Session 7, helper B: values a partner would reasonably send, read as meant or refused clearly.

Class-proxy codes match whatever their case, as race codes do; numbers grouped with no-break,
narrow no-break or thin spaces read as thousands groups under the space rule; a percentage is
refused alike from a CSV ("45%") and from a workbook cell formatted as one (stored 0.45).
"""

from __future__ import annotations

import duckdb
import pytest

import test_audit6_scenario as cedar
import test_audit6_staging_fixes as s
from pipelines.config import ConfigError
from pipelines.typed import GROUP_SPACES, number_sql

SCHOOL_HEADER = "Student,School Year,Ethnicity,FRL,Days Enrolled,Days Absent"


def test_class_proxy_codes_match_whatever_their_case(tmp_path):
    rows = ["S1,2024,1,f,100,3", "S2,2024,1,F,100,3", "S3,2024,2,p,100,3", "S4,2024,2,x,100,3",
            "S5,2024,2,r,100,3", "S6,2024,2,\u00a0P ,100,3"]
    staged, bad = s._stage(tmp_path, "\n".join([SCHOOL_HEADER, *rows]) + "\n", partner="school")
    assert (staged.status, staged.rows_loaded) == ("staged", 5)
    # The code list stays in the message; the value is shown as the partner wrote it.
    assert [b[:5] for b in bad] == [(5, "benefit", "unknown_proxy_value", "x",
                                     "'FRL' must be one of: F, R, P.")]
    low, high = "Low income (proxy)", "Not low income (proxy)"
    # Kept as the crosswalk spells the code, so measure's own match finds it next year too.
    assert s._records(staged, "class_proxy_value, class") == {
        2: ("F", low), 3: ("F", low), 4: ("P", high), 6: ("R", low), 7: ("P", high)}


def test_a_crosswalk_whose_proxy_codes_differ_only_by_case_is_refused(tmp_path):
    workspace = cedar.build(tmp_path / "home")
    path = workspace.path("schemas", "crosswalks", cedar.INITIATIVE, "school.yaml")
    path.write_text(path.read_text().replace(
        'class_proxy: {F: "Low income (proxy)"',
        'class_proxy: {f: "Not low income (proxy)", F: "Low income (proxy)"'))
    with pytest.raises(ConfigError, match="differ only in case"):
        workspace.load(cedar.INITIATIVE)


SPACED = ["1 234", "20 000", "1 234 567,5", "1 234 567.25", "$ 20 000", "- 5", "-1 234",
          "5 $", "1 2", "12 34", "1 2345", "1  234", "1 234,", "1 23 456", " 1 234"]


def test_no_break_narrow_and_thin_spaces_follow_the_space_rule_exactly():
    """Every spaced sample reads the same with any group space in place of each space: the same
    number, or the same refusal (never 12 for "1 2")."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR)")
    variants = [(text, text.replace(" ", space)) for text in SPACED for space in GROUP_SPACES]
    con.executemany("INSERT INTO t VALUES (?)", [[v] for _, v in variants])
    read = dict(con.execute(f"SELECT v, {number_sql('v')} FROM t").fetchall())
    for text, variant in variants:
        assert read[variant] == read[text], (text, variant)
    assert read["1\u00a0234"] == 1234 and read["1\u202f234\u202f567,5"] == 1234567.5
    assert read["1\u2009234"] == 1234 and read["$\u00a020\u00a0000"] == 20000
    assert read["1\u00a02"] is None and read["12\u202f34"] is None


def test_a_french_excel_number_is_read_in_a_staged_file(tmp_path):
    rows = [s.GOOD[0], 'G8,2024-04-08,W,"1\u202f234,5",2,OR,1,Y',
            "G9,2024-04-09,W,20\u00a0000,2,OR,1,Y", "G7,2024-04-07,W,1\u00a02,2,OR,1,Y"]
    staged, bad = s._stage(tmp_path, "\n".join([s.HEADER, *rows]) + "\n")
    assert s._records(staged, "household_income") == {2: (20000.0,), 3: (1234.5,),
                                                       4: (20000.0,)}
    assert [b[:4] for b in bad] == [(5, "inc", "wrong_type", "1\u00a02")]


def _workbook(path, rows, percent_format: str | None, at: str = "A1"):
    import openpyxl
    from openpyxl.utils import coordinate_to_tuple

    book = openpyxl.Workbook()
    sheet = book.active
    top, left = coordinate_to_tuple(at)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            cell = sheet.cell(top + r, left + c, value)
            if percent_format and r and c == 3 and isinstance(value, float):
                cell.number_format = percent_format
    book.save(path)


@pytest.mark.parametrize("percent_format, at", [("0%", "A1"), ("0.0%", "C3"),
                                                ('#,##0.0"%"', "A1")])
def test_a_percentage_is_refused_alike_from_a_workbook_and_a_csv(tmp_path, percent_format, at):
    """Income as percent of poverty: 145% stored as 1.45 must not load as 1.45 (100x off)."""
    good = [row.split(",") for row in s.GOOD[:4]]
    rows = [s.HEADER.split(","), *good[:2], ["X1", "2024-04-09", "W", 1.45, "2", "OR", "1", "Y"],
            *good[2:]]
    _workbook(tmp_path / "visits.xlsx", rows, percent_format, at)
    literal = percent_format.endswith('"%"')  # a % sign as text: the cell shows 1.5%, not 145%
    csv_rows = [",".join(r) for r in rows[:3]] + [
        f"X1,2024-04-09,W,{'1.45' if literal else '145%'},2,OR,1,Y"] + [",".join(r)
                                                                        for r in rows[4:]]
    (tmp_path / "visits.csv").write_text("\n".join(csv_rows) + "\n")
    from pipelines.feedback import bad_rows
    from pipelines.intake import stage_file

    config = s._config(tmp_path)
    answers = []
    for folder, name in (("x", "visits.xlsx"), ("c", "visits.csv")):
        staged = stage_file(tmp_path / name, config, "clinic", "salt", tmp_path / folder)
        answers.append((staged.status, staged.rows_loaded,
                        [b[:4] for b in bad_rows(staged.staged_db, "client_id")]))
    offset = 2 if at == "C3" else 0
    if literal:
        # '#,##0.0"%"' shows the stored number with a % character: no percentage to refuse.
        assert answers[0] == ("staged", 5, [])
        return
    assert answers[0][:2] == ("staged", 4)
    assert answers[0][2] == [(4 + offset, "inc", "percent_sign", "145%")]
    assert answers[1] == ("staged", 4, [(4, "inc", "percent_sign", "145%")])


def test_the_percent_message_says_why_it_is_not_read(tmp_path):
    rows = [*s.GOOD[:3], "X1,2024-04-09,W,45%,2,OR,1,Y", "X2,2024-04-09,W,lots,2,OR,1,Y"]
    staged, bad = s._stage(tmp_path, "\n".join([s.HEADER, *rows]) + "\n")
    by_rule = {b[2]: b[4] for b in bad}
    assert set(by_rule) == {"percent_sign", "wrong_type"}  # one problem per cell, not two
    assert "45 or 0.45" in by_rule["percent_sign"] and "% sign" in by_rule["percent_sign"]
    assert by_rule["wrong_type"] == "'Income' must be a number."
