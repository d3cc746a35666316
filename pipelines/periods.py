"""Period types, canonical labels and their dates: the one place that knows what "2023-24", "FY2024"
or "2024Q1" means under an initiative's calendar, in Python and as DuckDB SQL expressions.

Canonical labels: year `2024`, school_year `2023-24` (named by the year it ends in and the year
before; starts in the calendar's school-year start month), fiscal_year `FY2024` (named by the year
it ends in), quarter `2024Q1`, month `2024-03`, day `2024-03-15`. Order periods by their start,
never by label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import Field

from pipelines.period_forms import ACCEPTED, read_form, squeeze
from pipelines.yaml_models import _Strict

PERIOD_TYPES = ("year", "school_year", "fiscal_year", "quarter", "month")
RECORD_GRAINS = PERIOD_TYPES + ("day",)


class Calendar(_Strict):
    school_year_start_month: int = Field(default=7, ge=1, le=12, strict=True)
    fiscal_year_start_month: int = Field(default=7, ge=1, le=12, strict=True)


DEFAULT_CALENDAR = Calendar()


@dataclass(frozen=True)
class Period:
    type: str
    label: str
    start: date
    end: date  # inclusive


def _check_type(period_type: str, allowed: tuple[str, ...] = RECORD_GRAINS) -> None:
    if period_type not in allowed:
        raise ValueError(f"{period_type!r} is not a period type: use one of {', '.join(allowed)}")


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _start_month(period_type: str, calendar: Calendar) -> int:
    return (calendar.school_year_start_month if period_type == "school_year"
            else calendar.fiscal_year_start_month)


def _span(period_type: str, start: date, calendar: Calendar) -> Period:
    """The school or fiscal year starting at `start` (the first of its start month)."""
    end = _add_months(start, 12) - timedelta(days=1)
    # Both are named by the calendar year they end in: a school year by it and the year before
    # (with a January start, school year 2023-24 is calendar 2024).
    if period_type == "school_year":
        label = f"{end.year - 1}-{end.year % 100:02d}"
    else:
        label = f"FY{end.year}"
    return Period(period_type, label, start, end)


def period_containing(day: date, period_type: str, calendar: Calendar = DEFAULT_CALENDAR) -> Period:
    """The period of `period_type` that contains `day`."""
    _check_type(period_type)
    if period_type == "year":
        return Period("year", str(day.year), date(day.year, 1, 1), date(day.year, 12, 31))
    if period_type in ("school_year", "fiscal_year"):
        month = _start_month(period_type, calendar)
        year = day.year if day.month >= month else day.year - 1
        return _span(period_type, date(year, month, 1), calendar)
    if period_type == "quarter":
        quarter = (day.month - 1) // 3 + 1
        start = date(day.year, 3 * quarter - 2, 1)
        return Period("quarter", f"{day.year}Q{quarter}", start,
                      _add_months(start, 3) - timedelta(days=1))
    if period_type == "month":
        start = date(day.year, day.month, 1)
        return Period("month", f"{day.year}-{day.month:02d}", start,
                      _add_months(start, 1) - timedelta(days=1))
    return Period("day", day.isoformat(), day, day)


def _named_span(period_type: str, end_year: int, calendar: Calendar) -> Period:
    """The school year `(end_year-1)-yy` or fiscal year FY`end_year`: each ends in `end_year`,
    so it starts the year before unless it starts in January."""
    month = _start_month(period_type, calendar)
    return _span(period_type, date(end_year - 1 if month > 1 else end_year, month, 1), calendar)


_CANONICAL = {
    "year": re.compile(r"^\d{4}$"),
    "school_year": re.compile(r"^(\d{4})-(\d{2})$"),
    "fiscal_year": re.compile(r"^FY(\d{4})$"),
    "quarter": re.compile(r"^(\d{4})Q([1-4])$"),
    "month": re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$"),
    "day": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
}
_CANONICAL_EXAMPLE = {"year": "2024", "school_year": "2023-24", "fiscal_year": "FY2024",
                      "quarter": "2024Q1", "month": "2024-03", "day": "2024-03-15"}


def period_from_label(label: str, period_type: str,
                      calendar: Calendar = DEFAULT_CALENDAR) -> Period:
    """The period a canonical label names; ValueError for anything else."""
    _check_type(period_type)
    text = str(label)
    match = _CANONICAL[period_type].match(text)
    problem = (f"{text[:60]!r} is not a canonical {period_type} label "
               f"(write e.g. {_CANONICAL_EXAMPLE[period_type]})")
    if not match:
        raise ValueError(problem)
    try:
        if period_type == "year":
            return period_containing(date(int(text), 1, 1), "year", calendar)
        if period_type == "school_year":
            first = int(match.group(1))
            if (first + 1) % 100 != int(match.group(2)):
                raise ValueError(problem)
            return _named_span("school_year", first + 1, calendar)
        if period_type == "fiscal_year":
            return _named_span("fiscal_year", int(match.group(1)), calendar)
        if period_type == "quarter":
            return period_containing(date(int(match.group(1)), 3 * int(match.group(2)) - 2, 1),
                                     "quarter", calendar)
        if period_type == "month":
            return period_containing(date(int(match.group(1)), int(match.group(2)), 1), "month",
                                     calendar)
        return period_containing(date.fromisoformat(text), "day", calendar)
    except ValueError:
        raise ValueError(problem) from None


def parse_label(text: str, calendar: Calendar = DEFAULT_CALENDAR, default_type: str = "year",
                labels: dict[str, str] | None = None) -> Period:
    """A partner's period, in any accepted form, as a Period. A bare year means `default_type`
    (a school or fiscal year: the one ending in that year); `labels` is the crosswalk's own map
    {local label: label in an accepted form}, tried first, case- and space-insensitively."""
    _check_type(default_type, PERIOD_TYPES)
    shown = str(text).strip()[:60]
    if labels:
        mapped = {squeeze(key): value for key, value in labels.items()}
        key = squeeze(text)
        if key in mapped:
            try:
                return parse_label(str(mapped[key]), calendar, default_type)
            except ValueError as exc:
                raise ValueError(f"{shown!r} maps to {str(mapped[key])[:60]!r} in the "
                                 f"crosswalk's period labels, which is not a period: "
                                 f"{exc}") from None
    try:
        kind, anchor = read_form(str(text), default_type)
        if isinstance(anchor, int):
            if kind == "year":
                return period_from_label(str(anchor), "year", calendar)
            return _named_span(kind, anchor, calendar)
        return period_containing(anchor, kind, calendar)
    except ValueError:
        raise ValueError(f"{shown!r} is not a period: write e.g. {ACCEPTED}") from None


def fits(record: Period, indicator_type: str, calendar: Calendar = DEFAULT_CALENDAR
         ) -> Period | None:
    """The indicator period wholly containing the record's period, or None when the record is
    coarser than the indicator's grain or straddles two of its periods."""
    _check_type(indicator_type, PERIOD_TYPES)
    period = period_containing(record.start, indicator_type, calendar)
    return period if record.end <= period.end else None


def sort_key(period: Period | str, period_type: str | None = None,
             calendar: Calendar = DEFAULT_CALENDAR) -> tuple[date, date]:
    """Order by start (then end), never by label text: "2023-24" sorts before "2024Q1"."""
    if isinstance(period, str):
        period = (period_from_label(period, period_type, calendar) if period_type
                  else parse_label(period, calendar))
    return period.start, period.end


_MONTH_NAMES = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
}


def display_label(period: Period, lang: str = "en") -> str:
    """A period as a scorecard axis says it: "2024 Q1", "March 2024", "2023-24", "FY2024"."""
    if period.type == "quarter":
        return f"{period.start.year} Q{(period.start.month - 1) // 3 + 1}"
    if period.type == "month":
        names = _MONTH_NAMES.get(lang.split("-")[0].lower(), _MONTH_NAMES["en"])
        return f"{names[period.start.month - 1]} {period.start.year}"
    return period.label


# --- SQL builders: DuckDB expressions over a DATE expression ------------------------------------
# The start months are validated ints (Calendar), so interpolating them is safe; `date_expr` is
# the caller's SQL (a column or expression), never partner text.

def _start_year_sql(d: str, month: int) -> str:
    return f"(year({d}) - CASE WHEN month({d}) < {month} THEN 1 ELSE 0 END)"


def label_sql(date_expr: str, period_type: str, calendar: Calendar = DEFAULT_CALENDAR) -> str:
    """Canonical label of the `period_type` period containing the date."""
    _check_type(period_type)
    d = f"CAST(({date_expr}) AS DATE)"
    if period_type == "year":
        return f"CAST(year({d}) AS VARCHAR)"
    if period_type in ("school_year", "fiscal_year"):
        month = _start_month(period_type, calendar)
        ends = f"({_start_year_sql(d, month)} + {1 if month > 1 else 0})"  # the year it ends in
        if period_type == "fiscal_year":
            return f"('FY' || CAST({ends} AS VARCHAR))"
        return (f"(CAST({ends} - 1 AS VARCHAR) || '-' || "
                f"lpad(CAST({ends} % 100 AS VARCHAR), 2, '0'))")
    if period_type == "quarter":
        return f"(CAST(year({d}) AS VARCHAR) || 'Q' || CAST(quarter({d}) AS VARCHAR))"
    if period_type == "month":
        return f"strftime({d}, '%Y-%m')"
    return f"strftime({d}, '%Y-%m-%d')"


def start_sql(date_expr: str, period_type: str, calendar: Calendar = DEFAULT_CALENDAR) -> str:
    """First day (DATE) of the `period_type` period containing the date."""
    _check_type(period_type)
    d = f"CAST(({date_expr}) AS DATE)"
    if period_type == "year":
        return f"make_date(year({d}), 1, 1)"
    if period_type in ("school_year", "fiscal_year"):
        month = _start_month(period_type, calendar)
        return f"make_date({_start_year_sql(d, month)}, {month}, 1)"
    if period_type == "quarter":
        return f"make_date(year({d}), 3 * quarter({d}) - 2, 1)"
    if period_type == "month":
        return f"make_date(year({d}), month({d}), 1)"
    return d


def end_sql(date_expr: str, period_type: str, calendar: Calendar = DEFAULT_CALENDAR) -> str:
    """Last day (DATE, inclusive) of the `period_type` period containing the date."""
    _check_type(period_type)
    d = f"CAST(({date_expr}) AS DATE)"
    if period_type == "year":
        return f"make_date(year({d}), 12, 31)"
    if period_type in ("school_year", "fiscal_year"):
        start = start_sql(date_expr, period_type, calendar)
        return f"CAST({start} + INTERVAL 12 MONTH - INTERVAL 1 DAY AS DATE)"
    if period_type == "quarter":
        return f"last_day(make_date(year({d}), 3 * quarter({d}), 1))"
    if period_type == "month":
        return f"last_day({d})"
    return d


__all__ = ["PERIOD_TYPES", "RECORD_GRAINS", "Calendar", "Period", "period_containing",
           "period_from_label", "parse_label", "fits", "label_sql", "start_sql", "end_sql",
           "sort_key", "display_label", "DEFAULT_CALENDAR", "ACCEPTED"]
