"""Scale-out with Dask: the per-file stage runs in Dask worker processes and changes no number.

The cluster is the one `backbone run --dask` uses (LocalCluster, 2 worker processes, 1 thread
each), plus a worker preload that notes, for every Dask task a worker finishes, the Prefect task
run it was and the worker's pid. The test then matches Prefect's own task run records against those
notes: every `stage-file` run must have been executed by a worker process, not the flow's.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect_dask import DaskTaskRunner

from pipelines import synth
from pipelines.config import Workspace
from pipelines.flows import nightly

pytestmark = pytest.mark.usefixtures("prefect_harness")

SALT = "dask-runner-test-salt-0123456789abcdef"

PROBE = '''
import json, os
from distributed.diagnostics.plugin import WorkerPlugin

OUT = {out!r}


class Probe(WorkerPlugin):
    def setup(self, worker):
        self.worker = worker

    def transition(self, key, start, finish, **kwargs):
        if (start, finish) != ("executing", "memory"):
            return
        details = getattr(self.worker.data.get(key), "state_details", None)
        line = {{"pid": os.getpid(), "key": str(key),
                 "task_run_id": str(getattr(details, "task_run_id", None))}}
        with open(os.path.join(OUT, f"{{os.getpid()}}.jsonl"), "a") as handle:
            handle.write(json.dumps(line) + "\\n")


async def dask_setup(worker):
    await worker.plugin_add(Probe(), name="backbone-test-probe")
'''


def _records(workspace: Workspace) -> list[tuple]:
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        return con.execute("SELECT partner_id, period, source_row, person_key FROM "
                           "riverbend.records ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_stage_tasks_run_on_dask_workers_and_publish_the_same_numbers(tmp_path: Path,
                                                                       monkeypatch):
    # Same salt in both workspaces (and in the workers, which inherit the environment).
    monkeypatch.setenv("BACKBONE_SALT_RIVERBEND", SALT)
    first = Workspace(tmp_path / "default").add_definitions().root
    files = synth.write_sample(first / "data" / "intake" / "riverbend", children_per_year=60,
                               years=(2023, 2024))
    second = tmp_path / "dask"
    shutil.copytree(first, second)
    default, dask = Workspace(first), Workspace(second)

    notes = tmp_path / "notes"
    notes.mkdir()
    probe = tmp_path / "backbone_probe.py"
    probe.write_text(PROBE.format(out=str(notes)))
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1,
                                            "processes": True, "preload": [str(probe)],
                                            "dashboard_address": ":0"})
    started = time.monotonic()
    state = nightly.with_options(task_runner=runner)(home=str(dask.root), initiative="riverbend",
                                                     return_state=True)
    summaries = state.result()
    on_dask = time.monotonic() - started
    started = time.monotonic()
    baseline = nightly(home=str(default.root), initiative="riverbend")
    on_threads = time.monotonic() - started

    # Same files loaded, same rows, same hashed person keys, same published numbers.
    def outcomes(run: list[dict]) -> list[tuple]:
        return sorted((f["file_name"], f["status"], f["rows_loaded"]) for f in run[0]["files"])
    assert outcomes(summaries) == outcomes(baseline)
    assert [status for _, status, _ in outcomes(summaries)] == ["loaded"] * len(files)
    assert _records(dask) == _records(default)
    results = "indicator_results.parquet"
    on_workers = pq.read_table(dask.published("riverbend") / "partnership" / results)
    on_process = pq.read_table(default.published("riverbend") / "partnership" / results)
    # Row by row, so a failure shows the first cell that differs rather than two whole tables.
    assert on_workers.num_rows == on_process.num_rows
    assert next(((a, b) for a, b in zip(on_workers.to_pylist(), on_process.to_pylist())
                 if a != b), None) is None
    assert on_workers.equals(on_process)

    # Where each stage-file task run executed, according to the Dask workers themselves.
    executed = {}
    for note in notes.glob("*.jsonl"):
        for line in note.read_text().splitlines():
            entry = json.loads(line)
            executed[entry["task_run_id"]] = entry["pid"]
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    stage_runs = [r for r in task_runs if r.name.startswith("stage ")]
    assert len(stage_runs) == len(files)
    assert all(r.state.is_completed() for r in stage_runs)
    pids = {executed.get(str(r.id)) for r in stage_runs}
    assert None not in pids, "a stage-file task run was not executed by a Dask worker"
    assert os.getpid() not in pids
    warehouse_runs = [r for r in task_runs if r.name.startswith("warehouse")]
    assert len(warehouse_runs) == 1 and str(warehouse_runs[0].id) not in executed
    print(f"stage-file runs on worker pids {sorted(pids)} (test pid {os.getpid()}); "
          f"flow on Dask {on_dask:.1f}s, on threads {on_threads:.1f}s")
