"""Audit 10 (P): hidden cells that another indicator of the same period gives back."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from pipelines.suppress import suppress_cells

RACES = ("White", "Black or African American", "Hispanic or Latino", "Asian")
# indicator -> race -> (numerator, denominator); each table has an ALL row (the sums).
FUNNEL = {  # visited of eligible, then screened of visited: wcv's numerator is screened's denominator
    "wcv": dict(zip(RACES, [(60, 100), (30, 45), (5, 50), (25, 60)])),
    "screened": dict(zip(RACES, [(30, 60), (15, 30), (3, 5), (12, 25)])),
}
SHARED = {  # two outcomes of one population: the same denominator
    "reading": dict(zip(RACES, [(60, 100), (20, 45), (25, 50), (3, 5)])),
    "math": dict(zip(RACES, [(50, 100), (30, 45), (8, 50), (5, 5)])),
}


def _cells(con: duckdb.DuckDBPyConnection, tables: dict) -> None:
    con.execute("CREATE TABLE cells (initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, "
                "partner_id VARCHAR, race_tabulation VARCHAR, race VARCHAR, class VARCHAR, "
                "numerator BIGINT, denominator BIGINT)")
    for indicator, rows in tables.items():
        total = (sum(n for n, _ in rows.values()), sum(d for _, d in rows.values()))
        for race, (num, den) in [*rows.items(), ("ALL", total)]:
            con.execute("INSERT INTO cells VALUES ('i', ?, '2024', 'ALL', ?, ?, 'ALL', ?, ?)",
                        [indicator, "total" if race == "ALL" else "alone", race, num, den])


def _derived(con: duckdb.DuckDBPyConnection, tables: dict, same: dict) -> list[str]:
    """Hidden counts of 1..10 an attacker solves exactly from the published cells of both
    indicators, knowing which counts are the same people (`same`: variable -> variable)."""
    published = {(i, r): (n, d) for i, r, n, d, s in con.execute(
        "SELECT indicator_id, race, numerator, denominator, suppressed FROM cells").fetchall()
        if not s}
    names = [(i, r, q) for i in tables for r in RACES for q in ("num", "den")]
    index = {v: k for k, v in enumerate(names)}
    rows, rhs = [], []

    def equation(coefficients: dict, value: int) -> None:
        row = np.zeros(len(names))
        for var, c in coefficients.items():
            row[index[same.get(var, var)]] += c
        rows.append(row)
        rhs.append(value)

    for i in tables:
        for q, k in (("num", 0), ("den", 1)):
            equation({(i, r, q): 1 for r in RACES}, published[(i, "ALL")][k])
            for r in RACES:
                if (i, r) in published:
                    equation({(i, r, q): 1}, published[(i, r)][k])
    a = np.array(rows)
    leaks = []
    for i, table in tables.items():
        for r, (num, den) in table.items():
            if (i, r) in published:
                continue
            for label, coefficients, value in (("numerator", {(i, r, "num"): 1}, num),
                                               ("denominator", {(i, r, "den"): 1}, den),
                                               ("complement", {(i, r, "den"): 1, (i, r, "num"): -1},
                                                den - num)):
                target = np.zeros(len(names))
                for var, c in coefficients.items():
                    target[index[same.get(var, var)]] += c
                solvable = (np.linalg.matrix_rank(np.vstack([a, target]))
                            == np.linalg.matrix_rank(a))
                if solvable and 0 < value <= 10:
                    leaks.append(f"{i} {r} {label} = {value}")
    return leaks


@pytest.mark.parametrize(("tables", "same"), [
    (FUNNEL, {("screened", r, "den"): ("wcv", r, "num") for r in RACES}),
    (SHARED, {("math", r, "den"): ("reading", r, "den") for r in RACES}),
], ids=["numerator-is-denominator", "shared-denominator"])
def test_a_second_indicator_does_not_give_a_hidden_cell_back(tables, same) -> None:
    con = duckdb.connect()
    _cells(con, tables)
    suppress_cells(con, "cells", threshold=10)
    assert con.execute("SELECT count(*) FROM cells WHERE suppression_reason = 'primary'"
                       ).fetchall()[0][0] >= 2
    assert _derived(con, tables, same) == []


def test_unrelated_indicators_keep_their_own_patterns() -> None:
    # Nothing in common: each indicator is protected alone, as before.
    tables = {"wcv": FUNNEL["wcv"], "reading": SHARED["reading"]}
    con = duckdb.connect()
    _cells(con, tables)
    suppress_cells(con, "cells", threshold=10)
    hidden = {(i, r) for i, r in con.execute(
        "SELECT indicator_id, race FROM cells WHERE suppressed").fetchall()}
    assert hidden == {("wcv", "Hispanic or Latino"), ("wcv", "Black or African American"),
                      ("reading", "Asian"), ("reading", "Black or African American")}


def test_a_lost_salt_is_not_replaced_once_files_were_taken(tmp_path, monkeypatch) -> None:
    from pipelines.config import Workspace
    from pipelines.standardize import SaltMissing, ensure_salt, read_salt, salt_file

    monkeypatch.delenv("BACKBONE_SALT_TINY", raising=False)
    workspace = Workspace(tmp_path)
    ensure_salt(workspace, "tiny")  # a new initiative gets its salt
    first = read_salt(workspace, "tiny")
    ensure_salt(workspace, "tiny")
    assert read_salt(workspace, "tiny") == first
    archived = workspace.path("data", "archive", "tiny", "clinic", "20240101T000000_x_a.csv")
    archived.parent.mkdir(parents=True)
    archived.write_text("person_id,period\nC1,2024\n")
    salt_file(workspace, "tiny").unlink()  # lost: a restore without data/warehouse/salts/
    with pytest.raises(SaltMissing, match="restore the salt"):
        ensure_salt(workspace, "tiny")
    assert not salt_file(workspace, "tiny").exists()  # nothing new was made in its place
    monkeypatch.setenv("BACKBONE_SALT_TINY", first)  # the salt kept elsewhere still works
    ensure_salt(workspace, "tiny")
    assert read_salt(workspace, "tiny") == first


def test_quarters_that_add_up_to_the_year_do_not_give_a_hidden_year_cell_back() -> None:
    # One entry visit per child: a yearly and a quarterly indicator with the same conditions,
    # so each year cell is the sum of its quarters'.
    quarter = dict(zip(RACES, [(40, 80), (9, 30), (2, 3), (12, 24)]))
    con = duckdb.connect()
    con.execute("CREATE TABLE cells (initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, "
                "period_start DATE, period_end DATE, partner_id VARCHAR, race_tabulation VARCHAR, "
                "race VARCHAR, class VARCHAR, numerator BIGINT, denominator BIGINT)")
    spans = [("screened_y", "2024", "2024-01-01", "2024-12-31", 4)] + [
        ("screened_q", f"2024Q{q}", f"2024-{3 * q - 2:02d}-01",
         ["2024-03-31", "2024-06-30", "2024-09-30", "2024-12-31"][q - 1], 1) for q in (1, 2, 3, 4)]
    for indicator, period, start, end, times in spans:
        rows = {r: (n * times, d * times) for r, (n, d) in quarter.items()}
        rows["ALL"] = (sum(n for n, _ in rows.values()), sum(d for _, d in rows.values()))
        for race, (num, den) in rows.items():
            con.execute("INSERT INTO cells VALUES ('i', ?, ?, ?, ?, 'ALL', ?, ?, 'ALL', ?, ?)",
                        [indicator, period, start, end, "total" if race == "ALL" else "alone",
                         race, num, den])
    suppress_cells(con, "cells", threshold=10)
    cell = {(p, r): (n, d, s) for p, r, n, d, s in con.execute(
        "SELECT period, race, numerator, denominator, suppressed FROM cells").fetchall()}
    quarters = [f"2024Q{q}" for q in (1, 2, 3, 4)]
    year_known = {r: cell[("2024", r)][:2] if not cell[("2024", r)][2] else
                  tuple(sum(cell[(q, r)][k] for q in quarters) for k in (0, 1))
                  if not any(cell[(q, r)][2] for q in quarters) else None for r in RACES}
    unknown = [r for r, v in year_known.items() if v is None]
    assert cell[("2024", "Hispanic or Latino")][2]  # 8 of 12: hidden in the year
    assert len(unknown) != 1, f"the year's {unknown[0]} is its total minus the rest"


def test_a_partner_cannot_take_its_own_cell_from_the_all_partner_row() -> None:
    # Two partners, different people: ALL is their sum, and each knows its own cells.
    partners = {"clinic_a": dict(zip(RACES, [(60, 100), (30, 45), (20, 50), (25, 60)])),
                "clinic_b": dict(zip(RACES, [(50, 80), (22, 40), (3, 5), (14, 30)]))}
    con = duckdb.connect()
    con.execute("CREATE TABLE cells (initiative_id VARCHAR, indicator_id VARCHAR, period VARCHAR, "
                "partner_id VARCHAR, race_tabulation VARCHAR, race VARCHAR, class VARCHAR, "
                "numerator BIGINT, denominator BIGINT)")
    everyone = {r: tuple(sum(p[r][k] for p in partners.values()) for k in (0, 1)) for r in RACES}
    for partner, rows in [*partners.items(), ("ALL", everyone)]:
        total = tuple(sum(v[k] for v in rows.values()) for k in (0, 1))
        for race, (num, den) in [*rows.items(), ("ALL", total)]:
            con.execute("INSERT INTO cells VALUES ('i', 'wcv', '2024', ?, ?, ?, 'ALL', ?, ?)",
                        [partner, "total" if race == "ALL" else "alone", race, num, den])
    suppress_cells(con, "cells", threshold=10)
    shown = {(p, r): (n, d) for p, r, n, d in con.execute(
        "SELECT partner_id, race, numerator, denominator FROM cells WHERE NOT suppressed").fetchall()}
    assert ("clinic_b", "Hispanic or Latino") not in shown  # 3 of 5
    for insider, rows in partners.items():
        other = next(p for p in partners if p != insider)
        for race in RACES:
            if (other, race) in shown or ("ALL", race) not in shown:
                continue
            derived = tuple(shown[("ALL", race)][k] - rows[race][k] for k in (0, 1))
            assert not any(0 < x <= 10 for x in (derived[0], derived[1], derived[1] - derived[0])), \
                f"{insider} takes {other}'s {race}: {derived}"


def test_a_salt_that_changes_between_nights_is_refused(tmp_path, monkeypatch) -> None:
    from pipelines.config import Workspace
    from pipelines.standardize import SaltMissing, ensure_salt, read_salt

    monkeypatch.delenv("BACKBONE_SALT_TINY", raising=False)
    workspace = Workspace(tmp_path)
    ensure_salt(workspace, "tiny")
    kept = read_salt(workspace, "tiny")
    monkeypatch.setenv("BACKBONE_SALT_TINY", "another-salt-0123456789abcdef0123456789")
    with pytest.raises(SaltMissing, match="BACKBONE_SALT_TINY is not the one"):
        ensure_salt(workspace, "tiny")  # moved to the environment with another value
    monkeypatch.setenv("BACKBONE_SALT_TINY", kept)
    ensure_salt(workspace, "tiny")  # the same salt from the environment is fine
