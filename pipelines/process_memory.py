"""Process-level memory and garbage-collection settings for the flow process.

- Fewer glibc malloc arenas. glibc gives each thread that allocates its own arena (up to 8 per
  core) and does not hand memory freed in one arena to other threads or, mostly, back to the
  system. The nightly flow runs each stage-file task on a new worker thread, so every file left
  its peak behind in a fresh arena: a 1 GB night peaked at 1.52 GB for the process tree, and at
  1.18 GB with two arenas (`benchmarks/RESULTS.md`). It must be set before those threads start;
  `MALLOC_ARENA_MAX` in the environment, which glibc reads at start-up, takes precedence.
- Imports frozen out of garbage collection. Each staged file needs one full collection (GX
  leaves its DuckDB connection in reference cycles: `gx_duckdb.validate`), and with Prefect, GX
  and pandas imported a full collection walks some 350,000 objects (0.19 s). Frozen, it walks
  only what the run created since. They are thawed again at exit: the interpreter's last
  collection skips frozen objects, so DuckDB's module-level objects (type constants, in cycles
  with their module) outlived the module and its bindings (nanobind) printed ~45 lines of
  "leaked instances" after every command.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import gc
import os

M_ARENA_MAX = -8  # from glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; False where that is not possible (not glibc,
    or `MALLOC_ARENA_MAX` is already set)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError, TypeError):  # musl, macOS, Windows: no mallopt
        return False


def freeze_imports() -> None:
    """Move every object alive now (modules, classes, constants) out of the collector's reach.

    Not collected first: that full collection cost 0.13 s of every run, also of a night with
    nothing to stage, to free some 5,000 objects of import-time garbage (as in gx_duckdb)."""
    gc.freeze()
    atexit.register(gc.unfreeze)
