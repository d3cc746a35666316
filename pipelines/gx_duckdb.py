"""Run Great Expectations in-database on a DuckDB file.

GX (1.x) closes its SQLAlchemy connection between metric queries unless the dialect is listed in
`_PERSISTED_CONNECTION_DIALECTS`, and DuckDB isn't; the symptom is
`MetricResolutionError: list index out of range` (GX issues #10738, #11579). Registering "duckdb"
there makes GX keep one connection, exactly as it does for sqlite. This is the only place that
touches GX internals; `tests/test_gx_duckdb.py` fails loudly if a GX upgrade moves them.
"""

from __future__ import annotations

import gc
import os
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from pipelines.clean_exit import release_duckdb_at_exit  # noqa: E402

release_duckdb_at_exit()  # before GX and duckdb_engine register their own exit handlers

import duckdb  # noqa: E402
import duckdb_engine  # noqa: E402
import great_expectations as gx  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
import sqlalchemy  # noqa: E402
from great_expectations.execution_engine import sqlalchemy_execution_engine as _engine  # noqa: E402
from great_expectations.expectations.expectation import Expectation  # noqa: E402

from pipelines.quiet_logs import quiet_third_party_logs  # noqa: E402

# GX's import leaves ~270,000 objects for the collector, and every validation ends in a full
# collection (see `validate`): 0.2-0.3 s per file, more than validating a 1,000-row file costs.
# Frozen, a collection walks only what was made since. Not collected first (that alone costs as
# much): the little import-time garbage stays. clean_exit thaws everything at exit, so DuckDB's
# objects are collected before its bindings look for leaks.
gc.freeze()

quiet_third_party_logs()  # GX's INFO set-up lines ("ephemeral docs site") stay out of run logs


class _DialectName(str):
    """GX compares dialects both as strings and through `.value`."""

    @property
    def value(self) -> str:
        return str(self)


def install_persisted_connection_shim() -> None:
    current = _engine._PERSISTED_CONNECTION_DIALECTS
    if "duckdb" not in [str(getattr(d, "value", d)) for d in current]:
        _engine._PERSISTED_CONNECTION_DIALECTS = (*current, _DialectName("duckdb"))


def connect(database: Path | str) -> duckdb.DuckDBPyConnection:
    """Open `database` so that GX (through duckdb_engine) can open the same file in this process.

    DuckDB shares one database instance per file inside a process, but only between connections
    with the same configuration, and duckdb_engine always sets a custom user agent. The same holds
    for a named in-memory database (`:memory:<name>`).
    """
    agent = f"duckdb_engine/{duckdb_engine.__version__}(sqlalchemy/{sqlalchemy.__version__})"
    return duckdb.connect(str(database), config={"custom_user_agent": agent})


_context = None
# GX contexts and data-source registries are not thread-safe; stage-file tasks may run in threads.
_lock = threading.RLock()


def context():
    """One ephemeral GX context per process: nothing is written to a gx/ folder."""
    global _context
    if _context is None:
        install_persisted_connection_shim()
        _context = gx.get_context(mode="ephemeral")
        # An ephemeral context keeps nothing, yet GX serializes its whole configuration to YAML
        # (ruamel) on every data-source change: four per validated file, 35 ms of a small
        # file's 250. Data sources live in the context's own registry, not in that YAML.
        _context._save_project_config = _not_saved
        # Per-metric progress bars flood run logs; Prefect already reports progress per file.
        _context.variables.progress_bars = ProgressBarsConfig(globally=False,
                                                              metric_calculations=False)
    return _context


def _not_saved() -> None:
    return None


def validate(database: Path | str, table: str, suite: gx.ExpectationSuite, result_format: dict):
    """Validate a whole DuckDB table or view in-database; the file is released afterwards."""
    with _lock:
        ctx = context()
        name = f"duckdb_{uuid.uuid4().hex[:12]}"
        source = ctx.data_sources.add_sql(name=name, connection_string=f"duckdb:///{database}")
        try:
            asset = source.add_table_asset(name=table, table_name=table)
            batch = asset.add_batch_definition_whole_table("whole_table").get_batch()
            with _configurations_built_once():
                result = batch.validate(suite, result_format=result_format)
        finally:
            engine = source.get_execution_engine()
            if engine._connection is not None:  # the persisted connection the shim asked for
                engine._connection.close()
                engine._connection = None
            engine.close()
            ctx.data_sources.delete(name)
        # GX's batch and metric caches keep the engine, and one of its DuckDB connections, alive
        # in reference cycles: a file stays locked, an in-memory database keeps its memory (300
        # MB after four 100 MB files), until the cycles are collected.
        del batch, asset, source, engine
        _forget_dialects()
        gc.collect()
        return result


@contextmanager
def _configurations_built_once():
    """Build each expectation's `configuration` once per validation, in the validating thread.

    GX rebuilds it (a pydantic `.dict()` and a new ExpectationConfiguration) on every access,
    about 75 times per expectation in one validation: 0.15 s of a 31-rule file's 0.35 s in GX.
    Nothing changes an expectation while it is validated, and GX only reads the configuration
    (it deep-copies it before changing anything). Other threads (building a suite) still get a
    fresh one each time."""
    built = _original_configuration.fget
    validating = threading.get_ident()
    memo: dict[int, tuple] = {}  # id -> (expectation, configuration): keeps ids from reuse

    def configuration(self):
        if threading.get_ident() != validating:
            return built(self)
        hit = memo.get(id(self))
        if hit is None or hit[0] is not self:
            hit = memo[id(self)] = (self, built(self))
        return hit[1]

    saved = Expectation.__dict__["configuration"]
    Expectation.configuration = property(configuration, doc=saved.__doc__)
    try:
        yield
    finally:
        Expectation.configuration = saved


_original_configuration = Expectation.__dict__["configuration"]


def _forget_dialects() -> None:
    """Empty the class-level `lru_cache`s of duckdb_engine's dialect and its bases.

    SQLAlchemy's PostgreSQL dialect, which duckdb_engine's derives from, caches reflection queries
    (`_columns_query`, `_table_oids_query`, ...) with `functools.lru_cache` on methods, keyed by the
    dialect instance: every validation's engine stayed alive, up to 128 of them, and with each the
    DuckDB column types of its results (the dialect's result-processor memo). Those DuckDB objects
    then outlived the duckdb module at interpreter exit, and its bindings (nanobind) printed ~45
    lines of "leaked instances" after every command that had validated a file.
    """
    for klass in duckdb_engine.Dialect.__mro__:
        for attribute in vars(klass).values():
            clear = getattr(attribute, "cache_clear", None)  # functools.lru_cache's wrapper
            if callable(clear):
                clear()
