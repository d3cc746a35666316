"""Read stage: turn one messy partner CSV into a DuckDB table of text cells with spreadsheet rows.

Handles UTF-8 (with or without BOM), UTF-16 with BOM (Excel "Unicode text"), cp1252, and
`,` `;` tab `|` delimiters. Header names are matched to the shared template through aliases.
Nothing from the file is ever interpolated into SQL: columns are read positionally as c0..cN.
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


def _decodes_as(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _transcode(path: Path, encoding: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with path.open("r", encoding=encoding, newline="") as src, \
            target.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
    return target


def detect_encoding(path: Path, head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRejected(Problem(
            "not_a_csv", "This is an Excel workbook, not a CSV file. In Excel choose File > Save As "
            "> 'CSV UTF-8 (Comma delimited)' and send that file instead."))
    if b"\x00" in head:
        raise FileRejected(Problem(
            "binary_file", "This file contains binary data, not text. Please export the data as a "
            "CSV file (comma-separated text)."))
    if _decodes_as(path, "utf-8-sig"):
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    if _decodes_as(path, "cp1252"):
        return "cp1252"
    raise FileRejected(Problem(
        "unknown_encoding", "The text encoding of this file could not be recognised (it is neither "
        "UTF-8 nor Windows-1252). Please save it as 'CSV UTF-8'."))


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
    digest = sha256_file(path)
    encoding = detect_encoding(path, head)
    readable = path
    if encoding in ("utf-16", "cp1252"):
        readable = _transcode(path, encoding, staging_dir / f"{digest}.utf8.csv")
    with readable.open("r", encoding="utf-8-sig", newline="") as text:
        first_line = text.readline(MAX_FIELD_BYTES)
    header_line = first_line.rstrip("\r\n")
    if not header_line.strip():
        raise FileRejected(Problem("no_header", "The first line of the file is blank. Row 1 must "
                                   "hold the column names of the shared template.", row=1))
    delimiter = _pick_delimiter(header_line)
    header = next(csv.reader(io.StringIO(header_line), delimiter=delimiter))
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
            names = ", ".join(repr(a) for a in (name, *schema.column(name).aliases))
            problems.append(Problem(
                "missing_column", f"Required column {name!r} is missing. Row 1 needs a column "
                f"named one of: {names}.", row=1, column=name))
    if problems:
        raise FileRejected(problems)
    return mapped


def load_csv(con: duckdb.DuckDBPyConnection, sniffed: Sniffed, header_map: HeaderMap,
             table: str = "raw") -> list[Problem]:
    """Create `table` (_row, canonical text columns...) and return rows the CSV parser refused."""
    width = len(sniffed.header)
    columns = {f"c{i}": "VARCHAR" for i in range(width)}
    options = dict(auto_detect=False, header=False, skip=1, delim=sniffed.delimiter, quote='"',
                   escape='"', columns=columns, store_rejects=True, ignore_errors=True,
                   strict_mode=True, max_line_size=MAX_FIELD_BYTES, encoding="utf-8")
    arguments = ", ".join(f"{key} := ${key}" for key in options)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _csv AS "
                    f"SELECT * FROM read_csv($path, {arguments})",
                    {"path": str(sniffed.readable_path), **options})
    except duckdb.Error as exc:
        raise FileRejected(Problem("unreadable_csv", "The file could not be read as CSV: "
                                   f"{str(exc).splitlines()[0]}")) from None

    rejects = con.execute(
        "SELECT line, any_value(error_type)::VARCHAR, any_value(column_name) FROM reject_errors "
        "GROUP BY line ORDER BY line").fetchall()
    # DuckDB numbers records like spreadsheet rows (header = 1); loaded rows skip rejected ones.
    con.execute("CREATE OR REPLACE TEMP TABLE _rejected_lines AS "
                "SELECT DISTINCT line::BIGINT AS line FROM reject_errors")
    row_expr = ("rowid + 2 + (SELECT count(*) FROM (SELECT line - row_number() OVER (ORDER BY line)"
                " - 1 AS loaded_before FROM _rejected_lines) r WHERE r.loaded_before <= _csv.rowid)"
                if rejects else "rowid + 2")
    select = ", ".join(f"NULLIF(trim(c{pos}), '') AS {name}"
                       for pos, name in sorted(header_map.positions.items()))
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT ({row_expr})::BIGINT AS _row, {select} "
                f"FROM _csv ORDER BY rowid")
    con.execute("DROP TABLE _csv")
    return [_parse_problem(line, error_type, width) for line, error_type, _ in rejects]


_PARSE_MESSAGES = {
    "MISSING COLUMNS": "This row has fewer cells than the header ({width}).",
    "TOO MANY COLUMNS": "This row has more cells than the header ({width}); look for an extra "
                        "delimiter or an unquoted comma.",
    "UNQUOTED VALUE": "A quote mark opens a cell that never closes; everything after it was "
                      "unreadable.",
    "LINE SIZE OVER MAXIMUM": "This row is longer than 1 MB; a cell is probably corrupt.",
    "INVALID ENCODING": "This row contains characters that are not valid text.",
}


def _parse_problem(line: int, error_type: str, width: int) -> Problem:
    message = _PARSE_MESSAGES.get(error_type, "This row could not be read as CSV.")
    return Problem("malformed_row", message.format(width=width), row=int(line))
