"""SQL text for values and names that come from files: the one place quoting is written.

Every stage builds DuckDB SQL from definitions, partner values or paths; each such piece goes
through here, never through an f-string of its own.
"""

from __future__ import annotations


def sql_literal(value: object) -> str:
    """A number as itself, anything else as a single-quoted string literal."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A double-quoted identifier (a schema, table or column name)."""
    return '"' + name.replace('"', '""') + '"'
