"""Which records and aggregate rows fit an indicator's period grain, and what each indicator did
not count because of it (`<initiative>.indicator_grains`, for the manifest).

A record counts in the indicator period that wholly contains its own period; an aggregate cell
only when its period is exactly one indicator period. `measure` counts by these rules and
`check_periods` (what `backbone check` says) warns by the very same ones.
"""

from __future__ import annotations

import logging

import duckdb

from pipelines import periods
from pipelines.conditions import conditions_sql
from pipelines.config import InitiativeConfig

GRAINS_COLUMNS = ("indicator_id VARCHAR, period_type VARCHAR, records_not_counted BIGINT, "
                  "aggregate_rows_not_counted BIGINT, aggregate_periods_not_counted VARCHAR[], "
                  "records_other_calendar BIGINT")
# Of records_not_counted: school or fiscal years (the indicator's own period type) dated by
# another `calendar:` start month than today's, so they straddle today's years. Their label is
# a school or fiscal year all the same: `backbone rebuild` dates them by today's calendar.
CALENDAR_TYPES = ("school_year", "fiscal_year")


def fits_sql(config: InitiativeConfig, period_type: str) -> str:
    """A record fits the grain when its first and last day lie in the same indicator period."""
    calendar = config.initiative.calendar
    return (f"{periods.start_sql('period_start', period_type, calendar)} = "
            f"{periods.start_sql('period_end', period_type, calendar)}")


def aggregate_fits_sql(config: InitiativeConfig, indicator) -> str:
    """An aggregate cell counts only when its period is exactly one indicator period."""
    period_type, calendar = indicator.period_type, config.initiative.calendar
    return (f"({periods.start_sql('period_start', period_type, calendar)} = period_start AND "
            f"{periods.end_sql('period_start', period_type, calendar)} = period_end)")


def all_fit(period_type: str, record_types: set[str]) -> bool:
    """Every record is of this very grain, so each is its own indicator period (a school or
    fiscal year stored under another calendar setting might not be, so those are checked)."""
    return record_types <= {period_type} and period_type not in ("school_year", "fiscal_year")


# Finer to coarser; school and fiscal years may coincide with calendar years (start month 1).
GRAIN_RANK = {"day": 0, "month": 1, "quarter": 2, "school_year": 3, "fiscal_year": 3, "year": 3}


def none_fit(period_type: str, record_types: set[str]) -> bool:
    """Every record is coarser than the grain (yearly rows, a quarterly indicator)."""
    return all(GRAIN_RANK.get(t, -1) > GRAIN_RANK[period_type] for t in record_types)


def build_grains(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, classed: str,
                 by_type: dict[str, list[int]], record_types: set[str], table: str) -> None:
    """Per indicator: its period type, and what was not counted because of its grain (records
    in its denominator whose period is coarser or straddles; aggregate rows of other periods).
    One scan of the records serves every indicator that can miss any. `by_type`: the
    records-based indicator indexes per period type, in definition order."""
    rows, counted = [], []
    for period_type, indexes in by_type.items():
        for i in indexes:
            if all_fit(period_type, record_types):
                rows.append((config.indicators[i].id, period_type, 0, 0, [], 0))
            else:
                counted.append((i, period_type))
    if counted:
        def missed_sql(i: int, period_type: str, same_type: bool) -> str:
            if same_type and period_type not in CALENDAR_TYPES:
                return "0"
            return (f"count_if(({conditions_sql(config.indicators[i].denominator)}) AND NOT "
                    f"coalesce({fits_sql(config, period_type)}, false)"
                    + (f" AND period_type = '{period_type}')" if same_type else ")"))
        missed = con.execute("SELECT " + ", ".join(
            f"{missed_sql(i, t, False)}, {missed_sql(i, t, True)}" for i, t in counted)
            + f" FROM ({classed})").fetchall()[0]
        rows += [(config.indicators[i].id, period_type, n, 0, [], other)
                 for (i, period_type), n, other in zip(counted, missed[::2], missed[1::2])]
        for (i, period_type), other in zip(counted, missed[1::2]):
            if other:
                logging.getLogger(__name__).warning(
                    "%s: %s", config.id, other_calendar_note(config.indicators[i].id,
                                                             period_type, other))
    for indicator in config.indicators:
        if indicator.source != "aggregates":
            continue
        missed = con.execute(f"""
            SELECT count(*), list(DISTINCT partner_id || ' ' || period ORDER BY
                                  partner_id || ' ' || period)
            FROM {config.id}.aggregate_counts_current
            WHERE indicator_id = ? AND NOT coalesce({aggregate_fits_sql(config, indicator)},
                                                     false)""", [indicator.id]).fetchall()[0]
        rows.append((indicator.id, indicator.period_type, 0, missed[0], missed[1] or [], 0))
    con.execute(f"CREATE OR REPLACE TABLE {table} ({GRAINS_COLUMNS})")
    if rows:
        con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?)", rows)


def other_calendar_note(indicator_id: str, period_type: str, n: int) -> str:
    every = period_type.replace("_", " ")
    return (f"Indicator {indicator_id} (one {every} at a time) did not count {n:,} records of "
            f"its denominator that are {every}s dated by an earlier `calendar:` setting of "
            f"initiative.yaml (their {every} starts in another month than today's): run "
            f"`backbone rebuild` to date them by today's calendar.")
