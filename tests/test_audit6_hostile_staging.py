"""Audit (session 6): hostile files of a new initiative's partner, staged as the nightly run and
`backbone check` stage them (no Prefect needed). Each is answered with the row, the partner's own
header and the value as written, or loads with the value the partner meant."""

from __future__ import annotations

import os

import duckdb
import pytest

from test_audit6_scenario import CLINIC_HEADER, INITIATIVE, build

HEADER = ",".join(CLINIC_HEADER)
GOOD = [f"K{i},2024-04-0{i + 1},W,20000,2,OR,1,Y" for i in range(8)]


@pytest.fixture
def stage(tmp_path):
    from pipelines.feedback import bad_rows
    from pipelines.intake import stage_file

    config = build(tmp_path / "home").load(INITIATIVE)

    def run(name: str, data: bytes | str):
        path = tmp_path / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        staged = stage_file(path, config, "clinic", "salt", tmp_path / f"staging-{name}")
        return staged, bad_rows(staged.staged_db, "client_id")
    return run


def _records(staged, sql: str) -> dict:
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute(sql).fetchall()}
    finally:
        con.close()


def test_ragged_rows_are_set_aside_at_their_row_and_layout_variants_load(stage):
    staged, bad = stage("ragged.csv", "\n".join(
        [HEADER, *GOOD, "R1,2024-04-09,W,20000", "R2,2024-04-09,W,20000,2,OR,1,Y,extra"]) + "\n")
    assert (staged.status, staged.rows_loaded) == ("staged", 8)
    assert [(row, rule) for row, _, rule, *_ in bad] == [(10, "malformed_row"),
                                                         (11, "malformed_row")]
    assert "fewer cells" in bad[0][4] and "more cells" in bad[1][4]
    for name, data, rows in (
            ("trailing.csv", "\n".join([HEADER + ","] + [g + "," for g in GOOD]) + "\n", 8),
            ("tabs.csv", "\n".join([HEADER.replace(",", "\t")]
                                   + [g.replace(",", "\t") for g in GOOD]) + "\n", 8),
            ("upper.csv", "\n".join(["PATIENT,visit_date,RACE,income,hh-size,STATE,seen,SCREENED"]
                                    + GOOD) + "\n", 8),
            ("utf16.csv", ("\n".join([HEADER, GOOD[0]]) + "\n").encode("utf-16-le"), 1)):
        staged, bad = stage(name, data)
        assert (staged.status, staged.rows_loaded, bad) == ("staged", rows, []), name


def test_semicolon_file_with_decimal_commas_keeps_the_amounts(stage):
    rows = [g.replace(",", ";").replace("20000", "20000,50") for g in GOOD]
    staged, bad = stage("semi.csv", "\n".join([HEADER.replace(",", ";"), *rows]) + "\n")
    assert (staged.status, bad) == ("staged", [])
    incomes = _records(staged, "SELECT source_row, household_income FROM records")
    assert {v[0] for v in incomes.values()} == {20000.5}


def test_files_that_are_not_csv_text_or_not_this_template_are_rejected_saying_why(stage):
    staged, _ = stage("png.csv", b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    assert staged.status == "rejected" and "PNG image" in staged.reasons
    staged, _ = stage("other.csv", "Student,School Year,Ethnicity\nS1,FY2024,1\n")
    assert staged.status == "rejected"
    assert "'Patient'" in staged.reasons and "'Visit Date'" in staged.reasons


def test_dates_in_other_orders_are_refused_never_read_as_another_day(stage):
    written = {2: "03-15-2024", 3: "15.03.2024", 4: "2024.03.15", 5: "20240315", 6: "2/30/2024",
               7: "2023-02-29", 8: "Q5 2024", 9: "13/2024", 10: "15/03/2024",
               11: "3/15/24", 12: "Mar 15, 2024", 13: "15 March 2024", 14: "2024-3-5",
               15: "2024-03-15T10:30:00", 16: "1/2/24", 17: "2024-02-29"}
    rows = [f'V{row},"{text}",W,20000,2,OR,1,Y' for row, text in written.items()]
    staged, bad = stage("dates.csv", "\n".join([HEADER, *rows, *GOOD]) + "\n")
    refused = {row: value for row, column, rule, value, _ in bad
               if rule in ("bad_period", "day_first_date")}
    assert refused == {row: written[row] for row in range(2, 11)}
    # A dotted date is day first wherever it is: named as such (audit 12).
    assert [row for row, _, rule, _, _ in bad if rule == "day_first_date"] == [3]
    periods = _records(staged, "SELECT source_row, period FROM records WHERE source_row < 18")
    assert {row: p[0] for row, p in periods.items()} == {
        11: "2024-03-15", 12: "2024-03-15", 13: "2024-03-15", 14: "2024-03-05",
        15: "2024-03-15", 16: "2024-01-02", 17: "2024-02-29"}
