"""Audit 10 (T): a release after a definition change says so in its release note.

An indicator's condition was edited (attendance of 160 days or more became 150) with no new data:
the next run re-measured and the next release revised the public cells, but the note only said
"Earlier periods can change when a partner resends or corrects a file", as if partners' data had
moved the numbers. A target-only edit was called "only the definitions' wording".
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from pipelines.config import Condition
from pipelines.release_note import indicator_definitions, write_release_note


def _revised() -> dict:
    return {"indicator_id": "kindergarten_readiness", "period": "2024", "race_tabulation": "total",
            "race": "ALL", "class": "ALL", "change": "revised", "old_numerator": 50,
            "old_denominator": 100, "old_suppressed": False, "new_numerator": 60,
            "new_denominator": 100, "new_suppressed": False}


def _previous(config) -> dict:
    return {"release_id": "r1", "released_at": "2026-11-01",
            "definitions_fingerprint": config.fingerprint,
            "indicator_definitions": indicator_definitions(config)}


def _edit(config, indicator_id: str, **changes):
    indicators = tuple(i.model_copy(update=changes) if i.id == indicator_id else i
                       for i in config.indicators)
    return dataclasses.replace(config, indicators=indicators)


def test_a_condition_change_is_named_in_the_release_note(tmp_path, config):
    previous = _previous(config)
    ready = next(i for i in config.indicators if i.id == "kindergarten_readiness")
    edited = _edit(config, "kindergarten_readiness",
                   numerator=(*ready.numerator, Condition(column="household_size", op=">=", value=2)))
    assert edited.fingerprint != config.fingerprint
    note = tmp_path / "note.md"
    write_release_note(note, edited, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"}, previous,
                       [_revised()])
    text = note.read_text()
    assert "The definitions changed since the previous release" in text, text
    assert "Children ready for kindergarten: who is counted" in text, text
    # The other indicators are not named.
    assert "Third graders" not in text.split("| indicator |")[0]


def test_a_target_change_is_not_called_wording(tmp_path, config):
    previous = _previous(config)
    ready = next(i for i in config.indicators if i.id == "kindergarten_readiness")
    edited = _edit(config, "kindergarten_readiness",
                   target=ready.target.model_copy(update={"value": 0.9}))
    note = tmp_path / "note.md"
    write_release_note(note, edited, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"}, previous, [])
    text = note.read_text()
    assert "Children ready for kindergarten: target" in text, text
    assert "only the definitions' wording" not in text, text


def test_same_definitions_say_nothing_about_them(tmp_path, config):
    note = tmp_path / "note.md"
    write_release_note(note, config, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"},
                       _previous(config), [_revised()])
    assert "definitions changed" not in note.read_text()
    # A previous release that does not say what it was built with: nothing is claimed.
    write_release_note(note, config, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"},
                       {"release_id": "r1", "released_at": "2026-11-01"}, [_revised()])
    assert "definitions changed" not in note.read_text()


def test_a_release_before_per_indicator_definitions_were_kept_says_only_that_they_changed(
        tmp_path, config):
    note = tmp_path / "note.md"
    previous = {"release_id": "r1", "released_at": "2026-11-01",
                "definitions_fingerprint": "0123456789abcdef"}
    write_release_note(note, config, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"}, previous,
                       [_revised()])
    text = note.read_text()
    assert "The definitions changed since the previous release:** the definitions (" in text, text
    write_release_note(note, config, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"},
                       {**previous, "suppression_threshold": 5}, [_revised()])
    text = note.read_text()
    assert "the suppression threshold (5 to 10)" in text, text


# --- T2: a rebuild never accepts a file no data lead accepted ----------------------------------

SCHOOLS = "riverbend_schools"


def test_a_rebuild_does_not_accept_a_file_that_was_only_loaded(workspace):
    """A late one-row file was loaded as an update of one person; the data lead then set
    `complete_extracts: true` (README: for tiny periods) and later rebuilt. Under today's
    settings the file would replace 2022 and is held; the rebuild took "held now, loaded then"
    for a data lead's acceptance and applied it, removing every other 2022 row without a word."""
    import duckdb

    import warehouse_versions as versions
    from pipelines.rebuild import rebuild

    sample = versions.SAMPLES / SCHOOLS / "RUSD_outcomes_2022.csv"
    lines = sample.read_text(encoding="utf-8-sig").splitlines()
    versions.night(workspace, [(SCHOOLS, sample.name, sample.read_bytes())])
    late = f"{lines[0]}\n{lines[1]}\n".encode()
    assert versions.night(workspace, [(SCHOOLS, "late_2022.csv", late)])[
        "late_2022.csv"].status == "loaded"

    def current_2022() -> int:
        con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
        try:
            return con.execute("SELECT count(*) FROM riverbend.records_current WHERE partner_id "
                               "= ? AND period = '2022'", [SCHOOLS]).fetchone()[0]
        finally:
            con.close()

    before = current_2022()
    assert before == len(lines) - 1
    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", f"{SCHOOLS}.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    outcome = rebuild(workspace, "riverbend")
    assert current_2022() == before  # nothing removed: no one accepted the replacement
    assert any("is now held" in d for d in outcome.differences), \
        outcome.differences


# --- T3/T4: a rebuild reads this workspace's own archive, and only the files received ---------

def _one_school_night(workspace) -> str:
    import duckdb

    import warehouse_versions as versions

    sample = versions.SAMPLES / SCHOOLS / "RUSD_outcomes_2022.csv"
    versions.night(workspace, [(SCHOOLS, sample.name, sample.read_bytes())])
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        return con.execute("SELECT stored_path FROM submissions").fetchall()[0][0]
    finally:
        con.close()


def test_a_copied_workspace_does_not_rebuild_from_the_original_archive(workspace, tmp_path):
    """A copy of a workspace (to try a rebuild safely, a staging copy) whose own archive lost a
    file read the original workspace's file at the recorded absolute path instead."""
    import shutil
    from pathlib import Path

    import pytest

    from pipelines.config import Workspace
    from pipelines.rebuild import RebuildError, rebuild

    stored = Path(_one_school_night(workspace))
    copy = tmp_path / "copy"
    shutil.copytree(workspace.root, copy)
    (copy / stored.relative_to(workspace.root)).unlink()
    assert stored.is_file()  # the original still has it
    with pytest.raises(RebuildError, match="missing from the archive"):
        rebuild(Workspace(copy), "riverbend")


def test_an_archived_file_changed_after_it_was_received_is_not_loaded(workspace):
    """Re-saved in a spreadsheet, edited by hand: the rebuild loaded other bytes than the
    partner sent, published other numbers and recorded the new sha256 for the submission."""
    from pathlib import Path

    import pytest

    from pipelines.rebuild import RebuildError, rebuild

    stored = Path(_one_school_night(workspace))
    text = stored.read_bytes()
    stored.write_bytes(text.replace(b",Y,", b",N,"))
    assert stored.read_bytes() != text
    with pytest.raises(RebuildError, match="not the file that was received"):
        rebuild(workspace, "riverbend")


# --- T5: a calendar change drops school-year records with a note giving the wrong reason -------

def test_school_years_loaded_under_another_calendar_are_named_as_such(workspace):
    """`calendar: school_year_start_month` changed after school-year files were loaded: every
    "2023-24" record (stored July-June) straddles today's August-July years and stops counting.
    The manifest said "their period is longer than one school year or spans two", which is not
    what happened and gives no way out; it must say why and that a rebuild re-dates them."""
    from test_period_measure import _add_indicator, _calendar, _con, _insert, _total

    from pipelines.measure import build_indicator_cells
    from pipelines.publish import grain_notes, indicator_periods

    _add_indicator(workspace, "wcv_school_year", "school_year")
    july = workspace.load("riverbend")
    con = _con(july)
    _insert(con, "riverbend_schools", "p1", "2023-24", wcv=1)  # July 2023 - June 2024
    _insert(con, "northside_clinic", "p2", "2024", wcv=1)      # a calendar year: straddles
    build_indicator_cells(con, july)
    assert _total(con, "wcv_school_year", "2023-24") == (1, 1)

    _calendar(workspace, 8)
    august = workspace.load("riverbend")
    build_indicator_cells(con, august)
    grains = {g["indicator_id"]: g for g in indicator_periods(con, august)}
    assert grains["wcv_school_year"]["records_not_counted"] == 2
    assert grains["wcv_school_year"]["records_other_calendar"] == 1
    assert "records_other_calendar" not in grains["well_child_visits"]
    notes = [n for n in grain_notes(list(grains.values())) if "wcv_school_year" in n]
    assert any("1 records" in n and "earlier `calendar:`" in n and "backbone rebuild" in n
               for n in notes), notes
    assert any("did not count 1 records of its denominator: their period is longer" in n
               for n in notes), notes


# --- T6: a crosswalk change that loaded rows do not follow is said, once ----------------------

def test_a_changed_value_map_is_said_to_apply_to_files_loaded_from_now_on(workspace):
    """A data lead corrects a backwards value map; the run said only "nothing new; the
    published version stands", though rows already loaded keep the old mapping."""
    import json

    from pipelines.publish import crosswalk_reading, crosswalk_reading_notes
    from pipelines.versions import PARTNERSHIP, audience_dir

    config = workspace.load("riverbend")
    folder = audience_dir(workspace, "riverbend", PARTNERSHIP)
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(
        {"crosswalk_reading": crosswalk_reading(config)}))
    assert crosswalk_reading_notes(workspace, config) == []

    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "northside_clinic.yaml")
    crosswalk.write_text(crosswalk.read_text().replace('{"Y": 1, "N": 0}', '{"Y": 0, "N": 1}'))
    changed = workspace.load("riverbend")
    notes = crosswalk_reading_notes(workspace, changed)
    assert len(notes) == 1 and "'northside_clinic'" in notes[0], notes
    assert "files loaded from now on" in notes[0] and "backbone rebuild" in notes[0]
    # A class-proxy change is re-derived every run (the fingerprint): not this note.
    schools = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    schools.write_text(schools.read_text().replace('R: "Low income (proxy)"',
                                                   'R: "Not low income (proxy)"'))
    assert len(crosswalk_reading_notes(workspace, workspace.load("riverbend"))) == 1
