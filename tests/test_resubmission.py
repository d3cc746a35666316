"""What a resubmission means, through real staging (GX), a real DuckDB warehouse and reports.

Each night here is the warehouse step of a run (`ingest.settle_all`) on files staged exactly as
the nightly flow stages them; the tests that need the flow's own summary run the Prefect flow.
"""

from __future__ import annotations

import collections
import itertools

import duckdb
from typer.testing import CliRunner

from pipelines import ingest, warehouse
from pipelines.cli import app
from pipelines.intake import stage_file

from conftest import drop

SALT = "resubmission-test-salt"
SCHOOLS = "riverbend_schools"
_runs = itertools.count(1)


def school_file(period: int, people, ready: int = 1) -> str:
    return "person_id,period,kinder_ready\n" + "".join(f"{p},{period},{ready}\n" for p in people)


def night(workspace, config, *files, refused=()):
    """One run's warehouse step over (partner, name, content) files dropped into intake."""
    staged = [stage_file(drop(workspace, partner, name, content), config, partner, SALT,
                         workspace.staging) for partner, name, content in files]
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        settled = ingest.settle_all(con, workspace, config, staged, list(refused),
                                    f"run-{next(_runs)}")
    finally:
        con.close()
    return {s.file_name: s for s in settled}


def query(workspace, sql, params=()):
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def current(workspace, partner=SCHOOLS) -> dict[int, int]:
    """Current rows per period; and the promise measure relies on: one row per person-period."""
    repeated = query(workspace, "SELECT count(*) FROM (SELECT 1 FROM riverbend.records_current "
                                "GROUP BY partner_id, person_key, period HAVING count(*) > 1)")
    assert repeated == [(0,)]
    return dict(query(workspace, "SELECT period::INTEGER, count(*) FROM "
                                 "riverbend.records_current WHERE partner_id = ? GROUP BY period",
                      [partner]))


def report(settled) -> str:
    from pathlib import Path

    return Path(settled.report).read_text(encoding="utf-8")


def people(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}{i}" for i in range(start, start + n)]


def test_a_late_row_for_last_year_does_not_replace_it(workspace, config):
    night(workspace, config, (SCHOOLS, "RUSD_2023.csv", school_file(2023, people("S", 300))))
    # The 2024 export carries one 2023 row entered late: one new child for 2023, nothing dropped.
    late = school_file(2024, people("S", 280)) + "L1,2023,0\n"
    outcome = night(workspace, config, (SCHOOLS, "RUSD_2024.csv", late))["RUSD_2024.csv"]
    assert outcome.status == "loaded"
    assert current(workspace) == {2023: 301, 2024: 280}
    text = report(outcome)
    assert "**2023**: 300 rows -> 301." in text and "**2024**: 0 rows -> 280." in text
    assert "2023: 300 -> 301 rows (updated)" in outcome.reasons


def test_two_campus_files_in_one_night_are_one_submission(workspace, config):
    first = night(workspace, config,
                  (SCHOOLS, "north.csv", school_file(2023, people("N", 120))),
                  (SCHOOLS, "south.csv", school_file(2023, people("S", 180))))
    assert {s.status for s in first.values()} == {"loaded"}
    assert current(workspace) == {2023: 300}
    # Resent the next year, again split: together they are 2023's complete file (290 of 300),
    # so the 10 children in neither are dropped; separately the south file alone (170 of 300)
    # would have replaced the period and dropped the whole north campus.
    again = night(workspace, config,
                  (SCHOOLS, "north.csv", school_file(2023, people("N", 120), ready=0)),
                  (SCHOOLS, "south.csv", school_file(2023, people("S", 170), ready=0)))
    assert current(workspace) == {2023: 290}
    assert query(workspace, "SELECT DISTINCT kinder_ready FROM riverbend.records_current") == [(0,)]
    south = report(again["south.csv"])
    assert "**2023**: 300 rows -> 290." in south and "north.csv" in south
    assert "10 people from earlier files who are not in it were removed" in south


def test_a_complete_file_replaces_the_period_and_a_partial_one_updates_it(workspace, config):
    night(workspace, config, (SCHOOLS, "full.csv", school_file(2023, people("S", 300))))
    # 40 corrections and 10 new children: an update, everyone else stays.
    partial = school_file(2023, people("S", 40), ready=0) + \
        school_file(2023, people("X", 10)).split("\n", 1)[1]
    outcome = night(workspace, config, (SCHOOLS, "fixes.csv", partial))["fixes.csv"]
    assert current(workspace) == {2023: 310}
    assert query(workspace, "SELECT count(*) FROM riverbend.records_current WHERE "
                            "kinder_ready = 0") == [(40,)]
    assert "**2023**: 300 rows -> 310. This file updated 40 people" in report(outcome)
    # 200 of the 310: at least half, so the period's complete file; the other 110 are dropped.
    outcome = night(workspace, config, (SCHOOLS, "redo.csv", school_file(2023, people("S", 200))))
    assert current(workspace) == {2023: 200}
    assert "**2023**: 310 rows -> 200." in report(outcome["redo.csv"])
    assert "110 people from earlier files who are not in it were removed" in \
        report(outcome["redo.csv"])
    # Nothing is deleted: every row ever loaded stays in records for audit.
    assert query(workspace, "SELECT count(*) FROM riverbend.records") == [(300 + 50 + 200,)]


def test_a_replacement_shrinking_a_period_by_more_than_half_is_held_until_accepted(workspace):
    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    config = workspace.load("riverbend")
    night(workspace, config, (SCHOOLS, "full.csv", school_file(2023, people("S", 300))))
    held = night(workspace, config,
                 (SCHOOLS, "cut.csv", school_file(2023, people("S", 100), ready=0)))["cut.csv"]
    assert held.status == "held" and held.rows_loaded == 0
    assert "held, not applied: 2023 would go from 300 to 100 rows" in held.reasons
    assert current(workspace) == {2023: 300}  # nothing of it counts yet
    text = report(held)
    assert "HELD FOR REVIEW" in text and "**2023**: 300 rows, unchanged (held)" in text
    stored = query(workspace, "SELECT stored_path FROM submissions WHERE status = 'held'")[0][0]
    assert f"backbone accept {stored[len(str(workspace.root)) + 1:]}" in text

    runner = CliRunner()
    refused = runner.invoke(app, ["accept", "nothing.csv", "--home", str(workspace.root)])
    assert refused.exit_code == 1 and "not a held file" in refused.output
    accepted = runner.invoke(app, ["accept", stored, "--home", str(workspace.root)])
    assert accepted.exit_code == 0, accepted.output
    assert "2023: 300 -> 100 rows (replaced)" in accepted.output
    assert current(workspace) == {2023: 100}
    assert query(workspace, "SELECT status FROM submissions ORDER BY submission_id") == \
        [("loaded",), ("loaded",)]
    assert "Accepted by a data lead" in report(held)
    # The change is waiting to be published by the next run.
    con = warehouse.connect(workspace.warehouse_file)
    try:
        from pipelines import part_changes
        assert part_changes.unpublished(con, config)
    finally:
        con.close()
    again = runner.invoke(app, ["accept", stored, "--home", str(workspace.root)])
    assert again.exit_code == 1


def test_a_resent_aggregate_table_replaces_its_indicator_period_whole(workspace, config):
    header = "indicator_id,period,race,class,numerator,denominator\n"
    table = ("stable_housing,2024,ALL,ALL,30,50\nstable_housing,2024,White,ALL,20,30\n"
             "stable_housing,2024,Asian,ALL,10,20\nstable_housing,2024,ALL,Below 100% FPG,12,25\n"
             "stable_housing,2024,ALL,400%+ FPG,18,25\n")
    night(workspace, config, ("riverbend_housing", "h.csv", header + table))
    # A corrected total alone would leave the old subgroups beside it (31 <> 20 + 10): an
    # aggregate file is the whole table of each indicator-period it carries, so this shrink
    # (5 cells -> 1) is held for a data lead instead of publishing a table that does not add up.
    outcome = night(workspace, config, ("riverbend_housing", "fix.csv",
                                        header + "stable_housing,2024,ALL,ALL,31,50\n"))
    assert outcome["fix.csv"].status == "held"
    cells = query(workspace, "SELECT race, class, numerator FROM "
                             "riverbend.aggregate_counts_current ORDER BY ALL")
    assert len(cells) == 5 and ("ALL", "ALL", 30) in cells
    # The whole table again, with the Asian row dropped: replaced (5 -> 4, not a big shrink).
    table = ("stable_housing,2024,ALL,ALL,30,50\nstable_housing,2024,White,ALL,30,50\n"
             "stable_housing,2024,ALL,Below 100% FPG,12,25\n"
             "stable_housing,2024,ALL,400%+ FPG,18,25\n")
    outcome = night(workspace, config, ("riverbend_housing", "redo.csv", header + table))
    assert outcome["redo.csv"].status == "loaded"
    cells = query(workspace, "SELECT race, class, numerator FROM "
                             "riverbend.aggregate_counts_current ORDER BY ALL")
    assert len(cells) == 4 and ("Asian", "ALL", 10) not in cells and ("ALL", "ALL", 30) in cells
    assert "**stable_housing 2024**: 5 cells -> 4." in report(outcome["redo.csv"])


def test_a_byte_identical_redrop_is_a_duplicate_not_a_rejection(workspace, config):
    content = school_file(2024, people("S", 30)) + "S99,2099,1\n"  # one quarantined row
    night(workspace, config, (SCHOOLS, "RUSD.csv", content))
    again = night(workspace, config, (SCHOOLS, "RUSD again.csv", content))["RUSD again.csv"]
    assert again.status == "duplicate" and again.rows_quarantined == 0
    assert "already received on" in again.reasons and "'RUSD.csv'" in again.reasons
    assert not list(workspace.path("data", "rejected").rglob("*"))
    kept = list(workspace.path("data", "archive").rglob("duplicates/*RUSD_again.csv"))
    assert len(kept) == 1 and kept[0].read_text() == content
    assert query(workspace, "SELECT status, rows_read, rows_loaded, rows_quarantined FROM "
                            "submissions ORDER BY submission_id") == \
        [("loaded", 31, 30, 1), ("duplicate", 0, 0, 0)]
    assert query(workspace, "SELECT count(DISTINCT submission_id), count(*) FROM quarantine") == \
        [(1, 1)]
    assert "ALREADY RECEIVED" in report(again) and "NOT LOADED" not in report(again)
    assert current(workspace) == {2024: 30}


def test_duplicates_are_per_partner(workspace, config):
    content = "person_id,period\nA1,2024\nA2,2024\n"
    night(workspace, config, (SCHOOLS, "ours.csv", content))
    theirs = night(workspace, config, ("northside_clinic", "theirs.csv", content))["theirs.csv"]
    assert theirs.status == "loaded"
    assert "ours.csv" not in report(theirs) and SCHOOLS not in report(theirs)
    assert current(workspace, "northside_clinic") == {2024: 2}


def test_names_that_clean_up_alike_get_their_own_places_and_reports(workspace, config):
    content = school_file(2024, people("S", 20))
    refused = [(str(drop(workspace, SCHOOLS, name, b"PK\x03\x04")), SCHOOLS,
                {"rule": "not_a_csv", "message": "This is a spreadsheet."})
               for name in ("RUSD 2023.xlsx", "RUSD_2023.xlsx")]
    outcomes = night(workspace, config, (SCHOOLS, "RUSD 2024.csv", content),
                     (SCHOOLS, "RUSD_2024.csv", content), refused=refused)
    assert collections.Counter(s.status for s in outcomes.values()) == \
        {"rejected": 2, "loaded": 1, "duplicate": 1}
    reports = {s.report for s in outcomes.values()}
    assert len(reports) == 4
    assert len(list(workspace.path("data", "rejected").rglob("*RUSD_2023.xlsx"))) == 2
    assert not list((workspace.intake / "riverbend").rglob("*.*"))


def test_quarantine_keeps_a_masked_value_and_the_partner_gets_the_full_one(workspace, config):
    content = ("Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\n"
               + "".join(f"S{i},2024,700,Y\n" for i in range(10))
               + "S10,2015-13-45,700,Y\nS11,2024,Maria Lopez,Y\n")
    outcome = night(workspace, config, (SCHOOLS, "names.csv", content))["names.csv"]
    stored = dict(query(workspace, "SELECT column_name, value FROM quarantine"))
    assert stored == {"period": "2… (10 characters)", "race": "M… (11 characters)"}
    assert not query(workspace, "SELECT * FROM quarantine WHERE value LIKE '%Lopez%' OR "
                                "value LIKE '%2015%'")
    from pathlib import Path

    partner_csv = Path(outcome.report.replace(".report.md", ".bad_rows.csv")).read_text("utf-8-sig")
    assert "Maria Lopez" in partner_csv and "2015-13-45" in partner_csv


def test_a_warehouse_from_before_resubmission_rules_still_opens_and_means_the_same(workspace,
                                                                                 config):
    old = workspace.warehouse_file
    old.parent.mkdir(parents=True)
    con = duckdb.connect(str(old))
    con.execute(warehouse.DDL.replace(", 'duplicate', 'held'", ""))
    con.execute("CREATE SCHEMA riverbend")
    con.execute("CREATE TABLE riverbend.records (submission_id BIGINT, source_row BIGINT, "
                "loaded_at TIMESTAMP, partner_id VARCHAR, person_key UHUGEINT, period INTEGER)")
    for sid in (1, 2):
        con.execute("INSERT INTO submissions (initiative_id, partner_id, file_name, status, "
                    "received_at) VALUES ('riverbend', ?, 'f.csv', 'loaded', now())", [SCHOOLS])
    # The old view counted only the latest file of a partner-period: submission 2 for 2023.
    con.execute("INSERT INTO riverbend.records SELECT 1, i, now(), ?, i, 2023 FROM range(5) t(i)",
                [SCHOOLS])
    con.execute("INSERT INTO riverbend.records SELECT 2, i, now(), ?, i, 2023 FROM range(3) t(i)",
                [SCHOOLS])
    con.close()
    con = warehouse.connect(old)
    try:
        warehouse.ensure_initiative_tables(con, config)
        con.execute("INSERT INTO submissions (initiative_id, partner_id, file_name, status, "
                    "received_at) VALUES ('riverbend', 'x', 'y.csv', 'held', now())")
        assert con.execute("SELECT DISTINCT submission_id FROM riverbend.records_current"
                           ).fetchall() == [(2,)]
        assert con.execute("SELECT max(submission_id) FROM submissions").fetchall() == [(3,)]
    finally:
        con.close()


def test_a_rerun_after_a_crash_before_the_move_finishes_it_and_writes_the_report(workspace,
                                                                                config):
    from pathlib import Path

    content = school_file(2024, people("S", 20))
    first = night(workspace, config, (SCHOOLS, "a.csv", content))["a.csv"]
    stored = query(workspace, "SELECT stored_path FROM submissions")[0][0]
    # As if the run died right after COMMIT: no report yet, the file still in intake.
    Path(first.report).unlink()
    Path(stored).unlink()
    con = warehouse.connect(workspace.warehouse_file)
    con.execute("UPDATE submissions SET report_path = NULL")
    con.close()
    again = night(workspace, config, (SCHOOLS, "a.csv", content))["a.csv"]
    assert again.status == "recovered"
    assert Path(stored).read_text() == content
    written = query(workspace, "SELECT report_path FROM submissions")
    assert len(written) == 1 and "**2024**: 0 rows -> 20." in Path(written[0][0]).read_text()
    assert current(workspace) == {2024: 20}



def test_a_held_file_overtaken_by_a_newer_one_is_not_accepted(workspace):
    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    config = workspace.load("riverbend")
    night(workspace, config, (SCHOOLS, "full.csv", school_file(2023, people("S", 300))))
    night(workspace, config, (SCHOOLS, "cut.csv", school_file(2023, people("S", 100), ready=0)))
    # The partner resends the whole period instead: applied, and the held file stays held.
    resent = night(workspace, config, (SCHOOLS, "again.csv", school_file(2023, people("S", 290))))
    assert resent["again.csv"].status == "loaded" and current(workspace) == {2023: 290}
    refused = CliRunner().invoke(app, ["accept", "cut.csv", "--home", str(workspace.root)])
    assert refused.exit_code == 1 and "newer files" in refused.output
    assert current(workspace) == {2023: 290}


RESULT_FILES = ("indicator_results.parquet", "disparities.parquet", "scorecard.html",
                "datapackage.json", "quality_flags.parquet")


def test_held_then_accepted_through_the_nightly_flow(workspace, prefect_harness):
    import json
    import os

    from pipelines import part_changes
    from pipelines.flows import nightly

    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    drop(workspace, SCHOOLS, "full.csv", school_file(2023, people("S", 60)))
    nightly(home=str(workspace.root), initiative="riverbend")
    partnership = workspace.published("riverbend") / "partnership"
    version = os.readlink(partnership)
    results = {name: (partnership / name).read_bytes() for name in RESULT_FILES}
    drop(workspace, SCHOOLS, "cut.csv", school_file(2023, people("S", 20)))
    [summary] = nightly(home=str(workspace.root), initiative="riverbend")
    [held] = summary["files"]
    assert held["status"] == "held" and "To apply: backbone accept data/archive/" in held["reasons"]
    assert summary["note"].startswith("nothing new; the published version of")
    # The held file leaves the results alone, byte for byte; only the submission status
    # (a status-only version: 2023 is now "held") may move the partnership link.
    assert {name: (partnership / name).read_bytes() for name in RESULT_FILES} == results
    manifest = json.loads((partnership / "manifest.json").read_text())
    assert manifest["results_run_id"] == os.path.basename(version)
    held_rows = duckdb.sql(f"SELECT state FROM '{partnership / 'submissions.parquet'}' WHERE "
                           "partner_id = 'riverbend_schools' AND period = '2023'").fetchall()
    assert held_rows == [("held",)]

    result = CliRunner().invoke(app, ["accept", "cut.csv", "--home", str(workspace.root)])
    assert result.exit_code == 0, result.output
    [summary] = nightly(home=str(workspace.root), initiative="riverbend")
    assert summary["files"] == [] and summary["note"] is None  # the accepted change publishes
    assert os.readlink(partnership) != version
    con = warehouse.connect(workspace.warehouse_file)
    try:
        assert not part_changes.unpublished(con, workspace.load("riverbend"))
    finally:
        con.close()


def test_parts_recorded_per_day_are_reported_per_month():
    """Dated parts were days before they were months: a report written from such recorded
    changes (a rerun after a crash) still says one line per month, in rows."""
    from pipelines.resubmission import PartChange
    from pipelines.resubmission_report import sections, summary

    days = [PartChange((f"2024-03-{d:02d}",), [4], 0, 12, 0, after=12, decision="added")
            for d in range(1, 32)] + [PartChange(("2024-04-01",), [4], 3, 3, 3, after=3,
                                                 decision="replaced")]
    assert summary(days, "loaded", "rows", "x") == (
        "March 2024 (31 days with rows): 0 -> 372 rows (added); "
        "April 2024 (1 day with rows): 3 -> 3 rows (replaced)")
    text = "\n".join(sections(days, "loaded", "rows", 0.5, [], "x"))
    assert "- **March 2024 (31 days with rows)**: 0 rows -> 372. Nothing was on file for " \
           "March 2024 before." in text
    assert "2024-03-0" not in text
    # Other parts keep their own lines.
    assert summary([PartChange(("2023",), [4], 300, 301, 300, after=301, decision="updated")],
                   "loaded", "rows", "x") == "2023: 300 -> 301 rows (updated)"
