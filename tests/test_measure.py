"""Indicator cells: unduplicated people, SPD 15 tabulations, class, additivity."""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from pipelines import warehouse
from pipelines.measure import build_indicator_cells
from pipelines.standardize import RACE_CODES

WHITE, BLACK, HISP = "White", "Black or African American", "Hispanic or Latino"
MULTI, NOT_REPORTED = "Multiracial and/or Multiethnic", "Not reported"


def _insert(con, submission, partner, person, period, races=(), klass="Not reported", ready=None,
            wcv=None):
    flags = [code in races for code in RACE_CODES]
    con.execute(
        "INSERT INTO riverbend.records (submission_id, source_row, loaded_at, partner_id, "
        "person_key, period, " + ", ".join(f"race_{c}" for c in RACE_CODES) +
        ", race_reported, class, kinder_ready, well_child_visit) VALUES (?, 2, now(), ?, ?, ?, "
        + ", ".join("?" for _ in RACE_CODES) + ", ?, ?, ?, ?)",
        [submission, partner, _key(person), period, *flags, any(flags), klass, ready, wcv])


def _key(person: str) -> int:
    """A stand-in person_key (UHUGEINT): the same person gets the same key."""
    return int(hashlib.sha256(person.encode()).hexdigest()[:32], 16)


@pytest.fixture
def con(config):
    connection = duckdb.connect()
    connection.execute(warehouse.DDL)
    warehouse.ensure_initiative_tables(connection, config)
    yield connection
    connection.close()


def _cells(con, config, **where):
    build_indicator_cells(con, config)
    clause = " AND ".join(f"{k} = ?" for k in where)
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in con.execute(
        f"SELECT race_tabulation, race, class, numerator, denominator FROM "
        f"riverbend.indicator_cells WHERE {clause}", list(where.values())).fetchall()}


def test_people_count_once_across_partners_with_union_of_races(con, config):
    # p1: school says white, clinic says black -> multiracial across partners, counted once.
    _insert(con, 1, "riverbend_schools", "p1", 2024, ["white"], "Low income (proxy)", ready=1)
    _insert(con, 2, "bright_start", "p1", 2024, ["black"], "Below 100% FPG", ready=0)
    _insert(con, 1, "riverbend_schools", "p2", 2024, ["hispanic"], "400%+ FPG", ready=0)
    _insert(con, 1, "riverbend_schools", "p3", 2024, [], "Not reported", ready=1)
    cells = _cells(con, config, indicator_id="kindergarten_readiness", period="2024",
                   partner_id="ALL")
    assert cells[("total", "ALL", "ALL")] == (2, 3)
    assert cells[("alone", MULTI, "ALL")] == (1, 1)  # ready per any partner counts
    assert cells[("alone", MULTI, "Below 100% FPG")] == (1, 1)  # lowest class across partners
    assert cells[("alone", NOT_REPORTED, "ALL")] == (1, 1)  # kept, never dropped
    assert cells[("alone_or_in_combination", WHITE, "ALL")] == (1, 1)
    assert cells[("alone_or_in_combination", BLACK, "ALL")] == (1, 1)
    assert ("alone", WHITE, "ALL") not in cells
    # Per partner, the school sees p1 as White alone.
    school = _cells(con, config, indicator_id="kindergarten_readiness", period="2024",
                    partner_id="riverbend_schools")
    assert school[("alone", WHITE, "ALL")] == (1, 1)
    assert school[("total", "ALL", "ALL")] == (2, 3)


def test_alone_cells_and_class_cells_add_up_to_totals(con, config):
    import random

    rng = random.Random(3)
    classes = ["Below 100% FPG", "100-199% FPG", "400%+ FPG", "Low income (proxy)", "Not reported"]
    for i in range(400):
        races = rng.sample(RACE_CODES, k=rng.choice([0, 1, 1, 1, 2]))
        _insert(con, 1, "northside_clinic", f"p{i}", 2023, races, rng.choice(classes),
                wcv=rng.choice([0, 1]))
    cells = _cells(con, config, indicator_id="well_child_visits", period="2023", partner_id="ALL")
    total = cells[("total", "ALL", "ALL")]
    assert total[1] == 400
    for index in (0, 1):
        alone = sum(v[index] for (tab, _, klass), v in cells.items()
                    if tab == "alone" and klass == "ALL")
        by_class = sum(v[index] for (tab, race, klass), v in cells.items()
                       if tab == "total" and klass != "ALL")
        assert alone == by_class == total[index]
        aoic = sum(v[index] for (tab, _, klass), v in cells.items()
                   if tab == "alone_or_in_combination" and klass == "ALL")
        assert aoic >= alone - cells.get(("alone", NOT_REPORTED, "ALL"), (0, 0))[index]


def test_latest_file_for_a_partner_and_period_replaces_the_older_one(con, config):
    _insert(con, 1, "riverbend_schools", "p1", 2024, ["white"], ready=0)
    _insert(con, 1, "riverbend_schools", "p2", 2024, ["white"], ready=0)
    _insert(con, 5, "riverbend_schools", "p1", 2024, ["white"], ready=1)  # corrected resend
    cells = _cells(con, config, indicator_id="kindergarten_readiness", period="2024",
                   partner_id="ALL")
    assert cells[("total", "ALL", "ALL")] == (1, 1)


def test_a_warehouse_with_text_person_keys_is_refused_not_mixed(config):
    # Keys from an older version (64 hex characters) never equal the new 128-bit integers, so
    # loading into such a warehouse would silently stop unduplicating people.
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA riverbend")
    connection.execute("CREATE TABLE riverbend.records (submission_id BIGINT, person_key VARCHAR)")
    with pytest.raises(RuntimeError, match="person_key is VARCHAR.*Rebuild the warehouse"):
        warehouse.ensure_initiative_tables(connection, config)
    connection.close()
