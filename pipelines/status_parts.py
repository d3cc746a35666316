"""The submission status's counts per file and record period, from measure's part summary where
that is provably the same as counting the records.

The status counts every record a file brought, current or not (set aside, superseded, held:
what was received counts). Measure's `_measure_parts` (measure_reuse.count_parts, made from
`records_current` in the same warehouse step, just before publishing) counts the current ones
per (partner, period, period start and end, submission), with `n` rows and `with_<measure>`
rows holding each measure. `records_current` is `records` without the rows of a
(submission, period) in `records_set_aside` and without the (submission, source row)s in
`records_superseded`: so for a submission named in neither table, all its records are current,
and summing its parts by (submission, period start, period end) gives what counting its
records gives. Those submissions are read from the parts; the others (and every count that is
not one measure's, e.g. rows with any of several measures) from the records, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.sql import sql_literal

if TYPE_CHECKING:
    from pipelines.config import InitiativeConfig


def from_parts(config: InitiativeConfig, expression: str) -> str | None:
    """The parts column that holds `expression`'s count (as `_covered_sql` writes it) for a
    submission whose records are all current; None when no column does."""
    from pipelines.measure_reuse import measure_columns

    if expression == "count(*) FILTER (WHERE true)":
        return "n"
    for measure in measure_columns(config):
        if expression in (f"count({measure})", f"count(*) FILTER (WHERE {measure} IS NOT NULL)"):
            return f"with_{measure}"
    return None


def per_file_sql(config: InitiativeConfig, partner_id: str, parts: str,
                 expressions: dict[str, str]) -> str | None:
    """The body of `per_file_<n>` for a partner sending records, from `parts` for whole
    submissions and from the records for the rest; None when some count is not in the parts."""
    found = {alias: from_parts(config, e) for e, alias in expressions.items()}
    if any(column is None for column in found.values()):
        return None
    partner = sql_literal(partner_id)
    # The partner's files, and whether all their records are current: decided on a few rows
    # per file before any record is read, so the records scan is pruned to the others.
    files = f"""(SELECT f.submission_id, NOT EXISTS (
                    SELECT 1 FROM {config.id}.records_set_aside AS x
                    WHERE x.submission_id = f.submission_id) AND NOT EXISTS (
                    SELECT 1 FROM {config.id}.records_superseded AS s
                    WHERE s.submission_id = f.submission_id) AS whole
                 FROM files AS f
                 WHERE f.partner_id = {partner} AND f.status IN ('loaded', 'held'))"""
    summed = "".join(f", CAST(sum(p.{column}) AS BIGINT) AS {alias}"
                     for alias, column in found.items())
    counted = "".join(f", {e} AS {alias}" for e, alias in expressions.items())
    return f"""
            SELECT p.submission_id, p.period_start, p.period_end{summed}
            FROM {parts} AS p
            JOIN (SELECT submission_id FROM {files} WHERE whole) USING (submission_id)
            GROUP BY ALL
            UNION ALL
            SELECT r.submission_id, r.period_start, r.period_end{counted}
            FROM {config.id}.records AS r
            JOIN (SELECT submission_id FROM {files} WHERE NOT whole) USING (submission_id)
            GROUP BY ALL"""
