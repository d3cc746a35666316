"""Physical lines of a partner file, counted and checked in C-speed passes over the bytes:
how many there are, which are blank, which are too long for DuckDB's CSV parser, and whether
any cell begins or ends with a space (else the parse need not trim cells)."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 16 * 1024 * 1024
MAX_FIELD_BYTES = 1_000_000


# DuckDB refuses a line over max_line_size with a reject row, but one over its read buffer
# (~32 MB) vanishes without a trace and every later row is numbered one too early. Such lines are
# cut to just over the limit first (with the header's number of cells, or the parser calls it
# short), so the parser refuses them as too long where they stand.
LONG_LINE_BLOCK = CHUNK // 64  # divides CHUNK: blocks line up across chunks
CAPPED_CELL = b"x" * (2 * MAX_FIELD_BYTES)
assert 2 * LONG_LINE_BLOCK <= MAX_FIELD_BYTES


def may_have_long_line(path: Path) -> bool:
    """A line of 2 blocks or more holds a whole aligned block without a line break, so only
    blocks are searched (memchr speed), never line by line."""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            if _has_block_without_line_break(chunk):
                return True
    return False


def _has_block_without_line_break(chunk: bytes) -> bool:
    """`chunk` starts at a multiple of CHUNK in its file, so its blocks are the file's."""
    for start in range(0, len(chunk) - LONG_LINE_BLOCK + 1, LONG_LINE_BLOCK):
        if chunk.find(b"\n", start, start + LONG_LINE_BLOCK) < 0:
            return True
    return False


def cap_long_lines(path: Path, target: Path, separators: bytes) -> Path:
    """A copy of `path` with every line over MAX_FIELD_BYTES replaced by one just over it (its
    line break, and an odd quote mark if it had an odd number, kept). `path` when none is."""
    capped = False
    temporary = target.with_name(target.name + ".capping")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("rb") as src, temporary.open("wb") as dst:
            while line := src.readline(MAX_FIELD_BYTES + 1):
                if len(line) <= MAX_FIELD_BYTES or line.endswith(b"\n"):
                    dst.write(line)
                    continue
                capped, quotes, piece, tail = True, line.count(b'"'), line, line[-2:]
                while piece and not piece.endswith(b"\n"):
                    piece = src.readline(CHUNK)
                    quotes += piece.count(b'"')
                    tail = (tail + piece)[-2:]
                ending = b"\r\n" if tail == b"\r\n" else b"\n" if tail.endswith(b"\n") else b""
                dst.write(CAPPED_CELL + separators + (b'"' if quotes % 2 else b"") + ending)
    except BaseException:
        temporary.unlink(missing_ok=True)  # partner data: never left behind
        raise
    if not capped:
        temporary.unlink()
        return path
    os.replace(temporary, target)
    return target



def line_count(path: Path) -> int:
    """Lines in the file, the last one counted whether or not it ends with a line break."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def lone_carriage_return(path: Path) -> bool:
    """Whether a carriage return not followed by a line feed occurs (old Mac line ends)."""
    with path.open("rb") as handle:
        pending = False  # the previous chunk ended with a carriage return
        while chunk := handle.read(CHUNK):
            if pending and not chunk.startswith(b"\n"):
                return True
            pending = chunk.endswith(b"\r")
            body = chunk[:-1] if pending else chunk
            if body.count(b"\r") != body.count(b"\r\n"):
                return True
    return pending


def mixed_line_endings(path: Path) -> bool:
    """Whether some lines end CR LF and others LF alone (a file edited in two programs, or
    pasted together): DuckDB's reader takes one line ending for the whole file and refuses it."""
    crlf = lf = 0
    last = b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            lf += chunk.count(b"\n")
            crlf += chunk.count(b"\r\n") + (last == b"\r" and chunk.startswith(b"\n"))
            last = chunk[-1:]
    return 0 < crlf < lf


def lf_copy(path: Path, target: Path) -> Path:
    """`target`: `path` with every CR LF written LF, so it has one line ending; the same lines
    (row numbers do not move) and the same cells, but for a CR LF inside a quoted cell, which is
    the same line break written LF."""
    temporary = target.with_name(target.name + ".lf")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("rb") as source, temporary.open("wb") as copy:
            held = b""
            while chunk := source.read(CHUNK):
                chunk = held + chunk
                held = b"\r" if chunk.endswith(b"\r") else b""
                copy.write(chunk[:len(chunk) - len(held)].replace(b"\r\n", b"\n"))
            copy.write(held)
    except BaseException:
        temporary.unlink(missing_ok=True)  # the partner's data: never left behind
        raise
    os.replace(temporary, target)
    return target


# What DuckDB's trim() removes: the space and the other Unicode space separators (category Zs;
# tests/test_read_fast.py checks this against DuckDB over every code point).
TRIMMED = " \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u202f\u205f\u3000"


@dataclass(frozen=True)
class LineScan:
    count: int  # as line_count
    lone_carriage_return: bool  # as lone_carriage_return
    # Whether some cell may begin or end with a character of TRIMMED. False proves that no cell
    # does, so trimming every cell would change none.
    edge_space: bool
    long_line: bool = False  # as may_have_long_line
    # Whether a NUL byte occurs: only then is every template cell searched for one.
    nul: bool = False
    # Whether `="` occurs: only then may a cell be wrapped as a formula (`="2023"`, what some
    # systems export so that Excel keeps a value as written), read as the text inside.
    formula: bool = False


def _edge_classes(delimiter: str) -> bytes:
    """Byte classes for the edge test: B a byte a cell's text can begin or end next to (the
    delimiter, a line break, a quote mark), X a space, or the first or the last byte of a
    multi-byte TRIMMED character. Other characters share some of those bytes ("à" ends in the
    last byte of U+00A0, "’" starts like U+2000): a cell beginning or ending with one is taken
    for a spaced cell, which costs the trim, never a wrong value."""
    classes = bytearray(b"." * 256)
    for byte in (*delimiter.encode(), ord("\n"), ord("\r"), ord('"')):
        classes[byte] = ord("B")
    for character in TRIMMED:
        encoded = character.encode()
        classes[encoded[0]] = classes[encoded[-1]] = ord("X")
    return bytes(classes)


def scan_lines(path: Path, delimiter: str) -> LineScan:
    """line_count, lone_carriage_return, may_have_long_line and the edge test of a UTF-8 file
    in one read (see LineScanner)."""
    scanner = LineScanner(delimiter)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            scanner.feed(chunk)
    return scanner.result()


class LineScanner:
    """scan_lines over chunks read by someone else (the encoding check's pass over the file).

    A cell's text starts right after a delimiter, a line break, an opening quote or the start of
    the file, and ends right before a delimiter, a line break, a closing quote or the end of the
    file; so a cell that begins or ends with a TRIMMED character puts "BX" or "XB" in the classed
    bytes, or an X first or last. Finding none proves there is no such cell; finding one (inside
    a quoted cell, a curly quote opening a cell, or in the header) only means the cells are
    trimmed as usual.
    """

    def __init__(self, delimiter: str):
        self.delimiter = delimiter
        self._classes = _edge_classes(delimiter)
        self._count, self._last, self._lone, self._pending = 0, b"\n", False, False
        self._edge, self._before, self._long_line, self._nul = False, b"B", False, False
        self._formula = False
        self._first = True  # a byte order mark may open the first chunk
        # The long-line test needs the file's aligned blocks: every chunk but the last a whole
        # CHUNK. Fed otherwise, the scanner says so (`aligned`) and its result is not used.
        self.aligned, self._short_seen = True, False

    def feed(self, chunk: bytes) -> None:
        if self._short_seen or len(chunk) > CHUNK:
            self.aligned = False
        self._short_seen = self._short_seen or len(chunk) != CHUNK
        self._count += chunk.count(b"\n")
        self._nul = self._nul or b"\0" in chunk
        self._formula = self._formula or b'="' in chunk or (
            self._last == b"=" and chunk.startswith(b'"'))
        self._long_line = self._long_line or _has_block_without_line_break(chunk)
        self._last = chunk[-1:]
        if not self._lone and (self._pending or b"\r" in chunk):
            if self._pending and not chunk.startswith(b"\n"):
                self._lone = True
            self._pending = chunk.endswith(b"\r")
            body = chunk[:-1] if self._pending else chunk
            self._lone = self._lone or body.count(b"\r") != body.count(b"\r\n")
        if self._edge:
            return
        classes, before = self._classes, self._before
        # No space and nothing but ASCII (a byte order mark aside): no X byte, checked at
        # memchr speed; the search for pairs costs ~20x more.
        if b" " not in chunk and (chunk.isascii() or self._first and chunk.startswith(
                codecs.BOM_UTF8) and chunk[3:].isascii()):
            self._edge = before + chunk[:1].translate(classes) == b"XB"  # after a chunk's space
            self._first, self._before = False, chunk[-1:].translate(classes)
            return
        self._first, classed = False, chunk.translate(classes)
        self._edge = (before + classed[:1] in (b"BX", b"XB") or b"BX" in classed
                      or b"XB" in classed)
        self._before = classed[-1:]

    def result(self) -> LineScan:
        edge = self._edge or self._before == b"X"  # the end of the file ends the last cell
        return LineScan(self._count + (self._last != b"\n"), self._lone or self._pending, edge,
                        self._long_line, self._nul, self._formula)


def blank_rows(path: Path) -> Iterator[int]:
    """Spreadsheet rows of the empty lines outside quoted cells (a quoted newline is one row),
    one at a time: a file may hold millions."""
    with path.open("rb") as handle:
        tail, found = b"", False
        while not found and (chunk := handle.read(CHUNK)):  # the usual case: none, checked fast
            found = b"\n\n" in tail + chunk or b"\n\r\n" in tail + chunk
            tail = chunk[-2:]
        if not found:
            return
        handle.seek(0)
        row, quoted = 0, False
        for line in handle:  # UTF-8: '"' and newline bytes never occur inside a character
            if not quoted:
                row += 1
                if line in (b"\n", b"\r\n"):
                    yield row
            quoted ^= line.count(b'"') % 2 == 1


# Records in one piece of split_records at most: blank lines take 1 or 2 bytes, so a run of
# them in a piece stays well under the parser's 1 MB line limit.
PIECE_LINES = 200_000


def split_records(path: Path, folder: Path, per_piece: int) -> Iterator[tuple[Path, int]]:
    """The records after the header of `path`, as files of `per_piece` records, one at a time,
    each with the number of records before it. A quoted line break does not end a record; a
    blank line is one (DuckDB counts it in its line numbers). The caller deletes each piece.

    Each piece starts with the file's header line: DuckDB takes a file's line ending from its
    first line break, which in a piece starting with a row that holds a quoted line feed (Excel's
    Alt+Enter in a CR LF file) is that line feed, and then refuses every row of the piece."""
    folder.mkdir(parents=True, exist_ok=True)
    # `count` is the piece's records, `filled` those that are not blank lines: only they can be
    # refused, so only they fill a piece (a header then 20 million blank lines was parsed in
    # 1,400 pieces, a quarter of an hour). A piece still ends after PIECE_LINES records: DuckDB
    # refuses the row after a run of blank lines longer than its line limit (1 MB) as too long.
    before, count, filled, quoted, piece, out = 0, 0, 0, False, None, None
    try:
        with path.open("rb") as handle:
            header = handle.readline()
            for line in handle:  # UTF-8: '"' and newline bytes never occur inside a character
                if not quoted and (filled == per_piece or count == PIECE_LINES):
                    out.close()
                    yield piece, before
                    before, count, filled, out = before + count, 0, 0, None
                if out is None:
                    piece = folder / f"piece-{before}.csv"
                    out = piece.open("wb")
                    out.write(header)
                out.write(line)
                if not quoted:
                    count += 1
                    filled += line not in (b"\n", b"\r\n")
                quoted ^= line.count(b'"') % 2 == 1
        if out is not None:
            out.close()
            out = None
            yield piece, before
    finally:
        if out is not None:  # given up half-way: the partner's data is not left behind
            out.close()
            piece.unlink(missing_ok=True)
