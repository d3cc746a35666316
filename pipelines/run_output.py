"""What `backbone run` prints: a table of the files received and how each ended, the files left
in intake while still arriving, and per initiative what was measured, hidden and published.

File names, partner folders and reasons come from partners: hostile text, shown as one escaped
line each so no Rich markup or terminal control in them takes effect.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.escape import one_line


def show_run(console: Console, summaries: list[dict]) -> None:
    """The files a run took, with their endings, then one line per initiative."""
    table = Table(title="Files received")
    for column in ("initiative", "partner", "file", "status", "loaded", "quarantined", "reasons"):
        table.add_column(column, overflow="fold")
    for summary in summaries:
        if "error" in summary:
            table.add_row(summary["initiative"], "", "",
                          f"[red]{summary.get('error_kind', 'definitions invalid')}", "", "",
                          escape(summary["error"]))
        for item in summary.get("failed", []):  # not the partner's doing: a crash, a bug
            table.add_row(summary["initiative"], escape(one_line(item["partner_id"])),
                          escape(one_line(item["file_name"])), "[red]not processed", "", "",
                          escape(one_line("left in intake for the next run: " + item["error"],
                                          300)))
        for item in summary.get("files", []):
            color = {"loaded": "green", "rejected": "red"}.get(item["status"], "yellow")
            if item["status"] == "loaded" and not item["rows_loaded"]:
                color = "yellow"  # received, but every row was set aside: not done
            table.add_row(summary["initiative"], escape(one_line(item["partner_id"])),
                          escape(one_line(item["file_name"])), f"[{color}]{item['status']}",
                          str(item["rows_loaded"]), str(item["rows_quarantined"]),
                          escape(one_line(item["reasons"], 300)))
    arriving = [(s["initiative"], name) for s in summaries for name in s.get("arriving", [])]
    if table.row_count:
        console.print(table)
    elif not arriving:
        console.print("No new files were waiting in intake.")
    if arriving:
        from pipelines.discover import settle_seconds

        console.print(f"Left in intake for a later run, still being written (changed in the last "
                      f"{settle_seconds():g} seconds, or named as an upload in progress): "
                      + ", ".join(escape(one_line(f"{i}/{n}")) for i, n in arriving))
    for summary in summaries:
        # Partners initiative.yaml no longer lists, crosswalks changed since rows were loaded.
        for line in summary.get("notices", []):
            console.print(f"[bold]{summary['initiative']}[/]: [yellow]{escape(one_line(line))}")
        if summary.get("note"):  # nothing new (resubmission owner's note)
            console.print(f"[bold]{summary['initiative']}[/]: {escape(summary['note'])}")
        elif summary.get("published_cells"):
            # What the published file holds; the measured cells include every breakdown, most
            # of which no indicator publishes (their hidden counts would mislead).
            shown = summary["published_cells"]
            console.print(
                f"[bold]{summary['initiative']}[/]: published {shown['cells']:,} cells for the "
                f"partnership ({shown['primary']:,} hidden as small counts and "
                f"{shown['complementary']:,} hidden to protect them) to {summary['published']}; "
                f"{summary['cells']:,} cells measured in all breakdowns")
        elif "published" in summary:
            hidden = summary["suppressed"]
            console.print(
                f"[bold]{summary['initiative']}[/]: {summary['cells']:,} cells measured; "
                f"{hidden.get('primary', 0):,} hidden as small counts and "
                f"{hidden.get('complementary', 0):,} hidden to protect them; published for the "
                f"partnership to {summary['published']}")
