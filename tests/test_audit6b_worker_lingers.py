"""A file waiting under an intake folder with no definitions (a retired initiative, a typo'd
folder) keeps the warm staging workers alive through the warehouse step.

staging_worker docstring: "Workers end when staging ends, before the warehouse step".
`waiting()` lists every intake folder; the flow calls `staged()` only for
`workspace.initiative_ids()`, so `pending` never empties.
"""
from __future__ import annotations

import shutil

from pipelines import staging_worker
from tests.conftest import SAMPLES


def test_workers_stop_after_the_last_defined_initiative_is_staged(workspace, monkeypatch):
    monkeypatch.setenv("BACKBONE_STAGING_WORKER", "on")
    for initiative in ("riverbend", "retired_2023"):
        target = workspace.intake / initiative / "riverbend_schools" / "RUSD_outcomes_2024.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SAMPLES / "riverbend_schools" / "RUSD_outcomes_2024.csv", target)
    import os, time
    old = time.time() - 3600
    for p in workspace.intake.rglob("*.csv"):
        os.utime(p, (old, old))
    try:
        workers = staging_worker.start(workspace, None)
        assert workers is not None
        assert workspace.initiative_ids() == ["riverbend"]
        # What flows._nightly_locked does for every initiative it knows:
        for initiative_id in workspace.initiative_ids():
            staging_worker.staged(initiative_id)
        assert staging_worker.active() is None, \
            f"workers still running into the warehouse step; pending={workers.pending}"
    finally:
        staging_worker.stop()
