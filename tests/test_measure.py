"""Indicator cells: unduplicated people, SPD 15 tabulations, class, additivity."""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from pipelines import warehouse
from pipelines.measure import build_indicator_cells
from pipelines.standardize import RACE_CODES

WHITE, BLACK, HISP = "White", "Black or African American", "Hispanic or Latino"
MULTI, NOT_REPORTED = "Multiracial and/or Multiethnic", "Not reported"


# What each class label is computed from at measure time, for a household of one in WA in 2024
# (guideline 15,060): (household_income, household_size, the partner's raw proxy value).
INPUTS = {"Below 100% FPG": (10000.0, 1, None), "100-199% FPG": (20000.0, 1, None),
          "200-399% FPG": (40000.0, 1, None), "400%+ FPG": (100000.0, 1, None),
          "Not reported": (None, None, None)}
PROXY_VALUES = {"riverbend_schools": {"Low income (proxy)": "F", "Not low income (proxy)": "P"},
                "bright_start": {"Low income (proxy)": "Yes", "Not low income (proxy)": "No"}}


def _insert(con, submission, partner, person, period, races=(), klass="Not reported", ready=None,
            wcv=None, state="WA", income=None, size=1):
    """A warehouse record carrying what `klass` is derived from (income or the proxy value).

    A proxy class for a partner without a proxy crosswalk is stored as the class alone, as
    records loaded before the proxy value was kept are.
    """
    flags = [code in races for code in RACE_CODES]
    if income is None:
        income, size, proxy = INPUTS.get(klass, (None, None, None))
    else:
        proxy = None
    proxy = PROXY_VALUES.get(partner, {}).get(klass, proxy)
    con.execute(
        "INSERT INTO riverbend.records (submission_id, source_row, loaded_at, partner_id, "
        "person_key, period, period_type, period_start, period_end, "
        + ", ".join(f"race_{c}" for c in RACE_CODES) +
        ", race_multi_unspecified, race_reported, household_income, household_size, state, "
        "class, class_proxy_value, kinder_ready, well_child_visit) VALUES (?, 2, now(), ?, ?, "
        "?, 'year', make_date(?, 1, 1), make_date(?, 12, 31), "
        + ", ".join("?" for _ in RACE_CODES) + ", false, ?, ?, ?, ?, ?, ?, ?, ?)",
        [submission, partner, _key(person), str(period), period, period, *flags, any(flags),
         income, size, state, klass, proxy, ready, wcv])


def _key(person: str) -> int:
    """A stand-in person_key (UHUGEINT): the same person gets the same key."""
    return int(hashlib.sha256(person.encode()).hexdigest()[:32], 16)


@pytest.fixture
def con(config):
    connection = duckdb.connect()
    connection.execute(warehouse.DDL)
    warehouse.ensure_initiative_tables(connection, config)
    yield connection
    connection.close()


def _cells(con, config, **where):
    build_indicator_cells(con, config)
    clause = " AND ".join(f"{k} = ?" for k in where)
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in con.execute(
        f"SELECT race_tabulation, race, class, numerator, denominator FROM "
        f"riverbend.indicator_cells WHERE {clause}", list(where.values())).fetchall()}


def test_people_count_once_across_partners_with_union_of_races(con, config):
    # p1: school says white, clinic says black -> multiracial across partners, counted once.
    _insert(con, 1, "riverbend_schools", "p1", 2024, ["white"], "Low income (proxy)", ready=1)
    _insert(con, 2, "bright_start", "p1", 2024, ["black"], "Below 100% FPG", ready=0)
    _insert(con, 1, "riverbend_schools", "p2", 2024, ["hispanic"], "400%+ FPG", ready=0)
    _insert(con, 1, "riverbend_schools", "p3", 2024, [], "Not reported", ready=1)
    cells = _cells(con, config, indicator_id="kindergarten_readiness", period="2024",
                   partner_id="ALL")
    assert cells[("total", "ALL", "ALL")] == (2, 3)
    assert cells[("alone", MULTI, "ALL")] == (1, 1)  # ready per any partner counts
    assert cells[("alone", MULTI, "Below 100% FPG")] == (1, 1)  # lowest class across partners
    assert cells[("alone", NOT_REPORTED, "ALL")] == (1, 1)  # kept, never dropped
    assert cells[("alone_or_in_combination", WHITE, "ALL")] == (1, 1)
    assert cells[("alone_or_in_combination", BLACK, "ALL")] == (1, 1)
    assert ("alone", WHITE, "ALL") not in cells
    # Per partner, the school sees p1 as White alone.
    school = _cells(con, config, indicator_id="kindergarten_readiness", period="2024",
                    partner_id="riverbend_schools")
    assert school[("alone", WHITE, "ALL")] == (1, 1)
    assert school[("total", "ALL", "ALL")] == (2, 3)


def test_alone_cells_and_class_cells_add_up_to_totals(con, config):
    import random

    rng = random.Random(3)
    classes = ["Below 100% FPG", "100-199% FPG", "400%+ FPG", "Low income (proxy)", "Not reported"]
    for i in range(400):
        races = rng.sample(RACE_CODES, k=rng.choice([0, 1, 1, 1, 2]))
        _insert(con, 1, "northside_clinic", f"p{i}", 2023, races, rng.choice(classes),
                wcv=rng.choice([0, 1]))
    cells = _cells(con, config, indicator_id="well_child_visits", period="2023", partner_id="ALL")
    total = cells[("total", "ALL", "ALL")]
    assert total[1] == 400
    for index in (0, 1):
        alone = sum(v[index] for (tab, _, klass), v in cells.items()
                    if tab == "alone" and klass == "ALL")
        by_class = sum(v[index] for (tab, race, klass), v in cells.items()
                       if tab == "total" and klass != "ALL")
        assert alone == by_class == total[index]
        aoic = sum(v[index] for (tab, _, klass), v in cells.items()
                   if tab == "alone_or_in_combination" and klass == "ALL")
        assert aoic >= alone - cells.get(("alone", NOT_REPORTED, "ALL"), (0, 0))[index]


def test_a_warehouse_with_text_person_keys_is_refused_not_mixed(config):
    # Keys from an older version (64 hex characters) never equal the new 128-bit integers, so
    # loading into such a warehouse would silently stop unduplicating people.
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA riverbend")
    connection.execute("CREATE TABLE riverbend.records (submission_id BIGINT, person_key VARCHAR)")
    with pytest.raises(RuntimeError, match="person_key is VARCHAR.*Rebuild the warehouse"):
        warehouse.ensure_initiative_tables(connection, config)
    connection.close()


def test_one_race_and_class_per_person_and_period_in_every_indicator(con, config):
    # The school reports p1 as Asian, eligible by proxy; the clinic as White, at 400%+ FPG.
    # Each record is in only one indicator's denominator, yet p1 is the same person in both.
    _insert(con, 1, "riverbend_schools", "p1", 2024, ["asian"], "Low income (proxy)", ready=1)
    _insert(con, 2, "northside_clinic", "p1", 2024, ["white"], "400%+ FPG", wcv=1)
    for indicator in ("kindergarten_readiness", "well_child_visits"):
        cells = _cells(con, config, indicator_id=indicator, period="2024", partner_id="ALL")
        assert cells[("alone", MULTI, "ALL")] == (1, 1), indicator
        assert ("alone", "Asian", "ALL") not in cells and ("alone", WHITE, "ALL") not in cells
        # income-based before proxy: the clinic's measured income outranks the school's proxy
        assert cells[("total", "ALL", "400%+ FPG")] == (1, 1), indicator
        assert cells[("alone_or_in_combination", "Asian", "ALL")] == (1, 1)
        assert cells[("alone_or_in_combination", WHITE, "ALL")] == (1, 1)
    # Per partner, a person is as that partner reported them, in every indicator.
    school = _cells(con, config, indicator_id="kindergarten_readiness", period="2024",
                    partner_id="riverbend_schools")
    assert school[("alone", "Asian", "Low income (proxy)")] == (1, 1)


def _workspace_guidelines(workspace, keep_years):
    path = workspace.path("schemas", "equity", "poverty_guidelines.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0]] + [line for line in lines[1:]
                                            if int(line.split(",")[0]) in keep_years]) + "\n")
    return path


def test_a_period_after_the_latest_guideline_year_is_classed_with_it_and_recorded(con, workspace):
    _workspace_guidelines(workspace, range(2015, 2024))  # a workspace table that ends in 2023
    config = workspace.load("riverbend")
    # 15,000 for one person: 103% of 2023's 14,580 (but 99.6% of 2024's 15,060)
    _insert(con, 1, "northside_clinic", "p1", 2024, ["white"], wcv=1, income=15000.0)
    _insert(con, 1, "northside_clinic", "p2", 2022, ["white"], "Below 100% FPG", wcv=1)
    _insert(con, 1, "northside_clinic", "p3", 2021, ["white"], wcv=1)  # no income: no guideline
    cells = _cells(con, config, indicator_id="well_child_visits", period="2024", partner_id="ALL")
    assert cells[("total", "ALL", "100-199% FPG")] == (1, 1)
    assert con.execute("SELECT * FROM riverbend.poverty_guideline_years ORDER BY period"
                       ).fetchall() == [("2022", 2022, False), ("2024", 2023, True)]
    assert con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                       "table_schema = 'riverbend' AND table_name = 'poverty_guideline_years' "
                       "ORDER BY ordinal_position").fetchall() == [
        ("period", "VARCHAR"), ("guideline_year", "INTEGER"), ("beyond_latest", "BOOLEAN")]


def test_a_period_before_the_first_guideline_year_is_an_error_naming_it(con, config):
    from pipelines.errors import ConfigError

    _insert(con, 1, "northside_clinic", "p1", 2014, ["white"], wcv=1)  # no income: fine
    build_indicator_cells(con, config)
    _insert(con, 1, "northside_clinic", "p2", 2013, ["white"], "Below 100% FPG", wcv=1)
    with pytest.raises(ConfigError) as err:
        build_indicator_cells(con, config)
    message = str(err.value)
    assert message.startswith(f"{config.standards.poverty_guidelines_file}: year 2013: ")
    assert "starts in 2015" in message and "period 2013: 1 record(s) from northside_clinic" in message


def test_class_follows_the_current_guidelines_bands_and_proxies(con, workspace):
    _insert(con, 1, "northside_clinic", "p1", 2024, ["white"], wcv=1, income=20000.0)
    _insert(con, 1, "riverbend_schools", "p2", 2024, ["white"], "Not low income (proxy)", ready=1)
    config = workspace.load("riverbend")
    assert _cells(con, config, indicator_id="well_child_visits", period="2024",
                  partner_id="ALL")[("total", "ALL", "100-199% FPG")] == (1, 1)
    assert _cells(con, config, indicator_id="kindergarten_readiness", period="2024",
                  partner_id="ALL")[("total", "ALL", "Not low income (proxy)")] == (1, 1)
    # A corrected 2024 guideline, a moved band edge and a corrected proxy mapping, no re-load.
    guidelines = workspace.path("schemas", "equity", "poverty_guidelines.csv")
    guidelines.write_text(guidelines.read_text().replace("2024,contiguous,15060,5380",
                                                         "2024,contiguous,21000,5380"))
    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    crosswalk.write_text(crosswalk.read_text().replace('P: "Not low income (proxy)"',
                                                       'P: "Low income (proxy)"'))
    changed = workspace.load("riverbend")
    assert changed.fingerprint != config.fingerprint
    assert _cells(con, changed, indicator_id="well_child_visits", period="2024",
                  partner_id="ALL")[("total", "ALL", "Below 100% FPG")] == (1, 1)
    assert _cells(con, changed, indicator_id="kindergarten_readiness", period="2024",
                  partner_id="ALL")[("total", "ALL", "Low income (proxy)")] == (1, 1)


def test_yearly_cells_carry_the_period_columns_and_nothing_is_left_out_by_grain(con, config):
    import datetime as dt

    from pipelines.publish import indicator_periods

    _insert(con, 1, "northside_clinic", "p1", 2023, ["white"], wcv=1)
    _insert(con, 1, "northside_clinic", "p1", 2024, ["white"], wcv=0)
    build_indicator_cells(con, config)
    assert con.execute("SELECT DISTINCT period, period_type, period_start, period_end FROM "
                       "riverbend.indicator_cells ORDER BY period_start").fetchall() == [
        ("2023", "year", dt.date(2023, 1, 1), dt.date(2023, 12, 31)),
        ("2024", "year", dt.date(2024, 1, 1), dt.date(2024, 12, 31))]
    grains = {g["indicator_id"]: g for g in indicator_periods(con, config)}
    assert grains["well_child_visits"]["period_type"] == "year"
    assert grains["well_child_visits"]["records_not_counted"] == 0
    # A quarterly indicator of the same initiative counts none of these yearly records.
    quarterly = [i.id for i in config.indicators if i.period_type == "quarter"]
    for indicator_id in quarterly:
        assert grains[indicator_id]["period_type"] == "quarter"
        assert con.execute("SELECT count(*) FROM riverbend.indicator_cells WHERE indicator_id = ?",
                           [indicator_id]).fetchall() == [(0,)]
