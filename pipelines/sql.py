"""SQL text for values and names that come from files (the one place quoting is written), and
the catalog question every writer asks.

Every stage builds DuckDB SQL from definitions, partner values or paths; each such piece goes
through here, never through an f-string of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def sql_literal(value: object) -> str:
    """A number as itself, anything else as a single-quoted string literal."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A double-quoted identifier (a schema, table or column name)."""
    return '"' + name.replace('"', '""') + '"'


def sql_int_list(values) -> str:
    """Integers (submission ids) as the inside of an SQL `IN (...)` list."""
    return ", ".join(str(int(v)) for v in values)


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether the connection's own database (not an attached one) has this table."""
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = "
                            "current_database() AND schema_name = ? AND table_name = ?",
                            [schema, table]).fetchall()[0][0])


def has_column(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    """Whether the connection's own database has this table with this column."""
    return bool(con.execute("SELECT count(*) FROM duckdb_columns() WHERE database_name = "
                            "current_database() AND schema_name = ? AND table_name = ? AND "
                            "column_name = ?", [schema, table, column]).fetchall()[0][0])
