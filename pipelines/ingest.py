"""The warehouse step: give every discovered file exactly one ending, safely and re-runnably.

Endings: `loaded` and `held` (archived; held files count only after `backbone accept`),
`duplicate` (the same bytes this partner already sent: archived under `duplicates/`, answered
"already received"), `rejected` (moved to rejected/ with a reason).

Order of effects, chosen so a crash at any point loses nothing and a rerun finishes the job:
1. a file whose bytes this partner already sent, with a submission whose file never reached its
   recorded place, is that submission's interrupted move: the move (and a missing report) is
   completed instead; otherwise it is a duplicate;
2. one partner's new files of the run are loaded in ONE transaction that also records where each
   will be archived and applies what they mean for the partner's earlier data (resubmission.py);
3. only then are the reports written and the files moved (never overwriting).
A rejected file gets its reason written next to where it is going before it moves, and the staging
database (raw ids included) is deleted before its file leaves intake, where a rerun still finds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines import (feedback, part_changes, resubmission, resubmission_listed,
                       resubmission_report, warehouse)
from pipelines.config import InitiativeConfig, Workspace
from pipelines.escape import md_code, md_text
from pipelines.intake import StagedFile, identity_of, unchanged_since_staging
from pipelines.problems import Problem
from pipelines.status_text import still_due_section


@dataclass(frozen=True)
class Settled:
    file_name: str
    partner_id: str
    status: str  # loaded | held | duplicate | rejected | recovered | unsettled (left in intake)
    rows_loaded: int
    rows_quarantined: int
    reasons: str
    report: str | None


def check_seen(con: duckdb.DuckDBPyConnection, workspace: Workspace, config: InitiativeConfig,
               staged: StagedFile, run_id: str, taken: set[Path]) -> Settled | None:
    """Settle a file whose bytes this partner sent before; None for a new file."""
    if not staged.sha256:
        return None
    earlier = warehouse.earlier_submissions(con, config.id, staged.partner_id, staged.sha256)
    for row in earlier:
        stored = Path(row[4]) if row[4] else None
        if stored and not (stored.exists() or stored.is_symlink()):
            return _complete_move(con, workspace, config, staged, row)
    kept = [row for row in earlier if row[1] in ("loaded", "held")]
    if not kept:
        return None
    latest = kept[-1]
    replaced = 0
    if latest[1] == "loaded":
        rows, replaced = _replaced_since(con, config, staged.partner_id, latest[0])
        if rows and replaced == rows:
            # Every row of the earlier copy was since replaced by later files: sent again, it is
            # the newest file, and the newest row counts (a partner undoing a wrong correction).
            return None
    return _duplicate(con, workspace, config, staged, run_id, latest, taken, replaced)


def _replaced_since(con, config: InitiativeConfig, partner_id: str,
                    submission_id: int) -> tuple[int, int]:
    """(rows, rows no longer current) of a loaded submission."""
    table = resubmission.layout_for(config, partner_id).table
    return con.execute(
        f"SELECT count(*), count(*) - (SELECT count(*) FROM {table}_current "
        f"WHERE submission_id = $id) FROM {table} WHERE submission_id = $id",
        {"id": submission_id}).fetchall()[0]


def _complete_move(con, workspace: Workspace, config: InitiativeConfig, staged: StagedFile,
                   row: tuple) -> Settled:
    """The run that recorded this submission died before moving its file (and maybe before its
    report): finish both, exactly as that run would have."""
    submission_id, status, _, _, stored_path, report_path = row
    stored = Path(stored_path)
    person = config.schema_for(staged.partner_id).role_column("person_id")
    rows = [] if status == "duplicate" else feedback.bad_rows(staged.staged_db, person)
    drop_staging(staged)
    if not report_path:
        reasons = con.execute("SELECT reasons FROM submissions WHERE submission_id = ?",
                              [submission_id]).fetchall()[0][0]
        changes = [] if status == "duplicate" else \
            part_changes.recorded_changes(con, config, submission_id)
        sections = _duplicate_sections(reasons) if status == "duplicate" else \
            _sections(con, workspace, config, staged, status, stored, changes,
                      _judged_with(con, submission_id, changes),
                      unmatched=resubmission_listed.unmatched(con, config, [submission_id])
                      .get(submission_id, 0))
        report = _write(workspace, staged, status, rows, stored, sections)
    warehouse.move_file(Path(staged.source_path), stored, staged.source_identity or None)
    if not report_path:
        warehouse.set_report_path(con, submission_id, report)
    # The run that stopped printed nothing: this line is the data lead's only word on what the
    # file did (tonight's columns stay 0: nothing more was loaded).
    loaded, quarantined = con.execute("SELECT rows_loaded, rows_quarantined FROM submissions "
                                      "WHERE submission_id = ?", [submission_id]).fetchall()[0]
    what = {"loaded": f"loaded ({loaded or 0:,} rows, {quarantined or 0:,} set aside)",
            "held": "held for review: nothing from it counts until backbone accept "
                    + _accept_hint(workspace, stored)}.get(status, status)
    return Settled(staged.file_name, staged.partner_id, "recovered", 0, 0,
                   f"completed the archive move of submission {submission_id}, {what} by a run "
                   "that stopped before moving it", None)


def _judged_with(con, submission_id: int, changes: list) -> list[str]:
    """The other files of the same night judged with this one, as the interrupted run's report
    named them: without them a recovered report credits one small campus file with replacing
    the whole period."""
    ids = sorted({i for c in changes for i in c.submission_ids} - {submission_id})
    if not ids:
        return []
    names = dict(con.execute("SELECT submission_id, file_name FROM submissions WHERE "
                             f"submission_id IN ({', '.join(map(str, ids))})").fetchall())
    return [names[i] for i in ids if i in names]


def _duplicate(con, workspace: Workspace, config: InitiativeConfig, staged: StagedFile,
               run_id: str, original: tuple, taken: set[Path], replaced: int = 0) -> Settled:
    """Already received: no rows, no quarantine counts; the bytes are kept under duplicates/
    (a partner may have renamed the file; nothing a partner sends is deleted). `replaced`: rows
    of the earlier copy that later files have since replaced."""
    _, status, name, received_at, _, _ = original
    drop_staging(staged)
    stored = warehouse.destination(workspace, staged, "duplicate", dt.datetime.now(), taken)
    where = HELD if status == "held" else "loaded"
    reasons = (f"already received on {received_at:%Y-%m-%d} as {name!r} ({where}); nothing new "
               "was added")
    if replaced:
        reasons += (f"; {replaced:,} of its rows {REPLACED} by later files, which count "
                    "instead")
    # Recorded first: a crash before the move leaves a submission whose file a rerun moves.
    submission_id = warehouse.record_submission(con, staged, "duplicate", run_id, stored,
                                                "duplicate_file", reasons)
    report = _write(workspace, staged, "duplicate", [], stored, _duplicate_sections(reasons))
    # Changed since it was read: a newer upload under the name waits in intake for the next run.
    warehouse.move_file(Path(staged.source_path), stored, staged.source_identity or None)
    warehouse.set_report_path(con, submission_id, report)
    return Settled(staged.file_name, staged.partner_id, "duplicate", 0, 0, reasons, str(report))


HELD = "held for review"
REPLACED = "have since been replaced"


def _duplicate_sections(reasons: str) -> list[str]:
    if f"({HELD})" in reasons:  # the first copy is not applied: saying "as before" would mislead
        return [f"**This exact file was {md_text(reasons)}.** That copy is still held: it would "
                "remove many rows from a period, so nothing from it counts until the backbone "
                "team accepts it (`backbone accept`). Sending it again does not change that; "
                "the team has its report. If rows are missing by mistake, export the full "
                "period again.", ""]
    if REPLACED in reasons:  # part of it no longer counts: "as before" would mislead
        return [f"**This exact file was {md_text(reasons)}.** Sending it again does not bring "
                "those rows back. If this file should count again as it is, tell the backbone "
                "team; if the data changed, export it again.", ""]
    return [f"**This exact file was {md_text(reasons)}.** Your data is as before; nothing "
            "needs doing. If the data changed, export it again.", ""]


def settle_partner(con: duckdb.DuckDBPyConnection, workspace: Workspace,
                   config: InitiativeConfig, files: list[StagedFile], run_id: str,
                   taken: set[Path]) -> list[Settled]:
    """Load one partner's new staged files of this run as one submission, then answer each."""
    kept, files, changed = _keep_open(files)
    try:
        return [_unsettled(item) for item in changed] + (
            _settle_partner(con, workspace, config, files, run_id, taken, kept) if files else [])
    finally:
        for descriptor in kept.values():
            os.close(descriptor)


def _keep_open(files: list[StagedFile]) -> tuple[dict[int, int], list[StagedFile],
                                                 list[StagedFile]]:
    """({id(file): descriptor}, files to load, files changed since staging), each file opened
    as it was read: the partner may delete or replace it while the night loads it, and its
    bytes must still reach the archive (warehouse.move_file)."""
    kept, keep, changed = {}, [], []
    for staged in files:
        try:
            descriptor = os.open(staged.source_path, os.O_RDONLY)
        except OSError:
            changed.append(staged)
            continue
        if staged.source_identity and staged.source_identity != identity_of(
                os.fstat(descriptor)):
            os.close(descriptor)
            changed.append(staged)
            continue
        kept[id(staged)] = descriptor
        keep.append(staged)
    return kept, keep, changed


def _unsettled(item: StagedFile) -> Settled:
    drop_staging(item)
    return Settled(item.file_name, item.partner_id, "unsettled", 0, 0, "changed while being "
                   "read; left in intake for the next run", None)


def _settle_partner(con: duckdb.DuckDBPyConnection, workspace: Workspace,
                    config: InitiativeConfig, files: list[StagedFile], run_id: str,
                    taken: set[Path], kept: dict[int, int]) -> list[Settled]:
    now = dt.datetime.now()
    person = config.schema_for(files[0].partner_id).role_column("person_id")
    rows = [feedback.bad_rows(f.staged_db, person) for f in files]
    stored = [warehouse.destination(workspace, f, "loaded", now, taken) for f in files]
    try:
        ids, outcome = warehouse.load_night(con, config, files, run_id, stored)
    finally:
        for staged in files:
            drop_staging(staged)
    names = dict(zip(ids, (f.file_name for f in files)))
    due: dict[dt.date, list[str]] = {}
    settled = []
    for staged, bad, target, submission_id in zip(files, rows, stored, ids):
        status = outcome.status[submission_id]
        changes = outcome.changes[submission_id]
        others = [names[s] for s in outcome.together[submission_id] if s != submission_id]
        # The periods still due are the partner's, read after the load: the same for each of
        # its files of the night (writing a report and moving a file change nothing they read)
        # on the same day, so worked out once, not once per file over all its records.
        today = dt.date.today()
        if today not in due:
            due[today] = still_due_section(con, config, staged.partner_id)
        # The report first: a crash before the move then leaves a report for a file that a rerun
        # archives (check_seen), never an archived file without one.
        report = _write(workspace, staged, status, bad, target,
                        _sections(con, workspace, config, staged, status, target, changes, others,
                                  due[today], outcome.unmatched.get(submission_id, 0)))
        archived = warehouse.move_file(Path(staged.source_path), target,
                                       staged.source_identity or None, kept.get(id(staged)),
                                       staged.sha256)
        warehouse.set_report_path(con, submission_id, report)
        lay = resubmission.layout_for(config, staged.partner_id)
        summary = resubmission_report.summary(changes, status, lay.unit,
                                              _accept_hint(workspace, target))
        if status == "loaded" and not staged.rows_loaded and staged.rows_quarantined:
            # Its tables set aside whole (one bad cell each): "loaded" with no word beside it
            # reads as done, while its report is titled "RECEIVED, BUT NO ROW LOADED".
            summary = (f"no row loaded: all {staged.rows_quarantined:,} rows were set aside "
                       "(see its report); nothing from this file counts")
        if not archived:  # rewritten in place after it was read: the loaded bytes are gone
            summary += ("; the file was rewritten in intake while it was loaded, so the bytes "
                        "loaded could not be archived (the new version is taken next run)")
        settled.append(Settled(
            staged.file_name, staged.partner_id, status,
            staged.rows_loaded if status == "loaded" else 0, staged.rows_quarantined,
            summary, str(report)))
    return settled


def _accept_hint(workspace: Workspace, stored: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(stored.relative_to(workspace.root))
    return str(stored)


def _sections(con, workspace: Workspace, config: InitiativeConfig, staged: StagedFile,
              status: str, stored: Path, changes: list, others: list[str],
              due: list[str] | None = None, unmatched: int = 0) -> list[str]:
    """The report's sections; `due`: the partner's periods still due, when already read;
    `unmatched`: the file's set-aside rows that list no one (resubmission_listed)."""
    lay = resubmission.layout_for(config, staged.partner_id)
    schema = config.schema_for(staged.partner_id)
    return resubmission_report.sections(changes, status, lay.unit, schema.complete_file_share,
                                        others, _accept_hint(workspace, stored),
                                        max_shrink=schema.max_shrink_share,
                                        unmatched=unmatched) \
        + (still_due_section(con, config, staged.partner_id) if due is None else due)


def _write(workspace: Workspace, staged: StagedFile, status: str, rows: list, stored: Path,
           sections: list[str]) -> Path:
    folder = workspace.reports(staged.initiative_id, warehouse.safe_name(staged.partner_id))
    return feedback.write_report(folder, staged, status, rows, stored, sections=sections)


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
           rows: list[tuple] = (), taken: set[Path] | None = None) -> Settled:
    """Move the file aside with a reason file next to it, then record the rejection."""
    staged.status = "rejected"
    stored = warehouse.destination(workspace, staged, "rejected", dt.datetime.now(), taken)
    source = Path(staged.source_path)
    report = feedback.write_report(workspace.reports(config.id, warehouse.safe_name(
        staged.partner_id)), staged, "rejected", list(rows), stored, problems)
    # A crash after the move but before this would leave the file rejected without a word, and out
    # of intake where no rerun looks; a reason written first at worst waits for its file.
    stored.parent.mkdir(parents=True, exist_ok=True)
    reason = report.read_text(encoding="utf-8")
    if feedback.bad_rows_path(report.parent, stored).exists():
        # The report names its rows-to-fix CSV by file name, and that file is beside the report.
        where = report.parent.relative_to(workspace.root)
        reason += f"\nThe rows-to-fix CSV and this report are in {md_code(str(where))}.\n"
    stored.with_name(stored.name + ".reason.md").write_text(reason, encoding="utf-8")
    if source.exists() or source.is_symlink():
        warehouse.move_file(source, stored, staged.source_identity or None)
    reasons = "; ".join(str(p) for p in problems)
    submission_id = warehouse.record_submission(con, staged, "rejected", run_id, stored,
                                                problems[0].rule if problems else None, reasons)
    warehouse.set_report_path(con, submission_id, report)
    return Settled(staged.file_name, staged.partner_id, "rejected", 0, staged.rows_quarantined,
                   reasons, str(report))


def reject_staged(con: duckdb.DuckDBPyConnection, workspace: Workspace, config: InitiativeConfig,
                  staged: StagedFile, run_id: str, taken: set[Path]) -> Settled:
    """A file staging refused: its bad rows still go to the partner, then its staging goes."""
    person = config.schema_for(staged.partner_id).role_column("person_id")
    rows = feedback.bad_rows(staged.staged_db, person)
    drop_staging(staged)
    return reject(con, workspace, config, staged, run_id, [Problem(**p) for p in staged.problems],
                  rows, taken)


def settle_all(con: duckdb.DuckDBPyConnection, workspace: Workspace, config: InitiativeConfig,
               staged: list[StagedFile], refused: list[tuple[str, str, dict]],
               run_id: str, answered: list[Settled] | None = None) -> list[Settled]:
    """Answer every file of one initiative's run: refused, seen before, rejected, or new.
    `answered`, when given, is filled as files are answered: if a later partner's load fails,
    the caller still knows which files were archived and reported before it."""
    taken: set[Path] = set()  # destinations chosen this run, not all moved to yet
    settled = answered if answered is not None else []
    for path, partner_id, problem in refused:
        blank = StagedFile(config.id, partner_id, path, Path(path).name)
        settled.append(reject(con, workspace, config, blank, run_id, [Problem(**problem)],
                              taken=taken))
    new: dict[str, list[StagedFile]] = {}
    repeats, first_copies = [], set()
    for item in staged:
        if item.status == "unsettled" or (item.source_identity
                                          and not unchanged_since_staging(item)):
            # Written to since it was read: what was loaded would not be what is archived.
            settled.append(_unsettled(item))
            continue
        earlier = check_seen(con, workspace, config, item, run_id, taken)
        if earlier is not None:
            settled.append(earlier)
        elif item.status != "staged":
            settled.append(reject_staged(con, workspace, config, item, run_id, taken))
        elif (item.partner_id, item.sha256) in first_copies:
            repeats.append(item)  # the same bytes twice tonight: a duplicate of the first
        else:
            first_copies.add((item.partner_id, item.sha256))
            new.setdefault(item.partner_id, []).append(item)
    for files in new.values():
        settled.extend(settle_partner(con, workspace, config, files, run_id, taken))
    for item in repeats:
        settled.append(check_seen(con, workspace, config, item, run_id, taken)
                       or settle_partner(con, workspace, config, [item], run_id, taken)[0])
    return settled


def published_on(published: Path) -> str:
    """The day the version standing in `published` was made, from its manifest."""
    for manifest in (published / "partnership" / "manifest.json", published / "manifest.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return str(json.loads(manifest.read_text())["generated_at"])[:10]
    return "an earlier run"
