"""A warm staging worker: a second process that imports Great Expectations while the flow
process imports Prefect.

A night with one new file pays for importing GX (~2.5 CPU s, pure Python) on top of Prefect's
import and engine (~2 s), and both hold the GIL: a thread cannot overlap them, a process can.
`backbone run` (`cli._run`) looks at intake before it imports Prefect; if files wait there, it
starts worker processes ('spawn': never fork a process that has Prefect's threads) whose
initializer imports GX and the staging modules, makes GX's context and loads the initiatives'
definitions, on the second core. The flow's `stage-file` tasks then send their files here (one
worker per file at a time) and the flow process never imports GX. Without workers (scheduled runs
under `prefect serve`, Dask, a flow called directly) files are staged in the task, as before.

- The per-file concurrency limits of `pipelines.intake` hold across processes: the task takes
  its slot in the flow process before it hands the file over.
- A worker that dies (the OOM killer) fails its file's task like any crash: the file is left in
  intake for the next run, its staging folder removed; the next file gets a fresh worker.
- Workers end when staging ends, before the warehouse step; a worker whose parent is gone (killed)
  ends itself within `_WATCH_SECONDS`, well before a rerun can reach staging (Prefect's import
  alone takes longer).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import queue
import shutil
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

# Above this many waiting bytes the night does not use workers: see `benchmarks/RESULTS.md`
# (helper W, session 6) for why large nights stage in the flow process.
WORKER_MAX_BYTES = 64 * 2**20
_WATCH_SECONDS = 0.1
_SETTING = "BACKBONE_STAGING_WORKER"  # "on" / "off" force it (tests, benchmarks); unset: auto
# intake.SMALL_FILE_BYTES and its slot count, not imported: intake imports DuckDB and the
# staging modules, and the workers start before anything slow (a test holds them equal).
SMALL_FILE_BYTES = 8 * 2**20


class WorkerDied(RuntimeError):
    """The staging worker process ended while staging a file (killed, e.g. out of memory)."""


def waiting(workspace, initiative: str | None) -> dict[str, list[int]]:
    """Sizes of the files `discover` would take, per initiative: a directory scan, no
    definitions read (a file it refuses only costs an idle worker)."""
    from pipelines.discover import ACCEPTED_SUFFIXES, is_in_progress, is_settled, settle_seconds

    found: dict[str, list[int]] = {}
    base = workspace.intake
    # Only initiatives the flow will stage: a folder without definitions (retired, misspelled)
    # would keep the workers waiting for it through the warehouse step.
    names = [name for name in ([initiative] if initiative else workspace.initiative_ids())
             if (base / name).is_dir()]
    now, settle = time.time(), settle_seconds()
    for name in names:
        try:
            partners = [p for p in (base / name).iterdir() if p.is_dir() and not p.is_symlink()]
        except OSError:
            continue
        for partner in partners:
            try:
                paths = list(partner.iterdir())
            except OSError:  # gone or unreadable meanwhile: discover answers for it
                continue
            for path in paths:
                if path.suffix.lower() not in ACCEPTED_SUFFIXES or is_in_progress(path):
                    continue
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if path.is_file() and not path.is_symlink() and is_settled(path, now, settle):
                    found.setdefault(name, []).append(info.st_size)
    return found


def worker_count(sizes: list[int]) -> int:
    """One worker per small-file slot in use, one for all the large files (staged one at a
    time); none when nothing waits or the night is large (see WORKER_MAX_BYTES)."""
    setting = os.environ.get(_SETTING, "").lower()
    if not sizes or setting == "off" or (setting != "on" and sum(sizes) > WORKER_MAX_BYTES):
        return 0
    small = sum(1 for size in sizes if size <= SMALL_FILE_BYTES)
    small_slots = int(os.environ.get("BACKBONE_STAGING_CONCURRENCY") or 0) or max(
        1, os.cpu_count() or 2)
    return min(small_slots, small + (1 if small < len(sizes) else 0))


class Workers:
    """Single-process pools, one per worker: a worker's death is its own file's alone."""

    def __init__(self, home: str, initiatives: list[str], count: int):
        self.home, self.pending = home, set(initiatives)
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._all: list[concurrent.futures.ProcessPoolExecutor] = []
        self._lock = threading.Lock()
        for _ in range(count):
            self._idle.put(self._new())

    def _new(self) -> concurrent.futures.ProcessPoolExecutor:
        executor = concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=_initialize,
            initargs=(os.getpid(), self.home, sorted(self.pending)))
        executor.submit(os.getpid)  # start it now: the initializer runs while Prefect imports
        with self._lock:
            self._all.append(executor)
        return executor

    def stage(self, initiative_id: str, partner_id: str, path: str):
        from pipelines.intake import slots_for

        with slots_for(Path(path)):
            executor = self._idle.get()
            try:
                if executor is None:  # its predecessor died: a fresh one for this file
                    executor = self._new()
                try:
                    future = executor.submit(_stage, self.home, initiative_id, partner_id, path)
                except BrokenProcessPool:  # it died idle, known before this file was sent
                    executor.shutdown(wait=False)
                    executor = self._new()
                    future = executor.submit(_stage, self.home, initiative_id, partner_id, path)
                return future.result()
            except BrokenProcessPool:
                executor.shutdown(wait=False)
                executor = None
                _remove_staging_folder(self.home, path)
                raise WorkerDied("the staging worker process ended while staging this file "
                                 "(killed, e.g. out of memory)") from None
            finally:
                self._idle.put(executor)

    def staged(self, initiative_id: str) -> bool:
        """Say an initiative's files are staged; True when no other initiative of the run still
        has files for the workers (they can go)."""
        self.pending.discard(initiative_id)
        return not self.pending

    def close(self) -> None:
        with self._lock:
            executors, self._all = self._all, []
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)


_workers: Workers | None = None


def start(workspace, initiative: str | None) -> Workers | None:
    """Start the workers if files wait (`cli._run`, before Prefect is imported)."""
    global _workers
    found = waiting(workspace, initiative)
    count = worker_count([size for sizes in found.values() for size in sizes])
    if count:
        from pipelines.process_memory import limit_malloc_arenas

        limit_malloc_arenas()  # before the pools' threads start (see pipelines/process_memory.py)
        _workers = Workers(str(workspace.root), sorted(found), count)
    return _workers


def active() -> Workers | None:
    return _workers


def staged(initiative_id: str) -> None:
    """The flow has every file of this initiative staged: stop the workers once none is needed,
    so their memory is back before the warehouse step."""
    if _workers is not None and _workers.staged(initiative_id):
        stop()


def stop() -> None:
    global _workers
    workers, _workers = _workers, None
    if workers is not None:
        workers.close()


def _remove_staging_folder(home: str, path: str) -> None:
    # What `intake.stage_file` removes itself after a crash it survives: the folder is this
    # source path's alone.
    from pipelines.config import Workspace
    from pipelines.intake import staging_folder

    shutil.rmtree(staging_folder(Workspace.resolve(home).staging, path), ignore_errors=True)


# --- in the worker process -------------------------------------------------------------------

_configs: dict[tuple[str, str], object] = {}


def _initialize(parent: int, home: str, initiatives: list[str]) -> None:
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()
    from pipelines.process_memory import limit_malloc_arenas

    limit_malloc_arenas()
    from pipelines import gx_duckdb  # imports GX, quiets its logs, freezes the imports
    from pipelines import intake  # noqa: F401  (the staging modules)

    gx_duckdb.context()
    for initiative_id in initiatives:
        try:
            _config(home, initiative_id)
        except Exception:  # noqa: BLE001 - the flow reports invalid definitions itself
            pass
    import atexit

    # Registered last, so it runs first at exit: the interpreter's teardown with GX loaded
    # costs 0.5-0.9 s and DuckDB's bindings would print leak reports (pipelines/process_end.py).
    # Every staging connection is closed when its file is done.
    atexit.register(_end_now)


def _end_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)  # the flow process is gone (killed): nothing will read this worker's result


def _config(home: str, initiative_id: str):
    config = _configs.get((home, initiative_id))
    if config is None:
        from pipelines.config import Workspace

        config = _configs[(home, initiative_id)] = Workspace.resolve(home).load(initiative_id)
    return config


def _stage(home: str, initiative_id: str, partner_id: str, path: str):
    from pipelines.config import Workspace
    from pipelines.intake import stage_file
    from pipelines.standardize import read_salt

    workspace = Workspace.resolve(home)
    config = _config(home, initiative_id)
    try:
        return stage_file(Path(path), config, partner_id, read_salt(workspace, initiative_id),
                          workspace.staging)
    except Exception as exc:
        raise _picklable(exc) from None


def _picklable(exc: Exception) -> Exception:
    """`exc`, or an error that carries its type, message and traceback when it cannot cross back
    to the flow process: an exception whose __init__ takes other arguments than it stores (a
    dozen of Great Expectations' do) fails to unpickle, which breaks the pool and would read as
    a killed worker."""
    import pickle
    import traceback

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure to cross is the same failure
        return RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}\n"
                            + "".join(traceback.format_exception(exc)))
