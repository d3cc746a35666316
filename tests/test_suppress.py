"""Small-cell suppression: primary rules, an LP attacker, idempotence, speed.

The attacker knows every published cell and every relation of the layout: the race x
class sums, the AOIC sums, partner 'ALL' = sum of partners, counts non-negative with
numerator <= denominator, and how AOIC relates to alone (AOIC = alone + D with
0 <= D <= multiracial, and each multiracial person sits in 2..7 AOIC rows). It bounds
every hidden count (denominator, numerator and their difference) with linear programs.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

import duckdb
import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from pipelines.suppress import suppress_cells

RACES = [  # (label, weight as a first selection)
    ("American Indian or Alaska Native", 0.02),
    ("Asian", 0.08),
    ("Black or African American", 0.2),
    ("Hispanic or Latino", 0.2),
    ("Middle Eastern or North African", 0.03),
    ("Native Hawaiian or Pacific Islander", 0.02),
    ("White", 0.45),
]
CLASSES = [  # (label, weight)
    ("Below 100% FPG", 0.3),
    ("100-199% FPG", 0.25),
    ("200-399% FPG", 0.2),
    ("400%+ FPG", 0.1),
    ("Low income (proxy)", 0.05),
    ("Not low income (proxy)", 0.05),
    ("Not reported", 0.05),
]
MULTI = "Multiracial and/or Multiethnic"
NOT_REPORTED = "Not reported"
AOIC = "alone_or_in_combination"
KEY = "initiative_id, indicator_id, period, partner_id"


def _u(seed: int, k: int) -> str:
    # hash() keeps draws reproducible under DuckDB's parallel execution, unlike random().
    return f"((hash(i, {seed}, {k}) % 1000000) / 1000000.0)"


def _pick(seed: int, k: int, weights: list[float], values: list[str]) -> str:
    cum = (np.cumsum(weights) / sum(weights)).tolist()
    whens = " ".join(f"WHEN {_u(seed, k)} < {c!r} THEN {v}" for c, v in zip(cum[:-1], values[:-1]))
    return f"CASE {whens} ELSE {values[-1]} END"


def make_people(con: duckdb.DuckDBPyConnection, seed: int, n: int, *, partners: int = 1,
                periods: int = 1, outcome_p: float = 0.3, multi_p: float = 0.12,
                n_races: int = len(RACES), n_classes: int = len(CLASSES)) -> None:
    """Random person-level table `people` (races is the list of selected labels)."""
    races, classes = RACES[:n_races], CLASSES[:n_classes]
    idx = [str(j) for j in range(len(races))]
    first, second = (_pick(seed, k, [w for _, w in races], idx) for k in (1, 2))
    labels = "[" + ", ".join(f"'{label}'" for label, _ in races) + "]"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE people AS
        SELECT 'init-1' AS initiative_id, 'ind-1' AS indicator_id,
               (2020 + hash(i, {seed}, 7) % {periods})::VARCHAR AS period,
               'partner-' || (hash(i, {seed}, 5) % {partners}) AS partner_id,
               CASE WHEN {_u(seed, 0)} < 0.05 THEN []::VARCHAR[]
                    WHEN {_u(seed, 3)} < {multi_p} AND {first} <> {second}
                        THEN [{labels}[{first} + 1], {labels}[{second} + 1]]
                    ELSE [{labels}[{first} + 1]] END AS races,
               {_pick(seed, 4, [w for _, w in classes], [f"'{c}'" for c, _ in classes])} AS class,
               {_u(seed, 6)} < {outcome_p} AS outcome
        FROM range({n}) AS t(i)
        """
    )


def aggregate(con: duckdb.DuckDBPyConnection, table: str = "cells", all_partner: bool = False) -> None:
    """people -> the published cell layout (optionally with partner_id 'ALL' rows)."""
    src = "people"
    if all_partner:  # people are served by one partner each, so 'ALL' is an exact sum
        src = "(SELECT * FROM people UNION ALL SELECT * REPLACE ('ALL' AS partner_id) FROM people)"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {table} AS
        WITH p AS (
            SELECT *, CASE len(races) WHEN 0 THEN '{NOT_REPORTED}' WHEN 1 THEN races[1]
                                      ELSE '{MULTI}' END AS race_alone
            FROM {src})
        SELECT {KEY},
               CASE WHEN grouping(race_alone) = 1 THEN 'total' ELSE 'alone' END AS race_tabulation,
               CASE WHEN grouping(race_alone) = 1 THEN 'ALL' ELSE race_alone END AS race,
               CASE WHEN grouping(class) = 1 THEN 'ALL' ELSE class END AS class,
               count_if(outcome) AS numerator, count(*) AS denominator, 'v1' AS method_note
        FROM p
        GROUP BY GROUPING SETS (({KEY}, race_alone, class), ({KEY}, race_alone), ({KEY}, class), ({KEY}))
        UNION ALL
        SELECT {KEY}, '{AOIC}', race, CASE WHEN grouping(class) = 1 THEN 'ALL' ELSE class END,
               count_if(outcome), count(*), 'v1'
        FROM (SELECT *, unnest(races) AS race FROM {src})
        GROUP BY GROUPING SETS (({KEY}, race, class), ({KEY}, race))
        """
    )


# ---------------------------------------------------------------- the attacker

Cell = tuple[str, str, str, str]  # (partner, tabulation, race, class); tabulation "D" = derived
Form = list[tuple[Cell, float]]  # a linear form over cells


def _measures(den: float, num: float) -> dict[str, float]:
    return {"den": den, "num": num, "comp": den - num}


def attack(con: duckdb.DuckDBPyConnection, threshold: int, table: str = "cells") -> list[tuple]:
    """Return every hidden count the attacker pins down or proves to be 1..threshold."""
    groups: dict[tuple, dict[Cell, tuple[int, int, bool]]] = defaultdict(dict)
    for *key, partner, tab, race, cls, den, num, hidden in con.execute(
        f"SELECT initiative_id, indicator_id, period, partner_id, race_tabulation, race, class, "
        f"denominator, numerator, suppressed FROM {table}"
    ).fetchall():
        groups[tuple(key)][(partner, tab, race, cls)] = (den, num, bool(hidden))
    leaks = []
    for key, cell in groups.items():
        leaks += [(key, *leak) for leak in _attack_group(cell, threshold)]
    return leaks


def _relations(cell: dict) -> tuple[list[Form], list[Form], dict[Cell, Form]]:
    """Equalities (form == 0), inequalities (form <= 0) and the derived D forms."""
    eq: list[Form] = []
    le: list[Form] = []
    derived: dict[Cell, Form] = {}
    partners = {k[0] for k in cell}
    for p in partners:
        grid = {(r, c) for (pp, tab, r, c) in cell if pp == p and tab != AOIC}
        aoic = {(r, c) for (pp, tab, r, c) in cell if pp == p and tab == AOIC}
        races, classes = {r for r, _ in grid}, {c for _, c in grid}
        g = lambda r, c: (p, "total" if r == "ALL" else "alone", r, c)  # noqa: E731
        # (every total row exists in these tables, so no relation goes unpublished)
        for c in classes:
            eq.append([(g("ALL", c), -1.0)] + [(g(r, c), 1.0) for r in races if r != "ALL" and (r, c) in grid])
        for r in races:
            eq.append([(g(r, "ALL"), -1.0)] + [(g(r, c), 1.0) for c in classes if c != "ALL" and (r, c) in grid])
        for r in {r for r, _ in aoic}:
            eq.append([((p, AOIC, r, "ALL"), -1.0)] + [((p, AOIC, r, c), 1.0) for rr, c in aoic if rr == r and c != "ALL"])
        for r, c in aoic:
            derived[(p, "D", r, c)] = [((p, AOIC, r, c), 1.0), (g(r, c), -1.0)]
        for c in classes:
            ds = [derived[(p, "D", r, c)] for r, cc in aoic if cc == c]
            multi = (g(MULTI, c), 1.0)
            for d in ds:
                le.append([(k, -w) for k, w in d])  # D >= 0
                le.append(d + [(multi[0], -1.0)])  # D <= multiracial
            if ds:  # 2 * multiracial <= sum_r D <= 7 * multiracial
                le.append([(k, -w) for d in ds for k, w in d] + [(multi[0], 2.0)])
                le.append([t for d in ds for t in d] + [(multi[0], -7.0)])
    if "ALL" in partners and len(partners) > 1:
        for (p, tab, r, c) in cell:
            if p == "ALL":
                eq.append([((p, tab, r, c), -1.0)] + [((q, tab, r, c), 1.0) for q in partners if q != "ALL"])
    return eq, le, derived


def _attack_group(cell: dict[Cell, tuple[int, int, bool]], t: int) -> list[tuple]:
    col = {k: j for j, k in enumerate(k for k, v in cell.items() if v[2])}
    if not col:
        return []
    nv = 2 * len(col)  # hidden cell j: denominator at 2j, numerator at 2j + 1
    eq, le, derived = _relations(cell)

    def split(form: Form) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coefficient rows (den, num, comp) over the unknowns, known constants, true values."""
        a, const, true = np.zeros((3, nv)), np.zeros(3), np.zeros(3)
        for k, w in form:
            if k not in cell:
                continue  # missing cells are known zeros
            den, num = cell[k][:2]
            true += w * np.array([den, num, den - num])
            if k in col:
                j = col[k]
                a[:, 2 * j] += w * np.array([1, 0, 1])
                a[:, 2 * j + 1] += w * np.array([0, 1, -1])
            else:
                const += w * np.array([den, num, den - num])
        return a, const, true

    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    for form in eq:
        a, const, _ = split(form)
        for m in range(2):  # the complement equation follows from these two
            if a[m].any():
                a_eq.append(a[m])
                b_eq.append(-const[m])
            else:
                assert abs(const[m]) < 1e-9, f"published cells violate {form}"
    for k in col:  # numerator <= denominator, i.e. complement >= 0
        a_ub.append(-split([(k, 1.0)])[0][2])
        b_ub.append(0.0)
    for form in le:
        a, const, _ = split(form)
        for m in range(3):
            if a[m].any():
                a_ub.append(a[m])
                b_ub.append(-const[m])
    lp = dict(A_ub=csr_matrix(np.array(a_ub)), b_ub=np.array(b_ub),
              A_eq=csr_matrix(np.array(a_eq)) if a_eq else None, b_eq=np.array(b_eq) if b_eq else None,
              bounds=(0, None), method="highs")

    def solve(obj: np.ndarray, const: float, sense: int) -> float:
        res = linprog(sense * obj, **lp)
        if res.status == 3:
            return math.inf
        assert res.status == 0, res.message
        return sense * res.fun + const

    targets: list[tuple[Cell, Form]] = [(k, [(k, 1.0)]) for k in col]
    for k, form in derived.items():  # a small derived count must stay hidden too
        _, _, true = split(form)
        if any(cell.get(c, (0, 0, False))[2] for c, _ in form) and any(0 < v <= t for v in true):
            targets.append((k, form))
    leaks = []
    for k, form in targets:
        a, const, true = split(form)
        for m, measure in enumerate(("den", "num", "comp")):
            lo = math.ceil(solve(a[m], const[m], 1) - 1e-6)
            assert lo <= true[m], (k, measure, lo, true[m])
            # The true value lies in [lo, hi]: hi is only needed when it can still matter.
            if lo < true[m] and (lo == 0 or true[m] > t):
                continue
            hi = math.floor(solve(a[m], const[m], -1) + 1e-6)
            assert lo <= true[m] <= hi, (k, measure, lo, true[m], hi)
            if hi - lo < 1 and true[m] == 0 and _zero_shown(cell, k, measure):
                continue  # published zeros above this cell already say it is zero
            if hi - lo < 1 or (lo >= 1 and hi <= t):
                leaks.append((k, measure, int(true[m]), lo, hi))
    return leaks


def _zero_shown(cell: dict, k: Cell, measure: str, seen: frozenset = frozenset()) -> bool:
    """Do published zeros already imply that cell k is zero on this measure?"""
    if k in seen:
        return False
    seen = seen | {k}
    p, tab, r, c = k
    if tab != "D":
        if k not in cell:
            return True  # missing cells are known zeros
        den, num, hidden = cell[k]
        if not hidden:
            return _measures(den, num)[measure] == 0
    zero = lambda key: _zero_shown(cell, key, measure, seen)  # noqa: E731
    if p != "ALL" and zero(("ALL", tab, r, c)):
        return True
    if c != "ALL" and zero((p, "total", "ALL", "ALL" if tab == "total" else c)):
        return True
    if tab == "alone":
        return zero((p, "alone", r, "ALL")) or zero((p, AOIC, r, c))
    if tab == AOIC:  # AOIC(r, c) lies inside alone(r, c) plus multiracial(c)
        return zero((p, AOIC, r, "ALL")) or (zero((p, "alone", r, c)) and zero((p, "alone", MULTI, c)))
    if tab == "D":
        if zero((p, AOIC, r, c)) or zero((p, "alone", MULTI, c)):
            return True
        pair = [cell.get((p, AOIC, r, "ALL")), cell.get((p, "alone", r, "ALL"))]
        if c != "ALL" and all(x is not None and not x[2] for x in pair):  # D(r, ALL) is derivable
            return _measures(pair[0][0] - pair[1][0], pair[0][1] - pair[1][1])[measure] == 0
    return False
