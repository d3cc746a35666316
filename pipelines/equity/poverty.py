"""HHS poverty guidelines: the table, its validation, and the SQL that prices a household with it.

The guideline for a household of n is `first_person + each_additional * (n - 1)`, never less than
the previous year's guideline for the same n: that is how HHS's 2016 table kept households of 7
or more at their 2015 amounts (see schemas/equity/POVERTY_GUIDELINES_SOURCES.md).

A record takes the latest guideline year at or before the calendar year its period starts in
(school year 2023-24 and March 2023 both use 2023's guidelines; the label's digits do not count).
A year after the latest in the table uses the latest (and is recorded as such); a year before the
first has no guideline at all, because an older cohort priced with a later year's guideline
would be classed too poor.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import Field

from pipelines import yaml_text_keys
from pipelines.equity.standards import _Strict, _validate
from pipelines.errors import ConfigError

REGIONS = ("contiguous", "alaska", "hawaii")
STATE_REGIONS = {"AK": "alaska", "HI": "hawaii"}
# HHS publishes guidelines for the 50 states and DC only: a household elsewhere (a territory, a
# typo such as "HA") has no guideline to be classed against, so intake refuses the code.
US_STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE "
             "NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split()
REQUIRED_COLUMNS = ["year", "region", "first_person", "each_additional"]
OPTIONAL_COLUMNS = ["source"]


class PovertyGuideline(_Strict):
    year: int = Field(ge=1959, le=2100)
    region: Literal["contiguous", "alaska", "hawaii"]
    first_person: float = Field(gt=0, allow_inf_nan=False)
    each_additional: float = Field(gt=0, allow_inf_nan=False)
    source: str = ""

    def straight_line(self, household_size: int) -> float:
        return self.first_person + self.each_additional * (household_size - 1)


def load_poverty_guidelines(path: Path) -> tuple[PovertyGuideline, ...]:
    path = Path(path)
    try:
        # Excel's "CSV UTF-8" starts with a byte order mark, which would be part of 'year'.
        text = yaml_text_keys.definition_text(path).removeprefix("\ufeff")
    except FileNotFoundError:
        raise ConfigError(f"{path}: (file): not found") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if header[:4] != REQUIRED_COLUMNS or any(c not in OPTIONAL_COLUMNS for c in header[4:]):
        raise ConfigError(f"{path}: (header): expected {REQUIRED_COLUMNS} optionally "
                          f"followed by {OPTIONAL_COLUMNS}, got {header}")
    rows = list(reader)
    guidelines: list[PovertyGuideline] = []
    seen: set[tuple[int, str]] = set()
    for line_no, row in enumerate(rows, start=2):  # line 1 is the header
        g = _validate(PovertyGuideline, row, path, key_prefix=f"line {line_no}.")
        if (g.year, g.region) in seen:
            raise ConfigError(f"{path}: line {line_no}.year: duplicate {g.year} {g.region}")
        seen.add((g.year, g.region))
        guidelines.append(g)
    if missing := set(REGIONS) - {g.region for g in guidelines}:
        raise ConfigError(f"{path}: region: no rows for {sorted(missing)}")
    # A year without its Alaska or Hawaii rows would silently price those households with an
    # older year's guideline while the rest of the period uses the new one.
    for year in sorted({g.year for g in guidelines}):
        if missing := set(REGIONS) - {g.region for g in guidelines if g.year == year}:
            raise ConfigError(f"{path}: year {year}: no rows for {sorted(missing)} (every year "
                              f"needs all of {', '.join(REGIONS)}; the backbone install's "
                              f"schemas/equity/{path.name} has the official 2015-2026 tables)")
    return tuple(sorted(guidelines, key=lambda g: (g.year, REGIONS.index(g.region))))


def guideline_amount(guidelines: tuple[PovertyGuideline, ...], year: int, region: str,
                     household_size: int) -> float:
    """Python twin of the SQL pricing, for tests and small frames (`year` is a guideline year)."""
    rows = {(g.year, g.region): g for g in guidelines}
    amount = rows[(year, region)].straight_line(household_size)
    if (year - 1, region) in rows:
        amount = max(amount, rows[(year - 1, region)].straight_line(household_size))
    return amount


def region_sql(state_expr: str) -> str:
    cases = " ".join(f"WHEN '{st}' THEN '{region}'" for st, region in STATE_REGIONS.items())
    return f"(CASE upper(trim({state_expr})) {cases} ELSE 'contiguous' END)"


def register_poverty_guidelines(con: duckdb.DuckDBPyConnection,
                                guidelines: tuple[PovertyGuideline, ...],
                                table: str = "poverty_guidelines") -> None:
    """Create `table` (one row per year and region, with the previous year's line as a floor)
    and, for analysts, the macro poverty_line(p_year, p_state, p_size).

    poverty_line takes the latest guideline year <= p_year; NULL when p_year predates the
    table, or when year or size is NULL or size < 1.
    """
    rows = {(g.year, g.region): g for g in guidelines}
    con.execute(f"CREATE OR REPLACE TABLE {table} (year INTEGER, region VARCHAR, "
                "first_person DOUBLE, each_additional DOUBLE, floor_first_person DOUBLE, "
                "floor_each_additional DOUBLE, source VARCHAR)")
    values = []
    for g in guidelines:
        previous = rows.get((g.year - 1, g.region))
        values.append((g.year, g.region, g.first_person, g.each_additional,
                       previous.first_person if previous else None,
                       previous.each_additional if previous else None, g.source))
    con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)", values)
    if table == "poverty_guidelines":
        con.execute(f"""
            CREATE OR REPLACE MACRO poverty_line(p_year, p_state, p_size) AS (
                CASE WHEN p_year IS NULL OR p_size IS NULL OR p_size < 1 THEN NULL ELSE (
                    SELECT arg_max({amount_sql('g', 'p_size')}, g.year)
                    FROM poverty_guidelines AS g
                    WHERE g.region = {region_sql('p_state')} AND g.year <= p_year
                ) END)""")


def guideline_sql(first: str, each: str, size: str, floor_first: str | None = None,
                  floor_each: str | None = None) -> str:
    """HHS's formula as SQL: first + each × (size − 1), never below the previous year's line
    (`floor_*`, when there is one). Both the table-joined and the constant form are built here."""
    line = f"{first} + {each} * ({size} - 1)"
    if floor_first is None:
        return f"({line})"
    return f"greatest({line}, {floor_first} + {floor_each} * ({size} - 1))"


def amount_sql(alias: str, size_expr: str) -> str:
    """The guideline for a household of `size_expr` from a row `alias` of the guideline table."""
    return guideline_sql(f"{alias}.first_person", f"{alias}.each_additional", size_expr,
                         f"coalesce({alias}.floor_first_person, 0)",
                         f"coalesce({alias}.floor_each_additional, 0)")


def period_years_sql(periods_sql: str, table: str = "poverty_guidelines") -> str:
    """(period, guideline_year, beyond_latest) for each calendar year that `periods_sql` selects
    (one INTEGER column `period`: the year a period starts in); guideline_year is NULL before
    the table's first year."""
    return f"""
        SELECT p.period, max(g.year) FILTER (WHERE g.year <= p.period) AS guideline_year,
               p.period > max(g.year) AS beyond_latest
        FROM ({periods_sql}) p, (SELECT DISTINCT year FROM {table}) g
        GROUP BY p.period"""


def ratio_sql(income: str, size: str, alias: str = "g") -> str:
    """income / guideline, NULL when anything is missing or the size is below 1."""
    return (f"CASE WHEN {size} >= 1 THEN {income} / {amount_sql(alias, size)} END")
