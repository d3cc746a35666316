"""Counting again only the indicator periods whose records changed (pipelines/measure_reuse.py):
the fast path publishes exactly what counting every period does, and its guard falls back to
counting everything when the definitions change."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from pipelines import measure_reuse, warehouse
from pipelines.config import Workspace
from pipelines.measure import build_indicator_cells
from pipelines.refresh import measure_and_publish
from pipelines.standardize import RACE_CODES
from pipelines.versions import PARTNERSHIP, audience_dir

TABLES = ("indicator_cells", "disparities", "quality_flags", "indicator_grains",
          "poverty_guideline_years")
PUBLISHED = ("indicator_results.parquet", "disparities.parquet", "quality_flags.parquet")
MEASURES = {"riverbend_schools": "kinder_ready", "northside_clinic": "well_child_visit"}


def _file(con, partner, year, people, offset=0, month=None):
    """One loaded submission: `people` records of one year (or, with `month`, the developmental
    screening of one month), people shared across partners (the same person_key) with
    different races, incomes and proxy classes."""
    submission = con.execute(
        "INSERT INTO submissions (initiative_id, partner_id, file_name, status, received_at, "
        "run_id) VALUES ('riverbend', ?, ?, 'loaded', now(), 'run') RETURNING submission_id",
        [partner, f"{partner}-{year}-{month}-{offset}.csv"]).fetchall()[0][0]
    if month is None:
        period = (f"'{year}', 'year', DATE '{year}-01-01', DATE '{year}-12-31'")
        column, value = MEASURES[partner], "(i % 3 > 0)::BIGINT"
    else:
        period = (f"'{year}-{month:02d}', 'month', DATE '{year}-{month:02d}-01', "
                  f"last_day(DATE '{year}-{month:02d}-01')")
        column, value = "dev_screening", "(i % 4 > 0)::BIGINT"
    seed = sum(map(ord, partner))
    races = ", ".join(f"(i + {seed}) % {3 + bit} = 0" for bit, _ in enumerate(RACE_CODES))
    con.execute(f"""
        INSERT INTO riverbend.records (submission_id, source_row, loaded_at, partner_id,
            person_key, period, period_type, period_start, period_end,
            {', '.join(f'race_{c}' for c in RACE_CODES)}, race_multi_unspecified, race_reported,
            household_income, household_size, state, class, {column})
        SELECT ?, i + 2, now(), ?, (i + {offset})::UHUGEINT, {period}, {races},
               (i + {seed}) % 41 = 0, true,
               CASE WHEN i % 5 > 0 THEN ((i * 7919 + {seed}) % 90000)::DOUBLE END,
               CASE WHEN i % 5 > 0 THEN 1 + i % 4 END, 'WA', 'Not reported',
               CASE WHEN i % 11 = 0 THEN NULL ELSE {value} END
        FROM range({people}) t(i)""", [submission, partner])


def _night_before(workspace, config, monthly: bool):
    con = warehouse.connect(workspace.warehouse_file)
    warehouse.ensure_initiative_tables(con, config)
    for year in (2022, 2023):
        _file(con, "riverbend_schools", year, 400)
        _file(con, "northside_clinic", year, 300, offset=150)
    if monthly:
        for month in (1, 2, 3, 4, 5):
            _file(con, "northside_clinic", 2023, 120, offset=month * 20, month=month)
    return con


def _outputs(workspace) -> dict:
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        found = {t: con.execute(f"SELECT count(*), sum(hash(x)) FROM riverbend.{t} x")
                 .fetchall()[0] for t in TABLES}
        folder = audience_dir(workspace, "riverbend", PARTNERSHIP)
        for name in PUBLISHED:
            found[name] = con.execute(f"SELECT count(*), sum(hash(x)) FROM "
                                      f"read_parquet('{folder / name}') x").fetchall()[0]
    finally:
        con.close()
    return found


def _kept(workspace):
    return measure_reuse.cache_folder(workspace.warehouse_file, "riverbend")


@pytest.mark.parametrize("monthly", [False, True], ids=["yearly rows", "monthly rows too"])
def test_fast_path_publishes_what_counting_every_period_does(workspace, config, monthly,
                                                             tmp_path_factory):
    con = _night_before(workspace, config, monthly)
    try:
        measure_and_publish(con, workspace, config, "20261201T000000-aaaaaa")
        # The next night: a new year, and people added to a period already counted (some of
        # them already reported by the other partner: their union of races changes).
        _file(con, "riverbend_schools", 2024, 350)
        _file(con, "northside_clinic", 2023, 80, offset=380)
        if monthly:
            _file(con, "northside_clinic", 2023, 60, offset=500, month=3)
    finally:
        con.close()
    full = measure_kept_and_full(workspace, tmp_path_factory)
    assert _outputs(workspace) == _outputs(full)
    assert _cells(workspace) == _cells(full)
    same = ("source_files", "indicator_periods", "poverty_guideline_years", "data_version")
    manifests = [json.loads((audience_dir(home, "riverbend", PARTNERSHIP) / "manifest.json")
                            .read_text()) for home in (workspace, full)]
    assert [{k: m[k] for k in same} for m in manifests][0] == {k: manifests[1][k] for k in same}
    assert manifests[0]["source_files"]


def measure_kept_and_full(workspace, tmp_path_factory) -> Workspace:
    """Measure and publish `workspace` with its kept counts, and a copy of it without them (a
    full count); returns the copy."""
    full = Workspace(tmp_path_factory.mktemp("full") / "ws")
    shutil.copytree(workspace.root, full.root, symlinks=True)
    shutil.rmtree(_kept(full))
    for home in (workspace, full):
        con = warehouse.connect(home.warehouse_file)
        try:
            measure_and_publish(con, home, home.load("riverbend"), "20261202T000000-bbbbbb")
        finally:
            con.close()
    return full


def _cells(workspace) -> set:
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        return set(con.execute("SELECT * FROM riverbend.indicator_cells").fetchall())
    finally:
        con.close()


def _tamper(folder):
    """Add 1000 to every kept denominator: a period taken from the kept counts shows it."""
    state = measure_reuse.Reuse(folder).state
    con = duckdb.connect()
    for kept in state["types"].values():
        path = folder / kept["counts"]
        con.execute(f"CREATE OR REPLACE TABLE kept AS SELECT * FROM read_parquet('{path}')")
        dens = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE "
                                          "table_name = 'kept' AND column_name LIKE 'den_%'"
                                          ).fetchall()]
        con.execute(f"COPY (SELECT * REPLACE ({', '.join(f'{d} + 1000 AS {d}' for d in dens)}) "
                    f"FROM kept) TO '{path}' (FORMAT parquet)")
    con.close()


def _denominators(con) -> dict:
    return dict(con.execute(
        "SELECT period, max(denominator) FROM riverbend.indicator_cells WHERE "
        "indicator_id = 'well_child_visits' GROUP BY period").fetchall())


def _fast_and_full(con, config, folder) -> tuple[dict, dict]:
    """The denominators counted with the kept counts, then counted in full, on one warehouse."""
    build_indicator_cells(con, config, reuse=folder)
    fast = _denominators(con)
    build_indicator_cells(con, config)
    return fast, _denominators(con)


def test_only_the_periods_whose_records_changed_are_counted_again(workspace, config):
    folder = _kept(workspace)
    con = _night_before(workspace, config, monthly=False)
    try:
        build_indicator_cells(con, config, reuse=folder)
        counted = _denominators(con)
        _tamper(folder)
        _file(con, "northside_clinic", 2023, 50, offset=600)  # 2023 changes, 2022 does not
        fast, full = _fast_and_full(con, config, folder)
    finally:
        con.close()
    assert fast["2022"] > full["2022"] == counted["2022"]  # kept: the tampered counts show
    assert fast["2023"] == full["2023"] != counted["2023"]  # counted again


def test_changed_definitions_count_every_period(workspace, config):
    folder = _kept(workspace)
    con = _night_before(workspace, config, monthly=False)
    try:
        build_indicator_cells(con, config, reuse=folder)
        _tamper(folder)
        path = workspace.root / "indicators" / "riverbend" / "kindergarten_readiness.yaml"
        path.write_text(path.read_text().replace(
            '{column: kinder_ready, op: "=", value: 1}', '{column: kinder_ready, op: "=", '
            'value: 0}'))
        changed = workspace.load("riverbend")
        build_indicator_cells(con, changed, reuse=folder)
        fast = set(con.execute("SELECT * FROM riverbend.indicator_cells").fetchall())
        build_indicator_cells(con, changed)
        assert fast == set(con.execute("SELECT * FROM riverbend.indicator_cells").fetchall())
    finally:
        con.close()


def test_records_loaded_again_are_counted_again(workspace, config):
    """A rebuild loads the same rows again (same submission and source rows): a new load time
    is a change."""
    folder = _kept(workspace)
    con = _night_before(workspace, config, monthly=False)
    try:
        build_indicator_cells(con, config, reuse=folder)
        _tamper(folder)
        con.execute("UPDATE riverbend.records SET loaded_at = loaded_at + INTERVAL 1 DAY "
                    "WHERE period = '2022'")
        fast, full = _fast_and_full(con, config, folder)
    finally:
        con.close()
    assert fast["2022"] == full["2022"]
    assert fast["2023"] > full["2023"]  # kept


def test_no_records_changed_keeps_every_period(workspace, config):
    folder = _kept(workspace)
    con = _night_before(workspace, config, monthly=True)
    try:
        build_indicator_cells(con, config, reuse=folder)
        _tamper(folder)
        build_indicator_cells(con, config, reuse=folder)
        fast = _denominators(con)
        build_indicator_cells(con, config)
        full = _denominators(con)
    finally:
        con.close()
    assert all(fast[period] > full[period] for period in full)
