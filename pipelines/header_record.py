"""The header of a partner CSV: its first *record*, which may span lines, and its delimiter.

Excel writes a header cell wrapped with Alt+Enter ("School<line break>Year") quoted, its line
break inside, so the header can take several lines. A line break inside a header cell reads as
one space: "School Year" is what the partner sees in the cell, and what headers are matched and
named by.

Such a file is read from a copy whose header is on one line (`one_line_copy`): DuckDB takes its
line ending from the file's first line break, so Excel's usual mix (a line feed inside the cell,
CR LF after each row) makes its reader read no row at all; and the line counts of
pipelines.lines assume a one-line header. The header is record 1 either way (DuckDB numbers
records, not lines), so no row number changes.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pipelines.lines import CHUNK, MAX_FIELD_BYTES
from pipelines.problems import FileRejected, Problem

DELIMITERS = (",", ";", "\t", "|")

NO_HEADER = Problem("no_header", "The first line of the file is blank. Row 1 must hold the column "
                    "names of the shared template.", row=1)
TOO_LONG = Problem("bad_header", "Row 1 is far too long to be a row of column names (a cell or "
                   "the row is over 100,000 characters). Row 1 must hold only the column names "
                   "of the shared template; check that the export starts there.", row=1)
UNTERMINATED = Problem(
    "unterminated_quote", "Row 1 (the column names) has a quote mark (\") that opens a cell and "
    "never closes, so the column names run on into the rows below and no row can be read. "
    "Remove the stray quote mark from the column names (or close it) and send the file again.",
    row=1)

# The csv module's default field limit (128 KiB): a header cell past it is no column name.
FIELD_LIMIT = 131_072

_LINE_BREAK = re.compile(r"[ \t]*[\r\n]+[ \t]*")


@dataclass(frozen=True)
class Header:
    delimiter: str
    cells: list[str]  # as written: a wrapped cell keeps its line break (a repeated header has it)
    names: list[str]  # each line break (with the spaces around it) read as one space

    @property
    def wrapped(self) -> bool:
        """Whether a cell holds a line break (the header then takes more than one line)."""
        return any(_LINE_BREAK.search(cell) for cell in self.cells)


def one_line(cell: str) -> str:
    return _LINE_BREAK.sub(" ", cell)


class _FirstLines:
    """The file's first lines, read once for every delimiter tried, at most MAX_FIELD_BYTES
    characters in all: a quote that never closes must not read the whole file."""

    def __init__(self, text: TextIO):
        self._text, self.read, self._left, self.cut = text, [], MAX_FIELD_BYTES, False

    def first(self) -> str:
        return next(self.lines({}), "")

    def lines(self, seen: dict) -> Iterator[str]:
        """Yields the lines, counting them in seen["used"]; seen["ended"] when asked for a
        line past the last one or the bound (the record was still in quotes)."""
        seen["used"], seen["ended"] = 0, False
        for line in self.read:
            seen["used"] += 1
            yield line
        while not self.cut and self._left > 0 and (line := self._text.readline(self._left)):
            self._left -= len(line)
            self.cut = self._left == 0 and not line.endswith(("\n", "\r"))
            self.read.append(line)
            seen["used"] += 1
            yield line
        seen["ended"] = True


@dataclass(frozen=True)
class _Parsed:
    delimiter: str
    cells: list[str]  # empty when a cell is over the csv module's field limit (128 KiB)
    used: int  # lines the record took
    problem: Problem | None  # why this record cannot be the header


def _parse(first: _FirstLines, delimiter: str) -> _Parsed:
    seen: dict = {}
    try:
        cells = next(csv.reader(first.lines(seen), delimiter=delimiter), [])
    except csv.Error:  # a cell over the field limit: one long line, or a quote left open
        cells = None
    # The limit is the csv module's, process-wide: a library imported beside us may raise it
    # (frictionless sets it to 2**31), so it is applied here as well.
    if cells is None or any(len(cell) > FIELD_LIMIT for cell in cells):
        return _Parsed(delimiter, [], seen["used"],
                       TOO_LONG if seen["used"] <= 1 else UNTERMINATED)
    # The reader asks for a line past the record's only while a quoted cell is open.
    if first.cut and seen["used"] == len(first.read):
        problem = TOO_LONG if seen["used"] <= 1 else UNTERMINATED
    else:
        problem = UNTERMINATED if seen["ended"] else None
    return _Parsed(delimiter, cells, seen["used"], problem)


def read_header(text: TextIO, maps: Callable[[str], bool] | None = None) -> Header:
    """The first record of `text` (opened with newline=""), under the delimiter that names the
    most template columns (`maps`: whether a name is one), then that gives the most cells.

    By cell count alone, a comma file with a header cell like "a;b;c;d;e;f;g" would read as
    semicolon-separated and lose every template column.
    """
    first = _FirstLines(text)
    if not first.first().rstrip("\r\n").strip():
        raise FileRejected(NO_HEADER)
    parsed = [_parse(first, d) for d in DELIMITERS]
    if any(p.problem is TOO_LONG for p in parsed):  # its first line alone is too long
        raise FileRejected(TOO_LONG)

    def rank(p: _Parsed) -> tuple[int, bool, int]:
        mapped = sum(1 for c in p.cells if maps(one_line(c))) if maps else 0
        # A record still open at the end is last: its cells ran on into the rows below.
        return mapped, p.problem is None, len(p.cells)

    best = max(parsed, key=rank)  # max keeps the first of equals: DELIMITERS' order
    if rank(best)[0] == 0 and len(best.cells) <= 1:
        best = parsed[0]  # one column (or none named): the usual comma
    if best.problem is not None:
        raise FileRejected(best.problem)
    return Header(best.delimiter, best.cells, [one_line(c) for c in best.cells])


def one_line_copy(source: Path, target: Path, delimiter: str) -> Path:
    """`target`: `source` (UTF-8) with its header record written on one line, each line break
    in a cell as a space, ended as it was; every byte after the header copied as it is.
    `target` may be `source` (a transcoded copy): it is replaced only once written."""
    with source.open("r", encoding="utf-8-sig", newline="") as text:
        first = _FirstLines(text)
        parsed = _parse(first, delimiter)  # read_header parsed it so already: no problem here
    record = "".join(first.read[:parsed.used])
    ending = record[len(record.rstrip("\r\n")):]
    line = io.StringIO()
    csv.writer(line, delimiter=delimiter, lineterminator=ending).writerow(
        [one_line(cell) for cell in parsed.cells])
    temporary = target.with_name(target.name + ".header")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with source.open("rb") as src, temporary.open("wb") as dst:
            skip = len(record.encode("utf-8"))
            src.seek(skip + (len(codecs.BOM_UTF8) if src.read(3) == codecs.BOM_UTF8 else 0))
            dst.write(line.getvalue().encode("utf-8"))
            shutil.copyfileobj(src, dst, CHUNK)
    except BaseException:
        temporary.unlink(missing_ok=True)  # the partner's data: never left behind
        raise
    os.replace(temporary, target)
    return target
