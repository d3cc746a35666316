"""Measure stage: records -> indicator cells by period x partner x race x class (a mart).

Counts are unduplicated: a person (person_key) counts once per cell however many records or
partners report them. For the all-partner rows (`partner_id = 'ALL'`) a person's race is the union
of what every partner reported (select all that apply) and their class is the lowest band any
partner reported (income-based before proxy, proxy before "Not reported"), since a household
that qualified for help anywhere is low income.

Every cell of the full race x class layout is computed, whatever the indicator publishes, so that
suppression sees all the additive relations; `publish` drops the unrequested ones afterwards.
"""

from __future__ import annotations

import duckdb

from pipelines.config import Condition, InitiativeConfig
from pipelines.equity.race import standard
from pipelines.standardize import RACE_CODES, class_bands
from pipelines.validate import sql_literal

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


def _race_alone_sql() -> str:
    race = standard()
    count = " + ".join(f"race_{c}::INTEGER" for c in RACE_CODES)
    cases = " ".join(f"WHEN race_{c} THEN {sql_literal(race.label(c))}" for c in RACE_CODES)
    return (f"CASE WHEN ({count}) = 0 THEN {sql_literal(race.not_reported_label)} "
            f"WHEN ({count}) > 1 THEN {sql_literal(race.multiracial_label)} {cases} END")


def _class_rank_sql() -> str:
    labels = class_bands().labels
    return "CASE class " + " ".join(f"WHEN {sql_literal(label)} THEN {rank}"
                                    for rank, label in enumerate(labels)) + f" ELSE {len(labels)} END"


def _race_bits_sql() -> str:
    return " | ".join(f"(race_{c}::INTEGER << {bit})" for bit, c in enumerate(RACE_CODES))


def _person_columns_sql() -> str:
    """Decode a profile's integers (`race_bits`, `class_rank`) into race flags and class label."""
    flags = ", ".join(f"(race_bits & {1 << bit}) <> 0 AS race_{c}"
                      for bit, c in enumerate(RACE_CODES))
    labels = ", ".join(sql_literal(label) for label in class_bands().labels)
    return f"{flags}, [{labels}][class_rank + 1] AS class"


def indicator_cells_sql(config: InitiativeConfig, indicator_index: int) -> str:
    indicator = config.indicators[indicator_index]
    # A person's race is the union of their flags and their class the lowest-ranked label; as a
    # bit mask and a rank, that is bit_or and min over integers, several times faster on tens of
    # millions of rows than eight bool_or and an arg_min over text.
    person = "bit_or(race_bits) AS race_bits, min(class_rank) AS class_rank, " \
             "bool_or(in_numerator) AS in_numerator"
    race = standard()
    aoic_labels = " ".join(f"WHEN 'race_{c}' THEN {sql_literal(race.label(c))}" for c in RACE_CODES)
    # The intake rule `duplicate_key` quarantines every row of a repeated (person, period), and
    # records_current keeps one file per partner and period, so a partner's rows are already one
    # per person and period: only the all-partner level needs regrouping.
    schema = config.record_schema
    if set(schema.unique) == {schema.role_column("person_id"), schema.role_column("period")}:
        by_partner, group_by_partner = "race_bits, class_rank, in_numerator", ""
    else:
        by_partner, group_by_partner = person, " GROUP BY partner_id, person_key, period"
    head = (f"{sql_literal(config.id)} AS initiative_id, {sql_literal(indicator.id)} AS indicator_id, "
            "period::VARCHAR AS period, partner_id")
    return f"""
    WITH eligible AS (
        SELECT partner_id, person_key, period, {_race_bits_sql()} AS race_bits,
               {_class_rank_sql()} AS class_rank,
               {conditions_sql(indicator.numerator)} AS in_numerator
        FROM {config.id}.records_current
        WHERE {conditions_sql(indicator.denominator)}
    ),
    people_coded AS (
        SELECT partner_id, person_key, period, {by_partner} FROM eligible{group_by_partner}
        UNION ALL
        SELECT 'ALL' AS partner_id, person_key, period, {person} FROM eligible
        GROUP BY person_key, period
    ),
    -- Every cell is a sum over people of the same partner, period, races and class: counted
    -- per such profile (a few thousand rows), the tabulations below no longer touch each person.
    profiles AS MATERIALIZED (
        SELECT partner_id, period, race_bits, class_rank,
               count_if(in_numerator) AS numerator, count(*) AS denominator
        FROM people_coded GROUP BY partner_id, period, race_bits, class_rank
    ),
    people AS NOT MATERIALIZED (
        SELECT partner_id, period, numerator, denominator, {_person_columns_sql()} FROM profiles
    ),
    labelled AS (SELECT *, {_race_alone_sql()} AS race_alone FROM people)
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
    """(Re)build `<initiative>.indicator_cells` from the current records; returns cell count."""
    table = table or f"{config.id}.indicator_cells"
    con.execute(f"CREATE OR REPLACE TABLE {table} ({CELLS_COLUMNS})")
    for index, indicator in enumerate(config.indicators):
        build = aggregate_cells_sql if indicator.source == "aggregates" else indicator_cells_sql
        con.execute(f"INSERT INTO {table} {build(config, index)}")
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
