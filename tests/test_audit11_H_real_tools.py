"""Session 11, helper H: valid files as ordinary tools write them are accepted and read as meant.

R's write.csv writes a missing value as NA and SQL Server exports write NULL: in a number, integer
or date column those are blank cells, not `wrong_type` (an R export with NA in a third of its
rows was rejected whole). A 0/1 column exported from a boolean field (TRUE/FALSE) reads as 1/0.
"""

from __future__ import annotations

import duckdb

from conftest import drop
from pipelines.feedback import bad_rows
from pipelines.intake import stage_file

HEADER = "PersonalID,Visit Date,White,RaceNone,HouseholdIncome,HouseholdSize,State,Dev Screen"


def _stage(workspace, config, text: str, name: str):
    path = drop(workspace, "northside_clinic", name, text)
    staged = stage_file(path, config, "northside_clinic", "salt", workspace.root / "stg")
    bad = bad_rows(staged.staged_db, "person_id") if staged.staged_db else []
    rows = {}
    if staged.status == "staged":
        con = duckdb.connect(staged.staged_db, read_only=True)
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT source_row, household_income, household_size, dev_screening, race_white "
            "FROM records").fetchall()}
        con.close()
    return staged, [b[:4] for b in bad], rows


def test_r_write_csv_na_is_a_blank_cell(workspace, config):
    text = ('"","PersonalID","Visit Date","White","RaceNone","HouseholdIncome","HouseholdSize",'
            '"State","Dev Screen"\n"1","RB1","2024-01-01",1,NA,52000,3,"WA","N"\n'
            '"2","RB2","2024-01-01",1,NA,NA,NA,"WA","Y"\n')
    staged, bad, rows = _stage(workspace, config, text, "r_export.csv")
    assert (staged.status, bad) == ("staged", [])
    assert rows == {2: (52000.0, 3, 0, True), 3: (None, None, 1, True)}


def test_sql_server_null_crlf_and_trailing_spaces(workspace, config):
    text = (HEADER + "\r\nRB1     ,2024-01-01 00:00:00.000,1,NULL,52000.00,3,WA  ,N\r\n"
            "RB2,2024-01-01,1,NULL,NULL,NULL,WA,Y\r\n")
    staged, bad, rows = _stage(workspace, config, text, "bcp.csv")
    assert (staged.status, bad) == ("staged", [])
    assert rows == {2: (52000.0, 3, 0, True), 3: (None, None, 1, True)}


def test_a_crosswalk_that_maps_na_keeps_its_meaning(workspace, config):
    path = workspace.path("schemas", "crosswalks", "riverbend", "northside_clinic.yaml")
    path.write_text(path.read_text().replace('{"Y": 1, "N": 0}', '{"Y": 1, "N": 0, "NA": 0}'))
    config = workspace.load("riverbend")
    staged, bad, rows = _stage(workspace, config, HEADER + "\nRB1,2024-01-01,1,,5,3,WA,NA\n",
                               "mapped.csv")
    assert (staged.status, bad, rows) == ("staged", [], {2: (5.0, 3, 0, True)})


def test_boolean_exports_in_a_zero_one_column(workspace, config):
    rows = ["RB1,2024-01-01,TRUE,,52000,3,WA,N", "RB2,2024-01-01,False,,52000,3,WA,N",
            "RB3,2024-01-01,true,,52000,3,WA,N", "RB4,2024-01-01,Yes,,52000,3,WA,N"]
    staged, bad, read = _stage(workspace, config, "\n".join([HEADER, *rows]) + "\n", "b.csv")
    assert {r: v[3] for r, v in read.items()} == {2: True, 3: False, 4: True}
    # Yes/No is the crosswalk's to map (a 0/1 column may be written in any language).
    assert bad == [(5, "race_white", "wrong_type", "Yes")]


def test_true_is_no_number_elsewhere(workspace, config):
    staged, bad, _ = _stage(workspace, config,
                            HEADER + "\nRB1,2024-01-01,1,,TRUE,3,WA,N\nRB2,2024-01-01,1,,5,3,WA,N\n",
                            "n.csv")
    assert bad == [(2, "household_income", "wrong_type", "TRUE")]


def test_null_in_a_text_column_is_still_shown_as_written(workspace, config):
    """Markers are blanks only in typed columns: a class-proxy "NULL" is refused, shown as sent."""
    text = ("Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met,"
            "Gr3 ELA Met,Campus\nS1,2024,700,NULL,Y,NULL,X\nS2,2024,700,F,NA,,X\n"
            "S3,2024,700,F,Y,,X\n")
    path = drop(workspace, "riverbend_schools", "sis.csv", text)
    staged = stage_file(path, config, "riverbend_schools", "salt", workspace.root / "stg")
    assert [b[:4] for b in bad_rows(staged.staged_db, "person_id")] == [
        (2, "low_income_proxy", "unknown_proxy_value", "NULL")]
    assert staged.rows_loaded == 2


def test_a_null_or_na_state_is_a_blank_state(workspace, config):
    rows = ["RB1,2024-01-01,1,,5,3,NULL,N", "RB2,2024-01-01,1,,5,3,NA,N",
            "RB3,2024-01-01,1,,5,3,,N", "RB4,2024-01-01,1,,5,3,XX,N"]
    path = drop(workspace, "northside_clinic", "st.csv", "\n".join([HEADER, *rows]) + "\n")
    staged = stage_file(path, config, "northside_clinic", "salt", workspace.root / "stg")
    assert [b[:4] for b in bad_rows(staged.staged_db, "person_id")] == [
        (5, "state", "not_a_state", "XX")]
    con = duckdb.connect(staged.staged_db, read_only=True)
    read = con.execute("SELECT source_row, state, class FROM records ORDER BY 1").fetchall()
    con.close()
    assert read == [(2, None, "Below 100% FPG"), (3, None, "Below 100% FPG"),
                    (4, None, "Below 100% FPG")]
