"""What `backbone check` prints: the verdict, how the file was read, the periods its rows were
read as, and every row that would be set aside, in the partner's own column names."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from pipelines import check_periods
from pipelines.escape import one_line
from pipelines.feedback import (UNNAMED, ignored_shown, listed, partner_column, shown_value,
                                write_bad_rows)
from pipelines.intake import StagedFile


# How a file was read, in the names export dialogs use (a partner re-exporting a file needs
# these, not codecs). Plain phrases: the line already sits inside one pair of brackets.
ENCODING_WORDS = {
    "utf-8": "UTF-8 text",
    "utf-8-sig": "UTF-8 text with a byte-order mark",
    "utf-8+cp1252": "UTF-8 text with some Windows-1252 characters",
    "utf-16": "UTF-16 text",
    "utf-16-le": "UTF-16 text",
    "utf-16-be": "UTF-16 text",
    "cp1252": "Windows-1252 text",
    "mac_roman": "Mac Roman text (Excel for Mac's CSV)",
    "xlsx": "an Excel workbook",
    "xls": "an Excel 97-2003 workbook",
}
DELIMITER_WORDS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def how_read(encoding: str | None, delimiter: str | None) -> str:
    """'read as UTF-8 text, columns separated by commas', from the staged file's facts."""
    read = f"read as {ENCODING_WORDS.get(encoding or '', f'text ({encoding})')}"
    if encoding in ("xlsx", "xls") or not delimiter:
        return read
    return f"{read}, columns separated by {DELIMITER_WORDS.get(delimiter, repr(delimiter))}"


def say(text: object) -> str:
    """Partner text for the terminal: no markup, no line breaks, no terminal codes."""
    return escape(one_line(text))


def show_check(console: Console, file_name: str, staged: StagedFile, rows: list[tuple],
               read_as: list[check_periods.PeriodRows], missed: list[check_periods.NotCounted],
               bad_rows_csv: Path | None) -> int:
    """Print the check's outcome; returns the exit status (0 it would load, 1 it would not)."""
    headers = staged.header_names
    if staged.status == "unsettled":
        console.print(f"[yellow]NOT CHECKED[/] {say(file_name)}: it changed while it was read "
                      "(still being written?); check it again once it is complete")
        return 1
    if staged.status == "rejected":
        console.print(f"[red]REJECTED[/] {say(file_name)}: nothing from it would load")
        for problem in staged.problems:
            where = ", ".join(part for part in (
                f"row {problem['row']}" if problem.get("row") else "",
                f"column {partner_column(problem['column'], headers)!r}"
                if problem.get("column") else "") if part)
            console.print(f"  - {say(problem['message'])}" + (f" ({say(where)})" if where else ""))
    else:
        how = say(how_read(staged.encoding, staged.delimiter))
        # Every row set aside (an aggregate table waiting on one bad row) is no "OK".
        nothing = staged.rows_loaded == 0 and staged.rows_read > 0
        if staged.sheet:  # the rows named below are that sheet's, numbered as Excel shows them
            how += say(f", sheet {staged.sheet!r}, column names on row {staged.header_row}")
        console.print(f"{'[yellow]NO ROW WOULD LOAD[/]' if nothing else '[green]OK[/]'} "
                      f"{say(file_name)}: {staged.rows_loaded:,} of "
                      f"{staged.rows_read:,} rows would load ({how})")
        if read_as:
            console.print("Periods the rows were read as:")
            for line in check_periods.period_lines(read_as):
                console.print(f"  {say(line)}")
        for line in check_periods.not_counted_lines(missed):
            console.print(f"[yellow]Note:[/] {say(line)}")
        if staged.ignored_columns:
            console.print("[yellow]Note:[/] columns not in the shared template would be "
                          "ignored: " + say(ignored_shown(staged.ignored_columns)))
        if staged.unnamed_columns:
            console.print(f"[yellow]Note:[/] {say(UNNAMED)} "
                          f"{say('; '.join(staged.unnamed_columns))}.")
        if staged.rows_quarantined:
            console.print(f"{staged.rows_quarantined:,} "
                          f"{'row' if staged.rows_quarantined == 1 else 'rows'} would be set "
                          "aside (quarantined):")
    shown, more = listed(rows)
    for row, column, rule, value, message in shown:
        named = f"column {partner_column(column, headers)!r}" if column else "the whole row"
        written = f' (value as written: "{shown_value(value)}")' if value is not None else ""
        console.print(f"  row {row}, {say(named)}: \\[{say(rule)}] {say(message)}{say(written)}")
    if bad_rows_csv is not None and rows:
        write_bad_rows(bad_rows_csv, rows, headers)
    if more:
        where = (f"all rows are in {bad_rows_csv}" if bad_rows_csv is not None
                 else "run again with --bad-rows FILE.csv to get the full list")
        console.print(f"  ...and {more} more row{'s' if more != 1 else ''}: {say(where)}")
    elif bad_rows_csv is not None and rows:
        console.print(f"The rows to fix are also in {say(bad_rows_csv)}")
    if staged.status == "rejected":
        return 1
    return 0
