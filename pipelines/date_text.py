"""A `type: date` cell as partners write it, read in SQL by the day rules of the period column
(pipelines.period_forms): one reading of "3/1/2023" in every column of a file.

DuckDB's own cast reads ISO only, and reads some other text as a wrong day: "3/1/23" is
January 23 of the year 3. So a date column is read here and nowhere else: ISO
(`2024-03-15`, `2024/3/15`), US month/day/year (`3/15/2024`, `3/15/24`), Excel's d-mmm-yy
(`15-Mar-2024`, `1-Oct-24`, `1 Sept 2024`), each with a time of day after it if the time is one
(Excel hands date cells over as date-times: `10/1/2024 0:00`, `2024-10-01 12:00:00 AM`,
`2024-10-01T02:00Z`).
A two-digit year is 20yy unless that is more than ten years ahead (then 19yy), as for periods.
Anything else, or a day the calendar lacks (2/30/2024), is NULL: `wrong_type`, never a guess.
"""

from __future__ import annotations

from datetime import date

from pipelines.period_forms import MONTHS

DATE_FORMS = "2024-03-15, 3/15/2024 or 15-Mar-2024"

_TIME = (r"((T|\s+)([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d([.,]\d+)?)?"
         r"(\s*[AaPp]\.?[Mm]\.?|Z|[+-]\d{2}(:?\d{2})?)?)?")
_DAY = (r"(\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}/\d{1,2}/(\d{4}|\d{2})"
        r"|\d{1,2}[-/\s]?[A-Za-z]{3,9}\.?[-/\s]?(\d{4}|\d{2}))")


def _year(digits: str) -> str:
    """SQL: the four-digit year of `digits` (two or four digits), as for periods."""
    pivot = date.today().year + 10
    number = f"TRY_CAST({digits} AS INTEGER)"
    return (f"(CASE WHEN length({digits}) = 4 THEN {number} "
            f"WHEN 2000 + {number} <= {pivot} THEN 2000 + {number} ELSE 1900 + {number} END)")


def _ymd(year: str, month: str, day: str) -> str:
    """SQL: the DATE of year/month/day parts, NULL when the calendar has no such day (or the
    year is not one of four digits, as for periods)."""
    return (f"(CASE WHEN TRY_CAST({year} AS INTEGER) BETWEEN 1000 AND 9999 "
            f"THEN TRY_CAST(({year})::VARCHAR || '-' || ({month})::VARCHAR || '-' "
            f"|| ({day})::VARCHAR AS DATE) END)")


def date_sql(text: str) -> str:
    """SQL: the DATE `text` means under the rules above, else NULL. A plain expression (no
    subquery): it is computed while the file is parsed."""
    d = f"regexp_extract(trim({text}), '^{_DAY}{_TIME}$', 1)"
    months = " ".join(f"WHEN '{name}' THEN {number}" for name, number in MONTHS.items())
    iso = r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    us = r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})"
    named = r"(\d{1,2})[-/\s]?([A-Za-z]+)\.?[-/\s]?(\d{4}|\d{2})"

    def part(pattern: str, group: int) -> str:
        return f"regexp_extract({d}, '^{pattern}$', {group})"

    month_name = f"(CASE upper({part(named, 2)}) {months} END)"
    return (f"(CASE WHEN regexp_full_match({d}, '{iso}') "
            f"THEN {_ymd(part(iso, 1), part(iso, 2), part(iso, 3))} "
            f"WHEN regexp_full_match({d}, '{us}') "
            f"THEN {_ymd(_year(part(us, 3)), part(us, 1), part(us, 2))} "
            f"WHEN regexp_full_match({d}, '{named}') "
            f"THEN {_ymd(_year(part(named, 3)), month_name, part(named, 1))} END)")
