"""Audit 11 (helper B): sequences of nights, checked against what should count after each."""

from __future__ import annotations

import pytest

from pipelines import warehouse

from test_resubmission import SCHOOLS, current, night, people, school_file


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it in the run happens."""


def test_a_report_rewritten_after_a_crash_still_names_the_files_judged_with_it(
        workspace, config, monkeypatch):
    night(workspace, config, (SCHOOLS, "2023.csv", school_file(2023, people("S", 40))))
    real_move = warehouse.move_file

    def killed(*args):
        raise Killed()

    # Two campus files of one night, judged as one submission; the run dies after the load
    # committed and before the first file moved, so neither report path was recorded.
    monkeypatch.setattr(warehouse, "move_file", killed)
    files = [(SCHOOLS, "north.csv", school_file(2023, people("S", 35), ready=0)),
             (SCHOOLS, "late.csv", school_file(2023, people("L", 3)))]
    with pytest.raises(Killed):
        night(workspace, config, *files)
    monkeypatch.setattr(warehouse, "move_file", real_move)
    rerun = night(workspace, config, *files)
    assert {s.status for s in rerun.values()} == {"recovered"}
    assert current(workspace) == {2023: 38}
    late = [p for p in (workspace.root / "data" / "reports").rglob("*late.csv.report.md")]
    assert len(late) == 1
    text = late[0].read_text(encoding="utf-8")
    # 3 rows did not replace 2023 alone: the report says which file it was judged with, as the
    # interrupted run's report would have.
    assert "counted with this file as one submission: `north.csv`" in text
    assert "**2023**: 40 rows -> 38." in text


def _previous_release(config) -> dict:
    from pipelines.release_note import indicator_definitions

    return {"release_id": "r1", "released_at": "2026-11-01",
            "definitions_fingerprint": config.fingerprint,
            "settings_fingerprint": config.settings_fingerprint,
            "suppression_threshold": config.initiative.suppression.threshold,
            "indicator_definitions": indicator_definitions(config)}


def _with_target_and_proxy_edits(config):
    """The night's edits: a new target for readiness, and the district's lunch code R now
    read as not low income (class is re-derived every run, so published classes move)."""
    import dataclasses

    indicators = tuple(i.model_copy(update={"target": i.target.model_copy(update={"value": 0.9})})
                       if i.id == "kindergarten_readiness" else i for i in config.indicators)
    schools = config.crosswalks[SCHOOLS]
    proxy = {**schools.class_proxy, "R": "Not low income (proxy)"}
    return dataclasses.replace(config, indicators=indicators, crosswalks={
        **config.crosswalks, SCHOOLS: schools.model_copy(update={"class_proxy": proxy})})


def test_a_release_note_names_a_class_proxy_change_made_with_an_indicator_change(
        tmp_path, config):
    import datetime as dt

    from pipelines.release_note import write_release_note

    previous = _previous_release(config)
    edited = _with_target_and_proxy_edits(config)
    moved = {"indicator_id": "kindergarten_readiness", "period": "2024",
             "race_tabulation": "total", "race": "ALL", "class": "Not low income (proxy)",
             "change": "new", "old_numerator": None, "old_denominator": None,
             "old_suppressed": None, "new_numerator": 30, "new_denominator": 30,
             "new_suppressed": False}
    note = tmp_path / "note.md"
    write_release_note(note, edited, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"}, previous,
                       [moved])
    text = note.read_text()
    assert "Children ready for kindergarten: target" in text, text
    # The cell moved because of the mapping; the note named only a goal and said so.
    assert "a partner's class-proxy mapping" in text, text
    assert "no number below changed because of it" not in text, text
    assert "can differ because of this change" in text, text
    # Only the target changed: a goal, no count, as before.
    import dataclasses

    target_only = dataclasses.replace(edited, crosswalks=config.crosswalks)
    write_release_note(note, target_only, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"},
                       previous, [])
    text = note.read_text()
    assert "class-proxy mapping" not in text and "no number below changed" in text, text
