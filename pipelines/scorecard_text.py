"""The scorecard's words and numbers: value formats, privacy labels and the headline cards.

Kept apart from the chart geometry so the claims a reader sees ("Improving", "Hidden: ...") are
decided in one place, from the same rows the charts draw.
"""

from __future__ import annotations

import math
from datetime import date

from pipelines.scorecard_i18n import _, decimal, percent

# Changes smaller than this (in rate units) read as "about the same" to a lay reader.
NO_CHANGE_TOLERANCE = 0.005
LOW_RELIABILITY_MARK = "†"
LOW_RELIABILITY_MIN = 30
PRIMARY, COMPLEMENTARY = "primary", "complementary"


def fmt_value(value: float | None, unit: str = "percent") -> str:
    if value is None:
        return "—"
    return percent(value) if unit == "percent" else decimal(value, 2)


def fmt_tick(value: float, unit: str = "percent") -> str:
    # Axis ticks fall on whole percents (see scorecard._nice_scale).
    return percent(value, 0) if unit == "percent" else decimal(value, 2)


def counted_word(counted: str) -> str:
    return {"people": _("people"), "families": _("families"),
            "households": _("households")}.get(counted, counted)


def fmt_change(delta: float, unit: str) -> str:
    if unit == "percent":
        return _("%(points)s percentage points", points=decimal(abs(delta) * 100))
    return decimal(abs(delta), 2)


def fmt_points_short(delta: float, unit: str) -> str:
    if unit == "percent":
        return _("%(points)s pts", points=decimal(abs(delta) * 100))
    return decimal(abs(delta), 2)


def fmt_ci(row: dict, unit: str) -> str:
    if row.get("ci_lower") is None or row.get("ci_upper") is None:
        return "—"
    low = decimal(row["ci_lower"] * 100) if unit == "percent" else fmt_value(row["ci_lower"], unit)
    return f"{low}–{fmt_value(row['ci_upper'], unit)}"


def is_complementary(row: dict) -> bool:
    reason = (row.get("suppression_reason") or "").lower()
    return "complement" in reason or "secondary" in reason


def suppressed_short(row: dict, threshold: int) -> str:
    """Fits a chart placeholder; the table note and "About these numbers" say it in full."""
    if is_complementary(row):
        return _("Hidden: protects a small group")
    return _("Hidden: a count of 1 to %(threshold)s", threshold=threshold)


def suppressed_chart_label(row: dict, threshold: int) -> str:
    """The second line under "Hidden" in a trend-chart gap."""
    if is_complementary(row):
        return _("protects a small group")
    return _("a count of 1 to %(threshold)s", threshold=threshold)


def suppressed_long(row: dict, threshold: int, counted: str = "people") -> str:
    if is_complementary(row):
        return _("Hidden so that a small group shown nearby cannot be worked out by subtraction "
                 "(this number itself is not small)")
    return _("Hidden: 1 to %(threshold)s %(counted)s in this group, or 1 to %(threshold)s of them "
             "with (or without) the result", threshold=threshold, counted=counted_word(counted))


def alone_note(counted: str) -> str:
    """Under the race chart: who one count is follows `counted:` (a household, not a person)."""
    return {"families": _("Each family counted in one group (“alone”)."),
            "households": _("Each household counted in one group (“alone”).")}.get(
        counted, _("Each person counted in one group (“alone”)."))


def counted_list(counted: list[str]) -> str:
    """The counted words of a page's indicators, in one phrase: "people or households"."""
    words = [counted_word(c) for c in ("people", "families", "households") if c in counted]
    words = words or [counted_word("people")]
    if len(words) == 1:
        return words[0]
    return _("%(first)s or %(last)s", first=", ".join(words[:-1]), last=words[-1])


def low_reliability_note(counted: str) -> str:
    return _("%(mark)s Fewer than %(n)s %(counted)s", mark=LOW_RELIABILITY_MARK,
             n=LOW_RELIABILITY_MIN, counted=counted_word(counted))


def _is_good(delta: float, direction: str) -> bool:
    return delta < 0 if direction == "lower_is_better" else delta > 0


def comparison_baseline(indicator: dict, totals: list[dict]) -> dict | None:
    """What "change since baseline" compares with, and where it comes from.

    kind 'measured': the published total for the declared baseline period (the number the chart
    draws); 'declared': the YAML value, only when no results exist for that period; 'earliest':
    no baseline declared, so the earliest shown period. A hidden baseline compares with nothing.
    """
    declared = indicator.get("baseline")
    by_period = {str(r["period"]): r for r in totals}
    if declared and declared.get("value") is not None:
        period = str(declared.get("period"))
        label = declared.get("label") or period
        row = by_period.get(period)
        if row is None:
            return {"kind": "declared", "period": period, "label": label,
                    "value": declared["value"], "row": None}
        return {"kind": "measured", "period": period, "label": row.get("period_label") or label,
                "row": row, "declared": declared["value"],
                "value": None if row["suppressed"] else row["value"]}
    latest = totals[-1] if totals else None
    first = next((r for r in totals if r["value"] is not None and not r["suppressed"]
                  and r is not latest), None)
    if first is None:
        return None
    return {"kind": "earliest", "period": str(first["period"]),
            "label": first.get("period_label") or str(first["period"]), "value": first["value"],
            "row": first}


def difference_interval(latest: dict, base: dict) -> tuple[float, float] | None:
    """Newcombe's hybrid score interval for p_latest - p_base, from the two Wilson intervals."""
    p1, l1, u1 = latest.get("value"), latest.get("ci_lower"), latest.get("ci_upper")
    p0, l0, u0 = base.get("value"), base.get("ci_lower"), base.get("ci_upper")
    if None in (p1, l1, u1, p0, l0, u0):
        return None
    d = p1 - p0
    return (d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))


def headline(indicator: dict, totals: list[dict], unit: str, direction: str, threshold: int,
             counted: str, as_of: date | None = None) -> dict | None:
    if not totals:
        return None
    latest = totals[-1]
    hidden = bool(latest["suppressed"])
    head = {
        "period": latest.get("period_label") or latest["period"], "suppressed": hidden,
        "suppressed_label": _("Hidden to protect privacy"),
        "suppressed_text": suppressed_long(latest, threshold, counted) if hidden else "",
        "value": fmt_value(latest["value"], unit), "ci": fmt_ci(latest, unit),
        "low_reliability": (bool(latest["low_reliability"]) and not hidden
                            and latest["value"] is not None),
        "denominator": latest["denominator"], "counted": counted, "trend": None, "target": None,
        # Said when the latest value is shown but there is nothing to compare it with: no
        # baseline declared and no earlier period shown (one period so far, or earlier ones
        # hidden or with no one measured).
        "no_trend": _("No earlier result is shown to compare with."), "declared_note": "",
        "in_progress": "",
    }
    end = getattr(latest.get("period_obj"), "end", None)
    if as_of is not None and end is not None and end > as_of:
        # A period not over on the day of the data: what it holds so far, not its result.
        head["in_progress"] = _("%(period)s is not over yet: this counts only what partners "
                                "had sent by then; its change and target status may not last.",
                                period=head["period"])
    current = None if hidden else latest["value"]
    base = comparison_baseline(indicator, totals)
    if base is not None and base["kind"] == "measured":
        declared = base["declared"]
        if base["value"] is not None and abs(declared - base["value"]) >= 0.0005:
            head["declared_note"] = _("The plan declared %(value)s for %(period)s; the measured "
                                      "value is used.", value=fmt_value(declared, unit),
                                      period=base["label"])
    # Shown, but no one in the denominator (an aggregate table of 0 of 0): nothing is hidden.
    nobody = current is None and not hidden
    if current is None:
        if hidden:
            head["no_trend"] = _("The latest number is hidden to protect privacy.")
        else:
            head["no_trend"] = _("No one was measured in %(period)s.", period=head["period"])
    elif base is None:
        pass
    elif base["row"] is latest:
        head["no_trend"] = _("%(period)s is the baseline period and the latest one.",
                             period=base["label"])
    elif base["kind"] == "declared" and _after(indicator.get("baseline") or {}, latest):
        # A baseline declared for a period after the latest results: nothing to change "since".
        head["no_trend"] = _("The %(period)s baseline period comes after the latest results "
                             "(%(latest)s), so no change is shown yet.", period=base["label"],
                             latest=head["period"])
    elif base["value"] is None and not (base["row"] or {}).get("suppressed"):
        head["no_trend"] = _("No one was measured in the %(period)s baseline period.",
                             period=base["label"])
    elif base["value"] is None:
        head["no_trend"] = _("The %(period)s baseline number is hidden to protect privacy, so "
                             "no change is shown.", period=base["label"])
    else:
        head["trend"] = _trend(latest, base, unit, direction)
    target = indicator.get("target")
    if target and target.get("value") is not None:
        goal = _("%(value)s by %(period)s", value=fmt_value(target["value"], unit),
                 period=target.get("label") or target["period"])
        if current is None:
            # The goal stands even when the latest number is hidden: only progress is unknown.
            head["target"] = {"met": None, "goal": goal, "text": (
                _("Progress is not shown: no one was measured in %(period)s.",
                  period=head["period"]) if nobody
                else _("Progress is not shown: the latest number is hidden."))}
            return head
        gap = target["value"] - current
        met = gap <= 0 if direction == "higher_is_better" else gap >= 0
        if met:
            text = _("Target reached")
        elif fmt_change(gap, unit) == fmt_change(0.0, unit):
            # Not met, but closer than the shown precision: "0.0 ... to go" beside a value shown
            # equal to the goal would read as a contradiction.
            text = _("Less than %(change)s to go",
                     change=fmt_change(0.001 if unit == "percent" else 0.01, unit))
        else:
            text = _("%(change)s to go", change=fmt_change(gap, unit))
        head["target"] = {"met": met, "goal": goal, "text": text}
    return head


def _after(declared: dict, latest: dict) -> bool:
    """Whether a declared baseline's period starts after the latest result's (both carry an
    ordering key from `scorecard_periods`; without them nothing is said to be after)."""
    order, latest_order = declared.get("order"), latest.get("period_order")
    if order is None or latest_order is None or declared.get("period_obj") is None:
        return False  # a label that is no period (shown as written) is not placed in time
    return tuple(order[:1]) > tuple(latest_order[:1])


def _trend(latest: dict, base: dict, unit: str, direction: str) -> dict:
    delta = latest["value"] - base["value"]
    if base["kind"] == "declared":
        # A typed-in number has no interval: the change is clear once it leaves the latest's.
        clear = not (latest["ci_lower"] is not None
                     and latest["ci_lower"] <= base["value"] <= latest["ci_upper"])
        since = _("since the declared %(period)s baseline of %(value)s (no results for "
                  "%(period)s)", period=base["label"], value=fmt_value(base["value"], unit))
    else:
        interval = difference_interval(latest, base["row"])
        clear = interval is None or interval[0] > 0 or interval[1] < 0
        since = _("since %(period)s (%(value)s, 95%% CI %(ci)s)", period=base["label"],
                  value=fmt_value(base["value"], unit), ci=fmt_ci(base["row"], unit))
    if abs(delta) < NO_CHANGE_TOLERANCE:
        status, arrow, text = "same", "■", _("About the same")
    else:
        arrow = "▲" if delta > 0 else "▼"
        change = fmt_change(delta, unit)
        text = _("Up %(change)s", change=change) if delta > 0 else _("Down %(change)s", change=change)
        status = ("better" if _is_good(delta, direction) else "worse") if clear else "same"
    return {
        "status": status, "arrow": arrow, "text": text, "since": since,
        "word": {"better": _("Improving"), "worse": _("Getting worse"),
                 "same": _("No clear change")}[status],
        "within_ci": not clear and abs(delta) >= NO_CHANGE_TOLERANCE,
        "baseline_value": base["value"], "baseline_period": base["period"], "kind": base["kind"],
    }
