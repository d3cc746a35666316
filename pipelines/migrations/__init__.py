"""Warehouse schema versions and the numbered migrations between them.

The warehouse records its layout version in `backbone_schema` (one row per version it has been
at, with when it got there). A writer (`warehouse.connect`) brings an older warehouse up to
`CURRENT_VERSION` before anything else touches it: the file is first copied aside as
`backbone.duckdb.<version>.bak`, then every migration step from its version on runs in ONE
transaction, so a failure leaves the warehouse exactly as it was. A warehouse newer than this code
is refused: an older backbone cannot know what the newer layout means.

Versions (each is the layout a released backbone wrote; the migration modules name what changed):
- 0: person keys stored as 64-hex TEXT (sha256 of salt ':' id); latest file per partner-period.
- 1: person keys as UHUGEINT (the first 128 bits of the same sha256), released in 318c782.
- 2: resubmission rule (set-aside and superseded rows, held files, duplicates), class inputs
  kept in the record (`class_proxy_value`).
- 3: periods of any grain: `period` is a canonical label (VARCHAR) with `period_type`,
  `period_start` and `period_end`; records carry `race_multi_unspecified`.

A warehouse from before versions were recorded has no `backbone_schema` table: it is version 0 if
a person key is text, otherwise 1 (a version-1 step is written so it is safe on any later layout
too, which covers warehouses written by unreleased code between 1 and 2).
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from types import ModuleType

import duckdb

from pipelines.sql import has_table

CURRENT_VERSION = 3
# One module per step, named for the version it leaves and what it does; each has `migrate(con)`.
STEPS = {0: "m0001_person_keys_as_integers", 1: "m0002_resubmission_rule",
         2: "m0003_period_grains"}


class WarehouseTooNew(RuntimeError):
    """The warehouse was written by a newer backbone than this one."""


class MigrationFailed(RuntimeError):
    """A migration step failed; the warehouse was left as it was (its .bak copy too)."""


def step(version: int) -> ModuleType:
    return importlib.import_module(f"{__name__}.{STEPS[version]}")


def initiative_schemas(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Schemas holding an initiative's records or aggregate cells."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT schema_name FROM duckdb_tables() WHERE database_name = "
        "current_database() AND table_name IN ('records', 'aggregate_counts') "
        "AND schema_name <> 'main' ORDER BY 1").fetchall()]


def version_of(con: duckdb.DuckDBPyConnection) -> int | None:
    """The warehouse's layout version; None for an empty (new) warehouse."""
    if has_table(con, "main", "backbone_schema"):
        return con.execute("SELECT max(version) FROM backbone_schema").fetchall()[0][0]
    if not has_table(con, "main", "submissions"):
        return None
    text_keys = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND "
        "table_name = 'records' AND column_name = 'person_key' AND data_type = 'VARCHAR'"
    ).fetchall()[0][0]
    return 0 if text_keys else 1


def stamp(con: duckdb.DuckDBPyConnection, version: int, how: str) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS backbone_schema (version INTEGER NOT NULL, "
                "reached_at TIMESTAMP NOT NULL, how VARCHAR)")
    con.execute("INSERT INTO backbone_schema VALUES (?, now(), ?)", [version, how])


def backup_path(path: Path, version: int) -> Path:
    return path.with_name(f"{path.name}.{version}.bak")


def too_new_message(path: Path, version: int) -> str:
    return (f"{path} has warehouse schema version {version}, written by a newer backbone; this "
            f"backbone knows versions up to {CURRENT_VERSION}. Install the newer backbone "
            f"(nothing was changed).")


def check_not_newer(path: Path, version: int | None) -> None:
    if version is not None and version > CURRENT_VERSION:
        raise WarehouseTooNew(too_new_message(path, version))


def back_up(path: Path, version: int) -> Path:
    """Copy the closed, checkpointed warehouse aside; an existing copy of the same version is
    the one made before the first attempt, so it is kept, never overwritten."""
    target = backup_path(path, version)
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        partial.replace(target)
    return target


def migrate(con: duckdb.DuckDBPyConnection, path: Path, start: int) -> None:
    """Run every step from `start` to CURRENT_VERSION in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        for version in range(start, CURRENT_VERSION):
            module = step(version)
            module.migrate(con)
            stamp(con, version + 1, f"migrated from {version}: {STEPS[version]}")
        con.execute("COMMIT")
    except BaseException as exc:
        con.execute("ROLLBACK")
        if isinstance(exc, Exception):
            raise MigrationFailed(
                f"{path}: migrating the warehouse from schema version {start} to "
                f"{CURRENT_VERSION} failed, and nothing was changed ({type(exc).__name__}: "
                f"{exc}). The copy made first is {backup_path(path, start)}.") from exc
        raise
    con.execute("CHECKPOINT")
