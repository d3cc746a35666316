"""`resubmission_shortcuts.part_filter`: the stored-column condition that lets `earlier_rows` skip
row groups must never change its answer. On rows the intake would not let through as well as
ordinary ones (dated rows whose month is a part, NULL period types, periods and partners, a
stored period that looks like a month), `earlier_rows` answers the same with the filter and
without it for every group of parts, and both answers occur."""

from __future__ import annotations

import datetime as dt
import itertools

import duckdb

from pipelines import resubmission_shortcuts as shortcuts
from pipelines.resubmission import MONTH_OF_DAY, Layout

RECORDS = Layout("r.records", ("person_key", "period"), ("period",), "rows",
                 part_sql=(MONTH_OF_DAY,), events=True)
AGGREGATES = Layout("r.aggregate_counts", ("indicator_id", "period", "race", "class"),
                    ("indicator_id", "period"), "cells")


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA r")
    con.execute("CREATE TABLE r.records (submission_id BIGINT, partner_id VARCHAR, "
                "person_key BIGINT, period VARCHAR, period_type VARCHAR, period_start DATE)")
    day = dt.date
    con.executemany("INSERT INTO r.records VALUES (?, ?, ?, ?, ?, ?)", [
        (1, "a", 1, "2023", "year", day(2023, 1, 1)),
        (1, "a", 2, "2024", "year", day(2024, 1, 1)),
        (2, "a", 3, "2024-03-05", "day", day(2024, 3, 5)),  # its part is 2024-03
        (2, "a", 4, None, "day", day(2024, 4, 9)),  # a dated row without a period label
        (3, "a", 5, "2024-05", None, day(2024, 5, 1)),  # no period type: its label is its part
        (3, "a", 6, None, None, None),
        (4, "b", 7, "2025", "year", day(2025, 1, 1)),
        (5, None, 8, "2026", "year", day(2026, 1, 1)),
        (9, "a", 9, "2027", "year", day(2027, 1, 1)),  # the group's own rows
    ])
    con.execute("CREATE VIEW r.records_current AS SELECT * FROM r.records")
    con.execute("CREATE TABLE r.aggregate_counts (submission_id BIGINT, partner_id VARCHAR, "
                "indicator_id VARCHAR, period VARCHAR, race VARCHAR, class VARCHAR)")
    con.executemany("INSERT INTO r.aggregate_counts VALUES (?, ?, ?, ?, 'ALL', 'ALL')", [
        (1, "a", "housing", "2024"), (1, "a", "shelter", "2023"), (2, "a", None, "2024"),
        (2, "a", "housing", None), (9, "a", "shelter", "2027")])
    con.execute("CREATE VIEW r.aggregate_counts_current AS SELECT * FROM r.aggregate_counts")
    return con


def _answers(con, lay: Layout, parts: list[tuple]) -> tuple[bool, bool]:
    names = lay.part_names
    values = ", ".join("(" + ", ".join(f"'{v}'" for v in p) + ")" for p in parts)
    in_parts = f"SEMI JOIN (VALUES {values}) p({names}) USING ({names})"
    with_filter = shortcuts.earlier_rows(con, lay, "a", "9", in_parts,
                                         shortcuts.part_filter(lay, parts))
    without = shortcuts.earlier_rows(con, lay, "a", "9", in_parts)
    return with_filter, without


def test_earlier_rows_answers_the_same_with_the_part_filter():
    con = _warehouse()
    record_parts = [("2023",), ("2024",), ("2024-03",), ("2024-04",), ("2024-05",),
                    ("2024-03-05",), ("2025",), ("2026",), ("2027",), ("2022",)]
    aggregate_parts = [(i, p) for i in ("housing", "shelter") for p in ("2023", "2024", "2027")]
    seen = set()
    for lay, every in ((RECORDS, record_parts), (AGGREGATES, aggregate_parts)):
        for size in (1, 2):
            for parts in itertools.combinations(every, size):
                with_filter, without = _answers(con, lay, list(parts))
                assert with_filter == without, (lay.table, parts)
                seen.add((lay.table, without))
    assert seen == {(t, answer) for t in ("r.records", "r.aggregate_counts")
                    for answer in (True, False)}


def test_the_part_filter_names_stored_columns_only():
    assert shortcuts.part_filter(RECORDS, [("2024",), ("2024-03",)]) == \
        "(period IN ('2024', '2024-03') OR period_type = 'day')"
    assert shortcuts.part_filter(AGGREGATES, [("housing", "2024")]) == \
        "indicator_id IN ('housing') AND period IN ('2024')"
    assert shortcuts.part_filter(RECORDS, []) == "true"
    unknown = Layout("r.records", ("person_key",), ("period",), "rows", part_sql=("upper(period)",))
    assert shortcuts.part_filter(unknown, [("X",)]) == "true"
