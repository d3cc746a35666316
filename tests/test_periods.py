"""Period labels, dates and SQL builders (pipelines.periods)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest
from pydantic import ValidationError

from pipelines import periods
from pipelines.periods import (PERIOD_TYPES, RECORD_GRAINS, Calendar, Period, display_label,
                               end_sql, fits, label_sql, parse_label, period_containing,
                               period_from_label, sort_key, start_sql)

C = Calendar()

FORMS = [
    ("2024", "year", "2024", date(2024, 1, 1), date(2024, 12, 31)),
    ("2023-24", "school_year", "2023-24", date(2023, 7, 1), date(2024, 6, 30)),
    ("2023-2024", "school_year", "2023-24", date(2023, 7, 1), date(2024, 6, 30)),
    ("2023/24", "school_year", "2023-24", date(2023, 7, 1), date(2024, 6, 30)),
    ("SY2024", "school_year", "2023-24", date(2023, 7, 1), date(2024, 6, 30)),
    ("SY 2023-24", "school_year", "2023-24", date(2023, 7, 1), date(2024, 6, 30)),
    ("SY23-24", "school_year", "2023-24", date(2023, 7, 1), date(2024, 6, 30)),
    ("sy2024", "school_year", "2023-24", date(2023, 7, 1), date(2024, 6, 30)),
    ("FY24", "fiscal_year", "FY2024", date(2023, 7, 1), date(2024, 6, 30)),
    ("FY2024", "fiscal_year", "FY2024", date(2023, 7, 1), date(2024, 6, 30)),
    ("FY 2024", "fiscal_year", "FY2024", date(2023, 7, 1), date(2024, 6, 30)),
    ("FY2023-24", "fiscal_year", "FY2024", date(2023, 7, 1), date(2024, 6, 30)),
    ("fy 24", "fiscal_year", "FY2024", date(2023, 7, 1), date(2024, 6, 30)),
    ("2024Q1", "quarter", "2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
    ("2024 Q1", "quarter", "2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
    ("2024-Q1", "quarter", "2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
    ("Q1 2024", "quarter", "2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
    ("Q1-2024", "quarter", "2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
    ("Q1/2024", "quarter", "2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
    ("1Q2024", "quarter", "2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
    ("q4 2024", "quarter", "2024Q4", date(2024, 10, 1), date(2024, 12, 31)),
    ("2024-03", "month", "2024-03", date(2024, 3, 1), date(2024, 3, 31)),
    ("2024/03", "month", "2024-03", date(2024, 3, 1), date(2024, 3, 31)),
    ("03/2024", "month", "2024-03", date(2024, 3, 1), date(2024, 3, 31)),
    ("3/2024", "month", "2024-03", date(2024, 3, 1), date(2024, 3, 31)),
    ("March 2024", "month", "2024-03", date(2024, 3, 1), date(2024, 3, 31)),
    ("Mar 2024", "month", "2024-03", date(2024, 3, 1), date(2024, 3, 31)),
    ("Mar-24", "month", "2024-03", date(2024, 3, 1), date(2024, 3, 31)),
    ("March-2024", "month", "2024-03", date(2024, 3, 1), date(2024, 3, 31)),
    ("  FEBRUARY   2024 ", "month", "2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("2024-03-15", "day", "2024-03-15", date(2024, 3, 15), date(2024, 3, 15)),
    ("3/15/2024", "day", "2024-03-15", date(2024, 3, 15), date(2024, 3, 15)),
    ("03/15/2024", "day", "2024-03-15", date(2024, 3, 15), date(2024, 3, 15)),
    ("2024/03/15", "day", "2024-03-15", date(2024, 3, 15), date(2024, 3, 15)),
    ("2024-03-15 00:00:00", "day", "2024-03-15", date(2024, 3, 15), date(2024, 3, 15)),
    # Health-record exports and word processors.
    ("3/15/24", "day", "2024-03-15", date(2024, 3, 15), date(2024, 3, 15)),
    ("15-Mar-2024", "day", "2024-03-15", date(2024, 3, 15), date(2024, 3, 15)),
    ("15 March 2024", "day", "2024-03-15", date(2024, 3, 15), date(2024, 3, 15)),
    ("March 15, 2024", "day", "2024-03-15", date(2024, 3, 15), date(2024, 3, 15)),
    ("2024\u201325", "school_year", "2024-25", date(2024, 7, 1), date(2025, 6, 30)),
    ("2024\u201003", "month", "2024-03", date(2024, 3, 1), date(2024, 3, 31)),
    # A two-digit year more than ten years ahead is last century's.
    ("FY99", "fiscal_year", "FY1999", date(1998, 7, 1), date(1999, 6, 30)),
    ("SY99-00", "school_year", "1999-00", date(1999, 7, 1), date(2000, 6, 30)),
    ("Mar-99", "month", "1999-03", date(1999, 3, 1), date(1999, 3, 31)),
]


@pytest.mark.parametrize("text,kind,label,start,end", FORMS)
def test_every_accepted_form(text, kind, label, start, end):
    assert parse_label(text, C) == Period(kind, label, start, end)


def test_a_bare_year_means_the_default_type():
    assert parse_label("2024", C, "school_year").label == "2023-24"
    assert parse_label("2024", C, "fiscal_year").label == "FY2024"
    assert parse_label("2024", C, "year").label == "2024"
    assert parse_label("2024", C, "quarter").type == "year"  # no quarter is a whole year
    # A span of years read under a fiscal calendar is a fiscal year, named by its end.
    assert parse_label("2023-24", C, "fiscal_year").label == "FY2024"
    # A numeric Excel cell hands a year over as 2024.0.
    assert parse_label("2024.0", C).label == "2024"


def test_a_month_crosswalk_reads_2011_12_as_december():
    assert parse_label("2011-12", C, "month").label == "2011-12"
    assert parse_label("2011-12", C, "month").type == "month"
    assert parse_label("2011-12", C).type == "school_year"


def test_crosswalk_labels_come_first_case_and_space_insensitive():
    labels = {"Fall Term 23": "2023Q4", "Spring 24": "Q1 2024", "2024": "SY2025"}
    assert parse_label("fall term 23", C, labels=labels).label == "2023Q4"
    assert parse_label(" SPRING  24", C, labels=labels).label == "2024Q1"
    assert parse_label("2024", C, labels=labels).label == "2024-25"  # the map overrides forms
    assert parse_label("2023", C, labels=labels).label == "2023"
    with pytest.raises(ValueError, match="maps to 'someday'"):
        parse_label("later", C, labels={"later": "someday"})


@pytest.mark.parametrize("bad", ["Q5 2024", "2024-13", "13/2024", "Marchember 2024", "2023-25",
                                 "SY2023-25", "2/30/2024", "99", "", "10000", "<b>x</b>", "FY"])
def test_bad_labels_say_what_to_write(bad):
    with pytest.raises(ValueError) as caught:
        parse_label(bad, C)
    message = str(caught.value)
    assert message.startswith(f"{bad.strip()!r} is not a period: write e.g. ")
    for example in ("2024Q1", "Q1 2024", "2024-03", "2023-24", "FY2024", "a date"):
        assert example in message


def test_bad_default_type_and_calendar():
    with pytest.raises(ValueError, match="'week' is not a period type"):
        parse_label("2024", C, "week")
    with pytest.raises(ValidationError):
        Calendar(school_year_start_month=13)
    with pytest.raises(ValidationError):
        Calendar(fiscal_year_start_month=0)
    with pytest.raises(ValidationError):
        Calendar(other=1)


# --- date derivation ------------------------------------------------------------------------

def test_school_year_start_month_7_and_8():
    assert period_containing(date(2024, 6, 30), "school_year", C).label == "2023-24"
    assert period_containing(date(2024, 7, 1), "school_year", C).label == "2024-25"
    august = Calendar(school_year_start_month=8)
    p = period_containing(date(2024, 7, 31), "school_year", august)
    assert (p.label, p.start, p.end) == ("2023-24", date(2023, 8, 1), date(2024, 7, 31))
    assert parse_label("SY2024", august).start == date(2023, 8, 1)
    # A January start: the school year is the calendar year, named by the year it ends in.
    january = Calendar(school_year_start_month=1)
    assert parse_label("SY2024", january) == period_containing(date(2024, 5, 1), "school_year",
                                                               january)
    assert parse_label("2023-24", january).start == date(2024, 1, 1)
    # 1999-00: the second year's digits wrap
    assert period_containing(date(1999, 9, 1), "school_year", C).label == "1999-00"
    assert period_from_label("1999-00", "school_year", C).end == date(2000, 6, 30)


@pytest.mark.parametrize("month,start,end", [
    (1, date(2024, 1, 1), date(2024, 12, 31)),
    (7, date(2023, 7, 1), date(2024, 6, 30)),
    (10, date(2023, 10, 1), date(2024, 9, 30)),
])
def test_fiscal_year_named_by_the_year_it_ends_in(month, start, end):
    cal = Calendar(fiscal_year_start_month=month)
    fy = period_from_label("FY2024", "fiscal_year", cal)
    assert (fy.start, fy.end) == (start, end)
    assert period_containing(start, "fiscal_year", cal).label == "FY2024"
    assert period_containing(end, "fiscal_year", cal).label == "FY2024"
    assert period_containing(end + timedelta(days=1), "fiscal_year", cal).label == "FY2025"
    assert period_containing(start - timedelta(days=1), "fiscal_year", cal).label == "FY2023"
    assert parse_label("FY24", cal) == fy
    assert parse_label("2024", cal, "fiscal_year") == fy


def test_quarter_month_day_year():
    assert period_containing(date(2024, 5, 20), "quarter", C) == Period(
        "quarter", "2024Q2", date(2024, 4, 1), date(2024, 6, 30))
    assert period_containing(date(2023, 2, 10), "month", C) == Period(
        "month", "2023-02", date(2023, 2, 1), date(2023, 2, 28))
    assert period_containing(date(2023, 2, 10), "day", C).label == "2023-02-10"
    assert period_containing(date(2023, 2, 10), "year", C).label == "2023"


def test_period_from_label_is_canonical_only():
    for label, kind in [("2024", "year"), ("2023-24", "school_year"), ("FY2024", "fiscal_year"),
                        ("2024Q3", "quarter"), ("2024-11", "month"), ("2024-02-29", "day")]:
        assert period_from_label(label, kind, C).label == label
    for label, kind in [("Q1 2024", "quarter"), ("2023-25", "school_year"), ("FY24", "fiscal_year"),
                        ("2024-13", "month"), ("2023-02-29", "day"), ("2024", "quarter")]:
        with pytest.raises(ValueError, match="is not a canonical"):
            period_from_label(label, kind, C)


def test_fits():
    march = parse_label("2024-03", C)
    assert fits(march, "quarter", C).label == "2024Q1"
    assert fits(march, "school_year", C).label == "2023-24"
    assert fits(march, "year", C).label == "2024"
    assert fits(march, "month", C) == march
    assert fits(parse_label("2024", C), "quarter", C) is None  # coarser
    assert fits(parse_label("2023-24", C), "year", C) is None  # straddles two years
    assert fits(parse_label("2024-06-30", C), "fiscal_year", C).label == "FY2024"
    assert fits(parse_label("2024", C), "fiscal_year", Calendar(fiscal_year_start_month=1)).label \
        == "FY2024"


def test_sort_key_and_display_label():
    labels = ["2024Q1", "2023-24", "2023Q4"]
    assert sorted(labels, key=sort_key) == ["2023-24", "2023Q4", "2024Q1"]
    assert sort_key("2024Q1", "quarter") == (date(2024, 1, 1), date(2024, 3, 31))
    assert display_label(parse_label("2024Q1", C)) == "2024 Q1"
    assert display_label(parse_label("2024-03", C)) == "March 2024"
    assert display_label(parse_label("2024-03", C), "es") == "marzo 2024"
    assert display_label(parse_label("2023-24", C)) == "2023-24"
    assert display_label(parse_label("FY24", C)) == "FY2024"
    assert display_label(parse_label("2024", C)) == "2024"


def test_contract_names():
    assert PERIOD_TYPES == ("year", "school_year", "fiscal_year", "quarter", "month")
    assert RECORD_GRAINS == PERIOD_TYPES + ("day",)
    for name in ("Calendar", "Period", "period_containing", "period_from_label", "parse_label",
                 "fits", "label_sql", "start_sql", "end_sql", "sort_key", "display_label"):
        assert hasattr(periods, name)


# --- SQL builders agree with Python on every day of 2023-2025 -------------------------------

CALENDARS = [Calendar(), Calendar(school_year_start_month=8, fiscal_year_start_month=1),
             Calendar(school_year_start_month=1, fiscal_year_start_month=10)]


@pytest.mark.parametrize("cal", CALENDARS, ids=["7-7", "8-1", "1-10"])
def test_sql_builders_match_python(cal):
    con = duckdb.connect()
    con.execute("CREATE TABLE days AS SELECT CAST(d AS DATE) AS d "
                "FROM range(DATE '2023-01-01', DATE '2026-01-01', INTERVAL 1 DAY) t(d)")
    days = [row[0] for row in con.execute("SELECT d FROM days ORDER BY d").fetchall()]
    assert len(days) == 365 * 3 + 1
    for kind in RECORD_GRAINS:
        rows = con.execute(f"SELECT d, {label_sql('d', kind, cal)}, {start_sql('d', kind, cal)}, "
                           f"{end_sql('d', kind, cal)} FROM days ORDER BY d").fetchall()
        expected = [(day, p.label, p.start, p.end) for day, p in
                    ((day, period_containing(day, kind, cal)) for day in days)]
        assert rows == expected, kind
        assert con.execute(f"SELECT typeof({start_sql('d', kind, cal)}), "
                           f"typeof({end_sql('d', kind, cal)}) FROM days LIMIT 1").fetchone() \
            == ("DATE", "DATE")


def test_sql_fit_rule_matches_fits():
    con = duckdb.connect()
    records = [parse_label(t, C) for t in ("2024-03", "2024", "2023-24", "2024Q2", "2024-06-30",
                                           "FY2025")]
    con.execute("CREATE TABLE r(period_start DATE, period_end DATE)")
    con.executemany("INSERT INTO r VALUES (?, ?)", [(p.start, p.end) for p in records])
    for kind in PERIOD_TYPES:
        got = con.execute(f"SELECT {label_sql('period_start', kind, C)} = "
                          f"{label_sql('period_end', kind, C)} FROM r ORDER BY rowid").fetchall()
        assert [row[0] for row in got] == [fits(p, kind, C) is not None for p in records], kind
