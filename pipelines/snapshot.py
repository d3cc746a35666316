"""The analysts' snapshot: a read-only copy of the warehouse that every 1.x DuckDB client opens.

The live warehouse is written in the newest DuckDB storage format, which the DuckDB CLI, R and
BI tools (whose DuckDB lags behind the Python package) refuse. The snapshot is therefore built,
not copied: a new database file attached with an older `STORAGE_VERSION`, filled table by table
from the closed warehouse, then
- the quarantine's `value` (and any other column not known to be free of partners' values) is
  left out, so the raw text of a failing cell never reaches analysts;
- each initiative schema gains analyst tables and views named for their grain:
  `indicator_results` (the partnership Parquet as published), `indicators` (the YAML
  definitions), `submissions_by_partner_period`, `quarantine_by_rule`; and `main.data_dictionary`;
- every table, view and column gets a `COMMENT` (pipelines/dictionary.py);
- it is written under a temporary name, made read-only and renamed over the old snapshot, so an
  analyst holding the old one keeps reading it and a new session sees a complete file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from concurrent import futures
from pathlib import Path

import duckdb

from pipelines import snapshot_analyst as analyst
from pipelines import snapshot_incremental as incremental
from pipelines import snapshot_ledger as ledgers
from pipelines.config import DEFINITION_FOLDERS, Workspace
from pipelines.duckdb_settings import limit_memory
from pipelines.sql import sql_identifier

# DuckDB 1.0's format: read by every release from 1.1 (1.2's is not read by 1.1, for one);
# 1.0 misreads a list column of only empty lists as DuckDB 2 writes it (see _drop_keys).
STORAGE_VERSION = "v1.0.0"
# Quarantine columns known to hold no partner value; anything else stays in the live warehouse.
QUARANTINE_COLUMNS = ledgers.QUARANTINE_COLUMNS


# The extended attribute on the snapshot file that names what it was built from (see `sources`).
SOURCES_ATTRIBUTE = "user.backbone.snapshot_sources"
# Copies yesterday's snapshot while the warehouse is scanned (`snapshot_warehouse`).
_COPIER = futures.ThreadPoolExecutor(1, thread_name_prefix="snapshot-copy")


def snapshot_warehouse(workspace: Workspace, fresh: bool = False) -> Path:
    """Bring `workspace.snapshot_file` up to the closed warehouse; returns its path.

    Skipped when the snapshot in place was built from the same warehouse data, published results,
    definitions and code (`sources`): a night with nothing new then costs no rebuild (0.7 s on
    the sample, minutes on a large warehouse). Otherwise the previous snapshot is copied and
    brought up to date table by table when that is provably the same as a fresh build
    (pipelines/snapshot_incremental.py), else (or with `fresh`) it is built from scratch."""
    target = workspace.snapshot_file
    temporary = target.with_name(f".{target.name}.tmp")
    _remove(temporary)  # left, maybe read-only, by a crash before the rename
    spill = temporary.with_name(temporary.name + ".spill")
    con = duckdb.connect()
    copying = None
    try:
        # In memory, DuckDB would spill under the current directory, wherever that is.
        limit_memory(con, spill=spill)
        # Row order within a table means nothing here; keeping it would serialize the copy.
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        # FSST's analysis (a symbol table trained on every string segment) cost ~8% of a fresh
        # build and won ~0.01% of segments (the snapshot's strings are codes and names, which
        # dictionary compression stores): same contents, file within 0.5%. A free-text column
        # would be stored larger, still readable by DuckDB 1.0 (it has fewer methods, not new).
        con.execute("SET disabled_compression_methods = 'fsst'")
        state = ledgers.file_state(workspace.warehouse_file)
        con.execute("ATTACH ? AS live (READ_ONLY)", [str(workspace.warehouse_file)])
        # DuckDB's lock now keeps writers out; a write just before it changed the state.
        if ledgers.file_state(workspace.warehouse_file) != state:
            state = None
        definitions = _definitions_and_code(workspace)
        built_from = sources(workspace, con, definitions)
        if not fresh and _built_from(target) == built_from:
            return target
        mark = None if fresh else incremental.read_mark(target)
        built_on = incremental.base(con, definitions)
        if mark is not None and mark.get("base") == built_on:
            # The copy the update will most likely start from, made while the warehouse is
            # scanned: the kernel copies without the GIL (wall time, not CPU).
            copying = _COPIER.submit(shutil.copyfile, target, temporary)
        ledger = ledgers.read(con, ledgers.seal_applies(workspace.warehouse_file, state))
        nights = (mark or {}).get("ledger_nights", 0)
        verify = ledgers.verify_forced() or nights >= ledgers.VERIFY_EVERY - 1
        try:
            states = incremental.table_states(con, (mark or {}).get("tables"), ledger, verify)
        except incremental.LedgerMismatch as exc:
            if ledgers.verify_forced():
                raise
            # Written without the ledger by this code's own process: earlier updates may have
            # missed it too, so nothing of the previous snapshot is kept.
            logging.getLogger(__name__).warning("analysts' snapshot built afresh: %s", exc)
            states, mark = incremental.table_states(con, None), None
        nights = nights + 1 if any(s.by_ledger for s in states.values()) and not verify else 0
        work = incremental.plan(mark, built_on, states, target)
        if copying is not None:
            futures.wait([copying])
        # A plan needs the mark's base, as the copy did: a plan means a copy is being made.
        if work is not None and _update_copy(con, workspace, temporary, work, states, copying):
            fresh_size, updates = mark["fresh_size"], mark.get("updates", 0) + 1
        else:
            _remove(temporary)  # a copy made in vain (its error, if any, does not matter)
            _build(con, workspace, temporary)
            fresh_size, updates = temporary.stat().st_size, 0
    except BaseException:
        con.close()  # first: it holds the file
        if copying is not None:
            futures.wait([copying])  # or it may write the file after it is removed
        _remove(temporary)
        raise
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    _mark(temporary, built_from)  # before the rename: the marks travel with the file
    incremental.write_mark(temporary, built_on, states, fresh_size, updates, nights)
    os.chmod(temporary, 0o444)
    os.replace(temporary, target)
    incremental.prune_marks(target)
    # The state read under the lock, whose tables `states` counted: sealed with what makes the
    # ledger give them (a write since only makes the seal name a state the file is not in).
    ledgers.write_seal(workspace.warehouse_file, state, incremental.seal_offsets(ledger, states))
    return target


def _build(con: duckdb.DuckDBPyConnection, workspace: Workspace, temporary: Path) -> None:
    """A fresh snapshot at `temporary`, from `live`."""
    con.execute(f"ATTACH ? AS snap (STORAGE_VERSION '{STORAGE_VERSION}')", [str(temporary)])
    con.execute("BEGIN TRANSACTION")  # one commit, not one per statement
    # Tables, views, sequences and macros as they are; the data is copied below.
    con.execute("COPY FROM DATABASE live TO snap (SCHEMA)")
    con.execute(f"DROP TABLE IF EXISTS snap.main.{ledgers.LEDGER}")  # the warehouse's own
    _drop_keys(con)
    _copy_tables(con)
    analyst.add(con, workspace)
    con.execute("COMMIT")
    con.execute("DETACH snap")


def _update_copy(con: duckdb.DuckDBPyConnection, workspace: Workspace, temporary: Path,
                 work: incremental.Plan, states: dict, copying: futures.Future) -> bool:
    """The previous snapshot, copied to `temporary` by `copying` (data only: not the marks, nor
    the read-only mode; the original stays as it was for analysts reading it), brought up to
    `live`; False (and nothing at `temporary`) when the copy turned out not to be what its mark
    says, or DuckDB could not read it."""
    copying.result()  # its error is this run's
    os.chmod(temporary, 0o644)
    try:
        # An existing file keeps the storage version it was created with.
        con.execute("ATTACH ? AS snap", [str(temporary)])
        con.execute("BEGIN TRANSACTION")
        if incremental.apply(con, work, states):
            analyst.refresh(con, workspace)
            con.execute("COMMIT")
            con.execute("DETACH snap")
            return True
    except duckdb.Error:  # a damaged copy: the fresh build is always right
        pass
    for statement in ("ROLLBACK", "DETACH snap"):
        try:
            con.execute(statement)
        except duckdb.Error:  # nothing open, or not attached
            pass
    _remove(temporary)
    return False


def sources(workspace: Workspace, con: duckdb.DuckDBPyConnection, definitions: list) -> str:
    """What a snapshot is built from: the warehouse's data version (`_warehouse_version`; `con`
    has it attached as `live`), every published partnership result and definition file (by
    file identity: a new version is a new file), this code and DuckDB's version
    (`definitions`: `_definitions_and_code`, which the incremental base shares). A change in
    any of them means a rebuild."""
    parts = [_warehouse_version(con)]
    published = workspace.path("data", "published")
    parts += [_identity(p)
              for p in sorted(published.glob("*/partnership/indicator_results.parquet"))]
    parts += definitions
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _identity(path: Path) -> list:
    try:
        info = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path), info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _definitions_and_code(workspace: Workspace) -> list:
    parts = []
    for folder in DEFINITION_FOLDERS:
        parts += [_identity(p) for p in sorted(workspace.path(folder).rglob("*")) if p.is_file()]
    code = hashlib.sha256()
    for module in (Path(__file__), Path(__file__).with_name("dictionary.py"),
                   Path(__file__).with_name("snapshot_incremental.py"),
                   Path(__file__).with_name("snapshot_analyst.py")):
        code.update(module.read_bytes())
    parts.append([code.hexdigest(), STORAGE_VERSION, duckdb.__version__])
    return parts


def _warehouse_version(con: duckdb.DuckDBPyConnection) -> list:
    """Every table's definition, row count and storage layout (each segment's block, offset,
    row count and min/max: rewritten data moves or changes them), every view's definition, and
    a hash of every submission row. Metadata only, a few milliseconds on any size. The file's
    own mtime will not do: every run rewrites a few catalog entries
    (warehouse.ensure_initiative_tables) without changing data."""
    tables = con.execute(
        "SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE database_name = 'live' "
        "ORDER BY ALL").fetchall()
    names = [f"live.{sql_identifier(schema)}.{sql_identifier(table)}"
             for schema, table, _ in tables]
    counts = [con.execute(
        f"SELECT (SELECT count(*) FROM {name}), count(*), sum(hash(s))::VARCHAR "
        "FROM pragma_storage_info(?) AS s", [name]).fetchall()[0] for name in names]
    views = con.execute("SELECT schema_name, view_name, sql FROM duckdb_views() WHERE "
                        "database_name = 'live' AND NOT internal ORDER BY ALL").fetchall()
    submissions = con.execute(
        "SELECT count(*), sum(hash(s)::HUGEINT)::VARCHAR FROM live.main.submissions AS s"
    ).fetchall()[0] if ("main", "submissions") in {t[:2] for t in tables} else None
    return [[list(t) for t in tables], [list(c) for c in counts], [list(v) for v in views],
            list(submissions or [])]


def _mark(database: Path, built_from: str) -> None:
    try:
        os.setxattr(database, SOURCES_ATTRIBUTE, built_from.encode())
    except (AttributeError, OSError):  # no extended attributes here: rebuilt every run
        pass


def _built_from(database: Path) -> str | None:
    try:
        return os.getxattr(database, SOURCES_ATTRIBUTE).decode()
    except (AttributeError, OSError):  # no snapshot, or no mark: rebuild
        return None


def _remove(database: Path) -> None:
    for path in (database, database.with_name(database.name + ".wal")):
        path.unlink(missing_ok=True)


def _drop_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Make the (still empty) tables that have a key again without it. DuckDB 2 writes a key's
    index in a form DuckDB 1.0 cannot read even in 1.0's storage format ("Failed to deserialize:
    expected end of object, but found field id: 103" on opening the whole file; 1.1 and later
    read it). A read-only copy has no use for keys or their constraints."""
    keyed = con.execute(
        "SELECT DISTINCT schema_name, table_name FROM duckdb_constraints() WHERE database_name "
        "= 'snap' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') ORDER BY ALL"
    ).fetchall()
    for schema, table in keyed:
        s = f"snap.{sql_identifier(schema)}"
        bare = f"{table}__without_keys"
        con.execute(f"CREATE TABLE {s}.{sql_identifier(bare)} AS "
                    f"SELECT * FROM {s}.{sql_identifier(table)} LIMIT 0")
        con.execute(f"DROP TABLE {s}.{sql_identifier(table)}")
        con.execute(f"ALTER TABLE {s}.{sql_identifier(bare)} RENAME TO {sql_identifier(table)}")


def _copy_tables(con: duckdb.DuckDBPyConnection) -> None:
    tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                         "database_name = 'snap' ORDER BY ALL").fetchall()
    for schema, table in tables:
        target = f"snap.{sql_identifier(schema)}.{sql_identifier(table)}"
        if (schema, table) == ("main", "quarantine"):
            # Dropped while empty: a column dropped after the copy would leave its old blocks,
            # partners' values included, in the file.
            for column in analyst.column_names(con, "snap", schema, table):
                if column not in QUARANTINE_COLUMNS:
                    con.execute(f"ALTER TABLE {target} DROP COLUMN {sql_identifier(column)}")
        names = ", ".join(sql_identifier(c)
                          for c in analyst.column_names(con, "snap", schema, table))
        con.execute(f"INSERT INTO {target} ({names}) SELECT {names} "
                    f"FROM live.{sql_identifier(schema)}.{sql_identifier(table)}")


