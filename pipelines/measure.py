"""Measure stage: records -> indicator cells by period x partner x race x class (a mart).

Counts are unduplicated: a person (person_key) counts once per cell however many records or
partners report them. A person's race and class in a period come from one profile, the same in
every indicator (the rule is in `pipelines.equity.profiles`); class is derived here, at measure
time, from the workspace's current guidelines, bands and crosswalks.

Every cell of the full race x class layout is computed, whatever the indicator publishes, so that
suppression sees all the additive relations; `publish` drops the unrequested ones afterwards.
"""

from __future__ import annotations

import duckdb

from pipelines.config import Condition, InitiativeConfig
from pipelines.equity import profiles
from pipelines.standardize import RACE_CODES
from pipelines.sql import sql_literal

CELLS_COLUMNS = ("initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, partner_id VARCHAR, "
                 "race_tabulation VARCHAR, race VARCHAR, class VARCHAR, numerator BIGINT, "
                 "denominator BIGINT, source VARCHAR")


def condition_sql(condition: Condition) -> str:
    column = condition.column
    if condition.op == "is_null":
        return f"{column} IS NULL"
    if condition.op == "not_null":
        return f"{column} IS NOT NULL"
    if condition.op in ("in", "not_in"):
        values = ", ".join(sql_literal(v) for v in condition.value)
        return f"{column} {'NOT ' if condition.op == 'not_in' else ''}IN ({values})"
    return f"{column} {condition.op} {sql_literal(condition.value)}"


def conditions_sql(conditions: tuple[Condition, ...]) -> str:
    return " AND ".join(f"coalesce({condition_sql(c)}, false)" for c in conditions)


def _race_alone_sql(config: InitiativeConfig) -> str:
    race = config.standards.race
    count = " + ".join(f"race_{c}::INTEGER" for c in RACE_CODES)
    cases = " ".join(f"WHEN race_{c} THEN {sql_literal(race.label(c))}" for c in RACE_CODES)
    return (f"CASE WHEN ({count}) = 0 THEN {sql_literal(race.not_reported_label)} "
            f"WHEN ({count}) > 1 THEN {sql_literal(race.multiracial_label)} {cases} END")


def _person_columns_sql(config: InitiativeConfig) -> str:
    """Decode a profile's integers (`race_bits`, `class_rank`) into race flags and class label."""
    flags = ", ".join(f"(race_bits & {1 << bit}) <> 0 AS race_{c}"
                      for bit, c in enumerate(RACE_CODES))
    labels = ", ".join(sql_literal(label) for label in config.standards.class_bands.labels)
    return f"{flags}, [{labels}][class_rank + 1] AS class"


COUNTS = "_profile_counts"


def build_profile_counts(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                         classed: str) -> None:
    """`_profile_counts`: people counted per (partner or 'ALL', period, race bits, class rank),
    with a numerator and denominator column pair per records-based indicator.

    Two passes over the current records serve every indicator: one per partner (a partner's
    row is its profile of the person), one per person and period across partners (the one
    profile of `pipelines.equity.profiles`, and in an indicator when any of their records is).
    `classed`: the SQL of the current records with their own race bits and class rank, from
    `profiles.prepare`.
    """
    indexes = [i for i, ind in enumerate(config.indicators) if ind.source == "records"]
    # Whether a record is in each indicator's denominator and numerator, packed two bits per
    # indicator into BIGINTs: across partners, "in the indicator when any record is" becomes one
    # bit_or per word instead of two bool_or per indicator (3x faster on millions of people).
    words: dict[int, list[str]] = {}
    for slot, i in enumerate(indexes):
        indicator = config.indicators[i]
        den, num = conditions_sql(indicator.denominator), conditions_sql(indicator.numerator)
        bit = 2 * (slot % 30)
        words.setdefault(slot // 30, []).append(
            f"(({den})::BIGINT << {bit}) | ((({den}) AND ({num}))::BIGINT << {bit + 1})")
    packed = ", ".join(f"({' | '.join(parts)}) AS w{w}" for w, parts in words.items())
    counts = ", ".join(
        f"count_if((w{slot // 30} & {1 << (2 * (slot % 30) + 1)}) <> 0)::BIGINT AS num_{i}, "
        f"count_if((w{slot // 30} & {1 << (2 * (slot % 30))}) <> 0)::BIGINT AS den_{i}"
        for slot, i in enumerate(indexes))
    either = ", ".join(f"bit_or(w{w}) AS w{w}" for w in words)
    classed = (f"SELECT partner_id, person_key, period, race_bits, class_rank, {packed} "
               f"FROM ({classed})")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {COUNTS} AS
        SELECT partner_id, period, race_bits, class_rank, {counts}
        FROM ({classed}) GROUP BY partner_id, period, race_bits, class_rank""")
    # A person's race is the union of their flags and their class the lowest rank: as a bit mask
    # and a rank, bit_or and min over integers, several times faster on tens of millions of
    # rows than bool_or and arg_min over text.
    con.execute(f"""
        INSERT INTO {COUNTS}
        SELECT 'ALL', period, race_bits, class_rank, {counts}
        FROM (SELECT person_key, period, bit_or(race_bits) AS race_bits,
                     min(class_rank) AS class_rank, {either}
              FROM ({classed}) GROUP BY person_key, period)
        GROUP BY period, race_bits, class_rank""")


def indicator_cells_sql(config: InitiativeConfig, indicator_index: int) -> str:
    """Cells of one records-based indicator, from `_profile_counts`."""
    indicator = config.indicators[indicator_index]
    race = config.standards.race
    aoic_labels = " ".join(f"WHEN 'race_{c}' THEN {sql_literal(race.label(c))}" for c in RACE_CODES)
    head = (f"{sql_literal(config.id)} AS initiative_id, {sql_literal(indicator.id)} AS indicator_id, "
            "period::VARCHAR AS period, partner_id")
    i = indicator_index
    return f"""
    WITH
    -- Every cell is a sum over people of the same partner, period, races and class: counted
    -- per such profile (a few thousand rows), the tabulations below no longer touch each person.
    profiles AS MATERIALIZED (
        SELECT partner_id, period, race_bits, class_rank, num_{i} AS numerator,
               den_{i} AS denominator
        FROM {COUNTS} WHERE den_{i} > 0
    ),
    people AS NOT MATERIALIZED (
        SELECT partner_id, period, numerator, denominator, {_person_columns_sql(config)}
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
    GROUP BY GROUPING SETS ((partner_id, period, race_alone, class), (partner_id, period, race_alone),
                            (partner_id, period, class), (partner_id, period))
    UNION ALL
    SELECT {head}, 'alone_or_in_combination' AS race_tabulation,
           CASE code {aoic_labels} END AS race,
           CASE WHEN grouping(class) = 1 THEN 'ALL' ELSE class END AS class,
           sum(numerator)::BIGINT, sum(denominator)::BIGINT, 'records'
    FROM (UNPIVOT people ON {', '.join('race_' + c for c in RACE_CODES)} INTO NAME code VALUE selected)
    WHERE selected
    GROUP BY GROUPING SETS ((partner_id, period, code, class), (partner_id, period, code))
    """


def aggregate_cells_sql(config: InitiativeConfig, indicator_index: int) -> str:
    """Cells from partners' aggregate submissions; 'ALL' sums partners (no unduplication possible)."""
    indicator = config.indicators[indicator_index]
    return f"""
    SELECT {sql_literal(config.id)}, indicator_id, period::VARCHAR,
           CASE WHEN grouping(partner_id) = 1 THEN 'ALL' ELSE partner_id END,
           CASE WHEN race = 'ALL' THEN 'total' ELSE 'alone' END, race, class,
           sum(numerator)::BIGINT, sum(denominator)::BIGINT, 'aggregates'
    FROM {config.id}.aggregate_counts_current
    WHERE indicator_id = {sql_literal(indicator.id)}
    GROUP BY GROUPING SETS ((indicator_id, period, partner_id, race, class),
                            (indicator_id, period, race, class))
    """


def build_indicator_cells(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                          table: str | None = None) -> int:
    """(Re)build `<initiative>.indicator_cells` from the current records; returns cell count.

    Also (re)writes `<initiative>.poverty_guideline_years` (period, guideline_year,
    beyond_latest): which guideline year classed each period's incomes, and whether that period
    is after the latest year in the workspace's table (then the latest year is used).
    """
    table = table or f"{config.id}.indicator_cells"
    con.execute(f"CREATE OR REPLACE TABLE {table} ({CELLS_COLUMNS})")
    classed = profiles.prepare(con, config)
    try:
        if any(indicator.source == "records" for indicator in config.indicators):
            build_profile_counts(con, config, classed)
        for index, indicator in enumerate(config.indicators):
            build = aggregate_cells_sql if indicator.source == "aggregates" else indicator_cells_sql
            con.execute(f"INSERT INTO {table} {build(config, index)}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS temp.{COUNTS}")
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
