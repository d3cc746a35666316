"""The submission status in words: the terminal table of `backbone status`, the nightly Prefect
artifact and the "periods still due" section of a partner's report.

File names come from partners: hostile text. The terminal gets them as one escaped line with no
Rich markup; the Prefect UI renders table-artifact cells as Markdown (prefect-ui-library#2190),
so they go there, and into reports, through escape.md_text.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from pipelines.escape import md_code, md_text, one_line

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from rich.table import Table

    from pipelines.config import InitiativeConfig

STATE_WORDS = {"on_time": "on time", "late": "late", "missing": "missing (overdue)",
               "not_yet_due": "not yet due", "rejected": "rejected", "held": "held for review",
               "partly_quarantined": "partly quarantined"}
STATE_COLOURS = {"on_time": "green", "late": "yellow", "missing": "red", "not_yet_due": "dim",
                 "rejected": "red", "held": "yellow", "partly_quarantined": "yellow"}
# Not received (or not usable): what a partner still owes.
STILL_DUE = ("missing", "not_yet_due", "rejected")


def state_words(row: dict) -> str:
    """"partly quarantined (30%, received on time)": the state and what qualifies it."""
    words = STATE_WORDS.get(row["state"], str(row["state"]))
    if row["state"] == "partly_quarantined":
        share = row.get("quarantined_share") or 0
        timing = "received on time" if row.get("on_time") else "received late"
        # 1 bad row in 1,177 is not "0%": small shares keep a decimal.
        shown = f"{share:.0%}" if share >= 0.01 else f"{share:.1%}"
        return f"{words} ({shown} set aside, {timing})"
    if row["state"] == "held" and row.get("on_time") is not None:
        return f"{words} (received {'on time' if row['on_time'] else 'late'})"
    if row["state"] == "rejected" and row.get("overdue"):
        return f"{words} (overdue)"
    return words


def _when(value: object) -> str:
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return "" if value is None else str(value)


def rows_of(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def terminal_table(rows: list[dict], title: str) -> Table:
    """A Rich table; every partner-derived cell is one escaped line with no markup."""
    from rich.markup import escape
    from rich.table import Table

    def say(value: object) -> str:
        return escape(one_line(value, 120))

    # The obligation in words only when some partner owes several: otherwise the period says it.
    several = len({(r["partner_id"], r["obligation"]) for r in rows}) > \
        len({r["partner_id"] for r in rows})
    table = Table(title=say(title), title_justify="left")
    columns = ["partner", "obligation", "period", "due", "state", "latest file", "received",
               "rows", "quality flags"]
    for column in columns if several else [c for c in columns if c != "obligation"]:
        table.add_column(column, overflow="fold",
                         justify="right" if column in ("rows", "quality flags") else "left")
    for row in rows:
        colour = STATE_COLOURS.get(row["state"], "white")
        cells = [say(row["partner_id"]), say(row["obligation_text"]), say(row["period"]),
                 _when(row["due_date"]), f"[{colour}]{say(state_words(row))}[/]",
                 say(row["latest_file"] or ""), _when(row["latest_received_at"]),
                 "" if row["rows"] is None else f"{row['rows']:,}",
                 "" if row["quality_flags"] is None else str(row["quality_flags"])]
        table.add_row(*(cells if several else cells[:1] + cells[2:]))
    return table


def counts_line(rows: list[dict]) -> str:
    """"2 missing (overdue), 5 late, ...": the states in the table, in a fixed order."""
    found = [(state, sum(r["state"] == state for r in rows)) for state in STATE_WORDS]
    return ", ".join(f"{n} {STATE_WORDS[state]}" for state, n in found if n) or "nothing owed"


def artifact_rows(rows: list[dict]) -> list[dict]:
    """The table for the nightly Prefect run: cells are Markdown there, so text is escaped."""
    return [{"initiative": md_text(r["initiative_id"]), "partner": md_text(r["partner_id"]),
             "period": md_text(r["period"]), "due": _when(r["due_date"]),
             "state": md_text(state_words(r)), "latest file": md_text(r["latest_file"] or "", 200),
             "received": _when(r["latest_received_at"]),
             "rows": "" if r["rows"] is None else r["rows"],
             "flags": "" if r["quality_flags"] is None else r["quality_flags"]}
            for r in rows]


def still_due_lines(rows: list[dict]) -> list[str]:
    """Markdown for a partner's report: their periods not received yet, overdue first noted."""
    owed = [r for r in rows if r["state"] in STILL_DUE]
    if not rows:
        return []
    lines = ["## Periods still due", ""]
    if not owed:
        return lines + ["Every period you owe so far has been received. Thank you.", ""]
    lines += ["| period | what | due | status |", "|---|---|---|---|"]
    for r in owed:
        if r["state"] == "rejected":
            # A rejected file has no rows to place it by: it is put on the earliest period owed
            # (submission_status), so "sent, but the file was rejected" told a partner who sent
            # 2023 that they had sent 2021. Named, the partner can tell which file it was.
            status = (f"not received: {one_line(r['latest_file'] or 'a file', 200)!r} was "
                      "rejected; please send this period" + (" (overdue)" if r["overdue"] else ""))
        else:
            status = "overdue: please send it" if r["overdue"] else "not due yet"
        lines.append(f"| {md_code(r['period'], table=True)} | {md_text(r['obligation_text'])} "
                     f"| {_when(r['due_date'])} | {md_text(status)} |")
    return lines + ["", "Periods are counted from files received up to today; a file for a "
                    "period also counts when it carries only part of it.", ""]


def still_due_section(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                      partner_id: str) -> list[str]:
    """The section for the report of a file `partner_id` just sent; nothing when the partner
    owes nothing under `reporting:`. Read from the connection writing the night, so the file
    reported on already counts."""
    import duckdb

    from pipelines.submission_status import submission_status

    if partner_id not in config.initiative.reporting:
        return []
    try:
        rows = rows_of(submission_status(con, config, partner_id=partner_id))
    except duckdb.Error as exc:  # the file is loaded by now: its report must still be written
        logging.getLogger(__name__).warning("%s: periods still due not worked out: %s",
                                            one_line(partner_id), one_line(exc, 300))
        return []
    return still_due_lines(rows)


def status_artifacts(workspace, initiative_ids: list[str]) -> None:  # noqa: ANN001 - Workspace
    """Attach each initiative's status table to the running Prefect flow run (key
    `submission-status-<initiative>`): the table in the partnership version, so the artifact
    and the published file agree. Every night's warehouse step keeps that one current (a full
    publish, or refresh.refresh_status: a status-only version when the rows changed; unchanged
    rows stand with the day they were worked out). Read fresh from the closed warehouse only
    when nothing published carries a status. A status that cannot be read is a warning, never
    a failed night: the files are loaded and published by then."""
    import duckdb
    from prefect import get_run_logger
    from prefect.artifacts import create_table_artifact

    from pipelines.errors import ConfigError
    from pipelines.status_page import published_status, today
    from pipelines.submission_status import StatusUnavailable, read_status

    for initiative_id in initiative_ids:
        try:
            config = workspace.load(initiative_id)
            if not config.initiative.reporting:
                continue
            found = published_status(workspace, config)
            if found is not None:
                table, source = found[0], f"published partnership version {found[2]}"
            else:
                table, source = read_status(workspace, config)
                source = source.split(" ")[0]  # "warehouse", "snapshot": no paths
        except (ConfigError, StatusUnavailable, duckdb.Error) as exc:
            get_run_logger().warning("%s: no submission status: %s", initiative_id,
                                     one_line(exc, 500))
            continue
        rows = rows_of(table)
        as_of = rows[0]["as_of"] if rows else today()
        if str(as_of) != today().isoformat():
            as_of = f"{as_of}, unchanged through {today()}"
        create_table_artifact(
            artifact_rows(rows), key=f"submission-status-{initiative_id.replace('_', '-')}",
            description=f"Submission status of {initiative_id} as of {as_of} (read from the "
                        f"{source}): {counts_line(rows)}")


def print_status(console, workspace, initiative_ids: list[str],  # noqa: ANN001 - Rich, Workspace
                 as_of: dt.date | None) -> None:
    """`backbone status`: one table per initiative with a reporting calendar, then a count of
    each state. Raises ConfigError (invalid definitions) and StatusUnavailable."""
    from rich.markup import escape

    from pipelines.config import ConfigError
    from pipelines.submission_status import read_status

    invalid = []
    for initiative_id in initiative_ids:
        try:
            config = workspace.load(initiative_id)
        except ConfigError as exc:
            # One initiative's broken YAML must not hide who is late in the others (the nightly
            # run goes on past it too); the error is raised once the others are shown.
            invalid.append(exc)
            continue
        if not config.initiative.reporting:
            console.print(f"{escape(initiative_id)}: no reporting calendar (add `reporting:` to "
                          "its initiative.yaml to track who owes what)")
            continue
        table, source = read_status(workspace, config, as_of)
        rows = rows_of(table)
        day = rows[0]["as_of"] if rows else as_of or dt.date.today()
        console.print(terminal_table(rows, f"{config.initiative.name}: submissions as of {day}"))
        console.print(f"{escape(initiative_id)}: {escape(counts_line(rows))} (read from the "
                      f"{escape(source)})")
    if invalid:
        raise invalid[0] if len(invalid) == 1 else ConfigError("\n".join(map(str, invalid)))
