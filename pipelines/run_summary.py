"""The nightly run's summary as Markdown, for the Prefect UI (`nightly-summary` artifact).

File names, partner folders, reasons and errors all come from partners' files: each goes in as
escaped text or a code span, so a newline cannot forge a row, a `|` cannot shift columns, and
`<img onerror>` or `[x](javascript:...)` stay text when the UI renders the table as HTML.
"""

from __future__ import annotations

from pipelines.escape import log_text, md_code, md_text, one_line

REASON_CHARS = 200
HEADER = ["| initiative | partner | file | status | rows loaded | rows quarantined | reasons |",
          "|---|---|---|---|---:|---:|---|"]


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _count(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else ""


def run_summary_markdown(summaries: list[dict], run_id: str) -> str:
    lines = [f"# backbone nightly run {md_text(run_id)}", "", *HEADER]
    for summary in summaries:
        initiative = md_text(summary.get("initiative", ""))
        for item in summary.get("files", []):
            lines.append(_row(initiative, md_code(item.get("partner_id", ""), table=True),
                              md_code(item.get("file_name", ""), table=True),
                              md_text(item.get("status", "")), _count(item.get("rows_loaded")),
                              _count(item.get("rows_quarantined")),
                              md_text(item.get("reasons") or "", REASON_CHARS)))
        for item in summary.get("failed", []):
            lines.append(_row(initiative, md_code(item.get("partner_id", ""), table=True),
                              md_code(item.get("file_name", ""), table=True),
                              "not processed (left in intake)", "", "",
                              md_text(item.get("error", ""), REASON_CHARS)))
        if "error" in summary:
            lines.append(_row(initiative, "", "", md_text(summary.get("error_kind",
                                                                  "definitions invalid")), "", "",
                              md_text(summary["error"], REASON_CHARS)))
    # Rows of partners initiative.yaml no longer lists (not counted), crosswalks that changed
    # since rows were loaded: each line says which and what to do.
    said = [f"- **{md_text(s.get('initiative', ''))}**: {md_text(line)}"
            for s in summaries for line in s.get("notices", [])]
    # A scheduled run has no terminal: the UI must say, as `backbone run` does, which files were
    # left in intake while still being written and whether each initiative was published.
    said += [f"- **{md_text(s.get('initiative', ''))}**: {md_code(name)} was still being "
             "written and is left in intake for a later run"
             for s in summaries for name in s.get("arriving", [])]
    outcome = [f"- **{md_text(s.get('initiative', ''))}**: {_outcome(s)}"
               for s in summaries if _outcome(s)]
    return "\n".join(lines + (["", "Publication:", *outcome] if outcome else [])
                     + (["", "For the data lead:", *said] if said else []))


def _outcome(summary: dict) -> str:
    """What became of the initiative's publication, as `backbone run` prints it."""
    if "error" in summary:
        return ""  # said in the table, and the run is Failed
    if summary.get("note"):
        return md_text(summary["note"])
    shown = summary.get("published_cells")
    if shown:
        return (f"published {shown['cells']:,} cells for the partnership "
                f"({shown['primary']:,} hidden as small counts and {shown['complementary']:,} "
                "hidden to protect them)")
    return "published for the partnership" if summary.get("published") else ""


class NightNeedsAttention(RuntimeError):
    """The night ran to its end, but a data lead must act: files left in intake, or an
    initiative skipped, not loaded or not measured. Raised by the flow after everything else was
    done and reported, so the run shows as Failed in the Prefect UI (a green run would hide a
    skipped initiative); `summaries` is what the flow would have returned."""

    def __init__(self, message: str, summaries: list[dict] | None = None):
        super().__init__(message)
        self.summaries = summaries or []

    def __reduce__(self):  # pickled by Prefect and by Dask: keep the summaries
        return type(self), (str(self), self.summaries)


def attention_needed(summaries: list[dict]) -> str | None:
    """What a data lead must act on after this night, in one line each part; None when nothing."""
    parts = []
    failures = [f for s in summaries for f in s.get("failed", [])]
    if failures:
        parts.append(f"{len(failures)} file(s) could not be processed and were left in intake: "
                     + ", ".join(log_text(f["file_name"]) for f in failures))
    for summary in summaries:
        if "error" in summary:
            kind = summary.get("error_kind", "definitions invalid")
            parts.append(f"{one_line(summary['initiative'])}: {kind}: "
                         f"{one_line(summary['error'], 300)}")
    return "; ".join(parts) or None
