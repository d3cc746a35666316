"""Partners that initiative.yaml no longer lists: their rows are kept and do not count.

A partner renamed or removed in initiative.yaml leaves its rows in `<initiative>.records` and
`aggregate_counts`, which are append-only. Counting them would class them without the crosswalk
they were sent under, and would keep them beside the new id's complete file (a complete file
replaces its own partner's rows only), so the old numbers would stay in every all-partner count.
So the `_current` views (pipelines/resubmission.py `ensure_tables`, made again from today's
definitions by every warehouse step) hold the rows of listed partners only. Nothing is deleted:
listing the partner again makes its rows count again, as its own files had left them.

Never silently: each run's summary, `backbone run`'s output and the partnership manifest
(`partners_not_listed`, and a line in `notes`) say how many current rows of each unlisted partner
do not count. A partner-list change is a definitions change (`InitiativeConfig.fingerprint` holds
initiative.yaml), so a night with no new files measures and publishes again; the measure's reuse
of kept counts sees the partner's parts go (or come back) and counts their periods again
(pipelines/measure_reuse.py compares every part, the partner included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.sql import has_table, sql_literal

if TYPE_CHECKING:
    import duckdb

    from pipelines.config import InitiativeConfig

UNITS = {"records": ("current record", "current records"),
         "aggregate_counts": ("current aggregate cell", "current aggregate cells")}


def listed_sql(config: InitiativeConfig, column: str = "partner_id") -> str:
    """SQL true for the rows of partners initiative.yaml lists."""
    ids = sorted(config.initiative.partners)
    return f"{column} IN ({', '.join(sql_literal(p) for p in ids)})" if ids else "false"


def not_counted(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> list[dict]:
    """Per partner with rows that would be current but is not listed: {"partner_id",
    "records", "aggregate_counts"} (rows), and the sentence that says so. The usual night (every
    partner with loaded files is listed) costs one query of `submissions`."""
    from pipelines.resubmission import current_sql, layouts

    if not has_table(con, "main", "submissions"):
        return []
    gone = [r[0] for r in con.execute(
        f"SELECT DISTINCT partner_id FROM submissions WHERE initiative_id = ? AND status = "
        f"'loaded' AND NOT {listed_sql(config)} ORDER BY 1", [config.id]).fetchall()]
    if not gone:
        return []
    found = {p: {"partner_id": p, "records": 0, "aggregate_counts": 0} for p in gone}
    among = f"t.partner_id IN ({', '.join(sql_literal(p) for p in gone)})"
    for lay in layouts(config):
        schema, table = lay.table.split(".")
        if not has_table(con, schema, table):
            continue
        for partner_id, rows in con.execute(
                f"SELECT partner_id, count(*) FROM ({current_sql(lay, among)}) GROUP BY ALL"
        ).fetchall():
            found[partner_id][table] = rows
    counted = [f for f in found.values() if f["records"] or f["aggregate_counts"]]
    for item in counted:
        item["note"] = sentence(item)
    return counted


def sentence(item: dict) -> str:
    rows = " and ".join(f"{item[t]:,} {UNITS[t][item[t] != 1]}" for t in UNITS if item.get(t))
    return (f"partner {item['partner_id']!r} is no longer listed in initiative.yaml: its {rows} "
            f"{'is' if rows.startswith('1 ') and ' and ' not in rows else 'are'} not counted "
            "(add it back to count them)")
