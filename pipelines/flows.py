"""Prefect flows: wire the stages into tasks. No pipeline logic lives here.

`nightly` maps one `stage-file` task per waiting file (parallel, and on Dask workers with
`--dask`), then runs one warehouse step per initiative in the flow process: the DuckDB warehouse
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

from pipelines import ingest, warehouse  # noqa: E402
from pipelines.config import ConfigError, Workspace  # noqa: E402
from pipelines.discover import discover  # noqa: E402
from pipelines.disparities import compute_disparities  # noqa: E402
from pipelines.intake import StagedFile, stage_file  # noqa: E402
from pipelines.measure import build_indicator_cells  # noqa: E402
from pipelines.publish import is_current, publish, snapshot_warehouse  # noqa: E402
from pipelines.standardize import ensure_salt, read_salt  # noqa: E402
from pipelines.suppress import suppress_cells  # noqa: E402

freeze_imports()


def new_run_id() -> str:
    return f"{dt.datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@task(name="stage-file", task_run_name="stage {partner_id}/{file_name}")
def stage_file_task(home: str, initiative_id: str, partner_id: str, path: str,
                    file_name: str) -> StagedFile:
    workspace = Workspace.resolve(home)
    config = workspace.load(initiative_id)
    salt = read_salt(workspace, initiative_id)
    return stage_file(Path(path), config, partner_id, salt, workspace.staging)


@task(name="warehouse-step", task_run_name="warehouse {initiative_id}")
def warehouse_task(home: str, initiative_id: str, staged: list[StagedFile],
                   refused: list[tuple[str, str, dict]], run_id: str) -> dict:
    """Load or reject every file, then rebuild marts and publish, all in this one process."""
    logger = get_run_logger()
    workspace = Workspace.resolve(home)
    config = workspace.load(initiative_id)
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        settled = []
        for path, partner_id, problem in refused:
            blank = StagedFile(initiative_id, partner_id, path, Path(path).name)
            settled.append(ingest.reject(con, workspace, config, blank, run_id,
                                         [ingest.Problem(**problem)]))
        for item in staged:
            earlier = ingest.check_seen(con, config, item)
            if isinstance(earlier, ingest.Settled):
                settled.append(earlier)
                continue
            if isinstance(earlier, ingest.Problem):
                item.status, item.problems = "rejected", [earlier.as_dict()]
            settled.append(ingest.settle(con, workspace, config, item, run_id))
        for outcome in settled:
            log = logger.info if outcome.status != "rejected" else logger.warning
            log("%s/%s: %s %s", outcome.partner_id, outcome.file_name, outcome.status,
                outcome.reasons)

        if is_current(con, workspace, config):
            published = workspace.published(initiative_id)
            cells, counts = 0, {"unchanged": True}
            logger.info("%s: no new data or definitions; %s stays as published", initiative_id,
                        published)
        else:
            cells = build_indicator_cells(con, config)
            counts = suppress_cells(con, f"{config.id}.indicator_cells",
                                    config.initiative.suppression.threshold)
            compute_disparities(con, f"{config.id}.indicator_cells", f"{config.id}.disparities",
                                dict(config.initiative.reference_groups))
            published = publish(con, workspace, config, run_id)
            logger.info("%s: %d cells, suppressed %s, published %s", initiative_id, cells, counts,
                        published)
    finally:
        con.close()
    return {"initiative": initiative_id, "files": [o.__dict__ for o in settled],
            "cells": cells, "suppressed": counts, "published": str(published)}


@flow(name="nightly", log_prints=True)
def nightly(home: str | None = None, initiative: str | None = None) -> list[dict]:
    """Ingest every waiting partner file, then measure, suppress and publish each initiative."""
    logger = get_run_logger()
    workspace = Workspace.resolve(home)
    run_id = new_run_id()
    initiatives = [initiative] if initiative else workspace.initiative_ids()
    summaries = []
    for initiative_id in initiatives:
        try:
            config = workspace.load(initiative_id)
        except ConfigError as exc:
            logger.error("initiative %s skipped: its definitions are invalid:\n%s", initiative_id, exc)
            summaries.append({"initiative": initiative_id, "error": str(exc)})
            continue
        ensure_salt(workspace, initiative_id)
        found = discover(workspace, config)
        readable = [f for f in found if f.problem is None]
        refused = [(str(f.path), f.partner_id, f.problem.as_dict()) for f in found if f.problem]
        futures = stage_file_task.map(str(workspace.root), initiative_id,
                                      [f.partner_id for f in readable],
                                      [str(f.path) for f in readable],
                                      [f.path.name for f in readable])
        staged, failed = [], []
        for found_file, future in zip(readable, futures):
            result = future.result(raise_on_failure=False)
            if isinstance(result, BaseException):
                # Not the partner's doing (out of memory, a bug): the file stays in intake,
                # untouched, for the next run; the other files go on.
                logger.error("%s/%s: not processed, left in intake for the next run: %r",
                             found_file.partner_id, found_file.path.name, result)
                failed.append({"partner_id": found_file.partner_id,
                               "file_name": found_file.path.name, "error": repr(result)})
            else:
                staged.append(result)
        summary = warehouse_task(str(workspace.root), initiative_id, staged, refused, run_id)
        summaries.append({**summary, "failed": failed})
    if workspace.warehouse_file.exists():
        snapshot_warehouse(workspace.warehouse_file, workspace.snapshot_file)
    _report(summaries, run_id)
    failures = [f for s in summaries for f in s.get("failed", [])]
    if failures:
        # Everything else is loaded and published; the run still shows as failed in the UI.
        raise RuntimeError(f"{len(failures)} file(s) could not be processed and were left in "
                           f"intake: {', '.join(f['file_name'] for f in failures)}")
    return summaries


def nightly_deployment(cron: str, home: Path):
    """The scheduled form of `nightly`, for `prefect.serve` (runs appear in the Prefect UI)."""
    return nightly.to_deployment(name="nightly", cron=cron, parameters={"home": str(home)},
                                 description="Ingest partner files, measure and publish.")


def _report(summaries: list[dict], run_id: str) -> None:
    lines = [f"# backbone nightly run {run_id}", "", "| initiative | partner | file | status | rows "
             "loaded | rows quarantined | reasons |", "|---|---|---|---|---:|---:|---|"]
    for summary in summaries:
        for item in summary.get("files", []):
            lines.append(f"| {summary['initiative']} | {item['partner_id']} | {item['file_name']} "
                         f"| {item['status']} | {item['rows_loaded']} | {item['rows_quarantined']} "
                         f"| {item['reasons'][:200].replace('|', '/')} |")
        for item in summary.get("failed", []):
            lines.append(f"| {summary['initiative']} | {item['partner_id']} | {item['file_name']} "
                         f"| not processed (left in intake) | | | {item['error'][:200]} |")
        if "error" in summary:
            lines.append(f"| {summary['initiative']} | | | definitions invalid | | | "
                         f"{summary['error'][:200]} |")
    create_markdown_artifact("\n".join(lines), key="nightly-summary",
                             description="Files received and what happened to each")
