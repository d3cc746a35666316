"""What `backbone check` says about periods: which periods a file's rows were read as, and which
rows an indicator would not count because of its grain.

A partner writing "2024" for a school-year indicator, or sending yearly rows for a quarterly
one, gets a file that loads cleanly and then counts for nothing in that indicator (measure.py
counts a record only in the indicator period that wholly contains it). The check is the moment
to say so, in the partner's terms, before the file is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipelines.conditions import conditions_sql
from pipelines.config import InitiativeConfig
from pipelines.measure_grains import aggregate_fits_sql, fits_sql
from pipelines.sql import sql_literal

# Dated rows are listed by month: a year of visits is twelve lines, not 365.
GRAIN_WORDS = {"year": "calendar year", "school_year": "school year", "fiscal_year": "fiscal year",
               "quarter": "quarter", "month": "month", "day": "dated rows"}
INDICATOR_GRAIN = {"year": "yearly", "school_year": "by school year",
                   "fiscal_year": "by fiscal year", "quarter": "quarterly", "month": "monthly"}
MAX_LINES = 12


@dataclass(frozen=True)
class PeriodRows:
    label: str  # the canonical label; for dated rows, their month
    grain: str  # the records' period type ("day" for dated rows)
    rows: int
    days: int = 0  # distinct days, dated rows only


@dataclass(frozen=True)
class NotCounted:
    indicator_id: str
    title: str
    period_type: str
    rows: int  # rows in the indicator's denominator that no indicator period wholly contains
    of: int  # rows in the indicator's denominator


def read_periods(staged_db: str, config: InitiativeConfig
                 ) -> tuple[list[PeriodRows], list[NotCounted]]:
    """The staged records' rows per period, in time order, and per indicator this file feeds,
    its rows whose period is coarser than the indicator's grain or straddles two of its periods
    (measure's own rule: `measure_grains.fits_sql`, `measure_grains.aggregate_fits_sql`)."""
    con = duckdb.connect(staged_db, read_only=True)
    try:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'records'"
                           ).fetchone()[0]:
            return [], []
        read = [PeriodRows(*row) for row in con.execute("""
            SELECT CASE WHEN period_type = 'day' THEN strftime(period_start, '%Y-%m')
                        ELSE period END AS label,
                   period_type, count(*)::BIGINT,
                   count(DISTINCT period_start) FILTER (WHERE period_type = 'day')
            FROM records WHERE period IS NOT NULL
            GROUP BY 1, 2 ORDER BY min(period_start), max(period_end), label""").fetchall()]
        columns = {r[0] for r in con.execute("DESCRIBE records").fetchall()}
        fed = []  # (indicator, its rows in this file, those of them that fit its grain)
        for indicator in config.indicators:
            if "indicator_id" in columns:  # an aggregate file: one exact indicator period a row
                if indicator.source == "aggregates":
                    fed.append((indicator, f"indicator_id = {sql_literal(indicator.id)}",
                                aggregate_fits_sql(config, indicator)))
            elif indicator.source == "records" and {
                    c.column for c in indicator.denominator + indicator.numerator} <= columns:
                fed.append((indicator, conditions_sql(indicator.denominator),
                            fits_sql(config, indicator.period_type)))
        if not fed:
            return read, []
        # One scan serves every indicator, as in measure's own count of what it leaves out.
        counts = con.execute("SELECT " + ", ".join(
            f"count_if(({mine}) AND NOT coalesce({fits}, false)), count_if({mine})"
            for _, mine, fits in fed) + " FROM records WHERE period IS NOT NULL").fetchone()
    finally:
        con.close()
    return read, [NotCounted(indicator.id, indicator.title, indicator.period_type, missed, of)
                  for (indicator, _, _), missed, of in zip(fed, counts[::2], counts[1::2])
                  if missed]


def period_lines(read: list[PeriodRows]) -> list[str]:
    """One line per period (at most MAX_LINES; the rest summed into one)."""
    def line(p: PeriodRows) -> str:
        what = (f"{GRAIN_WORDS['day']}, {p.days} {'day' if p.days == 1 else 'days'}"
                if p.grain == "day" else GRAIN_WORDS.get(p.grain, p.grain))
        return f"{p.label} ({what}): {p.rows:,} {'row' if p.rows == 1 else 'rows'}"

    shown = [line(p) for p in read[:MAX_LINES]]
    rest = read[MAX_LINES:]
    if rest:
        rows = sum(p.rows for p in rest)
        shown.append(f"...and {len(rest)} more periods, to {rest[-1].label}: {rows:,} rows")
    return shown


def not_counted_lines(missed: list[NotCounted]) -> list[str]:
    return [f"{m.rows:,} of {m.of:,} rows would not count in {m.title!r} ({m.indicator_id}), "
            f"which is measured {INDICATOR_GRAIN.get(m.period_type, m.period_type)}: their "
            f"period is longer than one {GRAIN_WORDS.get(m.period_type, m.period_type)} or "
            f"spans two" for m in missed]
