"""Which cells of an .xlsx sheet are numbers shown as percentages.

Excel stores "45%" as 0.45 with a percent number format, and python-calamine gives the number
alone. Read as 0.45, a column of percentages of poverty (partners write 145 for 145%) would be
100 times off without anyone seeing it; read as 45, a column of shares would be. So such a cell is
written out as shown ("45%"), exactly as the same value typed in a CSV, and both are refused by
the `percent_sign` rule (pipelines.validate) with a sentence saying why.

Only the styles are read first (a few KB): a workbook without a percent format, the usual one,
costs nothing more. Otherwise the sheet's XML is searched for cells with such a style, at C speed
(a regular expression over its bytes, never parsed in Python).
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path

from pipelines.lines import CHUNK
from pipelines.problems import FileRejected, Problem

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_RELS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
BUILTIN_PERCENT = {9, 10}  # "0%" and "0.00%"
# A format code's literal text (quoted, escaped with a backslash, or a [colour]/[condition]):
# a % there is shown as a character, it does not scale the number.
_LITERAL = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')


def is_percent_format(code: str) -> bool:
    return "%" in _LITERAL.sub("", code)


def percent_text(value: float) -> str:
    """45% for 0.45, as Excel shows it (at full precision: 14.5% for 0.145)."""
    shown = (Decimal(f"{value:.15g}") * 100).normalize()  # as Excel: 15 significant digits
    return f"{shown:f}%"


def _percent_styles(book: zipfile.ZipFile) -> set[str]:
    try:
        styles = ET.fromstring(book.read("xl/styles.xml"))
    except KeyError:
        return set()
    percent = set(BUILTIN_PERCENT)
    for fmt in styles.iter(f"{_MAIN}numFmt"):
        if is_percent_format(fmt.get("formatCode", "")):
            percent.add(int(fmt.get("numFmtId", "-1")))
    xfs = styles.find(f"{_MAIN}cellXfs")
    if xfs is None:
        return set()
    return {str(i) for i, xf in enumerate(xfs.findall(f"{_MAIN}xf"))
            if int(xf.get("numFmtId", "0")) in percent}


def _sheet_part(book: zipfile.ZipFile, sheet_name: str) -> str | None:
    workbook = ET.fromstring(book.read("xl/workbook.xml"))
    rid = next((s.get(f"{_DOC_RELS}id") for s in workbook.iter(f"{_MAIN}sheet")
                if s.get("name") == sheet_name), None)
    rels = ET.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    target = next((r.get("Target") for r in rels.iter(f"{_RELS}Relationship")
                   if r.get("Id") == rid), None)
    if target is None:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(
        posixpath.join("xl", target))


_CELL_REF = re.compile(rb"""\br=["']([A-Z]+)([0-9]+)["']""")
_CELL_TYPE = re.compile(rb"""\bt=["']([a-zA-Z]+)["']""")


def _column_index(letters: bytes) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + letter - 64
    return index - 1


def percent_cells(path: Path, sheet_name: str) -> set[tuple[int, int]]:
    """(row, column), both from 0 at A1, of the numeric cells of `sheet_name` that have a
    percent format; empty for a workbook that is not .xlsx (calamine reports what it cannot
    open)."""
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return set()
    found: set[tuple[int, int]] = set()
    with book:
        try:
            styles = _percent_styles(book)
            part = _sheet_part(book, sheet_name) if styles else None
            if part is None:
                return found
            numbers = "|".join(re.escape(s) for s in sorted(styles)).encode()
            tags = re.compile(rb"<(?:\w+:)?c\s[^>]*?\bs=[\"'](?:" + numbers + rb")[\"'][^>]*>")
            with book.open(part) as stream:
                rest = b""
                while chunk := stream.read(CHUNK):
                    data = rest + chunk
                    cut = data.rfind(b"<")  # a tag cut by the chunk's end waits for the next
                    cut = len(data) if cut < 0 else cut
                    _cells(tags, data[:cut], sheet_name, found)
                    rest = data[cut:]
                _cells(tags, rest, sheet_name, found)
        except (KeyError, ET.ParseError, ValueError, zipfile.BadZipFile):
            return set()  # not a workbook calamine reads either: it says so
    return found


def _cells(tags: re.Pattern, data: bytes, sheet_name: str, found: set[tuple[int, int]]) -> None:
    for tag in tags.finditer(data):
        kind = _CELL_TYPE.search(tag.group())
        if kind is not None and kind.group(1) != b"n":
            continue  # text, a boolean or an error shown in a percent style: not a number
        ref = _CELL_REF.search(tag.group())
        if ref is None:
            raise FileRejected(Problem(
                "unreadable_workbook", f"The sheet {sheet_name!r} has cells formatted as "
                "percentages that do not say where they are, so they cannot be read safely. "
                "Open the workbook in Excel, save it again as .xlsx (or as 'CSV UTF-8'), and "
                "send the file again."))
        found.add((int(ref.group(2)) - 1, _column_index(ref.group(1))))


def shown_as_percent(rows: Iterable[list[object]], cells: set[tuple[int, int]],
                     sheet) -> Iterator[list[object]]:
    """calamine's rows (`sheet.iter_rows()`) with the numbers of `cells` as Excel shows them
    ("45%"). Where the rows begin is decided as workbook.to_csv (and workbook_formats) decide it:
    sheet row 1 unless the first row given is filled; columns at the range's first one."""
    top = left = None
    for index, row in enumerate(rows):
        if top is None:
            filled = any(v is not None and str(v).strip() for v in row)
            top = sheet.start[0] if sheet.start and filled else 0
            left = sheet.end[1] + 1 - len(row) if sheet.end else 0
        for c, value in enumerate(row):
            if ((top + index, left + c) in cells and isinstance(value, (int, float))
                    and not isinstance(value, bool)):
                row[c] = percent_text(float(value))
        yield row
