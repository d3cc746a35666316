"""Render the per-initiative scorecard: one self-contained, offline, accessible HTML page.

Charts are inline SVG whose geometry is computed in scorecard_charts; the jinja2 template only
lays out primitives, so all label text passes through autoescaping (labels come from partner
config and must never be trusted as markup). Fixed words come from the gettext catalog of the
chosen language (scorecard_i18n); the print stylesheet makes each indicator one poster page.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipelines.atomic_write import write_atomically
from pipelines.scorecard_charts import CLASS_ORDER, RACE_ORDER, indicator_section  # noqa: F401
from pipelines.scorecard_i18n import SOURCE_LANGUAGE, _, date_and_time, pick, use_language
from pipelines.scorecard_jinja import environment
from pipelines.scorecard_owed import not_final
from pipelines.scorecard_periods import (annotate, calendar_of, grain_word, indicator_type,
                                         milestone, name, named_period, order_key)
from pipelines.scorecard_stories import load_stories, plan_view, story_view
from pipelines.scorecard_text import LOW_RELIABILITY_MARK, alone_note, counted_list, counted_word

TEMPLATE_NAME = "scorecard.html.j2"

RESULT_COLUMNS = [
    "indicator_id", "period", "race_tabulation", "race", "class", "numerator",
    "denominator", "value", "ci_lower", "ci_upper", "low_reliability", "suppressed",
    "suppression_reason", "source",
]
# Published since periods have grains; a version published before them has year labels only.
PERIOD_COLUMNS = ["period_type", "period_start", "period_end"]
DISPARITY_COLUMNS = [
    "indicator_id", "period", "dimension", "group_label", "reference_group",
    "group_rate", "reference_rate", "rate_ratio", "rate_difference",
    "index_of_disparity", "groups_compared",
]


def render_scorecard(
    published_dir: Path, initiative: dict, indicators: list[dict], out_path: Path | None = None,
    *, generated_at: datetime | None = None, language: str | None = None,
    stories_dir: Path | None = None,
) -> Path:
    """Write the scorecard HTML for one initiative and return its path.

    `language` defaults to the initiative's `language` (else English); `stories_dir` defaults to
    the initiative view's `stories_dir` (publish passes indicators/<initiative>/stories).
    """
    published_dir = Path(published_dir)
    out_path = Path(out_path) if out_path is not None else published_dir / "scorecard.html"
    generated_at = generated_at or datetime.now(timezone.utc)
    language = language or initiative.get("language") or SOURCE_LANGUAGE
    stories_dir = stories_dir or initiative.get("stories_dir")
    stories = load_stories(Path(stories_dir), [i["id"] for i in indicators]) if stories_dir else {}
    results, disparities = _load(published_dir, str(initiative["id"]))
    with use_language(language) as catalog:
        html = _render(initiative, indicators, results, disparities, stories, generated_at,
                       language, catalog)
    write_atomically(out_path, html)
    return out_path


def _render(initiative: dict, indicators: list[dict], results: list[dict],
            disparities: list[dict] | None, stories: dict, generated_at: datetime,
            language: str, catalog) -> str:  # noqa: ANN001 - a gettext translations object
    threshold = int(initiative.get("suppression_threshold") or 10)
    indicators = [_localized(ind, language) for ind in indicators]
    plans = initiative.get("turn_the_curve") or {}
    partner_names = initiative.get("partner_names") or {}
    calendar = calendar_of(initiative)
    sections = []
    for i, ind in enumerate(indicators):
        rows = [r for r in results if r["indicator_id"] == ind["id"]]
        gaps = (None if disparities is None
                else [d for d in disparities if d["indicator_id"] == ind["id"]])
        period_type = indicator_type(ind, rows, initiative.get("period_types") or {})
        for found in (rows, gaps or []):
            annotate(found, period_type, calendar)
        ind = {**ind, **{k: milestone(ind.get(k), period_type, calendar)
                         for k in ("baseline", "target")}}
        section = indicator_section(i, ind, rows, gaps, initiative.get("reference_groups") or {},
                                    threshold, as_of=generated_at.date())
        section["counted_word"] = counted_word(section["counted"])
        section["alone_note"] = alone_note(section["counted"])
        if section["headline"]:
            latest = max((r for r in rows if r["race"] == "ALL" and r["class"] == "ALL"
                          and r["race_tabulation"] == "total"), key=lambda r: r["period_order"])
            section["headline"]["not_final"] = not_final(
                initiative.get("still_owed"), ind["id"], latest.get("period_obj"),
                section["headline"]["period"], generated_at.date())
        section["period_type"], section["grain_word"] = period_type, grain_word(period_type)

        def story_period(text: str, kind: str = period_type) -> object:
            return named_period(text, kind, calendar)

        section["story"] = story_view(
            stories.get(ind["id"], []), period_key=lambda t: order_key(story_period(t), t),
            period_name=lambda t: name(story_period(t), t))
        section["plan"] = plan_view(plans.get(ind["id"]), partner_names)
        sections.append(section)
    guideline_notes = [{**g, "label": name(named_period(g.get("period"), "year", calendar),
                                           g.get("period"))}
                       for g in initiative.get("guideline_notes") or []]
    aggregate_titles = [ind.get("title") or ind["id"] for ind in indicators
                        if ind.get("source") == "aggregates"]
    words = (initiative.get("translations") or {}).get(language) or {}
    env = environment(language, catalog)  # compiled once (pipelines/scorecard_jinja.py)
    return env.get_template(TEMPLATE_NAME).render(
        lang=language, name=words.get("name") or initiative["name"],
        description=words.get("description") or initiative.get("description") or "",
        initiative=initiative, sections=sections, threshold=threshold, mark=LOW_RELIABILITY_MARK,
        counted_all=counted_list([s["counted"] for s in sections]),
        disparities_published=disparities is not None,
        any_aggregates=bool(aggregate_titles) or any(r["source"] == "aggregates" for r in results),
        aggregate_titles=aggregate_titles, audience=initiative.get("audience"),
        guideline_notes=guideline_notes,
        generated_at=date_and_time(generated_at),
        generated_iso=generated_at.isoformat(timespec="seconds"),
        pick=pick, dimension_name={"race": _("race and ethnicity"), "class": _("income")},
    )


def scorecard_settings(config) -> dict:  # noqa: ANN001 - an InitiativeConfig (no import cycle)
    """What the initiative view carries for the scorecard beyond the numbers' settings."""
    initiative = config.initiative
    return {
        # Periods: the calendar names school and fiscal years; each indicator has a grain.
        "calendar": initiative.calendar.model_dump(),
        "period_types": {i.id: i.period_type for i in config.indicators},
        "language": initiative.language,
        "translations": {k: v.model_dump(exclude_none=True)
                         for k, v in initiative.translations.items()},
        "turn_the_curve": {k: v.model_dump(exclude_none=True)
                           for k, v in initiative.turn_the_curve.items()},
        "partner_names": {k: p.name for k, p in initiative.partners.items()},
        "stories_dir": str(config.workspace.path("indicators", initiative.id, "stories")),
    }


def _localized(indicator: dict, language: str) -> dict:
    words = (indicator.get("translations") or {}).get(language) or {}
    return {**indicator, "title": words.get("title") or indicator.get("title") or indicator["id"],
            "description": words.get("description") or indicator.get("description") or ""}


def _load(published_dir: Path, initiative_id: str) -> tuple[list[dict], list[dict] | None]:
    """Read the unduplicated (partner_id='ALL') rows; None disparities means not published."""
    con = duckdb.connect()
    try:
        results = _query(con, published_dir / "indicator_results.parquet",
                         RESULT_COLUMNS + PERIOD_COLUMNS, initiative_id)
        disparity_path = published_dir / "disparities.parquet"
        disparities = (
            _query(con, disparity_path, DISPARITY_COLUMNS + PERIOD_COLUMNS, initiative_id)
            if disparity_path.exists() else None
        )
    finally:
        con.close()
    return results, disparities


def _query(con: duckdb.DuckDBPyConnection, path: Path, columns: list[str], initiative_id: str) -> list[dict]:
    present = {row[0] for row in con.execute("SELECT name FROM parquet_schema(?)",
                                             [str(path)]).fetchall()}
    # Period columns missing from an older version read as NULL (a year label is then parsed).
    select = ", ".join(f'"{c}"' if c in present or c not in PERIOD_COLUMNS else f'NULL AS "{c}"'
                       for c in columns)
    rows = con.execute(
        f"SELECT {select} FROM read_parquet(?) WHERE initiative_id = ? AND partner_id = 'ALL'",
        [str(path), initiative_id],
    ).fetchall()
    return [dict(zip(columns, row)) for row in rows]


__all__ = ["render_scorecard", "scorecard_settings", "RACE_ORDER", "CLASS_ORDER"]
