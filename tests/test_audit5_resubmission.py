"""Audit (session 5) of the resubmission shortcuts (`keys_distinct`, `rows_after`) and the
periods-still-due read once per partner: a sequence of nights mixing several files per partner
and night, a held file accepted later, resends of the same periods, campus files sharing a child,
and a clinic's dated files, run with the shortcuts and with `ALWAYS_GENERAL`; the warehouse
tables, the reports and every file's outcome must be the same."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.accept import accept_file
from pipelines.config import Workspace

from test_dated_resubmission import march, visits
from test_resubmission import SCHOOLS, night, people, query, school_file
from test_resubmission_fast_path import CLINIC, HOUSING, aggregate_table, fresh, recording, tables


def nights() -> list:
    return [
        # two periods of one partner, two groups in one night, both first submissions
        [(SCHOOLS, "RUSD_2023.csv", school_file(2023, people("S", 300))),
         (SCHOOLS, "RUSD_2024.csv", school_file(2024, people("N", 100))),
         (CLINIC, "visits 2024-03.csv", visits(*march([("M0", "3/1/2024", "Y")]))),
         (HOUSING, "h.csv", aggregate_table(20))],
        # 2023 cut to a third (held), a new 2025 file and a new 2022 file with the same child
        # ids as 2023 (other period: other keys), the same night
        [(SCHOOLS, "cut.csv", school_file(2023, people("S", 100), ready=0)),
         (SCHOOLS, "RUSD_2025.csv", school_file(2025, people("S", 120))),
         (SCHOOLS, "RUSD_2022.csv", school_file(2022, people("S", 50)))],
        "accept",
        # 2024 resent unchanged, 2026 in two campus files sharing child D1, and a clinic's
        # new month of repeated events
        [(SCHOOLS, "RUSD_2024 again.csv", school_file(2024, people("N", 100))),
         (SCHOOLS, "north.csv", school_file(2026, people("N", 20) + ["D1"])),
         (SCHOOLS, "south.csv", school_file(2026, people("S", 30) + ["D1"], ready=0)),
         (CLINIC, "visits 2024-04.csv", visits(("A1", "4/2/2024", "N"),
                                               ("A1", "4/2/2024", "Y"), ("A2", "4/9/2024", "N"))),
         (HOUSING, "redo.csv", aggregate_table(30, asian=False))],
        # a 2027 file with a late row for 2025, and 2022 resent complete and larger
        [(SCHOOLS, "RUSD_2027.csv", school_file(2027, people("Y", 30)) + "S7,2025,0\n"),
         (SCHOOLS, "RUSD_2022 full.csv", school_file(2022, people("S", 80)))],
    ]


def with_complete_extracts(workspace: Workspace) -> Workspace:
    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    return workspace


# Clock times, archive-name stamps and run ids: what differs between two runs of one night.
STAMPS = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?|\d{8}T\d{6}|(run|accept)-[\w-]+"


def run(workspace: Workspace, general: bool, monkeypatch) -> tuple[dict, list]:
    answers = recording(monkeypatch, general)
    config = workspace.load("riverbend")
    outcomes = []
    for files in nights():
        if files == "accept":
            stored = query(workspace, "SELECT stored_path FROM submissions WHERE status = 'held'")
            assert len(stored) == 1
            accepted = accept_file(workspace, Path(stored[0][0]))
            outcomes.append(_mask(workspace, repr(accepted)))
            continue
        settled = night(workspace, config, *files)
        outcomes.append(sorted((name, s.status, s.rows_loaded, s.rows_quarantined,
                                _mask(workspace, s.reasons),
                                _report(workspace, s.report))
                               for name, s in settled.items()))
    monkeypatch.undo()
    return answers, outcomes


def _report(workspace: Workspace, path: str | None) -> str:
    """The report's text without what differs between two workspaces and two runs."""
    if not path or not Path(path).is_file():
        return ""
    return _mask(workspace, Path(path).read_text(encoding="utf-8"))


def _mask(workspace: Workspace, text: str) -> str:
    text = text.replace(str(workspace.root), "<ws>")
    return re.sub(STAMPS, "<t>", text)


def test_held_accepted_resent_and_multi_file_nights_match_the_general_path(tmp_path,
                                                                           monkeypatch):
    shortcut = with_complete_extracts(fresh(tmp_path, "shortcut"))
    general = with_complete_extracts(fresh(tmp_path, "general"))
    answers, got_outcomes = run(shortcut, False, monkeypatch)
    # the shortcuts were asked and answered both ways
    assert True in answers["keys_distinct"] and False in answers["keys_distinct"]
    assert True in answers["rows_after"]
    none, want_outcomes = run(general, True, monkeypatch)
    assert none == {"earlier_rows": [], "nothing_superseded": [], "keys_distinct": [],
                    "rows_after": []}
    assert got_outcomes == want_outcomes, _diff(got_outcomes, want_outcomes)
    got, want = tables(shortcut), tables(general)
    assert got == want
    assert any(row for row in want["records_set_aside"])  # the accept replaced 2023


def _diff(a, b) -> list:
    import difflib
    return list(difflib.unified_diff(repr(a).split("\\n"), repr(b).split("\\n"), lineterm="", n=0))
