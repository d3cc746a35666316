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
SUMB = False
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


def attack(
    con: duckdb.DuckDBPyConnection, threshold: int, table: str = "cells", multiracial_bounds: bool = True
) -> list[tuple]:
    """Bound every hidden count with LPs; return what the attacker pins down."""
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for row in _published(con, table):
        groups[row[:4]].append(row[4:])
    leaks = []
    for key, rows in groups.items():
        leaks += _attack_group(key, rows, threshold, multiracial_bounds)
    return leaks


Form = list[tuple[tuple, float]]  # a linear form over cells: [(cell key, coefficient)]


def _attack_group(key: tuple, rows: list[tuple], t: int, multiracial_bounds: bool) -> list[tuple]:
    cell = {(tab, race, cls): (den, num, bool(sup)) for tab, race, cls, den, num, sup, _ in rows}
    grid = {(r, c): (tab, r, c) for (tab, r, c) in cell if tab != AOIC}
    aoic = {(r, c): (AOIC, r, c) for (tab, r, c) in cell if tab == AOIC}
    races, classes = {r for r, _ in grid}, {c for _, c in grid}
    col = {k: j for j, k in enumerate(k for k, v in cell.items() if v[2])}
    nv = 2 * len(col)  # hidden cell j: denominator at 2j, numerator at 2j + 1
    if not col:
        return []

    def split(form: Form) -> tuple[np.ndarray, np.ndarray]:
        """Coefficient rows (den, num, complement) over the unknowns, and known constants."""
        a, const = np.zeros((3, nv)), np.zeros(3)
        for k, coef in form:
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

    sums: list[Form] = []  # each form equals zero
    for c in classes:
        if ("ALL", c) in grid:
            sums.append([(grid[("ALL", c)], -1.0)] + [(grid[(r, c)], 1.0) for r in races if r != "ALL" and (r, c) in grid])
    for r in races:
        if (r, "ALL") in grid:
            sums.append([(grid[(r, "ALL")], -1.0)] + [(grid[(r, c)], 1.0) for c in classes if c != "ALL" and (r, c) in grid])
    for r in {r for r, _ in aoic}:
        if (r, "ALL") in aoic:
            sums.append([(aoic[(r, "ALL")], -1.0)] + [(k, 1.0) for (rr, c), k in aoic.items() if rr == r and c != "ALL"])
    a_eq, b_eq = [], []
    for form in sums:
        a, const = split(form)
        for m in range(2):  # the complement equation follows from these two
            if a[m].any():
                a_eq.append(a[m])
                b_eq.append(-const[m])
            else:
                assert abs(const[m]) < 1e-9, f"{key}: published cells violate {form}"

    # D(r, c) = AOIC(r, c) - alone(r, c): the multiracial people who include race r.
    derived = {(r, c): [(k, 1.0), (("alone", r, c), -1.0)] for (r, c), k in aoic.items()}
    a_ub, b_ub = [], []

    def at_most_zero(form: Form) -> None:
        a, const = split(form)
        for m in range(3):
            if a[m].any():
                a_ub.append(a[m])
                b_ub.append(-const[m])

    for j in range(len(col)):  # numerator <= denominator
        v = np.zeros(nv)
        v[2 * j + 1], v[2 * j] = 1, -1
        a_ub.append(v)
        b_ub.append(0.0)
    for d in derived.values():  # D >= 0
        at_most_zero([(k, -coef) for k, coef in d])
    if multiracial_bounds:
        for c in classes:
            multi = ("alone", MULTI, c)
            ds = [d for (_, cc), d in derived.items() if cc == c]
            for d in ds:  # D(r, c) <= multiracial(c)
                at_most_zero(d + [(multi, -1.0)])
            if ds and SUMB:  # every multiracial person is in 2..7 AOIC rows
                at_most_zero([(k, -coef) for d in ds for k, coef in d] + [(multi, 2.0)])
                at_most_zero([term for d in ds for term in d] + [(multi, -7.0)])

    kw = dict(
        A_ub=np.array(a_ub), b_ub=np.array(b_ub), A_eq=np.array(a_eq) if a_eq else None,
        b_eq=np.array(b_eq) if b_eq else None, bounds=(0, None), method="highs",
    )

    def bounds(form: Form) -> list[tuple[int, int, int]]:
        """(min, max, true) of den, num and complement of a form."""
        a, const = split(form)
        true = np.zeros(3)
        for k, coef in form:
            if k in cell:
                den, num = cell[k][:2]
                true += coef * np.array([den, num, den - num])
        out = []
        for m in range(3):
            if not a[m].any():
                out.append((const[m], const[m], true[m]))
                continue
            lo, hi = linprog(a[m], **kw), linprog(-a[m], **kw)
            assert lo.status == 0, (key, lo.message)
            top = math.inf if hi.status == 3 else math.floor(-hi.fun + const[m] + 1e-6)
            out.append((math.ceil(lo.fun + const[m] - 1e-6), top, true[m]))
        return out

    targets = [(k, [(k, 1.0)]) for k in col]
    for (r, c), d in derived.items():
        d_cells = [k for k, _ in d if k in cell]
        dd, dn = (sum(coef * cell[k][m] for k, coef in d if k in cell) for m in range(2))
        if any(cell[k][2] for k in d_cells) and (_small(dd, t) or _small(dn, t) or _small(dd - dn, t)):
            targets.append((("D", r, c), d))  # a small derived count must stay hidden too
    leaks = []
    for k, form in targets:
        for measure, (lo, hi, true) in zip(("den", "num", "comp"), bounds(form)):
            assert lo <= true <= hi, (key, k, measure, lo, true, hi)
            if hi - lo < 1 and true == 0 and _zero_shown(cell, k, measure):
                continue  # a published zero above this cell already says it is zero
            if hi - lo < 1 or (lo >= 1 and hi <= t):
                leaks.append((key, k, measure, int(true), lo, hi))
    return leaks


def _zero_shown(cell: dict, k: tuple, measure: str, seen: frozenset = frozenset()) -> bool:
    """Do published zeros already imply that cell k is zero on this measure?"""
    if k in seen:
        return False
    seen = seen | {k}
    tab, r, c = k
    if tab != "D":
        if k not in cell:
            return True  # missing cells are known zeros
        den, num, hidden = cell[k]
        if not hidden:
            return {"den": den, "num": num, "comp": den - num}[measure] == 0
    zero = lambda key: _zero_shown(cell, key, measure, seen)  # noqa: E731
    if c != "ALL" and zero(("total", "ALL", "ALL") if tab == "total" else ("total", "ALL", c)):
        return True
    if tab == "alone":
        return zero(("alone", r, "ALL")) or zero((AOIC, r, c))
    if tab == AOIC:  # AOIC(r, c) lies inside alone(r, c) plus multiracial(c)
        return zero((AOIC, r, "ALL")) or (zero(("alone", r, c)) and zero(("alone", MULTI, c)))
    if tab == "D":
        if zero((AOIC, r, c)) or zero(("alone", MULTI, c)):
            return True
        # D(r, ALL) is derivable when both of its cells are shown
        pair = [cell.get((AOIC, r, "ALL")), cell.get(("alone", r, "ALL"))]
        if c != "ALL" and all(p is not None and not p[2] for p in pair):
            den, num = pair[0][0] - pair[1][0], pair[0][1] - pair[1][1]
            return {"den": den, "num": num, "comp": den - num}[measure] == 0
    return False
