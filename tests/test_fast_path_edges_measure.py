"""Audit of the incremental measure (pipelines/measure_reuse.py): multi-night scenarios compared
with a full count of a copy of the same workspace, and a damaged cache folder."""

from __future__ import annotations

import shutil

import pytest

from pipelines import measure_reuse, warehouse
from pipelines.config import Workspace
from pipelines.refresh import measure_and_publish
from pipelines.standardize import RACE_CODES

from conftest import query
from test_measure_reuse import _cells, _file, _kept, _night_before, _outputs


def _measure(home: Workspace, run: str) -> None:
    con = warehouse.connect(home.warehouse_file)
    try:
        measure_and_publish(con, home, home.load("riverbend"), run)
    finally:
        con.close()


def _compare_with_full(workspace, tmp_path_factory, run="20261202T000000-bbbbbb"):
    full = Workspace(tmp_path_factory.mktemp("full") / "ws")
    shutil.copytree(workspace.root, full.root, symlinks=True)
    shutil.rmtree(_kept(full), ignore_errors=True)
    _measure(workspace, run)
    _measure(full, run)
    assert _cells(workspace) == _cells(full)
    assert _outputs(workspace) == _outputs(full)


def _supersede_old_period_and_set_aside(con):
    # A 2025 file of riverbend_schools carrying a late correction for 2022 (people 0..39 again,
    # other values), superseding their 2022 rows of the first submission.
    _file(con, "riverbend_schools", 2022, 40, offset=0)
    newest = con.execute("SELECT max(submission_id) FROM submissions").fetchall()[0][0]
    con.execute("""INSERT INTO riverbend.records_superseded
                   SELECT submission_id, source_row, ?, now() FROM riverbend.records
                   WHERE partner_id = 'riverbend_schools' AND period = '2022'
                     AND submission_id < ? AND person_key < 40""", [newest, newest])
    # northside's March 2023 set aside (replaced by nothing: a rejected resend took it back),
    # the other months of its first quarter unchanged.
    con.execute("""INSERT INTO riverbend.records_set_aside
                   SELECT DISTINCT submission_id, period, 'replaced', NULL, now()
                   FROM riverbend.records WHERE partner_id = 'northside_clinic'
                     AND period = '2023-03'""")


@pytest.mark.parametrize("change", ["old_period_correction", "guideline_year_beyond_latest",
                                    "class_bands", "guideline_amount", "nothing"])
def test_second_night_matches_a_full_count(workspace, config, tmp_path_factory, change):
    con = _night_before(workspace, config, monthly=True)
    try:
        measure_and_publish(con, workspace, config, "20261201T000000-aaaaaa")
        if change == "old_period_correction":
            _supersede_old_period_and_set_aside(con)
        elif change == "guideline_year_beyond_latest":
            # Records of a year past the guideline table: classed by the latest year.
            _file(con, "northside_clinic", 2031, 200, offset=10)
    finally:
        con.close()
    if change == "class_bands":  # a band edge moved: 200% FPG -> 185%
        bands = workspace.path("schemas", "equity", "class_bands.yaml")
        text = bands.read_text()
        assert text.count("    upper: 2\n") == text.count("    lower: 2\n") == 1
        bands.write_text(text.replace("    upper: 2\n", "    upper: 1.85\n")
                         .replace("    lower: 2\n", "    lower: 1.85\n"))
    elif change == "guideline_amount":  # a corrected 2023 line (a year already measured)
        table = workspace.path("schemas", "equity", "poverty_guidelines.csv")
        text = table.read_text()
        assert "2023,contiguous,14580,5140" in text
        table.write_text(text.replace("2023,contiguous,14580,5140", "2023,contiguous,24580,5140"))
    _compare_with_full(workspace, tmp_path_factory)


@pytest.mark.parametrize("damage", ["parts_garbage", "counts_garbage", "state_not_object",
                                    "state_without_types"])
def test_a_damaged_cache_costs_a_full_count_not_the_night(workspace, config, tmp_path_factory,
                                                          damage):
    """The general path publishes; a damaged kept file must not stop the night (the docstring
    promises a folder that cannot be used costs a full count)."""
    con = _night_before(workspace, config, monthly=False)
    try:
        measure_and_publish(con, workspace, config, "20261201T000000-aaaaaa")
        _file(con, "riverbend_schools", 2024, 50)
    finally:
        con.close()
    folder = _kept(workspace)
    state = measure_reuse.Reuse(folder).state
    if damage == "parts_garbage":
        (folder / state["parts"]).write_bytes(b"not a parquet file")
    elif damage == "counts_garbage":
        for kept in state["types"].values():
            (folder / kept["counts"]).write_bytes(b"PAR1 truncated")
    elif damage == "state_not_object":
        (folder / measure_reuse.STATE).write_text("[]")
    else:
        (folder / measure_reuse.STATE).write_text(
            '{"format": 1, "parts": "%s"}' % state["parts"])
    _compare_with_full(workspace, tmp_path_factory)


@pytest.mark.parametrize("change", ["quarter_to_month", "new_indicator", "restored_backup"])
def test_definitions_or_warehouse_swapped_between_nights(workspace, config, tmp_path_factory,
                                                         change):
    con = _night_before(workspace, config, monthly=True)
    try:
        measure_and_publish(con, workspace, config, "20261201T000000-aaaaaa")
    finally:
        con.close()
    folder = workspace.root / "indicators" / "riverbend"
    if change == "quarter_to_month":
        path = folder / "developmental_screening.yaml"
        path.write_text(path.read_text().replace("period_type: quarter", "period_type: month")
                        .replace('"2024Q1"', '"2024-01"').replace('"2026Q4"', '"2026-12"'))
    elif change == "new_indicator":
        source = (folder / "developmental_screening.yaml").read_text()
        (folder / "screened_yearly.yaml").write_text(
            source.replace("id: developmental_screening", "id: screened_yearly")
            .replace("period_type: quarter", "period_type: year")
            .replace('"2024Q1"', '"2024"').replace('"2026Q4"', '"2026"'))
    else:
        # The warehouse as it was after night 1 (a backup), while the cache moves on to night 2;
        # then the restored warehouse gets another file than night 2 had.
        backup = workspace.warehouse_file.with_name("backup.duckdb")
        shutil.copy2(workspace.warehouse_file, backup)
        con = warehouse.connect(workspace.warehouse_file)
        try:
            _file(con, "northside_clinic", 2023, 70, offset=900, month=2)
            measure_and_publish(con, workspace, config, "20261201T120000-cccccc")
        finally:
            con.close()
        shutil.copy2(backup, workspace.warehouse_file)
        backup.unlink()
        con = warehouse.connect(workspace.warehouse_file)
        try:
            _file(con, "northside_clinic", 2023, 70, offset=1900, month=4)
        finally:
            con.close()
    _compare_with_full(workspace, tmp_path_factory)


def _days(con, partner, month, people, offset, first_day=1):
    """One dated file: a screening event per person on one day of `month` 2023."""
    submission = con.execute(
        "INSERT INTO submissions (initiative_id, partner_id, file_name, status, received_at, "
        "run_id) VALUES ('riverbend', ?, ?, 'loaded', now(), 'run') RETURNING submission_id",
        [partner, f"{partner}-days-{month}-{offset}.csv"]).fetchall()[0][0]
    day = f"(DATE '2023-{month:02d}-01' + INTERVAL ({first_day - 1} + i % 20) DAY)::DATE"
    seed = sum(map(ord, partner)) + offset
    races = ", ".join(f"(i + {seed}) % {3 + bit} = 0" for bit, _ in enumerate(RACE_CODES))
    con.execute(f"""
        INSERT INTO riverbend.records (submission_id, source_row, loaded_at, partner_id,
            person_key, period, period_type, period_start, period_end,
            {', '.join(f'race_{c}' for c in RACE_CODES)}, race_multi_unspecified,
            race_reported, household_income, household_size, state, class, dev_screening)
        SELECT ?, i + 2, now(), ?, (i + {offset})::UHUGEINT, strftime({day}, '%Y-%m-%d'), 'day',
               {day}, {day}, {races}, false, true, (i * 7919 + {seed}) % 90000, 1 + i % 4, 'WA',
               'Not reported', (i % 3 > 0)::BIGINT
        FROM range({people}) t(i)""", [submission, partner])
    return submission


def test_dated_events_rolling_into_quarters(workspace, config, tmp_path_factory):
    con = warehouse.connect(workspace.warehouse_file)
    warehouse.ensure_initiative_tables(con, config)
    try:
        for month in (1, 2, 3, 4):
            _days(con, "northside_clinic", month, 90, offset=month * 10)
            _days(con, "bright_start", month, 60, offset=month * 15 + 5)
        measure_and_publish(con, workspace, config, "20261201T000000-aaaaaa")
        # A late event in February by bright_start for people northside also saw (their race
        # union and lowest class change in Q1 only), and one northside February event superseded (Q2 is kept).
        _days(con, "bright_start", 2, 25, offset=20, first_day=9)
        february = con.execute("SELECT min(submission_id) FROM submissions WHERE file_name LIKE "
                            "'northside_clinic-days-2-%'").fetchall()[0][0]
        con.execute("INSERT INTO riverbend.records_superseded VALUES (?, 5, ?, now())",
                    [february, february])
    finally:
        con.close()
    _compare_with_full(workspace, tmp_path_factory)


def test_school_year_indicator_and_a_calendar_start_month_changed(workspace, config,
                                                                  tmp_path_factory):
    """Monthly rows into a school-year indicator; between nights the school year's start month
    moves from 7 to 3 (March and later rows change school year) and a month is added."""
    folder = workspace.root / "indicators" / "riverbend"
    path = folder / "developmental_screening.yaml"
    path.write_text(path.read_text().replace("period_type: quarter", "period_type: school_year")
                    .replace('"2024Q1"', '"2023-24"').replace('"2026Q4"', '"2026-27"'))
    initiative = folder / "initiative.yaml"
    initiative.write_text(initiative.read_text() + "calendar:\n  school_year_start_month: 7\n")
    config = workspace.load("riverbend")
    con = _night_before(workspace, config, monthly=True)
    try:
        measure_and_publish(con, workspace, config, "20261201T000000-aaaaaa")
        _file(con, "northside_clinic", 2023, 40, offset=700, month=8)
    finally:
        con.close()
    initiative.write_text(initiative.read_text().replace("school_year_start_month: 7",
                                                         "school_year_start_month: 3"))
    _compare_with_full(workspace, tmp_path_factory)
    periods = query(workspace.warehouse_file, "SELECT DISTINCT period FROM "
                    "riverbend.indicator_cells WHERE indicator_id = 'developmental_screening'")
    assert periods  # school years were counted, not nothing


def test_quality_series_from_the_parts_equal_those_from_the_records(workspace, config):
    """quality.build_flags sums rows per partner-period from measure's parts on every night now:
    the series must be what counting records_current gives (day rows by month, superseded and
    set-aside rows gone, NULL measures)."""
    from pipelines import quality

    con = _night_before(workspace, config, monthly=True)
    try:
        for month in (1, 2):
            _days(con, "bright_start", month, 60, offset=month * 15 + 5)
        _supersede_old_period_and_set_aside(con)
        measure_reuse.count_parts(con, config)
        series = []
        for parts in (None, measure_reuse.PARTS):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {quality.SERIES} (check_name VARCHAR, "
                        "partner_id VARCHAR, indicator_id VARCHAR, subject VARCHAR, period "
                        "VARCHAR, period_type VARCHAR, period_start DATE, period_end DATE, "
                        "x DOUBLE, hidden BOOLEAN)")
            quality._record_series(con, config, parts)
            series.append(sorted(con.execute(f"SELECT * FROM {quality.SERIES}").fetchall(),
                                 key=repr))
        assert series[0] == series[1]
        assert {row[0] for row in series[0]} >= {"row_count"} and len(series[0]) > 10
    finally:
        con.close()
