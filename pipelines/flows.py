"""Prefect flows: wire the stages into tasks. No pipeline logic lives here.

`nightly` maps one `stage-file` task per waiting file (parallel; on Dask workers with `--dask`;
in warm worker processes when `backbone run` started them: `pipelines/staging_worker.py`), then
runs one warehouse step per initiative in the flow process: the DuckDB warehouse
has a single writer.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

from pipelines.process_memory import freeze_imports, limit_malloc_arenas  # noqa: E402

limit_malloc_arenas()  # before Prefect starts any thread (see pipelines/process_memory.py)

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from prefect.states import Failed  # noqa: E402

from pipelines.quiet_logs import quiet_third_party_logs  # noqa: E402

quiet_third_party_logs()  # before the first flow call starts a temporary Prefect server

from pipelines import ingest, part_changes, staging_worker, unlisted, warehouse  # noqa: E402
from pipelines.ingest import published_on  # noqa: E402
from pipelines.config import ConfigError, Workspace  # noqa: E402
from pipelines.discover import arriving, discover  # noqa: E402
from pipelines.escape import log_text, one_line  # noqa: E402
from pipelines.intake import StagedFile, stage_file  # noqa: E402
from pipelines.lock import workspace_lock  # noqa: E402
from pipelines.publish import crosswalk_reading_notes, is_current  # noqa: E402
from pipelines.refresh import measure_and_publish, refresh_status  # noqa: E402
from pipelines.run_summary import (NightNeedsAttention, attention_needed,  # noqa: E402
                                   run_summary_markdown)
from pipelines.snapshot import snapshot_warehouse  # noqa: E402
from pipelines.standardize import SaltMissing, ensure_salt, read_salt  # noqa: E402
from pipelines.status_text import status_artifacts  # noqa: E402

freeze_imports()


def new_run_id() -> str:
    return f"{dt.datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@task(name="stage-file", task_run_name="stage {partner_id}/{file_name}")
def stage_file_task(home: str, initiative_id: str, partner_id: str, path: str,
                    file_name: str) -> StagedFile:
    workers = staging_worker.active()
    if workers is not None and workers.home == str(Path(home).resolve()):
        # `backbone run` started warm workers for this night (pipelines/staging_worker.py).
        staged = workers.stage(initiative_id, partner_id, path)
    else:
        workspace = Workspace.resolve(home)
        config = workspace.load(initiative_id)
        salt = read_salt(workspace, initiative_id)
        staged = stage_file(Path(path), config, partner_id, salt, workspace.staging)
    # One line per file as it is staged: a night of large files otherwise shows nothing for
    # minutes before the warehouse step's summary.
    # `file_name` is already one line (for the task's name): the log escapes the name itself.
    get_run_logger().info("staged %s/%s: %s", log_text(partner_id), log_text(Path(path).name),
                          staged_progress(staged))
    return staged


def staged_progress(staged: StagedFile) -> str:
    if staged.status == "rejected":
        return "will be rejected (see its report)"
    if staged.status == "unsettled":
        return "still changing while read; left in intake for the next run"
    return (f"{staged.rows_read:,} rows read, {staged.rows_loaded:,} to load, "
            f"{staged.rows_quarantined:,} set aside")


@task(name="warehouse-step", task_run_name="warehouse {initiative_id}")
def warehouse_task(home: str, initiative_id: str, staged: list[StagedFile],
                   refused: list[tuple[str, str, dict]], run_id: str) -> dict:
    """Load or reject every file, then rebuild marts and publish, all in this one process."""
    logger = get_run_logger()
    workspace = Workspace.resolve(home)
    config = workspace.load(initiative_id)
    con = warehouse.connect(workspace.warehouse_file,
                            wait_seconds=warehouse.night_wait_seconds())
    try:
        warehouse.ensure_initiative_tables(con, config)
        settled: list = []
        try:
            ingest.settle_all(con, workspace, config, staged, refused, run_id, answered=settled)
        except Exception as exc:  # noqa: BLE001 - told below, with what was answered before it
            if not settled:
                raise  # nothing answered: the flow says "not loaded" (files all in intake)
            # Earlier partners' files are loaded, archived and reported (each partner its own
            # transaction): "not loaded" with none of them listed would hide what counts.
            for item in staged:
                ingest.drop_staging(item)
            error = (f"the warehouse step failed ({type(exc).__name__}: {exc}) after answering "
                     "the files listed; the other files stay in intake for the next run and "
                     "the last publication stands")
            logger.error("%s: %s", initiative_id, log_text(error))
            return {"initiative": initiative_id, "files": [o.__dict__ for o in settled],
                    "error": error, "error_kind": "partly loaded, not published"}
        for outcome in settled:
            log = logger.warning if outcome.status in ("rejected", "held") else logger.info
            log("%s/%s: %s %s", log_text(outcome.partner_id), log_text(outcome.file_name),
                outcome.status, log_text(outcome.reasons) if outcome.reasons else "")
        # Rows of partners initiative.yaml no longer lists do not count: never silently.
        notices = [item["note"] for item in unlisted.not_counted(con, config)]
        # A crosswalk change that rows already loaded do not follow: never silently either.
        notices += crosswalk_reading_notes(workspace, config)
        for line in notices:
            logger.warning("%s: %s", initiative_id, log_text(line))

        note, shown = None, {}
        try:
            # An accepted held file changes current data without a new submission
            # (part_changes.py).
            if is_current(con, workspace, config) and not part_changes.unpublished(con, config):
                published = workspace.published(initiative_id)
                cells, counts = 0, {"unchanged": True}
                note = f"nothing new; the published version of {published_on(published)} stands"
                if refresh_status(con, workspace, config, run_id) is not None:
                    note += " (its submission status changed and was republished)"
                logger.info("%s: %s (%s)", initiative_id, note, published)
            else:
                refreshed = measure_and_publish(con, workspace, config, run_id)
                cells, counts, published = (refreshed.cells, refreshed.suppressed,
                                            refreshed.published)
                shown = refreshed.shown
                logger.info("%s: %d cells, suppressed %s, published %s", initiative_id, cells,
                            counts, published)
        except ConfigError as exc:
            # The files are loaded and kept; only measuring waits for the definitions (e.g. a
            # period before the first poverty-guideline year). The last publication stands.
            logger.error("%s: not measured or published: %s", initiative_id, exc)
            return {"initiative": initiative_id, "files": [o.__dict__ for o in settled],
                    "error": str(exc), "error_kind": "not measured", "notices": notices}
        except Exception as exc:  # noqa: BLE001 - a disk, a bug, after every file was answered
            # The files above are loaded or rejected, archived and reported: "not loaded" with
            # none of them listed would send the data lead to an empty intake folder. A version
            # not published leaves the data version stale, so the next run publishes it.
            error = (f"measuring or publishing failed ({type(exc).__name__}: {exc}); the files "
                     "listed were answered and stay answered; the next run measures and "
                     "publishes what this one could not")
            logger.error("%s: %s", initiative_id, log_text(error))
            return {"initiative": initiative_id, "files": [o.__dict__ for o in settled],
                    "error": error, "error_kind": "not published", "notices": notices}
    finally:
        warehouse.close(con)  # seals the file for the snapshot's ledger (snapshot_ledger)
    return {"initiative": initiative_id, "files": [o.__dict__ for o in settled],
            "cells": cells, "suppressed": counts, "published": str(published), "note": note,
            "published_cells": shown, "notices": notices}


@flow(name="nightly", log_prints=True)
def nightly(home: str | None = None, initiative: str | None = None) -> list[dict]:
    """Ingest every waiting partner file, then measure, suppress and publish each initiative.

    The whole run holds the workspace lock: a second run on the same home (or an accept or a
    release) stops with `WorkspaceLocked` before it reads or moves anything. A night that needs
    a data lead (run_summary.attention_needed) ends Failed; called from Python it raises
    `NightNeedsAttention`, which carries the summaries."""
    workspace = Workspace.resolve(home)
    with workspace_lock(workspace, purpose="run"):
        return _nightly_locked(workspace, initiative)


def _nightly_locked(workspace: Workspace, initiative: str | None) -> list[dict]:
    logger = get_run_logger()
    run_id = new_run_id()
    initiatives = [initiative] if initiative else workspace.initiative_ids()
    summaries = []
    for initiative_id in initiatives:
        try:
            config = workspace.load(initiative_id)
        except ConfigError as exc:
            logger.error("initiative %s skipped: its definitions are invalid:\n%s", initiative_id, exc)
            # Said first (the attention line is cut at 300 characters): files are waiting.
            left = len(staging_worker.waiting(workspace, initiative_id).get(initiative_id, []))
            waiting = (f"{left} file(s) wait in its intake folder until they are fixed; "
                       if left else "")
            summaries.append({"initiative": initiative_id, "error": f"{waiting}{exc}"})
            staging_worker.staged(initiative_id)  # nothing of it will be staged
            continue
        try:
            ensure_salt(workspace, initiative_id)
        except SaltMissing as exc:
            logger.error("initiative %s skipped: %s", initiative_id, exc)
            summaries.append({"initiative": initiative_id, "error": str(exc),
                              "error_kind": "salt missing or changed"})
            staging_worker.staged(initiative_id)
            continue
        unreadable: list[tuple[str, str, str]] = []
        found = discover(workspace, config, unreadable)
        still_arriving = arriving(workspace, config, found)
        readable = [f for f in found if f.problem is None]
        refused = [(str(f.path), f.partner_id, f.problem.as_dict()) for f in found if f.problem]
        futures = stage_file_task.map(str(workspace.root), initiative_id,
                                      [f.partner_id for f in readable],
                                      [str(f.path) for f in readable],
                                      [one_line(f.path.name) for f in readable])
        staged = []
        # Not the partner's doing either: named, so the night needs a data lead.
        failed = [{"partner_id": p, "file_name": n, "error": e} for p, n, e in unreadable]
        for item in failed:
            logger.error("%s/%s: %s", log_text(item["partner_id"]), log_text(item["file_name"]),
                         item["error"])
        for found_file, future in zip(readable, futures):
            result = future.result(raise_on_failure=False)
            if isinstance(result, BaseException):
                # Not the partner's doing (out of memory, a bug): the file stays in intake,
                # untouched, for the next run; the other files go on.
                logger.error("%s/%s: not processed, left in intake for the next run: %r",
                             log_text(found_file.partner_id), log_text(found_file.path.name),
                             result)
                failed.append({"partner_id": found_file.partner_id,
                               "file_name": found_file.path.name, "error": repr(result)})
            else:
                staged.append(result)
        staging_worker.staged(initiative_id)
        try:
            summary = warehouse_task(str(workspace.root), initiative_id, staged, refused, run_id)
        except Exception as exc:  # noqa: BLE001 - one initiative must not stop the others
            # Each partner's files are answered in their own transaction (ingest.settle_all):
            # what was committed stays, the rest is still in intake for the next run, as after
            # a crash; the last publication stands.
            logger.error("%s: the warehouse step failed; files it had not answered stay in "
                         "intake for the next run and the last publication stands: %r",
                         initiative_id, exc)
            for item in staged:
                ingest.drop_staging(item)
            summary = {"initiative": initiative_id, "error_kind": "not loaded",
                       "error": f"the warehouse step failed ({type(exc).__name__}: {exc}); "
                                "files it had not answered stay in intake for the next run"}
        summaries.append({**summary, "failed": failed, "arriving": still_arriving})
    stale = None
    if workspace.warehouse_file.exists():
        try:
            snapshot_warehouse(workspace)
        except Exception as exc:  # noqa: BLE001 - e.g. the disk full or the folder read-only
            # Everything is loaded, answered and published by now: the night's summary must
            # still be reported; only the analysts' copy waits for the next run.
            logger.error("the analysts' snapshot was not refreshed: %r", exc)
            stale = (f"the analysts' snapshot was not refreshed ({type(exc).__name__}: {exc}); "
                     "it still shows an earlier night until a run refreshes it")
    _report(summaries, run_id)
    status_artifacts(workspace, [s["initiative"] for s in summaries if "error" not in s])
    attention = "; ".join(filter(None, [attention_needed(summaries), stale])) or None
    if attention:
        # Everything else is loaded and published; the run still shows as failed in the UI,
        # where a data lead would otherwise see a green run that skipped an initiative. A
        # Failed state, not a raise: its message says what to do, with no traceback in the log;
        # a caller of the flow gets the exception, with the night's summaries.
        return Failed(message=attention, data=NightNeedsAttention(attention, summaries))
    return summaries


def nightly_deployment(cron: str, home: Path):
    """The scheduled form of `nightly`, for `prefect.serve` (runs appear in the Prefect UI)."""
    return nightly.to_deployment(name="nightly", cron=cron, parameters={"home": str(home)},
                                 description="Ingest partner files, measure and publish.")


def _report(summaries: list[dict], run_id: str) -> None:
    create_markdown_artifact(run_summary_markdown(summaries, run_id), key="nightly-summary",
                             description="Files received and what happened to each")
