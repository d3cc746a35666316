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
import os
import shutil
from pathlib import Path

import duckdb

from pipelines import snapshot_incremental as incremental
from pipelines.config import DEFINITION_FOLDERS, ConfigError, InitiativeConfig, Workspace
from pipelines.dictionary import table_descriptions
from pipelines.duckdb_settings import limit_memory
from pipelines.sql import sql_identifier, sql_literal

# DuckDB 1.0's format: read by every 1.x release (1.2's is not read by 1.1, for one).
STORAGE_VERSION = "v1.0.0"
# Quarantine columns known to hold no partner value; anything else stays in the live warehouse.
QUARANTINE_COLUMNS = ("submission_id", "initiative_id", "partner_id", "source_row", "column_name",
                      "rule", "message")


# The extended attribute on the snapshot file that names what it was built from (see `sources`).
SOURCES_ATTRIBUTE = "user.backbone.snapshot_sources"


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
    try:
        # In memory, DuckDB would spill under the current directory, wherever that is.
        limit_memory(con, spill=spill)
        # Row order within a table means nothing here; keeping it would serialize the copy.
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        con.execute("ATTACH ? AS live (READ_ONLY)", [str(workspace.warehouse_file)])
        definitions = _definitions_and_code(workspace)
        built_from = sources(workspace, con, definitions)
        if not fresh and _built_from(target) == built_from:
            return target
        mark = None if fresh else incremental.read_mark(target)
        states = incremental.table_states(
            con, lambda schema, table: _copied_columns(con, schema, table),
            (mark or {}).get("tables"))
        built_on = incremental.base(con, definitions)
        work = incremental.plan(mark, built_on, states, target)
        if work is not None and _update_copy(con, workspace, target, temporary, work, states):
            fresh_size, updates = mark["fresh_size"], mark.get("updates", 0) + 1
        else:
            _build(con, workspace, temporary)
            fresh_size, updates = temporary.stat().st_size, 0
    except BaseException:
        con.close()  # first: it holds the file
        _remove(temporary)
        raise
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    _mark(temporary, built_from)  # before the rename: the marks travel with the file
    incremental.write_mark(temporary, built_on, states, fresh_size, updates)
    os.chmod(temporary, 0o444)
    os.replace(temporary, target)
    incremental.prune_marks(target)
    return target


def _build(con: duckdb.DuckDBPyConnection, workspace: Workspace, temporary: Path) -> None:
    """A fresh snapshot at `temporary`, from `live`."""
    con.execute(f"ATTACH ? AS snap (STORAGE_VERSION '{STORAGE_VERSION}')", [str(temporary)])
    con.execute("BEGIN TRANSACTION")  # one commit, not one per statement
    # Tables, views, sequences and macros as they are; the data is copied below.
    con.execute("COPY FROM DATABASE live TO snap (SCHEMA)")
    _copy_tables(con)
    _add_analyst_objects(con, workspace)
    con.execute("COMMIT")
    con.execute("DETACH snap")


def _update_copy(con: duckdb.DuckDBPyConnection, workspace: Workspace, target: Path,
                 temporary: Path, work: incremental.Plan, states: dict) -> bool:
    """The previous snapshot copied to `temporary` (it stays as it was for analysts reading it)
    and brought up to `live`; False (and nothing at `temporary`) when the copy turned out not
    to be what its mark says, or DuckDB could not read it."""
    shutil.copyfile(target, temporary)  # data only: not the marks, nor the read-only mode
    os.chmod(temporary, 0o644)
    try:
        # An existing file keeps the storage version it was created with.
        con.execute("ATTACH ? AS snap", [str(temporary)])
        con.execute("BEGIN TRANSACTION")
        if incremental.apply(con, work, states):
            _refresh_analyst_objects(con, workspace)
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


def _refresh_analyst_objects(con: duckdb.DuckDBPyConnection, workspace: Workspace) -> None:
    # What the analyst steps add (in no live schema) is made again, as a fresh build makes it.
    for schema, name, kind in con.execute(
            "SELECT schema_name, table_name, 'TABLE' FROM duckdb_tables() WHERE database_name "
            "= 'snap' UNION ALL SELECT schema_name, view_name, 'VIEW' FROM duckdb_views() WHERE "
            "database_name = 'snap' AND NOT internal EXCEPT SELECT schema_name, table_name, "
            "'TABLE' FROM duckdb_tables() WHERE database_name = 'live' EXCEPT SELECT "
            "schema_name, view_name, 'VIEW' FROM duckdb_views() WHERE database_name = 'live' "
            "AND NOT internal").fetchall():
        con.execute(f"DROP {kind} snap.{sql_identifier(schema)}.{sql_identifier(name)}")
    _add_analyst_objects(con, workspace)


def _add_analyst_objects(con: duckdb.DuckDBPyConnection, workspace: Workspace) -> None:
    for schema in _initiative_schemas(con):
        config = _config(workspace, schema)
        _add_analyst_tables(con, workspace, schema, config)
        _comment(con, schema, config)
    _add_data_dictionary(con)
    _comment(con, "main", None)


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
                   Path(__file__).with_name("snapshot_incremental.py")):
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




def _columns(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
        "AND table_name = ? ORDER BY column_index", [database, schema, table]).fetchall()]


def _relations(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, str]:
    """name -> TABLE or VIEW, for one schema of the snapshot."""
    return dict(con.execute(
        "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE database_name = 'snap' AND "
        "schema_name = ? UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE "
        "database_name = 'snap' AND schema_name = ? AND NOT internal", [schema, schema]).fetchall())


def _copied_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """The live table's columns that reach the snapshot."""
    columns = _columns(con, "live", schema, table)
    if (schema, table) == ("main", "quarantine"):
        return [c for c in columns if c in QUARANTINE_COLUMNS]
    return columns


def _copy_tables(con: duckdb.DuckDBPyConnection) -> None:
    tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                         "database_name = 'snap' ORDER BY ALL").fetchall()
    for schema, table in tables:
        target = f"snap.{sql_identifier(schema)}.{sql_identifier(table)}"
        if (schema, table) == ("main", "quarantine"):
            # Dropped while empty: a column dropped after the copy would leave its old blocks,
            # partners' values included, in the file.
            for column in _columns(con, "snap", schema, table):
                if column not in QUARANTINE_COLUMNS:
                    con.execute(f"ALTER TABLE {target} DROP COLUMN {sql_identifier(column)}")
        names = ", ".join(sql_identifier(c) for c in _columns(con, "snap", schema, table))
        con.execute(f"INSERT INTO {target} ({names}) SELECT {names} "
                    f"FROM live.{sql_identifier(schema)}.{sql_identifier(table)}")


def _initiative_schemas(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Schemas the warehouse made for an initiative (they hold its records)."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT schema_name FROM duckdb_tables() WHERE database_name = 'snap' AND "
        "schema_name <> 'main' AND table_name IN ('records', 'aggregate_counts') ORDER BY 1"
    ).fetchall()]


def _config(workspace: Workspace, initiative_id: str) -> InitiativeConfig | None:
    """The initiative's definitions, or None when they no longer load (generic texts then)."""
    try:
        return workspace.load(initiative_id)
    except (ConfigError, FileNotFoundError, OSError):
        return None


def _add_analyst_tables(con: duckdb.DuckDBPyConnection, workspace: Workspace, schema: str,
                        config: InitiativeConfig | None) -> None:
    s = f"snap.{sql_identifier(schema)}"
    results = workspace.published(schema) / "partnership" / "indicator_results.parquet"
    if results.is_file():
        # The published file itself, so "as published" holds by construction.
        con.execute(f"CREATE TABLE {s}.indicator_results AS SELECT * FROM read_parquet(?)",
                    [str(results)])
    if config is not None:
        _add_indicators(con, s, config)
    relations = _relations(con, schema)
    initiative = sql_literal(schema)
    loaded, current = [], []
    for table in ("records", "aggregate_counts"):
        if table in relations:
            loaded.append(f"SELECT submission_id, CAST(period AS VARCHAR) AS period, count(*) "
                          f"AS n FROM {schema}.{table} GROUP BY ALL")
        if f"{table}_current" in relations:
            current.append(f"SELECT submission_id, CAST(period AS VARCHAR) AS period, count(*) "
                           f"AS n FROM {schema}.{table}_current GROUP BY ALL")
    empty = "SELECT NULL::BIGINT AS submission_id, NULL::VARCHAR AS period, 0 AS n WHERE false"
    # View bodies name tables without the database, so they bind in whichever database holds
    # them; the SQL must stay readable by DuckDB 1.0 (every client re-binds it).
    con.execute(f"""
        CREATE VIEW {s}.submissions_by_partner_period AS
        WITH loaded AS ({' UNION ALL '.join(loaded) or empty}),
        counting AS ({' UNION ALL '.join(current) or empty}),
        files AS (
            SELECT f.submission_id, f.partner_id, f.status, f.file_name, f.received_at,
                   l.period, coalesce(l.n, 0) AS rows_loaded, coalesce(c.n, 0) AS rows_current
            FROM main.submissions AS f
            LEFT JOIN loaded AS l ON l.submission_id = f.submission_id
            LEFT JOIN counting AS c ON c.submission_id = l.submission_id AND c.period = l.period
            WHERE f.initiative_id = {initiative})
        SELECT partner_id, period, status, count(DISTINCT submission_id) AS files,
               CAST(sum(rows_loaded) AS BIGINT) AS rows_loaded,
               CAST(sum(rows_current) AS BIGINT) AS rows_current,
               min(received_at) AS first_received_at, max(received_at) AS last_received_at,
               arg_max(file_name, submission_id) AS latest_file_name
        FROM files GROUP BY partner_id, period, status""")
    con.execute(f"""
        CREATE VIEW {s}.quarantine_by_rule AS
        SELECT q.partner_id, q.rule, q.column_name,
               count(DISTINCT q.submission_id) AS files,
               count(DISTINCT CAST(q.submission_id AS VARCHAR) || ':' ||
                              CAST(q.source_row AS VARCHAR)) AS rows_affected,
               count(*) AS cells, max(f.received_at) AS last_received_at
        FROM main.quarantine AS q LEFT JOIN main.submissions AS f
            ON f.submission_id = q.submission_id
        WHERE q.initiative_id = {initiative}
        GROUP BY q.partner_id, q.rule, q.column_name""")


def _add_indicators(con: duckdb.DuckDBPyConnection, s: str, config: InitiativeConfig) -> None:
    con.execute(f"""CREATE TABLE {s}.indicators (indicator_id VARCHAR, title VARCHAR,
        description VARCHAR, unit VARCHAR, direction VARCHAR, source VARCHAR,
        disaggregations VARCHAR, period_type VARCHAR, baseline_period VARCHAR,
        baseline_value DOUBLE, target_period VARCHAR, target_value DOUBLE)""")
    con.executemany(f"INSERT INTO {s}.indicators VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        [i.id, i.title, i.description, i.unit, i.direction, i.source,
         ", ".join(i.disaggregations), i.period_type,
         i.baseline.period if i.baseline else None, i.baseline.value if i.baseline else None,
         i.target.period if i.target else None, i.target.value if i.target else None]
        for i in config.indicators])


def _add_data_dictionary(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE VIEW snap.main.data_dictionary AS
        WITH relations AS (
            SELECT database_name, schema_name, table_name, 'table' AS kind, comment
            FROM duckdb_tables()
            UNION ALL
            SELECT database_name, schema_name, view_name, 'view', comment
            FROM duckdb_views() WHERE NOT internal)
        SELECT c.database_name, c.schema_name, c.table_name, r.kind,
               r.comment AS table_comment, c.column_index, c.column_name, c.data_type,
               c.comment AS column_comment
        FROM duckdb_columns() AS c
        JOIN relations AS r ON r.database_name = c.database_name
             AND r.schema_name = c.schema_name AND r.table_name = c.table_name
        WHERE c.database_name NOT IN ('system', 'temp')
        ORDER BY c.database_name, c.schema_name, c.table_name, c.column_index""")


def _comment(con: duckdb.DuckDBPyConnection, schema: str,
             config: InitiativeConfig | None) -> None:
    """COMMENT ON every described table/view and column; unknown ones stay bare (a test fails)."""
    known = table_descriptions(config)
    for name, kind in _relations(con, schema).items():
        if name not in known:
            continue
        description, columns = known[name]
        relation = f"snap.{sql_identifier(schema)}.{sql_identifier(name)}"
        con.execute(f"COMMENT ON {kind} {relation} IS {sql_literal(description)}")
        for column in _columns(con, "snap", schema, name):
            if column in columns:
                con.execute(f"COMMENT ON COLUMN {relation}.{sql_identifier(column)} IS "
                            f"{sql_literal(columns[column])}")
