"""Audit: a held complete file accepted by a data lead on a later night, with a late row for an
old period and two campus files for one new period in the nights around it; the resubmission
shortcuts against ALWAYS_GENERAL, and the incremental measure after each night against a full
count."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config import Workspace

from test_fast_path_edges_measure import _measure
from test_measure_reuse import _cells, _kept
from test_resubmission import SCHOOLS, night, people, query, school_file
from test_resubmission_fast_path import fresh, recording, tables


def _nights(workspace: Workspace, tmp_path, general: bool, monkeypatch) -> list:
    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    config = workspace.load("riverbend")
    recording(monkeypatch, general)
    compared = []

    def measured(number):
        _measure(workspace, f"2026120{number}T000000-aaaaaa")
        if general:  # the measure is compared with a full count on the shortcut run only
            return
        full = Workspace(tmp_path / f"full-{general}-{number}")
        shutil.copytree(workspace.root, full.root, symlinks=True)
        shutil.rmtree(_kept(full))
        _measure(full, f"2026120{number}T000000-bbbbbb")
        compared.append((_cells(workspace), _cells(full)))

    night(workspace, config, (SCHOOLS, "full.csv", school_file(2023, people("S", 150))),
          (SCHOOLS, "y22.csv", school_file(2022, people("S", 60))))
    measured(1)
    # The 2023 file cut to 100 rows (held), and in the same night two campus files for 2024
    # sharing a child (the later file's row of it wins).
    outcome = night(workspace, config,
                    (SCHOOLS, "cut.csv", school_file(2023, people("S", 50), ready=0)),
                    (SCHOOLS, "north.csv", school_file(2024, people("N", 15) + ["D1"])),
                    (SCHOOLS, "south.csv", school_file(2024, people("T", 15) + ["D1"], ready=0)))
    assert outcome["cut.csv"].status == "held" and outcome["south.csv"].status == "loaded"
    measured(2)
    stored = query(workspace, "SELECT stored_path FROM submissions WHERE status = 'held'")[0][0]
    accepted = CliRunner().invoke(app, ["accept", stored, "--home", str(workspace.root)])
    assert accepted.exit_code == 0, accepted.output
    measured(3)
    monkeypatch.undo()
    return compared


def test_held_accepted_and_campus_files_shortcut_general_and_measure(tmp_path, monkeypatch):
    shortcut, general = fresh(tmp_path, "shortcut"), fresh(tmp_path, "general")
    for fast, full in _nights(shortcut, tmp_path, False, monkeypatch):
        assert fast == full
    _nights(general, tmp_path, True, monkeypatch)
    got, want = tables(shortcut), tables(general)
    assert got == want
    assert want["records_set_aside"] and want["records_superseded"]
