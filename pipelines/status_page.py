"""`status.html`: the submission status for backbone staff, one self-contained page.

Like the scorecard: no external CSS, scripts, fonts or images (it opens offline or as an email
attachment), every value through jinja2 autoescaping, and each file name as one line of visible
text (a newline or a bidirectional control in a partner's file name shows as an escape, never
reorders the row). States are words, never colour alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.atomic_write import write_atomically
from pipelines.escape import one_line
from pipelines.status_text import STATE_WORDS, counts_line, state_words

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from pipelines.config import InitiativeConfig, Workspace

STATUS_FILES = ("submissions.parquet", "status.html")

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="backbone status">
<title>Submission status: {{ name }}</title>
<style>
  body { margin: 0; color: #1b1f24; background: #fff; line-height: 1.5;
         font-family: system-ui, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", Arial,
         sans-serif; }
  header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 1.5rem; }
  header { padding-top: 1.5rem; }
  h1 { font-size: 1.8rem; margin: 0 0 .25rem; }
  h2 { font-size: 1.3rem; margin: 2rem 0 .5rem; }
  .notice { background: #f3f5f8; border-left: 4px solid #4b5563; padding: .6rem 1rem; }
  table { border-collapse: collapse; width: 100%; font-size: .92rem; }
  caption { text-align: left; font-weight: 700; padding: .25rem 0; }
  th, td { border-bottom: 1px solid #d4d8de; padding: .3rem .5rem; text-align: left;
           vertical-align: top; }
  th { background: #f3f5f8; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.file { overflow-wrap: anywhere; max-width: 28ch; }
  .state { font-weight: 700; border-radius: 4px; padding: 0 .4rem; }
  td.date { white-space: nowrap; }
  .on_time { color: #14532d; background: #e3f3e6; }
  .late, .held, .partly_quarantined { color: #713f12; background: #fdf3d7; }
  .missing, .rejected { color: #8a1c1c; background: #fbe6e6; }
  .not_yet_due { color: #374151; background: #eceff3; }
  dl.legend { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
  dl.legend dt { font-weight: 700; }
  dl.legend dd { margin: 0; }
  footer { color: #4b5563; font-size: .85rem; padding-bottom: 2rem; }
</style>
</head>
<body>
<header>
<h1>Submission status: {{ name }}</h1>
<p>What each partner owes under the reporting calendar, as of {{ as_of }}: {{ counts }}.</p>
<p class="notice">For the partnership only: it names partners and their files.</p>
</header>
<main>
{% if not partners %}
<p>No partner has a reporting calendar (<code>reporting:</code> in initiative.yaml).</p>
{% endif %}
{% for partner in partners %}
<section aria-labelledby="p{{ loop.index }}">
<h2 id="p{{ loop.index }}">{{ partner.name }} ({{ partner.id }})</h2>
<table>
<caption>{{ partner.name }}: periods owed, due dates and what arrived</caption>
<thead><tr>
<th scope="col">Period</th><th scope="col">Obligation</th><th scope="col">Due</th>
<th scope="col">Status</th><th scope="col">Latest file</th><th scope="col">Received</th>
<th scope="col">Rows</th><th scope="col">Files</th><th scope="col">Quality flags</th>
</tr></thead>
<tbody>
{% for row in partner.rows %}
<tr>
<th scope="row">{{ row.period }}</th><td>{{ row.obligation }}</td>
<td class="date">{{ row.due }}</td>
<td><span class="state {{ row.state }}">{{ row.words }}</span></td>
<td class="file">{{ row.file }}</td><td class="date">{{ row.received }}</td>
<td class="num">{{ row.rows }}</td><td class="num">{{ row.files }}</td>
<td class="num">{{ row.flags }}</td>
</tr>
{% endfor %}
</tbody>
</table>
</section>
{% endfor %}
<h2 id="how">How to read this page</h2>
<dl class="legend">
{% for state, words in legend %}<dt>{{ words }}</dt><dd>{{ meanings[state] }}</dd>
{% endfor %}
</dl>
<p>A file counts for every owed period that wholly contains some of its rows, including rows
later replaced by a resubmission: what was received counts. A rejected file has no rows; it is
shown against the earliest owed period that had begun and was not yet received when it
arrived. Timeliness is judged by the first file received for the period.</p>
</main>
<footer><p>Generated {{ generated }} by backbone.</p></footer>
</body>
</html>
"""

MEANINGS = {
    "on_time": "Received by the due date, and nothing in the latest file was set aside.",
    "late": "Received after the due date.",
    "missing": "Nothing received and the due date has passed.",
    "not_yet_due": "Nothing received yet; the due date has not passed.",
    "rejected": "The latest file for it was rejected: nothing from it counts; still owed.",
    "held": "The latest file replaces earlier data and waits for a data lead "
            "(backbone accept).",
    "partly_quarantined": "Received, but some rows of the latest file were set aside "
                          "(the share is of the whole file).",
}


def _cell(value: object) -> str:
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return "" if value is None else one_line(value, 300)


def render_status(rows: list[dict], name: str, partner_names: dict[str, str],
                  as_of: dt.date, out_path: Path, generated_at: dt.datetime | None = None
                  ) -> Path:
    """Write status.html for the status table `rows`; returns its path."""
    from jinja2 import Environment, select_autoescape  # only when a page is written

    partners = []
    for row in rows:
        if not partners or partners[-1]["id"] != row["partner_id"]:
            partners.append({"id": one_line(row["partner_id"]), "rows": [],
                             "name": one_line(partner_names.get(row["partner_id"],
                                                                row["partner_id"]))})
        partners[-1]["rows"].append({
            "period": _cell(row["period"]), "obligation": _cell(row["obligation_text"]),
            "due": _cell(row["due_date"]), "state": row["state"],
            "words": one_line(state_words(row)), "file": _cell(row["latest_file"]),
            "received": _cell(row["latest_received_at"]),
            "rows": "" if row["rows"] is None else f"{row['rows']:,}",
            "files": row["files"], "flags": _cell(row["quality_flags"])})
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    generated = generated_at or dt.datetime.now(dt.timezone.utc)
    html = env.from_string(TEMPLATE).render(
        name=one_line(name), as_of=as_of.isoformat(), counts=counts_line(rows),
        partners=partners, legend=list(STATE_WORDS.items()), meanings=MEANINGS,
        generated=f"{generated:%Y-%m-%d %H:%M %Z}".strip())
    write_atomically(out_path, html)
    return out_path


# What each column of submissions.parquet means: written into the file's Parquet metadata.
COLUMN_MEANINGS = {
    "initiative_id": "Initiative id.",
    "partner_id": "The partner that owes the period.",
    "partner_name": "The partner's name (initiative.yaml).",
    "obligation": "Which of the partner's `reporting:` obligations (0 = the first listed).",
    "obligation_text": "The obligation in words: period type, measures, days allowed.",
    "period": "The owed period's canonical label.",
    "period_type": "The owed period's type: year, school_year, fiscal_year, quarter or month.",
    "period_start": "First day of the owed period.",
    "period_end": "Last day of the owed period.",
    "due_date": "period_end + due_days: a file received on this day is on time.",
    "state": "on_time, late, missing (overdue), not_yet_due, rejected, held or "
             "partly_quarantined (the first that applies, in reverse: see status.html).",
    "on_time": "The period was first received (loaded or held) by its due date; null if not "
               "received.",
    "overdue": "The due date has passed and nothing was received.",
    "quarantined_share": "Share of the latest loaded file's rows set aside (the whole file's).",
    "rows": "Rows the latest received file carries for the period.",
    "files": ("Files attributed to the period (loaded, held or rejected; duplicates add "
              "nothing); 0 when nothing arrived."),
    "latest_file": "The latest file attributed to the period, as the partner named it.",
    "latest_status": "That file's status: loaded, held or rejected.",
    "latest_received_at": "When that file was taken.",
    "first_received_at": ("When the first file that was not rejected was taken (what on_time "
                          "is judged by); empty if none."),
    "quality_flags": ("Data-quality flags (quality_flags.parquet) of the partner on periods "
                      "starting within this period."),
    "as_of": "The day the status was worked out for; later nights that find the same rows "
             "keep this file, so it is the day the rows last changed or were published.",
}


def today() -> dt.date:
    """The day a night works the published status out for (tests set the clock here)."""
    return dt.date.today()


def status_table(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                 parts: str | None = None) -> pa.Table | None:
    """Today's status table, or None when the initiative has no `reporting:` calendar.
    `parts`: measure's part summary of this warehouse step (see submission_status)."""
    from pipelines.submission_status import submission_status

    if not config.initiative.reporting:
        return None
    return submission_status(con, config, today(), parts=parts)


def status_stamp(table: pa.Table | None) -> dict | None:
    """What the manifest records of a published status: its day and a fingerprint of its rows
    without the as-of day, so a night compares content, not the date it was worked out on (a
    due date passing changes rows: `missing` for `not_yet_due`, `overdue`; a period beginning
    adds one)."""
    if table is None:
        return None
    rows = table.drop_columns(["as_of"]).to_pylist() if table.num_rows else []
    digest = hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()
    as_of = table.column("as_of")[0].as_py() if table.num_rows else today()
    return {"as_of": str(as_of), "fingerprint": digest}


def publish_status(con, config, folder: Path,  # noqa: ANN001 - DuckDB, config
                   table: pa.Table | None = None) -> list[Path]:
    """Write submissions.parquet and status.html into a partnership version being built; nothing
    when the initiative has no `reporting:` calendar. Never called for the public folder: the
    table names partners and their files. `table`: the status already worked out (else today's)."""
    from pipelines.sql import sql_literal

    if not config.initiative.reporting:
        return []
    if table is None:
        table = status_table(con, config)
    pairs = {"description": "One row per partner, reporting obligation and owed period: what "
             "arrived, when, and its state.",
             **{f"description:{k}": v for k, v in COLUMN_MEANINGS.items()}}
    metadata = ", ".join(f"{sql_literal(k)}: {sql_literal(v)}" for k, v in pairs.items())
    parquet = folder / "submissions.parquet"
    con.register("status_to_publish", table)
    try:
        con.execute(f"COPY (SELECT * FROM status_to_publish) TO {sql_literal(str(parquet))} "
                    f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{metadata}}})")
    finally:
        con.unregister("status_to_publish")
    as_of = table.column("as_of")[0].as_py() if table.num_rows else today()
    names = {k: p.name for k, p in config.initiative.partners.items()}
    page = render_status(table.to_pylist(), config.initiative.name, names, as_of,
                         folder / "status.html")
    return [parquet, page]


def published_status(workspace: Workspace, config: InitiativeConfig
                     ) -> tuple[pa.Table, str, str] | None:
    """(table, as-of day, version) of the status in the current partnership version, read from
    its submissions.parquet, or None when that version has none (no `reporting:`, or published
    before it)."""
    import duckdb

    from pipelines.versions import PARTNERSHIP, current_version

    version = current_version(workspace, config.id, PARTNERSHIP)
    if version is None or not (version / "submissions.parquet").is_file():
        return None
    con = duckdb.connect()
    try:
        table = con.sql("SELECT * FROM read_parquet(?)",
                        params=[str(version / "submissions.parquet")]).to_arrow_table()
    finally:
        con.close()
    as_of = table.column("as_of")[0].as_py() if table.num_rows else ""
    return table, str(as_of), version.name
