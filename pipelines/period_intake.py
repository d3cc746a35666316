"""The period column of a partner file: each distinct value read once by pipelines.periods (a file
has few: its years, months or service dates), into a small table the GX rules and `standardize`
join back. One parser serves config, crosswalks and files.

Table `_periods` (in the staging database, not TEMP: GX reads it on its own connection):
text (the value as mapped by the crosswalk's `values`), label, period_type, period_start,
period_end, problem (NULL when the value is a period).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from pipelines.config import Crosswalk, IntakeColumn, IntakeSchema
from pipelines.periods import ACCEPTED, DEFAULT_CALENDAR, Calendar, parse_label

if TYPE_CHECKING:
    import great_expectations as gx

PERIODS = "_periods"
# Excel's day numbers for 2000-01-01 .. 2099-12-31, with a time of day as a fraction or not.
EXCEL_DAY_NUMBER = r"[0-9]{5}([.][0-9]+)?"
EXCEL_DAYS = (36526, 73050)


def default_type(schema: IntakeSchema, crosswalk: Crosswalk) -> str:
    """What a bare year means in this partner's files: their crosswalk's say, else the
    template's."""
    column = schema.by_role("period")[0]
    return crosswalk.period.type or column.period_type


def register_periods(con: duckdb.DuckDBPyConnection, schema: IntakeSchema, crosswalk: Crosswalk,
                     calendar: Calendar = DEFAULT_CALENDAR, view: str = "typed") -> int:
    """Create `_periods` from the distinct values of `view`'s period column; returns how many
    are not periods."""
    column = schema.by_role("period")[0].name
    kind = default_type(schema, crosswalk)
    values = [row[0] for row in con.execute(
        f"SELECT DISTINCT {column} FROM {view} WHERE {column} IS NOT NULL").fetchall()]
    rows: dict[str, list] = {name: [] for name in (
        "text", "label", "period_type", "period_start", "period_end", "problem")}
    for text in values:
        try:
            period = parse_label(text, calendar, kind, crosswalk.period.labels)
            found = [period.label, period.type, period.start, period.end, None]
        except ValueError as exc:
            found = [None, None, None, None, str(exc)]
        for name, value in zip(rows, [text, *found]):
            rows[name].append(value)
    table = pa.table(rows, schema=pa.schema([
        ("text", pa.string()), ("label", pa.string()), ("period_type", pa.string()),
        ("period_start", pa.date32()), ("period_end", pa.date32()), ("problem", pa.string())]))
    con.register("_periods_arrow", table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {PERIODS} AS FROM _periods_arrow")
    finally:
        con.unregister("_periods_arrow")
    return sum(problem is not None for problem in rows["problem"])


def accepted_forms(crosswalk: Crosswalk) -> str:
    local = list(crosswalk.period.labels)
    shown = ", ".join(local[:8]) + (", ..." if len(local) > 8 else "")
    return f"{ACCEPTED}" + (f", or one of your crosswalk's labels: {shown}" if local else "")


def period_rules(column: IntakeColumn, crosswalk: Crosswalk, label: str, today: dt.date,
                 meta) -> list[gx.Expectation]:
    """`bad_period`, `out_of_range` (min/max: years of the period start) and `future_period`
    (a period starting after today) for the period column, as GX row queries over `_periods`."""
    import great_expectations as gx

    name = column.name

    def rows(rule: str, message: str, where: str) -> gx.Expectation:
        query = (f"SELECT _row, {name}__text AS value FROM {{batch}} WHERE {name} IN "
                 f"(SELECT text FROM {PERIODS} WHERE {where})")
        return gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=query, description=message, meta=meta(rule, name, message))

    # A date cell that lost its format is saved as Excel's day number (45292 is 2024-01-01):
    # told only "must be a period", the partner sees a number and cannot tell why. Never read
    # as a day (README: a bare serial is refused), but named as what it is.
    pattern = EXCEL_DAY_NUMBER.replace("{", "{{").replace("}", "}}")  # GX formats the query
    serial = (f"regexp_full_match(trim(text), '{pattern}') "
              f"AND TRY_CAST(trim(text) AS DOUBLE) BETWEEN {EXCEL_DAYS[0]} AND {EXCEL_DAYS[1]}")
    rules = [rows("bad_period", f"{label!r} must be a period: write e.g. "
                  f"{accepted_forms(crosswalk)}.",
                  f"problem IS NOT NULL AND NOT ({serial})"),
             rows("excel_date_number", f"{label!r} holds a number where a date or period "
                  "belongs: Excel keeps a date as a day number (45292 is 1 January 2024) and "
                  "saves that number when the column is not formatted as a date. Format the "
                  f"column as a Date in Excel and send the file again; accepted: "
                  f"{accepted_forms(crosswalk)}.", f"problem IS NOT NULL AND {serial}")]
    if column.min is not None or column.max is not None:
        low = f"year(period_start) < {int(column.min)}" if column.min is not None else "false"
        high = f"year(period_end) > {int(column.max)}" if column.max is not None else "false"
        said = " and ".join(part for part in (
            f"at least {int(column.min)}" if column.min is not None else "",
            f"at most {int(column.max)}" if column.max is not None else "") if part)
        rules.append(rows("out_of_range", f"{label!r} must be {said} (the years the period "
                          "starts and ends in).", f"{low} OR {high}"))
    if column.max_is_current_year:
        rules.append(rows("future_period", f"{label!r} is in the future (the period starts "
                          f"after {today.isoformat()}).",
                          f"period_start > DATE '{today.isoformat()}'"))
    return rules
