"""Measure stage: records -> indicator cells by period x partner x race x class (a mart).

Counts are unduplicated: a person (person_key) counts once per cell however many records or
partners report them. A person's race and class in a period come from one profile, the same in
every indicator of that period type (the rule is in `pipelines.equity.profiles`); class is
derived here, at measure time, from the workspace's current guidelines, bands and crosswalks.

Periods: each indicator has a period type (`year`, `school_year`, `fiscal_year`, `quarter`,
`month`; pipelines/periods.py). A record counts in the indicator period that wholly contains its
own period (`period_start`..`period_end`): monthly rows and dated rows add up into a quarter or a
school year, a person counting once per indicator period (in the denominator or numerator when
any of their records in it is). A record coarser than the indicator's grain (a yearly record for
a quarterly indicator) or straddling two of its periods is not counted; how many such records
each indicator's denominator would have had is kept in `<initiative>.indicator_grains` for the
manifest. Aggregate cells count only when their period is exactly one indicator period (sums of
finer periods cannot be unduplicated).

Every cell of the full race x class layout is computed, whatever the indicator publishes, so that
suppression sees all the additive relations; `publish` drops the unrequested ones afterwards.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines import measure_reuse, periods
from pipelines.config import InitiativeConfig
from pipelines.equity import profiles
from pipelines.equity.profiles import MULTI_UNSPECIFIED_BIT
from pipelines.measure_counts import build_profile_counts, count_reusing, counts_table
from pipelines.measure_grains import aggregate_fits_sql, build_grains, none_fit
from pipelines.standardize import RACE_CODES
from pipelines.sql import sql_literal

CELLS_COLUMNS = ("initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, "
                 "period_type VARCHAR, period_start DATE, period_end DATE, partner_id VARCHAR, "
                 "race_tabulation VARCHAR, race VARCHAR, class VARCHAR, numerator BIGINT, "
                 "denominator BIGINT, source VARCHAR")


def _race_alone_sql(config: InitiativeConfig) -> str:
    race = config.standards.race
    count = " + ".join(f"race_{c}::INTEGER" for c in RACE_CODES)
    cases = " ".join(f"WHEN race_{c} THEN {sql_literal(race.label(c))}" for c in RACE_CODES)
    # "More than one race, not specified" is Multiracial alone, with or without named races.
    return (f"CASE WHEN race_multi_unspecified OR ({count}) > 1 "
            f"THEN {sql_literal(race.multiracial_label)} "
            f"WHEN ({count}) = 0 THEN {sql_literal(race.not_reported_label)} {cases} END")


def _person_columns_sql(config: InitiativeConfig) -> str:
    """Decode a profile's integers (`race_bits`, `class_rank`) into race flags and class label."""
    flags = ", ".join(f"(race_bits & {1 << bit}) <> 0 AS race_{c}"
                      for bit, c in enumerate(RACE_CODES))
    labels = ", ".join(sql_literal(label) for label in config.standards.class_bands.labels)
    return (f"{flags}, (race_bits & {1 << MULTI_UNSPECIFIED_BIT}) <> 0 AS race_multi_unspecified, "
            f"[{labels}][class_rank + 1] AS class")


def _records_indicators(config: InitiativeConfig) -> dict[str, list[int]]:
    """Records-based indicator indexes per period type, in definition order."""
    by_type: dict[str, list[int]] = {}
    for i, indicator in enumerate(config.indicators):
        if indicator.source == "records":
            by_type.setdefault(indicator.period_type, []).append(i)
    return by_type


def _period_head(config: InitiativeConfig, indicator) -> str:
    """initiative_id .. period_end of a cell, from the indicator period's `period_start`."""
    period_type, calendar = indicator.period_type, config.initiative.calendar
    return (f"{sql_literal(config.id)} AS initiative_id, {sql_literal(indicator.id)} AS "
            f"indicator_id, {periods.label_sql('period_start', period_type, calendar)} AS period, "
            f"{sql_literal(period_type)} AS period_type, period_start, "
            f"{periods.end_sql('period_start', period_type, calendar)} AS period_end")


def indicator_cells_sql(config: InitiativeConfig, indicator_index: int) -> str:
    """Cells of one records-based indicator, from `_profile_counts_<its period type>`."""
    indicator = config.indicators[indicator_index]
    race = config.standards.race
    aoic_labels = " ".join(f"WHEN 'race_{c}' THEN {sql_literal(race.label(c))}" for c in RACE_CODES)
    head = f"{_period_head(config, indicator)}, partner_id"
    i = indicator_index
    return f"""
    WITH
    -- Every cell is a sum over people of the same partner, period, races and class: counted
    -- per such profile (a few thousand rows), the tabulations below no longer touch each person.
    profiles AS MATERIALIZED (
        SELECT partner_id, period_start, race_bits, class_rank, num_{i} AS numerator,
               den_{i} AS denominator
        FROM {counts_table(indicator.period_type)} WHERE den_{i} > 0
    ),
    people AS NOT MATERIALIZED (
        SELECT partner_id, period_start, numerator, denominator, {_person_columns_sql(config)}
        FROM profiles
    ),
    labelled AS (SELECT *, {_race_alone_sql(config)} AS race_alone FROM people)
    SELECT {head},
           CASE WHEN grouping(race_alone) = 1 THEN 'total' ELSE 'alone' END AS race_tabulation,
           CASE WHEN grouping(race_alone) = 1 THEN 'ALL' ELSE race_alone END AS race,
           CASE WHEN grouping(class) = 1 THEN 'ALL' ELSE class END AS class,
           sum(numerator)::BIGINT AS numerator, sum(denominator)::BIGINT AS denominator,
           'records' AS source
    FROM labelled
    GROUP BY GROUPING SETS ((partner_id, period_start, race_alone, class),
                            (partner_id, period_start, race_alone),
                            (partner_id, period_start, class), (partner_id, period_start))
    UNION ALL
    -- The seven named races only: "more than one race, not specified" joins no such group.
    SELECT {head}, 'alone_or_in_combination' AS race_tabulation,
           CASE code {aoic_labels} END AS race,
           CASE WHEN grouping(class) = 1 THEN 'ALL' ELSE class END AS class,
           sum(numerator)::BIGINT, sum(denominator)::BIGINT, 'records'
    FROM (UNPIVOT people ON {', '.join('race_' + c for c in RACE_CODES)} INTO NAME code VALUE selected)
    WHERE selected
    GROUP BY GROUPING SETS ((partner_id, period_start, code, class),
                            (partner_id, period_start, code))
    """


def aggregate_cells_sql(config: InitiativeConfig, indicator_index: int) -> str:
    """Cells from partners' aggregate submissions; 'ALL' sums partners (no unduplication possible)."""
    indicator = config.indicators[indicator_index]
    return f"""
    SELECT {_period_head(config, indicator)},
           CASE WHEN grouping(partner_id) = 1 THEN 'ALL' ELSE partner_id END,
           CASE WHEN race = 'ALL' THEN 'total' ELSE 'alone' END, race, class,
           sum(numerator)::BIGINT, sum(denominator)::BIGINT, 'aggregates'
    FROM {config.id}.aggregate_counts_current
    WHERE indicator_id = {sql_literal(indicator.id)} AND {aggregate_fits_sql(config, indicator)}
    GROUP BY GROUPING SETS ((period_start, partner_id, race, class), (period_start, race, class))
    """


def _record_types(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                  from_parts: bool = False) -> set[str]:
    source = measure_reuse.PARTS if from_parts else f"{config.id}.records_current"
    return {r[0] for r in con.execute(f"SELECT DISTINCT period_type FROM {source}").fetchall()}


def build_indicator_cells(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                          table: str | None = None, reuse: Path | None = None) -> int:
    """(Re)build `<initiative>.indicator_cells` from the current records; returns cell count.

    Also (re)writes `<initiative>.poverty_guideline_years` (period, guideline_year,
    beyond_latest): which guideline year classed the records whose periods start in each
    calendar year, and whether that year is after the latest in the workspace's table (then
    the latest year is used); and `<initiative>.indicator_grains` (what each indicator did not
    count because of its period type).

    `reuse`: a folder keeping the last measure's profile counts; only the indicator periods
    whose records changed are counted again (pipelines/measure_reuse.py has the guard), and
    this measure's counts are kept there, and the temp table `measure_reuse.PARTS` is left
    for the quality checks (the caller drops it). Without it every period is counted.
    """
    table = table or f"{config.id}.indicator_cells"
    con.execute(f"CREATE OR REPLACE TABLE {table} ({CELLS_COLUMNS})")
    if reuse is not None:
        measure_reuse.count_parts(con, config)
    # The parts give the guideline years without another scan of the records (0.08-0.13 CPU s
    # on 1 GB); tests/test_measure_years.py compares both.
    classed = profiles.prepare(con, config, measure_reuse.PARTS if reuse is not None else None)
    by_type = _records_indicators(config)
    record_types = _record_types(con, config, reuse is not None) if by_type else set()
    # A grain no record fits (yearly rows only, a quarterly indicator) has no cells: skip it.
    measured = {t for t in by_type if not none_fit(t, record_types)}
    try:
        if reuse is None:
            for period_type in measured:
                build_profile_counts(con, config, classed, period_type, by_type[period_type],
                                     record_types)
        else:
            count_reusing(con, config, classed, {t: by_type[t] for t in measured},
                          record_types, reuse)
        for index, indicator in enumerate(config.indicators):
            if indicator.source == "aggregates":
                con.execute(f"INSERT INTO {table} {aggregate_cells_sql(config, index)}")
            elif indicator.period_type in measured:
                con.execute(f"INSERT INTO {table} {indicator_cells_sql(config, index)}")
        build_grains(con, config, classed, by_type, record_types,
                     f"{config.id}.indicator_grains")
    finally:
        for period_type in by_type:
            con.execute(f"DROP TABLE IF EXISTS temp.{counts_table(period_type)}")
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
