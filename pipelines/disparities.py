"""Disparity measures (NCI HD*Calc) over suppressed cell tables.

Per (initiative, indicator, period, partner) and dimension (rows carry the indicator period's
`period_type`, `period_start` and `period_end` when the cells do):
  * race: 'alone' rows at class 'ALL' (the multiracial group included);
  * class: race 'ALL' rows at each class label.
Each non-reference group gets its rate, pair ratio and pair difference against the
reference group; the index of disparity (IDisp) summarises the dimension:
mean |r_i - r_ref| over the compared groups, / r_ref, x 100, with every rate taken as the rate
of the adverse event (Keppel & Pearcy, "Measuring relative disparities in terms of adverse
events", J Public Health Manag Pract 2005;11(6):479-83): for an indicator whose rate is a
favourable event (`higher_is_better`) the divisor is 1 - r_ref, the reference group's rate of
not reaching the outcome. The gaps |r_i - r_ref| are the same either way; only the divisor is.
The ratio and difference stay those of the published rates.

Suppressed cells never appear or contribute: a rate that is not published cannot be
published through a ratio either. A NULL `suppressed` (a row suppression never saw)
counts as suppressed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb

DIMENSIONS = ("race", "class")
PERIOD_COLUMNS = ("period_type", "period_start", "period_end")
# Missing data is not a population group; comparing against it, or letting it move
# IDisp, would make disparities depend on data quality.
DEFAULT_EXCLUDED_GROUPS = ("Not reported",)
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


def _check_name(name: str) -> str:
    if not _TABLE_NAME.match(name):
        raise ValueError(f"not a plain table name: {name!r}")
    return name


def compute_disparities(
    con: duckdb.DuckDBPyConnection,
    cells_table: str,
    out_table: str,
    reference_groups: dict[str, str],
    *,
    exclude_groups: Sequence[str] = DEFAULT_EXCLUDED_GROUPS,
    favorable_indicators: Sequence[str] = (),
) -> None:
    """Create or replace `out_table` with one row per compared group.

    reference_groups: {"race": "White", "class": "400%+ FPG"}; a dimension left out is
    not computed. `cells_table` must already carry `suppressed` (run suppress_cells).
    `favorable_indicators`: ids of indicators whose rate is a favourable event
    (`direction: higher_is_better`); their index of disparity is relative to the reference
    group's adverse rate, 1 - reference_rate.
    """
    _check_name(cells_table)
    _check_name(out_table)
    unknown = set(reference_groups) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"reference_groups: unknown dimensions {sorted(unknown)}; expected {DIMENSIONS}")
    for dim, ref in reference_groups.items():
        if not isinstance(ref, str) or not ref:
            raise ValueError(f"reference_groups.{dim}: must be a group label, got {ref!r}")
        if ref in exclude_groups:
            raise ValueError(f"reference_groups.{dim}: {ref!r} is excluded from comparisons")
    columns = {r[0] for r in con.execute(f"DESCRIBE {cells_table}").fetchall()}
    if "suppressed" not in columns:
        raise ValueError(f"{cells_table}: no 'suppressed' column; run suppress_cells first")
    # The indicator period's type and dates ride along (measure's cells have them; a bare cell
    # table of tests or analysts may not). One indicator has one period type, so `period`
    # alone still identifies the period within an indicator.
    period_columns = [c for c in PERIOD_COLUMNS if c in columns]
    periods = "".join(f"{c}, " for c in period_columns)

    refs = [(d, reference_groups[d]) for d in DIMENSIONS if d in reference_groups]
    ref_values = ", ".join("(?, ?)" for _ in refs) or "(NULL, NULL)"
    params: list[object] = [v for pair in refs for v in pair]
    excluded = list(exclude_groups)

    con.execute(
        f"""
        CREATE OR REPLACE TABLE {out_table} AS
        WITH refs(dimension, reference_group) AS (VALUES {ref_values}),
        groups AS (
            SELECT initiative_id, indicator_id, period, {periods} partner_id,
                   'race' AS dimension, race AS group_label, numerator, denominator
            FROM {cells_table}
            WHERE race_tabulation = 'alone' AND class = 'ALL' AND race <> 'ALL'
              AND suppressed IS FALSE AND denominator > 0
            UNION ALL
            SELECT initiative_id, indicator_id, period, {periods} partner_id,
                   'class', class, numerator, denominator
            FROM {cells_table}
            WHERE race_tabulation = 'total' AND race = 'ALL' AND class <> 'ALL'
              AND suppressed IS FALSE AND denominator > 0
        ),
        rated AS (
            SELECT g.*, r.reference_group,
                   g.numerator::DOUBLE / g.denominator AS rate,
                   -- a window, not a join, so NULL partner_id (initiative-level rows) pair up
                   max(g.numerator::DOUBLE / g.denominator)
                       FILTER (WHERE g.group_label = r.reference_group)
                       OVER (PARTITION BY g.initiative_id, g.indicator_id, g.period,
                                          g.partner_id, g.dimension) AS reference_rate
            FROM groups AS g
            JOIN refs AS r USING (dimension)
            WHERE NOT list_contains(?::VARCHAR[], g.group_label)
        ),
        compared AS (
            SELECT *, CASE WHEN list_contains(?::VARCHAR[], indicator_id)
                           THEN 1 - reference_rate ELSE reference_rate END
                          AS adverse_reference_rate
            FROM rated
            WHERE group_label <> reference_group AND reference_rate IS NOT NULL
        )
        SELECT initiative_id, indicator_id, period, {periods} partner_id, dimension,
               group_label, reference_group,
               rate AS group_rate,
               reference_rate,
               CASE WHEN reference_rate = 0 THEN NULL ELSE rate / reference_rate END AS rate_ratio,
               rate - reference_rate AS rate_difference,
               CASE WHEN adverse_reference_rate = 0 THEN NULL
                    ELSE avg(abs(rate - reference_rate)) OVER w / adverse_reference_rate * 100
               END AS index_of_disparity,
               count(*) OVER w AS groups_compared
        FROM compared
        -- The mean of doubles depends on the order it adds them in: ordered by group, the same
        -- cells always give the same index, whatever order measure wrote them in.
        WINDOW w AS (PARTITION BY initiative_id, indicator_id, period, partner_id, dimension
                     ORDER BY group_label
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        ORDER BY ALL
        """,
        [*params, excluded, list(favorable_indicators)],
    )
