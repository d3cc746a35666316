"""Small-cell suppression (CMS cell-size rule) with complementary suppression.

A published cell must not show, and must not let anyone derive, a count of 1..threshold
people. Cells are hidden whole (numerator and denominator together) and counts are
never altered.

Within each (initiative_id, indicator_id, period, partner_id) the cells obey additive
relations that an attacker can difference:
  * 'total'/'alone' rows form a race x class table: race 'ALL' (tabulation 'total') is
    the sum over alone races, class 'ALL' is the sum over classes;
  * 'alone_or_in_combination' rows: per race, class 'ALL' is the sum over classes;
  * per race and class, AOIC = alone + D, where D (multiracial people who include that
    race) is never published but is derivable when both cells are shown; D is at most
    the multiracial cell, and summed over races it is about twice it;
  * across partners, partner_id 'ALL' is the sum over partners for every cell;
  * across indicators, a count equal in every cell to another indicator's count in the same
    period, or to the sum of its counts in the periods within (a cascade's numerator that is
    the next indicator's denominator, a shared denominator, one-off events counted by year and
    by quarter), is the same people: such groups get one hidden pattern, each protecting it
    (`pipelines/suppress_linked.py`).
Relations are linear in numerator, denominator and the complement (denominator -
numerator), so all three are protected. Missing cells are known zeros.

Complements are chosen greedily (smallest denominator first) until every relation is
protected; tests/test_suppress.py audits the result with an LP attacker. Known limit:
the multiracial inequalities (D <= multiracial, sum of Ds ~ twice it) are only handled
where they are tight, so with several partners an attacker using them can, rarely,
bound a derived multiracial count to 1..threshold or pin a zero numerator.
"""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.suppress_linked import linked_groups, share_hidden

TOTAL, ALONE, AOIC = "total", "alone", "alone_or_in_combination"
ALL = "ALL"
# Defaults of schemas/equity/race_spd15.yaml multiracial_label / not_reported_label; a
# workspace's own labels are passed to suppress_cells.
MULTIRACIAL = "Multiracial and/or Multiethnic"
NOT_REPORTED = "Not reported"
GROUP_KEY = ("initiative_id", "indicator_id", "period", "partner_id")
PRIMARY, COMPLEMENTARY = "primary", "complementary"
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
_RESULT_VIEW = "__backbone_suppression_result"

# A relation is (cells whose sum is the published total, member cells). The total is
# one cell except for the AOIC column, whose total is built from several.
Relation = tuple[list[int], list[int]]


def _check_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    if not _TABLE_NAME.match(table):
        raise ValueError(f"not a plain table name: {table!r}")
    problems = con.execute(
        f"""
        SELECT
            count(*) FILTER (WHERE race_tabulation NOT IN ('{TOTAL}', '{ALONE}', '{AOIC}')
                             OR race_tabulation IS NULL),
            count(*) FILTER (WHERE (race_tabulation = '{TOTAL}') <> (race = '{ALL}')
                             OR race IS NULL OR class IS NULL),
            count(*) FILTER (WHERE denominator < 0 OR numerator < 0 OR numerator > denominator)
        FROM {table}
        """
    ).fetchall()[0]
    if any(problems):
        raise ValueError(
            f"{table}: {problems[0]} rows with unknown race_tabulation, {problems[1]} rows where "
            f"race 'ALL' and tabulation 'total' disagree (or race/class NULL), {problems[2]} rows "
            "with negative counts or numerator > denominator"
        )
    dupes = con.execute(
        f"""
        SELECT count(*) FROM (
            SELECT 1 FROM {table}
            GROUP BY {", ".join(GROUP_KEY)}, race_tabulation, race, class
            HAVING count(*) > 1)
        """
    ).fetchall()[0][0]
    if dupes:
        raise ValueError(f"{table}: {dupes} cells appear more than once")


class _Group:
    """One group's cells plus the virtual cells an attacker can derive, on local indexes.

    Virtual cell D(r, c) = AOIC(r, c) - alone(r, c): the multiracial people who include
    race r. It is never published, so it counts as hidden (unless its bounds pin it), but
    subtracting two published cells reveals it, so a small D is protected like a primary
    cell. Virtual cells are never chosen as complements: hiding one hides nothing.
    """

    def __init__(self, partner: list[str | None], tab: list[str], race: list[str], cls: list[str],
                 den: list[int], num: list[int], threshold: int,
                 labels: tuple[str, str] = (MULTIRACIAL, NOT_REPORTED),
                 forced: set[int] = frozenset()) -> None:
        self.multiracial, self.not_reported = labels
        self.den, self.num = list(den), list(num)
        self.n_real = len(den)
        self.virtual = [False] * self.n_real
        self.rels: list[Relation] = []
        self.across: list[Relation] = []  # partner 'ALL' = exactly the partners' sum
        self.pinned: list[tuple[int, int | None, int]] = []  # (D, alone, AOIC) with D pinned
        # Relations among derived cells: (real cells whose values give the total, Ds).
        self.dsums: list[tuple[list[int], list[tuple[int, int | None, int]]]] = []
        by_partner: dict[str | None, list[int]] = {}
        for i, p in enumerate(partner):
            by_partner.setdefault(p, []).append(i)
        for rows in by_partner.values():
            self._add_table(rows, tab, race, cls, threshold)
        if ALL in by_partner and len(by_partner) > 1:
            # Partner 'ALL' is the sum over partners (exactly for aggregate submissions,
            # up to people served by two partners for records), so it differences too.
            across: dict[tuple[str, str, str], dict[str | None, int]] = {}
            for i, key in enumerate(zip(tab, race, cls)):
                across.setdefault(key, {})[partner[i]] = i
            for cells in across.values():
                if ALL in cells:
                    self.rels.append(([cells[ALL]], [i for p, i in cells.items() if p != ALL]))
                    # Where ALL is exactly the partners' sum (aggregates, partners serving
                    # different people), a partner who knows its own cell can difference it.
                    if all(x[cells[ALL]] == sum(x[i] for i in self.rels[-1][1])
                           for x in (self.den, self.num)):
                        self.across.append(self.rels[-1])
        self.comp = [d - n for d, n in zip(self.den, self.num)]
        self.sensitive = [_is_small(d, n, threshold) for d, n in zip(self.den, self.num)]
        self.hidden = [s or v for s, v in zip(self.sensitive, self.virtual)]
        for d, _, _ in self.pinned:
            self.hidden[d] = False
        for i in forced:  # hidden in a linked indicator (suppress_linked): protected here too
            self.hidden[i] = True

    def _add_table(self, rows: list[int], tab: list[str], race: list[str], cls: list[str],
                   threshold: int) -> None:
        """Relations within one partner's race x class table (plus its AOIC rows)."""
        den, num = self.den, self.num
        grid: dict[tuple[str, str], int] = {}  # (race or ALL, class or ALL), total/alone rows
        aoic: dict[str, dict[str, int]] = {}  # race -> class -> index
        for i in rows:
            if tab[i] == AOIC:
                aoic.setdefault(race[i], {})[cls[i]] = i
            else:
                grid[(race[i], cls[i])] = i
        races = {r for r, _ in grid}
        classes = {c for _, c in grid}
        # A relation whose total row is absent publishes no sum, so it constrains nothing.
        for c in classes:
            if (ALL, c) in grid:
                self.rels.append(([grid[(ALL, c)]], [grid[(r, c)] for r in races if r != ALL and (r, c) in grid]))
        for r in races:
            if (r, ALL) in grid:
                self.rels.append(([grid[(r, ALL)]], [grid[(r, c)] for c in classes if c != ALL and (r, c) in grid]))
        # 0 <= D(r, c) <= multiracial(c) and D(r, ALL) = sum_c D(r, c): a multiracial cell
        # showing a zero, or a derivable D(r, ALL) at either bound, pins the Ds it bounds,
        # and a pinned D no longer hides anything.
        zero_bound = {
            c: (i := grid.get((self.multiracial, c))) is None or _shows_zero(den[i], num[i], threshold)
            for c in classes
        }
        # Each multiracial person is in 2..7 AOIC rows, so sum_r D(r, c) >= 2 * multiracial(c);
        # mostly people pick exactly two, making that a near-equality relation on the Ds.
        by_class: dict[str, list[tuple[int, int | None, int]]] = {}
        for r, row in aoic.items():
            if ALL in row:
                self.rels.append(([row[ALL]], [i for c, i in row.items() if c != ALL]))
            trios: dict[str, tuple[int, int | None, int]] = {}
            for c, i in row.items():
                alone = grid.get((r, c))
                d_den = den[i] - (den[alone] if alone is not None else 0)
                d_num = num[i] - (num[alone] if alone is not None else 0)
                if d_den < 0 or d_num < 0 or d_den < d_num:
                    raise ValueError(f"alone-or-in-combination cell {r!r}/{c!r} is smaller than its alone cell")
                den.append(d_den)
                num.append(d_num)
                self.virtual.append(True)
                trios[c] = (len(den) - 1, alone, i)
                self.rels.append(([i], [len(den) - 1] if alone is None else [alone, len(den) - 1]))
                by_class.setdefault(c, []).append(trios[c])
            row_pinned = ALL in trios and self._row_pinned(trios[ALL][0], grid.get((self.multiracial, ALL)), threshold)
            for c, trio in trios.items():
                if row_pinned or zero_bound.get(c, True):
                    self.pinned.append(trio)
            if ALL in trios:
                self.dsums.append(([x for x in trios[ALL][1:] if x is not None],
                                   [t for c, t in trios.items() if c != ALL]))
        # Summing that over races: sum_r AOIC(r, c) ~ total(c) - not reported(c) + multiracial(c).
        for c in classes:
            if (ALL, c) in grid:
                parts = [grid[(ALL, c)]] + [grid[(r, c)] for r in (self.not_reported, self.multiracial) if (r, c) in grid]
                self.rels.append((parts, [row[c] for row in aoic.values() if c in row]))
        self.dsums += [
            ([m], trios) for c, trios in by_class.items()
            if (m := grid.get((self.multiracial, c))) is not None and den[m] > 0
        ]

    def _row_pinned(self, d_all: int, multi_all: int | None, threshold: int) -> bool:
        den, num = self.den, self.num
        if _is_small(den[d_all], num[d_all], threshold):
            return False  # a small D(r, ALL) gets hidden, so it is not derivable
        if 0 in (den[d_all], num[d_all], den[d_all] - num[d_all]):
            return True
        if multi_all is None:
            return True  # no multiracial people at all, so every D is zero
        m = (den[multi_all], num[multi_all], den[multi_all] - num[multi_all])
        return not _is_small(*m[:2], threshold) and any(
            a == b for a, b in zip((den[d_all], num[d_all], den[d_all] - num[d_all]), m))

    def protect(self, threshold: int) -> list[int]:
        """Hide cells until every relation is protected; returns the complements added."""
        den, hidden = self.den, self.hidden
        added: list[int] = []
        for d, alone, aoic in self.pinned:
            # A small pinned D is alone and AOIC differenced; hiding alone makes the
            # AOIC relation hide its partner too.
            if self.sensitive[d] and not hidden[aoic] and (alone is None or not hidden[alone]):
                choice = alone if alone is not None and den[alone] > 0 else aoic
                hidden[choice] = True
                added.append(choice)
        checks = ((self._complement, self.rels), (self._complement_d, self.dsums),
                  (self._complement_insider, self.across))
        changed = True
        while changed:
            changed = False
            for complement, relations in checks:
                for totals, members in relations:
                    choice = complement(totals, members, threshold)
                    if choice is not None:
                        hidden[choice] = True
                        added.append(choice)
                        changed = True
        return added

    def _complement(self, totals: list[int], members: list[int], threshold: int) -> int | None:
        """The cell to hide next in an additive relation, or None if it is protected."""
        den, hidden, virtual = self.den, self.hidden, self.virtual
        hid = [m for m in members if hidden[m]]
        total_hidden = any(hidden[t] for t in totals)
        n_hidden = len(hid) + total_hidden
        if n_hidden == 0:
            return None
        pick_from: list[int] | None = None
        if n_hidden == 1:
            # A lone hidden cell equals the published total minus the published rest;
            # harmless only for a derived cell that is not small.
            if not hid or not virtual[hid[0]] or self.sensitive[hid[0]]:
                pick_from = [m for m in members if not hidden[m] and not virtual[m] and den[m] > 0]
        else:
            # Hidden cells whose combined count is small reveal a small group, and a
            # combined zero pins every hidden value at zero.
            for x in (self.den, self.num, self.comp):
                if sum(x[m] for m in hid) <= threshold:
                    open_ = [m for m in members if not hidden[m] and not virtual[m] and x[m] > 0]
                    if open_:
                        pick_from = open_
                        break
        if pick_from is None:
            return None
        if not pick_from:
            if total_hidden:
                return None
            pick_from = [t for t in totals if den[t] > 0] or totals[:1]
        return min(pick_from, key=lambda m: (den[m], m))

    def _complement_insider(self, totals: list[int], members: list[int], threshold: int
                            ) -> int | None:
        """Each partner knows its own cells: ALL minus its own cell must still protect the
        other partners' cells (the complement is never the insider's own cell)."""
        for own in members:
            choice = self._complement(totals, [m for m in members if m != own], threshold)
            if choice is not None:
                return choice
        return None

    def _complement_d(self, totals: list[int], trios: list[tuple[int, int | None, int]],
                       threshold: int) -> int | None:
        """The same rules for a relation among Ds; a D is hidden when either of its cells is."""
        den, hidden = self.den, self.hidden
        if any(hidden[t] for t in totals):
            return None
        covered = [d for d, a, o in trios if hidden[o] or (a is not None and hidden[a])]
        if not covered:
            return None
        exposed = [(d, a, o) for d, a, o in trios if d not in covered]
        pick_from: list[tuple[int, int | None, int]] | None = None
        if len(covered) == 1:
            pick_from = [t for t in exposed if den[t[0]] > 0]
        else:
            for x in (self.den, self.num, self.comp):
                if sum(x[d] for d in covered) <= threshold:
                    open_ = [t for t in exposed if x[t[0]] > 0]
                    if open_:
                        pick_from = open_
                        break
        if pick_from is None:
            return None
        if not pick_from:
            return min((t for t in totals if den[t] > 0), key=lambda t: (den[t], t), default=None)
        _, alone, aoic = min(pick_from, key=lambda t: (den[t[0]], t[0]))
        return alone if alone is not None and den[alone] > 0 else aoic


def _shows_zero(den: int, num: int, t: int) -> bool:
    """A publishable count set with a zero in it (zeros are shown)."""
    return not _is_small(den, num, t) and 0 in (den, num, den - num)


def _is_small(den: int, num: int, t: int) -> bool:
    comp = den - num
    return 0 < den <= t or 0 < num <= t or 0 < comp <= t


def suppress_cells(con: duckdb.DuckDBPyConnection, table: str, threshold: int = 10, *,
                   multiracial_label: str = MULTIRACIAL,
                   not_reported_label: str = NOT_REPORTED) -> dict[str, int]:
    """Fill `suppressed` / `suppression_reason` on `table`; returns {'primary', 'complementary'} counts.

    `multiracial_label` / `not_reported_label`: the race standard's labels of those two 'alone'
    rows (a workspace may rename them); the multiracial relations are found by them.

    Complements are searched per (initiative_id, indicator_id, period), so partner 'ALL'
    rows and the partners they sum are protected together. Recomputed from the counts
    on every call, so re-running is idempotent.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ValueError(f"threshold must be a non-negative int, got {threshold!r}")
    _check_table(con, table)
    con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS suppressed BOOLEAN")
    con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS suppression_reason VARCHAR")

    columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    dates = ("period_start::VARCHAR AS p_start, period_end::VARCHAR AS p_end"
             if {"period_start", "period_end"} <= columns else "period AS p_start, period AS p_end")
    # DuckDB 2.0: relation.to_arrow_table() avoids the copy a DB-API result makes.
    cells = con.sql(
        f"""
        SELECT rowid AS rid,
               dense_rank() OVER (ORDER BY {", ".join(GROUP_KEY[:3])}) AS gid,
               {", ".join(GROUP_KEY[:3])}, {dates},
               partner_id AS partner, race_tabulation AS tab, race, class AS cls,
               coalesce(denominator, 0)::BIGINT AS den,
               coalesce(numerator, 0)::BIGINT AS num
        FROM {table}
        -- a total order: ties between equal candidates break by position, and the
        -- same table must always get the same suppression pattern
        ORDER BY gid, partner_id, race_tabulation, race, class
        """
    ).to_arrow_table()

    den_np = cells["den"].to_numpy()
    num_np = cells["num"].to_numpy()
    comp_np = den_np - num_np
    t = threshold
    primary = (
        ((den_np > 0) & (den_np <= t)) | ((num_np > 0) & (num_np <= t)) | ((comp_np > 0) & (comp_np <= t))
    )
    supp: list[bool] = primary.tolist()
    reason: list[str | None] = [PRIMARY if p else None for p in supp]

    # Every group is searched, not only those with a primary cell: a small derived count
    # (AOIC minus alone) can need protecting where no published cell is small.
    gid = cells["gid"].to_numpy()
    if len(gid):
        bounds = np.flatnonzero(np.diff(gid)) + 1
        spans = list(zip(np.concatenate(([0], bounds)).tolist(),
                         np.concatenate((bounds, [len(gid)])).tolist()))
        names = ("partner", "tab", "race", "cls", "den", "num")
        cols = {k: cells[k].to_pylist() for k in names}
        keys = list(zip(cols["partner"], cols["tab"], cols["race"], cols["cls"]))

        def protect(lo: int, hi: int, forced: set[int]) -> None:
            try:
                group = _Group(*(cols[k][lo:hi] for k in names), threshold=t,
                               labels=(multiracial_label, not_reported_label), forced=forced)
            except ValueError as exc:
                key = tuple(cells[k][lo].as_py() for k in GROUP_KEY[:3])
                raise ValueError(f"{table}: {key}: {exc}") from None
            for local in [*forced, *group.protect(t)]:
                if local < group.n_real and not supp[lo + local]:
                    supp[lo + local] = True
                    reason[lo + local] = COMPLEMENTARY

        for lo, hi in spans:
            protect(lo, hi, set())
        when = list(zip(*(cells[k].to_pylist() for k in ("initiative_id", "indicator_id",
                                                         "p_start", "p_end"))))
        # Indicators counting the same people (one's numerator is another's denominator, a
        # shared denominator, quarters adding up to the year) give an attacker each other's
        # hidden cells: they get one hidden pattern, and each protects it.
        share_hidden(linked_groups(spans, when, keys, cols["den"], cols["num"]), keys, supp,
                     protect)

    result = pa.table(
        {
            "rid": cells["rid"],
            "suppressed": pa.array(supp, pa.bool_()),
            "reason": pa.array(reason, pa.string()),
        }
    )
    con.register(_RESULT_VIEW, result)
    try:
        con.execute(
            f"""
            UPDATE {table} AS t SET suppressed = r.suppressed, suppression_reason = r.reason
            FROM {_RESULT_VIEW} AS r WHERE t.rowid = r.rid
            """
        )
    finally:
        con.unregister(_RESULT_VIEW)
    n_primary = int(primary.sum())
    return {PRIMARY: n_primary, COMPLEMENTARY: int(sum(supp)) - n_primary}
