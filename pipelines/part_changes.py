"""The decision log (`<initiative>.part_changes`), read back after a night: which held files a
data lead may still accept, what a file changed (for a report written later), and whether the
published outputs predate a decision.

`pipelines/resubmission.py` writes the log while it settles a night or applies an accept.
"""

from __future__ import annotations

import duckdb

from pipelines.config import InitiativeConfig
from pipelines.resubmission import PartChange, layout_for
from pipelines.sql import sql_int_list


def held_group(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
               submission_id: int) -> list[int]:
    """The held files judged together with this one (all are applied together)."""
    rows = con.execute(f"""
        SELECT DISTINCT unnest(submission_ids) FROM {config.id}.part_changes
        WHERE held AND batch IN (SELECT batch FROM {config.id}.part_changes
                                 WHERE held AND list_contains(submission_ids, $id))""",
                       {"id": submission_id}).fetchall()
    ids = [r[0] for r in rows] or [submission_id]
    still = con.execute(f"SELECT submission_id FROM submissions WHERE status = 'held' AND "
                        f"submission_id IN ({sql_int_list(ids)}) ORDER BY 1").fetchall()
    return [r[0] for r in still]


def overtaken(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, partner_id: str,
              group: list[int]) -> list[str]:
    """Parts of held files for which newer files were applied since: accepting the held ones
    then would bring back people the newer complete file removed, so it is refused."""
    lay = layout_for(config, partner_id)
    # Dated parts were days before they were months: a day part is compared as its month.
    month = ("CASE WHEN regexp_full_match(part, '\\d{4}-\\d{2}-\\d{2}') THEN left(part, 7) "
             "ELSE part END")
    rows = con.execute(f"""
        SELECT DISTINCT {month} AS part FROM {config.id}.part_changes
        WHERE partner_id = $partner AND source_table = $table AND NOT held
          AND batch > {max(group)}
          AND {month} IN (SELECT {month} FROM {config.id}.part_changes
                          WHERE held AND batch = {min(group)})
        ORDER BY part""", {"partner": partner_id, "table": lay.table}).fetchall()
    return [r[0] for r in rows]


def recorded_changes(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                     submission_id: int) -> list[PartChange]:
    """The changes a file made, as recorded when it was judged (for a report written later)."""
    rows = con.execute(f"""SELECT part, submission_ids, rows_before, rows_carried, rows_kept,
                                  rows_after, decision, held, coalesce(rows_listed, 0)
                           FROM {config.id}.part_changes
                           WHERE list_contains(submission_ids, $id) AND how = 'nightly run'
                           ORDER BY part""", {"id": submission_id}).fetchall()
    return [PartChange(tuple(part.split(" ")), list(ids), b, c, k, a, d, h, listed=q)
            for part, ids, b, c, k, a, d, h, q in rows]


def unpublished(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> bool:
    """True when current data changed (an accept) since outputs were last published."""
    return con.execute(f"SELECT count(*) FROM {config.id}.part_changes WHERE NOT published"
                       ).fetchall()[0][0] > 0


def mark_published(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> None:
    con.execute(f"UPDATE {config.id}.part_changes SET published = true WHERE NOT published")
