"""Class at measure time, and one race-and-class profile per person and period.

Class is derived here, from what each warehouse record keeps (household income, household size,
state, period, the partner's own proxy value), with the workspace's *current* poverty guidelines,
class bands and partner crosswalks. A corrected guideline table, band or proxy mapping therefore
re-measures from the warehouse; nothing has to be sent again.

The profile rule (the README and the scorecard's "About these numbers" say the same):

- A record's class: household income as a share of the HHS poverty guideline for the calendar
  year its period starts in (the latest guideline year at or before it: school year 2023-24 uses
  the 2023 guidelines, whatever the label's digits say; Alaska and Hawaii use their own tables)
  and household size, put in a band; without income and size, the partner's proxy (free or
  reduced lunch, Medicaid...) through that partner's crosswalk; otherwise "Not reported".
- All-partner rows (`partner_id = 'ALL'`): a person's race in an indicator period (a quarter, a
  school year...) is the union of the races on every current record of that person whose period
  lies within it (monthly rows, dated rows, a record of that very period), from every partner,
  whatever indicator the record counts in (select all that apply: White on one record and Asian
  on another is Multiracial; "more than one race, not specified" on any record makes them
  Multiracial too). Their class is the lowest class among those records, income-based classes
  before proxy classes before "Not reported", since a household that qualified for help anywhere
  is low income. The same profile is used for every indicator of a period type, so a child has
  one race and one class in a period wherever they are counted.
- Per-partner rows: the same rule over that partner's own current records of the person within
  the period (several when the partner sends monthly or dated rows), so a partner's rows describe
  people as that partner reported them, can be reconciled with the partner's own file, and
  reveal nothing another partner reported.
"""

from __future__ import annotations

import duckdb

from pipelines.config import InitiativeConfig
from pipelines.equity.poverty import (REGIONS, STATE_REGIONS, guideline_sql, period_years_sql,
                                      register_poverty_guidelines)
from pipelines.errors import ConfigError
from pipelines.standardize import RACE_CODES
from pipelines.sql import sql_literal
from pipelines.unicode_forms import nfc_sql


# The SPD 15 "more than one race, not specified" code ("2+") is the bit after the seven races:
# it makes a person Multiracial but names no race, so it joins no alone-or-in-combination group.
MULTI_UNSPECIFIED_BIT = len(RACE_CODES)


def race_bits_sql(alias: str = "r") -> str:
    races = [f"({alias}.race_{c}::INTEGER << {bit})" for bit, c in enumerate(RACE_CODES)]
    races.append(f"(coalesce({alias}.race_multi_unspecified, false)::INTEGER "
                 f"<< {MULTI_UNSPECIFIED_BIT})")
    return " | ".join(races)


def _amount_sql(config: InitiativeConfig, years: dict[int, int]) -> str:
    """The guideline for the year `r`'s period starts in, its state and household size, as
    constants in CASEs (`years`: calendar year -> guideline year).

    A few dozen (year, region) pairs at most: branching on them costs a quarter of a hash join
    against a guideline table, on every one of tens of millions of records.
    """
    guidelines = config.standards.poverty_guidelines
    if not years:
        return "NULL::DOUBLE"
    rows = {(g.year, g.region): g for g in guidelines}

    def by_period(region: str) -> str:
        whens = []
        for period, year in sorted(years.items()):
            line, floor = rows[(year, region)], rows.get((year - 1, region))
            amount = guideline_sql(repr(line.first_person), repr(line.each_additional),
                                   "r.household_size",
                                   *((repr(floor.first_person), repr(floor.each_additional))
                                     if floor else ()))
            whens.append(f"WHEN {period} THEN {amount}")
        return f"CASE year(r.period_start) {' '.join(whens)} END"

    regions = " ".join(f"WHEN {sql_literal(state)} THEN {by_period(region)}"
                       for state, region in STATE_REGIONS.items())
    return f"CASE {_state_sql(config)} {regions} ELSE {by_period(REGIONS[0])} END"


def _state_sql(config: InitiativeConfig) -> str:
    """`r`'s state: a blank one (stored as NULL) is the initiative's current `state`."""
    state = config.initiative.state
    return f"coalesce(r.state, {sql_literal(state)})" if state else "r.state"


def _class_rank_sql(config: InitiativeConfig) -> str:
    """A record's class as its rank in `class_bands.labels` (lower = poorer), from the columns
    of `records_current` plus `_ratio`."""
    bands = config.standards.class_bands
    labels = bands.labels
    band_cases = " ".join(f"WHEN _ratio < {band.upper!r} THEN {rank}"
                          for rank, band in enumerate(bands.bands[:-1]))
    # The stored code is the crosswalk's spelling; in NFC, as the crosswalk now loads
    # (pipelines.unicode_forms), also for records loaded from a crosswalk saved decomposed.
    proxy_cases = " ".join(
        f"WHEN {sql_literal(partner_id)} THEN CASE {nfc_sql('class_proxy_value')} "
        + " ".join(f"WHEN {sql_literal(value)} THEN {labels.index(label)}"
                   for value, label in crosswalk.class_proxy.items()) + " END"
        for partner_id, crosswalk in sorted(config.crosswalks.items()) if crosswalk.class_proxy)
    proxy = f"CASE partner_id {proxy_cases} END" if proxy_cases else "NULL"
    # Records loaded before the proxy value was kept have only the class they were given then.
    legacy = " ".join(f"WHEN {sql_literal(label)} THEN {labels.index(label)}"
                      for label in (bands.proxy_labels.low_income, bands.proxy_labels.not_low_income))
    return f"""CASE
        WHEN _ratio IS NOT NULL AND NOT isnan(_ratio)
            THEN CASE {band_cases} ELSE {len(bands.bands) - 1} END
        ELSE coalesce({proxy}, CASE WHEN class_proxy_value IS NULL THEN CASE class {legacy} END END,
                      {len(labels) - 1}) END"""


def classed_records_sql(config: InitiativeConfig, years: dict[int, int]) -> str:
    """Every current record with `race_bits` and `class_rank` (its own, before any union);
    `years`: calendar year of a period's start -> guideline year, for the years whose records
    carry an income.

    `class` and `poverty_ratio` are replaced by their measure-time values: an indicator
    condition on them (only people below 100% FPG) must follow a corrected guideline table or
    band as the breakdowns do, not the values stored when the file was loaded; so is `state`
    where the partner left it blank (the initiative's current state)."""
    labels = ", ".join(sql_literal(label) for label in config.standards.class_bands.labels)
    return f"""
        SELECT * REPLACE ([{labels}][class_rank + 1] AS class, _ratio AS poverty_ratio)
        FROM (SELECT *, {_class_rank_sql(config)} AS class_rank
              FROM (SELECT r.* REPLACE ({_state_sql(config)} AS state),
                           {race_bits_sql()} AS race_bits,
                           CASE WHEN r.household_size >= 1
                                THEN r.household_income / ({_amount_sql(config, years)})
                           END AS _ratio
                    FROM {config.id}.records_current r))"""


def prepare(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
            years_from: str | None = None) -> str:
    """Record which guideline year classes the records whose periods start in each calendar
    year in `<initiative>.poverty_guideline_years` (`period`: that year's label, e.g. "2023" for
    school year 2023-24 or for March 2023; and the workspace's table in
    `<initiative>.poverty_guidelines`, for analysts), and return `classed_records_sql` for them.

    Raises ConfigError naming the guideline file and the record periods when a record with
    income and household size has a period starting before the table's first year.

    `years_from`: a table of the current records' parts with their `period_start` and
    `classable_rows` (`measure_reuse.PARTS`), which gives the same years as the records.
    """
    schema = config.id
    standards = config.standards
    register_poverty_guidelines(con, standards.poverty_guidelines, f"{schema}.poverty_guidelines")
    with_income = (f"FROM {schema}.records_current WHERE household_income IS NOT NULL "
                   "AND household_size >= 1")
    needs_guideline = (f"SELECT DISTINCT year(period_start) AS period {with_income}"
                       if years_from is None else
                       f"SELECT DISTINCT year(period_start) AS period FROM {years_from} "
                       "WHERE classable_rows > 0")
    con.execute(f"""
        CREATE OR REPLACE TABLE {schema}.poverty_guideline_years AS
        SELECT period::VARCHAR AS period, guideline_year::INTEGER AS guideline_year,
               beyond_latest::BOOLEAN AS beyond_latest
        FROM ({period_years_sql(needs_guideline, f'{schema}.poverty_guidelines')})
        ORDER BY period""")
    too_early = con.execute(f"""
        SELECT r.period, count(*), string_agg(DISTINCT r.partner_id, ', ' ORDER BY r.partner_id),
               min(year(r.period_start))
        FROM {schema}.records_current r
        JOIN {schema}.poverty_guideline_years y ON y.period = year(r.period_start)::VARCHAR
        WHERE y.guideline_year IS NULL AND r.household_income IS NOT NULL
              AND r.household_size >= 1
        GROUP BY r.period ORDER BY min(r.period_start), r.period""").fetchall()
    if too_early:
        periods = "; ".join(f"period {p}: {n} record(s) from {partners}"
                            for p, n, partners, _ in too_early)
        raise ConfigError(
            f"{standards.poverty_guidelines_file}: year {too_early[0][3]}: no HHS poverty "
            f"guideline for period {too_early[0][0]}; this table starts in "
            f"{standards.first_guideline_year}, and {config.id} has records with household "
            f"income for periods starting earlier ({periods}). Add that year's guidelines "
            "(Federal Register, 'Annual Update of the HHS Poverty Guidelines') to this file and "
            "run again: class is re-derived from the warehouse, nothing needs to be sent again.")
    years = dict(con.execute(f"SELECT period::INTEGER, guideline_year FROM "
                             f"{schema}.poverty_guideline_years").fetchall())
    return classed_records_sql(config, years)
