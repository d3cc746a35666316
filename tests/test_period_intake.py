"""Periods in partner files, end to end through intake.stage_file into a real staging DuckDB:
every label form, a dated file mapped by a crosswalk alone, crosswalk period types and labels,
bad periods quarantined with row, column and value."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.equity.poverty import guideline_amount
from pipelines.intake import stage_file
from pipelines.intake_schema import CrosswalkPeriod
from pipelines.periods import parse_label
from pipelines.standardize import AGGREGATE_COLUMNS, record_columns

from conftest import drop, query
from test_periods import FORMS

SALT = "test-salt"
SCHOOLS = "riverbend_schools"
HEADER = "Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met\n"


def _stage(workspace, config, partner, name, content):
    return stage_file(drop(workspace, partner, name, content), config, partner, SALT,
                      workspace.staging)


def _with_crosswalk(config, partner, **update):
    if "period" in update:
        update["period"] = CrosswalkPeriod(**update["period"])
    config.crosswalks[partner] = config.crosswalks[partner].model_copy(update=update)


def _records(staged):
    return query(staged.staged_db, "SELECT source_row, period, period_type, period_start, "
                 "period_end FROM records ORDER BY source_row")


def test_every_label_form_in_a_file(workspace, config):
    # The template's periods start in 2000 (`min`): last century's forms are out_of_range there.
    forms = [form for form in FORMS if form[3].year >= 2000]
    rows = "".join(f'P{i},"{text}",700,F,Y\n' for i, (text, *_) in enumerate(forms))
    staged = _stage(workspace, config, SCHOOLS, "RUSD forms.csv", HEADER + rows)
    assert staged.status == "staged", staged.problems
    assert staged.rows_quarantined == 0, query(staged.staged_db, "FROM quarantine")
    assert _records(staged) == [(i + 2, label, kind, start, end)
                                for i, (_, kind, label, start, end) in enumerate(forms)]


def test_records_carry_the_period_contract_columns(workspace, config):
    columns = dict(record_columns(config.record_schema))
    assert [columns[c] for c in ("period", "period_type", "period_start", "period_end")] == \
        ["VARCHAR", "VARCHAR", "DATE", "DATE"]
    assert columns["race_multi_unspecified"] == "BOOLEAN"
    assert dict(AGGREGATE_COLUMNS)["period_start"] == "DATE"
    staged = _stage(workspace, config, SCHOOLS, "RUSD one.csv", HEADER + "A,2024,700,F,Y\n")
    types = dict(query(staged.staged_db, "SELECT column_name, data_type FROM "
                                         "information_schema.columns WHERE table_name = 'records'"))
    assert {name: types[name] for name in columns} == columns


def test_a_dated_monthly_file_works_through_a_crosswalk_alone(workspace, config):
    """Northside's visit extract: one row per visit, a `Service Date` column the crosswalk maps
    onto the period column; each row's period is its day."""
    _with_crosswalk(config, "northside_clinic", header_aliases={
        **config.crosswalks["northside_clinic"].header_aliases, "Service Date": "period"})
    content = ("PersonalID,Service Date,WCV,HouseholdIncome,HouseholdSize\n"
               "N1,03/04/2024,1,30000,3\n"     # US date
               "N2,2024-03-15,0,30000,3\n"     # ISO date
               "N1,3/28/2024,1,30000,3\n"      # the same person again, another day
               "N3,2024-03-31 00:00:00,1,,\n")  # as an Excel export writes it
    staged = _stage(workspace, config, "northside_clinic", "visits 2024-03.csv", content)
    assert staged.status == "staged", staged.problems
    assert staged.header_names["period"] == "Service Date"
    day = dt.date
    assert _records(staged) == [
        (2, "2024-03-04", "day", day(2024, 3, 4), day(2024, 3, 4)),
        (3, "2024-03-15", "day", day(2024, 3, 15), day(2024, 3, 15)),
        (4, "2024-03-28", "day", day(2024, 3, 28), day(2024, 3, 28)),
        (5, "2024-03-31", "day", day(2024, 3, 31), day(2024, 3, 31))]
    # The poverty guideline of the period's start year (2024), for income 30000 and 3 people.
    expected = 30000 / guideline_amount(config.standards.poverty_guidelines, 2024, "contiguous", 3)
    ratio = query(staged.staged_db, "SELECT poverty_ratio FROM records WHERE source_row = 2")
    assert ratio[0][0] == pytest.approx(expected)


def test_a_school_year_takes_the_guideline_of_the_year_it_starts_in(workspace, config):
    _with_crosswalk(config, "northside_clinic", period={"type": "school_year"})
    content = ("PersonalID,ReportYear,WCV,HouseholdIncome,HouseholdSize\n"
               "N1,2024,1,30000,3\n")  # a bare year: the school year ending in 2024
    staged = _stage(workspace, config, "northside_clinic", "sy.csv", content)
    assert staged.status == "staged", staged.problems
    assert _records(staged) == [(2, "2023-24", "school_year", dt.date(2023, 7, 1),
                                 dt.date(2024, 6, 30))]
    guideline = guideline_amount(config.standards.poverty_guidelines, 2023, "contiguous", 3)
    assert query(staged.staged_db, "SELECT poverty_ratio FROM records")[0][0] == \
        pytest.approx(30000 / guideline)


def test_crosswalk_period_type_and_own_labels(workspace, config):
    _with_crosswalk(config, SCHOOLS, period={
        "type": "fiscal_year", "labels": {"Fall Term 2023": "2023Q4", "Spring 24": "Q1 2024"}})
    content = HEADER + ("A,2024,700,F,Y\n"           # bare year: FY2024
                        "B,2023-24,700,F,Y\n"        # a span under a fiscal crosswalk: FY2024
                        "C,fall term 2023,700,F,Y\n"  # the partner's own label
                        "D,SPRING 24,700,F,Y\n"
                        "E,SY2024,700,F,Y\n")        # an explicit school year stays one
    staged = _stage(workspace, config, SCHOOLS, "RUSD fiscal.csv", content)
    assert staged.status == "staged", staged.problems
    assert [(row, label, kind) for row, label, kind, *_ in _records(staged)] == [
        (2, "FY2024", "fiscal_year"), (3, "FY2024", "fiscal_year"), (4, "2023Q4", "quarter"),
        (5, "2024Q1", "quarter"), (6, "2023-24", "school_year")]


def test_the_initiative_calendar_sets_the_dates(workspace):
    path = workspace.path("indicators", "riverbend", "initiative.yaml")
    path.write_text(path.read_text() + "calendar:\n  fiscal_year_start_month: 10\n")
    config = workspace.load("riverbend")
    assert config.initiative.calendar.fiscal_year_start_month == 10
    staged = _stage(workspace, config, SCHOOLS, "RUSD fy.csv", HEADER + "A,FY24,700,F,Y\n")
    assert _records(staged) == [(2, "FY2024", "fiscal_year", dt.date(2023, 10, 1),
                                 dt.date(2024, 9, 30))]


def test_bad_periods_are_quarantined_with_row_column_and_value(workspace, config):
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    content = HEADER + ("G1,2024Q1,700,F,Y\n"
                        "B1,Q5 2024,700,F,Y\n"          # row 3: no such quarter
                        "B2,2024-13,700,F,Y\n"          # row 4: no such month
                        "B3,<script>x</script>,700,F,Y\n"  # row 5: hostile text
                        f"B4,{tomorrow.isoformat()},700,F,Y\n"  # row 6: in the future
                        "B5,1999,700,F,Y\n"             # row 7: before the template's min
                        + "".join(f"G{i},March 2024,700,F,Y\n" for i in range(2, 9)))
    staged = _stage(workspace, config, SCHOOLS, "RUSD bad periods.csv", content)
    assert staged.status == "staged", staged.problems
    bad = query(staged.staged_db, "SELECT _row, column_name, rule, value, message FROM "
                                  "quarantine ORDER BY _row")
    assert [row[:4] for row in bad] == [
        (3, "period", "bad_period", "Q5 2024"), (4, "period", "bad_period", "2024-13"),
        (5, "period", "bad_period", "<script>x</script>"),
        (6, "period", "future_period", tomorrow.isoformat()),
        (7, "period", "out_of_range", "1999")]
    message = bad[0][4]
    assert message.startswith("'School Year' must be a period: write e.g. ")  # their header
    for form in ("2024Q1", "Q1 2024", "2024-03", "2023-24", "FY2024", "a date"):
        assert form in message
    assert "starts after" in bad[3][4] and "at least 2000" in bad[4][4]
    assert staged.rows_loaded == 8
    today = _stage(workspace, config, SCHOOLS, "RUSD today.csv",
                   HEADER + f"T,{dt.date.today().isoformat()},700,F,Y\n")
    assert today.rows_quarantined == 0  # a period that has started is not in the future


def test_bad_periods_name_the_crosswalk_labels(workspace, config):
    _with_crosswalk(config, SCHOOLS, period={"labels": {"Fall 23": "2023Q4"}})
    content = HEADER + "A,Fall 23,700,F,Y\nB,Winter 23,700,F,Y\nC,Fall 23,700,F,N\n"
    staged = _stage(workspace, config, SCHOOLS, "RUSD terms.csv", content)
    bad = query(staged.staged_db, "SELECT _row, rule, value, message FROM quarantine")
    assert bad[0][:3] == (3, "bad_period", "Winter 23")
    assert "or one of your crosswalk's labels: Fall 23" in bad[0][3]


def test_the_same_period_in_two_forms_is_a_duplicate(workspace, config):
    content = HEADER + "A,Q1 2024,700,F,Y\nA,2024Q1,700,F,N\nB,Q1 2024,700,F,Y\n"
    staged = _stage(workspace, config, SCHOOLS, "RUSD dup.csv", content)
    bad = query(staged.staged_db, "SELECT _row, rule, value FROM quarantine ORDER BY _row")
    assert bad == [(2, "duplicate_key", "A / Q1 2024"), (3, "duplicate_key", "A / 2024Q1")]


def test_integer_templates_keep_working(workspace, config):
    """A workspace template from before period types (`type: integer`): a bare year is a year,
    and labels are read too."""
    path = workspace.path("schemas", "intake", "person_outcomes_v1.yaml")
    path.write_text(path.read_text().replace("    type: period\n", "    type: integer\n", 1))
    config = workspace.load("riverbend")
    assert config.record_schema.column("period").type == "integer"
    staged = _stage(workspace, config, SCHOOLS, "RUSD int.csv",
                    HEADER + "A,2024,700,F,Y\nB,2023-24,700,F,Y\nC,20x4,700,F,Y\n")
    assert [r[1:3] for r in _records(staged)] == [("2024", "year"), ("2023-24", "school_year")]
    assert query(staged.staged_db, "SELECT _row, rule FROM quarantine") == [(4, "bad_period")]


def test_aggregates_carry_the_period_columns(workspace, config):
    content = ("indicator_id,period,race,class,numerator,denominator\n"
               "stable_housing,FY2024,ALL,ALL,5,10\n"
               "stable_housing,Q5,ALL,ALL,5,10\n")
    staged = _stage(workspace, config, "riverbend_housing", "rha.csv", content)
    rows = query(staged.staged_db, "SELECT period, period_type, period_start, period_end "
                                   "FROM records")
    assert rows == [("FY2024", "fiscal_year", dt.date(2023, 7, 1), dt.date(2024, 6, 30))]
    assert query(staged.staged_db, "SELECT _row, rule FROM quarantine") == [(3, "bad_period")]


def test_config_period_type_and_milestones(workspace):
    path = workspace.path("indicators", "riverbend", "kindergarten_readiness.yaml")
    text = path.read_text()
    assert 'target: {value: 0.70, period: "2027"}' in text
    path.write_text(text.replace('target: {value: 0.70, period: "2027"}',
                                 'target: {value: 0.70, period: "Q4 2027"}')
                    .replace("direction:", "period_type: quarter\ndirection:", 1))
    baseline = [line for line in text.splitlines() if line.startswith("baseline:")][0]
    path.write_text(path.read_text().replace(baseline, baseline.replace(
        baseline[baseline.index("period:"):].rstrip("}"), 'period: "2024 Q1"')))
    config = workspace.load("riverbend")
    indicator = next(i for i in config.indicators if i.id == "kindergarten_readiness")
    assert indicator.period_type == "quarter"
    assert (indicator.baseline.period, indicator.target.period) == ("2024Q1", "2027Q4")
    assert config.initiative.calendar.school_year_start_month == 7
    assert parse_label(indicator.target.period).end == dt.date(2027, 12, 31)


def test_crosswalk_period_labels_are_checked_on_load(workspace):
    from pipelines.errors import ConfigError

    path = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    path.write_text(path.read_text() + "period:\n  type: school_year\n  labels:\n"
                    "    Fall 23: someday\n")
    with pytest.raises(ConfigError, match=r"riverbend_schools.yaml: period.labels.Fall 23: "
                                          r"'someday' is not a period"):
        workspace.load("riverbend")
    path.write_text(path.read_text().replace("type: school_year", "type: week"))
    with pytest.raises(ConfigError, match=r"riverbend_schools.yaml: period.type"):
        workspace.load("riverbend")


def test_initiative_calendar_is_validated(workspace):
    from pipelines.errors import ConfigError

    path = workspace.path("indicators", "riverbend", "initiative.yaml")
    path.write_text(path.read_text() + "calendar:\n  school_year_start_month: 13\n")
    with pytest.raises(ConfigError, match=r"initiative.yaml: calendar.school_year_start_month"):
        workspace.load("riverbend")


def test_two_events_of_one_person_on_one_day_both_load(workspace, config):
    """A dated file is one row per event: a well-child visit and a screening on the same day are
    two events, not a duplicate key; every row loads. Labels of other grains still may not
    repeat (the same person twice in March 2024 is a duplicate)."""
    _with_crosswalk(config, "northside_clinic", header_aliases={
        **config.crosswalks["northside_clinic"].header_aliases, "Service Date": "period"})
    content = ("PersonalID,Service Date,WCV,Dev Screen\n"
               "N1,2024-03-15,1,N\n"
               "N1,3/15/2024,,Y\n"           # the same day in another form
               "N2,2024-03-15,1,N\n"
               "N3,2024-03,1,N\n"            # a month label, repeated: still a duplicate
               "N3,March 2024,1,Y\n")
    staged = _stage(workspace, config, "northside_clinic", "visits.csv", content)
    assert staged.status == "staged", staged.problems
    assert query(staged.staged_db, "SELECT _row, rule, value FROM quarantine ORDER BY _row") == [
        (5, "duplicate_key", "N3 / 2024-03"), (6, "duplicate_key", "N3 / March 2024")]
    assert query(staged.staged_db, "SELECT source_row, period, dev_screening FROM records "
                                   "ORDER BY source_row") == [
        (2, "2024-03-15", 0), (3, "2024-03-15", 1), (4, "2024-03-15", 0)]
