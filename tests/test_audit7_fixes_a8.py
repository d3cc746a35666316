"""Audit 7, finding A8: one mistyped label in an aggregate table sets that table aside, not the
file. The typo leaves its race's total with no cells under it, so the sum check flags every row
of the table; those rows go with their table and must not count toward max_bad_row_share (the
README: "Rows set aside only with their table do not count"), or the file's good tables are
lost with it. Staging only (real GX, real DuckDB), on the Juniper scenario's coalition file.
"""

from __future__ import annotations

import duckdb

from pipelines.intake import stage_file

import test_audit7_scenario as J


def _stage(tmp_path, rows):
    ws = J.build(tmp_path / "home")
    path = tmp_path / "counts.csv"
    path.write_text(J.to_csv(J.AGGREGATE_HEADER, rows))
    return stage_file(path, ws.load(J.INITIATIVE), "coalition", "salt", tmp_path / "staging")


def test_a_mistyped_label_sets_aside_its_table_and_the_other_table_loads(tmp_path):
    big = J.aggregate_table("visits_agg", "2023-24", J.COALITION["2023-24"])
    big[1][2] = "Latino"  # 'Hispanic or Latino' mistyped in one cell
    small = J.aggregate_table("visits_agg", "2024-25", {
        ("White", "Below 100% FPG"): (44, 50),
        ("Hispanic or Latino", "Below 100% FPG"): (70, 95)})
    staged = _stage(tmp_path, big + small)
    assert staged.status == "staged", staged.problems
    assert (staged.rows_read, staged.rows_quarantined, staged.rows_loaded) == (20, 14, 6)
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        assert con.execute("SELECT DISTINCT period FROM records").fetchall() == [("2024-25",)]
        # The typo itself is among the rows to fix, named by its own rule.
        assert ("race", "not_allowed", "Latino") in con.execute(
            "SELECT column_name, rule, value FROM quarantine WHERE _row = 3").fetchall()
    finally:
        con.close()


def test_tables_that_do_not_add_up_on_their_own_still_count_as_bad_rows(tmp_path):
    """No row of its own problem: nothing but the sums says the export is wrong, so the rows
    still count, and a file of such tables is rejected as before."""
    big = J.aggregate_table("visits_agg", "2023-24", J.COALITION["2023-24"])
    big[-1][4] = str(int(big[-1][4]) + 1)  # the overall total one too many
    staged = _stage(tmp_path, big)
    assert staged.status == "rejected"
    assert [p["rule"] for p in staged.problems] == ["too_many_bad_rows"]
