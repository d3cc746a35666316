"""The period column of a partner file: each distinct value read once by pipelines.periods (a file
has few: its years, months or service dates), into a small table the GX rules and `standardize`
join back. One parser serves config, crosswalks and files.

Table `_periods` (in the staging database, not TEMP: GX reads it on its own connection):
text (the value as mapped by the crosswalk's `values`), label, period_type, period_start,
period_end, problem (NULL when the value is a period).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from pipelines.config import Crosswalk, IntakeColumn, IntakeSchema
from pipelines.period_forms import squeeze
from pipelines.periods import ACCEPTED, DEFAULT_CALENDAR, Calendar, parse_label

if TYPE_CHECKING:
    import great_expectations as gx

PERIODS = "_periods"
DAY_FIRST = "written day first"  # `problem` of a date in a day-first column (day_first_values)
# Excel's day numbers for 2000-01-01 .. 2099-12-31, with a time of day as a fraction or not.
EXCEL_DAY_NUMBER = r"[0-9]{5}([.][0-9]+)?"
EXCEL_DAYS = (36526, 73050)
# n/n/yyyy or n.n.yyyy, a time of day after it or not: the forms in which day and month swap.
NUMERIC_DATE = re.compile(r"\s*([0-9]{1,2})([/.])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})(?:[ T].*)?")


def day_first_values(values: list[str], labels: dict[str, str]) -> set[str]:
    """The values of a period column written day first, as UK and European Excel saves dates.

    Dates here are month first (3/4/2024 is March 4). A column is day first when it holds a
    date that can only be day first (13/03/2024) and none that can only be month first
    (3/13/2024); in it, a date like 03/04/2024 is as much April 3 as March 4, and read month
    first it would count in the wrong month without a word: every such date is named, never
    read. A date with dots (15.03.2024) is day first wherever it is."""
    local = {squeeze(key) for key in labels}
    dates = []
    for text in values:
        found = NUMERIC_DATE.fullmatch(text)
        if found and squeeze(text) not in local:
            dates.append((text, found[2], int(found[1]), int(found[3])))
    dotted = {text for text, separator, first, second in dates
              if separator == "." and 1 <= first <= 31 and 1 <= second <= 12}
    day_only = [text for text, separator, first, second in dates
                if separator == "/" and 12 < first <= 31 and 1 <= second <= 12]
    month_only = [text for text, separator, first, second in dates
                  if separator == "/" and 1 <= first <= 12 and 12 < second <= 31]
    if not day_only or month_only:
        return dotted
    return dotted | {text for text, separator, first, second in dates if separator == "/"
                     and first != second and 1 <= first <= 31 and 1 <= second <= 12}


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
    day_first = day_first_values(values, crosswalk.period.labels)
    rows: dict[str, list] = {name: [] for name in (
        "text", "label", "period_type", "period_start", "period_end", "problem")}
    for text in values:
        try:
            if text in day_first:
                raise ValueError(DAY_FIRST)
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
                  f"problem IS NOT NULL AND problem <> '{DAY_FIRST}' AND NOT ({serial})"),
             rows("day_first_date", f"{label!r} holds dates written day first (13/03/2024 or "
                  "13.03.2024: day/month/year, as Excel saves dates in the UK and much of "
                  "Europe). Dates here are read month first (3/4/2024 is March 4), so 03/04/2024 "
                  "could land in the wrong month: none of these dates is read. Send the file "
                  "again with dates as year-month-day (2024-03-13): in Excel, format the column "
                  "as yyyy-mm-dd before saving.",
                  f"problem = '{DAY_FIRST}'"),
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
