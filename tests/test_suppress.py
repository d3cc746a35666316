"""Small-cell suppression: primary rules, an LP attacker, idempotence, speed.

The attacker knows every published cell and every relation of the layout: the race x
class sums, the AOIC sums, partner 'ALL' = sum of partners, counts non-negative with
numerator <= denominator, and how AOIC relates to alone (AOIC = alone + D with
0 <= D <= multiracial, and each multiracial person sits in 2..7 AOIC rows). It bounds
every hidden count (denominator, numerator and their difference) with linear programs.
No hidden count may be pinned or proven to be 1..threshold. Two zero cases are allowed:
a zero that published zeros already imply, and a numerator (or complement) pinned at 0
only through the multiracial inequalities, which the suppression heuristic does not
fully model (seen with rare outcomes in very sparse tables; the count stays hidden).
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


def _h(seed: int, k: int) -> str:
    # hash() keeps draws reproducible under DuckDB's parallel execution, unlike random();
    # hashing one string, since hash(i, a, b) for different b correlate modulo small numbers.
    return f"hash(i::VARCHAR || '|{seed}|{k}')"


def _u(seed: int, k: int) -> str:
    return f"(({_h(seed, k)} % 1000000) / 1000000.0)"


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
               (2020 + {_h(seed, 7)} % {periods})::VARCHAR AS period,
               'partner-' || ({_h(seed, 5)} % {partners}) AS partner_id,
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


def _relations(cell: dict) -> tuple[list[Form], list[tuple[Form, bool]], dict[Cell, Form]]:
    """Equalities (form == 0), inequalities (form <= 0, flagged when they bound D by the
    multiracial cell) and the derived D forms."""
    eq: list[Form] = []
    le: list[tuple[Form, bool]] = []
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
            members = [((p, AOIC, r, c), 1.0) for rr, c in aoic if rr == r and c != "ALL"]
            eq.append([((p, AOIC, r, "ALL"), -1.0)] + members)
        for r, c in aoic:
            derived[(p, "D", r, c)] = [((p, AOIC, r, c), 1.0), (g(r, c), -1.0)]
        for c in classes:
            ds = [derived[(p, "D", r, c)] for r, cc in aoic if cc == c]
            multi = (g(MULTI, c), 1.0)
            for d in ds:
                le.append(([(k, -w) for k, w in d], False))  # D >= 0
                le.append((d + [(multi[0], -1.0)], True))  # D <= multiracial
            if ds:  # 2 * multiracial <= sum_r D <= 7 * multiracial
                le.append(([(k, -w) for d in ds for k, w in d] + [(multi[0], 2.0)], True))
                le.append(([t for d in ds for t in d] + [(multi[0], -7.0)], True))
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

    a_eq, b_eq, a_ub, b_ub, bound_rows = [], [], [], [], []
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
        bound_rows.append(False)
    for form, bound in le:
        a, const, _ = split(form)
        for m in range(3):
            if a[m].any():
                a_ub.append(a[m])
                b_ub.append(-const[m])
                bound_rows.append(bound)
    keep = ~np.array(bound_rows)
    a_ub, b_ub = np.array(a_ub), np.array(b_ub)
    common = dict(A_eq=csr_matrix(np.array(a_eq)) if a_eq else None, b_eq=np.array(b_eq) if b_eq else None,
                  bounds=(0, None), method="highs")
    full = dict(A_ub=csr_matrix(a_ub), b_ub=b_ub, **common)
    base = dict(A_ub=csr_matrix(a_ub[keep]), b_ub=b_ub[keep], **common)

    def solve(obj: np.ndarray, const: float, sense: int, lp: dict = full) -> float:
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
    zeros: dict[str, set[Cell]] = {}
    leaks = []
    for k, form in targets:
        a, const, true = split(form)
        for m, measure in enumerate(("den", "num", "comp")):
            lo = math.ceil(solve(a[m], const[m], 1) - 1e-6)
            assert lo <= true[m], (k, measure, lo, true[m])
            # The true value lies in [lo, hi]: hi is only needed when it can still matter.
            if lo < true[m] and (lo == 0 or true[m] > t):
                continue
            top = solve(a[m], const[m], -1)
            hi = math.inf if math.isinf(top) else math.floor(top + 1e-6)
            assert lo <= true[m] <= hi, (k, measure, lo, true[m], hi)
            if hi - lo < 1 and true[m] == 0:
                if measure not in zeros:
                    zeros[measure] = _implied_zeros(cell, derived, measure)
                if k in zeros[measure]:
                    continue  # published zeros already say it is zero
                if solve(a[m], const[m], -1, base) >= 1 - 1e-6:
                    # Only the multiracial bounds pin this zero (rare outcomes in very sparse
                    # tables); the count itself stays protected. A known residual risk.
                    continue
            if hi - lo < 1 or (lo >= 1 and hi <= t):
                leaks.append((k, measure, int(true[m]), lo, hi))
    return leaks


def _implied_zeros(cell: dict[Cell, tuple[int, int, bool]], derived: dict[Cell, Form], measure: str) -> set[Cell]:
    """Cells that published zeros already imply are zero on this measure.

    Zeros are shown, so a hidden cell pinned at zero by them discloses nothing new: it
    sits inside a published zero, or it is a sum of such cells.
    """
    keys = set(cell) | set(derived)
    partners = {k[0] for k in keys} - {"ALL"}
    subset: list[tuple[Cell, list[Cell]]] = []  # (cell, the cells it lies inside)
    sums: list[tuple[Cell, list[Cell]]] = []  # (cell, parts that cover it)
    for k in keys:
        p, tab, r, c = k
        parents = [(p, "total", "ALL", c)] if tab in ("alone", AOIC) else []
        if c != "ALL":
            parents.append((p, tab, r, "ALL") if tab != "total" else (p, "total", "ALL", "ALL"))
        if p != "ALL":
            parents.append(("ALL", tab, r, c))
        if tab == "alone":
            parents.append((p, AOIC, r, c))
        if tab == "D":
            parents += [(p, AOIC, r, c), (p, "alone", MULTI, c)]
        subset.append((k, parents))
        if tab == AOIC:  # AOIC(r, c) lies inside alone(r, c) plus multiracial(c)
            sums.append((k, [(p, "alone", r, c), (p, "alone", MULTI, c)]))
        if p == "ALL":
            sums.append((k, [(q, tab, r, c) for q in partners]))
        if tab == "alone" and r == MULTI:  # each multiracial person is in some D(r, c)
            sums.append((k, [x for x in keys if x[:2] == (p, "D") and x[3] == c]))
        if c == "ALL" and tab != "D":
            sums.append((k, [x for x in keys if x[:3] == (p, tab, r) and x[3] != "ALL"]))
        if tab == "total":
            sums.append((k, [x for x in keys if x[:2] == (p, "alone") and x[3] == c]))
    zero = {k for k, (den, num, hidden) in cell.items() if not hidden and _measures(den, num)[measure] == 0}
    for k, form in derived.items():  # D is known when both of its cells are shown
        if all(x in cell and not cell[x][2] for x, _ in form):
            vals = [cell[x][:2] for x, _ in form]
            if _measures(vals[0][0] - vals[1][0], vals[0][1] - vals[1][1])[measure] == 0:
                zero.add(k)
    known = lambda x: x in zero or (x not in keys)  # noqa: E731  (missing cells are zero)
    changed = True
    while changed:
        changed = False
        for k, parents in subset:
            if k not in zero and any(x in keys and x in zero for x in parents):
                zero.add(k)
                changed = True
        for k, parts in sums:
            if k not in zero and parts and all(known(x) for x in parts):
                zero.add(k)
                changed = True
    return zero


# ---------------------------------------------------------------- tests

def _rule(den: int, num: int, t: int) -> bool:
    return 0 < den <= t or 0 < num <= t or 0 < den - num <= t


def _hand_table(con: duckdb.DuckDBPyConnection) -> None:
    rows = [  # race, class, denominator, numerator
        ("White", "Below 100% FPG", 55, 20), ("White", "400%+ FPG", 45, 42), ("White", "ALL", 100, 62),
        ("Black or African American", "Below 100% FPG", 50, 3),
        ("Black or African American", "400%+ FPG", 40, 20), ("Black or African American", "ALL", 90, 23),
        ("Asian", "Below 100% FPG", 0, 0), ("Asian", "400%+ FPG", 0, 0), ("Asian", "ALL", 0, 0),
        ("Hispanic or Latino", "Below 100% FPG", 8, 4), ("Hispanic or Latino", "400%+ FPG", 30, 12),
        ("Hispanic or Latino", "ALL", 38, 16),
        ("ALL", "Below 100% FPG", 113, 27), ("ALL", "400%+ FPG", 115, 74), ("ALL", "ALL", 228, 101),
    ]
    con.execute(
        "CREATE TABLE cells (initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, "
        "partner_id VARCHAR, race_tabulation VARCHAR, race VARCHAR, class VARCHAR, "
        "numerator BIGINT, denominator BIGINT, method_note VARCHAR)"
    )
    con.executemany(
        "INSERT INTO cells VALUES ('i', 'k', '2024', 'p', ?, ?, ?, ?, ?, 'v1')",
        [("total" if r == "ALL" else "alone", r, c, num, den) for r, c, den, num in rows],
    )


def test_primary_rules_zeros_shown_and_complements() -> None:
    con = duckdb.connect()
    _hand_table(con)
    counts = suppress_cells(con, "cells", threshold=10)
    got = {(r, c): (s, why) for r, c, s, why in con.execute(
        "SELECT race, class, suppressed, suppression_reason FROM cells").fetchall()}
    primary = {k for k, (_, why) in got.items() if why == "primary"}
    # complement 3 (45 - 42), numerator 3, denominator 8
    assert primary == {("White", "400%+ FPG"), ("Black or African American", "Below 100% FPG"),
                       ("Hispanic or Latino", "Below 100% FPG")}
    assert all(got[("Asian", c)] == (False, None) for c in ("Below 100% FPG", "400%+ FPG", "ALL"))
    # each race row has one primary cell, so its other class cell must go too
    for race, other in [("White", "Below 100% FPG"), ("Black or African American", "400%+ FPG"),
                        ("Hispanic or Latino", "400%+ FPG")]:
        assert got[(race, other)] == (True, "complementary")
    assert counts == {"primary": 3, "complementary": 3}
    assert attack(con, 10) == []
    # a lower threshold leaves every count here publishable
    assert suppress_cells(con, "cells", threshold=2) == {"primary": 0, "complementary": 0}
    assert con.execute("SELECT count(*) FROM cells WHERE suppressed").fetchall() == [(0,)]


def test_primary_flags_match_the_rule_on_generated_cells() -> None:
    con = duckdb.connect()
    make_people(con, 11, 3000, partners=2)
    aggregate(con, all_partner=True)
    suppress_cells(con, "cells", threshold=10)
    rows = con.execute("SELECT denominator, numerator, suppressed, suppression_reason FROM cells").fetchall()
    assert any(why == "primary" for *_, why in rows) and any(not s for _, _, s, _ in rows)
    for den, num, hidden, why in rows:
        assert (why == "primary") == _rule(den, num, 10)
        assert hidden == (why is not None)
        assert not (hidden and den == 0)


ATTACK_CASES = [
    # seed, people, outcome rate, threshold, partners, partner 'ALL' rows, races, classes
    pytest.param(1, 5000, 0.3, 10, 1, False, 7, 7, id="dense"),
    pytest.param(2, 20000, 0.03, 10, 1, False, 7, 7, id="rare-outcome"),
    pytest.param(3, 2000, 0.92, 20, 1, False, 7, 7, id="common-outcome-t20"),
    pytest.param(4, 300, 0.3, 10, 1, False, 7, 7, id="sparse"),
    pytest.param(25, 40000, 0.5, 10, 1, False, 7, 7, id="large"),
    pytest.param(6, 2000, 0.5, 10, 2, True, 4, 3, id="partners"),
    pytest.param(7, 300, 0.05, 5, 2, True, 4, 3, id="partners-sparse-t5"),
]


@pytest.mark.parametrize(("seed", "n", "rate", "t", "partners", "all_partner", "n_races", "n_classes"),
                         ATTACK_CASES)
def test_attacker_cannot_pin_or_bound_hidden_cells(
    seed: int, n: int, rate: float, t: int, partners: int, all_partner: bool, n_races: int, n_classes: int,
) -> None:
    con = duckdb.connect()
    make_people(con, seed, n, partners=partners, outcome_p=rate, n_races=n_races, n_classes=n_classes)
    aggregate(con, all_partner=all_partner)
    counts = suppress_cells(con, "cells", threshold=t)
    assert counts["primary"] > 0
    assert counts["complementary"] > 0
    assert attack(con, t) == []


def test_single_small_cell_in_a_large_row() -> None:
    con = duckdb.connect()
    blocks = []
    selections = [[label] for label, _ in RACES] + [["Asian", "White"], []]
    for ri, races in enumerate(selections):
        for ci, (cls, _) in enumerate(CLASSES):
            size = 3 if (races, cls) == (["Asian"], "400%+ FPG") else 60 + 7 * ri + 3 * ci
            blocks.append((races, cls, size, size // 3))
    con.execute("CREATE TABLE blocks (races VARCHAR[], class VARCHAR, size INTEGER, hits INTEGER)")
    con.executemany("INSERT INTO blocks VALUES (?, ?, ?, ?)", blocks)
    con.execute(
        """
        CREATE TABLE people AS
        SELECT 'init-1' AS initiative_id, 'ind-1' AS indicator_id, '2024' AS period,
               'partner-0' AS partner_id, races, class, i < hits AS outcome
        FROM blocks, range(size) AS t(i)
        """
    )
    aggregate(con)
    counts = suppress_cells(con, "cells", threshold=10)
    assert counts["primary"] == 1
    hidden = con.execute("SELECT race_tabulation, race, class FROM cells WHERE suppressed").fetchall()
    assert ("alone", "Asian", "400%+ FPG") in hidden
    assert any(r == "Asian" and tab == "alone" and c not in ("400%+ FPG", "ALL") for tab, r, c in hidden)
    assert any(c == "400%+ FPG" and r != "Asian" for tab, r, c in hidden)
    assert len(hidden) <= 12  # protection, not a blanket
    assert attack(con, 10) == []


def test_idempotent_and_counts_untouched() -> None:
    con = duckdb.connect()
    make_people(con, 8, 2500, partners=2)
    aggregate(con, all_partner=True)
    cols = "initiative_id, indicator_id, period, partner_id, race_tabulation, race, class"
    before = con.execute(f"SELECT {cols}, numerator, denominator, method_note FROM cells ORDER BY ALL").fetchall()
    first = suppress_cells(con, "cells")
    flags = con.execute(f"SELECT {cols}, suppressed, suppression_reason FROM cells ORDER BY ALL").fetchall()
    con.execute("UPDATE cells SET suppressed = NULL, suppression_reason = 'stale'")
    assert suppress_cells(con, "cells") == first
    assert con.execute(f"SELECT {cols}, suppressed, suppression_reason FROM cells ORDER BY ALL").fetchall() == flags
    after = con.execute(f"SELECT {cols}, numerator, denominator, method_note FROM cells ORDER BY ALL").fetchall()
    assert after == before
    assert con.execute("SELECT count(*) FROM cells WHERE suppressed IS NULL").fetchall() == [(0,)]


def test_schema_qualified_table_and_bad_input(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA riverbend")
    _hand_table(con)
    con.execute("CREATE TABLE riverbend.indicator_cells AS SELECT * FROM cells")
    assert suppress_cells(con, "riverbend.indicator_cells")["primary"] == 3
    con.execute("UPDATE cells SET numerator = denominator + 1 WHERE race = 'White' AND class = 'ALL'")
    with pytest.raises(ValueError, match="numerator > denominator"):
        suppress_cells(con, "cells")
    con.execute("UPDATE cells SET numerator = 62 WHERE race = 'White' AND class = 'ALL'")
    con.execute("INSERT INTO cells SELECT * FROM cells WHERE race = 'White' AND class = 'ALL'")
    with pytest.raises(ValueError, match="more than once"):
        suppress_cells(con, "cells")
    with pytest.raises(ValueError, match="table name"):
        suppress_cells(con, "cells; DROP TABLE cells")


def test_fast_on_100k_cells() -> None:
    con = duckdb.connect()
    make_people(con, 42, 800_000, partners=20, periods=40)
    aggregate(con, all_partner=True)
    n_cells = con.execute("SELECT count(*) FROM cells").fetchall()[0][0]
    assert n_cells > 100_000
    start = time.perf_counter()
    counts = suppress_cells(con, "cells")
    assert time.perf_counter() - start < 20
    assert counts["complementary"] > 0


def test_a_workspace_race_standard_with_its_own_labels_is_suppressed_the_same() -> None:
    """The multiracial relations are found by the race standard's labels, not the defaults:
    a workspace that calls the group "Two or more races" gets the same protection."""
    con = duckdb.connect()
    make_people(con, 3, 200, outcome_p=0.3)
    aggregate(con)
    suppress_cells(con, "cells", threshold=3)
    default = con.execute("SELECT race_tabulation, race, class, suppressed FROM cells "
                          "ORDER BY ALL").fetchall()
    con.execute(f"UPDATE cells SET race = 'Two or more races' WHERE race = '{MULTI}'")
    suppress_cells(con, "cells", threshold=3, multiracial_label="Two or more races")
    renamed = con.execute(f"SELECT race_tabulation, replace(race, 'Two or more races', '{MULTI}'), "
                          "class, suppressed FROM cells ORDER BY ALL").fetchall()
    assert renamed == default
    con.execute(f"UPDATE cells SET race = '{MULTI}' WHERE race = 'Two or more races'")
    assert attack(con, 3) == []
