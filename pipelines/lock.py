"""One writer per workspace: a run, an accept, a release or a rebuild holds `data/.backbone.lock`.

Two runs on one home would stage the same files into the same paths and write contradictory
reports; the second one waits for the first (up to `wait_seconds`) or stops with a message that
says who holds the lock. The lock is an advisory `flock` on an open file, so the kernel releases
it when the holder dies: a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from pipelines.config import Workspace

DEFAULT_WAIT_SECONDS = float(os.environ.get("BACKBONE_LOCK_WAIT_SECONDS", "0"))


class WorkspaceLocked(RuntimeError):
    """Another backbone command is writing this workspace."""


def lock_file(workspace: Workspace) -> Path:
    return workspace.path("data", ".backbone.lock")


@contextlib.contextmanager
def workspace_lock(workspace: Workspace, purpose: str = "run",
                   wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the workspace's writer lock for the duration of the block.

    Not re-entrant, even within one process: a second `workspace_lock` on the same workspace
    while the first is held is "busy" (flock locks belong to an open file, not a process)."""
    handle = _open(workspace)
    try:
        _acquire(handle, workspace, wait_seconds)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{purpose} by process {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the flock


def ensure_free(workspace: Workspace, wait_seconds: float | None = None) -> None:
    """Raise `WorkspaceLocked` now if another command holds the lock (after waiting as
    `workspace_lock` would); the lock is not kept. Lets a command say "busy" before it starts
    anything slow, such as a Prefect server; the command still takes the lock itself."""
    handle = _open(workspace)
    try:
        _acquire(handle, workspace, wait_seconds)
    finally:
        handle.close()


def _open(workspace: Workspace):
    path = lock_file(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a+")


def _acquire(handle, workspace: Workspace, wait_seconds: float | None) -> None:
    wait = DEFAULT_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.seek(0)
                holder = handle.read().strip() or "another backbone command"
                raise WorkspaceLocked(
                    f"{workspace.root}: the workspace is busy ({holder}). Wait for it to "
                    f"finish and run again; nothing was changed.") from None
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
