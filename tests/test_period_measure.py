"""Indicators of any period type measured from records of any grain (monthly, dated, yearly...).

Records are put straight into a real warehouse's tables (as staging would write them) and the
real measure stage runs over them; indicators of other period types are real YAML files added
to the workspace's definitions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import itertools

import duckdb
import pytest

from pipelines import periods, warehouse
from pipelines.measure import build_indicator_cells
from pipelines.publish import indicator_periods
from pipelines.standardize import RACE_CODES

WHITE, MULTI = "White", "Multiracial and/or Multiethnic"
_rows = itertools.count(2)


def _add_indicator(workspace, indicator_id: str, period_type: str) -> None:
    workspace.path("indicators", "riverbend", f"{indicator_id}.yaml").write_text(f"""\
id: {indicator_id}
title: Children with a well-child visit ({period_type})
direction: higher_is_better
period_type: {period_type}
denominator:
  - {{column: well_child_visit, op: not_null}}
numerator:
  - {{column: well_child_visit, op: "=", value: 1}}
""")


def _calendar(workspace, school_year_start_month: int) -> None:
    path = workspace.path("indicators", "riverbend", "initiative.yaml")
    # Replaces the calendar an earlier call added: a key written twice is refused.
    text = re.sub(r"calendar:\n  school_year_start_month: \d+\n", "", path.read_text())
    path.write_text(text + f"calendar:\n  school_year_start_month: {school_year_start_month}\n")


def _key(person: str) -> int:
    return int(hashlib.sha256(person.encode()).hexdigest()[:32], 16)


def _insert(con, partner: str, person: str, label: str, wcv=None, races=(), multi=False,
            income=None, size=None, submission: int = 1) -> None:
    """A warehouse record of `label`'s grain (any accepted form, read as staging reads it)."""
    period = periods.parse_label(label)
    flags = [code in races for code in RACE_CODES]
    con.execute(
        "INSERT INTO riverbend.records (submission_id, source_row, loaded_at, partner_id, "
        "person_key, period, period_type, period_start, period_end, "
        + ", ".join(f"race_{c}" for c in RACE_CODES) + ", race_multi_unspecified, "
        "race_reported, household_income, household_size, state, class, well_child_visit) "
        "VALUES (?, ?, now(), ?, ?, ?, ?, ?, ?, " + ", ".join("?" for _ in RACE_CODES)
        + ", ?, ?, ?, ?, 'WA', 'Not reported', ?)",
        [submission, next(_rows), partner, _key(person), period.label, period.type,
         period.start, period.end, *flags, multi, any(flags) or multi, income, size, wcv])


@pytest.fixture
def periodic(workspace):
    _add_indicator(workspace, "wcv_quarterly", "quarter")
    _add_indicator(workspace, "wcv_monthly", "month")
    _add_indicator(workspace, "wcv_school_year", "school_year")
    return workspace


def _con(config):
    connection = duckdb.connect()
    connection.execute(warehouse.DDL)
    warehouse.ensure_initiative_tables(connection, config)
    return connection


def _cells(con, indicator: str, period: str, partner: str = "ALL") -> dict:
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in con.execute(
        "SELECT race_tabulation, race, class, numerator, denominator FROM "
        "riverbend.indicator_cells WHERE indicator_id = ? AND period = ? AND partner_id = ?",
        [indicator, period, partner]).fetchall()}


def _total(con, indicator: str, period: str, partner: str = "ALL"):
    return _cells(con, indicator, period, partner).get(("total", "ALL", "ALL"))


def test_monthly_rows_count_each_person_once_per_quarter_and_year(periodic):
    config = periodic.load("riverbend")
    con = _con(config)
    # p1: a visit every month of Q1 at the clinic, and in February at Bright Start too.
    for month in ("2024-01", "2024-02", "2024-03"):
        _insert(con, "northside_clinic", "p1", month, wcv=1, races=["white"])
    _insert(con, "bright_start", "p1", "Feb 2024", wcv=1, races=["white"], submission=2)
    # p2: no visit in January, a visit in April: in Q1's denominator only, the year's numerator.
    _insert(con, "northside_clinic", "p2", "2024-01", wcv=0, races=["white"])
    _insert(con, "northside_clinic", "p2", "2024-04", wcv=1, races=["white"])
    build_indicator_cells(con, config)

    assert _total(con, "wcv_quarterly", "2024Q1") == (1, 2)
    assert _total(con, "wcv_quarterly", "2024Q2") == (1, 1)
    assert _total(con, "well_child_visits", "2024") == (2, 2)
    assert _total(con, "wcv_monthly", "2024-01") == (1, 2)
    assert _total(con, "wcv_monthly", "2024-02") == (1, 1)
    # Per partner too: the clinic's three monthly rows of p1 are one person in its own rows.
    assert _total(con, "wcv_quarterly", "2024Q1", "northside_clinic") == (1, 2)
    assert _total(con, "wcv_quarterly", "2024Q1", "bright_start") == (1, 1)
    assert _total(con, "well_child_visits", "2024", "northside_clinic") == (2, 2)
    assert _cells(con, "wcv_quarterly", "2024Q1", "northside_clinic")[
        ("alone", WHITE, "ALL")] == (1, 2)
    # The cells carry the indicator period's type and dates.
    assert con.execute(
        "SELECT DISTINCT period_type, period_start, period_end FROM riverbend.indicator_cells "
        "WHERE indicator_id = 'wcv_quarterly' ORDER BY period_start").fetchall() == [
        ("quarter", dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
        ("quarter", dt.date(2024, 4, 1), dt.date(2024, 6, 30))]
    assert con.execute(
        "SELECT DISTINCT period_type, period_start, period_end FROM riverbend.indicator_cells "
        "WHERE indicator_id = 'well_child_visits'").fetchall() == [
        ("year", dt.date(2024, 1, 1), dt.date(2024, 12, 31))]


def test_a_yearly_record_is_not_counted_in_a_quarterly_indicator_and_the_manifest_says_so(
        periodic):
    config = periodic.load("riverbend")
    con = _con(config)
    _insert(con, "northside_clinic", "p1", "2024-02", wcv=1)
    _insert(con, "northside_clinic", "p3", "2024", wcv=1)  # a yearly record
    _insert(con, "riverbend_schools", "p4", "2023-24", wcv=1)  # a school year straddles 2024
    _insert(con, "riverbend_schools", "p5", "2024", wcv=None)  # not in the denominator anyway
    build_indicator_cells(con, config)

    assert _total(con, "wcv_quarterly", "2024Q1") == (1, 1)
    assert _total(con, "well_child_visits", "2024") == (2, 2)  # p1 and p3, not p4
    assert _total(con, "well_child_visits", "2023") is None
    grains = {g["indicator_id"]: g for g in indicator_periods(con, config)}
    assert (grains["wcv_quarterly"]["period_type"],
            grains["wcv_quarterly"]["records_not_counted"]) == ("quarter", 2)
    assert grains["wcv_monthly"]["records_not_counted"] == 2
    assert (grains["well_child_visits"]["period_type"],
            grains["well_child_visits"]["records_not_counted"]) == ("year", 1)
    assert grains["wcv_school_year"]["records_not_counted"] == 1  # 2024 straddles two
    assert grains["kindergarten_readiness"]["records_not_counted"] == 0


def test_a_school_year_indicator_adds_up_dated_rows_by_the_calendars_start_month(periodic):
    _calendar(periodic, 7)
    config = periodic.load("riverbend")
    con = _con(config)
    _insert(con, "northside_clinic", "p1", "2023-07-01", wcv=0)
    _insert(con, "northside_clinic", "p1", "3/15/2024", wcv=1)
    _insert(con, "northside_clinic", "p1", "2024-06-30", wcv=0)
    _insert(con, "northside_clinic", "p2", "2024-07-01", wcv=1)
    build_indicator_cells(con, config)

    assert _total(con, "wcv_school_year", "2023-24") == (1, 1)
    assert _total(con, "wcv_school_year", "2024-25") == (1, 1)
    assert con.execute(
        "SELECT DISTINCT period_type, period_start, period_end FROM riverbend.indicator_cells "
        "WHERE indicator_id = 'wcv_school_year' AND period = '2023-24'").fetchall() == [
        ("school_year", dt.date(2023, 7, 1), dt.date(2024, 6, 30))]
    # The same rows under a calendar whose school year starts in August.
    _calendar(periodic, 8)
    august = periodic.load("riverbend")
    build_indicator_cells(con, august)
    assert _total(con, "wcv_school_year", "2023-24") == (2, 2)  # p2's July 1 is still 2023-24
    assert _total(con, "wcv_school_year", "2022-23") == (0, 1)  # p1's July 1, 2023


def test_the_guideline_year_follows_the_records_period_start(periodic):
    config = periodic.load("riverbend")
    con = _con(config)
    # 15,000 for one person: 103% of 2023's guideline (14,580), 99.6% of 2024's (15,060).
    _insert(con, "northside_clinic", "p1", "2023-24", wcv=1, income=15000.0, size=1)
    _insert(con, "northside_clinic", "p2", "2024-03-15", wcv=1, income=15000.0, size=1)
    build_indicator_cells(con, config)

    cells = _cells(con, "wcv_school_year", "2023-24")
    assert cells[("total", "ALL", "100-199% FPG")] == (1, 1)  # school year 2023-24: 2023's
    assert cells[("total", "ALL", "Below 100% FPG")] == (1, 1)  # a day in 2024: 2024's
    assert con.execute("SELECT * FROM riverbend.poverty_guideline_years ORDER BY period"
                       ).fetchall() == [("2023", 2023, False), ("2024", 2024, False)]


def test_a_period_starting_before_the_first_guideline_year_is_an_error_naming_it(periodic):
    from pipelines.errors import ConfigError

    config = periodic.load("riverbend")
    con = _con(config)
    _insert(con, "northside_clinic", "p1", "2014-15", wcv=1, income=15000.0, size=1)
    with pytest.raises(ConfigError) as err:
        build_indicator_cells(con, config)
    message = str(err.value)
    assert ": year 2014: no HHS poverty guideline for period 2014-15" in message
    assert "period 2014-15: 1 record(s) from northside_clinic" in message


def test_more_than_one_race_not_specified_is_multiracial_alone_and_in_no_combination_group(
        periodic):
    config = periodic.load("riverbend")
    con = _con(config)
    _insert(con, "northside_clinic", "p1", "2024-01", wcv=1, multi=True)  # only "2+"
    # "2+" at the clinic in one month, White at Bright Start in another.
    _insert(con, "northside_clinic", "p2", "2024-02", wcv=1, multi=True)
    _insert(con, "bright_start", "p2", "2024-03", wcv=0, races=["white"], submission=2)
    _insert(con, "northside_clinic", "p3", "2024-02", wcv=1, races=["white"])
    build_indicator_cells(con, config)

    cells = _cells(con, "wcv_quarterly", "2024Q1")
    assert cells[("total", "ALL", "ALL")] == (3, 3)
    assert cells[("alone", MULTI, "ALL")] == (2, 2)
    assert cells[("alone", WHITE, "ALL")] == (1, 1)
    # The code names no race: p1 is in no alone-or-in-combination group; p2 is counted in
    # White's for the White that Bright Start reported, not for the "2+".
    combined = {race: v for (tab, race, klass), v in cells.items()
                if tab == "alone_or_in_combination" and klass == "ALL"}
    assert combined == {WHITE: (2, 2)}
    clinic = _cells(con, "wcv_quarterly", "2024Q1", "northside_clinic")
    assert clinic[("alone", MULTI, "ALL")] == (2, 2)
    assert {race for (tab, race, _) in clinic if tab == "alone_or_in_combination"} == {WHITE}
    assert _cells(con, "wcv_quarterly", "2024Q1", "bright_start")[("alone", WHITE, "ALL")] \
        == (0, 1)


def _aggregate(con, label: str, race: str, numerator: int, denominator: int) -> None:
    period = periods.parse_label(label)
    con.execute(
        "INSERT INTO riverbend.aggregate_counts (submission_id, source_row, loaded_at, "
        "partner_id, indicator_id, period, period_type, period_start, period_end, race, class, "
        "numerator, denominator) VALUES (3, ?, now(), 'riverbend_housing', 'stable_housing', "
        "?, ?, ?, ?, ?, 'ALL', ?, ?)",
        [next(_rows), period.label, period.type, period.start, period.end, race, numerator,
         denominator])


def test_aggregate_cells_count_only_at_the_indicators_grain_and_the_others_are_listed(periodic):
    config = periodic.load("riverbend")
    con = _con(config)
    _aggregate(con, "2024", "ALL", 40, 50)
    _aggregate(con, "2024", WHITE, 20, 25)
    _aggregate(con, "Q1 2024", "ALL", 12, 15)  # a quarter of a yearly indicator: not summed up
    build_indicator_cells(con, config)

    assert _total(con, "stable_housing", "2024") == (40, 50)
    assert _total(con, "stable_housing", "2024", "riverbend_housing") == (40, 50)
    assert con.execute("SELECT DISTINCT period, period_type, period_start, period_end FROM "
                       "riverbend.indicator_cells WHERE indicator_id = 'stable_housing'"
                       ).fetchall() == [("2024", "year", dt.date(2024, 1, 1),
                                         dt.date(2024, 12, 31))]
    grains = {g["indicator_id"]: g for g in indicator_periods(con, config)}
    assert grains["stable_housing"] == {
        "indicator_id": "stable_housing", "period_type": "year", "records_not_counted": 0,
        "aggregate_rows_not_counted": 1,
        "aggregate_periods_not_counted": ["riverbend_housing 2024Q1"]}
