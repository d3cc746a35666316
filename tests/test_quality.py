"""Data quality over time: a partner-period far from the partner's own history is flagged, and
ordinary noise is not."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines import quality, quality_text, warehouse
from pipelines.errors import ConfigError
from pipelines.escape import md_text
from pipelines.periods import period_from_label

QUARTERS = ["2023Q1", "2023Q2", "2023Q3", "2023Q4", "2024Q1", "2024Q2", "2024Q3", "2024Q4"]
RACES = ["White", "Black or African American", "Hispanic or Latino", "Asian",
         "American Indian or Alaska Native"]
NOT_REPORTED = "Not reported"


@pytest.fixture
def con(config):
    """A warehouse in the post-migration layout (records carry period, period_type,
    period_start, period_end, and the template's measures), built here so the checks are
    tested on their own."""
    connection = duckdb.connect()
    connection.execute(warehouse.DDL)
    connection.execute("CREATE SCHEMA riverbend")
    measures = "".join(f", {c.name} INTEGER" for c in config.record_schema.by_role("measure"))
    connection.execute(
        "CREATE TABLE riverbend.records (submission_id BIGINT, partner_id VARCHAR, "
        f"period VARCHAR, period_type VARCHAR, period_start DATE, period_end DATE{measures})")
    connection.execute("CREATE VIEW riverbend.records_current AS SELECT * FROM riverbend.records")
    connection.execute(
        "CREATE TABLE riverbend.indicator_cells (initiative_id VARCHAR, indicator_id VARCHAR, "
        "period VARCHAR, period_type VARCHAR, period_start DATE, period_end DATE, "
        "partner_id VARCHAR, race_tabulation VARCHAR, race VARCHAR, class VARCHAR, "
        "numerator BIGINT, denominator BIGINT, source VARCHAR, suppressed BOOLEAN)")
    yield connection
    connection.close()


def add_rows(con, partner, label, rows, period_type="quarter", submission=1, **measures):
    """`rows` records of one partner-period; a measure given as a number of non-null rows."""
    period = period_from_label(label, period_type)
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'records' "
        "ORDER BY column_index").fetchall()][6:]
    con.execute(f"""
        INSERT INTO riverbend.records
        SELECT ?, ?, ?, ?, ?, ?, {', '.join(f'CASE WHEN i < {measures.get(m, 0)} THEN 1 END'
                                           for m in columns)}
        FROM range(?) t(i)""",
                [submission, partner, period.label, period.type, period.start, period.end, rows])


def add_cells(con, partner, label, indicator, denominator, rate, shares, not_reported_class=0.1,
              suppressed=(), period_type="quarter"):
    """One partner-period of indicator cells: the total, each race-alone group (by share of the
    denominator) and class Not reported."""
    period = period_from_label(label, period_type)
    cells = [("total", "ALL", "ALL", round(rate * denominator), denominator)]
    for race, share in shares.items():
        if share:
            count = round(share * denominator)
            cells.append(("alone", race, "ALL", round(rate * count), count))
    count = round(not_reported_class * denominator)
    cells.append(("total", "ALL", NOT_REPORTED, round(rate * count), count))
    for tabulation, race, klass, numerator, den in cells:
        con.execute("INSERT INTO riverbend.indicator_cells VALUES ('riverbend', ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?, ?, ?, 'records', ?)",
                    [indicator, period.label, period.type, period.start, period.end, partner,
                     tabulation, race, klass, numerator, den, race in suppressed])


def usual_shares(noise: random.Random, not_reported: float = 0.05) -> dict[str, float]:
    rest = (1 - not_reported) / len(RACES)
    return {**{race: rest + noise.uniform(-0.01, 0.01) for race in RACES},
            NOT_REPORTED: not_reported}


def flags(con, config) -> set[tuple]:
    quality.build_flags(con, config)
    return {(f["partner_id"], f["period"], f["check_name"], f["subject"])
            for f in quality.flags_for(con, config)}


def with_quality(config, **settings):
    initiative = config.initiative.model_copy(update={"quality": quality.Quality(**settings)})
    return dataclasses.replace(config, initiative=initiative)


def planted_history(con) -> None:
    """Eight quarters of a clinic with ordinary noise and four planted anomalies:
    rows jump to 3,000 in 2024Q2, the well-child rate jumps in 2024Q1, race Not reported goes
    from 5% to 60% of the denominator in 2024Q3, and well_child_visit stops coming in 2024Q4."""
    noise = random.Random(12)
    counts = [1000, 1012, 991, 1005, 988, 3000, 1009, 996]
    for index, (label, rows) in enumerate(zip(QUARTERS, counts)):
        # grade3 sometimes comes and sometimes not: its absence is no news.
        add_rows(con, "northside_clinic", label, rows,
                 well_child_visit=0 if label == "2024Q4" else rows - 30,
                 grade3_reading_proficient=0 if index % 3 == 1 else 50)
        rate = 0.90 if label == "2024Q1" else 0.60 + noise.uniform(-0.01, 0.01)
        shares = usual_shares(noise, 0.60 if label == "2024Q3" else 0.05 + noise.uniform(
            -0.01, 0.01))
        add_cells(con, "northside_clinic", label, "well_child_visits",
                  400 + noise.randint(-20, 20), rate, shares,
                  not_reported_class=0.10 + noise.uniform(-0.02, 0.02))
    # A school district's school years: ordinary noise only.
    for year in range(2017, 2025):
        label = f"{year}-{(year + 1) % 100:02d}"
        add_rows(con, "riverbend_schools", label, 500 + noise.randint(-15, 15), "school_year",
                 kinder_ready=120 + noise.randint(-5, 5))
        add_cells(con, "riverbend_schools", label, "kindergarten_readiness",
                  120 + noise.randint(-5, 5), 0.45 + noise.uniform(-0.02, 0.02),
                  usual_shares(noise, 0.10 + noise.uniform(-0.02, 0.02)),
                  period_type="school_year")


def test_the_planted_anomalies_are_exactly_the_flags(con, config):
    planted_history(con)
    assert flags(con, config) == {
        ("northside_clinic", "2024Q1", "indicator_value", "well_child_visits"),
        ("northside_clinic", "2024Q2", "row_count", "rows"),
        ("northside_clinic", "2024Q3", "group_share", f"race: {NOT_REPORTED}"),
        ("northside_clinic", "2024Q4", "measure_missing", "well_child_visit"),
    }
    by_check = {f["check_name"]: f for f in quality.flags_for(con, config, "northside_clinic")}
    rows = by_check["row_count"]
    assert (rows["value"], rows["period_type"], rows["period_start"]) == (
        3000, "quarter", dt.date(2024, 4, 1))
    assert rows["expected"] == 1000  # median of 1000, 1012, 991, 1005, 988
    assert rows["score"] > 100 and rows["history_periods"] == 5
    assert rows["message"] == (
        "Northside Community Health Center sent 3,000 rows for 2024 Q2: +200% against the "
        f"median of its previous 5 quarters (1,000 rows; modified z-score {rows['score']:.1f}).")
    share = by_check["group_share"]
    assert share["value"] == pytest.approx(0.60, abs=0.01)
    assert share["expected"] == pytest.approx(0.05, abs=0.011)
    assert share["score"] == pytest.approx(share["value"] - share["expected"])
    assert "race group \u201cNot reported\u201d is 60% of the people Northside Community Health " \
           "Center counted for 2024 Q3" in share["message"]
    assert f"({100 * share['score']:+.0f} percentage points)" in share["message"]
    rate = by_check["indicator_value"]
    assert rate["value"] == pytest.approx(0.90, abs=0.01) and rate["score"] > 3.5
    title = next(i.title for i in config.indicators if i.id == "well_child_visits")
    assert rate["message"].startswith(f"{title}: Northside Community Health Center's rate for "
                                      "2024 Q1 is 90.0%, +")
    missing = by_check["measure_missing"]
    assert (missing["value"], missing["score"]) == (0, None)
    # The template column, and the partner's own header from its crosswalk.
    assert "none with a value in column well_child_visit (WCV)" in missing["message"]
    assert "each of its previous 7 quarters" in missing["message"]


def test_only_one_partner_when_asked(con, config):
    planted_history(con)
    quality.build_flags(con, config)
    assert quality.flags_for(con, config, "riverbend_schools") == []
    assert {f["partner_id"] for f in quality.flags_for(con, config)} == {"northside_clinic"}


def test_a_group_that_vanishes_or_appears(con, config):
    noise = random.Random(3)
    for label in QUARTERS[:6]:
        shares = usual_shares(noise)
        if label == "2024Q2":
            shares["Asian"] = 0  # 19% of every earlier quarter, nobody now
            shares["Middle Eastern or North African"] = 0.08  # never there before
        add_cells(con, "bright_start", label, "kindergarten_readiness",
                  300 + noise.randint(-10, 10), 0.5, shares)
    found = {f["subject"]: f for f in quality.flags_for(con, config)} if quality.build_flags(
        con, config) else {}
    assert {(s, f["check_name"], f["period"]) for s, f in found.items()} == {
        ("race: Asian", "group_vanished", "2024Q2"),
        ("race: Middle Eastern or North African", "group_appeared", "2024Q2")}
    assert "none of the people Bright Start Early Learning counted for 2024 Q2 are in race " \
           "group \u201cAsian\u201d, though it was 19% of them" in found["race: Asian"]["message"]


def test_mad_zero_uses_the_mean_absolute_deviation_and_a_constant_history_any_big_change(
        con, config):
    # Over half of the history is exactly 1,000 (MAD = 0): the mean absolute deviation scales.
    for label, rows in zip(QUARTERS, [1000, 1000, 1000, 1000, 1004, 1300]):
        add_rows(con, "northside_clinic", label, rows)
    # Every previous quarter exactly 200: no spread at all, so any change beyond the minimum.
    for label, rows in zip(QUARTERS, [200, 200, 200, 200, 200, 200, 300]):
        add_rows(con, "bright_start", label, rows)
    quality.build_flags(con, config)
    found = {(f["partner_id"], f["period"]): f for f in quality.flags_for(con, config)}
    assert set(found) == {("northside_clinic", "2024Q2"), ("bright_start", "2024Q3")}
    # history 1000 x4, 1004: median 1000, mean absolute deviation 0.8
    assert found["northside_clinic", "2024Q2"]["score"] == pytest.approx(0.7979 * 300 / 0.8)
    constant = found["bright_start", "2024Q3"]
    assert constant["score"] is None and constant["expected"] == 200
    assert "every one of them had the same value" in constant["message"]


def test_too_short_a_history_flags_nothing(con, config):
    for label, rows in zip(QUARTERS, [1000, 1010, 990, 5000]):
        add_rows(con, "northside_clinic", label, rows, well_child_visit=0 if rows == 5000 else 9)
    add_cells(con, "northside_clinic", "2023Q4", "well_child_visits", 400, 0.6,
              usual_shares(random.Random(1), 0.6))
    assert flags(con, config) == set()
    # The same data with a shorter minimum: it was the history's length that held them back.
    assert flags(con, with_quality(config, min_history=3)) == {
        ("northside_clinic", "2023Q4", "row_count", "rows"),
        ("northside_clinic", "2023Q4", "measure_missing", "well_child_visit")}


def test_dated_rows_are_compared_by_month_and_thresholds_come_from_config(con, config):
    for month in range(1, 8):
        for day in (3, 17):
            add_rows(con, "northside_clinic", f"2024-{month:02d}-{day:02d}",
                     60 if month == 7 else 50, "day")
    # history 100 x6, now 120: +20%, infinite z (no spread); min change 10% flags, 25% doesn't
    assert flags(con, config) == {("northside_clinic", "2024-07", "row_count", "rows")}
    flag = quality.flags_for(con, config)[0]
    assert (flag["period_type"], flag["period_start"], flag["period_end"], flag["value"]) == (
        "month", dt.date(2024, 7, 1), dt.date(2024, 7, 31), 120)
    assert "for July 2024" in flag["message"]
    assert flags(con, with_quality(config, row_count_min_change=0.25)) == set()
    assert flags(con, with_quality(config, checks=("indicator_value",))) == set()


def test_quality_settings_are_validated_naming_file_and_key(workspace):
    path = workspace.path("indicators", "riverbend", "initiative.yaml")
    initiative = yaml.safe_load(path.read_text(encoding="utf-8"))

    def write(section: dict) -> None:
        path.write_text(yaml.safe_dump({**initiative, "quality": section}), encoding="utf-8")

    write({"min_history": 6, "max_history": 4, "share_jump": 2})
    with pytest.raises(ConfigError) as error:
        workspace.load("riverbend")
    assert f"{path}: quality.share_jump" in str(error.value)
    write({"min_history": 6, "max_history": 4})
    with pytest.raises(ConfigError, match="quality: .*max_history \\(4\\) must be at least"):
        workspace.load("riverbend")
    write({"z_threshold": 5, "checks": ["row_count"]})
    settings = workspace.load("riverbend").initiative.quality
    assert (settings.z_threshold, settings.checks, settings.min_history) == (5, ("row_count",), 4)


def test_flags_resting_on_a_suppressed_cell_are_not_published(con, config, tmp_path):
    noise = random.Random(5)
    for label in QUARTERS[:6]:
        shares = usual_shares(noise, 0.60 if label == "2024Q2" else 0.05)
        add_cells(con, "bright_start", label, "kindergarten_readiness", 300, 0.5, shares,
                  suppressed={NOT_REPORTED} if label == "2023Q2" else ())
        add_cells(con, "northside_clinic", label, "well_child_visits", 300, 0.5, shares)
    quality.build_flags(con, config)
    internal = {(f["partner_id"], f["involves_suppressed"]) for f in quality.flags_for(con, config)}
    assert internal == {("bright_start", True), ("northside_clinic", False)}
    quality.publish_flags(con, config, tmp_path)
    table = pq.read_table(tmp_path / "quality_flags.parquet")
    assert table.column("partner_id").to_pylist() == ["northside_clinic"]
    assert "involves_suppressed" not in table.column_names
    assert b"history" in pq.read_metadata(tmp_path / "quality_flags.parquet").metadata[
        b"description"]


def test_the_partner_report_gets_the_flags_of_its_periods(con, config, tmp_path):
    planted_history(con)
    report = tmp_path / "file.report.md"
    report.write_text("# q4.csv: ACCEPTED\n\n**996 of 996 rows were loaded.**\n\n"
                      "Row numbers are spreadsheet rows: the header is row 1.\n", encoding="utf-8")
    # The 2024Q4 file: records of that quarter only, loaded by this run.
    con.execute("UPDATE riverbend.records SET submission_id = 7 WHERE period = '2024Q4'")
    con.execute("INSERT INTO submissions (submission_id, initiative_id, partner_id, file_name, "
                "status, received_at, run_id, report_path) VALUES (7, 'riverbend', "
                "'northside_clinic', 'q4.csv', 'loaded', now(), 'run-1', ?)", [str(report)])
    quality.build_flags(con, config)
    assert quality_text.add_to_reports(con, config, "run-1") == 1
    assert quality_text.add_to_reports(con, config, "run-1") == 1  # a rerun replaces, not adds
    text = report.read_text(encoding="utf-8")
    assert text.count(quality_text.SECTION_TITLE) == 1
    assert text.index(quality_text.SECTION_TITLE) < text.index("Row numbers are spreadsheet rows")
    section = text[text.index(quality_text.SECTION_TITLE):]
    # Only this file's period; the column name escaped as Markdown text.
    assert "column well\\_child\\_visit" in section and "2024 Q2" not in section
    assert quality_text.add_to_reports(con, config, "another-run") == 0


def test_report_text_is_escaped():
    lines = quality_text.report_section([{"message": "Partner <img src=x onerror=alert(1)> | x"}])
    assert lines[0] == quality_text.SECTION_TITLE
    assert "- Partner \\<img src=x onerror=alert(1)\\> \\| x" in lines
    assert quality_text.report_section([]) == []


def test_end_to_end_through_refresh_flags_publishes_and_tells_the_partner(workspace, config):
    """A real warehouse measured, suppressed and published by refresh: eight years of a clinic,
    rows tripling in 2022 and race Not reported going from 5% to 60% in 2024."""
    from pipelines.refresh import measure_and_publish

    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        report = workspace.reports("riverbend", "northside_clinic") / "2024.csv.report.md"
        report.parent.mkdir(parents=True)
        report.write_text("# 2024.csv: ACCEPTED\n\nRow numbers are spreadsheet rows: the header "
                          "is row 1.\n", encoding="utf-8")
        counts = {2017: 100, 2018: 104, 2019: 97, 2020: 102, 2021: 99, 2022: 300, 2023: 101,
                  2024: 98}
        races = ["aian", "asian", "black", "hispanic", "white"]
        for year, rows in counts.items():
            submission = con.execute(
                "INSERT INTO submissions (initiative_id, partner_id, file_name, status, "
                "received_at, run_id, report_path) VALUES ('riverbend', 'northside_clinic', ?, "
                "'loaded', now(), ?, ?) RETURNING submission_id",
                [f"{year}.csv", f"run-{year}", str(report) if year == 2024 else None]
            ).fetchall()[0][0]
            # One in 20 without a race (5%); in 2024 six in ten.
            unreported = "i % 10 < 6" if year == 2024 else "i % 20 = 0"
            flags = ", ".join(f"NOT ({unreported}) AND (i // 20) % 5 = {n}"
                              for n, _ in enumerate(races))
            con.execute(f"""
                INSERT INTO riverbend.records (submission_id, source_row, loaded_at, partner_id,
                    person_key, period, period_type, period_start, period_end,
                    {', '.join(f'race_{r}' for r in races)}, race_mena, race_nhpi,
                    race_multi_unspecified, race_reported, state, class, well_child_visit)
                SELECT ?, i + 2, now(), 'northside_clinic', ({year} * 100000 + i)::UHUGEINT,
                       '{year}', 'year', DATE '{year}-01-01', DATE '{year}-12-31', {flags},
                       false, false, false, NOT ({unreported}), 'WA', 'Not reported', i % 2
                FROM range({rows}) t(i)""", [submission])
        measure_and_publish(con, workspace, config, "run-2024")
        found = {(f["period"], f["check_name"], f["subject"]): f
                 for f in quality.flags_for(con, config)}
        # refresh sums rows per partner-period from measure's parts; counted from the records
        # themselves, the flags are the same.
        from_parts = quality.flags_for(con, config)
        quality.build_flags(con, config)
        assert quality.flags_for(con, config) == from_parts
    finally:
        con.close()
    assert set(found) == {("2022", "row_count", "rows"),
                          ("2024", "group_share", "race: Not reported")}
    # 5 people of 100 without a race: a suppressed cell, so that flag stays out of the file
    # other partners read; the row count is published.
    assert found["2024", "group_share", "race: Not reported"]["involves_suppressed"]
    published = pq.read_table(workspace.published("riverbend") / "partnership"
                              / "quality_flags.parquet").to_pylist()
    assert [(f["period"], f["check_name"]) for f in published] == [("2022", "row_count")]
    text = report.read_text(encoding="utf-8")
    flag = found["2024", "group_share", "race: Not reported"]["message"]
    assert "race group \u201cNot reported\u201d is 61% of the people" in flag
    assert quality_text.SECTION_TITLE in text and md_text(flag) in text
    assert "300 rows" not in text  # the 2024 file: its own period's flags only


def test_group_shares_of_few_people_are_not_compared(con, config):
    noise = random.Random(8)
    for label in QUARTERS[:6]:
        # 40 people: Not reported from 2 to 24 of them
        add_cells(con, "bright_start", label, "kindergarten_readiness", 40, 0.5,
                  usual_shares(noise, 0.60 if label == "2024Q2" else 0.05))
    assert flags(con, config) == set()
    assert flags(con, with_quality(config, min_denominator=40)) == {
        ("bright_start", "2024Q2", "group_share", f"race: {NOT_REPORTED}")}


def test_row_counts_in_quality_messages_agree_in_number():
    from pipelines.quality_text import _rows

    assert (_rows(1), _rows(1.2), _rows(0), _rows(2_500)) == ("1 row", "1 row", "0 rows",
                                                              "2,500 rows")
