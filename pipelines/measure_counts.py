"""Profile counts: one pass over the current records into `_profile_counts_<period type>`, people
per (partner or 'ALL', indicator period, race bits, class rank) with a numerator and denominator
per records-based indicator; measure tabulates every cell from these. With a folder of kept
counts (pipelines/measure_reuse.py), only the indicator periods whose records changed are
counted again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from pipelines import measure_reuse, migrations, periods
from pipelines.conditions import profile_mask_sql, record_conditions_sql, uses_profile
from pipelines.config import InitiativeConfig
from pipelines.equity import profiles
from pipelines.measure_grains import all_fit, fits_sql
from pipelines.sql import sql_literal


def counts_table(period_type: str) -> str:
    return f"_profile_counts_{period_type}"


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
    if all_fit(period_type, record_types):
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


def count_reusing(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, classed: str,
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
