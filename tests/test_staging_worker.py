"""The warm staging worker (pipelines/staging_worker.py): real processes, real flows, real CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import prefect.settings
import psutil
import pytest

from pipelines import intake, staging_worker
from pipelines.config import REPO_ROOT, Workspace
from tests.conftest import SAMPLES, query

FILES = [("riverbend_schools", "RUSD_outcomes_2024.csv"),
         ("riverbend_schools", "RUSD_outcomes_2025.csv"),
         ("northside_clinic", "northside_wcv_2025.csv"),
         ("riverbend_housing", "rha_stability_2025.csv"),
         ("bright_start", "BrightStart FY2025 export.csv")]


def _fill(workspace: Workspace, files=FILES) -> None:
    for partner, name in files:
        target = workspace.intake / "riverbend" / partner / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SAMPLES / partner / name, target)


def _waiting(workspace: Workspace) -> set[str]:
    return {p.name for p in (workspace.intake / "riverbend").rglob("*") if p.is_file()}


def test_worker_count_follows_the_slots_and_the_night_size(monkeypatch):
    assert staging_worker.SMALL_FILE_BYTES == intake.SMALL_FILE_BYTES
    monkeypatch.delenv("BACKBONE_STAGING_WORKER", raising=False)
    monkeypatch.delenv("BACKBONE_STAGING_CONCURRENCY", raising=False)
    small, large = 2**20, 20 * 2**20
    cores = max(1, os.cpu_count() or 2)
    assert staging_worker.worker_count([]) == 0
    assert staging_worker.worker_count([small]) == 1
    assert staging_worker.worker_count([small] * 40) == min(cores, 40)
    assert staging_worker.worker_count([large]) == 1
    # Large files are staged one at a time: however many there are, one worker.
    monkeypatch.setenv("BACKBONE_STAGING_WORKER", "on")
    assert staging_worker.worker_count([large] * 14) == 1
    assert staging_worker.worker_count([large, small]) == min(cores, 2)
    monkeypatch.setenv("BACKBONE_STAGING_WORKER", "")
    assert staging_worker.worker_count([large] * 14) == 0  # above WORKER_MAX_BYTES
    monkeypatch.setenv("BACKBONE_STAGING_WORKER", "off")
    assert staging_worker.worker_count([small]) == 0
    monkeypatch.setenv("BACKBONE_STAGING_CONCURRENCY", "1")
    monkeypatch.setenv("BACKBONE_STAGING_WORKER", "on")
    assert staging_worker.worker_count([small] * 40) == 1


def test_waiting_sees_only_what_discover_would_take(workspace):
    _fill(workspace, FILES[:2])
    folder = workspace.intake / "riverbend" / "riverbend_schools"
    (folder / "upload.csv.part").write_text("a,b\n")
    (folder / ".hidden.csv").write_text("a,b\n")
    (folder / "notes.pdf").write_text("x")
    (workspace.intake / "riverbend" / "loose.csv").write_text("a\n")
    found = staging_worker.waiting(workspace, None)
    assert sorted(found) == ["riverbend"] and len(found["riverbend"]) == 2
    assert staging_worker.waiting(workspace, "other") == {}


def _worker_pids(parent: int | None = None) -> set[int]:
    """The spawned worker processes under `parent` (not Prefect's server, not multiprocessing's
    resource tracker)."""
    found = set()
    for child in psutil.Process(parent).children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:
            pass
    return found


@pytest.mark.usefixtures("prefect_harness")
def test_a_killed_worker_leaves_its_file_in_intake_and_a_fresh_worker_stages_the_rest(
        workspace, monkeypatch):
    from pipelines.flows import nightly

    _fill(workspace)
    victim = workspace.intake / "riverbend" / "riverbend_schools" / "RUSD_outcomes_2024.csv"
    folder = workspace.staging / hashlib.sha256(os.fsencode(victim)).hexdigest()[:16]
    monkeypatch.setenv("BACKBONE_STAGING_WORKER", "on")
    monkeypatch.setenv("BACKBONE_STAGING_CONCURRENCY", "1")  # one worker: the victim's
    workers = staging_worker.start(workspace, "riverbend")
    assert workers is not None and len(workers._all) == 1
    killed: list[int] = []

    def kill_when_staging_starts() -> None:
        # stage_file makes the file's staging folder first thing: the worker is then inside it.
        deadline = time.monotonic() + 300
        while not folder.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        for pid in _worker_pids():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_when_staging_starts)
    killer.start()
    try:
        with pytest.raises(RuntimeError, match=r"1 file\(s\) could not be processed"):
            nightly(home=str(workspace.root), initiative="riverbend")
    finally:
        killer.join()
        staging_worker.stop()
    assert killed
    assert _waiting(workspace) == {"RUSD_outcomes_2024.csv"}  # untouched, for the next run
    assert not folder.exists()
    loaded = query(workspace.warehouse_file,
                   "SELECT file_name FROM submissions WHERE status = 'loaded' ORDER BY ALL")
    assert [row[0] for row in loaded] == sorted(name for _, name in FILES
                                                if name != victim.name)
    assert staging_worker.active() is None
    assert not _worker_pids()


WORKER_OF_A_KILLED_PARENT = r"""
import sys, time
from pathlib import Path
from pipelines import staging_worker
from pipelines.config import Workspace
workers = staging_worker.Workers(sys.argv[1], [], 1)
workers._all[0].submit(time.sleep, 0).result()  # the worker is up and initialized
print(*workers._all[0]._processes, flush=True)
time.sleep(600)
"""


def test_a_worker_ends_when_its_parent_is_killed(workspace):
    parent = subprocess.Popen([sys.executable, "-c", WORKER_OF_A_KILLED_PARENT,
                               str(workspace.root)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    try:
        worker = psutil.Process(int(parent.stdout.readline()))
        assert worker.is_running()
    finally:
        parent.kill()
        parent.wait()
    worker.wait(timeout=30)  # psutil.TimeoutExpired if it outlived its parent


def _cli(home: Path, setting: str) -> tuple[subprocess.CompletedProcess, list[psutil.Process]]:
    """Run `backbone run` as a program; also every worker process seen while it ran."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_API_URL=prefect.settings.PREFECT_API_URL.value(),
               BACKBONE_STAGING_WORKER=setting, BACKBONE_SALT_RIVERBEND="worker-test-salt-" * 3,
               PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--home", str(home)],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    workers: dict[int, psutil.Process] = {}
    reader = threading.Thread(target=lambda: setattr(process, "out", process.communicate()))
    reader.start()
    while reader.is_alive():
        try:
            for pid in _worker_pids(process.pid) - set(workers):
                workers[pid] = psutil.Process(pid)
        except psutil.Error:
            pass
        time.sleep(0.05)
    reader.join()
    stdout, stderr = process.out
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return done, list(workers.values())


@pytest.mark.usefixtures("prefect_harness")
def test_the_cli_stages_in_workers_with_the_same_outputs_as_in_process(tmp_path):
    from benchmarks.worker_ab import outputs

    source = Workspace(tmp_path / "source").add_definitions()
    _fill(source)
    # Rejected while staged (a header, no rows): the worker's answer goes to the report too.
    sample = SAMPLES / "riverbend_schools" / "RUSD_outcomes_2025.csv"
    header = sample.read_bytes().split(b"\n")[0] + b"\n"
    (source.intake / "riverbend" / "riverbend_schools" / "RUSD_2026.csv").write_bytes(header)
    home = tmp_path / "home"
    seen = {}
    began = time.time()  # both nights' own timestamps are masked from here on
    for setting in ("off", "on"):
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(source.root, home, symlinks=True)
        done, workers = _cli(home, setting)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "Traceback" not in done.stderr and "leaked" not in done.stderr, done.stderr
        assert done.stderr.count("staged 'riverbend_schools'/'RUSD_outcomes_202") == 2
        assert len(workers) == (2 if setting == "on" else 0)
        assert not [w for w in workers if w.is_running()]  # no worker outlives the command
        seen[setting] = outputs(home, began)
    assert seen["on"] == seen["off"]
    assert seen["on"]["table main.submissions"][0] == len(FILES) + 1
    assert any(key.endswith("RUSD_2026.csv.report.md") for key in seen["on"])



def test_a_worker_that_died_idle_is_replaced_without_failing_the_next_file(workspace,
                                                                          monkeypatch):
    _fill(workspace, FILES[:1])
    monkeypatch.setenv("BACKBONE_SALT_RIVERBEND", "worker-test-salt-" * 3)
    workers = staging_worker.Workers(str(workspace.root), ["riverbend"], 1)
    try:
        executor = workers._all[0]
        executor.submit(time.sleep, 0).result()  # up and idle
        for pid in _worker_pids():
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not executor._broken and time.monotonic() < deadline:  # the pool has noticed
            time.sleep(0.01)
        assert executor._broken
        partner, name = FILES[0]
        staged = workers.stage("riverbend", partner,
                               str(workspace.intake / "riverbend" / partner / name))
        assert staged.status == "staged" and staged.rows_loaded == 3000
        assert len(workers._all) == 2
    finally:
        workers.close()
    assert not _worker_pids()


@pytest.mark.usefixtures("prefect_harness")
def test_the_worker_benchmark_runs_both_ways_and_compares(tmp_path, monkeypatch):
    from benchmarks import worker_ab

    source = Workspace(tmp_path / "source").add_definitions()
    _fill(source, FILES[:2])
    monkeypatch.setenv("BACKBONE_SALT_RIVERBEND", "worker-test-salt-" * 3)
    text = worker_ab.main(["--source", str(source.root), "--case", "night", "--rounds", "1",
                           "--variant", "worker-on=BACKBONE_STAGING_WORKER=on",
                           "--variant", "worker-off=BACKBONE_STAGING_WORKER=off",
                           "--work", str(tmp_path / "work"),
                           "--api-url", prefect.settings.PREFECT_API_URL.value()])
    assert "| night | worker-on |" in text and "| night | worker-off |" in text
    assert "identical between the trees in every round" in text
