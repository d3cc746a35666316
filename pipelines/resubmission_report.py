"""Words for what a file did to a partner's earlier data: report sections and summary lines.

Every report states, per period (per indicator-period for aggregate cells), the partner's rows
before and after the file ("2023: 3,000 rows -> 3,012") and why. Dated rows are said per month,
their part ("March 2024 (31 days with rows): 0 -> 415 rows"); parts recorded per day by earlier
versions are grouped by month the same way, in words only (part_changes keeps what was decided).
Parts are periods and indicator ids (validated values); file names are partner text and are
escaped.
"""

from __future__ import annotations

import dataclasses
import re

from pipelines.escape import md_code
from pipelines.periods import display_label, period_from_label
from pipelines.resubmission import PartChange

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def by_month(changes: list[PartChange]) -> list[PartChange]:
    """Day parts (as recorded before dated parts were months) summed into one line per month;
    other parts as they are."""
    merged: list[PartChange] = []
    months: dict[str, PartChange] = {}
    for change in changes:
        if len(change.part) != 1 or not _DAY.fullmatch(str(change.part[0])):
            merged.append(change)
            continue
        month = str(change.part[0])[:7]
        if month not in months:
            months[month] = dataclasses.replace(change, part=(month,), days=0,
                                                submission_ids=list(change.submission_ids))
            merged.append(months[month])
        into = months[month]
        if into is not change and into.days:
            for name in ("before", "carried", "kept", "after", "listed"):
                setattr(into, name, getattr(into, name) + getattr(change, name))
            into.submission_ids = sorted(set(into.submission_ids) | set(change.submission_ids))
            # A month is replaced when any of its days was; else updated when any was.
            order = ("added", "updated", "replaced")
            into.decision = max(into.decision, change.decision, key=order.index)
            into.held |= change.held
        into.days += 1
    return merged


def _dated(change: PartChange) -> bool:
    return change.days > 0


def _name(change: PartChange) -> str:
    return display_label(period_from_label(change.label, "month")) if _dated(change) \
        else change.label


def _title(change: PartChange) -> str:
    if not _dated(change):
        return change.label
    return f"{_name(change)} ({change.days:,} {'days' if change.days != 1 else 'day'} with rows)"


def _n(count: int, unit: str) -> str:
    return f"{count:,} {unit if count != 1 else unit[:-1]}"


def _who(unit: str) -> str:
    return "people" if unit == "rows" else "cells"


def _line(change: PartChange, unit: str, share: float) -> str:
    head = f"- **{_title(change)}**: {_n(change.before, unit)} -> "
    who = _who(unit)
    if change.decision == "added":
        return head + f"{change.after:,}. Nothing was on file for {_name(change)} before."
    if _dated(change):
        return head + _dated_words(change, unit, share)
    if change.decision == "updated":
        added = change.carried - change.kept
        return head + (f"{change.after:,}. This file updated {change.kept:,} {who} already on "
                       f"file and added {added:,}; the {change.before - change.kept:,} it does "
                       f"not list were kept. (It is not the complete file for {change.label}: "
                       f"it lists fewer than {share:.0%} of the {_n(change.before, unit)} on "
                       "file.)") + _kept_words(change) + _none_matched(change, who, share)
    dropped = change.before - change.kept - change.listed
    if who == "cells":
        return head + (f"{change.after:,}. This file's table for {change.label} replaced the "
                       f"one on file: {dropped:,} cells from earlier files that are not in it "
                       "were removed.")
    removed = ("1 person from earlier files who is not in it was removed" if dropped == 1 else
               f"{dropped:,} people from earlier files who are not in it were removed")
    return head + (f"{change.after:,}. This file is the complete file for {change.label}, so "
                   f"it replaced it: {removed}.") + _kept_words(change)


def _none_matched(change: PartChange, who: str, share: float) -> str:
    """A file as big as the period that matches none of it is rarely more people: more often the
    same people under ids that changed form, and then each of them now counts twice."""
    if who != "people" or change.kept + change.listed or change.carried < share * change.before:
        return ""
    return (f" **Check this:** none of the {change.carried:,} people in this file match the "
            f"{change.before:,} already on file for {change.label}. If they are the same people, "
            "their ids changed form (Excel drops leading zeros: 000123 becomes 123; a prefix or "
            "a `.0` added), and both copies now count: send the file again with the ids as "
            "before, or tell the backbone team.")


def _kept_words(change: PartChange) -> str:
    """People the file lists only in rows it set aside: their earlier rows stay."""
    if not change.listed:
        return ""
    if _dated(change):
        return (f" {_n(change.listed, 'rows')} on file for people and days that this file "
                "lists only in rows it set aside were kept: send those rows again, fixed.")
    if change.listed == 1:
        return (" 1 person whose row in this file was set aside (see the rows to fix) keeps "
                "the row on file until you send that row again, fixed.")
    return (f" {change.listed:,} people whose rows in this file were set aside (see the rows to "
            "fix) keep their rows on file until you send those rows again, fixed.")


def _dated_words(change: PartChange, unit: str, share: float) -> str:
    """Dated rows are events: counted as rows, matched by person and day."""
    month = _name(change)
    if change.decision == "updated":
        return (f"{change.after:,}. This file's {_n(change.carried, unit)} replaced the "
                f"{_n(change.kept, unit)} on file for the same people and days, and the "
                f"{_n(change.before - change.kept, unit)} of other people and days were kept. "
                f"(It is not the complete file for {month}: it covers fewer than {share:.0%} "
                f"of the {_n(change.before, unit)} on file.)") + _kept_words(change)
    return (f"{change.after:,}. This file is the complete file for {month}, so it replaced it: "
            f"{_n(change.before - change.kept - change.listed, unit)} from earlier files, for "
            "people and days not in it, were removed.") + _kept_words(change)


def _held_line(change: PartChange, unit: str, max_shrink: float) -> str:
    head = f"- **{_title(change)}**: {_n(change.before, unit)}, unchanged (held). "
    # Held is decided per submission: only the parts that crossed the limit are said to.
    if change.decision != "replaced" or change.before - change.after <= max_shrink * change.before:
        return head + f"Applied, it would give {_n(change.after, unit)}."
    limit = "half" if max_shrink == 0.5 else f"{max_shrink:.0%}"
    removed = change.before - change.kept - change.listed
    return head + (f"As the complete file for {_name(change)} this file would leave "
                   f"{change.after:,} and remove {removed:,} of "
                   f"{change.before:,} {unit if _dated(change) else _who(unit)} on file, "
                   f"more than {limit}.")


MAX_TOGETHER = 20  # other files of the same submission a report names


def sections(changes: list[PartChange], status: str, unit: str, share: float,
             together: list[str], accept_hint: str, max_shrink: float = 0.5,
             unmatched: int = 0) -> list[str]:
    """Markdown lines for `feedback.write_report(..., sections=...)`. `unmatched`: the file's
    set-aside rows whose id or period could not be read (they list no one)."""
    if not changes:
        return []
    changes = by_month(changes)
    lines = ["## What this file did to your earlier data", ""]
    if together:
        # At most MAX_TOGETHER names: 10,000 campus files of one night made every report list
        # the 9,999 others (quadratic: gigabytes of reports).
        more = len(together) - MAX_TOGETHER
        names = ", ".join(md_code(n) for n in together[:MAX_TOGETHER]) + (
            f" and {more:,} more file{'s' if more != 1 else ''} ({len(together):,} in all)"
            if more > 0 else "")
        lines += ["Received in the same run, for the same period(s), and counted with this file "
                  "as one submission: " + names + ". Where "
                  "they repeat a row (the same person and period, or the same cell), the row of "
                  "the file received last counts.", ""]
    lines += [_held_line(c, unit, max_shrink) if c.held else _line(c, unit, share)
              for c in changes] + [""]
    if unmatched and status != "held" and any(c.decision == "replaced" for c in changes) \
            and _who(unit) == "people":
        rows = "1 row" if unmatched == 1 else f"{unmatched:,} rows"
        lines += [f"{rows} of this file set aside (see the rows to fix) could not be matched to "
                  "a person and period: the id or the period is the cell to fix, or the row "
                  "is another partner's. A person on file whom such a row was meant for, and "
                  "who is not elsewhere in this file, was removed with the people it does not "
                  "list: send the row again, fixed, to add them back.", ""]
    if status == "held":
        lines += ["**This file was held, not applied**: nothing in it counts yet, and your "
                  "earlier data stands. If the smaller numbers are right, a data lead applies it "
                  f"with `backbone accept {accept_hint}`; otherwise please send the complete "
                  "file again.", ""]
    if _who(unit) == "cells":
        # Aggregate tables have no people to match: each is always whole (intake checks it).
        lines += ["A file of counts is the whole table of each indicator and period it "
                  "carries: it replaces the table on file for those, cell for cell, and cells "
                  "it does not list are removed. Other indicators and periods are kept.", ""]
    else:
        lines += ["Rows are matched by person and period: a file updates the people it lists "
                  "and adds new ones. It replaces a whole period (removing people it does not "
                  "list) only when it is that period's complete file.", ""]
    if any(_dated(c) for c in changes):
        lines += ["Dated rows (one per event) are matched by person and day: a file's rows for "
                  "a person and day replace the ones on file for that person and day. A month's "
                  "complete file replaces the whole month.", ""]
    return lines


def summary(changes: list[PartChange], status: str, unit: str, accept_hint: str) -> str:
    """One line for the run summary."""
    changes = by_month(changes)
    if status == "held":
        shrinking = [c for c in changes if c.decision == "replaced" and c.kept < c.before] \
            or changes
        worst = ", ".join(f"{_title(c)} would go from {c.before:,} to {c.after:,} {unit}"
                          for c in shrinking)
        return f"held, not applied: {worst}. To apply: backbone accept {accept_hint}"
    return "; ".join(f"{_title(c)}: {c.before:,} -> {c.after:,} {unit} ({c.decision})"
                     for c in changes)
