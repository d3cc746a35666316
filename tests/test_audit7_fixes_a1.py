"""Audit 7, finding A1: a complete resend keeps the earlier row of a person it lists in a row it
set aside (quarantined), and its report says so; rows whose id or period cannot be read list
no one, and the report says that too. Real staging (GX), a real DuckDB warehouse, real reports
(the warehouse step of a run, as tests/test_resubmission.py drives it).
"""

from __future__ import annotations

import duckdb
import pytest

from pipelines import resubmission_shortcuts
from pipelines.rebuild import rebuild

from test_dated_resubmission import CLINIC, march, visits
from test_resubmission import SALT, SCHOOLS, current, night, people, query, report

HEADER = "person_id,period,kinder_ready\n"


def rows(*lines: str) -> str:
    return HEADER + "".join(f"{line}\n" for line in lines)


def first_year(workspace, config, n: int = 10):
    """S0..S{n-1} on file for 2023 (from submission 1)."""
    night(workspace, config, (SCHOOLS, "k.csv", rows(*(f"{p},2023,1" for p in people("S", n)))))


def on_file(workspace) -> dict[str, int]:
    """Current 2023 people -> the submission their row comes from (ids hashed: by row order)."""
    return dict(query(workspace, "SELECT person_key::VARCHAR, submission_id FROM "
                                 "riverbend.records_current WHERE period = '2023'"))


def kept_from_first(workspace) -> int:
    return query(workspace, "SELECT count(*) FROM riverbend.records_current "
                            "WHERE period = '2023' AND submission_id = 1")[0][0]


def test_a_person_whose_row_is_set_aside_keeps_the_earlier_row_and_is_told_so(workspace, config):
    first_year(workspace, config)
    # S0's row has a typo (kinder_ready 7); S9 left the school; S1..S8 resent.
    resend = rows("S0,2023,7", *(f"{p},2023,0" for p in people("S", 8, 1)))
    outcome = night(workspace, config, (SCHOOLS, "k_fixed.csv", resend))["k_fixed.csv"]
    assert outcome.status == "loaded"
    assert current(workspace) == {2023: 9}
    assert kept_from_first(workspace) == 1  # S0's earlier, valid row
    text = report(outcome)
    assert "**2023**: 10 rows -> 9." in text, text
    assert "1 person from earlier files who is not in it was removed" in text, text
    assert "1 person whose row in this file was set aside" in text, text
    assert "could not be matched" not in text
    assert outcome.reasons == "2023: 10 -> 9 rows (replaced)"
    assert query(workspace, "SELECT rows_before, rows_carried, rows_kept, rows_listed, "
                            "rows_after, decision FROM riverbend.part_changes WHERE batch = 2"
                 ) == [(10, 8, 8, 1, 9, "replaced")]
    # The fix, sent alone, updates S0: one row each, nothing else moves.
    fixed = night(workspace, config, (SCHOOLS, "s0.csv", rows("S0,2023,0")))["s0.csv"]
    assert fixed.reasons == "2023: 9 -> 9 rows (updated)"
    assert kept_from_first(workspace) == 0 and current(workspace) == {2023: 9}


def test_a_row_sent_twice_is_set_aside_twice_and_the_person_kept(workspace, config):
    first_year(workspace, config)
    resend = rows("S0,2023,0", "S0,2023,0", *(f"{p},2023,0" for p in people("S", 9, 1)))
    outcome = night(workspace, config, (SCHOOLS, "k_fixed.csv", resend))["k_fixed.csv"]
    assert query(workspace, "SELECT count(DISTINCT source_row), min(rule) FROM quarantine "
                            "WHERE submission_id = 2") == [(2, "duplicate_key")]
    assert current(workspace) == {2023: 10} and kept_from_first(workspace) == 1
    text = report(outcome)
    assert "0 people from earlier files who are not in it were removed" in text, text
    assert "1 person whose row in this file was set aside" in text, text


@pytest.mark.parametrize("bad_row, rule", [
    (",2023,0", "missing_value"),       # the id is the blank cell: whose row was it?
    ("S 0,2023,0", "bad_format"),       # an id that is not an id
    ("S0,2O23,0", "bad_period"),        # a period that is not a period: which year?
    ("S0,2099,0", "future_period"),     # a period no row on file can have
    ("S0,2023,0", "other_partner"),     # another partner's row names no one of this one's
])
def test_a_row_whose_id_or_period_is_the_broken_cell_lists_no_one(workspace, config, bad_row,
                                                                   rule):
    first_year(workspace, config)
    content = rows(bad_row, *(f"{p},2023,0" for p in people("S", 8, 1)))
    if rule == "other_partner":
        content = "person_id,period,kinder_ready,partner_id\n" + "".join(
            f"{line},{'bright_start' if i == 0 else SCHOOLS}\n"
            for i, line in enumerate(content.splitlines()[1:]))
    outcome = night(workspace, config, (SCHOOLS, "k_fixed.csv", content))["k_fixed.csv"]
    assert rule in {r[0] for r in query(workspace, "SELECT rule FROM quarantine "
                                                   "WHERE submission_id = 2")}
    # S0 and S9 are not listed by any readable row: both removed, and the report says why.
    assert current(workspace) == {2023: 8} and kept_from_first(workspace) == 0
    text = report(outcome)
    assert "2 people from earlier files who are not in it were removed" in text, text
    assert "1 row of this file set aside (see the rows to fix) could not be matched to a " \
           "person and period" in text, text
    assert "whose row in this file was set aside" not in text
    assert query(workspace, "SELECT count(*) FROM riverbend.records_quarantined_keys WHERE "
                            "submission_id = 2 AND person_key IS NULL") == [(1,)]


def test_people_listed_in_set_aside_rows_count_toward_the_complete_file_share(workspace, config):
    """10 on file; the resend carries 3 of them validly, 2 in rows set aside, and 2 new people:
    5 of 10 listed, the default share, so it is the complete file (as its sender meant): the 5
    it does not list go, the 2 set aside stay. Counting only its valid rows (3 of 10) would
    have made it an update that kept the 5 who left."""
    first_year(workspace, config)
    resend = rows("S0,2023,7", "S1,2023,x", "S2,2023,0", "S3,2023,0", "S4,2023,0",
                  "N0,2023,1", "N1,2023,1")
    outcome = night(workspace, config, (SCHOOLS, "k_fixed.csv", resend))["k_fixed.csv"]
    assert outcome.reasons == "2023: 10 -> 7 rows (replaced)"
    assert current(workspace) == {2023: 7} and kept_from_first(workspace) == 2
    text = report(outcome)
    assert "5 people from earlier files who are not in it were removed" in text
    assert "2 people whose rows in this file were set aside" in text


def test_a_person_set_aside_in_one_campus_file_and_sent_in_the_other_is_updated(workspace,
                                                                                config):
    """Two files of one night are one submission: a valid row in either lists the person, and
    that row wins (the set-aside copy keeps nothing)."""
    first_year(workspace, config)
    north = rows("S0,2023,7", *(f"{p},2023,0" for p in people("S", 4, 1)))
    south = rows("S0,2023,0", *(f"{p},2023,0" for p in people("S", 4, 5)))
    night(workspace, config, (SCHOOLS, "north.csv", north), (SCHOOLS, "south.csv", south))
    assert current(workspace) == {2023: 9} and kept_from_first(workspace) == 0
    assert query(workspace, "SELECT rows_listed FROM riverbend.part_changes WHERE batch = 2"
                 ) == [(0,)]


def test_a_dated_person_day_set_aside_keeps_its_events_on_file(workspace, config):
    night(workspace, config, (CLINIC, "march.csv", visits(*march())))
    # The corrected March: M0's visit has a bad Dev Screen; M19 (3/10) was entered by mistake.
    events = [("M0", "3/1/2024", "Q")] + march()[1:19]
    outcome = night(workspace, config, (CLINIC, "march_fixed.csv", visits(*events)))
    outcome = outcome["march_fixed.csv"]
    assert outcome.reasons == "March 2024 (10 days with rows): 20 -> 19 rows (replaced)"
    text = report(outcome)
    assert "1 row from earlier files, for people and days not in it, were removed" in text, text
    assert "1 row on file for people and days that this file lists only in rows it set aside " \
           "were kept" in text, text
    assert query(workspace, "SELECT count(*) FROM riverbend.records_current WHERE "
                            "partner_id = ? AND submission_id = 1", [CLINIC]) == [(1,)]


def test_the_shortcuts_and_the_general_queries_agree(tmp_path, monkeypatch):
    from pipelines.config import Workspace

    def history(general: bool):
        workspace = Workspace(tmp_path / str(general)).add_definitions()
        workspace.intake.mkdir(parents=True)
        config = workspace.load("riverbend")
        monkeypatch.setattr(resubmission_shortcuts, "ALWAYS_GENERAL", general)
        first_year(workspace, config)
        night(workspace, config, (SCHOOLS, "k_fixed.csv",
                                  rows("S0,2023,7", *(f"{p},2023,0" for p in people("S", 8, 1)))))
        return [query(workspace, f"SELECT * EXCLUDE (decided_at) FROM riverbend.{t} ORDER BY ALL")
                for t in ("records_set_aside", "records_superseded")] + [
            query(workspace, "SELECT submission_id, source_row FROM riverbend.records_current "
                             "ORDER BY ALL"),
            query(workspace, "SELECT part, rows_before, rows_carried, rows_kept, rows_listed, "
                             "rows_after, decision FROM riverbend.part_changes ORDER BY ALL")]
    assert history(True) == history(False)


def test_a_rerun_and_a_rebuild_move_nothing(workspace, config, monkeypatch):
    """"Loses nothing ... a rerun is safe": the same file again, an empty night, and a rebuild
    from the archive (which stages every file again) leave the same rows current."""
    monkeypatch.setenv("BACKBONE_SALT_RIVERBEND", SALT)  # the salt night() stages with
    first_year(workspace, config)
    resend = rows("S0,2023,7", *(f"{p},2023,0" for p in people("S", 8, 1)))
    night(workspace, config, (SCHOOLS, "k_fixed.csv", resend))
    before = on_file(workspace)
    assert len(before) == 9
    again = night(workspace, config, (SCHOOLS, "k_fixed.csv", resend))["k_fixed.csv"]
    assert again.status == "duplicate"
    night(workspace, config)
    assert on_file(workspace) == before
    rebuild(workspace, "riverbend")
    assert on_file(workspace) == before
    con = duckdb.connect(str(workspace.snapshot_file), read_only=True)
    try:  # the analysts' copy has the new table, described
        assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = "
                           "'records_quarantined_keys'").fetchall()[0][0]
    finally:
        con.close()


def test_a_held_complete_file_keeps_the_listed_person_when_accepted(workspace):
    """complete_extracts: a file listing 3 of 10 (one of them in a row set aside) is held; a
    data lead's accept (days later, the staging gone) still keeps that person's earlier row."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    config = workspace.load("riverbend")
    first_year(workspace, config)
    held = night(workspace, config, (SCHOOLS, "cut.csv",
                                     rows("S0,2023,7", "S1,2023,0", "S2,2023,0")))["cut.csv"]
    assert held.status == "held"
    # 10 -> 3: S1, S2 and S0's earlier row; 7 removed of 10, more than half.
    assert "held, not applied: 2023 would go from 10 to 3 rows" in held.reasons
    assert "would leave 3 and remove 7 of 10 people on file" in report(held)
    stored = query(workspace, "SELECT stored_path FROM submissions WHERE status = 'held'")[0][0]
    accepted = CliRunner().invoke(app, ["accept", stored, "--home", str(workspace.root)])
    assert accepted.exit_code == 0, accepted.output
    assert "2023: 10 -> 3 rows (replaced)" in accepted.output
    assert current(workspace) == {2023: 3} and kept_from_first(workspace) == 1
