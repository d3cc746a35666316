"""Render the per-initiative scorecard: one self-contained, offline, accessible HTML page.

Charts are inline SVG whose geometry is computed here; the jinja2 template only lays
out primitives, so all label text passes through autoescaping (labels come from
partner config and must never be trusted as markup).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipelines.scorecard_text import (LOW_RELIABILITY_MARK, fmt_change, fmt_ci, fmt_value,
                                      headline, low_reliability_note, suppressed_long,
                                      suppressed_short)

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "scorecard.html.j2"

RACE_ORDER = [
    "American Indian or Alaska Native", "Asian", "Black or African American", "Hispanic or Latino",
    "Middle Eastern or North African", "Native Hawaiian or Pacific Islander", "White",
    "Multiracial and/or Multiethnic", "Not reported",
]
CLASS_ORDER = [
    "Below 100% FPG", "100-199% FPG", "200-399% FPG", "400%+ FPG",
    "Low income (proxy)", "Not low income (proxy)", "Not reported",
]
RESULT_COLUMNS = [
    "indicator_id", "period", "race_tabulation", "race", "class", "numerator",
    "denominator", "value", "ci_lower", "ci_upper", "low_reliability", "suppressed",
    "suppression_reason", "source",
]
DISPARITY_COLUMNS = [
    "indicator_id", "period", "dimension", "group_label", "reference_group",
    "group_rate", "reference_rate", "rate_ratio", "rate_difference",
    "index_of_disparity", "groups_compared",
]
KEY_DISPARITIES_PER_DIMENSION = 3
MAX_SVG_LABEL_CHARS = 36  # SVG text does not wrap; the data table keeps the full label.

# SVG user units; every chart scales to its container through its viewBox.
TREND_W, TREND_H = 900, 270
# The right margin holds baseline/target labels so they never collide with data labels.
TREND_LEFT, TREND_RIGHT, TREND_TOP, TREND_BOTTOM = 56, 170, 26, 34
BAR_W, BAR_LABEL_W, BAR_VALUE_W, BAR_ROW_H, BAR_TOP, BAR_AXIS_H = 500, 232, 70, 30, 6, 24
REF_LABEL_GAP = 15
DIMENSION_WORDS = {"race": "race and ethnicity", "class": "household income"}


def render_scorecard(
    published_dir: Path, initiative: dict, indicators: list[dict], out_path: Path | None = None,
    *, generated_at: datetime | None = None,
) -> Path:
    """Write the scorecard HTML for one initiative and return its path."""
    published_dir = Path(published_dir)
    out_path = Path(out_path) if out_path is not None else published_dir / "scorecard.html"
    generated_at = generated_at or datetime.now(timezone.utc)
    threshold = int(initiative.get("suppression_threshold") or 10)

    results, disparities = _load(published_dir, str(initiative["id"]))
    sections = [
        _indicator_section(
            i, ind, [r for r in results if r["indicator_id"] == ind["id"]],
            None if disparities is None
            else [d for d in disparities if d["indicator_id"] == ind["id"]],
            initiative.get("reference_groups") or {}, threshold,
        )
        for i, ind in enumerate(indicators)
    ]
    aggregate_titles = [ind.get("title") or ind["id"] for ind in indicators
                        if ind.get("source") == "aggregates"]
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR), trim_blocks=True, lstrip_blocks=True,
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    html = env.get_template(TEMPLATE_NAME).render(
        initiative=initiative, sections=sections, threshold=threshold, mark=LOW_RELIABILITY_MARK,
        disparities_published=disparities is not None,
        any_aggregates=bool(aggregate_titles) or any(r["source"] == "aggregates" for r in results),
        aggregate_titles=aggregate_titles, audience=initiative.get("audience"),
        guideline_notes=initiative.get("guideline_notes") or [],
        generated_at=f"{generated_at:%B} {generated_at.day}, {generated_at:%Y at %H:%M %Z}".strip(),
        generated_iso=generated_at.isoformat(timespec="seconds"),
    )
    _write_atomically(out_path, html)
    return out_path


def _load(published_dir: Path, initiative_id: str) -> tuple[list[dict], list[dict] | None]:
    """Read the unduplicated (partner_id='ALL') rows; None disparities means not published."""
    con = duckdb.connect()
    try:
        results = _query(con, published_dir / "indicator_results.parquet", RESULT_COLUMNS, initiative_id)
        disparity_path = published_dir / "disparities.parquet"
        disparities = (
            _query(con, disparity_path, DISPARITY_COLUMNS, initiative_id)
            if disparity_path.exists() else None
        )
    finally:
        con.close()
    return results, disparities


def _query(con: duckdb.DuckDBPyConnection, path: Path, columns: list[str], initiative_id: str) -> list[dict]:
    select = ", ".join(f'"{c}"' for c in columns)
    rows = con.execute(
        f"SELECT {select} FROM read_parquet(?) WHERE initiative_id = ? AND partner_id = 'ALL'",
        [str(path), initiative_id],
    ).fetchall()
    return [dict(zip(columns, row)) for row in rows]


def _write_atomically(out_path: Path, text: str) -> None:
    # Readers (web servers, sync jobs) must never see a half-written page.
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; a published page is for everyone who can read the folder.
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

def _indicator_section(
    index: int, indicator: dict, rows: list[dict], disparities: list[dict] | None,
    reference_groups: dict, threshold: int,
) -> dict:
    unit = indicator.get("unit") or "percent"
    direction = indicator.get("direction") or "higher_is_better"
    counted = indicator.get("counted") or "people"
    # Indicators built before disaggregations were passed in publish everything.
    published = set(indicator.get("disaggregations") or ("race", "class", "race_x_class", "partner"))
    totals = sorted(
        (r for r in rows if r["race"] == "ALL" and r["class"] == "ALL" and r["race_tabulation"] == "total"),
        key=lambda r: r["period"],
    )
    head = headline(indicator, totals, unit, direction, threshold, counted)
    baseline_line = None
    if head and head["trend"] and head["trend"]["kind"] != "earliest":
        baseline_line = {"value": head["trend"]["baseline_value"], "period": head["trend"]["baseline_period"]}
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
        period = max(r["period"] for r in picked)
        latest = [r for r in picked if r["period"] == period]
        rank = {label: i for i, label in enumerate(order)}
        latest.sort(key=lambda r: (rank.get(r[dimension], len(order)), r[dimension]))
        return _bar_chart(f"{chart_id}-{dimension}-{tabulation}", latest, dimension, period,
                          reference_groups.get(dimension), ctx)

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
        "disparities": _key_disparities(disparities, direction, unit),
        "gap_notes": [c["gap_note"] for c in (race_alone, by_class) if c and c.get("gap_note")],
        "has_low_reliability": any(r.get("low_reliability") and not r.get("suppressed") for r in shown),
        "has_suppressed": any(r.get("suppressed") for r in shown),
        "has_data": bool(rows),
    }


def _trend_chart(chart_id: str, baseline: dict | None, target: dict | None, totals: list[dict],
                 ctx: dict) -> dict:
    ymax, ticks, unit, threshold = ctx["ymax"], ctx["ticks"], ctx["unit"], ctx["threshold"]
    by_period = {r["period"]: r for r in totals}
    refs = {k: v for k, v in (("baseline", baseline), ("target", target)) if v}
    # Reference periods (e.g. a 2027 target) extend the axis so the goal sits in time.
    periods = sorted(set(by_period) | {str(v["period"]) for v in refs.values() if v.get("period")})
    plot_w, plot_h = TREND_W - TREND_LEFT - TREND_RIGHT, TREND_H - TREND_TOP - TREND_BOTTOM
    step = plot_w / len(periods)

    def y(v: float) -> float:
        return round(TREND_TOP + (1 - min(v, ymax) / ymax) * plot_h, 1)

    slots, runs, run = [], [], []
    for i, period in enumerate(periods):
        row = by_period.get(period)
        x = round(TREND_LEFT + (i + 0.5) * step, 1)
        slot = {"x": x, "period": period, "kind": "empty", "slot_w": round(min(step * 0.6, 90), 1)}
        if row is not None and row["suppressed"]:
            slot.update(kind="suppressed", label=suppressed_short(row, threshold).removeprefix("Hidden: "))
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
    lines = sorted(
        ({"kind": kind, "y": y(ref["value"]), "name": kind.capitalize(),
          "text": f"{fmt_value(ref['value'], unit)} ({ref.get('period', '')})",
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
        "id": chart_id, "width": TREND_W, "height": TREND_H,
        "left": TREND_LEFT, "right": TREND_W - TREND_RIGHT, "top": TREND_TOP,
        "bottom": TREND_TOP + plot_h, "slots": slots,
        "lines": [" ".join(r) for r in runs if len(r) > 1],
        "ticks": [{"y": y(t), "text": fmt_value(t, unit).replace(".0%", "%")} for t in ticks],
        "refs": lines, "rows": totals,
        "table": [_table_row(r, r["period"], ctx) for r in totals],
    }


def _gap_note(rows: list[dict], dimension: str, period: str, reference: str | None) -> str:
    """Why no gap is shown for a dimension whose reference group cannot be compared with."""
    if not reference:
        return ""
    ref = next((r for r in rows if r[dimension] == reference), None)
    words = DIMENSION_WORDS[dimension]
    if ref is None:
        return (f"No gaps by {words} are shown for {period}: the reference group ({reference}) "
                "has no results that period.")
    if ref["suppressed"]:
        return (f"No gaps by {words} are shown for {period}: the reference group ({reference}) is "
                "hidden to protect privacy, so there is nothing to compare with.")
    if ref["value"] is None:
        return (f"No gaps by {words} are shown for {period}: no one in the reference group "
                f"({reference}) was measured.")
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
            "label": _short(label) + (" (reference)" if label == reference else ""),
            "full_label": label, "is_reference": label == reference,
            "y": top + 5, "h": BAR_ROW_H - 10, "mid": top + BAR_ROW_H / 2,
            "suppressed": bool(row["suppressed"]),
            "low_reliability": bool(row["low_reliability"]) and not row["suppressed"],
        }
        if row["suppressed"] or row["value"] is None:
            bar.update(suppressed=True, text=suppressed_short(row, threshold) if row["suppressed"]
                       else "No one measured")
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
        "ticks": [{"x": x(t), "text": fmt_value(t, unit).replace(".0%", "%")} for t in ticks],
        "table": [_table_row(r, r[dimension], ctx, reference) for r in rows],
        "gap_note": _gap_note(rows, dimension, period, reference),
    }


def _table_row(row: dict, label: str, ctx: dict, reference: str | None = None) -> dict:
    unit, counted = ctx["unit"], ctx["counted"]
    note = ""
    if row["suppressed"]:
        note = suppressed_long(row, ctx["threshold"], counted)
    elif row["low_reliability"]:
        note = low_reliability_note(counted)
    counts = "—" if row["denominator"] is None else f"{row['numerator']:,} of {row['denominator']:,}"
    return {
        "label": label + (" (reference)" if reference and label == reference else ""),
        "value": fmt_value(None if row["suppressed"] else row["value"], unit),
        "ci": fmt_ci(row, unit), "counts": counts, "note": note,
    }


def _key_disparities(rows: list[dict] | None, direction: str, unit: str) -> dict | None:
    """Most adverse gaps per dimension for the latest period, so the table stays short."""
    if not rows:
        return None
    period = max(r["period"] for r in rows)
    groups = []
    for dimension in ("race", "class"):
        picked = [r for r in rows if r["period"] == period and r["dimension"] == dimension and r["rate_ratio"] is not None]
        # Adverse means furthest below the reference when higher is better, above when lower is.
        picked.sort(key=lambda r: r["rate_ratio"], reverse=direction == "lower_is_better")
        out = [_disparity_row(r, direction, unit) for r in picked[:KEY_DISPARITIES_PER_DIMENSION]]
        if out:
            groups.append({"dimension": "Race and ethnicity" if dimension == "race" else "Household income", "rows": out})
    return {"period": period, "groups": groups} if groups else None


def _disparity_row(r: dict, direction: str, unit: str) -> dict:
    if abs(r["rate_ratio"] - 1) < 0.005:
        comparison = "About the same"
    else:
        higher = r["rate_ratio"] > 1
        worse = higher if direction == "lower_is_better" else not higher
        comparison = f"{'Higher' if higher else 'Lower'} ({'worse' if worse else 'better'})"
    diff = r["rate_difference"] or 0.0
    sign = "+" if diff > 0 else "−" if diff < 0 else ""
    return {
        "group": r["group_label"], "group_rate": fmt_value(r["group_rate"], unit),
        "reference": r["reference_group"], "reference_rate": fmt_value(r["reference_rate"], unit),
        "ratio": f"{r['rate_ratio']:.2f}×", "comparison": comparison,
        "difference": sign + fmt_change(diff, unit).replace(" percentage points", " pts"),
    }
