"""One writer per workspace: the lock itself, and a second run refused without touching anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import SAMPLES, drop
from pipelines.config import REPO_ROOT, Workspace
from pipelines.lock import WorkspaceLocked, ensure_free, lock_file, workspace_lock


def _holder(workspace: Workspace, seconds: float, purpose: str = "run") -> subprocess.Popen:
    """Another process holding the lock for `seconds`; returns once it holds it."""
    code = (f"import sys, time\n"
            f"from pipelines.config import Workspace\n"
            f"from pipelines.lock import workspace_lock\n"
            f"with workspace_lock(Workspace.resolve({str(workspace.root)!r}), {purpose!r}):\n"
            f"    print('held', flush=True)\n"
            f"    time.sleep({seconds})\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                               cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert process.stdout.readline() == "held\n"
    return process


def _tree(workspace: Workspace) -> dict[str, bytes]:
    return {str(p.relative_to(workspace.root)): p.read_bytes()
            for p in sorted(workspace.root.rglob("*"))
            if p.is_file() and p != lock_file(workspace)}


def test_a_held_lock_refuses_others_and_names_the_holder(workspace):
    holder = _holder(workspace, 60, purpose="release riverbend")
    try:
        with pytest.raises(WorkspaceLocked, match=rf"busy \(release riverbend by process "
                                                  rf"{holder.pid} .*nothing was changed"):
            with workspace_lock(workspace, purpose="run", wait_seconds=0):
                pass
        with pytest.raises(WorkspaceLocked):
            ensure_free(workspace, wait_seconds=0)
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_command_goes_ahead_once_the_holder_finishes(workspace):
    holder = _holder(workspace, 2)
    started = time.monotonic()
    with workspace_lock(workspace, purpose="run", wait_seconds=60):
        waited = time.monotonic() - started
        assert f"run by process {os.getpid()}" in lock_file(workspace).read_text()
    holder.wait(10)
    assert 0.5 < waited < 30


def test_a_killed_holder_leaves_no_stale_lock(workspace):
    holder = _holder(workspace, 600)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with workspace_lock(workspace, purpose="run", wait_seconds=0):
        pass
    ensure_free(workspace, wait_seconds=0)


def test_the_lock_is_not_reentrant_within_a_process(workspace):
    """Another command in the same process (a release during a run) is busy too."""
    with workspace_lock(workspace, purpose="run"):
        with pytest.raises(WorkspaceLocked):
            with workspace_lock(workspace, purpose="release", wait_seconds=0):
                pass
    with workspace_lock(workspace, purpose="run", wait_seconds=0):  # released on exit
        pass


def test_nightly_while_another_run_holds_the_lock_changes_nothing(workspace, prefect_harness):
    from pipelines.flows import nightly

    sample = sorted((SAMPLES / "riverbend_schools").iterdir())[0]
    drop(workspace, "riverbend_schools", sample.name, sample.read_bytes())
    before = _tree(workspace)
    holder = _holder(workspace, 120)
    try:
        with pytest.raises(WorkspaceLocked, match="busy"):
            nightly(home=str(workspace.root), initiative="riverbend")
    finally:
        holder.kill()
        holder.wait()
    assert _tree(workspace) == before
    assert not workspace.warehouse_file.exists()


def test_backbone_run_while_busy_exits_3_with_the_message_and_changes_nothing(workspace):
    sample = sorted((SAMPLES / "riverbend_schools").iterdir())[0]
    drop(workspace, "riverbend_schools", sample.name, sample.read_bytes())
    before = _tree(workspace)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    with workspace_lock(workspace, purpose="run"):  # the first run, in this process
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--home",
                                 str(workspace.root)], capture_output=True, text=True,
                                env=dict(env, PYTHONPATH=str(REPO_ROOT)), cwd=REPO_ROOT,
                                timeout=300)
        elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stdout + result.stderr[-3000:]
    assert "Not run" in result.stderr and "busy" in result.stderr
    assert f"run by process {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr and "temporary" not in result.stderr
    assert elapsed < 60  # refused before any Prefect server is started
    assert _tree(workspace) == before


def test_accept_on_a_busy_workspace_exits_3_like_run(workspace):
    from typer.testing import CliRunner

    from pipelines.cli import app

    held = workspace.path("data", "archive", "riverbend", "riverbend_schools", "x.csv")
    held.parent.mkdir(parents=True)
    held.write_text("person_id,period\n")
    with workspace_lock(workspace, purpose="run"):
        outcome = CliRunner().invoke(app, ["accept", str(held), "--home", str(workspace.root)])
    assert outcome.exit_code == 3 and "busy" in outcome.output
