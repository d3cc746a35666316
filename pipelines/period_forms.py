"""The forms partners write periods in ("SY2024", "Q1 2024", "Mar-24", "3/15/2024"...), read into a
period type and an anchor. Calendar arithmetic lives in pipelines.periods; this module only reads
text, so one parser serves config, crosswalks and intake."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

MONTHS = {name: number for number, names in enumerate((
    ("JAN", "JANUARY"), ("FEB", "FEBRUARY"), ("MAR", "MARCH"), ("APR", "APRIL"), ("MAY",),
    ("JUN", "JUNE"), ("JUL", "JULY"), ("AUG", "AUGUST"), ("SEP", "SEPT", "SEPTEMBER"),
    ("OCT", "OCTOBER"), ("NOV", "NOVEMBER"), ("DEC", "DECEMBER")), start=1) for name in names}

ACCEPTED = ("2024Q1, Q1 2024, 2024-03, March 2024, 2023-24, SY2024, FY2024, a year (2024) "
            "or a date (2024-03-15, 3/15/2024, 15-Mar-2024; a time after it is fine: "
            "3/15/2024 13:45)")

# Date-times: the time of day is noise for a period, the row is the day as written. Excel hands
# date cells over as datetimes, and a US-locale Excel saves them to CSV as "10/1/2024 0:00" or
# "10/01/2024 12:00:00 AM". A zone ("Z", "+02:00") is allowed after an ISO time and ignored:
# the day is the one written, not that day moved to another clock (2024-10-01T02:00Z is Oct 1).
_CLOCK = r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,]\d+)?)?"
_HALF = r"(?:\s*(?P<half>[AP])\.?M\.?)"
_DATETIMES = (
    re.compile(r"^(?P<day>\d{4}[-/]\d{1,2}[-/]\d{1,2})(?:T|\s+)" + _CLOCK +
               r"(?:" + _HALF + r"|(?:Z|[+-](?P<zh>\d{2})(?::?(?P<zm>\d{2}))?))?$", re.I),
    re.compile(r"^(?P<day>\d{1,2}/\d{1,2}/(?:\d{4}|\d{2}))\s+" + _CLOCK + _HALF + r"?$", re.I),
)
_YEAR = re.compile(r"^(\d{4})(?:\.0+)?$")  # a year typed in a numeric Excel cell reads 2024.0
_SPAN = re.compile(r"^(SY|FY)?(\d{4}|\d{2})[-/](\d{4}|\d{2})$")
_SY = re.compile(r"^SY(\d{4}|\d{2})$")
_FY = re.compile(r"^FY(\d{4}|\d{2})$")
_QUARTER = (re.compile(r"^(?P<y>\d{4})-?Q(?P<q>[1-4])$"),
            re.compile(r"^Q(?P<q>[1-4])[-/]?(?P<y>\d{4})$"),
            re.compile(r"^(?P<q>[1-4])Q(?P<y>\d{4})$"))
_YEAR_MONTH = re.compile(r"^(\d{4})[-/](\d{1,2})$")
_MONTH_YEAR = re.compile(r"^(\d{1,2})[-/](\d{4})$")
_NAMED_MONTH = re.compile(r"^([A-Z]+)\.?[-/]?(\d{4}|\d{2})$")
_ISO_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})$")
# 15-Mar-2024, and 1-Oct-24: what Excel's built-in d-mmm-yy date format shows and saves to CSV.
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[-/]?([A-Z]+)\.?[-/]?(\d{4}|\d{2})$")
_MONTH_DAY_YEAR = re.compile(r"^([A-Z]+)\.?(\d{1,2}),(\d{4})$")  # March 15, 2024
# Word processors and Excel's autocorrect turn "2024-25" into "2024–25": dashes are hyphens.
_DASHES = {ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"}


def squeeze(text: str) -> str:
    """Case- and space-insensitive form of a label: what forms and crosswalk keys are matched on.
    In NFC (pipelines.unicode_forms): "Otoño 2023" matches whichever form either side wrote."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFC", str(text))).upper()


def _full_year(digits: str) -> int:
    # Two-digit years ("FY24", "Mar-24", "SY23-24", "3/15/24") are this century's unless that
    # would be more than ten years ahead: "FY99" is 1999, not a future 2099.
    if len(digits) == 4:
        return int(digits)
    year = 2000 + int(digits)
    return year if year <= date.today().year + 10 else year - 100


def _plausible(year: int) -> int:
    if not 1000 <= year <= 9999:
        raise ValueError(f"year {year} is out of range")
    return year


def read_form(text: str, default_type: str) -> tuple[str, date | int]:
    """(period type, anchor): for year/school_year/fiscal_year the anchor is the calendar year the
    period is named by (a school or fiscal year: the year it ends in); for quarter/month/day it is
    a date inside the period. Raises ValueError (bare, the caller words it for the partner)."""
    raw = str(text).strip().translate(_DASHES)
    if stamp := _date_time(raw):
        kind, day = read_form(stamp, default_type)
        if kind != "day":  # both date parts have three numbers: a day, or no period at all
            raise ValueError("no accepted form")
        return kind, day
    s = squeeze(raw)
    if match := _YEAR.match(s):
        year = _plausible(int(match.group(1)))
        if default_type in ("school_year", "fiscal_year"):
            return default_type, year
        return "year", year
    if match := _SY.match(s):
        return "school_year", _plausible(_full_year(match.group(1)))
    if match := _FY.match(s):
        return "fiscal_year", _plausible(_full_year(match.group(1)))
    if (match := _SPAN.match(s)) and _is_span(match, default_type):
        prefix, first, second = match.groups()
        end_year = _plausible(_full_year(second) if len(second) == 4 else
                              _full_year(first) + 1)
        kind = {"SY": "school_year", "FY": "fiscal_year"}.get(prefix or "")
        if kind is None:
            kind = "fiscal_year" if default_type == "fiscal_year" else "school_year"
        return kind, end_year
    for pattern in _QUARTER:
        if match := pattern.match(s):
            return "quarter", date(_plausible(int(match["y"])), 3 * int(match["q"]) - 2, 1)
    if match := _YEAR_MONTH.match(s):
        return "month", date(_plausible(int(match.group(1))), int(match.group(2)), 1)
    if match := _MONTH_YEAR.match(s):
        return "month", date(_plausible(int(match.group(2))), int(match.group(1)), 1)
    if (match := _NAMED_MONTH.match(s)) and match.group(1) in MONTHS:
        return "month", date(_plausible(_full_year(match.group(2))), MONTHS[match.group(1)], 1)
    if match := _ISO_DATE.match(s):
        return "day", date(_plausible(int(match.group(1))), int(match.group(2)),
                           int(match.group(3)))
    if match := _US_DATE.match(s):
        return "day", date(_plausible(_full_year(match.group(3))), int(match.group(1)),
                           int(match.group(2)))
    if (match := _DAY_MONTH_YEAR.match(s)) and match.group(2) in MONTHS:
        return "day", date(_plausible(_full_year(match.group(3))), MONTHS[match.group(2)],
                           int(match.group(1)))
    if (match := _MONTH_DAY_YEAR.match(s)) and match.group(1) in MONTHS:
        return "day", date(_plausible(int(match.group(3))), MONTHS[match.group(1)],
                           int(match.group(2)))
    raise ValueError("no accepted form")


def _date_time(raw: str) -> str | None:
    """The date part of a date-time whose time is a real time of day, else None."""
    for pattern in _DATETIMES:
        if match := pattern.match(raw):
            parts = match.groupdict()
            hour = int(parts["h"])
            fits = ((1 <= hour <= 12 if parts["half"] else hour <= 23)
                    and int(parts["m"]) <= 59 and int(parts["s"] or 0) <= 59
                    and int(parts.get("zh") or 0) <= 23 and int(parts.get("zm") or 0) <= 59)
            if not fits:
                raise ValueError("no time of day")
            return parts["day"]
    return None


def _is_span(match: re.Match, default_type: str) -> bool:
    """"2023-24" is a school or fiscal year only when the second year follows the first; "2011-12"
    is December 2011 when the crosswalk says periods are months."""
    prefix, first, second = match.groups()
    if len(first) == 2 and not prefix:
        return False  # "03-24" is no span of years
    start = _full_year(first)
    follows = int(second) == start + 1 if len(second) == 4 else int(second) == (start + 1) % 100
    if not follows:
        if prefix:
            raise ValueError("the second year must follow the first")
        return False
    return bool(prefix) or default_type != "month"
