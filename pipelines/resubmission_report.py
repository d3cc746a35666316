"""Words for what a file did to a partner's earlier data: report sections and summary lines.

Every report states, per period (per indicator-period for aggregate cells), the partner's rows
before and after the file ("2023: 3,000 rows -> 3,012") and why. Parts are periods and indicator
ids (validated values); file names are partner text and are escaped.
"""

from __future__ import annotations

from pipelines.escape import md_code
from pipelines.resubmission import PartChange


def _n(count: int, unit: str) -> str:
    return f"{count:,} {unit if count != 1 else unit[:-1]}"


def _who(unit: str) -> str:
    return "people" if unit == "rows" else "cells"


def _line(change: PartChange, unit: str, share: float) -> str:
    head = f"- **{change.label}**: {_n(change.before, unit)} -> "
    who = _who(unit)
    if change.decision == "added":
        return head + f"{change.after:,}. Nothing was on file for {change.label} before."
    if change.decision == "updated":
        added = change.carried - change.kept
        return head + (f"{change.after:,}. This file updated {change.kept:,} {who} already on "
                       f"file and added {added:,}; the {change.before - change.kept:,} it does "
                       f"not list were kept. (It is not the complete file for {change.label}: "
                       f"it holds fewer than {share:.0%} of the {_n(change.before, unit)} on "
                       "file.)")
    dropped = change.before - change.kept
    return head + (f"{change.after:,}. This file is the complete file for {change.label}, so "
                   f"it replaced it: {dropped:,} {who} from earlier files who are not in it "
                   "were removed.")


def _held_line(change: PartChange, unit: str, max_shrink: float) -> str:
    head = f"- **{change.label}**: {_n(change.before, unit)}, unchanged (held). "
    # Held is decided per submission: only the parts that crossed the limit are said to.
    if change.decision != "replaced" or change.before - change.after <= max_shrink * change.before:
        return head + f"Applied, it would give {_n(change.after, unit)}."
    limit = "half" if max_shrink == 0.5 else f"{max_shrink:.0%}"
    return head + (f"As the complete file for {change.label} this file would leave "
                   f"{change.after:,} and remove {change.before - change.kept:,} of "
                   f"{change.before:,} {_who(unit)} on file, more than {limit}.")


def sections(changes: list[PartChange], status: str, unit: str, share: float,
             together: list[str], accept_hint: str, max_shrink: float = 0.5) -> list[str]:
    """Markdown lines for `feedback.write_report(..., sections=...)`."""
    if not changes:
        return []
    lines = ["## What this file did to your earlier data", ""]
    if together:
        lines += ["Received in the same run, for the same period(s), and counted with this file "
                  "as one submission: " + ", ".join(md_code(n) for n in together) + ".", ""]
    lines += [_held_line(c, unit, max_shrink) if c.held else _line(c, unit, share)
              for c in changes] + [""]
    if status == "held":
        lines += ["**This file was held, not applied**: nothing in it counts yet, and your "
                  "earlier data stands. If the smaller numbers are right, a data lead applies it "
                  f"with `backbone accept {accept_hint}`; otherwise please send the complete "
                  "file again.", ""]
    lines += ["Rows are matched by person and period: a file updates the people it lists and "
              "adds new ones. It replaces a whole period (removing people it does not list) "
              "only when it is that period's complete file.", ""]
    return lines


def summary(changes: list[PartChange], status: str, unit: str, accept_hint: str) -> str:
    """One line for the run summary."""
    if status == "held":
        shrinking = [c for c in changes if c.decision == "replaced" and c.kept < c.before] \
            or changes
        worst = ", ".join(f"{c.label} would go from {c.before:,} to {c.after:,} {unit}"
                          for c in shrinking)
        return f"held, not applied: {worst}. To apply: backbone accept {accept_hint}"
    return "; ".join(f"{c.label}: {c.before:,} -> {c.after:,} {unit} ({c.decision})"
                     for c in changes)
