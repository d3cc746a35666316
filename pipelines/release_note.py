"""What a public release revised: every public cell that differs from the previous release."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from pipelines.config import InitiativeConfig
from pipelines.digests import json_digest
from pipelines.escape import md_text

CELL_KEY = ("indicator_id", "period", "race_tabulation", "race", "class")
CHANGE_WORDS = {
    "new": "new cell", "removed": "no longer published", "revised": "counts revised",
    "now hidden": "now hidden (privacy)", "now shown": "now shown",
}
# The parts of an indicator a release note names when they changed, and their words.
DEFINITION_PARTS = {
    "conditions": "who is counted (numerator or denominator conditions)",
    "period_type": "period type", "counted": "what is counted", "source": "source",
    "disaggregations": "breakdowns published", "baseline": "baseline", "target": "target",
}


def indicator_definitions(config: InitiativeConfig) -> dict[str, dict[str, str]]:
    """Per indicator, a short hash of each part of its definition (kept in the public manifest,
    so the next release note can say what changed, not only that numbers moved)."""
    out = {}
    for indicator in config.indicators:
        d = indicator.model_dump(mode="json")
        parts = {"conditions": [d["denominator"], d["numerator"]], "period_type": d["period_type"],
                 "counted": d["counted"], "source": d["source"],
                 "disaggregations": d["disaggregations"], "baseline": d["baseline"],
                 "target": d["target"]}
        out[indicator.id] = {k: json_digest(v) for k, v in parts.items()}
    return out


def definition_changes(config: InitiativeConfig, previous: dict) -> list[str]:
    """What changed in the definitions since the release `previous` (its manifest); [] if
    nothing did or the previous release does not say what it was built with."""
    before = previous.get("definitions_fingerprint")
    if before is None or before == config.fingerprint:
        return []
    words = []
    threshold = config.initiative.suppression.threshold
    if previous.get("suppression_threshold") not in (None, threshold):
        words.append(f"the suppression threshold ({previous['suppression_threshold']} to "
                     f"{threshold})")
    old = previous.get("indicator_definitions")
    if not isinstance(old, dict):
        return words or ["the definitions (indicators, initiative settings, intake schema, "
                         "equity standards or class-proxy mappings)"]
    titles = {i.id: i.title for i in config.indicators}
    new = indicator_definitions(config)
    words += [f"{titles[i]}: " + ", ".join(DEFINITION_PARTS[k] for k in DEFINITION_PARTS
                                          if new[i].get(k) != old[i].get(k))
             for i in new if i in old and new[i] != old[i]]
    words += [f"{titles[i]}: new indicator" for i in new if i not in old]
    words += [f"{i}: no longer published" for i in old if i not in new]
    if not words or _settings_changed(config, previous):
        words.append("the initiative's settings, intake schema, equity standards (poverty "
                     "guidelines, class bands, race labels) or a partner's class-proxy mapping")
    return words


def _settings_changed(config: InitiativeConfig, previous: dict) -> bool:
    """Known only from releases that kept the settings' own fingerprint."""
    return previous.get("settings_fingerprint") not in (None, config.settings_fingerprint)


def _changes_numbers(config: InitiativeConfig, previous: dict) -> bool:
    """False only when what changed is known to be baselines or targets alone (goals, which no
    published count depends on); anything else, or not knowing, can move numbers."""
    old = previous.get("indicator_definitions")
    if (not isinstance(old, dict) or previous.get("suppression_threshold")
            not in (None, config.initiative.suppression.threshold)
            or _settings_changed(config, previous)):
        return True
    new = indicator_definitions(config)
    if set(new) != set(old):
        return True
    parts = {k for i in new for k in DEFINITION_PARTS if new[i].get(k) != old[i].get(k)}
    # No indicator part changed: the initiative's settings, schema or equity standards did.
    return not parts or bool(parts - {"baseline", "target"})


def revisions(con: duckdb.DuckDBPyConnection, old: Path | None, new: Path) -> list[dict]:
    """Cells added, removed, hidden, shown or with different counts; all cells are new at first."""
    key = ", ".join(f'"{k}"' for k in CELL_KEY)
    old_rows = ("SELECT * FROM read_parquet(?)" if old is not None and old.is_file() else
                "SELECT * FROM read_parquet(?) WHERE FALSE")
    on = " AND ".join(f'o."{k}" IS NOT DISTINCT FROM n."{k}"' for k in CELL_KEY)
    picked = ", ".join(f'coalesce(n."{k}", o."{k}") AS "{k}"' for k in CELL_KEY)
    rows = con.execute(f"""
        WITH o AS ({old_rows}), n AS (SELECT * FROM read_parquet(?))
        SELECT {picked},
               CASE WHEN o.indicator_id IS NULL THEN 'new'
                    WHEN n.indicator_id IS NULL THEN 'removed'
                    WHEN n.suppressed AND NOT o.suppressed THEN 'now hidden'
                    WHEN o.suppressed AND NOT n.suppressed THEN 'now shown'
                    ELSE 'revised' END AS change,
               o.numerator, o.denominator, o.suppressed, n.numerator, n.denominator, n.suppressed
        FROM o FULL OUTER JOIN n ON {on}
        WHERE o.indicator_id IS NULL OR n.indicator_id IS NULL
           OR (o.numerator, o.denominator, o.suppressed)
              IS DISTINCT FROM (n.numerator, n.denominator, n.suppressed)
        ORDER BY {key}""", [str(old if old is not None and old.is_file() else new), str(new)]
    ).fetchall()
    names = [*CELL_KEY, "change", "old_numerator", "old_denominator", "old_suppressed",
             "new_numerator", "new_denominator", "new_suppressed"]
    return [dict(zip(names, row)) for row in rows]


def _cell(numerator: int | None, denominator: int | None, suppressed: bool | None,
          present: bool) -> str:
    if not present:
        return "—"
    if suppressed:
        return "hidden"
    if not denominator:
        return "0 of 0"
    return f"{numerator:,} of {denominator:,} ({numerator / denominator:.1%})"


def write_release_note(path: Path, config: InitiativeConfig, release_id: str, now: dt.datetime,
                       built: dict, previous: dict | None, changed: list[dict]) -> None:
    titles = {i.id: i.title for i in config.indicators}
    lines = [f"# {md_text(config.initiative.name)}: public release {md_text(release_id)}", "",
             f"Released {now:%Y-%m-%d %H:%M} UTC from the partnership results of run "
             f"{md_text(built.get('run_id'))} (built {md_text(built.get('generated_at'))}).", ""]
    if previous is None:
        lines += [f"First public release: {len(changed)} initiative-wide cells.", ""]
        (path).write_text("\n".join(lines), encoding="utf-8")
        return
    lines += [f"Previous release: {md_text(previous.get('release_id'))} of "
              f"{md_text(previous.get('released_at'))}.", ""]
    if redefined := definition_changes(config, previous):
        effect = (" Numbers below can differ because of this change, not only because of new or "
                  "corrected files." if _changes_numbers(config, previous) else
                  " A baseline or target is a goal, not a count: no number below changed "
                  "because of it.")
        lines += ["**The definitions changed since the previous release:** "
                  + "; ".join(md_text(w) for w in redefined) + "." + effect, ""]
    if not changed:
        lines += ["No published number changed" + (
            "." if redefined else "; only the definitions' wording or the release date did."),
            ""]
    else:
        counts: dict[str, int] = {}
        for c in changed:
            counts[c["change"]] = counts.get(c["change"], 0) + 1
        lines += [f"{len(changed)} public cells changed: " + ", ".join(
            f"{n} {'new cells' if k == 'new' and n != 1 else CHANGE_WORDS[k]}"
            for k, n in sorted(counts.items())) + ".", "",
            "Earlier periods can change when a partner resends or corrects a file; suppression "
            "can hide or show a cell when counts move across the privacy threshold.", "",
            "| indicator | period | race | class | before | after | change |",
            "|---|---|---|---|---|---|---|"]
        for c in changed:
            race = c["race"] if c["race_tabulation"] != "alone_or_in_combination" else \
                f"{c['race']} (alone or in combination)"
            before = _cell(c["old_numerator"], c["old_denominator"], c["old_suppressed"],
                           c["change"] != "new")
            after = _cell(c["new_numerator"], c["new_denominator"], c["new_suppressed"],
                          c["change"] != "removed")
            lines.append(f"| {md_text(titles.get(c['indicator_id'], c['indicator_id']))} | "
                         f"{md_text(c['period'])} | {md_text(race)} | {md_text(c['class'])} | {md_text(before)} "
                         f"| {md_text(after)} | {md_text(CHANGE_WORDS[c['change']])} |")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
