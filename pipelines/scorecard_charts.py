"""Scorecard chart geometry and the per-indicator view model.

SVG geometry is computed here so the jinja2 template only lays out primitives, and every label
passes through autoescaping. Words come from the translation catalog (scorecard_i18n).
"""

from __future__ import annotations

import math
from datetime import date

from pipelines.scorecard_i18n import _, decimal, integer, percent
from pipelines.scorecard_periods import axis_labels, every_period, name, order_key, value_label_every
from pipelines.scorecard_text import (LOW_RELIABILITY_MARK, difference_interval, fmt_ci,
                                      fmt_points_short, fmt_tick, fmt_value, headline,
                                      low_reliability_note, suppressed_chart_label,
                                      suppressed_long, suppressed_short)


def N_(message: str) -> str:
    """Marks a msgid for the catalog; translated where it is shown (group_label)."""
    return message


RACE_ORDER = [
    N_("American Indian or Alaska Native"), N_("Asian"), N_("Black or African American"),
    N_("Hispanic or Latino"), N_("Middle Eastern or North African"),
    N_("Native Hawaiian or Pacific Islander"), N_("White"), N_("Multiracial and/or Multiethnic"),
    N_("Not reported"),
]
CLASS_ORDER = [
    N_("Below 100% FPG"), N_("100-199% FPG"), N_("200-399% FPG"), N_("400%+ FPG"),
    N_("Low income (proxy)"), N_("Not low income (proxy)"), N_("Not reported"),
]
_KNOWN_LABELS = frozenset(RACE_ORDER + CLASS_ORDER)


def group_label(label: str) -> str:
    """Standard group names in the page's language; a workspace's own labels as written."""
    return _(label) if label in _KNOWN_LABELS else label


def dimension_words(dimension: str) -> str:
    return _("race and ethnicity") if dimension == "race" else _("household income")
KEY_DISPARITIES_PER_DIMENSION = 3
MAX_SVG_LABEL_CHARS = 36  # SVG text does not wrap; the data table keeps the full label.

# SVG user units; every chart scales to its container through its viewBox.
TREND_W, TREND_H = 900, 270
# The right margin holds baseline/target labels so they never collide with data labels.
TREND_LEFT, TREND_RIGHT, TREND_TOP, TREND_BOTTOM = 56, 170, 26, 34
AXIS_LINE_H = 13  # a second line of period labels ("Q1" over "2024") adds this much height
HIDDEN_CHAR_W = 5.8  # the 11.5px "Hidden" gap labels, per character (about half an em)
BAR_W, BAR_LABEL_W, BAR_VALUE_W, BAR_ROW_H, BAR_TOP, BAR_AXIS_H = 500, 250, 70, 30, 6, 24
REF_LABEL_GAP = 15

# ---------------------------------------------------------------- formatting

def _short(label: str) -> str:
    return label if len(label) <= MAX_SVG_LABEL_CHARS else label[: MAX_SVG_LABEL_CHARS - 1] + "…"


def _nice_scale(values: list[float]) -> tuple[float, list[float]]:
    """Axis maximum and gridline ticks; rates never need an axis above 100%."""
    top = max([v for v in values if v is not None] + [0.01])
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25):
        if top / step <= 5:
            break
    ymax = min(1.0, step * (int(top / step + 1e-9) + 1))
    ticks = [round(i * step, 6) for i in range(int(round(ymax / step)) + 1)]
    return ymax, ticks


# ---------------------------------------------------------------- view model

def indicator_section(
    index: int, indicator: dict, rows: list[dict], disparities: list[dict] | None,
    reference_groups: dict, threshold: int, as_of: date | None = None,
) -> dict:
    unit = indicator.get("unit") or "percent"
    direction = indicator.get("direction") or "higher_is_better"
    counted = indicator.get("counted") or "people"
    # Indicators built before disaggregations were passed in publish everything; an empty list
    # is a definition that publishes totals only (its page says so, not "No results by race").
    declared = indicator.get("disaggregations")
    published = set(("race", "class", "race_x_class", "partner") if declared is None else declared)
    # Ordered by when each period starts (scorecard_periods.annotate), never by label text.
    totals = sorted(
        (r for r in rows if r["race"] == "ALL" and r["class"] == "ALL" and r["race_tabulation"] == "total"),
        key=lambda r: r["period_order"],
    )
    head = headline(indicator, totals, unit, direction, threshold, counted, as_of)
    baseline_line = None
    if head and head["trend"] and head["trend"]["kind"] != "earliest":
        # Measured or declared, the line is at the value the text compares with.
        baseline_line = {**indicator["baseline"], "value": head["trend"]["baseline_value"]}
    elif indicator.get("baseline") and not any(str(r["period"]) == str(indicator["baseline"].get("period")) for r in totals):
        baseline_line = indicator["baseline"]  # declared, and nothing measured for that period
    scale_values = [r[k] for r in rows for k in ("value", "ci_upper")]
    scale_values += [(indicator.get(k) or {}).get("value") for k in ("target", "baseline")]
    ymax, ticks = _nice_scale(scale_values)
    chart_id = f"ind{index}"
    ctx = {"ymax": ymax, "ticks": ticks, "unit": unit, "threshold": threshold, "counted": counted}

    def breakdown(tabulation: str, dimension: str, order: list[str]) -> dict | None:
        if dimension == "race":
            picked = [r for r in rows if r["race_tabulation"] == tabulation and r["race"] != "ALL" and r["class"] == "ALL"]
        else:
            picked = [r for r in rows if r["race"] == "ALL" and r["class"] != "ALL"]
            # Class rows should be 'total'; prefer it if a pipeline also emits other tabulations.
            if any(r["race_tabulation"] == "total" for r in picked):
                picked = [r for r in picked if r["race_tabulation"] == "total"]
        if not picked:
            return None
        newest = max(r["period_order"] for r in picked)
        latest = [r for r in picked if r["period_order"] == newest]
        rank = {label: i for i, label in enumerate(order)}
        latest.sort(key=lambda r: (rank.get(r[dimension], len(order)), r[dimension]))
        reference = reference_groups.get(dimension)
        chart = _bar_chart(f"{chart_id}-{dimension}-{tabulation}", latest, dimension,
                           latest[0]["period_label"], reference, ctx)
        if reference and not any(r[dimension] == reference for r in picked):
            # Never measured (income bands where partners send only a proxy): not a gap in
            # one period, as "has no results that period" would have it.
            chart["gap_note"] = _("No gaps by %(words)s are shown: the reference group "
                                  "(%(reference)s) has no results for this indicator in any "
                                  "period.", words=dimension_words(dimension),
                                  reference=group_label(reference))
        return chart

    race_alone = breakdown("alone", "race", RACE_ORDER)
    race_aic = breakdown("alone_or_in_combination", "race", RACE_ORDER)
    by_class = breakdown("total", "class", CLASS_ORDER)
    shown = totals + [b for chart in (race_alone, race_aic, by_class) if chart for b in chart["rows"]]
    aggregate = indicator.get("source") == "aggregates"
    return {
        "id": indicator["id"], "anchor": f"indicator-{index + 1}",
        "title": indicator.get("title") or indicator["id"],
        "description": indicator.get("description") or "", "direction": direction,
        "counted": counted, "aggregate": aggregate,
        "headline": head,
        "trend": _trend_chart(chart_id, baseline_line, indicator.get("target"), totals, ctx) if totals else None,
        "race_alone": race_alone, "race_aic": race_aic, "by_class": by_class,
        "race_published": "race" in published, "class_published": "class" in published,
        "disparities": _key_disparities(disparities, direction, unit, rows),
        "gap_notes": [c["gap_note"] for c in (race_alone, by_class) if c and c.get("gap_note")],
        "has_low_reliability": any(_is_low_reliability(r) for r in shown),
        "has_suppressed": any(r.get("suppressed") for r in shown),
        "has_data": bool(rows),
    }


def _trend_chart(chart_id: str, baseline: dict | None, target: dict | None, totals: list[dict],
                 ctx: dict) -> dict:
    ymax, ticks, unit, threshold = ctx["ymax"], ctx["ticks"], ctx["unit"], ctx["threshold"]
    by_period = {str(r["period"]): r for r in totals}
    refs = {k: v for k, v in (("baseline", baseline), ("target", target)) if v}
    # Reference periods (e.g. a 2027 target) extend the axis so the goal sits in time.
    known = {p: (r["period_order"], r["period_label"], r.get("period_obj"))
             for p, r in by_period.items()}
    for ref in refs.values():
        if ref.get("period"):
            known.setdefault(str(ref["period"]), (ref.get("order") or (), ref.get("label") or
                                                  str(ref["period"]), ref.get("period_obj")))
    periods = sorted(known, key=lambda p: known[p][0])
    filled = every_period([known[p][2] for p in periods])
    if filled:
        for period in filled:
            known.setdefault(period.label, (order_key(period, period.label), name(period), period))
        periods = [period.label for period in filled]
    plot_w, plot_h = TREND_W - TREND_LEFT - TREND_RIGHT, TREND_H - TREND_TOP - TREND_BOTTOM
    step = plot_w / len(periods)
    axis = axis_labels([known[p][2] for p in periods], [known[p][1] for p in periods], step)
    extra = AXIS_LINE_H * (max(len(lines) for lines in axis) - 1)
    # Where a gap is too narrow for "a count of 1 to 10", it says "Hidden" (upright if it fits);
    # the table below the chart says why.
    hidden_w = len(_("Hidden")) * HIDDEN_CHAR_W + 6
    hidden_full = step * 0.95 >= len(suppressed_chart_label({}, threshold)) * HIDDEN_CHAR_W

    def y(v: float) -> float:
        return round(TREND_TOP + (1 - min(v, ymax) / ymax) * plot_h, 1)

    slots, runs, run = [], [], []
    for i, period in enumerate(periods):
        row = by_period.get(period)
        x = round(TREND_LEFT + (i + 0.5) * step, 1)
        slot = {"x": x, "period": period, "label": known[period][1], "axis": axis[i],
                "kind": "empty", "slot_w": round(min(step * 0.6, 90), 1)}
        if row is not None and row["suppressed"]:
            slot.update(kind="suppressed", label_full=hidden_full, upright=step >= hidden_w,
                        reason=suppressed_chart_label(row, threshold))
        elif row is not None and row["value"] is not None:
            low = row["ci_lower"] if row["ci_lower"] is not None else row["value"]
            high = row["ci_upper"] if row["ci_upper"] is not None else row["value"]
            slot.update(
                kind="point", y=y(row["value"]), y_lo=y(low), y_hi=y(high),
                label_y=max(y(high) - 7, TREND_TOP - 6),
                text=fmt_value(row["value"], unit) + (f" {LOW_RELIABILITY_MARK}" if row["low_reliability"] else ""),
                low_reliability=bool(row["low_reliability"]),
            )
            run.append(f"{x},{slot['y']}")
        if slot["kind"] != "point" and run:
            runs.append(run)
            run = []
        slots.append(slot)
    if run:
        runs.append(run)
    points = [sl for sl in slots if sl["kind"] == "point"]
    every = value_label_every([sl["text"] for sl in points], step)
    for i, sl in enumerate(points):
        # The latest value is always written; crowded ones in between are in the table.
        sl["show_text"] = (len(points) - 1 - i) % every == 0
    lines = sorted(
        ({"kind": kind, "y": y(ref["value"]), "name": _("Baseline") if kind == "baseline" else _("Target"),
          "text": f"{fmt_value(ref['value'], unit)} ({ref.get('label') or ref.get('period', '')})",
          "x": next((sl["x"] for sl in slots if sl["period"] == str(ref.get("period"))), None)}
         for kind, ref in refs.items() if ref.get("value") is not None),
        key=lambda line: line["y"],
    )
    for above, below in zip(lines, lines[1:]):
        # Two-line labels: push the lower one down when the reference values are close.
        below["label_y"] = max(below["y"], above.get("label_y", above["y"]) + 2 * REF_LABEL_GAP)
    for line in lines:
        line.setdefault("label_y", line["y"])
    return {
        "id": chart_id, "width": TREND_W, "height": TREND_H + extra,
        "left": TREND_LEFT, "right": TREND_W - TREND_RIGHT, "top": TREND_TOP,
        "bottom": TREND_TOP + plot_h, "slots": slots, "axis_line_h": AXIS_LINE_H,
        "lines": [" ".join(r) for r in runs if len(r) > 1],
        "ticks": [{"y": y(t), "text": fmt_tick(t, unit)} for t in ticks],
        "refs": lines, "rows": totals,
        "table": [_table_row(r, r["period_label"], ctx) for r in totals],
    }


def _gap_note(rows: list[dict], dimension: str, period: str, reference: str | None) -> str:
    """Why no gap is shown for a dimension whose reference group cannot be compared with."""
    if not reference:
        return ""
    ref = next((r for r in rows if r[dimension] == reference), None)
    values = {"words": dimension_words(dimension), "period": period,
              "reference": group_label(reference)}
    if ref is None:
        return _("No gaps by %(words)s are shown for %(period)s: the reference group "
                 "(%(reference)s) has no results that period.", **values)
    if ref["suppressed"]:
        return _("No gaps by %(words)s are shown for %(period)s: the reference group "
                 "(%(reference)s) is hidden to protect privacy, so there is nothing to compare "
                 "with.", **values)
    if ref["value"] is None:
        return _("No gaps by %(words)s are shown for %(period)s: no one in the reference group "
                 "(%(reference)s) was measured.", **values)
    return ""


def _bar_chart(chart_id: str, rows: list[dict], dimension: str, period: str, reference: str | None,
               ctx: dict) -> dict:
    ymax, ticks, unit, threshold = ctx["ymax"], ctx["ticks"], ctx["unit"], ctx["threshold"]
    area = BAR_W - BAR_LABEL_W - BAR_VALUE_W

    def x(v: float) -> float:
        return round(BAR_LABEL_W + min(max(v, 0.0), ymax) / ymax * area, 1)

    bars = []
    for i, row in enumerate(rows):
        top = BAR_TOP + i * BAR_ROW_H
        label = row[dimension]
        bar = {
            # Shortened whole: a long translated name must not push "(reference)" off the chart.
            "label": _short(group_label(label) + (_(" (reference)") if label == reference else "")),
            "full_label": group_label(label), "is_reference": label == reference,
            "y": top + 5, "h": BAR_ROW_H - 10, "mid": top + BAR_ROW_H / 2,
            "suppressed": bool(row["suppressed"]),
            "low_reliability": bool(row["low_reliability"]) and not row["suppressed"],
        }
        if row["suppressed"] or row["value"] is None:
            bar.update(suppressed=True, text=suppressed_short(row, threshold) if row["suppressed"]
                       else _("No one measured"))
        else:
            bar.update(
                w=round(x(row["value"]) - BAR_LABEL_W, 1),
                ci=None if row["ci_lower"] is None else (x(row["ci_lower"]), x(row["ci_upper"])),
                text=fmt_value(row["value"], unit) + (f" {LOW_RELIABILITY_MARK}" if bar["low_reliability"] else ""),
            )
        bars.append(bar)
    plot_bottom = BAR_TOP + len(rows) * BAR_ROW_H
    return {
        "id": chart_id, "period": period, "width": BAR_W, "height": plot_bottom + BAR_AXIS_H,
        "x0": BAR_LABEL_W, "x1": BAR_LABEL_W + area, "value_x": BAR_LABEL_W + area + 10,
        "plot_top": BAR_TOP, "plot_bottom": plot_bottom, "bars": bars, "rows": rows,
        "ticks": [{"x": x(t), "text": fmt_tick(t, unit)} for t in ticks],
        "table": [_table_row(r, r[dimension], ctx, reference) for r in rows],
        "reference": group_label(reference) if any(r[dimension] == reference for r in rows) else None,
        "gap_note": _gap_note(rows, dimension, period, reference),
    }


def _is_low_reliability(row: dict) -> bool:
    """A shown rate on fewer than 30: 0 of 0 (published with `low_reliability`, its denominator
    being under 30) has no rate, so no "less reliable estimate" to mark."""
    return bool(row.get("low_reliability")) and not row.get("suppressed") \
        and row.get("value") is not None


def _table_row(row: dict, label: str, ctx: dict, reference: str | None = None) -> dict:
    unit, counted = ctx["unit"], ctx["counted"]
    note = ""
    if row["suppressed"]:
        note = suppressed_long(row, ctx["threshold"], counted)
    elif _is_low_reliability(row):
        note = low_reliability_note(counted)
    counts = "—" if row["denominator"] is None else _(
        "%(numerator)s of %(denominator)s", numerator=integer(row["numerator"]),
        denominator=integer(row["denominator"]))
    return {
        "label": group_label(label) + (_(" (reference)") if reference and label == reference
                                       else ""),
        "value": fmt_value(None if row["suppressed"] else row["value"], unit),
        "ci": fmt_ci(row, unit), "counts": counts, "note": note,
    }


def _group_cells(results: list[dict] | None) -> dict:
    """The published cells disparities compare, by (period, dimension, group): race 'alone' at
    class ALL and class at race ALL (`pipelines/disparities.py`), for their intervals."""
    cells = {}
    for r in results or []:
        if r["race_tabulation"] == "alone" and r["class"] == "ALL" and r["race"] != "ALL":
            cells[(str(r["period"]), "race", r["race"])] = r
        elif r["race_tabulation"] == "total" and r["race"] == "ALL" and r["class"] != "ALL":
            cells[(str(r["period"]), "class", r["class"])] = r
    return cells


def _key_disparities(rows: list[dict] | None, direction: str, unit: str,
                     results: list[dict] | None = None) -> dict | None:
    """Most adverse gaps per dimension for the latest period, so the table stays short."""
    if not rows:
        return None
    cells = _group_cells(results)
    newest = max(r["period_order"] for r in rows)
    latest = [r for r in rows if r["period_order"] == newest]
    groups = []
    for dimension in ("race", "class"):
        # A reference rate of 0% has no ratio (disparities.py leaves it NULL) but a difference:
        # left out, a group at 40% beside a reference at 0% would be the gap nobody is shown.
        picked = [r for r in latest if r["dimension"] == dimension
                  and (r["rate_ratio"] is not None or r["rate_difference"] is not None)]
        # Adverse means furthest below the reference when higher is better, above when lower is.
        picked.sort(key=_ratio_order, reverse=direction == "lower_is_better")
        out = [_disparity_row(r, direction, unit, _gap_is_clear(r, cells))
               for r in picked[:KEY_DISPARITIES_PER_DIMENSION]]
        if out:
            groups.append({"dimension": _("Race and ethnicity") if dimension == "race"
                           else _("Household income"), "rows": out})
    if not groups:
        return None
    undefined = any(row["ratio"] == "—" for group in groups for row in group["rows"])
    note = _("“—” in the rate ratio column: the reference group's rate is %(zero)s, so no ratio "
             "can be worked out; the difference shows the gap.", zero=percent(0.0, 0))
    return {"period": latest[0]["period_label"], "groups": groups,
            "note": note if undefined else ""}


def _ratio_order(r: dict) -> float:
    """The rate ratio, or where it is undefined (a reference rate of 0%) the ratio it tends to:
    infinitely high for a group above 0%, 1 for a group at 0% too."""
    if r["rate_ratio"] is not None:
        return r["rate_ratio"]
    return math.inf if (r["rate_difference"] or 0.0) > 0 else 1.0


def _gap_is_clear(r: dict, cells: dict) -> bool:
    """Whether the 95% interval for group rate - reference rate (Newcombe, from the two cells'
    Wilson intervals, as "change since baseline") excludes zero; True when a cell is not found
    (nothing to judge by: the ratio alone decides, as before)."""
    period = str(r["period"])
    group = cells.get((period, r["dimension"], r["group_label"]))
    reference = cells.get((period, r["dimension"], r["reference_group"]))
    if group is None or reference is None:
        return True
    interval = difference_interval(group, reference)
    return interval is None or interval[0] > 0 or interval[1] < 0


def _disparity_row(r: dict, direction: str, unit: str, clear: bool = True) -> dict:
    ratio = _ratio_order(r)
    if abs(ratio - 1) < 0.005:
        comparison = _("About the same")
    elif not clear:
        comparison = _("No clear difference")
    else:
        higher = ratio > 1
        worse = higher if direction == "lower_is_better" else not higher
        comparison = {(True, True): _("Higher (worse)"), (True, False): _("Higher (better)"),
                      (False, True): _("Lower (worse)"), (False, False): _("Lower (better)")}[
            (higher, worse)]
    diff = r["rate_difference"] or 0.0
    sign = "+" if diff > 0 else "−" if diff < 0 else ""
    return {
        "group": group_label(r["group_label"]), "group_rate": fmt_value(r["group_rate"], unit),
        "reference": group_label(r["reference_group"]),
        "reference_rate": fmt_value(r["reference_rate"], unit),
        # No ratio to a rate of 0%: the difference column says the gap.
        "ratio": "—" if r["rate_ratio"] is None else decimal(r["rate_ratio"], 2) + "×",
        "comparison": comparison,
        "difference": sign + fmt_points_short(diff, unit),
    }
