"""What the pipeline wrote to the snapshot's big tables, so that bringing the analysts' snapshot
up to date need not hash every row to prove yesterday's rows unchanged (issue 14).

The snapshot update (pipelines/snapshot_incremental.py) must prove, per table, that the rows the
previous snapshot holds (rowid < n) still give its row count and order-independent hash. For
`<initiative>.records`, `<initiative>.aggregate_counts` and `main.quarantine` (TRACKED; tens of
millions of rows, only ever appended by `warehouse.load_night`) that proof used to be a hash of
every row, 2-3 CPU s on 1 GB. Instead:

- every load of a session that began sealed (below) adds, in its own transaction, one row per
  file and table to `main.row_ledger`: the rows it inserted and the sum of their hashes (the
  same hash of the same copied columns the snapshot uses, named by `columns_key`), so the
  ledger's sums are the table's count and hash, plus a fixed offset (rows from before the
  ledger, or written without it: a first night's load, unsealed, is hashed by the snapshot);
- a seal, kept as an extended attribute of the warehouse file, states "in this exact file state
  the offsets below make the ledger equal the tables". Only two writers set it: the snapshot,
  after it hashed the tables in full under DuckDB's read lock, and `warehouse.close` ending a
  session that started from a sealed state (so all its writes were the pipeline's). The state
  (`file_state`) is the file's identity, size and modification time, and the write-ahead
  log's: any other writer (the DuckDB CLI, an older version of this code, a restored copy, a
  crash) changes it, and the seal then no longer applies (short of one that commits and
  checkpoints within the clock tick of the pipeline's last write, leaving the size as it was);
- with a seal that applies, the snapshot counts the table's rows, hashes only the rows at or
  past its previous size, and takes the rest from the ledger: the old rows' count and hash are
  the ledger's minus the new rows'. Otherwise (and every VERIFY_EVERY-th night, and always when
  BACKBONE_SNAPSHOT_VERIFY is set, as the tests set it) every row is hashed as before, the
  ledger is checked against that and a new seal is written.

What the seal cannot see is this code's own process changing a tracked table's rows in place
without the ledger; rows inserted or deleted that way change the count or the new rows' hash and
are caught. Every write to a tracked table therefore goes through `add` (tests/
test_snapshot_ledger.py checks the pipeline's SQL for other writers), and the periodic full
check builds the snapshot afresh, with a warning, if the ledger was ever wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.sql import sql_identifier

LEDGER = "row_ledger"  # in the warehouse's main schema; never copied to the snapshot
DDL = f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
    schema_name VARCHAR NOT NULL, table_name VARCHAR NOT NULL, columns_key VARCHAR NOT NULL,
    rows BIGINT NOT NULL, digest HUGEINT NOT NULL, submission_id BIGINT);"""
SEAL_ATTRIBUTE = "user.backbone.row_ledger_seal"
# Quarantine columns known to hold no partner value; anything else stays in the live warehouse.
QUARANTINE_COLUMNS = ("submission_id", "initiative_id", "partner_id", "source_row", "column_name",
                      "rule", "message")
# Nights the ledger may stand in for a full hash before the next full check.
VERIFY_EVERY = 7
VERIFY_ENVIRONMENT = "BACKBONE_SNAPSHOT_VERIFY"
MODULUS = 2 ** 64


def tracked(schema: str, table: str) -> bool:
    return (schema, table) == ("main", "quarantine") or (
        schema != "main" and table in ("records", "aggregate_counts"))


def copied_columns(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str
                   ) -> list[tuple[str, str]]:
    """The table's (column, type) pairs that reach the snapshot, in column order."""
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? AND "
        "schema_name = ? AND table_name = ? ORDER BY column_index", [database, schema, table]
    ).fetchall()
    if (schema, table) == ("main", "quarantine"):
        return [c for c in columns if c[0] in QUARANTINE_COLUMNS]
    return columns


def columns_key(columns: list[tuple[str, str]]) -> str:
    """Names the hashed columns and their types: a hash over other columns is another hash."""
    return hashlib.sha256(json.dumps(columns).encode()).hexdigest()[:16]


def row_hash(columns: list[tuple[str, str]]) -> str:
    """The per-row hash the snapshot sums (as HUGEINT, modulo 2^64)."""
    return f"hash({', '.join(sql_identifier(c) for c, _ in columns)})::HUGEINT"


def add(con: duckdb.DuckDBPyConnection, schema: str, table: str, submission_id: int) -> None:
    """Account for the rows of `submission_id` just inserted into `schema.table`, inside the
    caller's transaction (a fresh submission id: no other row carries it)."""
    database = con.execute("SELECT current_database()").fetchall()[0][0]
    columns = copied_columns(con, database, schema, table)
    con.execute(
        f"INSERT INTO main.{LEDGER} SELECT $schema, $table, $key, count(*), "
        f"coalesce(sum(h), 0) % $m, $id FROM (SELECT {row_hash(columns)} AS h FROM "
        f"{sql_identifier(schema)}.{sql_identifier(table)} WHERE submission_id = $id)",
        {"schema": schema, "table": table, "key": columns_key(columns), "m": MODULUS,
         "id": submission_id})


def file_state(path: Path) -> list | None:
    """What a write to the DuckDB file at `path` changes (None when there is no file): its
    identity, size and modification time, and its write-ahead log's. A commit leaves a log or,
    checkpointed, rewrites blocks and a header (a new modification time). Only `stat`: opening
    and closing the file would drop DuckDB's lock on it, POSIX locks being per process."""
    try:
        info = path.stat()
    except OSError:
        return None
    try:
        wal = path.with_name(path.name + ".wal").stat()
        log = [wal.st_size, wal.st_mtime_ns]
    except FileNotFoundError:
        log = None
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, log]


def read_seal(path: Path) -> dict | None:
    try:
        seal = json.loads(os.getxattr(path, SEAL_ATTRIBUTE).decode())
        return seal if isinstance(seal, dict) and isinstance(seal.get("offsets"), dict) \
            else None
    except (AttributeError, OSError, ValueError):  # none, or not ours
        return None


def seal_applies(path: Path, state: list | None) -> dict | None:
    """The seal of `path` when it names `state` (a file with no write-ahead log), else None."""
    seal = read_seal(path)
    if state is None or state[-1] is not None or seal is None or seal.get("state") != state:
        return None
    return seal


def write_seal(path: Path, state: list | None, offsets: dict) -> None:
    """Seal `state` of `path` with `offsets`; a state with a write-ahead log is not sealed (the
    next reader replays it), and a failure only costs the next snapshot a full hash."""
    try:
        if state is None or state[-1] is not None:
            os.removexattr(path, SEAL_ATTRIBUTE)
            return
        os.setxattr(path, SEAL_ATTRIBUTE,
                    json.dumps({"state": state, "offsets": offsets}).encode())
    except (AttributeError, OSError):
        pass


@dataclass
class Ledger:
    """The ledger's sums as the snapshot reads them, and the seal's offsets when it applies."""
    sums: dict[str, dict[str, tuple[int, int]]]  # table key -> columns key -> (rows, digest)
    offsets: dict[str, list] | None  # table key -> [columns key, rows, digest]; None: no seal

    def expected(self, key: str, columns: str) -> tuple[int, int] | None:
        """The table's row count and hash (mod 2^64) by the ledger, or None."""
        if self.offsets is None or key not in self.offsets or self.offsets[key][0] != columns:
            return None
        rows, digest = self.sums.get(key, {}).get(columns, (0, 0))
        _, rows_off, digest_off = self.offsets[key]
        return rows + rows_off, (digest + int(digest_off, 16)) % MODULUS

    def offset(self, key: str, columns: str, rows: int, digest: int) -> list:
        """The offset that makes the ledger give `rows` and `digest`."""
        ledger_rows, ledger_digest = self.sums.get(key, {}).get(columns, (0, 0))
        return [columns, rows - ledger_rows, f"{(digest - ledger_digest) % MODULUS:x}"]


def read(con: duckdb.DuckDBPyConnection, seal: dict | None) -> Ledger:
    """The ledger of the attached `live` warehouse (none yet: empty sums)."""
    sums: dict[str, dict[str, tuple[int, int]]] = {}
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'live' AND "
                   "schema_name = 'main' AND table_name = ?", [LEDGER]).fetchall()[0][0]:
        for schema, table, key, rows, digest in con.execute(
                f"SELECT schema_name, table_name, columns_key, sum(rows), sum(digest) % $m "
                f"FROM live.main.{LEDGER} GROUP BY ALL", {"m": MODULUS}).fetchall():
            sums.setdefault(json.dumps([schema, table]), {})[key] = (int(rows), int(digest))
    return Ledger(sums, None if seal is None else seal["offsets"])


def verify_forced() -> bool:
    return bool(os.environ.get(VERIFY_ENVIRONMENT))
