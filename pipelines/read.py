"""Read stage: turn one messy partner CSV into a DuckDB table of text cells with spreadsheet rows.

The encoding is recognised (and a non-UTF-8 file transcoded) by pipelines.read_encoding; `,` `;`
tab and `|` delimiters are told apart here. Header names are matched to the shared template
through aliases. Nothing from the file is ever interpolated into SQL: columns are read
positionally as c0..cN.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from pipelines import csv_rows, wide_copy, workbook
from pipelines.config import Crosswalk, IntakeSchema
from pipelines.csv_rows import Malformed
from pipelines.header_record import DELIMITERS, Header, one_line, one_line_copy, read_header
from pipelines.lines import (MAX_FIELD_BYTES, LineScan, LineScanner, cap_long_lines, lf_copy,
                             mixed_line_endings, scan_lines)
# Under its old private name: benchmarks/profile_stages.py times it through this module.
from pipelines.lines import blank_rows as _blank_rows
from pipelines.problems import FileRejected, Problem
from pipelines.sql import sql_literal
from pipelines.unicode_forms import header_form
from pipelines.workbook_formats import column_letter
# Read through this module's names: benchmarks/profile_stages.py times sha256_file,
# detect_encoding and _transcode by replacing them here.
from pipelines.read_encoding import (CODECS, BackgroundDigest, _transcode, detect_encoding,
                                     sha256_file)


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
    # The header's cells as written, when one holds a line break (Excel's Alt+Enter): what a
    # repeated header holds. `header` reads each such break as a space, and `readable_path`
    # holds the header on one line (pipelines.header_record).
    header_cells: list[str] | None = None
    sheet: str | None = None  # the worksheet read, for a workbook
    # The header's cells in the partner's file when `readable_path` holds fewer (its columns
    # outside the template folded into one, pipelines.wide_copy.fold): what messages say.
    width_sent: int | None = None


@dataclass
class HeaderMap:
    positions: dict[int, str]  # file column position -> canonical column name
    ignored: list[str] = field(default_factory=list)
    unnamed: list[int] = field(default_factory=list)  # positions whose header cell is blank


def _pick_delimiter(header_line: str) -> str:
    """By cell count alone, from one line (the CSV path uses header_record.read_header)."""
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
    """`schema` and `crosswalk` say which names are template columns: for a workbook, which
    sheet to read and which row is the header (the first naming one); for a CSV file, which
    delimiter it uses (the one under which the header names the most)."""
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
        # A file thousands of columns wide only because of empty ones: read without them.
        return wide_copy.narrow(_sniff_text(path, staging_dir, digest, size, head, schema,
                                            crosswalk))
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
    lookup = _lookup(schema, crosswalk or Crosswalk()) if schema is not None else None
    with readable.open("r", encoding="utf-8-sig", newline="") as text:
        found = read_header(text, None if lookup is None else
                            (lambda name: normalize_name(name) in lookup))
    delimiter, header = found.delimiter, found.names
    if lookup is not None and sum(normalize_name(n) in lookup for n in header) < 2:
        _refuse_title_rows(readable, delimiter, lookup)
    if found.wrapped:
        readable = one_line_copy(readable, staging_dir / f"{digest.result()}.utf8.csv", delimiter)
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
                   lines=lines, header_cells=found.cells if found.wrapped else None)


TITLE_ROWS_SEARCHED = 50


def _refuse_title_rows(readable: Path, delimiter: str, lookup: dict[str, str]) -> None:
    """When row 1 is not the column names but a later row is (a report's title block above the
    table), say which row, in the partner's words; otherwise let the header check speak."""
    first: list[str] = []  # row 1, for Excel's `sep=,` hint
    with readable.open("r", encoding="utf-8-sig", newline="") as text:
        rows = itertools.islice(csv.reader(text, delimiter=delimiter), TITLE_ROWS_SEARCHED)
        try:
            for number, row in enumerate(rows, start=1):
                named = [cell.strip() for cell in row if normalize_name(cell) in lookup]
                first = row if number == 1 else first
                if number > 1 and len(named) >= 2:
                    break
            else:
                return
        except csv.Error:  # a cell too long for a row of names: no header below
            return
    hint = delimiter.join(first).strip()
    if number == 2 and re.fullmatch(r"sep=.?", hint, re.IGNORECASE):
        # Excel reads this line as the delimiter and hides it: there the names are row 1.
        raise FileRejected(Problem(
            "title_rows_above_header", f"The file's first line is {hint!r}, "
            "a hint some exports add for Excel. Excel uses it and does not show it, so the "
            "column names look like row 1 there, but they are on the file's second line. "
            "Export the file without that line (or delete it in a text editor such as "
            "Notepad) and send the file again.", row=1))
    shown = ", ".join(repr(n) for n in named[:4])
    raise FileRejected(Problem(
        "title_rows_above_header", f"Row {number} looks like the column names (it names "
        f"{shown}), but the file starts with {number - 1} other row{'s' if number > 2 else ''} "
        "above it. Delete the rows above the column names so that they are row 1, and send the "
        "file again.", row=number))


def _sniff_workbook(path: Path, staging_dir: Path, digest: str, size: int, kind: str,
                    schema: IntakeSchema | None, crosswalk: Crosswalk | None) -> Sniffed:
    target = staging_dir / f"{digest}.utf8.csv"
    crosswalk = crosswalk or Crosswalk()
    lookup = _lookup(schema, crosswalk) if schema is not None else None
    try:
        period = schema.role_column("period") if schema is not None else None
        sheet = workbook.to_csv(
            path, target, crosswalk.sheet,
            None if lookup is None else (lambda c: normalize_name(c) in lookup),
            None if lookup is None else (lambda c: lookup.get(normalize_name(c)) == period),
            None if lookup is None else (lambda row: set(schema.required) <= {
                lookup.get(normalize_name(c)) for c in row if c.strip()}))
        found = Header(",", sheet.header, [one_line(c) for c in sheet.header])
        if schema is not None:
            # Checked here, where the header's sheet row is known, so the reasons name it.
            try:
                map_header(found.names, schema, crosswalk, header_row=sheet.row_offset + 1,
                           first_column=sheet.first_column)
            except FileRejected as rejected:  # which sheet, when no sheet had the header
                raise FileRejected([replace(p, message=f"Sheet {sheet.name!r}: {p.message}")
                                    for p in rejected.problems]) from None
        if found.wrapped:  # written as the sheet has it, line break and all, as a CSV export
            one_line_copy(target, target, ",")
    except BaseException:
        target.unlink(missing_ok=True)  # the partner's data, not kept for a rejected file
        raise
    return Sniffed(digest, size, kind, ",", found.names, target, staging_dir, sheet.row_offset,
                   header_cells=found.cells if found.wrapped else None, sheet=sheet.name)


def normalize_name(name: str) -> str:
    # In NFKC first: a header with accents written as separate marks (macOS) is the same name.
    # Spaces and punctuation are dropped, not only folded: exports write "StudentNumber" and
    # "Student_Number" for the template's "Student Number" (the intake schemas promise this).
    return re.sub(r"[\W_]+", "", header_form(name).lstrip("\ufeff").lower())


def _lookup(schema: IntakeSchema, crosswalk: Crosswalk) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for column in schema.columns:
        for alias in (column.name, *column.aliases):
            lookup[normalize_name(alias)] = column.name
    for local, canonical in crosswalk.header_aliases.items():
        lookup[normalize_name(local)] = canonical
    return lookup


def _two_question_hint(schema: IntakeSchema, canonical: str, first: str, second: str) -> str:
    """A "Race" and an "Ethnicity" column are the two-question format (Hispanic or Latino asked
    apart), not one column twice: keeping only one, as the message says, drops either every
    race or every Hispanic person. Say how the crosswalk keeps both."""
    hispanic = next((c.name for c in schema.by_role("race_flag") if c.race_code == "hispanic"),
                    None)
    if canonical != schema.role_column("race_codes") or hispanic is None:
        return ""
    ethnicity = next((name for name in (second, first) if "ethnic" in normalize_name(name)
                      and "race" not in normalize_name(name)), None)
    if ethnicity is None:
        return ""
    return (f"if {ethnicity!r} is a separate question (Hispanic or Latino or not), do not "
            f"delete it: that would count every Hispanic person as not Hispanic. Keep both "
            f"columns and ask the backbone team to add to your crosswalk header_aliases "
            f"{{{ethnicity!r}: {hispanic}}} and values {{{hispanic}: {{\"Hispanic or Latino\": "
            f"1, \"Not Hispanic or Latino\": 0}}}} (your own words for both answers); "
            f"otherwise keep only one of them.")


def map_header(header: list[str], schema: IntakeSchema, crosswalk: Crosswalk,
               header_row: int = 1, first_column: int = 0) -> HeaderMap:
    lookup = _lookup(schema, crosswalk)
    # The partner's crosswalk names their column for a template column: a column that only
    # matches one of the template's aliases for it is left aside, not a duplicate ("Income" in a
    # file whose crosswalk says "HH Income" is the income is some other income).
    own = {normalize_name(local) for local in crosswalk.header_aliases}
    chosen = {lookup[normalize_name(raw)] for raw in header if normalize_name(raw) in own}

    mapped = HeaderMap(positions={})
    seen: dict[str, str] = {}
    repeats: dict[str, list[str]] = {}  # template column -> its columns after the first
    problems = []
    for position, raw_name in enumerate(header):
        canonical = lookup.get(normalize_name(raw_name))
        if canonical in chosen and normalize_name(raw_name) not in own:
            canonical = None
        if canonical is None:
            if raw_name.strip():
                mapped.ignored.append(raw_name)
            else:
                mapped.unnamed.append(position)
            continue
        if canonical in seen:
            repeats.setdefault(canonical, []).append((raw_name, position))
            continue
        seen[canonical] = raw_name
        mapped.positions[position] = canonical

    # One problem per template column, however often it repeats: a header of 1,000 copies of
    # one name made a reason of 1,000 identical lines.
    for canonical, extra in repeats.items():
        first = seen[canonical]
        # Told apart by their letters, as Excel shows them: two columns may share a name.
        named = [f"{name!r} (column {column_letter(first_column + position)})" for name, position
                 in [(first, header.index(first)), *extra][:3]]
        if len(extra) == 1:
            said = f"Columns {named[0]} and {named[1]} both mean"
        else:
            said = (f"Columns {', '.join(named)} and {len(extra) - 2:,} more ({len(extra) + 1:,} "
                    "columns in all) all mean")
        problems.append(Problem(
            "duplicate_column", f"{said} {canonical!r}; "
            + (_two_question_hint(schema, canonical, first, extra[0][0])
               or "keep only one of them."),
            row=header_row, column=extra[0][0]))
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
    """Create `table` (_row, then `expose`), and `_malformed`: the records set aside (refused
    by the parser, a repeated header, a NUL in a cell; see pipelines.csv_rows).

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
    cell = ("NULLIF(trim({0}), '')" if scan.edge_space or not TRIM_ONLY_WHEN_NEEDED else "{0}")
    if scan.formula:
        # `="2023"` is what Excel shows as 2023 (some systems wrap every cell so): that text.
        text = "trim({0})" if cell != "{0}" else "{0}"
        cell = (f"NULLIF(CASE WHEN starts_with({text}, '=\"') AND ends_with({text}, '\"') "
                f"AND length({text}) > 2 THEN {text}[3:-2] ELSE {text} END, '')")
    # Only the template's columns are kept: an ignored column (a campus name, a free-text note)
    # would otherwise be held in memory for nothing. Every column is still parsed, so a row with
    # too many or too few cells is refused all the same.
    texts = ", ".join(f"{cell.format(f'c{pos}')} AS {name}"
                      for pos, name in sorted(header_map.positions.items())) or "c0"
    select = select or ", ".join(name for _, name in sorted(header_map.positions.items()))
    # A record whose every cell (ignored columns too) is empty or blank is what a spreadsheet
    # writes for an empty row (",,,,"): a blank line, as in a workbook, so not a row to validate.
    # A repeated header, or a NUL in a template cell, is set aside with its problem. Such records
    # keep their place in the row numbering (see pipelines.csv_rows).
    positions = sorted(header_map.positions)
    aside = csv_rows.aside_sql(cell, sniffed.header_cells or sniffed.header, positions, scan.nul)
    # Not TEMP: other connections (GX's) read it through the view.
    parse = (f"SELECT {select}, _aside FROM (SELECT {texts}, ({aside}) AS _aside "
             f"FROM read_csv($path, {arguments}))")
    try:
        csv_rows.parse(con, sniffed.readable_path, width, sniffed.scratch, parse, options,
                       scan.count, scan.lone_carriage_return, REFUSED_CELLS_PER_SCAN)
    except duckdb.OutOfMemoryException:
        raise  # the machine's limit, not the partner's file: it stays in intake for a rerun
    except duckdb.Error as exc:
        if sniffed.scratch is not None and mixed_line_endings(sniffed.readable_path):
            # Lines ending CR LF and LF alone in one file: read from a copy with one ending.
            copy = lf_copy(sniffed.readable_path,
                           sniffed.scratch / f"{sniffed.sha256}.lf.utf8.csv")
            return load_csv(con, replace(sniffed, readable_path=copy, lines=None), header_map,
                            table, materialize, select, expose)
        raise FileRejected(Problem("unreadable_csv", "The file could not be read as CSV: "
                                   f"{str(exc).splitlines()[0]}")) from None
    return csv_rows.number_rows(con, sniffed.readable_path, sniffed.header, positions,
                                sniffed.delimiter, sniffed.row_offset, scan.count, table,
                                materialize, expose or "* EXCLUDE (_row, _aside)", _blank_rows,
                                sniffed.width_sent)


def unnamed_columns(con: duckdb.DuckDBPyConnection, sniffed: Sniffed,
                    positions: list[int]) -> list[str]:
    """The columns without a name in the header row that hold values, in the partner's words
    ("the column after 'Race' (12 rows with a value)"): they are not read, and a merged header
    cell (which names only its first column) or a forgotten name would otherwise lose them
    without a word. One extra scan of the file, only when its header has a blank cell."""
    if not positions:
        return []
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(sniffed.header))) + "}"
    counts = ", ".join(f"count(NULLIF(trim(c{p}), ''))" for p in positions)
    try:
        found = con.execute(
            f"SELECT {counts} FROM read_csv({sql_literal(str(sniffed.readable_path))}, "
            f"auto_detect = false, header = false, skip = 1, "
            f"delim = {sql_literal(sniffed.delimiter)}, quote = '\"', escape = '\"', "
            f"columns = {columns}, ignore_errors = true, null_padding = true, "
            f"max_line_size = {MAX_FIELD_BYTES}, encoding = 'utf-8')").fetchone()
    except duckdb.Error:
        return []  # the load itself says what is wrong with the file
    said = []
    for position, count in zip(positions, found):
        if count:
            before = next((sniffed.header[p].strip() for p in range(position - 1, -1, -1)
                           if sniffed.header[p].strip()), None)
            where = f"the column after {before!r}" if before else "the first column"
            said.append(f"{where} ({count:,} row{'s' if count != 1 else ''} with a value)")
    return said


# False only in tests: every cell trimmed, as the general path, to compare with the fast one.
TRIM_ONLY_WHEN_NEEDED = True

# DuckDB holds about 1 KB per refused cell until its scan ends, whatever rejects_limit says
# (400k short rows of a 5-column file: 1.3 GB), so a file with many refused rows is parsed in
# pieces, each of at most this many cells.
REFUSED_CELLS_PER_SCAN = 100_000
