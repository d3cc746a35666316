"""Disparity measures against hand-computed values."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.disparities import compute_disparities
from pipelines.suppress import suppress_cells

COLUMNS = [
    "initiative_id", "indicator_id", "period", "partner_id", "dimension", "group_label",
    "reference_group", "group_rate", "reference_rate", "rate_ratio", "rate_difference",
    "index_of_disparity", "groups_compared",
]
REFS = {"race": "White", "class": "400%+ FPG"}


def _cells(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """rows: (partner_id, race_tabulation, race, class, numerator, denominator, suppressed)."""
    con.execute(
        "CREATE OR REPLACE TABLE cells (initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, "
        "partner_id VARCHAR, race_tabulation VARCHAR, race VARCHAR, class VARCHAR, numerator BIGINT, "
        "denominator BIGINT, suppressed BOOLEAN, suppression_reason VARCHAR)"
    )
    con.executemany(
        "INSERT INTO cells VALUES ('init', 'ind', '2024', ?, ?, ?, ?, ?, ?, ?, "
        "CASE WHEN ? THEN 'primary' END)",
        [(*r, r[-1]) for r in rows],
    )


RACE_ROWS = {  # race -> (numerator, denominator, suppressed)
    "White": (20, 100, False),
    "Black or African American": (20, 50, False),
    "Hispanic or Latino": (8, 80, False),
    "Asian": (4, 40, True),
    "Multiracial and/or Multiethnic": (9, 30, False),
    "Not reported": (5, 25, False),
}
CLASS_ROWS = {
    "Below 100% FPG": (60, 200, False),
    "100-199% FPG": (20, 100, False),
    "400%+ FPG": (5, 50, False),
    "Not reported": (3, 30, False),
}


def _standard_rows(partner: str | None = "p1") -> list[tuple]:
    rows = [(partner, "alone", r, "ALL", n, d, s) for r, (n, d, s) in RACE_ROWS.items()]
    rows += [(partner, "total", "ALL", c, n, d, s) for c, (n, d, s) in CLASS_ROWS.items()]
    rows += [(partner, "total", "ALL", "ALL", 66, 325, False)]
    # a race x class cell and an AOIC row, which must not leak into either dimension
    rows += [(partner, "alone", "White", "400%+ FPG", 1, 20, False),
             (partner, "alone_or_in_combination", "Asian", "ALL", 30, 60, False)]
    return rows


def _expected(rows: dict[str, tuple[int, int, bool]], ref: str) -> dict[str, tuple]:
    """Independent arithmetic: (rate, ratio, difference) per compared group, and IDisp."""
    rate = {g: n / d for g, (n, d, s) in rows.items() if not s and d > 0 and g != "Not reported"}
    r_ref = rate[ref]
    out = {g: (r, r / r_ref, r - r_ref) for g, r in rate.items() if g != ref}
    idisp = sum(abs(r - r_ref) for g, r in rate.items() if g != ref) / len(out) / r_ref * 100
    return {g: (*v, idisp, len(out)) for g, v in out.items()}


def _result(con: duckdb.DuckDBPyConnection, where: str = "TRUE") -> dict[tuple, tuple]:
    rows = con.execute(
        f"SELECT partner_id, dimension, group_label, group_rate, rate_ratio, rate_difference, "
        f"index_of_disparity, groups_compared, reference_group, reference_rate FROM out WHERE {where}"
    ).fetchall()
    return {(p, dim, g): rest for p, dim, g, *rest in rows}


def test_pair_measures_and_index_of_disparity_by_hand() -> None:
    con = duckdb.connect()
    _cells(con, _standard_rows())
    compute_disparities(con, "cells", "out", REFS)
    assert [c[0] for c in con.execute("DESCRIBE out").fetchall()] == COLUMNS
    got = _result(con)
    for dim, rows, ref in (("race", RACE_ROWS, "White"), ("class", CLASS_ROWS, "400%+ FPG")):
        expected = _expected(rows, ref)
        assert {g for p, d, g in got if d == dim} == set(expected)
        ref_rate = rows[ref][0] / rows[ref][1]
        for group, (rate, ratio, diff, idisp, n) in expected.items():
            g_rate, g_ratio, g_diff, g_idisp, g_n, g_ref, g_ref_rate = got[("p1", dim, group)]
            assert g_rate == pytest.approx(rate)
            assert g_ratio == pytest.approx(ratio)
            assert g_diff == pytest.approx(diff)
            assert g_idisp == pytest.approx(idisp)
            assert (g_n, g_ref, g_ref_rate) == (n, ref, pytest.approx(ref_rate))
    # spelled out once: Black 0.4 vs White 0.2; IDisp = mean(.2, .1, .1) / .2 * 100
    assert got[("p1", "race", "Black or African American")][1] == pytest.approx(2.0)
    assert got[("p1", "race", "Black or African American")][3] == pytest.approx(200 / 3)
    assert got[("p1", "class", "Below 100% FPG")][3] == pytest.approx(150.0)


def test_suppressed_group_is_excluded_everywhere() -> None:
    con = duckdb.connect()
    _cells(con, _standard_rows())
    compute_disparities(con, "cells", "out", REFS)
    got = _result(con)
    assert ("p1", "race", "Asian") not in got
    # Asian (0.1, suppressed) would have moved IDisp from 66.7 to 62.5 had it counted
    assert got[("p1", "race", "Hispanic or Latino")][3] == pytest.approx(200 / 3)
    assert got[("p1", "race", "Hispanic or Latino")][4] == 3
    # a row suppression never looked at (NULL flag) is treated as hidden
    con.execute("UPDATE cells SET suppressed = NULL WHERE race = 'Hispanic or Latino'")
    compute_disparities(con, "cells", "out", REFS)
    got = _result(con)
    assert ("p1", "race", "Hispanic or Latino") not in got
    assert got[("p1", "race", "Black or African American")][4] == 2
    # a suppressed reference removes the whole dimension for that group key
    con.execute("UPDATE cells SET suppressed = true WHERE race = 'White' AND class = 'ALL'")
    compute_disparities(con, "cells", "out", REFS)
    got = _result(con)
    assert not any(d == "race" for _, d, _ in got)
    assert any(d == "class" for _, d, _ in got)


def test_zero_reference_rate_and_separate_group_keys() -> None:
    con = duckdb.connect()
    rows = _standard_rows("p1") + [  # partner p2: the reference rate is 0; initiative-level NULL partner
        ("p2", "alone", "White", "ALL", 0, 40, False),
        ("p2", "alone", "Black or African American", "ALL", 6, 30, False),
        (None, "alone", "White", "ALL", 10, 50, False),
        (None, "alone", "Hispanic or Latino", "ALL", 15, 50, False),
        ("p3", "alone", "Black or African American", "ALL", 6, 30, False),  # no reference row
    ]
    _cells(con, rows)
    compute_disparities(con, "cells", "out", {"race": "White"})
    got = _result(con)
    rate, ratio, diff, idisp, n, *_ = got[("p2", "race", "Black or African American")]
    assert (rate, ratio, idisp, n) == (pytest.approx(0.2), None, None, 1)
    assert diff == pytest.approx(0.2)
    assert got[(None, "race", "Hispanic or Latino")][1] == pytest.approx(1.5)
    assert got[(None, "race", "Hispanic or Latino")][3] == pytest.approx(50.0)
    assert not any(p == "p3" for p, _, _ in got)
    assert not any(d == "class" for _, d, _ in got)  # no class reference given


def test_bad_arguments() -> None:
    con = duckdb.connect()
    _cells(con, _standard_rows())
    with pytest.raises(ValueError, match="unknown dimensions"):
        compute_disparities(con, "cells", "out", {"age": "18-24"})
    with pytest.raises(ValueError, match="excluded"):
        compute_disparities(con, "cells", "out", {"race": "Not reported"})
    con.execute("ALTER TABLE cells DROP COLUMN suppressed")
    with pytest.raises(ValueError, match="suppress_cells"):
        compute_disparities(con, "cells", "out", REFS)


def test_after_real_suppression_no_hidden_cell_appears() -> None:
    con = duckdb.connect()
    con.execute(
        """
        CREATE TABLE people AS
        SELECT 'p' || (i % 3) AS partner_id,
               ['White', 'Black or African American', 'Hispanic or Latino', 'Asian',
                'American Indian or Alaska Native'][1 + (hash(i::VARCHAR || 'r') % 5)::INT] AS race,
               ['Below 100% FPG', '100-199% FPG', '400%+ FPG'][1 + (hash(i::VARCHAR || 'c') % 3)::INT] AS class,
               hash(i::VARCHAR || 'o') % 4 = 0 AS outcome
        FROM range(900) AS t(i)
        """
    )
    con.execute(
        """
        CREATE TABLE cells AS
        SELECT 'init' AS initiative_id, 'ind' AS indicator_id, '2024' AS period, partner_id,
               CASE WHEN grouping(race) = 1 THEN 'total' ELSE 'alone' END AS race_tabulation,
               CASE WHEN grouping(race) = 1 THEN 'ALL' ELSE race END AS race,
               CASE WHEN grouping(class) = 1 THEN 'ALL' ELSE class END AS class,
               count_if(outcome) AS numerator, count(*) AS denominator
        FROM people
        GROUP BY GROUPING SETS ((partner_id, race, class), (partner_id, race), (partner_id, class), (partner_id))
        """
    )
    counts = suppress_cells(con, "cells", threshold=10)
    assert counts["primary"] > 0
    compute_disparities(con, "cells", "out", REFS)
    leaked = con.execute(
        """
        SELECT count(*) FROM out o JOIN cells c USING (partner_id)
        WHERE c.suppressed AND c.race_tabulation IN ('alone', 'total')
          AND ((o.dimension = 'race' AND c.class = 'ALL' AND c.race IN (o.group_label, o.reference_group))
            OR (o.dimension = 'class' AND c.race = 'ALL' AND c.class IN (o.group_label, o.reference_group)))
        """
    ).fetchall()[0][0]
    assert leaked == 0
    assert con.execute("SELECT count(*) FROM out").fetchall()[0][0] > 0


def test_published_disparities_follow_each_indicators_disaggregations(workspace) -> None:
    """A breakdown an indicator withholds from indicator_results is withheld here too."""
    from pipelines.publish import _wanted_cells, _wanted_disparities

    path = workspace.path("indicators", "riverbend", "kindergarten_readiness.yaml")
    path.write_text(path.read_text() + "disaggregations: [race]\n")
    path = workspace.path("indicators", "riverbend", "third_grade_reading.yaml")
    path.write_text(path.read_text() + "disaggregations: [partner]\n")
    config = workspace.load("riverbend")
    con = duckdb.connect()
    con.execute("CREATE TABLE d (indicator_id VARCHAR, partner_id VARCHAR, dimension VARCHAR)")
    rows = [(i, p, d) for i in ("kindergarten_readiness", "third_grade_reading", "well_child_visits")
            for p in ("ALL", "riverbend_schools") for d in ("race", "class")]
    con.executemany("INSERT INTO d VALUES (?, ?, ?)", rows)
    kept = set(con.execute(f"SELECT * FROM d WHERE {_wanted_disparities(config)}").fetchall())
    assert kept == {("kindergarten_readiness", "ALL", "race")} | {
        ("well_child_visits", p, d) for p in ("ALL", "riverbend_schools") for d in ("race", "class")}
    # The cells filter agrees: what disparities keep, indicator_results keep.
    con.execute("CREATE TABLE c (indicator_id VARCHAR, partner_id VARCHAR, race VARCHAR, "
                "class VARCHAR)")
    con.executemany("INSERT INTO c VALUES (?, ?, ?, ?)",
                    [(i, p, "White" if d == "race" else "ALL", "ALL" if d == "race" else "400%+ FPG")
                     for i, p, d in rows])
    cells = con.execute(f"SELECT indicator_id, partner_id, CASE WHEN race <> 'ALL' THEN 'race' "
                        f"ELSE 'class' END FROM c WHERE {_wanted_cells(config)}").fetchall()
    assert set(cells) == kept
