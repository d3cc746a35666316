"""The analysts' own objects in the snapshot: tables and views named for their grain, the data
dictionary and a COMMENT on everything described (pipelines/dictionary.py). Small, and made
again on every snapshot, fresh or brought up to date."""

from __future__ import annotations

import duckdb

from pipelines.config import ConfigError, InitiativeConfig, Workspace
from pipelines.dictionary import table_descriptions
from pipelines.sql import sql_identifier, sql_literal

# Tests set this to comment every relation and column again, as a fresh build does, and compare.
ALWAYS_COMMENT = False


def refresh(con: duckdb.DuckDBPyConnection, workspace: Workspace) -> None:
    # What the analyst steps add (in no live schema) is made again, as a fresh build makes it.
    for schema, name, kind in con.execute(
            "SELECT schema_name, table_name, 'TABLE' FROM duckdb_tables() WHERE database_name "
            "= 'snap' UNION ALL SELECT schema_name, view_name, 'VIEW' FROM duckdb_views() WHERE "
            "database_name = 'snap' AND NOT internal EXCEPT SELECT schema_name, table_name, "
            "'TABLE' FROM duckdb_tables() WHERE database_name = 'live' EXCEPT SELECT "
            "schema_name, view_name, 'VIEW' FROM duckdb_views() WHERE database_name = 'live' "
            "AND NOT internal").fetchall():
        con.execute(f"DROP {kind} snap.{sql_identifier(schema)}.{sql_identifier(name)}")
    add(con, workspace)


def add(con: duckdb.DuckDBPyConnection, workspace: Workspace) -> None:
    for schema in _initiative_schemas(con):
        config = _config(workspace, schema)
        _add_analyst_tables(con, workspace, schema, config)
        _comment(con, schema, config)
    _add_data_dictionary(con)
    _comment(con, "main", None)


def column_names(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str
                 ) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
        "AND table_name = ? ORDER BY column_index", [database, schema, table]).fetchall()]


def _relations(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, str]:
    """name -> TABLE or VIEW, for one schema of the snapshot."""
    return dict(con.execute(
        "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE database_name = 'snap' AND "
        "schema_name = ? UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE "
        "database_name = 'snap' AND schema_name = ? AND NOT internal", [schema, schema]).fetchall())


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
    """COMMENT ON every described table/view and column; unknown ones stay bare (a test fails).
    A comment that already holds its text is left as it is: a snapshot brought up to date is a
    copy of one commented last night, and setting a comment to its own text changes nothing
    (~270 statements, 0.1 CPU s at 1 GB, the bulk of the analyst objects' cost)."""
    known = table_descriptions(config)
    present: dict[tuple[str, str | None], str | None] = {}
    columns: dict[str, list[str]] = {}
    for name, column, comment in con.execute(
            "SELECT table_name, column_name, comment::VARCHAR FROM duckdb_columns() WHERE "
            "database_name = 'snap' AND schema_name = ? ORDER BY table_name, column_index",
            [schema]).fetchall():
        columns.setdefault(name, []).append(column)
        present[name, column] = comment
    present.update(((name, None), comment) for name, comment in con.execute(
        "SELECT table_name, comment::VARCHAR FROM duckdb_tables() WHERE database_name = 'snap' "
        "AND schema_name = ? UNION ALL SELECT view_name, comment::VARCHAR FROM duckdb_views() "
        "WHERE database_name = 'snap' AND schema_name = ? AND NOT internal",
        [schema, schema]).fetchall())

    def stale(name: str, column: str | None, text: str) -> bool:
        return ALWAYS_COMMENT or (name, column) not in present or present[name, column] != text

    for name, kind in _relations(con, schema).items():
        if name not in known:
            continue
        description, described = known[name]
        relation = f"snap.{sql_identifier(schema)}.{sql_identifier(name)}"
        if stale(name, None, description):
            con.execute(f"COMMENT ON {kind} {relation} IS {sql_literal(description)}")
        for column in columns.get(name, []):
            if column in described and stale(name, column, described[column]):
                con.execute(f"COMMENT ON COLUMN {relation}.{sql_identifier(column)} IS "
                            f"{sql_literal(described[column])}")
