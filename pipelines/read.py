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

from pipelines.config import Crosswalk, IntakeSchema
from pipelines.problems import FileRejected, Problem

CHUNK = 16 * 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
MAX_FIELD_BYTES = 1_000_000


@dataclass(frozen=True)
class Sniffed:
    sha256: str
    size: int
    encoding: str  # what the partner sent
    delimiter: str
    header: list[str]
    readable_path: Path  # UTF-8 file DuckDB reads: the original, or a transcoded copy


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
    (b"\xd0\xcf\x11\xe0", "an Excel workbook (.xls)", "In Excel choose File > Save As > 'CSV "
     "UTF-8 (Comma delimited)' and send that file instead."),
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
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(b"PK\x03\x04"):
        kind = "an Excel workbook" if b"xl/" in head else "a Word document" \
            if b"word/" in head else "a ZIP archive (compressed files)"
        advice = ("In Excel choose File > Save As > 'CSV UTF-8 (Comma delimited)' and send that "
                  "file instead." if "Excel" in kind else "Send the CSV file itself instead.")
        raise FileRejected(Problem("not_a_csv", f"This is {kind}, not a CSV file. {advice}"))
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


def sniff(path: Path, staging_dir: Path) -> Sniffed:
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
    return Sniffed(digest, size, encoding, delimiter, header, readable)


def normalize_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lstrip("\ufeff").lower()).strip("_")


def map_header(header: list[str], schema: IntakeSchema, crosswalk: Crosswalk) -> HeaderMap:
    lookup: dict[str, str] = {}
    for column in schema.columns:
        for alias in (column.name, *column.aliases):
            lookup[normalize_name(alias)] = column.name
    for local, canonical in crosswalk.header_aliases.items():
        lookup[normalize_name(local)] = canonical

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
                f"{canonical!r}; keep only one of them.", row=1, column=raw_name))
            continue
        seen[canonical] = raw_name
        mapped.positions[position] = canonical

    for name in schema.required:
        if name not in seen:
            # The partner's own name for the column first: that is what their export calls it.
            local = [k for k, v in crosswalk.header_aliases.items() if v == name]
            names = ", ".join(repr(a) for a in (*local, name, *schema.column(name).aliases))
            problems.append(Problem(
                "missing_column", f"Required column {name!r} is missing. Row 1 needs a column "
                f"named one of: {names}.", row=1, column=name))
    if problems:
        raise FileRejected(problems)
    return mapped


def load_csv(con: duckdb.DuckDBPyConnection, sniffed: Sniffed, header_map: HeaderMap,
             table: str = "raw", materialize: bool = True, select: str | None = None,
             expose: str | None = None) -> list[Problem]:
    """Create `table` (_row, then `expose`) and return the rows the CSV parser refused.

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
    try:
        # Not TEMP: other connections (GX's) read it through the view.
        con.execute(f"CREATE OR REPLACE TABLE _csv AS SELECT {select} FROM "
                    f"(SELECT {texts} FROM read_csv($path, {arguments}))",
                    {"path": str(sniffed.readable_path), **options})
    except duckdb.OutOfMemoryException:
        raise  # the machine's limit, not the partner's file: it stays in intake for a rerun
    except duckdb.Error as exc:
        raise FileRejected(Problem("unreadable_csv", "The file could not be read as CSV: "
                                   f"{str(exc).splitlines()[0]}")) from None

    rejects = con.execute(
        "SELECT line, any_value(error_type)::VARCHAR, any_value(column_name), "
        "bool_or(error_type = 'UNQUOTED VALUE' AND contains(rtrim(csv_line, chr(13) || chr(10)), "
        "chr(10))) FROM reject_errors GROUP BY line ORDER BY line").fetchall()
    for line, _, _, swallowed in rejects:
        # A quote that never closes makes the rest of the file one cell: the rows after it are
        # not bad rows, they are missing, so loading the rest would silently drop them.
        if swallowed:
            con.execute("DROP TABLE _csv")
            raise FileRejected(Problem(
                "unterminated_quote", f"Row {line} has a quote mark (\") that opens a cell and "
                "never closes, so everything from that row to the end of the file reads as one "
                "cell. Remove the stray quote mark (or close it) and send the file again.",
                row=int(line)))
    # DuckDB numbers records like spreadsheet rows (header = 1) and skips empty lines without a
    # trace; loaded rows skip both rejected lines and empty lines.
    records = con.execute("SELECT count(*) FROM _csv").fetchall()[0][0] + len(rejects)
    # One line per record and the header: no blank line and no quoted line break, so nothing to
    # look for (counting line breaks is 3x faster than searching for blank lines).
    blank = [] if _line_count(sniffed.readable_path) == records + 1 \
        else _blank_rows(sniffed.readable_path)
    con.execute("CREATE OR REPLACE TEMP TABLE _rejected_lines AS "
                "SELECT DISTINCT line::BIGINT AS line FROM reject_errors "
                "UNION SELECT unnest($blank)::BIGINT", {"blank": blank})
    gaps = con.execute("SELECT count(*) FROM _rejected_lines").fetchall()[0][0]
    expose = expose or "* EXCLUDE (_row)"
    source = "(SELECT (rowid + 2)::BIGINT AS _row, * FROM _csv)"
    if gaps:
        con.execute(
            "CREATE OR REPLACE TABLE _csv_rows AS SELECT (rowid + 2 + (SELECT count(*) FROM "
            "(SELECT line - row_number() OVER (ORDER BY line) - 1 AS loaded_before FROM "
            "_rejected_lines) r WHERE r.loaded_before <= _csv.rowid))::BIGINT AS _row, * "
            "FROM _csv ORDER BY rowid")
        con.execute("DROP TABLE _csv")
        source = "_csv_rows"
    if materialize:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT _row, {expose} "
                    f"FROM {source} ORDER BY _row")
        con.execute(f"DROP TABLE {'_csv_rows' if gaps else '_csv'}")
    else:
        # CREATE TABLE AS keeps the file's order (preserve_insertion_order): rowid is the position.
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT _row, {expose} FROM {source}")
    return [_parse_problem(line, error_type, width) for line, error_type, _, _ in rejects]


def _line_count(path: Path) -> int:
    """Lines in the file, the last one counted whether or not it ends with a line break."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _blank_rows(path: Path) -> list[int]:
    """Spreadsheet rows of the empty lines outside quoted cells (a quoted newline is one row)."""
    rows: list[int] = []
    with path.open("rb") as handle:
        tail, found = b"", False
        while not found and (chunk := handle.read(CHUNK)):  # the usual case: none, checked fast
            found = b"\n\n" in tail + chunk or b"\n\r\n" in tail + chunk
            tail = chunk[-2:]
        if not found:
            return rows
        handle.seek(0)
        row, quoted = 0, False
        for line in handle:  # UTF-8: '"' and newline bytes never occur inside a character
            if not quoted:
                row += 1
                if line in (b"\n", b"\r\n"):
                    rows.append(row)
            quoted ^= line.count(b'"') % 2 == 1
    return rows


_PARSE_MESSAGES = {
    "MISSING COLUMNS": "This row has fewer cells than the header ({width}).",
    "TOO MANY COLUMNS": "This row has more cells than the header ({width}); look for an extra "
                        "delimiter or an unquoted comma.",
    "UNQUOTED VALUE": "A quote mark (\") is out of place: a cell that starts with a quote must "
                      "end with one, directly before the next delimiter.",
    "LINE SIZE OVER MAXIMUM": "This row is longer than 1 MB; a cell is probably corrupt.",
    "INVALID ENCODING": "This row contains characters that are not valid text.",
}


def _parse_problem(line: int, error_type: str, width: int) -> Problem:
    message = _PARSE_MESSAGES.get(error_type, "This row could not be read as CSV.")
    return Problem("malformed_row", message.format(width=width), row=int(line))
