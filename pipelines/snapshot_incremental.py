"""Bring yesterday's analysts' snapshot up to date instead of rebuilding it (issue 14).

The big tables (`<initiative>.records`, `aggregate_counts`, `main.quarantine`) only grow by
appends on a normal night, and copying them into the DuckDB 1.0 file was most of the snapshot's
cost (26 CPU s on 1 GB, whole for one new 20 MB file). So the new snapshot starts as a byte copy
of the previous one (the previous file stays intact for analysts holding it) and each table is

- kept, when the live table holds exactly the rows the snapshot was built from;
- appended to, when the live table's first `n` rows (rowid < n, `n` the row count the snapshot
  holds) are those rows and the rest are new: only rows with rowid >= n are copied;
- copied again (DELETE and INSERT), when anything else happened to it.

"Exactly those rows" is proven, not assumed: the mark stores, per table, the row count and an
order-independent hash (sum of a hash of every copied column) of the rows copied, and the live
prefix must give the same count and hash. Whatever the row ids did (deletes, vacuum, rewrites),
the prefix then holds the same multiset of rows as the snapshot and the remainder is what is
missing. For the big tables the pipeline only appends to, the prefix's count and hash are the
whole table's by the write-time ledger (pipelines/snapshot_ledger.py, when its seal applies)
minus the new rows', so only the new rows are hashed; otherwise every row is. Everything else
must be exactly as at the last build, or the caller builds afresh: this code, DuckDB's version,
the definitions, and the live catalog (tables, views, macros, sequences but their counter,
types, indexes), in `base`. Analyst tables, views and comments are small and
made again every time. The snapshot also gets a fresh build once it has grown past
`MAX_GROWTH` times its last fresh size (deleted rows leave free blocks in a copied file).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines import snapshot_ledger as ledgers
from pipelines.sql import sql_identifier, sql_literal

# The per-table mark: {"base": ..., "tables": [[schema, table, rows, hash], ...], "fresh_size":
# bytes of the last fresh build, "updates": nights brought up to date since it, "ledger_nights":
# nights the row ledger stood in for a full hash since the last one}. In memory (and
# from `read_mark`) tables are keyed by the JSON text of [schema, table].
TABLES_ATTRIBUTE = "user.backbone.snapshot_tables"
# Where a mark too large for an extended attribute is kept, beside the snapshot.
MARKS_FOLDER = ".snapshot-marks"
# A snapshot larger than this multiple of its last fresh build is built afresh.
MAX_GROWTH = 1.5
# Rows copied again in place, as a share of the snapshot's rows, beyond which a fresh build
# is cheaper in disk than the garbage a copy would leave.
MAX_RECOPY_SHARE = 0.25


@dataclass
class TableState:
    """A live table as the snapshot copies it: its copied columns, row count and hash, and the
    count and hash of its first `prefix` rows (by rowid)."""
    columns: list[str]
    rows: int
    digest: str
    prefix: int
    prefix_rows: int
    prefix_digest: str
    columns_key: str = ""
    by_ledger: bool = False  # the prefix's count and hash taken from the ledger


class LedgerMismatch(RuntimeError):
    """The ledger does not give a table's rows: something wrote it without the ledger."""


def table_states(con: duckdb.DuckDBPyConnection, previous: dict | None,
                 ledger: ledgers.Ledger | None = None, verify: bool = False
                 ) -> dict[str, TableState]:
    """Count and hash of every live table's rows, and of the rows below the row count the
    previous snapshot holds: from one scan of the table, or, for a table the `ledger` vouches
    for, from its count, the ledger and a scan of the rows past that count only. `verify`: scan
    those too and compare (LedgerMismatch)."""
    tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                         "database_name = 'live' AND (schema_name, table_name) <> ('main', ?) "
                         "ORDER BY ALL", [ledgers.LEDGER]).fetchall()
    states = {}
    for schema, table in tables:
        key = json.dumps([schema, table])  # names may hold any character
        typed = ledgers.copied_columns(con, "live", schema, table)
        prefix = int((previous or {}).get(key, [0])[0])
        state = None
        if ledger is not None and ledgers.tracked(schema, table):
            state = _by_ledger(con, ledger, key, schema, table, typed, prefix)
        if state is None or verify:
            scanned = _scanned(con, schema, table, typed, prefix)
            if state is not None and (state.rows, state.digest, state.prefix_rows,
                                      state.prefix_digest) != (scanned.rows, scanned.digest,
                                                               scanned.prefix_rows,
                                                               scanned.prefix_digest):
                raise LedgerMismatch(f"{schema}.{table}: the row ledger gives other rows")
            state = scanned
        states[key] = state
    return states


def _scanned(con: duckdb.DuckDBPyConnection, schema: str, table: str, typed: list, prefix: int
             ) -> TableState:
    # Summed as HUGEINT (NULL for no rows, hence coalesce), kept modulo 2^64: as unlikely to
    # collide as one row hash, and 16 hex digits in the mark (extended attributes are small).
    rows, digest, prefix_rows, prefix_digest = con.execute(f"""
        SELECT count(*), coalesce(sum(h), 0) % $m, count(*) FILTER (WHERE rid < $n),
               coalesce(sum(h) FILTER (WHERE rid < $n), 0) % $m
        FROM (SELECT rowid AS rid, {ledgers.row_hash(typed)} AS h
              FROM live.{sql_identifier(schema)}.{sql_identifier(table)})""",
        {"n": prefix, "m": ledgers.MODULUS}).fetchall()[0]
    return TableState([c for c, _ in typed], rows, f"{int(digest):x}", prefix, prefix_rows,
                      f"{int(prefix_digest):x}", ledgers.columns_key(typed))


def _by_ledger(con: duckdb.DuckDBPyConnection, ledger: ledgers.Ledger, key: str, schema: str,
               table: str, typed: list, prefix: int) -> TableState | None:
    """The rows below `prefix` are all rows but those at or past it (rowids of rows deleted or
    moved are never counted twice): their count and hash are the ledger's for the table minus
    those of the rows at or past `prefix`, which alone are read."""
    columns = ledgers.columns_key(typed)
    expected = ledger.expected(key, columns)
    if expected is None:
        return None
    rows, digest = expected
    name = f"live.{sql_identifier(schema)}.{sql_identifier(table)}"
    if con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] != rows:
        raise LedgerMismatch(f"{schema}.{table}: {rows} rows by the row ledger, other in fact")
    tail_rows, tail_digest = (0, 0) if prefix == 0 else con.execute(
        f"SELECT count(*), coalesce(sum(h), 0) % $m FROM (SELECT {ledgers.row_hash(typed)} "
        f"AS h FROM {name} WHERE rowid >= $n)", {"n": prefix, "m": ledgers.MODULUS}
    ).fetchall()[0]
    prefix_rows = rows - tail_rows if prefix else 0
    prefix_digest = (digest - int(tail_digest)) % ledgers.MODULUS if prefix else 0
    return TableState([c for c, _ in typed], rows, f"{digest:x}", prefix, prefix_rows,
                      f"{prefix_digest:x}", columns, by_ledger=True)


def seal_offsets(ledger: ledgers.Ledger, states: dict[str, TableState]) -> dict:
    """The offsets that make `ledger` give every tracked table's rows in `states`."""
    return {key: ledger.offset(key, state.columns_key, state.rows, int(state.digest, 16))
            for key, state in states.items() if ledgers.tracked(*json.loads(key))}


def base(con: duckdb.DuckDBPyConnection, code_and_definitions: list) -> str:
    """Everything but table data and sequence counters that a snapshot is built from."""
    catalog = [con.execute(sql).fetchall() for sql in (
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = 'live' ORDER BY ALL",
        "SELECT schema_name, table_name, sql, comment::VARCHAR FROM duckdb_tables() "
        "WHERE database_name = 'live' ORDER BY ALL",
        "SELECT schema_name, table_name, column_name, comment::VARCHAR FROM duckdb_columns() "
        "WHERE database_name = 'live' ORDER BY ALL",
        "SELECT schema_name, view_name, sql, comment::VARCHAR FROM duckdb_views() "
        "WHERE database_name = 'live' AND NOT internal ORDER BY ALL",
        # Not start_value: the live one moves with the counter (and a copy's is its counter then).
        "SELECT schema_name, sequence_name, min_value, max_value, increment_by, cycle "
        "FROM duckdb_sequences() WHERE database_name = 'live' ORDER BY ALL",
        "SELECT schema_name, function_name, function_type, macro_definition, "
        "parameters::VARCHAR FROM duckdb_functions() WHERE database_name = 'live' ORDER BY ALL",
        "SELECT schema_name, type_name, logical_type FROM duckdb_types() "
        "WHERE database_name = 'live' AND NOT internal ORDER BY ALL",
        "SELECT schema_name, index_name, sql FROM duckdb_indexes() "
        "WHERE database_name = 'live' ORDER BY ALL")]
    text = json.dumps([code_and_definitions, catalog], default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_mark(database: Path) -> dict | None:
    try:
        mark = json.loads(os.getxattr(database, TABLES_ATTRIBUTE).decode())
        if "in_file" in mark:  # too large for the attribute: kept beside it (write_mark)
            text = (database.parent / MARKS_FOLDER / f"{mark['in_file']}.json").read_bytes()
            if hashlib.sha256(text).hexdigest() != mark["in_file"]:
                return None
            mark = json.loads(text.decode())
        mark["tables"] = {json.dumps([schema, table]): [rows, digest]
                          for schema, table, rows, digest in mark["tables"]}
        return mark
    except (AttributeError, OSError, ValueError, KeyError, TypeError):  # none, or not ours
        return None


def write_mark(database: Path, built_on: str, states: dict[str, TableState],
               fresh_size: int, updates: int, ledger_nights: int = 0) -> None:
    """The mark as an extended attribute of `database`; when it does not fit (ext4 keeps about
    4 KB of attributes per file: some five initiatives' tables), as a file named by its own
    hash in MARKS_FOLDER beside it, which the attribute names. Either way the mark travels with
    the file through the rename, and a mark that does not match its hash is no mark."""
    mark = {"base": built_on, "fresh_size": fresh_size, "updates": updates,
            "ledger_nights": ledger_nights,
            "tables": [[*json.loads(k), s.rows, s.digest] for k, s in states.items()]}
    text = json.dumps(mark, separators=(",", ":")).encode()
    try:
        os.setxattr(database, TABLES_ATTRIBUTE, text)
        return
    except AttributeError:  # no extended attributes on this platform: built afresh next time
        return
    except OSError:  # too large, most likely
        pass
    digest = hashlib.sha256(text).hexdigest()
    folder = database.parent / MARKS_FOLDER
    try:
        folder.mkdir(exist_ok=True)
        partial = folder / f".{digest}.tmp"
        partial.write_bytes(text)
        os.replace(partial, folder / f"{digest}.json")
        os.setxattr(database, TABLES_ATTRIBUTE, json.dumps({"in_file": digest}).encode())
    except OSError:  # no room at all: built afresh next time
        pass


def prune_marks(snapshot: Path) -> None:
    """Remove the marks in MARKS_FOLDER that `snapshot` (the one in place) does not name."""
    folder = snapshot.parent / MARKS_FOLDER
    if not folder.is_dir():
        return
    try:
        named = json.loads(os.getxattr(snapshot, TABLES_ATTRIBUTE).decode()).get("in_file")
    except (AttributeError, OSError, ValueError):
        named = None
    for path in folder.iterdir():
        if path.name != f"{named}.json":
            path.unlink(missing_ok=True)


@dataclass
class Plan:
    keep: list[str]
    append: dict[str, int]   # table -> first live rowid not in the snapshot
    recopy: list[str]


def plan(mark: dict | None, built_on: str, states: dict[str, TableState], snapshot: Path
         ) -> Plan | None:
    """What to do with each table of the previous snapshot, or None: build afresh."""
    if mark is None or mark.get("base") != built_on or not snapshot.is_file():
        return None
    if snapshot.stat().st_size > MAX_GROWTH * mark.get("fresh_size", 0):
        return None
    tables = mark.get("tables", {})
    if set(tables) != set(states):
        return None
    result = Plan([], {}, [])
    recopied = 0
    for key, state in states.items():
        rows, digest = tables[key]
        if (state.prefix, state.prefix_rows, state.prefix_digest) == (rows, rows, digest):
            if state.rows == rows:
                result.keep.append(key)
            else:
                result.append[key] = rows
        else:
            result.recopy.append(key)
            recopied += rows
    if recopied > MAX_RECOPY_SHARE * sum(r for r, _ in tables.values()):
        return None
    return result


def apply(con: duckdb.DuckDBPyConnection, work: Plan, states: dict[str, TableState]) -> bool:
    """Bring the attached `snap` (a copy of the previous snapshot) up to `live`'s data, inside
    the caller's transaction. False when the copy is not what its mark says (rows counted in
    the file differ) or a sequence went backwards: the caller then builds afresh."""
    def name(database: str, key: str) -> str:
        schema, table = json.loads(key)
        return f"{database}.{sql_identifier(schema)}.{sql_identifier(table)}"

    for key in work.keep + work.recopy + list(work.append):
        expected = states[key].prefix  # what the mark says the snapshot holds
        if con.execute(f"SELECT count(*) FROM {name('snap', key)}").fetchall()[0][0] != expected:
            return False
    if not _advance_sequences(con):
        return False
    for key, first in work.append.items():
        columns = ", ".join(sql_identifier(c) for c in states[key].columns)
        con.execute(f"INSERT INTO {name('snap', key)} ({columns}) SELECT {columns} "
                    f"FROM {name('live', key)} WHERE rowid >= ?", [first])
    for key in work.recopy:
        columns = ", ".join(sql_identifier(c) for c in states[key].columns)
        con.execute(f"DELETE FROM {name('snap', key)}")
        con.execute(f"INSERT INTO {name('snap', key)} ({columns}) SELECT {columns} "
                    f"FROM {name('live', key)}")
    return True


def _advance_sequences(con: duckdb.DuckDBPyConnection) -> bool:
    """A fresh build copies each sequence's counter; here the copy's counter is advanced to the
    live one (a counter never goes back: if the live one did, False)."""
    counters = con.execute("""
        SELECT l.schema_name, l.sequence_name, l.last_value, s.last_value, l.increment_by
        FROM duckdb_sequences() AS l JOIN duckdb_sequences() AS s
          ON s.database_name = 'snap' AND s.schema_name = l.schema_name
         AND s.sequence_name = l.sequence_name
        WHERE l.database_name = 'live'""").fetchall()
    for schema, sequence, live, copied, increment in counters:
        if live == copied:
            continue
        if live is None or increment != 1 or (copied is not None and live < copied):
            return False
        steps = live - (copied if copied is not None else _start(con, schema, sequence) - 1)
        qualified = f"snap.{sql_identifier(schema)}.{sql_identifier(sequence)}"
        con.execute(f"SELECT max(nextval({sql_literal(qualified)})) FROM range(?)", [steps])
        if con.execute("SELECT last_value FROM duckdb_sequences() WHERE database_name = 'snap' "
                       "AND schema_name = ? AND sequence_name = ?", [schema, sequence]
                       ).fetchall()[0][0] != live:
            return False
    return True


def _start(con: duckdb.DuckDBPyConnection, schema: str, sequence: str) -> int:
    return con.execute("SELECT start_value FROM duckdb_sequences() WHERE database_name = 'live' "
                       "AND schema_name = ? AND sequence_name = ?", [schema, sequence]
                       ).fetchall()[0][0]
