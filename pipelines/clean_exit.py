"""Let DuckDB's Python objects go before the interpreter's last moments.

DuckDB's bindings (nanobind) check at the very end of interpreter shutdown that every object they
made is gone, and print a "leaked instances" report for those still alive: ~45 lines after every
backbone command, the last without a newline. Three things kept them alive:

- SQLAlchemy's `lru_cache`s on dialect methods held every GX engine's dialect and, in its
  result-processor memo, DuckDB column types: `gx_duckdb._forget_dialects` empties them.
- `gc.freeze()` (`process_memory.freeze_imports`) puts DuckDB's module objects where the last
  collection never looks: `process_memory` thaws them at exit.
- With Great Expectations and duckdb_engine both imported, DuckDB's own modules (`duckdb`,
  `duckdb.sqltypes`, `_duckdb`, ...) still hold their type constants and classes when the check
  runs: emptying those module namespaces at exit (below) releases them. Nothing is lost: the
  process is ending, and every exit handler that could still want DuckDB runs before this one.
"""

from __future__ import annotations

import atexit
import gc
import sys

_registered = False


def _empty_duckdb_modules() -> None:
    # Whoever froze objects (gx_duckdb, process_memory) may have registered its thaw after this
    # handler, so it would run too late: thaw here too, or frozen DuckDB objects are reported.
    # One collection, after the namespaces are emptied, frees what a first one would have: a
    # full collection with GX loaded costs ~0.15 s of every command's exit.
    gc.unfreeze()
    for name, module in list(sys.modules.items()):
        if module is None or not (name in ("duckdb", "_duckdb") or
                                  name.startswith(("duckdb.", "_duckdb."))):
            continue
        namespace = getattr(module, "__dict__", None)
        if namespace is None:
            continue
        for key in [k for k in namespace if not (k.startswith("__") and k.endswith("__"))]:
            namespace.pop(key, None)
    gc.collect()


def release_duckdb_at_exit() -> None:
    """Register the clean-up once; call it before importing DuckDB's users (GX, duckdb_engine) so
    that, exit handlers running last-registered first, theirs run before it."""
    global _registered
    if not _registered:
        atexit.register(_empty_duckdb_modules)
        _registered = True
