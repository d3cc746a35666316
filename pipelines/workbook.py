"""Excel workbooks (.xlsx, .xls): one sheet written out as a UTF-8 CSV for the CSV path.

A workbook is read with python-calamine and its sheet becomes `<sha256>.utf8.csv` in the file's
staging folder, so header aliases, typing, quarantine and reports are the CSV path's own. Cells
are written as the partner sees them in Excel: dates as ISO dates, a whole number stored as a
number (2024.0) as 2024, a number stored as text ("00123") kept as typed.

Title or blank rows often sit above the table: the header is the first row naming a template
column, and `row_offset` says how many sheet rows precede it, so every message still names the
row the partner sees in Excel.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines import workbook_errors, workbook_formats
from pipelines.lines import CHUNK
from pipelines.problems import FileRejected, Problem
from pipelines.unicode_forms import nfc
from pipelines.workbook_dates import as_shown

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and any password-protected Office file
ZIP_MAGIC = b"PK\x03\x04"  # .xlsx
WORKBOOK_SUFFIXES = {".xlsx", ".xls"}
# Stream names of an encrypted Office document (MS-OFFCRYPTO), as stored in the OLE directory.
_ENCRYPTED_STREAMS = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))
# How many rows from the first filled one a header row is looked for (title blocks are a few rows).
HEADER_SEARCH_ROWS = 50
# The first whole number Excel cannot hold to the digit: it keeps 15 significant digits.
EXCEL_DIGITS_LOST = 1e15

ENCRYPTED = Problem(
    "encrypted_workbook", "This workbook is protected with a password, so it cannot be read. In "
    "Excel choose File > Info > Protect Workbook > Encrypt with Password, clear the password, "
    "save, and send the file again (or save the sheet as 'CSV UTF-8' and send that).")


def corrupt(detail: str = "") -> Problem:
    return Problem(
        "unreadable_workbook", "This file could not be opened as an Excel workbook: it is damaged "
        "or not really a workbook" + (f" ({detail})" if detail else "") + ". Open it in Excel, "
        "save it again as .xlsx (or as 'CSV UTF-8'), and send the file again.")


def kind(path: Path, head: bytes) -> str | None:
    """'xlsx' or 'xls' when the file is (or claims by its name to be) an Excel workbook."""
    if head.startswith(ZIP_MAGIC) and b"xl/" in head:
        return "xlsx"
    if head.startswith(OLE_MAGIC):
        return "xls"
    suffix = path.suffix.lower()
    # Some systems save tab- or comma-separated text under an .xls name: text is read as text.
    # A ZIP or a web page (Excel's "XML spreadsheet", HTML tables) named so stays a workbook
    # that will not open, and is refused as one.
    markup = head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    text = not head.startswith(ZIP_MAGIC) and not markup
    return suffix[1:] if suffix in WORKBOOK_SUFFIXES and not text else None


@dataclass(frozen=True)
class Sheet:
    header: list[str]
    row_offset: int  # sheet rows above the header row
    name: str
    first_column: int = 0  # sheet columns left of the table (its cells start at the used range)


def _encrypted(path: Path) -> bool:
    """An OLE container holding an encrypted package: how Office stores a password-protected
    .xlsx (and calamine, given one by content, can only say 'cannot detect format')."""
    keep = max(len(s) for s in _ENCRYPTED_STREAMS)
    tail = b""
    with path.open("rb") as handle:
        if handle.read(len(OLE_MAGIC)) != OLE_MAGIC:
            return False
        handle.seek(0)
        while chunk := handle.read(CHUNK):
            window = tail + chunk
            if any(stream in window for stream in _ENCRYPTED_STREAMS):
                return True
            tail = window[-keep:]
    return False


def cell_text(value: object) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):  # before int: bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= EXCEL_DIGITS_LOST:
            # Sixteen digits or more: Excel kept fifteen, so the last ones are not the ones
            # typed (two ids typed alike but for them are stored alike). Written as Excel shows
            # such a number ("1.23457E+15") and saves it to CSV, so an id is refused as one
            # in scientific notation, as from that CSV, not read with invented digits.
            mantissa, exponent = f"{value:.5E}".split("E")
            return f"{mantissa.rstrip('0').rstrip('.')}E{exponent}"
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _sheet(book, path: Path, name: str):
    """The sheet `name`, once its extent is known to fit in memory: python-calamine holds a cell
    for every position up to the last filled one, and one stray value in XFD1048576 (a 5 KB
    file) made it ask for 550 GB and abort the process (a staging worker, or the whole night
    where staging runs in the flow's own process), so the file was never answered."""
    extent = workbook_formats.sheet_extent(path, name)
    if extent is not None and extent[0] * extent[1] > workbook_formats.MAX_SHEET_CELLS:
        rows, columns = extent
        raise FileRejected(Problem(
            "sheet_too_large", f"The sheet {name!r} reaches row {rows:,} and column "
            f"{workbook_formats.column_letter(columns - 1)}: read whole, that is {rows * columns:,} cells, more than can "
            "be read. Usually a stray value or format far below or to the right of the table "
            "(Ctrl+End in Excel goes to it). Delete the rows below and the columns to the right "
            "of your table, save, and send the file again (or save the sheet as 'CSV UTF-8')."))
    return book.get_sheet_by_name(name)


def _sheets(book, wanted: str | None, path: Path):
    """The sheet named in the crosswalk, else the visible worksheets in order."""
    import python_calamine as calamine

    if wanted is not None:
        # Named in the partner's crosswalk by the backbone team: read even if hidden. The name
        # as typed on a Mac (decomposed accents) is the same name (pipelines.unicode_forms).
        if wanted not in book.sheet_names:
            wanted = next((n for n in book.sheet_names if nfc(n) == nfc(wanted)), wanted)
        if wanted not in book.sheet_names:
            names = ", ".join(repr(n) for n in book.sheet_names)
            raise FileRejected(Problem(
                "missing_sheet", f"The workbook has no sheet named {wanted!r}, which is the sheet "
                f"your data is read from; its sheets are: {names}. Put the data in a sheet named "
                f"{wanted!r}, or ask the backbone team to change the sheet name they expect."))
        yield _sheet(book, path, wanted)
        return
    visible = [meta.name for meta in book.sheets_metadata
               if meta.visible == calamine.SheetVisibleEnum.Visible
               and meta.typ == calamine.SheetTypeEnum.WorkSheet]
    if not visible:
        raise FileRejected(Problem("empty_file", "This workbook has no visible worksheet to "
                                   "read. Unhide the sheet with the data and send the file "
                                   "again."))
    for name in visible:  # loaded one at a time: the first one usually has the data
        yield _sheet(book, path, name)


def _sheet_rows(path: Path, sheet) -> tuple[Iterator[list[str]], list[list[str]]]:
    """The sheet's rows as text, and its first rows (`_head`) taken from them."""
    # Numbers whose format pads them (42 formatted 00000 shows 00042), or shows them as a
    # percentage (0.45 shows 45%, then refused): written as shown.
    if formats := workbook_formats.read(path, sheet.name):
        rows = formats.rows(sheet.iter_rows(), sheet, cell_text)
    else:
        rows = (([cell_text(v) for v in row]) for row in sheet.iter_rows())
    # A formula whose result is an error (#N/A, #DIV/0!): python-calamine gives "", which
    # would read as a cell left blank. Written as Excel shows it (and saves it to CSV), so the
    # column's rules name it.
    if errors := workbook_errors.read(path, sheet.name):
        rows = errors.rows(rows, sheet)
    down = [(top, bottom, column) for (top, column), (bottom, right) in
            sheet.merged_cell_ranges or () if right == column and bottom > top]
    if down:
        rows = _merged_down(rows, sheet, down)
    return rows, _head(rows)


def _merged_down(rows: Iterator[list[str]], sheet, merged: list[tuple[int, int, int]]
                 ) -> Iterator[list[str]]:
    """Cells merged down a column (a school year beside all of that year's students) show their
    value on every row they cover: written on each, as the partner sees them, not only on the
    first (what Excel's CSV keeps), where "'School Year' is required and is blank" would name
    cells that show 2023. Rows and columns are placed as pipelines.workbook_formats does."""
    first = next(rows, None)
    if first is None:
        return
    top, left = workbook_formats.sheet_origin(sheet, first)
    starts: dict[int, list[tuple[int, int]]] = {}
    for start, bottom, column in merged:
        starts.setdefault(start, []).append((bottom, column - left))
    active: list[tuple[int, int, str]] = []  # (last row, column, value) of merges under way
    for index, row in enumerate(itertools.chain([first], rows), start=top):
        if active:
            active = [merge for merge in active if merge[0] >= index]
            for _, at, value in active:
                if at < len(row) and not row[at].strip():
                    row[at] = value
        for bottom, at in starts.get(index, ()):
            if 0 <= at < len(row) and row[at].strip():
                active.append((bottom, at, row[at]))
        yield row


def _named_row(rows: list[list[str]], maps: Callable[[str], bool], enough: int) -> int | None:
    """The first row with at least `enough` cells naming a template column."""
    return next((i for i, row in enumerate(rows)
                 if sum(1 for c in row if c.strip() and maps(c)) >= enough), None)


def _header_index(rows: list[list[str]], maps: Callable[[str], bool] | None) -> int | None:
    first = next((i for i, row in enumerate(rows) if _filled(row)), None)
    if maps is not None:
        # Two names first: a title that happens to be one column's alias ("White") is not it.
        for enough in (2, 1):
            found = _named_row(rows, maps, enough)
            if found is not None:
                return found
    return first


def _filled(row: list[str]) -> bool:
    return any(cell.strip() for cell in row)


def to_csv(path: Path, target: Path, sheet_name: str | None = None,
           maps: Callable[[str], bool] | None = None,
           names_period: Callable[[str], bool] | None = None,
           carries: Callable[[list[str]], bool] | None = None) -> Sheet:
    """Write the workbook's sheet (the named one, else the first visible one naming two template
    columns, else the first visible one) to `target`.

    `maps` says whether a cell's text names a template column: the header is the first row
    with one. Blank sheet rows become blank lines, which the CSV path skips but counts.
    `carries` says whether a row names every required template column: when the sheet read
    has such a header and another visible sheet does too (a sheet per campus or month), the
    file is refused, since only one sheet is read and the other's rows would not count.
    """
    if _encrypted(path):
        raise FileRejected(ENCRYPTED)
    import python_calamine as calamine  # only when a workbook comes in

    try:
        with path.open("rb") as handle:
            book = calamine.CalamineWorkbook.from_filelike(handle)
        # Unless the crosswalk names the sheet, the first visible one is read; when it names no
        # two template columns (an "Instructions" or cover sheet first), the first sheet that
        # does.
        first = None
        sheets = _sheets(book, sheet_name, path)
        for sheet in sheets:
            rows, head = _sheet_rows(path, sheet)
            first = first or (sheet, rows, head)
            if sheet_name is not None or maps is None or _named_row(head, maps, 2) is not None:
                break
        else:
            sheet, rows, head = first
        if sheet_name is None and carries is not None and any(map(carries, head)):
            _refuse_other_data_sheets(sheet.name, sheets, carries)
        # iter_rows starts at sheet row 1 (leading blank rows included); were it to start at
        # the first filled row instead, that row would not be blank.
        top = sheet.start[0] if sheet.start and head and _filled(head[0]) else 0
        at = _header_index(head, maps)
        if at is None:
            raise FileRejected(Problem(
                "empty_file", f"The sheet {sheet.name!r} is empty: no column names and no data. "
                "Please put the data in it and send the file again."))
        width = max(len(row) for row in head)
        # A date cell shown as a year or month is that period in the period column only.
        periods = {i for i, name in enumerate(head[at]) if names_period and names_period(name)}
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8", newline="") as out:
            _write(out, (as_shown(row, periods) + [""] * (width - len(row))
                         for row in itertools.chain(head[at:], rows)))
    except calamine.PasswordError:
        raise FileRejected(ENCRYPTED) from None
    except calamine.CalamineError as exc:
        raise FileRejected(corrupt(_first_line(exc))) from None
    return Sheet(head[at] + [""] * (width - len(head[at])), top + at, sheet.name,
                 sheet.start[1] if sheet.start else 0)


def _refuse_other_data_sheets(read: str, others, carries: Callable[[list[str]], bool]) -> None:
    """Refuse the workbook when a visible sheet after `read` also has the table's header."""
    also = [other.name for other in others
            if any(map(carries, _head([cell_text(v) for v in row] for row in other.iter_rows())))]
    if also:
        names = ", ".join(repr(n) for n in (read, *also))
        raise FileRejected(Problem(
            "several_data_sheets", f"This workbook has a table with your column names on more "
            f"than one sheet ({names}), but one sheet is read from a workbook: the rows on "
            f"{', '.join(repr(n) for n in also)} would not count. Put all the rows on one sheet, "
            "or send each sheet as a file of its own (for example saved as 'CSV UTF-8'), and "
            "send the file again. If the other sheets are only old copies, delete or hide them."))


def _head(rows: Iterator[list[str]]) -> list[list[str]]:
    """The sheet's first rows, up to HEADER_SEARCH_ROWS from the first filled one: where the
    header is looked for. The rest stays in `rows`, streamed to the CSV."""
    head: list[list[str]] = []
    filled_at = None
    for row in rows:
        head.append(row)
        if filled_at is None and _filled(row):
            filled_at = len(head) - 1
        if filled_at is not None and len(head) - filled_at >= HEADER_SEARCH_ROWS:
            break
    return head


def _write(out, rows: Iterable[list[str]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        if _filled(row):
            writer.writerow(row)
        else:
            out.write("\n")  # a blank line: skipped by the CSV reader, kept in the numbering


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
