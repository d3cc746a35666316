"""The submission status read from measure's part summary (pipelines/status_parts.py) is the
status counted from the records: files whose records are all current, partly superseded, set
aside or held, dated and undated rows, missing measures, several obligations and measures."""

from __future__ import annotations

import datetime as dt

from test_status import Books

from pipelines import measure_reuse
from pipelines.submission_status import status_sql, submission_status

D = dt.date
REPORTING = {
    "northside_clinic": [
        {"every": "quarter", "due_days": 30, "first_period": "2024Q1",
         "measures": ["well_child_visit"]},
        {"every": "year", "due_days": 60, "first_period": 2024, "measures": ["dev_screening"]}],
    # Two measures: rows holding either is a count the parts do not hold (read from records).
    "riverbend_schools": [{"every": "year", "due_days": 90, "first_period": 2023,
                           "measures": ["kinder_ready", "grade3_reading_proficient"]}],
    "bright_start": [{"every": "fiscal_year", "due_days": 30, "first_period": "FY2024",
                      "measures": []}],
    "riverbend_housing": [{"every": "year", "due_days": 45, "first_period": 2023,
                           "measures": ["stable_housing"]}]}


def _fill(books: Books) -> None:
    whole = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-30 23:00")
    books.records(whole, D(2024, 2, 1), D(2024, 2, 29), n=3, well_child_visit=1)
    books.records(whole, D(2024, 3, 5), D(2024, 3, 5), n=2, dev_screening=0)  # dated rows
    books.records(whole, D(2024, 3, 1), D(2024, 3, 31), n=1)  # no measure at all
    replaced = books.file("northside_clinic", "q2.csv", "loaded", "2024-08-01 09:00")
    books.records(replaced, D(2024, 4, 1), D(2024, 4, 30), n=4, well_child_visit=1)
    books.records(replaced, D(2024, 5, 1), D(2024, 5, 31), n=2, dev_screening=1)
    again = books.file("northside_clinic", "q2 again.csv", "loaded", "2024-08-20 09:00")
    books.records(again, D(2024, 4, 1), D(2024, 4, 30), n=2, well_child_visit=0)
    # Part of `replaced` superseded by `again`; another period of it set aside.
    books.con.execute("INSERT INTO riverbend.records_superseded SELECT submission_id, "
                      "source_row, ?, now() FROM riverbend.records WHERE submission_id = ? "
                      "AND period = '2024-04' LIMIT 3", [again, replaced])
    books.con.execute("INSERT INTO riverbend.records_set_aside VALUES (?, '2024-05', "
                      "'replaced', ?, now())", [replaced, again])
    held = books.file("northside_clinic", "q4.csv", "held", "2025-01-10 09:00")
    books.records(held, D(2024, 12, 1), D(2024, 12, 31), n=2, well_child_visit=1)
    books.file("northside_clinic", "broken.csv", "rejected", "2025-05-02 09:00")
    both = books.file("riverbend_schools", "k and g3.csv", "loaded", "2025-02-01")
    books.records(both, D(2024, 1, 1), D(2024, 12, 31), n=2, kinder_ready=1)
    books.records(both, D(2024, 1, 1), D(2024, 12, 31), n=1, grade3_reading_proficient=0)
    early = books.file("bright_start", "fy24.csv", "loaded", "2024-07-15")
    books.records(early, D(2023, 7, 1), D(2024, 6, 30), n=3)
    books.records(early, D(2023, 9, 1), D(2023, 9, 30), n=1, kinder_ready=1)
    cells = books.file("riverbend_housing", "rha.csv", "loaded", "2024-02-10")
    books.cells(cells, "stable_housing", 2023)


def test_parts_give_the_status_the_records_give(workspace) -> None:  # noqa: ANN001
    books = Books(workspace, REPORTING)
    try:
        _fill(books)
        measure_reuse.count_parts(books.con, books.config)
        query = status_sql(books.config, D(2025, 9, 1), parts=measure_reuse.PARTS)
        assert f"FROM {measure_reuse.PARTS}" in query  # the parts are read...
        assert query.count("FROM riverbend.records AS r") == 3  # ...and records where needed
        for as_of in (D(2024, 5, 1), D(2024, 9, 1), D(2025, 9, 1)):
            general = submission_status(books.con, books.config, as_of).to_pylist()
            fast = submission_status(books.con, books.config, as_of,
                                     parts=measure_reuse.PARTS).to_pylist()
            assert fast == general
            assert any(r["state"] != "missing" and r["rows"] for r in fast)
        by = {(r["partner_id"], r["period"]): r for r in general}
        assert by[("northside_clinic", "2024Q2")]["rows"] == 2  # the latest file's rows
        assert by[("northside_clinic", "2024")]["files"] == 2
        assert by[("northside_clinic", "2024Q4")]["state"] == "held"
    finally:
        books.con.close()


def test_without_the_current_layout_the_records_are_counted(workspace) -> None:  # noqa: ANN001
    books = Books(workspace, REPORTING)
    try:
        _fill(books)
        measure_reuse.count_parts(books.con, books.config)
        general = submission_status(books.con, books.config, D(2025, 9, 1)).to_pylist()
        books.con.execute("DROP TABLE riverbend.records_set_aside CASCADE")
        assert submission_status(books.con, books.config, D(2025, 9, 1),
                                 parts=measure_reuse.PARTS).to_pylist() == general
    finally:
        books.con.close()
