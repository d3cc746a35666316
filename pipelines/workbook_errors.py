"""Error cells of an .xlsx sheet (#N/A, #DIV/0!, #REF!...): written as Excel shows them.

A formula whose result is an error is stored with `t="e"` and the error's text. python-calamine
gives such a cell as "", the value of an empty cell: the row would load with the cell blank (a
measure left out of the denominator, an income "not reported") and nobody would be told. Excel
shows the error and saves it so to CSV, where the column's rules refuse it ("must be a number");
so the workbook's cell is written as that text too, and the same rules name it.

For .xlsx only: the sheet's XML is searched for the attribute's bytes at C speed, and walked
with expat only when it has one. .xls (BIFF) error cells cannot be told from blank ones
(calamine exposes neither).
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.parsers import expat

from pipelines.workbook_formats import (_CELL, _names, _relations, _sheet_part,
                                        sheet_origin, track_position)

_VALUE = _names("v")
# What an error cell's type attribute ends with (t="e"): found by a byte search; anything else
# that has it only costs the walk that then finds no error cell.
_ERROR_TYPES = (b'="e"', b"='e'")
_CHUNK = 1 << 20
# What Excel shows for an error cell whose value is missing (no tool of ours writes one).
_UNKNOWN = "#VALUE!"


@dataclass(frozen=True)
class SheetErrors:
    """{(0-based sheet row, column): the error as Excel shows it}."""
    cells: dict[tuple[int, int], str]

    def rows(self, texts: Iterable[list[str]], sheet) -> Iterator[list[str]]:
        """`texts` (the sheet's rows as written, `sheet.iter_rows()` order) with the error cells
        as Excel shows them. Rows and columns are placed as pipelines.workbook_formats places
        them: calamine's rows begin at sheet row 1, its columns at the range's first one."""
        raw = iter(texts)
        first = next(raw, None)
        if first is None:
            return
        top, left = sheet_origin(sheet, first)
        by_row: dict[int, list[tuple[int, str]]] = {}
        for (row, column), text in self.cells.items():
            by_row.setdefault(row, []).append((column - left, text))
        for index, row in enumerate(itertools.chain([first], raw)):
            for at, text in by_row.get(top + index, ()):
                if 0 <= at < len(row) and not row[at].strip():
                    row[at] = text
            yield row


def read(path, sheet_name: str) -> SheetErrors | None:
    """The error cells of the sheet named `sheet_name`, or None when it has none (or the file is
    no .xlsx this module can read: the cells then stay as calamine gives them)."""
    try:
        with zipfile.ZipFile(path) as book:
            parts = set(book.namelist())
            rels = _relations(book, "xl/_rels/workbook.xml.rels", parts)
            sheet = _sheet_part(book, sheet_name, rels, parts)
            if sheet is None or not _has_error_cell(book, sheet):
                return None
            cells = _error_cells(book, sheet)
            return SheetErrors(cells) if cells else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, expat.ExpatError, KeyError, ValueError,
            RuntimeError, NotImplementedError, EOFError):
        return None


def _has_error_cell(book: zipfile.ZipFile, part: str) -> bool:
    tail = b""
    with book.open(part) as handle:
        while chunk := handle.read(_CHUNK):
            window = tail + chunk
            if any(kind in window for kind in _ERROR_TYPES):
                return True
            tail = window[-4:]
    return False


def _error_cells(book: zipfile.ZipFile, part: str) -> dict[tuple[int, int], str]:
    cells: dict[tuple[int, int], str] = {}
    where = [-1, -1]  # the current row and column (0-based)
    inside: list = [None, None]  # (row, column) of an error cell being read; its <v> text parts

    def start(name: str, attrs: dict) -> None:
        if track_position(name, attrs, where):
            if attrs.get("t") == "e":
                inside[0] = (where[0], where[1])
                cells[inside[0]] = _UNKNOWN
        elif name in _VALUE and inside[0] is not None:
            inside[1] = []

    def end(name: str) -> None:
        if name in _VALUE and inside[1] is not None:
            text = "".join(inside[1]).strip()
            if text:
                cells[inside[0]] = text
            inside[1] = None
        elif name in _CELL:
            inside[0] = inside[1] = None

    def text(data: str) -> None:
        if inside[1] is not None:
            inside[1].append(data)

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = text
    with book.open(part) as handle:
        while chunk := handle.read(_CHUNK):
            parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return cells
