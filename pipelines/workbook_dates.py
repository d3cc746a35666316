"""Date cells an .xlsx shows as a year or a month: in the period column, the period shown.

Type `2024` or `Mar 2024` into a column Excel formats as a date (or paste dates into a column
formatted `yyyy` or `mmm-yy`) and Excel stores a day, 2024-01-01 or 2024-03-01, and shows the
year or the month. python-calamine gives the day. Read as the day, the rows would be dated
records: a later correction of "2024" (a year) would not replace them, and one child's rows
within the year would be events instead of one record. So in the period column, and only there,
such a cell is written as Excel shows it: `2024`, or `2024-03` for a month. In any other column
(a date of birth shown as `mmm-yy`) the day stays: it is the value, the format only hides part
of it.

Which cells have such a format is found with the other formats that change what a cell is, in
one read of the styles and one scan of the sheet (pipelines.workbook_formats); the cell's text
stays the day (`ShownDate`, a str), carrying the period shown, until pipelines.workbook knows
which column is the period.
"""

from __future__ import annotations

import datetime as dt
import re

BUILTIN_MONTH = {17}  # "mmm-yy"
# A format code's literal text (quoted, escaped with a backslash, or a [colour]/[locale]).
_LITERAL = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')


class ShownDate(str):
    """A date cell's text (the day), carrying the year or month Excel shows for it."""

    shown: str

    def __new__(cls, day: str, shown: str) -> ShownDate:
        text = super().__new__(cls, day)
        text.shown = shown
        return text


class PartialDate:
    """How a date in a year or month format is shown (pipelines.workbook_formats asks `text`)."""

    def __init__(self, month: bool):
        self.month = month

    def text(self, value: dt.date) -> str:
        return f"{value.year}-{value.month:02d}" if self.month else f"{value.year}"


YEAR, MONTH = PartialDate(month=False), PartialDate(month=True)


def partial_date_format(code: str) -> PartialDate | None:
    """YEAR or MONTH for a date format that shows no day and no time (`yyyy`, `mmm-yy`,
    `mmmm yyyy`, `mm/yyyy`); else None."""
    bare = _LITERAL.sub("", code.split(";")[0]).lower()
    if "y" not in bare or any(part in bare for part in "dhs"):
        return None
    return MONTH if "m" in bare else YEAR


def as_shown(row: list[str], periods: set[int]) -> list[str]:
    """`row` with the period column's ShownDate cells written as shown."""
    for at in periods:
        if at < len(row) and isinstance(row[at], ShownDate):
            row[at] = row[at].shown
    return row
