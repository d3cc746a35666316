"""Quality flags in words: the message stored with each flag, and the partner report's
"Looks different from your history (please check)" section.

Messages are plain text built from definitions (partner and indicator names, group labels,
template columns) and canonical period labels; wherever they are rendered they are escaped
(Markdown here with escape.md_text), like any text that reaches a report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipelines.atomic_write import replace_text
from pipelines.escape import md_text
from pipelines.periods import Period, display_label
from pipelines.quality import flags_for
from pipelines.sql import has_table

if TYPE_CHECKING:
    from pipelines.config import InitiativeConfig

SECTION_TITLE = "## Looks different from your history (please check)"
PLURAL = {"year": "years", "school_year": "school years", "fiscal_year": "fiscal years",
          "quarter": "quarters", "month": "months"}


def _when(flag: dict) -> str:
    return display_label(Period(flag["period_type"], flag["period"], flag["period_start"],
                                flag["period_end"]))


def _history(flag: dict) -> str:
    return f"its previous {flag['n']} {PLURAL.get(flag['period_type'], 'periods')}"


def _score(flag: dict) -> str:
    if flag["z"] is None:
        return "every one of them had the same value"
    return f"modified z-score {flag['z']:.1f}"


def _rows(count: float) -> str:
    # A median of an even number of periods may fall between two counts (1.5): shown as such,
    # so the percentage beside it can be checked ("+2300%" of 1.5, not of "2 rows").
    half = float(count * 2).is_integer() and not float(count).is_integer()
    shown = f"{count:,.1f}" if half else f"{count:,.0f}"
    return f"{shown} {'row' if shown == '1' else 'rows'}"


def message(config: InitiativeConfig, flag: dict) -> str:
    """One flag as a sentence naming the partner, the period, what changed and by how much.
    `flag`: a row of quality's history table (x = this period, m = history median, n = periods
    compared, z = modified z-score)."""
    partner = config.initiative.partners.get(flag["partner_id"])
    who = partner.name if partner else flag["partner_id"]
    indicator = next((i for i in config.indicators if i.id == flag["indicator_id"]), None)
    title = indicator.title if indicator else flag["indicator_id"]
    counted = getattr(indicator, "counted", "people")
    x, m, check = flag["x"], flag["m"], flag["check_name"]
    when, history = _when(flag), _history(flag)
    if check == "row_count":
        change = f"{(x - m) / m:+.0%}" if m else "up from none"
        return (f"{who} sent {_rows(x)} for {when}: {change} against the median of "
                f"{history} ({_rows(m)}; {_score(flag)}).")
    if check == "indicator_value":
        return (f"{title}: {who}'s rate for {when} is {x:.1%}, {100 * (x - m):+.1f} percentage "
                f"points from the median of {history} ({m:.1%}; {_score(flag)}).")
    dimension, _, group = flag["subject"].partition(": ")
    named = f"{dimension} group \u201c{group}\u201d"
    if check == "group_vanished":
        return (f"{title}: none of the {counted} {who} counted for {when} are in {named}, "
                f"though it was {m:.0%} of them at the median of {history}.")
    if check == "group_appeared":
        return (f"{title}: {named} is {x:.0%} of the {counted} {who} counted for {when}, "
                f"though it was absent in most of {history}.")
    if check == "group_share":
        return (f"{title}: {named} is {x:.0%} of the {counted} {who} counted for {when}, "
                f"against {m:.0%} at the median of {history} ({100 * (x - m):+.0f} percentage "
                "points).")
    column = flag["subject"]
    crosswalk = config.crosswalks.get(flag["partner_id"])
    # The partner's own header, as its crosswalk names it: what they will look for in the file.
    theirs = sorted(h for h, c in (crosswalk.header_aliases if crosswalk else {}).items()
                    if c == column)
    if theirs:
        column += f" ({' or '.join(theirs)})"
    return (f"{who} sent rows for {when} but none with a value in column {column}, which it "
            f"filled in each of {history} (a median of {m:,.0f} rows with a value).")


def report_section(flags: list[dict]) -> list[str]:
    """Markdown lines for a partner report (empty when nothing looks different)."""
    if not flags:
        return []
    lines = [SECTION_TITLE, "",
             "Nothing was rejected: these numbers are far from what your earlier periods looked "
             "like. Please check that the file is complete and coded as before. If the change "
             "is real, nothing needs doing.", ""]
    lines += [f"- {md_text(flag['message'])}" for flag in flags]
    return lines + [""]


def _insert_section(report: Path, section: list[str]) -> None:
    """Put the section before the row list (or the closing note), replacing an earlier one."""
    lines = report.read_text(encoding="utf-8").split("\n")
    if SECTION_TITLE in lines:  # a rerun of the same night: the newest flags only
        start = lines.index(SECTION_TITLE)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")
                    or lines[i].startswith("Row numbers are spreadsheet rows")), len(lines))
        del lines[start:end]
    at = next((i for i, line in enumerate(lines) if line == "## Rows to fix"
               or line.startswith("Row numbers are spreadsheet rows")), len(lines))
    lines[at:at] = section
    replace_text(report, "\n".join(lines))


def add_to_reports(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                   run_id: str) -> int:
    """Add the flags to the reports of the files this run loaded; returns reports changed.

    Reports are written when files load, before the night measures: the flags exist only
    afterwards, so they are added then. A file's report lists its partner's flags for periods
    that overlap a period of the file's rows (each period, not their span: a late row for Q1
    and one for Q3 say nothing about Q2).
    """
    rows = [f"SELECT DISTINCT submission_id, period_start, period_end FROM {config.id}.{table}"
            for table in ("records", "aggregate_counts") if has_table(con, config.id, table)]
    if not rows:
        return 0
    loaded = con.execute(
        f"""SELECT s.submission_id, s.partner_id, s.report_path,
                   list(DISTINCT (r.period_start, r.period_end))
            FROM submissions s JOIN ({' UNION ALL '.join(rows)}) r USING (submission_id)
            WHERE s.initiative_id = ? AND s.run_id = ? AND s.status = 'loaded'
              AND s.report_path IS NOT NULL
            GROUP BY ALL""", [config.id, run_id]).fetchall()
    changed = 0
    for _, partner_id, report_path, periods in loaded:
        report = Path(report_path)
        spans = [tuple(p.values()) if isinstance(p, dict) else tuple(p) for p in periods]
        flags = [f for f in flags_for(con, config, partner_id)
                 if any(None not in (first, last) and f["period_start"] <= last
                        and f["period_end"] >= first for first, last in spans)]
        if flags and report.is_file():
            _insert_section(report, report_section(flags))
            changed += 1
    return changed
