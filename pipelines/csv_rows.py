"""Which records of a partner CSV are data rows, and the spreadsheet row number of each.

`read.load_csv` builds the parse; this module runs it and sorts what comes out. A record is a
data row unless it is one of these, each keeping its place in the row numbering:

- refused by DuckDB's CSV parser (too few or too many cells, a stray quote, over 1 MB): one
  `malformed_row` problem each, in one SQL statement however many there are;
- blank: every cell empty or invisible (pipelines.invisible), the full width of the header
  (",,,,,,,") or not (",,," in an eight-column file, which the parser refuses for its missing
  cells): not read, not counted, as a blank line;
- the header again (exports pasted one below the other): one `repeated_header` problem;
- a template column's cell holding a NUL character (byte 0, which some exports pad cells with):
  one `nul_character` problem naming the column.

The last three are told apart while the file is parsed, by one flag per record (`_aside`) whose
usual row costs one code point test and one comparison with the header's first name.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.invisible import CLASS, blank_sql, visible_ascii_sql
from pipelines.lines import TRIMMED, split_records
from pipelines.problems import FileRejected, Problem
from pipelines.sql import sql_literal

# `_aside` of a record: NULL for a data row, else one of these, or NUL_AT + the position of the
# first template column whose cell holds a NUL.
BLANK, HEADER, NUL_AT = 0, 1, 2
BLANK_BATCH = 100_000  # blank line numbers handed to DuckDB at once


@dataclass(frozen=True)
class Malformed:
    """The rows set aside before validation, left in table `_malformed` (_row, rule, message)."""
    count: int
    first: Problem | None  # the first of them, to quote in a rejection


def aside_sql(cell: str, header: list[str], positions: list[int], nul: bool) -> str:
    """SQL for a record's `_aside` over its cells c0..cN; `cell` formats a cell as the parse
    reads it (trimmed or not), `positions` are the template columns', `nul` whether the file
    holds a NUL byte at all (else no cell is searched for one)."""
    def named(i: int) -> str:  # the header's name as the parse reads a cell (TRIMMED: trim())
        name = header[i].strip(TRIMMED)
        return sql_literal(name) if name else "NULL::VARCHAR"

    # One list and one concatenation of the record's cells, not a condition per cell: DuckDB
    # binds a chain of N conditions in time growing with N squared (a 1,500-column survey
    # export took 11 s to start parsing; as lists, 0.1 s).
    cells = [cell.format(f"c{i}") for i in range(len(header))]
    first = cells[0]
    # Exports pasted together keep each one's byte order mark, at the start of its header.
    repeats = (f"({first} IS NOT DISTINCT FROM {named(0)} OR {first} = chr(65279) || {named(0)})"
               + (f" AND [{', '.join(cells[1:])}] IS NOT DISTINCT FROM "
                  f"[{', '.join(named(i) for i in range(1, len(header)))}]"
                  if len(header) > 1 else ""))
    usual = f"WHEN {visible_ascii_sql(first)} AND {first} <> {named(0)} THEN NULL"
    # Every cell empty, or only invisible characters: so is their concatenation (NULLs skipped).
    joined = "concat(" + ", ".join(cells) + ")"
    blank = f"WHEN {blank_sql(joined)} THEN {BLANK}"
    if not nul:
        return f"CASE {usual} {blank} WHEN {repeats} THEN {HEADER} END"
    # A row of NULs only is blank (NUL is invisible); any other NUL sets its row aside.
    nuls = " ".join(f"WHEN contains(c{p}, chr(0)) THEN {NUL_AT + p}" for p in positions)
    return f"CASE {blank} {nuls} {usual} WHEN {repeats} THEN {HEADER} END"


def _aside_messages(header: list[str], positions: list[int], header_row: int) -> tuple[str, str]:
    """SQL (rule, message) of a set-aside record, from its `_aside` and `_row`."""
    nul = " ".join(f"WHEN {NUL_AT + p} THEN {sql_literal(_NUL_MESSAGE.format(header[p]))}"
                   for p in positions)
    rule = (f"CASE _aside WHEN {HEADER} THEN 'repeated_header' ELSE 'nul_character' END")
    message = (f"CASE _aside WHEN {HEADER} THEN 'Row ' || _row || ' repeats the header (the "
               f"column names of row {header_row}), as when two exports are pasted one below "
               "the other. It is not data and was set aside; the other rows are kept. Delete the "
               f"repeated header row.' {nul} END")
    return rule, message


def refused_blank_pattern(delimiter: str) -> str:
    """A refused line that is blank: cells of invisible characters, each maybe quoted ("")."""
    cell = f'{CLASS}*(?:"{CLASS}*")?{CLASS}*'
    return f"{cell}(?:[{delimiter}]{cell})*"


def parse(con: duckdb.DuckDBPyConnection, path: Path, width: int, scratch: Path | None,
          parse_sql: str, options: dict, lines: int, lone_carriage_return: bool,
          refused_cells_per_scan: int) -> None:
    """`_csv` from `parse_sql`, and `_refused` (line, error_type, csv_line) from the parser's
    rejects, in one scan, or in pieces when a scan without rejects kept many rows out."""
    where = {"path": str(path)}
    # Parsed without keeping rejects first: when every line after the header is a loaded row
    # (most files), nothing was refused and this one scan is the parse. Only otherwise is the
    # file scanned again, keeping the parser's rejects, as below (the scan that counted rows
    # first cost a third of parsing and typing a clean file).
    con.execute(f"CREATE OR REPLACE TABLE _csv AS {parse_sql}",
                {**where, **options, "store_rejects": False})
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
    per_scan = max(1, refused_cells_per_scan // width)
    if refused <= per_scan or scratch is None:
        last = _last_scan(con)
        con.execute(f"CREATE OR REPLACE TABLE _csv AS {parse_sql}", {**where, **options})
        con.execute("CREATE OR REPLACE TEMP TABLE _refused AS SELECT line::BIGINT AS line, "
                    "error_type, csv_line FROM reject_errors WHERE scan_id > $last",
                    {"last": last})
        return
    con.execute("CREATE OR REPLACE TEMP TABLE _refused "
                "(line BIGINT, error_type VARCHAR, csv_line VARCHAR)")
    for number, (piece, before) in enumerate(split_records(path, scratch / "pieces", per_scan)):
        last = _last_scan(con)
        try:
            into = "CREATE OR REPLACE TABLE _csv AS" if number == 0 else "INSERT INTO _csv"
            con.execute(f"{into} {parse_sql}", {**options, "path": str(piece)})
        finally:
            piece.unlink()
        # The piece's record 2 (after its copy of the header) is the file's `before` + 2.
        con.execute("INSERT INTO _refused SELECT line + $offset, error_type, csv_line "
                    "FROM reject_errors WHERE scan_id > $last", {"offset": before,
                                                                 "last": last})


def _last_scan(con: duckdb.DuckDBPyConnection) -> int:
    """The latest scan with rejects on `con` (a scan without any leaves no trace)."""
    try:
        return con.execute("SELECT coalesce(max(scan_id), -1) FROM reject_scans").fetchall()[0][0]
    except duckdb.CatalogException:  # no scan with rejects yet
        return -1


def number_rows(con: duckdb.DuckDBPyConnection, path: Path, header: list[str],
                positions: list[int], delimiter: str, row_offset: int, lines: int, table: str,
                materialize: bool, expose: str, blank_rows: Callable[[Path], Iterable[int]],
                width_sent: int | None = None) -> Malformed:
    """`table` (_row, then `expose`) from `_csv` and `_refused`: the data rows with their
    spreadsheet numbers; `_malformed`: the records set aside, with theirs. `width_sent`: the
    header's cells in the partner's file, when `path` is a copy with fewer (wide_copy.fold)."""
    width = width_sent or len(header)
    # Set-based: a file of 400k refused rows took minutes inserted row by row from Python.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rejected_csv AS SELECT line::BIGINT AS line, "
        "min(error_type)::VARCHAR AS error_type, bool_or(error_type = 'UNQUOTED VALUE' AND "
        "contains(rtrim(csv_line, chr(13) || chr(10)), chr(10))) AS swallowed, "
        "bool_and(error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS') AND regexp_full_match("
        f"csv_line, {sql_literal(refused_blank_pattern(delimiter))})) AS blank "
        "FROM _refused GROUP BY line")
    swallowed, refused = con.execute(
        "SELECT min(line) FILTER (WHERE swallowed), count(*) FROM _rejected_csv").fetchall()[0]
    if swallowed is not None:
        # A quote that never closes makes the rest of the file one cell: the rows after it are
        # not bad rows, they are missing, so loading the rest would silently drop them.
        con.execute("DROP TABLE _csv")
        swallowed += row_offset
        raise FileRejected(Problem(
            "unterminated_quote", f"Row {swallowed} has a quote mark (\") that opens a cell and "
            "never closes, so everything from that row to the end of the file reads as one "
            "cell. Remove the stray quote mark (or close it) and send the file again.",
            row=int(swallowed)))
    messages = " ".join(f"WHEN {sql_literal(kind)} THEN {sql_literal(text.format(width=width))}"
                        for kind, text in PARSE_MESSAGES.items())
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _malformed AS SELECT line + $offset AS _row, "
        f"'malformed_row' AS rule, CASE error_type {messages} "
        f"ELSE {sql_literal(PARSE_DEFAULT)} END AS message FROM _rejected_csv WHERE NOT blank "
        "ORDER BY line", {"offset": row_offset})
    # DuckDB numbers records like spreadsheet rows (header = 1) and skips empty lines without a
    # trace; loaded rows skip both rejected lines and empty lines.
    records = con.execute("SELECT count(*) FROM _csv").fetchall()[0][0] + refused
    # One line per record and the header: no blank line and no quoted line break, so nothing to
    # look for (counting line breaks is 3x faster than searching for blank lines).
    con.execute("CREATE OR REPLACE TEMP TABLE _blank_lines (line BIGINT)")
    if lines != records + 1:
        # In batches: 20 million blank lines as one Python list and one list parameter held
        # gigabytes.
        rows = iter(blank_rows(path))
        while batch := list(itertools.islice(rows, BLANK_BATCH)):
            # As one text: a list parameter is converted value by value (11 s per 5 million).
            con.execute("INSERT INTO _blank_lines SELECT unnest(string_split($blank, ','))"
                        "::BIGINT", {"blank": ",".join(map(str, batch))})
    con.execute("CREATE OR REPLACE TEMP TABLE _rejected_lines AS "
                "SELECT line FROM _rejected_csv UNION SELECT line FROM _blank_lines")
    con.execute("DROP TABLE _blank_lines")
    gaps = con.execute("SELECT count(*) FROM _rejected_lines").fetchall()[0][0]
    # Records set aside are numbered with the others, then left out (one scan of a flag column).
    aside = con.execute("SELECT count(_aside) FROM _csv").fetchall()[0][0]
    kept = " WHERE _aside IS NULL" if aside else ""
    # Row 1 is the header (a workbook's header is sheet row `row_offset` + 1).
    first_row = 2 + row_offset
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
    if aside:
        rule, message = _aside_messages(header, positions, row_offset + 1)
        con.execute(f"INSERT INTO _malformed SELECT _row, {rule}, {message} FROM {source} "
                    f"WHERE _aside <> {BLANK}")
    if materialize:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT _row, {expose} "
                    f"FROM {source}{kept} ORDER BY _row")
        con.execute(f"DROP TABLE {'_csv_rows' if gaps else '_csv'}")
    else:
        # CREATE TABLE AS keeps the file's order (preserve_insertion_order): rowid is the position.
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT _row, {expose} FROM {source}{kept}")
    count = con.execute("SELECT count(*) FROM _malformed").fetchall()[0][0]
    first = con.execute("SELECT _row, rule, message FROM _malformed ORDER BY _row "
                        "LIMIT 1").fetchall()
    return Malformed(count, Problem(first[0][1], first[0][2], row=int(first[0][0]))
                     if first else None)


PARSE_MESSAGES = {
    "MISSING COLUMNS": "This row has fewer cells than the header ({width}).",
    "TOO MANY COLUMNS": "This row has more cells than the header ({width}); look for an extra "
                        "delimiter or an unquoted comma.",
    "UNQUOTED VALUE": "A quote mark (\") is out of place: a cell that starts with a quote must "
                      "end with one, directly before the next delimiter.",
    "LINE SIZE OVER MAXIMUM": "This row is longer than 1 MB; a cell is probably corrupt.",
    "INVALID ENCODING": "This row contains characters that are not valid text.",
}
PARSE_DEFAULT = "This row could not be read as CSV."
_NUL_MESSAGE = ("The cell under {!r} holds a NUL character (byte 0), which is not text: some "
                "programs pad cells with it and most do not show it. Remove it (or export the "
                "file again) and send this row again.")
