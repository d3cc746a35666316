"""A spreadsheet row whose cells are only tabs (or other whitespace the read does not trim) is
counted as a data row and quarantined ('missing_value', 'bad_period' shown as a tab), not read
as a blank line.

read.load_csv comment: "A record whose every cell (ignored columns too) is empty or blank is
what a spreadsheet writes for an empty row: a blank line ... not a row to validate."
test_d0 treats ' ' and NBSP cells as blank; a tab is as blank as they are.
"""
from __future__ import annotations



import test_audit6_staging_fixes as s  # noqa: E402


def test_a_row_of_tab_cells_is_a_blank_line(tmp_path):
    rows = [s.GOOD[0], "\t,\t,,,,,,", s.GOOD[1]]
    staged, bad = s._stage(tmp_path, "\r\n".join([s.HEADER, *rows]) + "\r\n")
    assert (staged.rows_read, staged.rows_loaded, bad) == (2, 2, [])
