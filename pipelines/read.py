"""Read stage: turn one messy partner CSV into a DuckDB table of text cells with spreadsheet rows.

Handles UTF-8 (with or without BOM), UTF-16 with BOM (Excel "Unicode text") or without, cp1252,
UTF-8 with stray cp1252 bytes, and `,` `;` tab `|` delimiters. Header names are matched to the
shared template through aliases. Nothing from the file is ever interpolated into SQL: columns
are read positionally as c0..cN.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines import workbook
from pipelines.config import Crosswalk, IntakeSchema
# Under their old private names too: benchmarks/profile_stages.py times them through this module.
from pipelines.lines import (CHUNK, MAX_FIELD_BYTES, cap_long_lines, lone_carriage_return,
                             may_have_long_line, split_records)
from pipelines.lines import blank_rows as _blank_rows
from pipelines.lines import line_count as _line_count
from pipelines.problems import FileRejected, Problem
from pipelines.sql import sql_literal

DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class Sniffed:
    sha256: str
    size: int
    encoding: str  # what the partner sent
    delimiter: str
    header: list[str]
    readable_path: Path  # UTF-8 file DuckDB reads: the original, or a transcoded copy
    scratch: Path | None = None  # this file's staging folder, for working copies
    # Sheet rows above the header (a workbook's title block): added to every row number, so
    # messages name the row the partner sees in Excel.
    row_offset: int = 0


@dataclass(frozen=True)
class Malformed:
    """The rows the CSV parser refused, left in table `_malformed` (_row, rule, message)."""
    count: int
    first: Problem | None  # the first of them, to quote in a rejection


@dataclass
class HeaderMap:
    positions: dict[int, str]  # file column position -> canonical column name
    ignored: list[str] = field(default_factory=list)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _cp1252_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    # Bytes that are not UTF-8 in an otherwise UTF-8 file: text pasted from a Windows program.
    return error.object[error.start:error.end].decode("cp1252"), error.end


codecs.register_error("backbone-cp1252", _cp1252_fallback)
# What the partner sent -> (Python codec, error handler) that turns it into text.
CODECS = {"utf-16": ("utf-16", "strict"), "utf-16-le": ("utf-16-le", "strict"),
          "utf-16-be": ("utf-16-be", "strict"), "cp1252": ("cp1252", "strict"),
          "utf-8+cp1252": ("utf-8-sig", "backbone-cp1252")}
UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|"
                           rb"[\xf0-\xf4][\x80-\xbf]{3}")
# Files that are something else with a .csv name: say what they are, not just "binary".
SIGNATURES = (
    (b"%PDF", "a PDF document", "Export the data from the system that produced the PDF as CSV."),
    (b"\x89PNG", "a PNG image", "Send the data itself as a CSV file, not a picture of it."),
    (b"\xff\xd8\xff", "a JPEG image", "Send the data itself as a CSV file, not a picture of it."),
    (b"GIF8", "a GIF image", "Send the data itself as a CSV file, not a picture of it."),
    (b"\x1f\x8b", "a compressed (gzip) file", "Uncompress it and send the CSV file inside."),
)


def _decodes_as(path: Path, encoding: str, errors: str = "strict") -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


# Every UTF8_SEQUENCE starts with a lead byte (L) followed by a continuation byte (C): a chunk
# without "LC" after this byte-to-class translation (C speed) cannot match, so the regular
# expression (30x slower over a 100 MB Windows-1252 file) only runs on chunks that might.
_BYTE_CLASSES = bytes(ord("L") if 0xC2 <= b <= 0xF4 else ord("C") if 0x80 <= b <= 0xBF
                      else ord(".") for b in range(256))


def _has_utf8_sequences(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            if b"LC" in chunk.translate(_BYTE_CLASSES) and UTF8_SEQUENCE.search(chunk):
                return True
    return False


def _first_unreadable_line(path: Path) -> int | None:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8", errors="backbone-cp1252")
            except UnicodeDecodeError:
                return number
    return None


def _transcode(path: Path, encoding: str, target: Path) -> Path:
    codec, errors = CODECS[encoding]
    target.parent.mkdir(parents=True, exist_ok=True)
    with path.open("r", encoding=codec, errors=errors, newline="") as src, \
            target.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
    return target


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without a byte order mark: ASCII characters leave every other byte zero."""
    even, odd = head[0::2], head[1::2]
    if len(head) < 4:
        return None
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def detect_encoding(path: Path, head: bytes) -> str:
    """The text encoding, or 'xlsx' / 'xls' for an Excel workbook (read by pipelines.workbook)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if (book := workbook.kind(path, head)) is not None:
        return book
    if head.startswith(b"PK\x03\x04"):
        kind = "a Word document" if b"word/" in head else "a ZIP archive (compressed files)"
        raise FileRejected(Problem("not_a_csv", f"This is {kind}, not a CSV file. Send the CSV "
                                   "file itself instead."))
    for magic, kind, advice in SIGNATURES:
        if head.startswith(magic):
            raise FileRejected(Problem("not_a_csv", f"This is {kind}, not a CSV file. {advice}"))
    if b"\x00" in head:
        utf16 = _utf16_without_bom(head)
        if utf16 and _decodes_as(path, utf16):
            return utf16
        raise FileRejected(Problem(
            "binary_file", "This file contains binary data, not text. Please export the data as a "
            "CSV file (comma-separated text)."))
    if _decodes_as(path, "utf-8-sig"):
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    # Mostly UTF-8 with some Windows-1252 bytes (one row pasted from another program): decoding
    # it all as cp1252 would garble the UTF-8 text ("SÃ­"), so each part is read as what it is.
    if _has_utf8_sequences(path) and _decodes_as(path, "utf-8-sig", "backbone-cp1252"):
        return "utf-8+cp1252"
    if _decodes_as(path, "cp1252"):
        return "cp1252"
    line = _first_unreadable_line(path)
    raise FileRejected(Problem(
        "unknown_encoding", "The text encoding of this file could not be recognised (it is neither "
        "UTF-8 nor Windows-1252)" + (f"; the first unreadable character is on line {line}"
                                     if line else "") + ". Please save it as 'CSV UTF-8'.",
        row=line))


def _pick_delimiter(header_line: str) -> str:
    counts = {d: len(next(csv.reader([header_line], delimiter=d))) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 1 else ","


def sniff(path: Path, staging_dir: Path, schema: IntakeSchema | None = None,
          crosswalk: Crosswalk | None = None) -> Sniffed:
    """`schema` and `crosswalk` matter for workbooks only: which sheet to read, and which row
    is the header (the first naming a template column)."""
    size = path.stat().st_size
    if size == 0:
        raise FileRejected(Problem("empty_file", "The file is empty (0 bytes). Please re-export it."))
    with path.open("rb") as handle:
        head = handle.read(65536)
    if size <= len(head) and not head.removeprefix(codecs.BOM_UTF8).strip():
        raise FileRejected(Problem("empty_file", "The file holds only spaces and blank lines: no "
                                   "column names and no data. Please re-export it."))
    digest = sha256_file(path)
    encoding = detect_encoding(path, head)
    if encoding in ("xlsx", "xls"):
        return _sniff_workbook(path, staging_dir, digest, size, encoding, schema, crosswalk)
    readable = path
    if encoding in CODECS:
        readable = _transcode(path, encoding, staging_dir / f"{digest}.utf8.csv")
    with readable.open("r", encoding="utf-8-sig", newline="") as text:
        first_line = text.readline(MAX_FIELD_BYTES)
    header_line = first_line.rstrip("\r\n")
    if not header_line.strip():
        raise FileRejected(Problem("no_header", "The first line of the file is blank. Row 1 must "
                                   "hold the column names of the shared template.", row=1))
    too_long = Problem("bad_header", "Row 1 is far too long to be a row of column names (a cell "
                       "or the row is over 100,000 characters). Row 1 must hold only the column "
                       "names of the shared template; check that the export starts there.", row=1)
    if len(first_line) >= MAX_FIELD_BYTES and not first_line.endswith("\n"):
        raise FileRejected(too_long)
    try:
        delimiter = _pick_delimiter(header_line)
        header = next(csv.reader(io.StringIO(header_line), delimiter=delimiter))
    except csv.Error:  # a header cell over the csv module's field limit (128 KiB)
        raise FileRejected(too_long) from None
    if may_have_long_line(readable):
        readable = cap_long_lines(readable, staging_dir / f"{digest}.utf8.csv",
                                   delimiter.encode() * (len(header) - 1))
    return Sniffed(digest, size, encoding, delimiter, header, readable, staging_dir)


def _sniff_workbook(path: Path, staging_dir: Path, digest: str, size: int, kind: str,
                    schema: IntakeSchema | None, crosswalk: Crosswalk | None) -> Sniffed:
    target = staging_dir / f"{digest}.utf8.csv"
    crosswalk = crosswalk or Crosswalk()
    lookup = _lookup(schema, crosswalk) if schema is not None else None
    try:
        sheet = workbook.to_csv(path, target, crosswalk.sheet,
                                None if lookup is None else (lambda c: normalize_name(c) in lookup))
        if schema is not None:
            # Checked here, where the header's sheet row is known, so the reasons name it.
            map_header(sheet.header, schema, crosswalk, header_row=sheet.row_offset + 1)
    except BaseException:
        target.unlink(missing_ok=True)  # the partner's data, not kept for a rejected file
        raise
    return Sniffed(digest, size, kind, ",", sheet.header, target, staging_dir, sheet.row_offset)


def normalize_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lstrip("\ufeff").lower()).strip("_")


def _lookup(schema: IntakeSchema, crosswalk: Crosswalk) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for column in schema.columns:
        for alias in (column.name, *column.aliases):
            lookup[normalize_name(alias)] = column.name
    for local, canonical in crosswalk.header_aliases.items():
        lookup[normalize_name(local)] = canonical
    return lookup


def map_header(header: list[str], schema: IntakeSchema, crosswalk: Crosswalk,
               header_row: int = 1) -> HeaderMap:
    lookup = _lookup(schema, crosswalk)

    mapped = HeaderMap(positions={})
    seen: dict[str, str] = {}
    problems = []
    for position, raw_name in enumerate(header):
        canonical = lookup.get(normalize_name(raw_name))
        if canonical is None:
            if raw_name.strip():
                mapped.ignored.append(raw_name)
            continue
        if canonical in seen:
            problems.append(Problem(
                "duplicate_column", f"Columns {seen[canonical]!r} and {raw_name!r} both mean "
                f"{canonical!r}; keep only one of them.", row=header_row, column=raw_name))
            continue
        seen[canonical] = raw_name
        mapped.positions[position] = canonical

    for name in schema.required:
        if name not in seen:
            # The partner's own name for the column first: that is what their export calls it.
            local = [k for k, v in crosswalk.header_aliases.items() if v == name]
            names = ", ".join(repr(a) for a in (*local, name, *schema.column(name).aliases))
            problems.append(Problem(
                "missing_column", f"Required column {name!r} is missing. Row {header_row} "
                f"needs a column named one of: {names}.", row=header_row, column=name))
    if problems:
        raise FileRejected(problems)
    return mapped


def load_csv(con: duckdb.DuckDBPyConnection, sniffed: Sniffed, header_map: HeaderMap,
             table: str = "raw", materialize: bool = True, select: str | None = None,
             expose: str | None = None) -> Malformed:
    """Create `table` (_row, then `expose`), and `_malformed`: the rows the CSV parser refused.

    `select` is a SELECT list over the template's columns as trimmed text (NULL when blank),
    computed as the file is parsed and stored; by default, those texts. `expose` is a SELECT list
    over the stored columns: names that cost nothing to compute (aliases, constants) belong there,
    not in `select`, so they are not held in memory. With `materialize=False`, `table` is a view;
    the stored table keeps row numbers implicitly (position) when no line was refused or blank.
    """
    width = len(sniffed.header)
    columns = {f"c{i}": "VARCHAR" for i in range(width)}
    options = dict(auto_detect=False, header=False, skip=1, delim=sniffed.delimiter, quote='"',
                   escape='"', columns=columns, store_rejects=True, ignore_errors=True,
                   strict_mode=True, max_line_size=MAX_FIELD_BYTES, encoding="utf-8")
    arguments = ", ".join(f"{key} := ${key}" for key in options)
    # Only the template's columns are kept: an ignored column (a campus name, a free-text note)
    # would otherwise be held in memory for nothing. Every column is still parsed, so a row with
    # too many or too few cells is refused all the same.
    texts = ", ".join(f"NULLIF(trim(c{pos}), '') AS {name}"
                      for pos, name in sorted(header_map.positions.items())) or "c0"
    select = select or ", ".join(name for _, name in sorted(header_map.positions.items()))
    # Not TEMP: other connections (GX's) read it through the view.
    parse = f"SELECT {select} FROM (SELECT {texts} FROM read_csv($path, {arguments}))"
    lines = _line_count(sniffed.readable_path)
    try:
        _parse(con, sniffed, parse, options, lines)
    except duckdb.OutOfMemoryException:
        raise  # the machine's limit, not the partner's file: it stays in intake for a rerun
    except duckdb.Error as exc:
        raise FileRejected(Problem("unreadable_csv", "The file could not be read as CSV: "
                                   f"{str(exc).splitlines()[0]}")) from None

    # Set-based: a file of 400k refused rows took minutes inserted row by row from Python.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rejected_csv AS SELECT line::BIGINT AS line, "
        "min(error_type)::VARCHAR AS error_type, bool_or(error_type = 'UNQUOTED VALUE' AND "
        "contains(rtrim(csv_line, chr(13) || chr(10)), chr(10))) AS swallowed "
        "FROM _refused GROUP BY line")
    swallowed, refused = con.execute(
        "SELECT min(line) FILTER (WHERE swallowed), count(*) FROM _rejected_csv").fetchall()[0]
    if swallowed is not None:
        # A quote that never closes makes the rest of the file one cell: the rows after it are
        # not bad rows, they are missing, so loading the rest would silently drop them.
        con.execute("DROP TABLE _csv")
        swallowed += sniffed.row_offset
        raise FileRejected(Problem(
            "unterminated_quote", f"Row {swallowed} has a quote mark (\") that opens a cell and "
            "never closes, so everything from that row to the end of the file reads as one "
            "cell. Remove the stray quote mark (or close it) and send the file again.",
            row=int(swallowed)))
    messages = " ".join(f"WHEN {sql_literal(kind)} THEN {sql_literal(text.format(width=width))}"
                        for kind, text in _PARSE_MESSAGES.items())
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _malformed AS SELECT line + $offset AS _row, "
        f"'malformed_row' AS rule, CASE error_type {messages} "
        f"ELSE {sql_literal(_PARSE_DEFAULT)} END AS message FROM _rejected_csv ORDER BY line",
        {"offset": sniffed.row_offset})
    first = con.execute("SELECT _row, rule, message FROM _malformed ORDER BY _row "
                        "LIMIT 1").fetchall()
    # DuckDB numbers records like spreadsheet rows (header = 1) and skips empty lines without a
    # trace; loaded rows skip both rejected lines and empty lines.
    records = con.execute("SELECT count(*) FROM _csv").fetchall()[0][0] + refused
    # One line per record and the header: no blank line and no quoted line break, so nothing to
    # look for (counting line breaks is 3x faster than searching for blank lines).
    blank = [] if lines == records + 1 else _blank_rows(sniffed.readable_path)
    con.execute("CREATE OR REPLACE TEMP TABLE _rejected_lines AS "
                "SELECT line FROM _rejected_csv "
                "UNION SELECT unnest($blank)::BIGINT", {"blank": blank})
    gaps = con.execute("SELECT count(*) FROM _rejected_lines").fetchall()[0][0]
    expose = expose or "* EXCLUDE (_row)"
    # Row 1 is the header (a workbook's header is sheet row `row_offset` + 1).
    first_row = 2 + sniffed.row_offset
    source = f"(SELECT (rowid + {first_row})::BIGINT AS _row, * FROM _csv)"
    if gaps:
        # A loaded row's number is its position plus the gaps before it: gap k (in line order)
        # comes after `line - k - 1` loaded rows. An ASOF join finds each row's last gap in one
        # pass; counting gaps per row with a correlated subquery was quadratic (100k rows, half
        # refused: 23 s).
        con.execute(
            f"CREATE OR REPLACE TABLE _csv_rows AS SELECT (c.rowid + {first_row} + "
            "coalesce(g.gaps, 0))"
            "::BIGINT AS _row, c.* FROM _csv c ASOF LEFT JOIN (SELECT loaded_before, max(k) AS "
            "gaps FROM (SELECT line - k - 1 AS loaded_before, k FROM (SELECT line, row_number() "
            "OVER (ORDER BY line) AS k FROM _rejected_lines)) GROUP BY loaded_before) g "
            "ON c.rowid >= g.loaded_before ORDER BY c.rowid")
        con.execute("DROP TABLE _csv")
        source = "_csv_rows"
    if materialize:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT _row, {expose} "
                    f"FROM {source} ORDER BY _row")
        con.execute(f"DROP TABLE {'_csv_rows' if gaps else '_csv'}")
    else:
        # CREATE TABLE AS keeps the file's order (preserve_insertion_order): rowid is the position.
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT _row, {expose} FROM {source}")
    return Malformed(refused, Problem(first[0][1], first[0][2], row=int(first[0][0]))
                     if first else None)


# DuckDB holds about 1 KB per refused cell until its scan ends, whatever rejects_limit says
# (400k short rows of a 5-column file: 1.3 GB), so a file with many refused rows is parsed in
# pieces, each of at most this many cells.
REFUSED_CELLS_PER_SCAN = 100_000


def _parse(con: duckdb.DuckDBPyConnection, sniffed: Sniffed, parse: str, options: dict,
           lines: int) -> None:
    """`_csv` from `parse`, and `_refused` (line, error_type, csv_line) from the parser's
    rejects, in one scan, or in pieces when a scan without rejects kept many rows out."""
    path = {"path": str(sniffed.readable_path)}
    # Parsed without keeping rejects first: when every line after the header is a loaded row
    # (most files), nothing was refused and this one scan is the parse. Only otherwise is the
    # file scanned again, keeping the parser's rejects, as below (the scan that counted rows
    # first cost a third of parsing and typing a clean file).
    con.execute(f"CREATE OR REPLACE TABLE _csv AS {parse}",
                {**path, **options, "store_rejects": False})
    loaded = con.execute("SELECT count(*) FROM _csv").fetchall()[0][0]
    # An upper bound: a quoted line break or a blank line also makes a line that is no row.
    refused = lines - 1 - loaded
    # Counted lines are line feeds: a lone carriage return (a line end to the parser) would make
    # the count too low, so such a file takes the scan that keeps rejects.
    if refused == 0 and not lone_carriage_return(sniffed.readable_path):
        con.execute("CREATE OR REPLACE TEMP TABLE _refused "
                    "(line BIGINT, error_type VARCHAR, csv_line VARCHAR)")
        return
    con.execute("DROP TABLE _csv")  # parsed again below: never two copies in memory
    per_scan = max(1, REFUSED_CELLS_PER_SCAN // len(sniffed.header))
    if refused <= per_scan or sniffed.scratch is None:
        last = _last_scan(con)
        con.execute(f"CREATE OR REPLACE TABLE _csv AS {parse}", {**path, **options})
        con.execute("CREATE OR REPLACE TEMP TABLE _refused AS SELECT line::BIGINT AS line, "
                    "error_type, csv_line FROM reject_errors WHERE scan_id > $last",
                    {"last": last})
        return
    con.execute("CREATE OR REPLACE TEMP TABLE _refused "
                "(line BIGINT, error_type VARCHAR, csv_line VARCHAR)")
    for number, (piece, before) in enumerate(split_records(
            sniffed.readable_path, sniffed.scratch / "pieces", per_scan)):
        last = _last_scan(con)
        try:
            into = "CREATE OR REPLACE TABLE _csv AS" if number == 0 else "INSERT INTO _csv"
            con.execute(f"{into} {parse}", {**options, "path": str(piece), "skip": 0})
        finally:
            piece.unlink()
        # The piece's line 1 is the file's line `before` + 2 (after the header).
        con.execute("INSERT INTO _refused SELECT line + $offset, error_type, csv_line "
                    "FROM reject_errors WHERE scan_id > $last", {"offset": before + 1,
                                                                 "last": last})


def _last_scan(con: duckdb.DuckDBPyConnection) -> int:
    """The latest scan with rejects on `con` (a scan without any leaves no trace)."""
    try:
        return con.execute("SELECT coalesce(max(scan_id), -1) FROM reject_scans").fetchall()[0][0]
    except duckdb.CatalogException:  # no scan with rejects yet
        return -1


_PARSE_MESSAGES = {
    "MISSING COLUMNS": "This row has fewer cells than the header ({width}).",
    "TOO MANY COLUMNS": "This row has more cells than the header ({width}); look for an extra "
                        "delimiter or an unquoted comma.",
    "UNQUOTED VALUE": "A quote mark (\") is out of place: a cell that starts with a quote must "
                      "end with one, directly before the next delimiter.",
    "LINE SIZE OVER MAXIMUM": "This row is longer than 1 MB; a cell is probably corrupt.",
    "INVALID ENCODING": "This row contains characters that are not valid text.",
}


_PARSE_DEFAULT = "This row could not be read as CSV."

