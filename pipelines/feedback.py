"""Partner feedback: a Markdown report per file plus a CSV of the rows that need fixing.

Written for the person who exported the file, not for a programmer: what happened, what to fix,
where (spreadsheet row, and the column by the header their own file uses), and what to do next.
Everything taken from the file (its name, headers, values) is hostile text: shown in the report
as escaped text or code spans, never as Markdown or HTML, and in the CSV neutralised against
spreadsheet formulas, since partners open it in Excel.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections import Counter
from pathlib import Path

import duckdb

from pipelines.atomic_write import replace_text
from pipelines.escape import md_code, md_text, spreadsheet_safe
from pipelines.intake import StagedFile
from pipelines.problems import Problem

MAX_LISTED = 50  # spreadsheet rows listed in the report; the CSV holds them all
CSV_HEADER = ["row", "column", "problem", "value", "what to fix", "template column"]
_md = md_text  # the name tests and older callers use
# Values in a column whose header cell is blank (read.unnamed_columns): not read, so said.
UNNAMED = ("Values in a column with no name in the header row were not read (only named "
           "columns are; a merged header cell names only its first column): give the column "
           "its name, or delete the values, and send the file again if they should count:")


MAX_IGNORED_SHOWN = 20  # names of ignored columns a report or `check` lists


def ignored_shown(names: list[str], say=repr) -> str:
    """The ignored columns for one line: each name once (with how many columns carry it), at
    most MAX_IGNORED_SHOWN of them. A survey export of 5,000 columns made a report line of
    5,000 names, and a header repeating one name 1,000 times the same name 1,000 times."""
    counts = Counter(names)  # in order of first appearance
    shown = [say(name) + (f" ({count:,} columns)" if count > 1 else "")
             for name, count in list(counts.items())[:MAX_IGNORED_SHOWN]]
    more = len(counts) - len(shown)
    return ", ".join(shown) + (f" and {more:,} more ({len(names):,} columns in all)"
                               if more else "")


def partner_column(column: str | None, header_names: dict[str, str]) -> str:
    """A template column (or `a+b` key) as the partner's file names it: "K Readiness Met"."""
    if not column:
        return ""
    return " + ".join(header_names.get(part, part) for part in column.split("+"))


def bad_rows(staged_db: str | None, person_column: str | None) -> list[tuple]:
    """(row, template column, rule, value as written, message) per failing cell, by row."""
    if not staged_db or not Path(staged_db).exists():
        return []
    con = duckdb.connect(staged_db, read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "quarantine" not in tables:
            return []
        # A hidden id still says what usually breaks one and cannot be seen in a cell: a line
        # break (Alt+Enter, or a quoted field spanning lines), a tab or a space inside it.
        return con.execute(
            "SELECT _row, coalesce(column_name, ''), rule, CASE WHEN column_name LIKE '%' || ? || "
            "'%' AND trim(value) <> '' THEN '(hidden' || CASE WHEN column_name <> ? THEN '' "
            "WHEN contains(value, chr(10)) OR contains(value, chr(13)) "
            "THEN ': it holds a line break' "
            "WHEN contains(value, chr(9)) THEN ': it holds a tab' "
            "WHEN contains(trim(value), ' ') THEN ': it holds a space' ELSE '' END || ')' "
            "ELSE value END, message FROM quarantine "
            "ORDER BY _row, column_name", [person_column or "\x00"] * 2).fetchall()
    finally:
        con.close()


SHOWN_VALUE_CHARACTERS = 200  # in the report and the terminal; the CSV holds the whole value


def shown_value(value: str) -> str:
    """A value as written, cut for a report line with a note that says so."""
    if len(value) <= SHOWN_VALUE_CHARACTERS:
        return value
    return (f"{value[:SHOWN_VALUE_CHARACTERS]}… (cut: {len(value):,} characters, all in the "
            "rows-to-fix CSV)")


def write_bad_rows(path: Path, rows: list[tuple], header_names: dict[str, str]) -> Path:
    """Every bad cell as CSV: text cells quoted and formula-neutralised, atomically replaced."""
    tmp = path.with_name(path.name + ".tmp")
    # backslashreplace: a lone surrogate (from a name that is not UTF-8) must not fail the file
    with tmp.open("w", newline="", encoding="utf-8-sig", errors="backslashreplace") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(CSV_HEADER)
        writer.writerows([[row, spreadsheet_safe(partner_column(column, header_names)),
                           spreadsheet_safe(rule), spreadsheet_safe(value),
                           spreadsheet_safe(message), spreadsheet_safe(column)]
                          for row, column, rule, value, message in rows])
    os.replace(tmp, path)
    return path


def listed(rows: list[tuple], limit: int = MAX_LISTED) -> tuple[list[tuple], int]:
    """The cells of the first `limit` spreadsheet rows, and how many rows are left out."""
    numbers = sorted({row[0] for row in rows}, key=lambda n: (n is None, n or 0))
    kept = set(numbers[:limit])
    return [row for row in rows if row[0] in kept], max(0, len(numbers) - limit)


def _problem_line(problem: Problem, header_names: dict[str, str]) -> str:
    where = (f" (row {problem.row})" if problem.row else "") + (
        f" (column {md_code(partner_column(problem.column, header_names))})"
        if problem.column else "")
    return f"- {md_text(problem.message)}{where}"


def rows_as_numbered(staged: StagedFile) -> str:
    """How the report's row numbers count: a workbook's rows are those of the sheet read, as
    Excel shows them, wherever its column names are (a title block above them, a sheet after an
    Instructions sheet): "the header is row 1" sent the partner to the wrong row or sheet."""
    where = f" of the sheet {md_code(staged.sheet)}" if staged.sheet else ""
    if staged.header_row == 1:
        return f"Row numbers are spreadsheet rows{where}: the header is row 1."
    # Worded as above: quality_text places its section before this line by its start.
    return (f"Row numbers are spreadsheet rows{where}, as Excel shows them: the column names "
            f"are on row {staged.header_row}.")


def bad_rows_path(folder: Path, stored: Path) -> Path:
    """The rows-to-fix CSV of the file kept at `stored`, beside its report in `folder`."""
    return folder / f"{stored.name}.bad_rows.csv"


def write_report(folder: Path, staged: StagedFile, status: str, rows: list[tuple],
                 stored: Path, problems: list[Problem] | None = None,
                 sections: list[str] = ()) -> Path:
    """`sections`: extra Markdown lines (already escaped) placed before the row list, e.g. what
    the file did to the partner's earlier data per period."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = stored.name
    report = folder / f"{stem}.report.md"
    csv_path = bad_rows_path(folder, stored)
    headers = getattr(staged, "header_names", None) or {}
    if rows:
        write_bad_rows(csv_path, rows, headers)

    title = {"loaded": "ACCEPTED", "held": "HELD FOR REVIEW",  # held, duplicate: resubmission
             "duplicate": "ALREADY RECEIVED"}.get(status, "NOT LOADED")
    if status == "loaded" and staged.rows_loaded == 0 and staged.rows_read:
        # Every row set aside (an aggregate table waiting on one bad row): "ACCEPTED" would
        # read as done while nothing from the file counts.
        title = "RECEIVED, BUT NO ROW LOADED"
    lines = [f"# {md_text(staged.file_name)}: {title}",
             "", f"- Partner: {md_code(staged.partner_id)}  ",
             f"- Received: {dt.datetime.now():%Y-%m-%d %H:%M}  ",
             f"- File fingerprint (sha256): {md_code(staged.sha256 or 'n/a')}  ",
             f"- Kept as: {md_code(stored.name)}", ""]
    if status == "loaded":
        lines += [f"**{staged.rows_loaded} of {staged.rows_read} rows were loaded.**", ""]
        if rows:
            lines += [f"{staged.rows_quarantined} rows were set aside (quarantined) and are not "
                      "counted. Fix them in your system and send them again. The full list is in "
                      f"{md_code(csv_path.name)}.", ""]
    elif status == "held":
        lines += [f"**{staged.rows_loaded} of {staged.rows_read} rows were received and kept; "
                  "none of them counts yet (see below).**", ""]
    elif status != "duplicate":  # a duplicate's sections say what happened
        lines += ["**Nothing from this file was loaded.** Please fix the problem below and send "
                  "the file again; your other files are not affected.", "", "## Why", ""]
        lines += [_problem_line(p, headers) for p in problems or []]
        lines.append("")
    lines += list(sections)
    if staged.ignored_columns:
        lines += ["Columns not in the shared template were ignored: "
                  + ignored_shown(staged.ignored_columns, md_code) + ".", ""]
    if staged.unnamed_columns:
        lines += [UNNAMED + " " + "; ".join(md_text(c) for c in staged.unnamed_columns) + ".", ""]
    if rows:
        shown, more = listed(rows)
        lines += ["## Rows to fix", "", "| row | column | problem | value | what to fix |",
                  "|---:|---|---|---|---|"]
        lines += [f"| {r} | {md_code(partner_column(c, headers), table=True) if c else ''} "
                  f"| {md_text(rule)} | {'' if v is None else md_code(shown_value(v), table=True)} "
                  f"| {md_text(m)} |" for r, c, rule, v, m in shown]
        if more:
            lines += ["", f"...and {more} more row{'s' if more != 1 else ''}: the full list is in "
                      f"{md_code(csv_path.name)}."]
        lines.append("")
    lines += [rows_as_numbered(staged) + " Columns are named as in your file.", ""]
    replace_text(report, "\n".join(lines))
    return report
