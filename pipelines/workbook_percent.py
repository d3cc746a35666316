"""Numbers an .xlsx shows as percentages: written out as shown ("45%"), never as 0.45.

Excel stores "45%" as 0.45 with a percent number format, and python-calamine gives the number
alone. Read as 0.45, a column of percentages of poverty (partners write 145 for 145%) would be
100 times off without anyone seeing it; read as 45, a column of shares would be. So such a cell is
written out as shown ("45%"), exactly as the same value typed in a CSV, and both are refused by
the `percent_sign` rule (pipelines.validate) with a sentence saying why. Which cells have a
percent format is found with the other formats that change how a number is shown, in one read of
the styles and one scan of the sheet (pipelines.workbook_formats).
"""

from __future__ import annotations

import re
from decimal import Decimal

BUILTIN_PERCENT = {9, 10}  # "0%" and "0.00%"
# A format code's literal text (quoted, escaped with a backslash, or a [colour]/[condition]):
# a % there is shown as a character, it does not scale the number.
_LITERAL = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')


def is_percent_format(code: str) -> bool:
    return "%" in _LITERAL.sub("", code)


def percent_text(value: float) -> str:
    """45% for 0.45, as Excel shows it (at full precision: 14.5% for 0.145)."""
    shown = (Decimal(f"{value:.15g}") * 100).normalize()  # as Excel: 15 significant digits
    return f"{shown:f}%"


class Percent:
    """How a number in a percent format is shown (pipelines.workbook_formats asks `text`)."""

    def text(self, value: float | int) -> str:
        return percent_text(float(value))


PERCENT = Percent()
