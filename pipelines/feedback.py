"""Partner feedback: a Markdown report per file plus a CSV of the rows that need fixing.

Written for the person who exported the file, not for a programmer: what happened, what to fix,
where (spreadsheet row and column), and what to do next. Cells in the CSV are neutralised against
spreadsheet formula injection, since partners open it in Excel.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import duckdb

from pipelines.intake import StagedFile
from pipelines.problems import Problem

MAX_LISTED = 50
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _md(text: object) -> str:
    """Keep partner-supplied text from becoming Markdown/HTML markup in the report."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;") \
        .replace(">", "&gt;").replace("`", "'").replace("\n", " ")


def bad_rows(staged_db: str | None, person_column: str | None) -> list[tuple]:
    if not staged_db or not Path(staged_db).exists():
        return []
    con = duckdb.connect(staged_db, read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "quarantine" not in tables:
            return []
        return con.execute(
            "SELECT _row, coalesce(column_name, ''), rule, CASE WHEN column_name LIKE '%' || ? || "
            "'%' THEN '(hidden)' ELSE left(value, 200) END, message FROM quarantine "
            "ORDER BY _row, column_name", [person_column or "\x00"]).fetchall()
    finally:
        con.close()


def write_report(folder: Path, staged: StagedFile, status: str, rows: list[tuple],
                 stored: Path, problems: list[Problem] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stem = stored.name
    report = folder / f"{stem}.report.md"
    csv_path = folder / f"{stem}.bad_rows.csv"
    if rows:
        tmp = csv_path.with_suffix(".tmp")
        with tmp.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "column", "problem", "value", "what to fix"])
            writer.writerows([[r, spreadsheet_safe(c), rule, spreadsheet_safe(v), m]
                              for r, c, rule, v, m in rows])
        os.replace(tmp, csv_path)

    lines = [f"# {_md(staged.file_name)}: {'ACCEPTED' if status == 'loaded' else 'NOT LOADED'}", "",
             f"- Partner: `{staged.partner_id}`  ",
             f"- Received: {dt.datetime.now():%Y-%m-%d %H:%M}  ",
             f"- File fingerprint (sha256): `{staged.sha256 or 'n/a'}`  ",
             f"- Kept as: `{stored.name}`", ""]
    if status == "loaded":
        lines += [f"**{staged.rows_loaded} of {staged.rows_read} rows were loaded.**", ""]
        if rows:
            lines += [f"{staged.rows_quarantined} rows were set aside (quarantined) and are not "
                      "counted. Fix them in your system and send a corrected file for the same "
                      f"period; it will replace this one. The full list is in `{csv_path.name}`.", ""]
    else:
        lines += ["**Nothing from this file was loaded.** Please fix the problem below and send "
                  "the file again; your other files are not affected.", "", "## Why", ""]
        lines += [f"- {_md(p.message)}" + (f" (row {p.row})" if p.row else "")
                  + (f" (column `{_md(p.column)}`)" if p.column else "") for p in problems or []]
        lines.append("")
    if staged.ignored_columns:
        lines += ["Columns not in the shared template were ignored: "
                  + ", ".join(f"`{_md(c)}`" for c in staged.ignored_columns) + ".", ""]
    if rows:
        lines += ["## Rows to fix", "", "| row | column | problem | value | what to fix |",
                  "|---:|---|---|---|---|"]
        lines += [f"| {r} | {_md(c)} | {rule} | {_md(v if v is not None else '')} | {_md(m)} |"
                  for r, c, rule, v, m in rows[:MAX_LISTED]]
        if len(rows) > MAX_LISTED:
            lines.append(f"\n...and {len(rows) - MAX_LISTED} more in `{csv_path.name}`.")
        lines.append("")
    lines += ["Row numbers are spreadsheet rows: the header is row 1.", ""]
    tmp = report.with_suffix(".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, report)
    return report
