"""Periods on the scorecard: ordered by when they start, named the way a reader says them.

Published rows carry `period_type`, `period_start` and `period_end`; a version published before
periods had grains carries only a year label ("2024"), read as that calendar year. Baselines,
targets and story periods are labels in the indicator's period type. Nothing is ever ordered by
label text: "2023-24" must come before "2024Q1", and "FY2024" before "2024".

The trend axis has a slot for every period from the first result to the last one (or the
target's), so equal steps are equal time and a period without results is a gap in the line.
It names each period with `periods.display_label` ("2024 Q1", "March 2024"). When
there are too many periods for whole labels side by side, quarters and months are written on
two lines ("Q1" over its year, the year only where it changes), and if even that is too
crowded, every k-th label is kept counting back from the latest (which is always named).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from pipelines.periods import (DEFAULT_CALENDAR, PERIOD_TYPES, Calendar, Period, display_label,
                               parse_label, period_containing, period_from_label)
from pipelines.scorecard_i18n import _, current_language


def N_(message: str) -> str:
    """Marks a msgid for the catalog; translated where it is shown."""
    return message


GRAIN_NAMES = {"year": N_("year"), "school_year": N_("school year"),
               "fiscal_year": N_("fiscal year"), "quarter": N_("quarter"), "month": N_("month")}
# Unknown labels (hand-typed in a story, say) sort after every real period, by their text.
_LAST = (date.max, date.max)
# Width of one character of axis text (11px sans-serif, SVG units) and the gap kept between
# neighbouring labels: enough to tell whether labels would touch.
AXIS_CHAR_W, AXIS_GAP = 6.6, 8
VALUE_CHAR_W = 7.4  # 12px bold point labels
# Beyond this many slots an evenly spaced axis is not attempted (ten years of months fit).
MAX_AXIS_SLOTS = 130


def grain_word(period_type: str) -> str:
    return _(GRAIN_NAMES.get(period_type, GRAIN_NAMES["year"]))


def calendar_of(initiative: dict) -> Calendar:
    found = initiative.get("calendar")
    if isinstance(found, Calendar):
        return found
    return Calendar.model_validate(found) if found else DEFAULT_CALENDAR


def named_period(label: object, period_type: str, calendar: Calendar) -> Period | None:
    """The period a label names in `period_type` (canonical, else any accepted form); None when
    the text is no period at all (then it is shown as written)."""
    if label is None:
        return None
    text = str(label)
    kind = period_type if period_type in PERIOD_TYPES else "year"
    try:
        return period_from_label(text, kind, calendar)
    except ValueError:
        pass
    try:
        return parse_label(text, calendar, default_type=kind)
    except ValueError:
        return None


def row_period(row: dict, period_type: str, calendar: Calendar) -> Period | None:
    start, end, kind = row.get("period_start"), row.get("period_end"), row.get("period_type")
    if start is not None and end is not None and kind:
        return Period(str(kind), str(row["period"]), start, end)
    return named_period(row["period"], kind or period_type, calendar)


def name(period: Period | None, fallback: object = "") -> str:
    return display_label(period, current_language()) if period is not None else str(fallback)


def order_key(period: Period | None, fallback: object = "") -> tuple:
    return ((period.start, period.end) if period is not None else _LAST) + (str(fallback),)


def annotate(rows: list[dict], period_type: str, calendar: Calendar) -> None:
    """Give each row its Period (`period_obj`), display label (`period_label`) and ordering key
    (`period_order`); `period` stays the canonical label rows are matched by."""
    seen: dict[tuple, tuple] = {}
    for row in rows:
        row["period"] = str(row["period"])
        key = (row["period"], row.get("period_type"), row.get("period_start"),
               row.get("period_end"))
        if key not in seen:
            period = row_period(row, period_type, calendar)
            seen[key] = (period, name(period, row["period"]), order_key(period, row["period"]))
        row["period_obj"], row["period_label"], row["period_order"] = seen[key]


def milestone(declared: dict | None, period_type: str, calendar: Calendar) -> dict | None:
    """A baseline or target with its Period, display label and ordering key added."""
    if not declared:
        return declared
    text = str(declared.get("period") or "")
    period = named_period(text, period_type, calendar) if text else None
    # The canonical label, so a declared "Q1 2024" matches the published "2024Q1".
    return {**declared, "period": period.label if period is not None else text,
            "period_obj": period, "label": name(period, text), "order": order_key(period, text)}


def indicator_type(indicator: dict, rows: list[dict], period_types: dict) -> str:
    """The indicator's period type: declared, else what its published rows say, else year."""
    found = indicator.get("period_type") or period_types.get(indicator["id"])
    if not found:
        found = next((r["period_type"] for r in rows if r.get("period_type")), None)
    return found if found in PERIOD_TYPES else "year"


# ---------------------------------------------------------------- the trend axis

def every_period(periods: list[Period | None]) -> list[Period] | None:
    """Every period from the first to the last, so equal steps on the axis are equal time and a
    period without results is a visible gap, not a line drawn across it. None when a label is
    no period, the types differ, or there would be too many slots."""
    if not periods or any(p is None for p in periods) or len({p.type for p in periods}) != 1:
        return None
    # School and fiscal years: the next one starts the day after this one ends, in the same
    # start month, whatever the initiative's calendar says.
    month = periods[0].start.month
    calendar = Calendar(school_year_start_month=month, fiscal_year_start_month=month)
    filled = [periods[0]]
    while filled[-1].end < periods[-1].start:
        if len(filled) >= MAX_AXIS_SLOTS:
            return None
        filled.append(period_containing(filled[-1].end + timedelta(days=1), filled[0].type,
                                        calendar))
    return filled


def _text_width(text: str, char_w: float = AXIS_CHAR_W) -> float:
    return len(text) * char_w + AXIS_GAP


def _every(widest: float, step: float) -> int:
    return max(1, math.ceil(widest / step)) if step > 0 else 1


def _shown(index: int, count: int, every: int) -> bool:
    # Counted back from the latest slot, so the most recent period is always named.
    return (count - 1 - index) % every == 0


def _split(period: Period | None) -> tuple[str, str] | None:
    """('Q1', '2024') for a quarter, ('mar', '2024') for a month; None for other types."""
    if period is None or period.type not in ("quarter", "month"):
        return None
    if period.type == "quarter":
        return f"Q{(period.start.month - 1) // 3 + 1}", str(period.start.year)
    from babel.dates import get_month_names

    month = get_month_names("abbreviated", locale=current_language())[period.start.month]
    return month.rstrip("."), str(period.start.year)


def axis_labels(periods: list[Period | None], labels: list[str], step: float) -> list[list[str]]:
    """One or two lines of axis text per slot ([] for an unnamed slot)."""
    count = len(labels)
    if not count:
        return []
    widest = max(_text_width(t) for t in labels)
    if widest <= step:
        return [[t] for t in labels]
    parts = [_split(p) for p in periods]
    if all(parts):
        every = _every(max(_text_width(p[0]) for p in parts), step)
        lines, year_at = [], None
        for i, (short, year) in enumerate(parts):
            if not _shown(i, count, every):
                lines.append([])
                continue
            # The year goes under its first named slot; a year needs about two short slots.
            lines.append([short, year] if year != year_at else [short])
            year_at = year
        return lines
    every = _every(widest, step)
    return [[t] if _shown(i, count, every) else [] for i, t in enumerate(labels)]


def value_label_every(texts: list[str], step: float) -> int:
    """Label every k-th point so value labels never overlap (the table has every number)."""
    widest = max((len(t) * VALUE_CHAR_W + AXIS_GAP for t in texts), default=0)
    return _every(widest, step)
