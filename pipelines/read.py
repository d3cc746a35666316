"""Read stage: turn one messy partner CSV into a DuckDB table of text cells with spreadsheet rows.

The encoding is recognised (and a non-UTF-8 file transcoded) by pipelines.read_encoding; `,` `;`
tab and `|` delimiters are told apart here. Header names are matched to the shared template
through aliases. Nothing from the file is ever interpolated into SQL: columns are read
positionally as c0..cN.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines import workbook
from pipelines.config import Crosswalk, IntakeSchema
from pipelines.lines import (MAX_FIELD_BYTES, LineScan, LineScanner, cap_long_lines, scan_lines,
                             split_records)
# Under its old private name: benchmarks/profile_stages.py times it through this module.
from pipelines.lines import blank_rows as _blank_rows
from pipelines.problems import FileRejected, Problem
# Read through this module's names: benchmarks/profile_stages.py times sha256_file,
# detect_encoding and _transcode by replacing them here.
from pipelines.read_encoding import (CODECS, BackgroundDigest, _transcode, detect_encoding,
                                     sha256_file)
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
    lines: LineScan | None = None  # scan_lines(readable_path, delimiter), when already done


@dataclass(frozen=True)
class Malformed:
    """The rows the CSV parser refused, left in table `_malformed` (_row, rule, message)."""
    count: int
    first: Problem | None  # the first of them, to quote in a rejection


@dataclass
class HeaderMap:
    positions: dict[int, str]  # file column position -> canonical column name
    ignored: list[str] = field(default_factory=list)


def _pick_delimiter(header_line: str) -> str:
    counts = {d: len(next(csv.reader([header_line], delimiter=d))) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 1 else ","


def _guess_delimiter(head: bytes) -> str | None:
    line = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    line = line.split("\n", 1)[0].split("\r", 1)[0]
    try:
        return _pick_delimiter(line)
    except csv.Error:  # a NUL byte: not a text file, detect_encoding says what it is
        return None


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
    digest = BackgroundDigest(path, sha256_file)
    try:
        return _sniff_text(path, staging_dir, digest, size, head, schema, crosswalk)
    finally:
        digest.wait()  # never left reading the partner's file after a rejection


def _sniff_text(path: Path, staging_dir: Path, digest: BackgroundDigest, size: int, head: bytes,
                schema: IntakeSchema | None, crosswalk: Crosswalk | None) -> Sniffed:
    # The delimiter the header will likely give: a UTF-8 file is then scanned line by line in
    # the encoding check's read. Used only if the header does give it (a guess, never trusted).
    guess = _guess_delimiter(head)
    scanner = LineScanner(guess) if guess else None
    encoding = detect_encoding(path, head, scanner)
    if encoding in ("xlsx", "xls"):
        return _sniff_workbook(path, staging_dir, digest.result(), size, encoding, schema,
                               crosswalk)
    readable = path
    if encoding in CODECS:
        readable = _transcode(path, encoding, staging_dir / f"{digest.result()}.utf8.csv")
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
    # Scanned here, not in load_csv, so the hash runs beside this pass too.
    if (encoding in ("utf-8", "utf-8-sig") and readable == path and scanner is not None
            and scanner.delimiter == delimiter and scanner.aligned):
        lines = scanner.result()  # fed every chunk of this file: detect_encoding said UTF-8
    else:
        lines = scan_lines(readable, delimiter)
    if lines.long_line:
        capped = cap_long_lines(readable, staging_dir / f"{digest.result()}.utf8.csv",
                                delimiter.encode() * (len(header) - 1))
        if capped != readable:
            readable, lines = capped, scan_lines(capped, delimiter)
    return Sniffed(digest.result(), size, encoding, delimiter, header, readable, staging_dir,
                   lines=lines)


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
                   strict_mode=True, max_line_size=MAX_FIELD_BYTES, encoding="utf-8",
                   nullstr="", allow_quoted_nulls=True)
    arguments = ", ".join(f"{key} := ${key}" for key in options)
    scan = sniffed.lines if sniffed.lines is not None else scan_lines(sniffed.readable_path,
                                                                       sniffed.delimiter)
    # trim() was a fifth of parsing and typing a file of short cells: it is left out when the
    # scan proves it would change no cell (the usual export), and kept otherwise.
    # The parser reads an empty cell, quoted or not, as NULL (nullstr '', allow_quoted_nulls), so
    # an untrimmed cell is never '' and NULLIF has nothing to do (7% of parsing a numeric file).
    cell = ("NULLIF(trim({}), '')" if scan.edge_space or not TRIM_ONLY_WHEN_NEEDED else "{}")
    # Only the template's columns are kept: an ignored column (a campus name, a free-text note)
    # would otherwise be held in memory for nothing. Every column is still parsed, so a row with
    # too many or too few cells is refused all the same.
    texts = ", ".join(f"{cell.format(f'c{pos}')} AS {name}"
                      for pos, name in sorted(header_map.positions.items())) or "c0"
    select = select or ", ".join(name for _, name in sorted(header_map.positions.items()))
    # A record whose every cell (ignored columns too) is empty or blank is what a spreadsheet
    # writes for an empty row (",,,,"): a blank line, as in a workbook, so not a row to validate.
    # It keeps its place in the row numbering. Blank includes what no one can see (tabs,
    # zero-width spaces, a stray BOM). One flag per row; the usual row's first cell starts with
    # a visible ASCII character, which settles it with one code point test.
    def unseen(i: int) -> str:
        text = cell.format(f"c{i}")
        return (f"({text} IS NULL OR (NOT ascii({text}) BETWEEN 33 AND 126 AND "
                f"regexp_full_match({text}, '[\\s\\p{{Cc}}\\p{{Cf}}\\p{{Z}}]*')))")
    first = cell.format("c0")
    blank = (f"CASE WHEN ascii({first}) BETWEEN 33 AND 126 THEN false ELSE "
             + " AND ".join(unseen(i) for i in range(width)) + " END")
    # Not TEMP: other connections (GX's) read it through the view.
    parse = (f"SELECT {select}, _blank FROM (SELECT {texts}, ({blank}) AS _blank "
             f"FROM read_csv($path, {arguments}))")
    lines = scan.count
    try:
        _parse(con, sniffed, parse, options, lines, scan.lone_carriage_return)
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
    expose = expose or "* EXCLUDE (_row, _blank)"
    # Blank records are numbered with the others, then left out (one scan of a flag column).
    blanks = con.execute("SELECT count(*) FILTER (WHERE _blank) FROM _csv").fetchall()[0][0]
    kept = " WHERE NOT _blank" if blanks else ""
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
                    f"FROM {source}{kept} ORDER BY _row")
        con.execute(f"DROP TABLE {'_csv_rows' if gaps else '_csv'}")
    else:
        # CREATE TABLE AS keeps the file's order (preserve_insertion_order): rowid is the position.
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT _row, {expose} FROM {source}{kept}")
    return Malformed(refused, Problem(first[0][1], first[0][2], row=int(first[0][0]))
                     if first else None)


# False only in tests: every cell trimmed, as the general path, to compare with the fast one.
TRIM_ONLY_WHEN_NEEDED = True

# DuckDB holds about 1 KB per refused cell until its scan ends, whatever rejects_limit says
# (400k short rows of a 5-column file: 1.3 GB), so a file with many refused rows is parsed in
# pieces, each of at most this many cells.
REFUSED_CELLS_PER_SCAN = 100_000


def _parse(con: duckdb.DuckDBPyConnection, sniffed: Sniffed, parse: str, options: dict,
           lines: int, lone_carriage_return: bool) -> None:
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
    if refused == 0 and not lone_carriage_return:
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

