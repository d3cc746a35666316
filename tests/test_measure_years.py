"""The guideline years measure looks up, found from the part summary (`measure_reuse.PARTS`,
as the incremental measure does) and from the records (as a full measure does): the same table
and the same classing SQL, on records with and without income or household size, in a year
only rows without them reach, in a year only rows with a household of none reach, after the
latest guideline year, and with a part whose records have no period start."""

from __future__ import annotations

import pytest

from pipelines import measure_reuse
from pipelines.config import ConfigError
from pipelines.equity import profiles

from test_measure_reuse import _file, _night_before


def _both(con, config) -> tuple:
    found = []
    for years_from in (None, measure_reuse.PARTS):
        try:
            classed = profiles.prepare(con, config, years_from)
        except ConfigError as exc:
            classed = f"ConfigError: {exc}"
        years = con.execute("SELECT * FROM riverbend.poverty_guideline_years ORDER BY ALL"
                            ).fetchall()
        found.append((classed, years))
    return tuple(found)


def _odd_rows(con, year: int, change: str) -> None:
    """A copy of some 2023 rows moved to `year`, with `change` applied."""
    con.execute(f"""
        INSERT INTO riverbend.records SELECT * REPLACE (
            '{year}' AS period, DATE '{year}-01-01' AS period_start,
            DATE '{year}-12-31' AS period_end, {change})
        FROM riverbend.records WHERE period = '2023' LIMIT 20""")


@pytest.mark.parametrize("case", ["loaded", "odd rows", "too early"])
def test_years_from_the_parts_are_the_years_from_the_records(workspace, config, case):
    con = _night_before(workspace, config, monthly=True)
    try:
        if case != "loaded":
            _odd_rows(con, 2031, "NULL AS household_income")
            _odd_rows(con, 2032, "0 AS household_size")
            _odd_rows(con, 2033, "household_size AS household_size")  # beyond the latest
            _odd_rows(con, 2034, "NULL AS household_size")
            # No period start (only rows without income: with it, neither path can class them).
            con.execute("UPDATE riverbend.records SET period_start = NULL WHERE period = '2031'")
        if case == "too early":
            _file(con, "riverbend_schools", 1990, 30)
        measure_reuse.count_parts(con, config)
        from_records, from_parts = _both(con, config)
        assert from_parts == from_records
        years = [y[0] for y in from_records[1]]
        if case == "odd rows":
            assert "2033" in years and not {"2031", "2032", "2034"} & set(years)
        if case == "too early":
            assert from_records[0].startswith("ConfigError")
    finally:
        con.close()
