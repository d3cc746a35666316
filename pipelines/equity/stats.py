"""Interval estimates and reliability rules for published proportions.

Wilson score intervals, because the Wald interval collapses to zero width at 0% and
100% and undercovers at the small denominators equity breakdowns produce.
"""

from __future__ import annotations

import math

import duckdb

Z_95 = 1.959963984540054
# NCHS presentation standard: flag proportions whose denominator is under 30.
RELIABILITY_MIN_DENOMINATOR = 30


def wilson_interval(num: int | float, den: int | float, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for num/den; raises ValueError unless 0 <= num <= den and den > 0."""
    if not den > 0:
        raise ValueError(f"denominator must be positive, got {den}")
    if not 0 <= num <= den:
        raise ValueError(f"numerator must be within [0, {den}], got {num}")
    p = num / den
    z2 = z * z
    scale = 1 + z2 / den
    center = (p + z2 / (2 * den)) / scale
    half = z * math.sqrt(p * (1 - p) / den + z2 / (4 * den * den)) / scale
    # Rounding can push the bound a hair past [0, 1] at p = 0 or 1.
    return max(0.0, center - half), min(1.0, center + half)


def _wilson_sql(sign: str, z: float) -> str:
    n = "CAST(den AS DOUBLE)"
    p = f"(CAST(num AS DOUBLE) / {n})"
    z2 = repr(z * z)
    bound = (
        f"(({p} + {z2} / (2 * {n})) {sign} {z!r} * sqrt({p} * (1 - {p}) / {n} + {z2} / (4 * {n} * {n})))"
        f" / (1 + {z2} / {n})"
    )
    clamp = f"greatest(0.0, {bound})" if sign == "-" else f"least(1.0, {bound})"
    # Invalid counts (num outside [0, den]) give NULL rather than a misleading interval;
    # intake validation is where they get reported.
    return (
        f"CASE WHEN den IS NULL OR den = 0 OR num IS NULL OR num < 0 OR num > den "
        f"THEN NULL ELSE {clamp} END"
    )


def register_stat_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create macros wilson_lower(num, den) and wilson_upper(num, den) (95%)."""
    con.execute(f"CREATE OR REPLACE MACRO wilson_lower(num, den) AS ({_wilson_sql('-', Z_95)})")
    con.execute(f"CREATE OR REPLACE MACRO wilson_upper(num, den) AS ({_wilson_sql('+', Z_95)})")
