"""Review: records are kept one per (partner, person, period) by the resubmission rule, so a
record schema must key its rows that way; otherwise repeated rows were silently dropped."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError

from test_resubmission import SCHOOLS, current, night


def _set_unique(workspace, line: str) -> None:
    path = workspace.path("schemas", "intake", "person_outcomes_v1.yaml")
    text = path.read_text()
    assert "unique: [person_id, period]\n" in text
    path.write_text(text.replace("unique: [person_id, period]\n", line))


def test_a_schema_without_unique_still_sets_repeated_person_periods_aside(workspace):
    _set_unique(workspace, "")
    config = workspace.load("riverbend")
    content = ("person_id,period,kinder_ready\nA1,2023,1\nA1,2023,0\n"
               + "".join(f"B{i},2023,1\n" for i in range(10)))
    outcome = night(workspace, config, (SCHOOLS, "RUSD_2023.csv", content))["RUSD_2023.csv"]
    # Before: 11 rows loaded and one of A1's rows silently superseded, nothing said.
    assert outcome.rows_quarantined == 2
    assert current(workspace) == {2023: 10}


def test_a_wider_unique_key_is_refused_with_a_reason(workspace):
    _set_unique(workspace, "unique: [person_id, period, kinder_ready]\n")
    with pytest.raises((ConfigError, ValueError), match="person_id, period"):
        workspace.load("riverbend")


def test_accept_prints_a_partner_file_name_without_its_control_characters(workspace):
    from typer.testing import CliRunner

    from pipelines.cli import app
    from test_resubmission import people, query, school_file

    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    config = workspace.load("riverbend")
    night(workspace, config, (SCHOOLS, "full.csv", school_file(2023, people("S", 300))))
    hostile = "cut\x1b]0;owned\x07.csv"  # a terminal title-setting sequence in the file name
    assert night(workspace, config, (SCHOOLS, hostile, school_file(2023, people("S", 100))))[
        hostile].status == "held"
    stored = query(workspace, "SELECT stored_path FROM submissions WHERE status = 'held'")[0][0]
    accepted = CliRunner().invoke(app, ["accept", stored, "--home", str(workspace.root)])
    assert accepted.exit_code == 0, accepted.output
    assert "\x1b" not in accepted.output and "\x07" not in accepted.output
    assert "cut\\u001b" in accepted.output or "cut\\x1b" in accepted.output


def test_a_second_campus_sent_on_a_later_night_adds_to_the_period(workspace, config):
    from test_resubmission import people, report, school_file

    night(workspace, config, (SCHOOLS, "north.csv", school_file(2023, people("N", 300))))
    # 200 other children for 2023: none of the 300 on file, so not the period's complete file
    # (the rule: it must carry at least half of the period's current rows). Before: "replaced",
    # the 300 north children dropped, and not even held (300 -> 200 is a third).
    south = night(workspace, config, (SCHOOLS, "south.csv",
                                      school_file(2023, people("S", 200))))["south.csv"]
    assert south.status == "loaded"
    assert current(workspace) == {2023: 500}
    assert "**2023**: 300 rows -> 500." in report(south)
