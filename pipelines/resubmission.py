"""What a resubmission means: which of a partner's rows are current after each night.

- Rows are keyed within a partner by the intake template's unique key: person records by
  (person_key, period), aggregate cells by (indicator_id, period, race, class), `period` being
  the canonical label at the grain the partner reported (a dated file's key is person x day). A
  resend updates the keys it carries and adds new ones; for each key the newest row wins.
- Dated person records (period_type `day`, one row per event) may repeat a key within a file (a
  visit and a screening on one day): all rows of the newest submission carrying a key stay
  current, and older submissions' rows for that key are superseded. Counts are in rows.
- A *part* is what a complete file replaces: one period of person records, one indicator-period
  of aggregate cells. The part of a dated record is its month ("2024-03"): a corrected March
  file replaces March (day parts could never drop a day the correction no longer has, and
  judged completeness on a day's handful of rows). Records labelled with that month share the
  part, but a replacement replaces only its own grain's rows of it (dated or labelled) unless
  the crosswalk says `complete_extracts`. A night's files replace a part (dropping keys they do not carry) only when
  they are its complete file: they carry at least `complete_file_share` (intake schema, default
  0.5) of the part's current rows, or the partner's crosswalk says `complete_extracts: true`. One
  late row for last year is an update of that one person, never a replacement of the year.
  A person the files list only in rows they set aside (quarantined) is listed: their earlier
  rows stay, and count toward the share (pipelines/resubmission_listed.py).
- All of a partner's files of one run that share a part are one submission (a period split by
  campus into two files): they are judged and applied together.
- A replacement that would drop more than `max_shrink_share` (default 0.5) of a part's rows is
  held: nothing of those files applies until a data lead runs `backbone accept FILE`.

Storage: `<table>` is append-only (the audit trail). `<table>_set_aside` lists (submission, part)
slices that are not current (replaced by a complete file, or held), `<table>_superseded` single
rows replaced by a newer row for the same key. Both are written in the transaction that loads the
night's files, and `<table>_current` is the table minus both: two hash anti-joins whose build
sides are small. `_set_aside` names stored period labels (a dated part is set aside as its
days), so the `_current` view compares stored columns only and needed no migration. No per-key
aggregation over the whole table happens on read (on 20 M rows with a 600 MB cap, a per-key
max() view ran out of memory; the anti-joins read faster than the old per-period semi-join).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from pipelines import resubmission_listed as listed
from pipelines import resubmission_shortcuts as shortcuts
from pipelines import unlisted
from pipelines.config import InitiativeConfig
from pipelines.sql import sql_int_list, sql_literal


# The month of a dated record (canonical month label), else its stored period label.
MONTH_OF_DAY = ("CASE WHEN period_type = 'day' THEN strftime(period_start, '%Y-%m') "
                "ELSE period END")


@dataclass(frozen=True)
class Layout:
    table: str  # e.g. riverbend.records
    key: tuple[str, ...]
    part: tuple[str, ...]  # the stored columns `_set_aside` names
    unit: str
    part_sql: tuple[str, ...] = ()  # SQL of each part over a row, when not the stored column
    events: bool = False  # dated rows may repeat a key within a submission
    listed: bool = False  # `<table>_quarantined_keys`: people listed in set-aside rows

    def parts(self, alias: bool = True) -> str:
        """The part as SQL over a row, each aliased p0, p1... (names apart from the key's)."""
        exprs = self.part_sql or self.part
        return ", ".join(f"{e} AS p{i}" if alias else e for i, e in enumerate(exprs))

    @property
    def part_names(self) -> str:
        return ", ".join(f"p{i}" for i in range(len(self.part)))


def layouts(config: InitiativeConfig) -> tuple[Layout, Layout]:
    # Person records: the template's unique key (person, period), as stored. records_current
    # holds one row per (partner_id, person_key, period) except for dated rows (events), which
    # measure unduplicates per person and indicator period anyway.
    return (Layout(f"{config.id}.records", ("person_key", "period"), ("period",), "rows",
                   part_sql=(MONTH_OF_DAY,), events=True, listed=True),
            Layout(f"{config.id}.aggregate_counts", ("indicator_id", "period", "race", "class"),
                   ("indicator_id", "period"), "cells"))


def layout_for(config: InitiativeConfig, partner_id: str) -> Layout:
    records, aggregates = layouts(config)
    return aggregates if config.schema_for(partner_id).kind == "aggregates" else records


@dataclass
class PartChange:
    part: tuple
    submission_ids: list[int]
    before: int
    carried: int
    kept: int  # rows already current before whose key the group carries again
    after: int = 0  # for a held group: what it would have been
    decision: str = ""  # added | updated | replaced
    held: bool = False  # the group was held: nothing of it applied
    days: int = 0  # dated rows: the days the group has rows for in this (month) part
    own: int | None = None  # no earlier current row in the part: the group's rows of the partner
    listed: int = 0  # rows before whose key the group lists only in rows it set aside (kept)

    @property
    def label(self) -> str:
        return " ".join(str(v) for v in self.part)


@dataclass
class NightOutcome:
    """What one partner's files of one run did, per file."""
    status: dict[int, str] = field(default_factory=dict)  # submission -> loaded | held
    changes: dict[int, list[PartChange]] = field(default_factory=dict)
    together: dict[int, list[int]] = field(default_factory=dict)  # files judged as one
    unmatched: dict[int, int] = field(default_factory=dict)  # set-aside rows listing no one


def ensure_tables(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS {config.id}.part_changes (
        run_id VARCHAR, how VARCHAR, partner_id VARCHAR, source_table VARCHAR, part VARCHAR,
        batch BIGINT, submission_ids BIGINT[], rows_before BIGINT, rows_carried BIGINT,
        rows_kept BIGINT, rows_after BIGINT, decision VARCHAR, held BOOLEAN,
        decided_at TIMESTAMP, published BOOLEAN)""")
    con.execute(f"ALTER TABLE {config.id}.part_changes ADD COLUMN IF NOT EXISTS rows_listed BIGINT")
    listed.ensure_table(con, config)
    for lay in layouts(config):
        # `period` is the stored canonical label ("2024", "2024Q1", "2024-03-15").
        types = (("indicator_id", "VARCHAR"), ("period", "VARCHAR"))
        parts = ", ".join(f"{c} {t}" for c, t in types if c in lay.part)
        con.execute(f"CREATE TABLE IF NOT EXISTS {lay.table}_set_aside (submission_id BIGINT, "
                    f"{parts}, reason VARCHAR, by_submission BIGINT, decided_at TIMESTAMP)")
        con.execute(f"CREATE TABLE IF NOT EXISTS {lay.table}_superseded (submission_id BIGINT, "
                    "source_row BIGINT, by_submission BIGINT, decided_at TIMESTAMP)")
        # Rebuilt with today's partner list each warehouse step: rows of a partner that
        # initiative.yaml no longer lists stay in the table and do not count (unlisted.py).
        con.execute(f"CREATE OR REPLACE VIEW {lay.table}_current AS "
                    f"{current_sql(lay, unlisted.listed_sql(config, 't.partner_id'))}")


def current_sql(lay: Layout, where: str = "true") -> str:
    """The rows of `lay.table` that no resubmission set aside or superseded, and `where`.

    Written as ANTI JOINs, not NOT EXISTS: DuckDB plans the correlated form as a null-aware
    join, and every scan of `records_current` (each measure's) took 3-4x a scan of `records`
    even with nothing set aside (benchmarks/RESULTS.md, 2026-12-02 05:20). `=` never matches a
    NULL, so the rows are the same."""
    on_part = " AND ".join(f"x.{c} = t.{c}" for c in lay.part)
    return f"""
            SELECT t.* FROM {lay.table} t
            ANTI JOIN {lay.table}_set_aside x
                 ON x.submission_id = t.submission_id AND {on_part}
            ANTI JOIN {lay.table}_superseded s
                 ON s.submission_id = t.submission_id AND s.source_row = t.source_row
            WHERE {where}"""


def _components(con, lay: Layout, submission_ids: list[int]) -> list[list[int]]:
    """Files sharing a part are one submission; union-find over (file, part)."""
    pairs = con.execute(f"SELECT DISTINCT submission_id, {lay.parts()} FROM {lay.table} "
                        f"WHERE submission_id IN ({sql_int_list(submission_ids)})").fetchall()
    parent = {s: s for s in submission_ids}

    def root(s):
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s
    first_with: dict[tuple, int] = {}
    for sid, *part in pairs:
        other = first_with.setdefault(tuple(part), sid)
        parent[root(sid)] = root(other)
    groups: dict[int, list[int]] = {}
    for sid in submission_ids:
        groups.setdefault(root(sid), []).append(sid)
    return [sorted(g) for g in groups.values()]


def _measure(con, lay: Layout, partner_id: str, group: list[int]) -> list[PartChange]:
    """Per part the group carries, in rows: current rows before it (itself excluded), its own
    rows, and the rows before whose key it carries again (the ones it updates). Keys repeat only
    in dated rows; counting rows keeps `before - kept + carried` the rows after an update.

    The earlier rows are filtered by the group's parts as literal VALUES, not by a subquery of
    `new`: with a subquery DuckDB built its hash table on all of the partner's current rows (2 M
    on a 200 MB warehouse, ~1 s per file) to probe it with one part. `_apply` counts the same way,
    and its newest-row window joins the group's DISTINCT keys with an inner JOIN (the same rows as
    the SEMI JOIN), which DuckDB hashes on the keys' side and uses to prune the scan."""
    key, part, ids = ", ".join(lay.key), lay.part_names, sql_int_list(group)
    # Ordered as the general query orders its rows (by part), for the shortcut below.
    owners = con.execute(f"""
        SELECT {part}, list(DISTINCT submission_id ORDER BY submission_id),
               {"count(DISTINCT period) FILTER (WHERE period_type = 'day')" if lay.part_sql
                else "0"}, count(*), count(*) FILTER (WHERE partner_id = {sql_literal(partner_id)})
        FROM (SELECT submission_id, partner_id, period, period_type, {lay.parts()} FROM {lay.table}
              WHERE submission_id IN ({ids})) GROUP BY ALL ORDER BY ALL""").fetchall()
    n = len(lay.part)
    by_part = {tuple(r[:n]): r[n:] for r in owners}
    # A NULL part matches no earlier row (as in a join), so it is left out of the list.
    values = ", ".join("(" + ", ".join(sql_literal(v) for v in p) + ")"
                       for p in by_part if None not in p)
    in_parts = (f"SEMI JOIN (VALUES {values}) p({part}) USING ({part})" if values
                else "WHERE false")
    prefilter = shortcuts.part_filter(lay, [p for p in by_part if None not in p])
    if not shortcuts.ALWAYS_GENERAL and not shortcuts.earlier_rows(con, lay, partner_id, ids,
                                                                      in_parts, prefilter):
        # No current row of the partner in these parts (a first submission of its periods):
        # `old` is empty, so each part's rows are all carried and none kept, which the owners
        # query counted already; the general query would group every row by key to say so.
        return [PartChange(p, owned, 0, rows, 0, days=days, own=own)
                for p, (owned, days, rows, own) in by_part.items()]
    # Earlier rows whose key the group lists only in rows it set aside stay (resubmission_listed).
    keyed = lay.listed and listed.any_keys(con, lay.table, ids)
    rows = con.execute(f"""
        WITH new AS (SELECT {key}, {lay.parts()}, count(*) AS carried FROM {lay.table}
                     WHERE submission_id IN ({ids}) GROUP BY ALL),
        old AS (SELECT {key}, {part}, count(*) AS was
                FROM (SELECT {key}, {lay.parts()} FROM {lay.table}_current
                      WHERE partner_id = $partner AND submission_id NOT IN ({ids}))
                {in_parts} GROUP BY ALL)
        SELECT {part}, coalesce(sum(was), 0)::BIGINT, coalesce(sum(carried), 0)::BIGINT,
               coalesce(sum(was) FILTER (WHERE carried IS NOT NULL), 0)::BIGINT,
               {"coalesce(sum(was) FILTER (WHERE carried IS NULL AND q.listed), 0)::BIGINT"
                if keyed else "0"}
        FROM old FULL OUTER JOIN new USING ({key}, {part})
        {f"LEFT JOIN (SELECT *, true AS listed FROM ({listed.keys_sql(lay.table, ids)})) q "
         f"USING ({key})" if keyed else ""}
        GROUP BY ALL ORDER BY ALL""", {"partner": partner_id}).fetchall()
    return [PartChange(tuple(r[:n]), by_part[tuple(r[:n])][0], *r[n:-1], listed=r[-1],
                       days=by_part[tuple(r[:n])][1]) for r in rows]


def _decide(changes: list[PartChange], share: float, max_shrink: float, complete_extracts: bool,
            allow_shrink: bool) -> bool:
    """Fill in each part's decision and rows after; True when the group must be held."""
    held = False
    for change in changes:
        if change.before == 0:
            change.decision, change.after = "added", change.carried
        # The part's complete file carries most of its *current* rows (kept); counting its new
        # rows too made a second campus sent on a later night replace the first. People it lists
        # in rows it set aside count too: the partner sent them, and they are kept, not removed.
        # A dated key (person and day) may match many earlier events: the share is of the rows
        # the group carries again, never more than it carries (one late row is no month).
        elif complete_extracts or min(change.kept, change.carried) + change.listed >= \
                share * change.before:
            change.decision, change.after = "replaced", change.carried + change.listed
            held |= not allow_shrink and change.before - change.after > max_shrink * change.before
        else:
            change.decision = "updated"
            change.after = change.before + change.carried - change.kept
    for change in changes:
        change.held = held
    return held


def _grains(changes: list[PartChange], complete: bool) -> dict[str, list[tuple]]:
    """The replaced parts, by which of their earlier rows they replace: all (`true`) when every
    file of the partner is complete, else those of the group's own grain. A dated month replaces
    the month's dated rows; rows labelled with the month ("2024-03") are another key, replaced
    only by `complete_extracts`, and the other way round."""
    found: dict[str, list[tuple]] = {}
    for change in changes:
        if change.decision == "replaced":
            grain = "true" if complete else (
                "period_type = 'day'" if change.days else "period_type <> 'day'")
            found.setdefault(grain, []).append(change.part)
    return found


def _apply(con, lay: Layout, partner_id: str, group: list[int], changes: list[PartChange],
           complete: bool = True) -> None:
    ids, first, part = sql_int_list(group), min(group), lay.part_names
    stored = ", ".join(lay.part)
    replaced = [c.part for c in changes if c.decision == "replaced"]
    keeping = replaced and lay.listed and listed.any_keys(con, lay.table, ids)
    for grain, parts in _grains(changes, complete or not lay.events).items():
        values = ", ".join("(" + ", ".join(sql_literal(v) for v in p) + ")" for p in parts)
        if keeping:
            # People the group lists only in rows it set aside keep their earlier rows.
            listed.replace_keeping(con, lay, partner_id, ids, first, values, grain)
        else:
            # Set aside by the stored labels the replaced parts hold (a month's days).
            con.execute(f"""
                INSERT INTO {lay.table}_set_aside
                SELECT DISTINCT submission_id, {stored}, 'replaced', {first}, now()
                FROM (SELECT submission_id, {stored}, {lay.parts()} FROM {lay.table}_current
                      WHERE partner_id = $partner AND submission_id < {first} AND {grain})
                SEMI JOIN (VALUES {values}) p({part}) USING ({part})""",
                        {"partner": partner_id})
    key = ", ".join(lay.key)
    # Among the current rows of the keys the group carries (its own included), the newest wins;
    # a dated key's rows in the group's files are events of one submission and all stay.
    events = f"NOT (period_type = 'day' AND submission_id IN ({ids}))" if lay.events else "true"
    window = shortcuts.ALWAYS_GENERAL or not shortcuts.nothing_superseded(
        con, lay, partner_id, ids, any(c.days for c in changes))
    if window:
        con.execute(f"""
            INSERT INTO {lay.table}_superseded
            SELECT submission_id, source_row, winner, now() FROM (
                SELECT submission_id, source_row, period_type,
                       first_value(submission_id) OVER newest AS winner,
                       row_number() OVER newest AS rank
                FROM {lay.table}_current
                -- n is distinct: this inner join is the semi join (see _measure).
                JOIN (SELECT DISTINCT {key} FROM {lay.table} WHERE submission_id IN ({ids})) n
                    USING ({key})
                WHERE partner_id = $partner
                WINDOW newest AS (PARTITION BY {key} ORDER BY submission_id DESC, source_row DESC))
            WHERE rank > 1 AND {events}""", {"partner": partner_id})
    counts = None if window or replaced else shortcuts.rows_after(changes)
    # The group's parts are the changes' parts (see _measure for why as VALUES).
    values = ", ".join("(" + ", ".join(sql_literal(v) for v in c.part) + ")"
                       for c in changes if None not in c.part)
    if counts is None:
        counts = dict(((tuple(r[:-1]), r[-1]) for r in con.execute(f"""
            SELECT {part}, count(*)
            FROM (SELECT {lay.parts()} FROM {lay.table}_current WHERE partner_id = $partner)
            SEMI JOIN (VALUES {values}) p({part}) USING ({part})
            GROUP BY ALL""", {"partner": partner_id}).fetchall())) if values else {}
    for change in changes:
        change.after = counts.get(change.part, 0)


def _record(con, config: InitiativeConfig, lay: Layout, partner_id: str, run_id: str, how: str,
            group: list[int], changes: list[PartChange], published: bool) -> None:
    if not changes:  # a file none of whose rows loaded (its tables set aside) changes no part
        return
    con.executemany(
        f"INSERT INTO {config.id}.part_changes (run_id, how, partner_id, source_table, part, "
        "batch, submission_ids, rows_before, rows_carried, rows_kept, rows_after, decision, held, "
        f"decided_at, published, rows_listed) VALUES ({', '.join(['?'] * 16)})",
        [(run_id, how, partner_id, lay.table, c.label, min(group), c.submission_ids, c.before,
          c.carried, c.kept, c.after, c.decision, c.held, dt.datetime.now(), published, c.listed)
         for c in changes])


def _files_are_complete(config: InitiativeConfig, partner_id: str) -> bool:
    """Aggregate files are always complete for each indicator-period they carry: intake checks
    that a period's cells add up to its totals, so keeping older cells beside a resent part of a
    table would publish totals that disagree with their own subgroups."""
    return (config.crosswalks[partner_id].complete_extracts
            or config.schema_for(partner_id).kind == "aggregates")


def settle_night(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, partner_id: str,
                 submission_ids: list[int], run_id: str) -> NightOutcome:
    """Judge and apply one partner's newly inserted files of this run (inside the caller's
    transaction, the one that inserted them)."""
    lay = layout_for(config, partner_id)
    schema = config.schema_for(partner_id)
    complete = _files_are_complete(config, partner_id)
    outcome = NightOutcome()
    for group in _components(con, lay, submission_ids):
        changes = _measure(con, lay, partner_id, group)
        held = _decide(changes, schema.complete_file_share, schema.max_shrink_share, complete,
                       allow_shrink=False)
        if held:
            # Stored labels: a held dated month is set aside as its days.
            con.execute(f"INSERT INTO {lay.table}_set_aside SELECT DISTINCT submission_id, "
                        f"{', '.join(lay.part)}, 'held', NULL, now() FROM {lay.table} "
                        f"WHERE submission_id IN ({sql_int_list(group)})")
            con.execute(f"UPDATE submissions SET status = 'held' WHERE submission_id IN "
                        f"({sql_int_list(group)})")
        else:
            _apply(con, lay, partner_id, group, changes, complete)
        # A held night changes no current data, so it needs no new publication.
        _record(con, config, lay, partner_id, run_id, "nightly run", group, changes,
                published=held)
        for sid in group:
            outcome.status[sid] = "held" if held else "loaded"
            outcome.changes[sid] = [c for c in changes if sid in c.submission_ids]
            outcome.together[sid] = group
    if lay.listed:
        outcome.unmatched = listed.unmatched(con, config, submission_ids)
    for sid in submission_ids:  # a file with no rows carries no part
        outcome.status.setdefault(sid, "loaded")
        outcome.changes.setdefault(sid, [])
        outcome.together.setdefault(sid, [sid])
    return outcome


def accept(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, partner_id: str,
           group: list[int], run_id: str) -> list[PartChange]:
    """Apply held files as a data lead decided (inside the caller's transaction)."""
    lay = layout_for(config, partner_id)
    schema = config.schema_for(partner_id)
    con.execute(f"DELETE FROM {lay.table}_set_aside WHERE reason = 'held' AND submission_id IN "
                f"({sql_int_list(group)})")
    changes = _measure(con, lay, partner_id, group)
    _decide(changes, schema.complete_file_share, schema.max_shrink_share,
            _files_are_complete(config, partner_id), allow_shrink=True)
    _apply(con, lay, partner_id, group, changes, _files_are_complete(config, partner_id))
    con.execute(f"UPDATE submissions SET status = 'loaded' WHERE submission_id IN "
                f"({sql_int_list(group)})")
    _record(con, config, lay, partner_id, run_id, "accepted by a data lead", group, changes,
            published=False)
    return changes
