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


def check_conditions(indicator: Indicator, schema: IntakeSchema, class_labels: list[str],
                     path: Path) -> None:
    """Conditions are run on the warehouse records: only columns kept there can be used, and
    each value must be a finite value of the column's type (`value: "yes"` on a 0/1 column
    would otherwise count nobody, without a word). A value no record can have (`value: 2` on a
    0/1 column, a class band spelled "Below 100%"), or a numerator its denominator rules out,
    would publish a 0% or an empty indicator without a word: refused too."""
    from pipelines.standardize import record_columns  # config is imported by standardize

    kept = dict(record_columns(schema))
    usable = ", ".join(kept)
    intake = {c.name: c.role for c in schema.columns}
    measures = {c.name: c for c in schema.columns if c.role == "measure"}
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
            if condition.op in ("<", "<=", ">", ">=") and kept[condition.column] == "VARCHAR":
                # Text compares letter by letter: "FY2022" > "2023", and a class band sorts by
                # its name, not by income.
                raise ConfigError(f"{key}.op: {condition.op!r} on column {condition.column!r} "
                                  "compares text letter by letter, not as amounts or periods "
                                  "(\"FY2022\" > \"2023\"): list the values meant, with "
                                  "op: in")
            listed = isinstance(condition.value, (list, tuple))
            values = condition.value if listed \
                else None if condition.value is None else [condition.value]
            for position, value in enumerate(values or ()):
                where = f"{key}.value{f'.{position}' if listed else ''}"
                problem = _value_problem(value, kept[condition.column])
                if problem:
                    raise ConfigError(f"{where}: {problem} (column {condition.column!r} is "
                                      f"{kept[condition.column]})")
                if condition.column == "class" and value not in class_labels:
                    raise ConfigError(f"{where}: {value!r} is not a class band; the bands are "
                                      f"{', '.join(repr(b) for b in class_labels)}")
                column = measures.get(condition.column)
                problem = _never_met(condition.op, value, column) if column else None
                if problem:  # in a list, the other values may still count someone
                    outcome = "no record has it" if listed else "no record would count"
                    raise ConfigError(f"{where}: {problem}, so {outcome}")
    _check_numerator_can_hold(indicator, path)


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


def _never_met(op: str, value: Any, column) -> str | None:
    """Why no record can meet `column op value` under the template's allowed values and bounds,
    or None."""
    # Only a test that a value is present can count nobody: `!= 2` on a 0/1 column counts all.
    if column.allowed is not None and op in ("=", "in"):
        if value not in column.allowed:
            return (f"{value!r} is not one of the values column {column.name!r} allows "
                    f"({', '.join(repr(v) for v in column.allowed)})")
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    low, high = column.min, column.max
    outside = (low is not None and value < low) or (high is not None and value > high)
    beyond = {"=": outside, "in": outside,
              ">": high is not None and value >= high, ">=": high is not None and value > high,
              "<": low is not None and value <= low, "<=": low is not None and value < low}
    if beyond.get(op):
        bounds = " and ".join(f"{word} {bound:g}" for word, bound in
                              (("at least", low), ("at most", high)) if bound is not None)
        return f"no record can be {op} {value!r}: column {column.name!r} is {bounds}"
    return None


def _values_kept(condition) -> set | None:
    """The values a record may have under an `=` or `in` condition; None for other ops."""
    if condition.op == "=":
        return {condition.value}
    if condition.op == "in":
        return set(condition.value)
    return None


def _check_numerator_can_hold(indicator: Indicator, path: Path) -> None:
    """The numerator counts the denominator's people who also meet its own conditions: one that
    asks for a value the denominator leaves out (denominator `ready = 0`, numerator `ready = 1`)
    publishes 0% for every period, which reads as a result."""
    for index, condition in enumerate(indicator.numerator):
        wanted = _values_kept(condition)
        for other in indicator.denominator:
            if other.column != condition.column:
                continue
            allowed = _values_kept(other)
            never = (wanted is not None and allowed is not None and not wanted & allowed) or \
                {condition.op, other.op} == {"is_null", "not_null"} or \
                (condition.op == "is_null" and allowed is not None)
            if never:
                raise ConfigError(
                    f"{path}: numerator.{index}: no record the denominator counts can meet it "
                    f"(the denominator asks {other.column} {other.op} "
                    f"{'' if other.value is None else repr(other.value)}".rstrip() + "), so "
                    "every period would publish 0%")
