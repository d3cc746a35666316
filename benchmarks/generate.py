"""Generate large, realistic partner CSVs for the benchmarks (synthetic data, made up).

Writes each person-level partner's files in its own local format, as `pipelines.synth` does for
the small sample, but at scale and without Python loops over rows: DuckDB computes the rows from
`range()` with hash-based (deterministic, parallel-safe) random numbers and `COPY ... TO` streams
them to disk; only the header, byte order mark and cp1252 transcoding are done in Python, in
16 MB chunks.

- riverbend_schools  UTF-8 with BOM, `,`, state race codes joined by `|`, FRL letters, Y/N.
- northside_clinic   UTF-8, `,`, HMIS FY2024 0/1 race columns, RaceNone, income, size, state.
- bright_start       cp1252, `;`, detailed race names, "$47,016" incomes, Yes/No/Sí, a note column.
- riverbend_housing  the small aggregate files from `pipelines.synth.write_sample` (a few KB).

A person's attributes (race, income, household) depend only on their id, so the same children
appear with the same race and income at several partners and unduplication has work to do. About
2 rows in 10,000 carry a typical data-entry slip (unknown code, bad value) to exercise quarantine.

    python -m benchmarks.generate --home benchmarks/work/ws --megabytes 1000
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines import synth
from pipelines.config import Workspace

INITIATIVE = "riverbend"
CHUNK = 16 * 1024 * 1024
YEARS = (2022, 2023, 2024, 2025)
# Share of the total bytes per partner, and the periods each partner sends: ~10 files at 1 GB.
PLAN = {"riverbend_schools": (0.4, YEARS), "northside_clinic": (0.4, YEARS),
        "bright_start": (0.2, (2024, 2025))}


@dataclass(frozen=True)
class PartnerFormat:
    file_name: str  # str.format(year=...)
    encoding: str  # of the final file ("utf-8-sig" writes a BOM)
    delimiter: str
    header: tuple[str, ...]


FORMATS = {
    "riverbend_schools": PartnerFormat(
        "RUSD_outcomes_{year}.csv", "utf-8-sig", ",",
        ("Student Number", "School Year", "Ethnicity/Race Codes", "Lunch Status",
         "K Readiness Met", "Gr3 ELA Met", "Campus")),
    "northside_clinic": PartnerFormat(
        "northside_wcv_{year}.csv", "utf-8", ",",
        ("PersonalID", "ReportYear", *synth.HMIS_COLUMNS, "RaceNone", "HouseholdIncome",
         "HouseholdSize", "State", "WCV")),
    "bright_start": PartnerFormat(
        "BrightStart FY{year} export.csv", "cp1252", ";",
        ("Child ID", "Program Year", "Race / Ethnicity", "Family Income ($)", "Family Size",
         "Ready for K?", "Medicaid?", "Teacher\u2019s note")),
}


def _u(key: int | str, stream: int) -> str:
    """A uniform number in [0, 1) from the person (or row) and a stream number."""
    return f"((hash({key}, {stream}) % 1000003) / 1000003.0)"


def _pick(uniform: str, values: list[str], weights: list[float]) -> str:
    cases, total = [], 0.0
    for value, weight in zip(values[:-1], weights[:-1]):
        total += weight
        cases.append(f"WHEN {uniform} < {total!r} THEN '{value}'")
    return f"(CASE {' '.join(cases)} ELSE '{values[-1]}' END)"


def _people_sql(rows: int, year: int, first_person: int) -> str:
    """CTEs ending in `rated`, one row per person: the attributes every partner sees the same
    way (they depend on the person number `p` alone)."""
    race_1 = _pick(_u("p", 2), synth.RACES, synth.RACE_WEIGHTS)
    race_2 = _pick(_u("p", 3), synth.RACES, synth.RACE_WEIGHTS)
    # Box-Muller: lognormal incomes like synth.make_children (mu 10.9, sigma 0.7).
    normal = f"sqrt(-2 * ln(1 - {_u('p', 4)})) * cos(2 * pi() * {_u('p', 5)})"
    sizes = "[2, 3, 3, 4, 4, 4, 5, 5, 6, 7]"
    first, extra = synth.POVERTY_2024
    return f"""
    WITH ids AS (SELECT range AS i, {first_person} + range AS p FROM range({rows})),
    drawn AS (
        SELECT i, p, {year} AS year, printf('RB%09d', p) AS person_id,
               {_u('p', 1)} AS roll, {race_1} AS r1, {race_2} AS r2,
               {sizes}[1 + floor({_u('p', 6)} * 10)::INTEGER] AS size,
               CASE WHEN {_u('p', 7)} < 0.01 THEN 'AK' ELSE 'WA' END AS state,
               {normal} AS z
        FROM ids
    ),
    raced AS (
        SELECT *, CASE WHEN roll < 0.04 THEN []
                       WHEN roll > 0.88 AND r2 <> r1 THEN [least(r1, r2), greatest(r1, r2)]
                       ELSE [r1] END AS races
        FROM drawn
    ),
    people AS (
        SELECT *, floor(exp(10.9 + 0.7 * z) * CASE WHEN list_has_any(races, ['black', 'hispanic',
                   'aian', 'nhpi']) THEN 0.6 ELSE 1.0 END)::BIGINT AS income,
               list_has_any(races, ['black', 'aian', 'nhpi']) AS gap
        FROM raced
    )
    ,
    rated AS (SELECT *, income / ({first} + {extra} * (size - 1)) AS ratio FROM people)"""


def _chance(base: float, stream: int) -> str:
    """synth._chance: the outcome gap by income and race, as SQL over `people`."""
    lift = "(CASE WHEN ratio >= 2 THEN 0.12 WHEN ratio < 1 THEN -0.10 ELSE 0 END)"
    return f"({_u('p * 10 + year', stream)} < {base} + {lift} - CASE WHEN gap THEN 0.06 ELSE 0 END)"


def _slip(stream: int, rate: float = 0.0001) -> str:
    return f"({_u('p', stream)} < {rate})"


def _body_sql(partner: str, rows: int, year: int, first_person: int) -> str:
    people = _people_sql(rows, year, first_person)
    if partner == "riverbend_schools":
        codes = "{" + ", ".join(f"'{r}': '{c}'" for r, c in synth.SCHOOL_CODES.items()) + "}"
        return f"""{people}
        SELECT person_id, year,
               CASE WHEN {_slip(50)} THEN '800' WHEN len(races) = 0 THEN '999'
                    ELSE array_to_string(list_transform(races, lambda r: map_extract_value(
                         MAP {codes}, r)), '|') END,
               CASE WHEN {_slip(51)} THEN 'X' WHEN ratio < 1.3 THEN 'F' WHEN ratio < 1.85 THEN 'R'
                    ELSE 'P' END,
               CASE WHEN i % 2 = 0 THEN CASE WHEN {_slip(52)} THEN 'maybe'
                    WHEN {_chance(0.58, 53)} THEN 'Y' ELSE 'N' END END,
               CASE WHEN i % 2 = 1 THEN CASE WHEN {_chance(0.50, 54)} THEN 'Y' ELSE 'N' END END,
               ['Riverside Elementary', 'Oak Park', 'Hillcrest'][
                   1 + floor({_u('i', 55)} * 3)::INTEGER]
        FROM rated ORDER BY i"""
    if partner == "northside_clinic":
        flags = ", ".join(f"list_contains(races, '{r}')::INTEGER" for r in synth.RACES)
        return f"""{people}
        SELECT person_id, year, {flags},
               CASE WHEN len(races) = 0 THEN ['8', '9', '99'][1 + floor({_u('p', 60)} * 3)::INTEGER]
                    END,
               CASE WHEN {_slip(61)} THEN '-5000' WHEN {_u('p * 10 + year', 62)} < 0.1 THEN NULL
                    ELSE income::VARCHAR END,
               CASE WHEN {_slip(63)} THEN 0 ELSE size END, state,
               {_chance(0.66, 64)}::INTEGER
        FROM rated ORDER BY i"""
    if partner == "bright_start":
        names = "{" + ", ".join(f"'{r}': '{n}'" for r, n in synth.BRIGHT_START_NAMES.items()) + "}"
        return f"""{people}
        SELECT person_id, year,
               CASE WHEN len(races) = 0 THEN 'Declined' ELSE array_to_string(list_transform(races,
                    lambda r: map_extract_value(MAP {names}, r)), ', ') END,
               CASE WHEN {_u('p * 10 + year', 70)} < 0.8 THEN '$' || format('{{:,}}', income) END,
               size,
               CASE WHEN {_slip(71, 0.02)} THEN 'Sí' WHEN {_chance(0.62, 72)} THEN 'Yes' ELSE 'No'
                    END,
               CASE WHEN ratio < 1.38 THEN 'Yes' ELSE 'No' END,
               [NULL, 'Señora López’s class', '–'][1 + floor({_u('i', 73)} * 3)::INTEGER]
        FROM rated ORDER BY i"""
    raise ValueError(f"no large-file format for partner {partner!r}")


def _first_person(year: int) -> int:
    # The same children, by id, at every partner in a year; a year's cohort is new people.
    return (year - 2000) * 10_000_000


def write_partner_file(folder: Path, partner: str, year: int, rows: int,
                       con: duckdb.DuckDBPyConnection | None = None,
                       name: str | None = None) -> Path:
    """Write one partner file of `rows` data rows into `folder/<partner>/`; return its path."""
    fmt = FORMATS[partner]
    target = folder / partner / (name or fmt.file_name.format(year=year))
    target.parent.mkdir(parents=True, exist_ok=True)
    own = con is None
    con = con or duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".gen-") as scratch:
        body = Path(scratch) / "body.csv"
        con.execute(f"COPY ({_body_sql(partner, rows, year, _first_person(year))}) TO '{body}' "
                    f"(FORMAT csv, HEADER false, DELIMITER '{fmt.delimiter}')")
        partial = target.with_name(f".{target.name}.part")  # not picked up by discover
        with partial.open("wb") as dst:
            dst.write((fmt.delimiter.join(fmt.header) + "\n").encode(fmt.encoding))
            if fmt.encoding == "cp1252":  # DuckDB writes UTF-8 only: transcode as a stream
                with body.open("r", encoding="utf-8", newline="") as src:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk.encode("cp1252"))
            else:
                with body.open("rb") as src:
                    shutil.copyfileobj(src, dst, CHUNK)
        partial.replace(target)
    if own:
        con.close()
    return target


def bytes_per_row(partner: str, con: duckdb.DuckDBPyConnection) -> float:
    """Calibrate: average bytes of a data row in this partner's format."""
    with tempfile.TemporaryDirectory() as scratch:
        path = write_partner_file(Path(scratch), partner, 2024, 20_000, con)
        header = len((FORMATS[partner].delimiter.join(FORMATS[partner].header) + "\n")
                     .encode(FORMATS[partner].encoding))
        return (path.stat().st_size - header) / 20_000


def rows_for(partner: str, megabytes: float, con: duckdb.DuckDBPyConnection) -> int:
    return max(1, int(megabytes * 1e6 / bytes_per_row(partner, con)))


def generate(home: Path, megabytes: float = 1000, verbose: bool = True) -> list[Path]:
    """Create a workspace at `home` (definitions copied from the repo) with ~`megabytes` MB of
    partner files waiting in its intake; returns the files written."""
    Workspace(home).add_definitions()
    intake = home / "data" / "intake" / INITIATIVE
    intake.mkdir(parents=True, exist_ok=True)
    written = []
    con = duckdb.connect()
    for partner, (share, years) in PLAN.items():
        per_file = megabytes * share / len(years)
        rows = rows_for(partner, per_file, con)
        for year in years:
            started = time.perf_counter()
            path = write_partner_file(intake, partner, year, rows, con)
            written.append(path)
            if verbose:
                print(f"{path.relative_to(home)}: {rows:,} rows, "
                      f"{path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s",
                      flush=True)
    con.close()
    # The housing authority's aggregate files are tiny: the sample generator's are realistic.
    with tempfile.TemporaryDirectory() as scratch:
        for path in synth.write_sample(Path(scratch), children_per_year=max(
                1500, math.ceil(megabytes * 20))):
            if path.parent.name == "riverbend_housing":
                target = intake / "riverbend_housing" / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(__file__).parent / "work" / "ws",
                        help="workspace to create or add to (default: benchmarks/work/ws)")
    parser.add_argument("--megabytes", type=float, default=1000, help="total size (default 1000)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    files = generate(args.home.resolve(), args.megabytes)
    total = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files, {total / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
