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

import logging
from pathlib import Path

import duckdb

from pipelines import measure_reuse, migrations, periods
from pipelines.conditions import (conditions_sql, profile_mask_sql, record_conditions_sql,
                                  uses_profile)
from pipelines.config import InitiativeConfig
from pipelines.equity import profiles
from pipelines.equity.profiles import MULTI_UNSPECIFIED_BIT
from pipelines.standardize import RACE_CODES
from pipelines.sql import sql_literal

CELLS_COLUMNS = ("initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, "
                 "period_type VARCHAR, period_start DATE, period_end DATE, partner_id VARCHAR, "
                 "race_tabulation VARCHAR, race VARCHAR, class VARCHAR, numerator BIGINT, "
                 "denominator BIGINT, source VARCHAR")
GRAINS_COLUMNS = ("indicator_id VARCHAR, period_type VARCHAR, records_not_counted BIGINT, "
                  "aggregate_rows_not_counted BIGINT, aggregate_periods_not_counted VARCHAR[]")


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


def counts_table(period_type: str) -> str:
    return f"_profile_counts_{period_type}"


def _records_indicators(config: InitiativeConfig) -> dict[str, list[int]]:
    """Records-based indicator indexes per period type, in definition order."""
    by_type: dict[str, list[int]] = {}
    for i, indicator in enumerate(config.indicators):
        if indicator.source == "records":
            by_type.setdefault(indicator.period_type, []).append(i)
    return by_type


def fits_sql(config: InitiativeConfig, period_type: str) -> str:
    """A record fits the grain when its first and last day lie in the same indicator period."""
    calendar = config.initiative.calendar
    return (f"{periods.start_sql('period_start', period_type, calendar)} = "
            f"{periods.start_sql('period_end', period_type, calendar)}")


def profile_counts_sql(config: InitiativeConfig, classed: str, period_type: str,
                       indexes: list[int], record_types: set[str],
                       only: list | None = None) -> tuple[str, ...]:
    """The statement(s) of `build_profile_counts`; `only`: indicator period starts (dates) to
    count, None for all of them.

    Restricting to whole indicator periods gives exactly those periods' rows of the full count:
    both groupings are by indicator period, and a person counts once per indicator period.
    """
    calendar = config.initiative.calendar
    # Whether a record is in each indicator's denominator and numerator, packed two bits per
    # indicator into BIGINTs: across partners, "in the indicator when any record is" becomes one
    # bit_or per word instead of two bool_or per indicator (3x faster on millions of people).
    # Conditions on `class` or `poverty_ratio` are the person's (pipelines/conditions.py): the
    # bits carry the record's other conditions, and the profile's class clears them after.
    words: dict[int, list[str]] = {}
    for slot, i in enumerate(indexes):
        indicator = config.indicators[i]
        den = record_conditions_sql(indicator.denominator)
        num = record_conditions_sql(indicator.numerator)
        bit = 2 * (slot % 30)
        words.setdefault(slot // 30, []).append(
            f"(({den})::BIGINT << {bit}) | ((({den}) AND ({num}))::BIGINT << {bit + 1})")
    packed = ", ".join(f"({' | '.join(parts)}) AS w{w}" for w, parts in words.items())
    measured = [config.indicators[i] for i in indexes]
    by_profile = uses_profile(measured)
    ratio = ", poverty_ratio" if uses_profile(measured, "poverty_ratio") else ""
    # `n`: people a grouped row stands for (summed, so a per-partner row of many records of the
    # same profile counts them all at once).
    counts = ", ".join(
        f"coalesce(sum(n) FILTER ((w{slot // 30} & {1 << (2 * (slot % 30) + 1)}) <> 0), 0)"
        f"::BIGINT AS num_{i}, "
        f"coalesce(sum(n) FILTER ((w{slot // 30} & {1 << (2 * (slot % 30))}) <> 0), 0)"
        f"::BIGINT AS den_{i}"
        for slot, i in enumerate(indexes))
    # A person's race is the union of their flags and their class the lowest rank: as a bit mask
    # and a rank, bit_or and min over integers, several times faster on tens of millions of
    # rows than bool_or and arg_min over text.
    either = ", ".join(f"bit_or(w{w}) AS w{w}" for w in words)
    within = _within_sql(config, period_type, only)
    if _all_fit(period_type, record_types):
        fitted = (f"SELECT partner_id, person_key, period_start, race_bits, class_rank{ratio}, "
                  f"{packed} FROM ({classed}){' WHERE ' + within if within else ''}")
    else:
        fitted = (f"SELECT partner_id, person_key, "
                  f"{periods.start_sql('period_start', period_type, calendar)} AS period_start, "
                  f"race_bits, class_rank{ratio}, {packed} FROM ({classed}) "
                  f"WHERE {fits_sql(config, period_type)}{' AND ' + within if within else ''}")
    if record_types <= {period_type}:
        # One record per partner, person and period (the resubmission key): a partner's
        # profile of a person is their record, so records of the same profile are counted
        # together without grouping by person.
        keys = ", ".join(f"w{w}" for w in words)
        per_partner = f"(partner_id, period_start, race_bits, class_rank{ratio}, {keys})"
    else:
        per_partner = "(partner_id, person_key, period_start)"
    # One scan serves both groupings: each partner's profile of a person (that partner's
    # records only), and the one profile across partners (`pipelines.equity.profiles`).
    grouped = f"""SELECT partner_id, period_start, bit_or(race_bits) AS race_bits,
                     min(class_rank) AS class_rank{', min(poverty_ratio) AS poverty_ratio' if ratio else ''},
                     {either}, grouping(partner_id) = 1 AS across,
                     CASE WHEN grouping(person_key) = 0 THEN 1 ELSE count(*) END AS n
              FROM ({fitted})
              GROUP BY GROUPING SETS ({per_partner}, (person_key, period_start))"""
    if by_profile:
        labels = ", ".join(sql_literal(label) for label in config.standards.class_bands.labels)
        masked = ", ".join(
            f"w{w} & ({profile_mask_sql(measured[30 * w:30 * w + 30])}) AS w{w}"
            for w in words)
        grouped = (f"SELECT * REPLACE ({masked}) FROM (SELECT *, [{labels}][class_rank + 1] "
                   f"AS class FROM ({grouped}))")
    return (f"""
        CREATE OR REPLACE TEMP TABLE {counts_table(period_type)} AS
        SELECT CASE WHEN across THEN 'ALL' ELSE partner_id END AS partner_id, period_start,
               race_bits, class_rank, {counts}
        FROM ({grouped})
        GROUP BY across, partner_id, period_start, race_bits, class_rank""",)


def _within_sql(config: InitiativeConfig, period_type: str, only: list | None) -> str:
    """Records whose indicator period is one of `only` (on the record's own `period_start`, so
    DuckDB can skip row groups by their min/max); '' for every period."""
    if only is None:
        return ""
    if not only:
        return "false"
    calendar = config.initiative.calendar
    starts = ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(only))
    last = periods.end_sql(f"DATE '{max(only).isoformat()}'", period_type, calendar)
    # Records of period P start within P: the range lets the scan skip, the IN is exact.
    return (f"period_start BETWEEN DATE '{min(only).isoformat()}' AND {last} AND "
            f"{periods.start_sql('period_start', period_type, calendar)} IN ({starts})")


def build_profile_counts(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                         classed: str, period_type: str, indexes: list[int],
                         record_types: set[str], only: list | None = None) -> None:
    """`_profile_counts_<period_type>`: people counted per (partner or 'ALL', indicator period
    start, race bits, class rank), with a numerator and denominator column pair per
    records-based indicator of that period type (`only`: just those indicator periods).

    One pass over the current records that fit the grain serves every such indicator, grouped
    two ways at once: per partner and person (that partner's profile of the person), and per
    person across partners (the one profile of `pipelines.equity.profiles`, and in an indicator
    when any of their records is). `record_types`: the period types of the current records.
    When every record is of exactly this grain, a partner has one record per person and period
    (the resubmission key): the per-partner grouping needs no person, and (for
    calendar-independent types) no record needs its indicator period worked out. `classed`: the
    SQL of the current records with their own race bits and class rank, from
    `profiles.prepare`.
    """
    for statement in profile_counts_sql(config, classed, period_type, indexes, record_types,
                                        only):
        con.execute(statement)


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


def aggregate_fits_sql(config: InitiativeConfig, indicator) -> str:
    """An aggregate cell counts only when its period is exactly one indicator period."""
    period_type, calendar = indicator.period_type, config.initiative.calendar
    return (f"({periods.start_sql('period_start', period_type, calendar)} = period_start AND "
            f"{periods.end_sql('period_start', period_type, calendar)} = period_end)")


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


def _all_fit(period_type: str, record_types: set[str]) -> bool:
    """Every record is of this very grain, so each is its own indicator period (a school or
    fiscal year stored under another calendar setting might not be, so those are checked)."""
    return record_types <= {period_type} and period_type not in ("school_year", "fiscal_year")


# Finer to coarser; school and fiscal years may coincide with calendar years (start month 1).
GRAIN_RANK = {"day": 0, "month": 1, "quarter": 2, "school_year": 3, "fiscal_year": 3, "year": 3}


def _none_fit(period_type: str, record_types: set[str]) -> bool:
    """Every record is coarser than the grain (yearly rows, a quarterly indicator)."""
    return all(GRAIN_RANK.get(t, -1) > GRAIN_RANK[period_type] for t in record_types)


def _grains(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, classed: str,
            record_types: set[str], table: str) -> None:
    """Per indicator: its period type, and what was not counted because of its grain (records
    in its denominator whose period is coarser or straddles; aggregate rows of other periods).
    One scan of the records serves every indicator that can miss any."""
    rows, counted = [], []
    for period_type, indexes in _records_indicators(config).items():
        for i in indexes:
            if _all_fit(period_type, record_types):
                rows.append((config.indicators[i].id, period_type, 0, 0, []))
            else:
                counted.append((i, period_type))
    if counted:
        missed = con.execute("SELECT " + ", ".join(
            f"count_if(({conditions_sql(config.indicators[i].denominator)}) AND NOT "
            f"coalesce({fits_sql(config, period_type)}, false))" for i, period_type in counted)
            + f" FROM ({classed})").fetchall()[0]
        rows += [(config.indicators[i].id, period_type, n, 0, [])
                 for (i, period_type), n in zip(counted, missed)]
    for indicator in config.indicators:
        if indicator.source != "aggregates":
            continue
        missed = con.execute(f"""
            SELECT count(*), list(DISTINCT partner_id || ' ' || period ORDER BY
                                  partner_id || ' ' || period)
            FROM {config.id}.aggregate_counts_current
            WHERE indicator_id = ? AND NOT coalesce({aggregate_fits_sql(config, indicator)},
                                                     false)""", [indicator.id]).fetchall()[0]
        rows.append((indicator.id, indicator.period_type, 0, missed[0], missed[1] or []))
    con.execute(f"CREATE OR REPLACE TABLE {table} ({GRAINS_COLUMNS})")
    if rows:
        con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)", rows)


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
    measured = {t for t in by_type if not _none_fit(t, record_types)}
    try:
        if reuse is None:
            for period_type in measured:
                build_profile_counts(con, config, classed, period_type, by_type[period_type],
                                     record_types)
        else:
            _count_reusing(con, config, classed, {t: by_type[t] for t in measured},
                           record_types, reuse)
        for index, indicator in enumerate(config.indicators):
            if indicator.source == "aggregates":
                con.execute(f"INSERT INTO {table} {aggregate_cells_sql(config, index)}")
            elif indicator.period_type in measured:
                con.execute(f"INSERT INTO {table} {indicator_cells_sql(config, index)}")
        _grains(con, config, classed, record_types, f"{config.id}.indicator_grains")
    finally:
        for period_type in by_type:
            con.execute(f"DROP TABLE IF EXISTS temp.{counts_table(period_type)}")
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def _count_reusing(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, classed: str,
                   by_type: dict[str, list[int]], record_types: set[str], folder: Path) -> None:
    """`build_profile_counts` for each period type, counting only the indicator periods whose
    records changed since the counts kept in `folder`, then keeping these."""
    kept = measure_reuse.Reuse(folder)  # the parts are counted already
    years = measure_reuse.guideline_years(con, config)
    version = migrations.version_of(con)
    try:
        # Every guideline year's amounts, not only the years the records need now: a new year
        # of data must not look like a change to how the other years are counted.
        every_year = profiles.classed_records_sql(
            config, {g.year: g.year for g in config.standards.poverty_guidelines})
    except KeyError:  # a year without every region's line: count in full, keep nothing
        measure_reuse.forget(folder)
        for period_type, indexes in by_type.items():
            build_profile_counts(con, config, classed, period_type, indexes, record_types)
        return
    counted = {}
    for period_type, indexes in by_type.items():
        print_ = measure_reuse.fingerprint(
            profile_counts_sql(config, every_year, period_type, indexes, record_types), version)
        try:
            only = kept.periods_to_count(con, config, period_type, print_, years)
            build_profile_counts(con, config, classed, period_type, indexes, record_types, only)
            if only is not None:
                kept.fill(con, counts_table(period_type), period_type, only)
        except (duckdb.Error, KeyError, TypeError, ValueError) as exc:
            # A kept file that cannot be read (truncated, edited): this night counts in full.
            logging.getLogger(__name__).warning("%s: kept measure counts unreadable, counting "
                                                "every period: %s", folder, exc)
            kept.drop()
            build_profile_counts(con, config, classed, period_type, indexes, record_types)
        counted[period_type] = (print_, counts_table(period_type))
    measure_reuse.save(con, folder, counted, years)  # best effort: see its docstring
