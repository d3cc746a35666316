"""Number formats of an .xlsx sheet's cells that change what a number is: written as shown.

python-calamine reads values and turns date-formatted numbers into dates, but exposes no other
number format: a student number stored as 42 in a cell formatted `00000` shows (and saves to CSV)
as `00042` in Excel. Written as 42, the same child sent as CSV by one partner and as a workbook by
another would be two people. So, for .xlsx only:

- xl/styles.xml is read (numFmts and cellXfs) to find the styles whose format pads a whole
  number (`00000`, `000000000`, `"ID"0000`, `000-00-0000`), and those that show it as a
  percentage (pipelines.workbook_percent: "45%" for 0.45, then refused as a CSV's "45%" is). A
  workbook without one pays for opening styles.xml and nothing more.
- Only then the sheet's XML is streamed for the cells that use those styles: a regular
  expression finds their `s="N"` at C speed (`_scan`); a sheet whose cells do not all say where
  they are is walked with expat instead, start tags only (`_walk`; a test holds the two to the
  same answer). They are kept as runs of rows per column: memory follows the runs, not the cells.
- Those cells, when calamine gives a number, are written the way Excel shows them (rounded to
  a whole number, half away from zero, padded, with the format's literal text; or as a
  percentage). Every other cell is written as before (dates, plain numbers, text, text in a
  padded cell).

Anything this module cannot read (a styles part it does not understand, no sheet XML, an .xlsb)
leaves the cells as calamine gives them. .xls (BIFF) formats are not read: calamine exposes none.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zipfile
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import PurePosixPath
from xml.parsers import expat

from pipelines.workbook_dates import (BUILTIN_MONTH, MONTH, PartialDate, ShownDate,
                                      partial_date_format)
from pipelines.workbook_percent import BUILTIN_PERCENT, PERCENT, Percent, is_percent_format

_NAMESPACES = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",
               "http://purl.oclc.org/ooxml/spreadsheetml/main")  # transitional, strict


def _names(local: str) -> frozenset[str]:
    return frozenset([local, *(f"{ns} {local}" for ns in _NAMESPACES)])


_NUM_FMT, _XF, _CELL_XFS = _names("numFmt"), _names("xf"), _names("cellXfs")
_ROW, _CELL, _SHEET = _names("row"), _names("c"), _names("sheet")
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# Excel allows about 64,000 cell formats; a styles part claiming more is not one Excel wrote.
_MAX_STYLES = 65536
_CHUNK = 1 << 20
# One section, no colour or condition: literal text ("ID", \x, or a character Excel shows as
# itself) around 0 placeholders. Anything else (#, ?, decimals, thousands) is left as it was.
_LITERAL = r'"[^"]*"|\\.|[$\-+/():!^&\'~{}<>= ]'
_PADDED = re.compile(rf"^(?:{_LITERAL}|0)+$")


@dataclass(frozen=True)
class Shown:
    """How a number in one format is shown: `pieces` are literal text and None for a digit."""
    pieces: tuple[str | None, ...]
    slots: int = 0  # how many digit placeholders

    def __post_init__(self) -> None:
        object.__setattr__(self, "slots", sum(piece is None for piece in self.pieces))

    def text(self, value: float | int) -> str | None:
        if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
            whole = int(value)  # the usual id: exact, no rounding to do
        else:
            try:
                # As Excel: a float to 15 significant digits, rounded half away from zero.
                number = Decimal(f"{value:.15g}")
                if not number.is_finite():
                    return None
                whole = int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP))
            except (InvalidOperation, ValueError, OverflowError):
                return None
        slots = self.slots
        digits = str(abs(whole)).zfill(slots)
        # Digits beyond the placeholders go into the first one, as Excel shows them.
        extra, digits = digits[:len(digits) - slots], iter(digits[len(digits) - slots:])
        out = ["-" if whole < 0 else ""]
        for piece in self.pieces:
            if piece is None:
                out.append(extra + next(digits))
                extra = ""
            else:
                out.append(piece)
        return "".join(out)


# How a cell's value is shown, where that changes what it is.
Display = Shown | Percent | PartialDate


def shown_as(code: str) -> Shown | None:
    """The Shown of an Excel format code that pads a whole number, else None."""
    if not _PADDED.match(code):
        return None
    pieces = tuple(None if token == "0" else token[1:-1] if token.startswith('"') else
                   token[1:] if token.startswith("\\") else token
                   for token in re.findall(rf"{_LITERAL}|0", code))
    # One placeholder pads nothing: "0" (a plain whole number) and `0" kg"` are left as they
    # were, the number the cell holds.
    return Shown(pieces) if sum(piece is None for piece in pieces) >= 2 else None


def display(code: str) -> Display | None:
    """How an Excel format code shows a number (or a date: a year or month only), where that
    changes what the cell is."""
    if is_percent_format(code):
        return PERCENT
    return shown_as(code) or partial_date_format(code)


@dataclass
class _Column:
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    shown: list[Display] = field(default_factory=list)

    def add(self, row: int, shown: Display) -> None:
        if self.ends and self.ends[-1] == row - 1 and self.shown[-1] is shown:
            self.ends[-1] = row
        elif not self.ends or row > self.ends[-1]:
            self.starts.append(row)
            self.ends.append(row)
            self.shown.append(shown)
        elif self.at(row) is None:
            # A cell listed out of order (no Excel writes one): a run of its own, so that a
            # percentage is still never read as its stored number.
            at = bisect_right(self.starts, row)
            self.starts.insert(at, row)
            self.ends.insert(at, row)
            self.shown.insert(at, shown)

    def at(self, row: int) -> Display | None:
        at = bisect_right(self.starts, row) - 1
        return self.shown[at] if at >= 0 and row <= self.ends[at] else None


@dataclass
class SheetFormats:
    """Sheet cells (0-based row, column) whose number is shown differently from its value."""
    columns: dict[int, _Column]

    def rows(self, values: Iterable[list], sheet, cell_text: Callable[[object], str]
             ) -> Iterator[list[str]]:
        """The texts of `values` (`sheet.iter_rows()`), these cells as Excel shows them."""
        raw = iter(values)
        first = next(raw, None)
        if first is None:
            return
        top, left = sheet_origin(sheet, [cell_text(v) for v in first])
        for index, row in enumerate(itertools.chain([first], raw)):
            texts = [cell_text(v) for v in row]
            for column, runs in self.columns.items():
                at = column - left
                value = row[at] if 0 <= at < len(row) else None
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    shown = runs.at(top + index)
                    text = shown.text(value) if shown and not isinstance(
                        shown, PartialDate) else None
                    if text is not None:
                        texts[at] = text
                elif isinstance(value, dt.date) and isinstance(
                        shown := runs.at(top + index), PartialDate):
                    texts[at] = ShownDate(texts[at], shown.text(value))
            yield texts


def read(path, sheet_name: str) -> SheetFormats | None:
    """The formatted cells of the sheet named `sheet_name`, or None when none matter (or the
    file is no .xlsx this module can read)."""
    try:
        with zipfile.ZipFile(path) as book:
            parts = set(book.namelist())
            rels = _relations(book, "xl/_rels/workbook.xml.rels", parts)
            styles = next((target for kind, target in rels.values()
                           if kind.endswith("/styles")), "xl/styles.xml")
            if styles not in parts:
                return None
            mattering = _mattering_styles(book, styles)
            if not mattering:
                return None
            sheet = _sheet_part(book, sheet_name, rels, parts)
            if sheet is None:
                return None
            columns = _formatted_cells(book, sheet, mattering)
            return SheetFormats(columns) if columns else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, expat.ExpatError, KeyError, ValueError,
            RuntimeError, NotImplementedError, EOFError):
        # A part calamine read past (it opened the file) but this reader cannot: the cells
        # stay as calamine gives them, as before formats were read.
        return None


def _parse(book: zipfile.ZipFile, part: str, start: Callable[[str, dict], None],
           end: Callable[[str], None] | None = None) -> None:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    with book.open(part) as handle:
        while chunk := handle.read(_CHUNK):
            parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _relations(book: zipfile.ZipFile, part: str, parts: set[str]) -> dict[str, tuple[str, str]]:
    """{relationship id: (type, part name)} of the workbook part."""
    found: dict[str, tuple[str, str]] = {}
    if part not in parts:
        return found

    def start(name: str, attrs: dict) -> None:
        if name.endswith("Relationship") and "Id" in attrs and "Target" in attrs:
            target = attrs["Target"]
            resolved = target.lstrip("/") if target.startswith("/") else str(
                PurePosixPath("xl") / target)
            found[attrs["Id"]] = (attrs.get("Type", ""), _normal(resolved))
    _parse(book, part, start)
    return found


def _normal(name: str) -> str:
    out: list[str] = []
    for piece in name.split("/"):
        if piece == "..":
            if out:
                out.pop()
        elif piece not in ("", "."):
            out.append(piece)
    return "/".join(out)


def _mattering_styles(book: zipfile.ZipFile, part: str) -> dict[int, Display]:
    """{cell style index: how its number is shown} for the cell styles whose number format
    changes what the number is."""
    codes: dict[int, str] = {}  # no built-in format pads (ECMA-376 18.8.30); two are percent
    styles: list[int] = []
    inside = [False]

    def start(name: str, attrs: dict) -> None:
        if name in _NUM_FMT and len(codes) < _MAX_STYLES:
            try:
                codes[int(attrs.get("numFmtId", ""))] = attrs.get("formatCode", "")
            except ValueError:
                pass
        elif name in _CELL_XFS:
            inside[0] = True
        elif name in _XF and inside[0] and len(styles) < _MAX_STYLES:
            try:
                styles.append(int(attrs.get("numFmtId", "0")))
            except ValueError:
                styles.append(0)

    def end(name: str) -> None:
        if name in _CELL_XFS:
            inside[0] = False
    _parse(book, part, start, end)
    shown = {number: s for number, code in codes.items() if (s := display(code))}
    shown.update(dict.fromkeys(BUILTIN_PERCENT, PERCENT))
    shown.update(dict.fromkeys(BUILTIN_MONTH, MONTH))
    return {index: shown[number] for index, number in enumerate(styles) if number in shown}


def _sheet_part(book: zipfile.ZipFile, sheet_name: str, rels: dict, parts: set[str]) -> str | None:
    wanted: list[str] = []

    def start(name: str, attrs: dict) -> None:
        if name in _SHEET and attrs.get("name") == sheet_name and not wanted:
            wanted.append(attrs.get(f"{_REL} id") or attrs.get(
                "http://purl.oclc.org/ooxml/officeDocument/relationships id", ""))
    if "xl/workbook.xml" not in parts:
        return None
    _parse(book, "xl/workbook.xml", start)
    target = rels.get(wanted[0]) if wanted else None
    return target[1] if target and target[1] in parts else None


_LETTERS = re.compile(r"^([A-Z]{1,3})(\d+)$")
_REF = re.compile(rb"""\sr=["']([A-Z]{1,3})([0-9]+)["']""")
_TYPE = re.compile(rb"""\st=["']([A-Za-z]+)["']""")
_CELL_TAG = re.compile(rb"<(?:[\w.-]+:)?c\s")


def _formatted_cells(book: zipfile.ZipFile, part: str, mattering: dict[int, Display]
                     ) -> dict[int, _Column]:
    """{column: runs of rows} of the number cells whose style is in `mattering`."""
    if 0 not in mattering:  # else every cell without `s` matters: only a full walk finds them
        found = _scan(book, part, mattering)
        if found is not None:
            return found
    return _walk(book, part, mattering)


def _column(letters: str) -> int:
    column = 0
    for letter in letters:
        column = column * 26 + ord(letter) - 64
    return column - 1


def column_letter(position: int) -> str:
    """The spreadsheet letters of a 0-based column position (`_column`'s inverse): 0 is A, 26
    is AA, 16383 is XFD."""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _scan(book: zipfile.ZipFile, part: str, mattering: dict[int, Display]
          ) -> dict[int, _Column] | None:
    """The fast path: `s="N"` for such a style N, found by a regular expression with a literal
    start over the XML's bytes (C speed, a tenth of a regular expression per tag); only those
    tags are looked at in Python. None when one of them does not say where it is (`r` is
    optional): then `_walk` counts the cells instead."""
    # The styles by number while few (a workbook has a handful); past that, a long alternation
    # costs more to compile than checking each styled cell's number.
    numbers = ("|".join(str(index) for index in sorted(mattering)) if len(mattering) <= 64
               else r"\d{1,9}").encode()
    styles = re.compile(rb"""s=["'](""" + numbers + rb""")["']""")
    columns: dict[int, _Column] = {}
    with book.open(part) as handle:
        rest = b""
        while True:
            chunk = handle.read(_CHUNK)
            data = rest + chunk
            # A tag cut by the chunk's end waits for the next chunk.
            cut = len(data) if not chunk else data.rfind(b"<")
            cut = len(data) if cut < 0 else cut
            for style in styles.finditer(data, 0, cut):
                at, shown = style.start(), mattering.get(int(style.group(1)))
                if shown is None or at == 0 or data[at - 1] not in b" \t\r\n":
                    continue  # another style, or the end of another attribute's name ("xs=")
                # No "<" inside an attribute value: the tag starts at the last one before.
                begin = data.rfind(b"<", 0, at)
                tag = data[begin:data.find(b">", at)]
                if not _CELL_TAG.match(tag):
                    continue  # a row's style, or text that reads like one
                kind = _TYPE.search(tag)
                if kind is not None and kind.group(1) != b"n":
                    continue  # text, a boolean, an error or a date shown in such a style
                ref = _REF.search(tag)
                if ref is None:
                    return None
                columns.setdefault(_column(ref.group(1).decode()), _Column()).add(
                    int(ref.group(2)) - 1, shown)
            rest = data[cut:]
            if not chunk:
                return columns


def _walk(book: zipfile.ZipFile, part: str, mattering: dict[int, Display]
          ) -> dict[int, _Column]:
    """Every cell's start tag, through expat: where a cell is follows from the ones before it
    when it does not say."""
    columns: dict[int, _Column] = {}
    default = mattering.get(0)  # a cell without `s` has style 0
    where = [-1, -1]  # the current row and column (0-based)

    def start(name: str, attrs: dict) -> None:
        if track_position(name, attrs, where):
            style = attrs.get("s")
            shown = default if style is None else mattering.get(int(style)) if \
                style.isdigit() else None
            if shown is not None and attrs.get("t", "n") == "n":
                columns.setdefault(where[1], _Column()).add(where[0], shown)
    _parse(book, part, start)
    return columns


def sheet_origin(sheet, first: list[str]) -> tuple[int, int]:
    """The sheet row and column (0-based) of calamine's first row and cell, `first` being that
    row's texts: decided as workbook.to_csv decides it, sheet row 1 unless the first row it
    gives is filled; columns begin at the range's first one."""
    top = sheet.start[0] if sheet.start and any(c.strip() for c in first) else 0
    left = sheet.end[1] + 1 - len(first) if sheet.end else 0
    return top, left


def track_position(name: str, attrs: dict, where: list[int]) -> bool:
    """Keep `where` (0-based row, column) at the row or cell whose start tag this is; True for
    a cell. A cell or row without its reference follows the one before it."""
    if name in _CELL:
        where[1] += 1
        ref = attrs.get("r")
        if ref and (match := _LETTERS.match(ref)):
            where[0], where[1] = int(match.group(2)) - 1, _column(match.group(1))
        return True
    if name in _ROW:
        ref = attrs.get("r")
        where[0] = int(ref) - 1 if ref and ref.isdigit() else where[0] + 1
        where[1] = -1
    return False


# Cells the workbook reader holds for a sheet read whole: python-calamine makes one 32-byte cell
# for every position from the sheet's first filled row and column to its last, filled or not.
MAX_SHEET_CELLS = 32_000_000  # 1 GB: a full-height sheet of 30 columns
_ROW_NUMBER = re.compile(rb"""<(?:[\w.-]+:)?row\s[^>]*?\br=["']([0-9]+)["']""")
_WIDE_REF = re.compile(rb"""\sr=["']([A-Z]{2,3})([0-9]+)["']""")  # a cell after column Z


def sheet_extent(path, sheet_name: str) -> tuple[int, int] | None:
    """(last row, last column), 1-based, that the sheet's cells say they reach, or None when
    the file is no .xlsx this module can read. Columns up to Z are taken as Z: only cells past
    it are looked at, so a usual sheet costs a scan for row tags."""
    try:
        with zipfile.ZipFile(path) as book:
            parts = set(book.namelist())
            rels = _relations(book, "xl/_rels/workbook.xml.rels", parts)
            part = _sheet_part(book, sheet_name, rels, parts)
            if part is None:
                return None
            rows, columns = 0, 26
            with book.open(part) as handle:
                rest = b""
                while True:
                    chunk = handle.read(_CHUNK)
                    data = rest + chunk
                    cut = len(data) if not chunk else max(data.rfind(b"<"), 0)
                    for found in _ROW_NUMBER.finditer(data, 0, cut):
                        rows = max(rows, int(found.group(1)))
                    for found in _WIDE_REF.finditer(data, 0, cut):
                        columns = max(columns, _column(found.group(1).decode()) + 1)
                        rows = max(rows, int(found.group(2)))
                    rest = data[cut:]
                    if not chunk:
                        return rows, columns
    except (zipfile.BadZipFile, zipfile.LargeZipFile, expat.ExpatError, KeyError, ValueError,
            RuntimeError, NotImplementedError, EOFError):
        return None
