"""The warehouse step: give every discovered file exactly one ending, safely and re-runnably.

Order of effects, chosen so a crash at any point loses nothing and a rerun finishes the job:
1. a file whose sha256 is already loaded is a duplicate; if its archive copy is missing, the earlier
   run died between COMMIT and the move, so the move is completed instead;
2. a staged file is loaded in one transaction that also records where the file will be archived;
3. only then is the file moved (never overwriting), and the partner report written.
A rejected file gets its reason written next to where it is going before it moves, and the staging
database (raw ids included) is deleted before its file leaves intake, where a rerun still finds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines import feedback, warehouse
from pipelines.config import InitiativeConfig, Workspace
from pipelines.intake import StagedFile
from pipelines.problems import Problem


@dataclass(frozen=True)
class Settled:
    file_name: str
    partner_id: str
    status: str  # loaded | rejected | recovered
    rows_loaded: int
    rows_quarantined: int
    reasons: str
    report: str | None


def check_seen(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
               staged: StagedFile) -> Settled | Problem | None:
    """A duplicate as a Problem, a completed interrupted move as Settled, or None for new files."""
    if not staged.sha256:
        return None
    earlier = warehouse.loaded_submission(con, config.id, staged.sha256)
    if earlier is None:
        return None
    submission_id, name, received_at, stored_path = earlier
    if stored_path and not Path(stored_path).exists():
        drop_staging(staged)
        warehouse.move_file(Path(staged.source_path), Path(stored_path))
        return Settled(staged.file_name, staged.partner_id, "recovered", 0, 0,
                       f"completed the archive move of submission {submission_id}", None)
    return Problem("duplicate_file", f"This exact file was already received and loaded on "
                   f"{received_at:%Y-%m-%d} as {name!r} (submission {submission_id}); nothing new "
                   "was added. If the data changed, export it again.")


def settle(con: duckdb.DuckDBPyConnection, workspace: Workspace, config: InitiativeConfig,
           staged: StagedFile, run_id: str) -> Settled:
    now = dt.datetime.now()
    source = Path(staged.source_path)
    person = config.schema_for(staged.partner_id).role_column("person_id")
    rows = feedback.bad_rows(staged.staged_db, person)
    try:
        if staged.status == "staged":
            stored = warehouse.destination(workspace, staged, "loaded", now)
            submission_id = warehouse.load_staged(con, config, staged, run_id, stored)
    finally:
        drop_staging(staged)
    if staged.status != "staged":
        return reject(con, workspace, config, staged, run_id,
                      [Problem(**p) for p in staged.problems], rows)
    # The report first: a crash before the move then leaves a report for a file that a rerun
    # archives (check_seen), never an archived file without one.
    report = feedback.write_report(workspace.reports(config.id, staged.partner_id),
                                   staged, "loaded", rows, stored)
    warehouse.move_file(source, stored)
    warehouse.set_report_path(con, submission_id, report)
    return Settled(staged.file_name, staged.partner_id, "loaded", staged.rows_loaded,
                   staged.rows_quarantined, "", str(report))


def drop_staging(staged: StagedFile) -> None:
    """Delete the file's staging database, and its folder once empty."""
    if not staged.staged_db:
        return
    database = Path(staged.staged_db)
    database.unlink(missing_ok=True)
    Path(staged.staged_db + ".wal").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        database.parent.rmdir()


def reject(con: duckdb.DuckDBPyConnection, workspace: Workspace, config: InitiativeConfig,
           staged: StagedFile, run_id: str, problems: list[Problem],
           rows: list[tuple] = ()) -> Settled:
    """Move the file aside with a reason file next to it, then record the rejection."""
    staged.status = "rejected"
    stored = warehouse.destination(workspace, staged, "rejected", dt.datetime.now())
    source = Path(staged.source_path)
    report = feedback.write_report(workspace.reports(config.id, warehouse.safe_name(
        staged.partner_id)), staged, "rejected", list(rows), stored, problems)
    # A crash after the move but before this would leave the file rejected without a word, and out
    # of intake where no rerun looks; a reason written first at worst waits for its file.
    stored.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(report, stored.with_name(stored.name + ".reason.md"))
    if source.exists() or source.is_symlink():
        warehouse.move_file(source, stored)
    reasons = "; ".join(str(p) for p in problems)
    submission_id = warehouse.record_submission(con, staged, "rejected", run_id, stored,
                                                problems[0].rule if problems else None, reasons)
    warehouse.set_report_path(con, submission_id, report)
    return Settled(staged.file_name, staged.partner_id, "rejected", 0, staged.rows_quarantined,
                   reasons, str(report))
