"""Small-cell suppression: primary rules, idempotence, and an LP attacker.

The attacker knows every published cell, every additive relation of the layout, that
counts are non-negative with numerator <= denominator, and how 'alone or in
combination' relates to 'alone' (AOIC = alone + D, 0 <= D <= multiracial, and each
multiracial person sits in 2..7 AOIC rows). It then bounds every hidden value with
linear programs.
"""

from __future__ import annotations

import math
from collections import defaultdict

import duckdb
import numpy as np
import pytest
from scipy.optimize import linprog

from pipelines.suppress import suppress_cells

RACES = [  # (label, weight as first selection)
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
KEY = "initiative_id, indicator_id, period, partner_id"
AOIC = "alone_or_in_combination"


def _u(seed: int, k: int) -> str:
    # hash() keeps draws reproducible under DuckDB's parallel execution, unlike random().
    return f"((hash(i, {seed}, {k}) % 1000000) / 1000000.0)"


def _pick(seed: int, k: int, weights: list[float], values: list[str]) -> str:
    cum = np.cumsum(np.array(weights) / sum(weights))
    whens = " ".join(f"WHEN {_u(seed, k)} < {c!r} THEN {v}" for c, v in zip(cum[:-1].tolist(), values[:-1]))
    return f"CASE {whens} ELSE {values[-1]} END"


def make_cells(
    con: duckdb.DuckDBPyConnection, seed: int, n_people: int, *, partners: int = 1,
    outcome_p: float = 0.3, multi_p: float = 0.12, table: str = "cells",
) -> None:
    """Person-level random data aggregated into the published cell layout."""
    race_w = [w for _, w in RACES]
    idx = [str(j) for j in range(len(RACES))]
    first, second = _pick(seed, 1, race_w, idx), _pick(seed, 2, race_w, idx)
    labels = ", ".join(f"'{label}'" for label, _ in RACES)
    cls = _pick(seed, 4, [w for _, w in CLASSES], [f"'{c}'" for c, _ in CLASSES])
    con.execute(
        f"""
        CREATE OR REPLACE TABLE persons AS
        SELECT 'init-1' AS initiative_id, 'ind-1' AS indicator_id, '2024' AS period,
               'partner-' || (hash(i, {seed}, 5) % {partners}) AS partner_id,
               CASE WHEN {_u(seed, 0)} < 0.05 THEN []::VARCHAR[]
                    WHEN {_u(seed, 3)} < {multi_p} AND {first} <> {second}
                        THEN [[{labels}][{first} + 1], [{labels}][{second} + 1]]
                    ELSE [[{labels}][{first} + 1]] END AS races,
               {cls} AS class,
               {_u(seed, 6)} < {outcome_p} AS outcome
        FROM range({n_people}) AS t(i)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {table} AS
        WITH p AS (
            SELECT *, CASE len(races) WHEN 0 THEN '{NOT_REPORTED}' WHEN 1 THEN races[1]
                                      ELSE '{MULTI}' END AS race_alone
            FROM persons)
        SELECT {KEY},
               CASE WHEN grouping(race_alone) = 1 THEN 'total' ELSE 'alone' END AS race_tabulation,
               CASE WHEN grouping(race_alone) = 1 THEN 'ALL' ELSE race_alone END AS race,
               CASE WHEN grouping(class) = 1 THEN 'ALL' ELSE class END AS class,
               sum(outcome::INT)::BIGINT AS numerator, count(*)::BIGINT AS denominator,
               'v1' AS method_note
        FROM p
        GROUP BY GROUPING SETS (({KEY}, race_alone, class), ({KEY}, race_alone), ({KEY}, class), ({KEY}))
        UNION ALL
        SELECT {KEY}, '{AOIC}', race, CASE WHEN grouping(class) = 1 THEN 'ALL' ELSE class END,
               sum(outcome::INT)::BIGINT, count(*)::BIGINT, 'v1'
        FROM (SELECT *, unnest(races) AS race FROM persons)
        GROUP BY GROUPING SETS (({KEY}, race, class), ({KEY}, race))
        """
    )


def _published(con: duckdb.DuckDBPyConnection, table: str = "cells") -> list[tuple]:
    return con.execute(
        f"SELECT {KEY}, race_tabulation, race, class, denominator, numerator, suppressed, "
        f"suppression_reason FROM {table} ORDER BY ALL"
    ).fetchall()


def _small(value: float, t: int) -> bool:
    return 0 < value <= t


def attack(con: duckdb.DuckDBPyConnection, threshold: int, table: str = "cells") -> list[tuple]:
    """Bound every hidden count with LPs; return the cells the attacker pins down."""
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for row in _published(con, table):
        groups[row[:4]].append(row[4:])
    leaks = []
    for key, rows in groups.items():
        leaks += _attack_group(key, rows, threshold)
    return leaks


def _attack_group(key: tuple, rows: list[tuple], t: int) -> list[tuple]:
    cell = {(tab, race, cls): (den, num, bool(sup)) for tab, race, cls, den, num, sup, _ in rows}
    grid = {(r, c): (tab, r, c) for (tab, r, c) in cell if tab != AOIC}
    aoic = {(r, c): (AOIC, r, c) for (tab, r, c) in cell if tab == AOIC}
    races = {r for r, _ in grid}
    classes = {c for _, c in grid}

    # Unknowns: hidden published cells and every derived D(r, c) = AOIC - alone.
    unknown: dict[tuple, tuple[int, int]] = {k: v[:2] for k, v in cell.items() if v[2]}
    for (r, c), k in aoic.items():
        alone = cell.get(("alone", r, c), (0, 0, False))
        unknown[("D", r, c)] = (cell[k][0] - alone[0], cell[k][1] - alone[1])
    col = {k: j for j, k in enumerate(unknown)}
    nv = 2 * len(col)  # den of unknown j at 2j, num at 2j + 1

    equations: list[list[tuple[tuple, float]]] = []  # each sums to zero
    for c in classes:
        if ("ALL", c) in grid:
            equations.append([(grid[("ALL", c)], -1.0)] + [(grid[(r, c)], 1.0) for r in races if r != "ALL" and (r, c) in grid])
    for r in races:
        if (r, "ALL") in grid:
            equations.append([(grid[(r, "ALL")], -1.0)] + [(grid[(r, c)], 1.0) for c in classes if c != "ALL" and (r, c) in grid])
    for r in {r for r, _ in aoic}:
        if (r, "ALL") in aoic:
            equations.append([(aoic[(r, "ALL")], -1.0)] + [(k, 1.0) for (rr, c), k in aoic.items() if rr == r and c != "ALL"])
    for (r, c), k in aoic.items():
        equations.append([(k, -1.0), (("alone", r, c), 1.0), (("D", r, c), 1.0)])

    def split(terms: list[tuple[tuple | None, float]]) -> tuple[np.ndarray, np.ndarray]:
        """Rows for den, num and complement of a linear form, and their known constants."""
        a = np.zeros((3, nv))
        const = np.zeros(3)
        for k, coef in terms:
            if k in col:
                j = col[k]
                a[0, 2 * j] += coef
                a[1, 2 * j + 1] += coef
                a[2, 2 * j] += coef
                a[2, 2 * j + 1] -= coef
            elif k in cell:  # published; a missing cell is a known zero
                den, num = cell[k][:2]
                const += coef * np.array([den, num, den - num], dtype=float)
        return a, const

    a_eq, b_eq = [], []
    for terms in equations:
        a, const = split(terms)
        for m in range(2):  # the complement equation follows from these two
            if a[m].any():
                a_eq.append(a[m])
                b_eq.append(-const[m])
            else:
                assert abs(const[m]) < 1e-9, f"{key}: published cells violate {terms}"

    a_ub, b_ub = [], []

    def add_le(terms: list[tuple[tuple | None, float]]) -> None:
        """terms <= 0, for den, num and complement alike."""
        a, const = split(terms)
        for m in range(3):
            if a[m].any():
                a_ub.append(a[m])
                b_ub.append(-const[m])

    for k in col:  # numerator <= denominator
        v = np.zeros(nv)
        v[2 * col[k] + 1], v[2 * col[k]] = 1, -1
        a_ub.append(v)
        b_ub.append(0.0)
    for c in classes:
        multi = ("alone", MULTI, c)
        ds = [("D", r, cc) for (r, cc) in aoic if cc == c]
        for d in ds:  # D(r, c) <= multiracial(c)
            add_le([(d, 1.0), (multi, -1.0)])
        if ds:  # 2 * multiracial(c) <= sum_r D(r, c) <= 7 * multiracial(c)
            add_le([(d, -1.0) for d in ds] + [(multi, 2.0)])
            add_le([(d, 1.0) for d in ds] + [(multi, -7.0)])

    def bound(obj: np.ndarray) -> tuple[float, float]:
        lo = linprog(obj, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq or None, b_eq=b_eq or None, bounds=(0, None), method="highs")
        hi = linprog(-obj, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq or None, b_eq=b_eq or None, bounds=(0, None), method="highs")
        assert lo.status == 0, (key, lo.message)
        top = math.inf if hi.status == 3 else -hi.fun
        return math.ceil(lo.fun - 1e-6), math.floor(top + 1e-6)

    leaks = []
    for k, j in col.items():
        true_den, true_num = unknown[k]
        if k[0] == "D" and not (_small(true_den, t) or _small(true_num, t) or _small(true_den - true_num, t)):
            continue  # a derived cell that is not small may be known
        for measure, obj, true in (
            ("den", {2 * j: 1}, true_den),
            ("num", {2 * j + 1: 1}, true_num),
            ("comp", {2 * j: 1, 2 * j + 1: -1}, true_den - true_num),
        ):
            vec = np.zeros(nv)
            for i, v in obj.items():
                vec[i] = v
            lo, hi = bound(vec)
            assert lo <= true <= hi, (key, k, measure, lo, true, hi)
            if hi - lo < 1 and true == 0 and _zero_shown(cell, k, measure):
                continue  # a published zero above this cell already says it is zero
            if hi - lo < 1 or (lo >= 1 and hi <= t):
                leaks.append((key, k, measure, true, lo, hi))
    return leaks


def _zero_shown(cell: dict, k: tuple, measure: str) -> bool:
    """Is some published superset of cell k showing 0 for this measure?"""
    tab, r, c = k
    supersets = [("total", "ALL", c), ("total", "ALL", "ALL")]
    if tab == "D":
        supersets += [(AOIC, r, c), (AOIC, r, "ALL"), ("alone", MULTI, c), ("alone", MULTI, "ALL")]
    elif tab == AOIC:
        supersets += [(AOIC, r, "ALL")]
    elif tab == "alone":
        supersets += [("alone", r, "ALL"), (AOIC, r, c), (AOIC, r, "ALL")]
    for s in supersets:
        if s in cell and not cell[s][2]:
            den, num = cell[s][:2]
            if {"den": den, "num": num, "comp": den - num}[measure] == 0:
                return True
    return False
