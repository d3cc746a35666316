"""Checks across definition files, run by `InitiativeConfig.load` before any partner file moves.

Each one catches a mistake that would otherwise pass loading and fail later or, worse, publish
something silently wrong (no rows, nothing suppressed); each names the file and the key.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pipelines.errors import ConfigError

if TYPE_CHECKING:
    from pipelines.config import Indicator, Initiative, IntakeSchema

# DuckDB types of record columns, by what a condition value must be to compare with them.
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "UHUGEINT"}
_NUMBER_TYPES = {"FLOAT", "DOUBLE", "DECIMAL"}


@lru_cache(maxsize=1)
def reserved_sql_words() -> frozenset[str]:
    """DuckDB's reserved keywords: a column named `primary` breaks every query naming it."""
    con = duckdb.connect()
    try:
        return frozenset(row[0] for row in con.execute(
            "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'"
        ).fetchall())
    finally:
        con.close()


# Role columns the records keep under a fixed name, whatever a template calls them.
_KEPT_AS = {"period": "period", "household_income": "household_income",
            "household_size": "household_size", "state": "state",
            "class_proxy": "class_proxy_value", "partner_id": "partner_id"}


def _value_problem(value: Any, sql_type: str) -> str | None:
    """Why `value` cannot be compared with a column of `sql_type`, or None when it can."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if sql_type == "BOOLEAN":
        ok = isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))
        return None if ok else f"{value!r} is not true/false (or 1/0): the column is yes/no"
    if sql_type in _INTEGER_TYPES:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{value!r} is not a whole number: the column holds integers"
    if sql_type in _NUMBER_TYPES:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"{value!r} is not a number: the column holds numbers"
    if sql_type == "DATE":
        if isinstance(value, dt.date):
            return None
        try:
            dt.date.fromisoformat(str(value))
            return None
        except ValueError:
            return f"{value!r} is not a date (YYYY-MM-DD)"
    if not isinstance(value, str):
        return f"{value!r} is not text: the column holds text (quote the value)"
    return None


def check_conditions(indicator: Indicator, schema: IntakeSchema, path: Path) -> None:
    """Conditions are run on the warehouse records: only columns kept there can be used, and
    each value must be a finite value of the column's type (`value: "yes"` on a 0/1 column
    would otherwise count nobody, without a word)."""
    from pipelines.standardize import record_columns  # config is imported by standardize

    kept = dict(record_columns(schema))
    usable = ", ".join(kept)
    intake = {c.name: c.role for c in schema.columns}
    for part in ("numerator", "denominator"):
        for index, condition in enumerate(getattr(indicator, part)):
            key = f"{path}: {part}.{index}"
            if condition.column not in kept:
                stored = _KEPT_AS.get(intake.get(condition.column, ""))
                why = (f"is a column of intake schema {schema.id!r} but is not kept in the "
                       "records indicators are measured from" if condition.column in intake
                       else f"is not a column of intake schema {schema.id!r}")
                if stored:
                    # A template's own name for a role column (`program_year`, `income`): the
                    # records keep it under the role's name, which is what a condition must use.
                    why = (f"is column {condition.column!r} of intake schema {schema.id!r}, kept "
                           f"in the records as {stored!r} (its role); write column: {stored}")
                raise ConfigError(f"{key}.column: {condition.column!r} {why}; conditions can "
                                  f"use: {usable}")
            values = condition.value if isinstance(condition.value, (list, tuple)) \
                else None if condition.value is None else [condition.value]
            for position, value in enumerate(values or ()):
                problem = _value_problem(value, kept[condition.column])
                if problem:
                    where = f".{position}" if isinstance(condition.value, (list, tuple)) else ""
                    raise ConfigError(f"{key}.value{where}: {problem} (column "
                                      f"{condition.column!r} is {kept[condition.column]})")


def check_reference_groups(initiative: Initiative, race_labels: list[str],
                           class_labels: list[str], path: Path) -> None:
    """A misspelt reference group matches no cell: every disparity would silently vanish."""
    known = {"race": race_labels, "class": class_labels}
    for dimension, label in initiative.reference_groups.items():
        if label not in known[dimension]:
            raise ConfigError(f"{path}: reference_groups.{dimension}: {label!r} is not a "
                              f"{dimension} group; use one of: "
                              + ", ".join(repr(k) for k in known[dimension]))


def check_aggregate_sources(initiative: Initiative, indicators: list[Indicator],
                            files: dict[str, Path]) -> None:
    """An indicator measured from aggregate submissions, in an initiative where no partner
    submits aggregates, would never have a number, and nobody would be told why."""
    if any(p.submits == "aggregates" for p in initiative.partners.values()):
        return
    for indicator in indicators:
        if indicator.source == "aggregates":
            raise ConfigError(
                f"{files[indicator.id]}: source: 'aggregates', but no partner of "
                f"{initiative.id!r} submits aggregates (partners.<id>.submits: aggregates in "
                "initiative.yaml), so this indicator would never have data; measure it from "
                "records (numerator and denominator conditions) or register the partner")
