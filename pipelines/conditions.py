"""Indicator conditions as SQL, split by what they are about: a record, or a person's class.

A condition on `class` or `poverty_ratio` is about the person's one class in the indicator
period (README, Equity: the lowest class on all their records that period, income before
proxy), the class their breakdown cell shows. It cannot be decided record by record: a student
whose income is on a clinic visit and whose school record has none is below 100% FPG in the
period, though the school record alone is not. `measure` therefore packs each record's other
conditions, and decides the class conditions once per profile, after its records are grouped.
"""

from __future__ import annotations

from pipelines.config import Condition
from pipelines.sql import sql_literal

# Columns of a person's profile, not of one record: `class` is decoded from the profile's
# lowest class rank and `poverty_ratio` is its lowest ratio (the one that gives that class).
PROFILE_COLUMNS = ("class", "poverty_ratio")


def condition_sql(condition: Condition) -> str:
    column = condition.column
    if condition.op == "is_null":
        return f"{column} IS NULL"
    if condition.op == "not_null":
        return f"{column} IS NOT NULL"
    if condition.op in ("in", "not_in"):
        values = ", ".join(sql_literal(v) for v in condition.value)
        return f"{column} {'NOT ' if condition.op == 'not_in' else ''}IN ({values})"
    return f"{column} {condition.op} {sql_literal(condition.value)}"


def conditions_sql(conditions: tuple[Condition, ...]) -> str:
    """All of `conditions` (a NULL is false); 'true' for none."""
    return " AND ".join(f"coalesce({condition_sql(c)}, false)" for c in conditions) or "true"


def record_conditions_sql(conditions: tuple[Condition, ...]) -> str:
    """The conditions one record decides on its own."""
    return conditions_sql(tuple(c for c in conditions if c.column not in PROFILE_COLUMNS))


def profile_conditions(conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    return tuple(c for c in conditions if c.column in PROFILE_COLUMNS)


def uses_profile(indicators, column: str | None = None) -> bool:
    """Whether any of `indicators` has a condition on the profile (on `column`, if given)."""
    return any(c.column in ((column,) if column else PROFILE_COLUMNS)
               for indicator in indicators
               for c in (*indicator.denominator, *indicator.numerator))


def profile_mask_sql(indicators) -> str:
    """A BIGINT keeping, of the two bits per indicator of one packed word (denominator, then
    numerator), those the profile's class conditions allow; evaluated on a row with the
    profile's `class` and `poverty_ratio`."""
    parts = []
    for offset, indicator in enumerate(indicators):
        bit = 2 * offset
        den = profile_conditions(indicator.denominator)
        num = profile_conditions(indicator.numerator)
        if not den and not num:
            parts.append(str(3 << bit))
            continue
        in_den = conditions_sql(den)
        parts.append(f"(CASE WHEN {in_den} THEN {1 << bit} ELSE 0 END) | "
                     f"(CASE WHEN ({in_den}) AND ({conditions_sql(num)}) "
                     f"THEN {1 << (bit + 1)} ELSE 0 END)")
    return " | ".join(f"({p})" for p in parts)
