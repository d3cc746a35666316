"""`backbone`: a thin command line over the library and the Prefect flows."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.config import REPO_ROOT, ConfigError, InitiativeConfig, Workspace
from pipelines.escape import one_line
from pipelines.process_end import CommandLine, end_without_teardown
from pipelines.release_output import show_release
from pipelines.run_output import show_run
from pipelines.run_summary import NightNeedsAttention

app = CommandLine(help="backbone: shared measurement for collective impact initiatives.",
                  no_args_is_help=True, add_completion=False)
# Logs and CI are not terminals; a wider table keeps partner-facing reasons readable there.
console = Console() if sys.stdout.isatty() else Console(width=200)
errors = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=200)
# Exit codes: 0 done; 1 done with problems (invalid definitions, files left in intake, a failed
# run); 2 usage (a wrong option; `schedule` without a Prefect server); 3 the workspace is busy
# with another backbone command (nothing was changed: run again later).
EXIT_BUSY = 3
NO_SERVER = (
    "backbone schedule needs a Prefect server that keeps running, and none is set "
    "(PREFECT_API_URL).\n"
    "Start one in another terminal:\n"
    "    prefect server start\n"
    "then serve the schedule against it:\n"
    "    PREFECT_API_URL=http://127.0.0.1:4200/api backbone schedule\n"
    "Runs then show in the Prefect UI at http://127.0.0.1:4200.")
HOME = typer.Option(None, "--home", envvar="BACKBONE_HOME",
                    help="Workspace root holding indicators/, schemas/ and data/ (default: the repo).")
SAMPLE_INITIATIVE = "riverbend"


@contextlib.contextmanager
def _exit_3_when_busy(refusal: str) -> Iterator[None]:
    """Another backbone command holds the workspace: say so, change nothing, exit 3."""
    from pipelines.lock import WorkspaceLocked

    try:
        yield
    except WorkspaceLocked as exc:
        errors.print(f"[red]{refusal}:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_BUSY) from None


def _definitions_invalid(exc: ConfigError) -> NoReturn:
    console.print(f"[red]Definitions are invalid:[/]\n{escape(str(exc))}")
    raise typer.Exit(2)


def _load(workspace: Workspace, initiative: str) -> InitiativeConfig:
    try:
        return workspace.load(initiative)
    except ConfigError as exc:
        _definitions_invalid(exc)


def _the_initiative(workspace: Workspace, initiative: Optional[str]) -> str:
    """`--initiative`, or the workspace's only one (several and none given: a usage error)."""
    ids = [initiative] if initiative else workspace.initiative_ids()
    if len(ids) != 1:
        raise typer.BadParameter(f"choose one with --initiative: {ids}")
    return ids[0]


def _run(home: Optional[Path], initiative: Optional[str], dask: bool,
         dask_address: Optional[str] = None) -> list[dict]:
    from pipelines import staging_worker
    from pipelines.lock import WorkspaceLocked, ensure_free

    workspace = Workspace.resolve(home)
    failure = attention = None
    try:
        # Say "busy" before starting Prefect (a temporary server takes seconds to start); the
        # flow itself holds the lock for the whole run.
        ensure_free(workspace)
        if not (dask or dask_address):
            # Before Prefect's import: the workers import GX meanwhile, on the other core.
            staging_worker.start(workspace, initiative)
        from pipelines.flows import nightly

        flow = nightly
        if dask or dask_address:
            from prefect_dask import DaskTaskRunner

            runner = DaskTaskRunner(address=dask_address) if dask_address else DaskTaskRunner(
                cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
            flow = nightly.with_options(task_runner=runner)
        with console.status("Running the nightly flow (Prefect): one line per file as it is "
                            "staged..."):
            summaries = flow(home=str(workspace.root), initiative=initiative)
    except WorkspaceLocked as exc:
        errors.print(f"[red]Not run:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_BUSY)
    except NightNeedsAttention as exc:  # the night ran to its end: shown below
        summaries, attention = exc.summaries, str(exc)
    except Exception as exc:  # noqa: BLE001 - Prefect has logged the traceback above
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        staging_worker.stop()  # normally stopped once staging ended (flows.nightly)
    if failure is not None:
        # The message, not a second traceback: the flow's log above has the details. Exiting
        # outside the `except` keeps no reference to the exception, so its frames (and the DuckDB
        # connections in them) are gone before the interpreter's exit checks.
        errors.print(f"[red]The run failed:[/] {escape(one_line(failure, 2000))}\n"
                     "What happened to each file is in the log above and in the Prefect UI.")
        raise typer.Exit(1)
    show_run(console, summaries)
    if attention is not None:
        errors.print(f"[red]Needs attention:[/] {escape(one_line(attention, 2000))}")
        raise typer.Exit(1)
    return summaries


@app.command()
def run(initiative: Optional[str] = typer.Option(None, help="Only this initiative."),
        dask: bool = typer.Option(False, help="Run per-file tasks on a local Dask cluster."),
        dask_address: Optional[str] = typer.Option(
            None, help="Run per-file tasks on an existing Dask scheduler (tcp://host:8786); "
            "workers need this package and the workspace at the same path."),
        home: Optional[Path] = HOME) -> None:
    """Ingest waiting partner files, then measure, suppress and publish. Exit 0 when done, 1 when
    an initiative's definitions are invalid or the run failed (files left in intake), 3 when
    another backbone command is using the workspace (nothing was changed; run again later)."""
    end_without_teardown()  # a night's fixed cost: see pipelines/process_end.py
    summaries = _run(home, initiative, dask, dask_address)
    if any("error" in s for s in summaries):
        raise typer.Exit(1)


@app.command()
def demo(home: Optional[Path] = HOME) -> None:
    """Copy the bundled sample initiative's partner files into intake, run it and release it."""
    workspace = Workspace.resolve(home).add_definitions()
    samples = REPO_ROOT / "data" / "samples" / SAMPLE_INITIATIVE
    for partner_dir in sorted(p for p in samples.iterdir() if p.is_dir()):
        target = workspace.intake / SAMPLE_INITIATIVE / partner_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for sample in sorted(partner_dir.iterdir()):
            shutil.copy2(sample, target / sample.name)
    # The files were copied whole just now: no upload to wait for (see discover).
    os.environ.setdefault("BACKBONE_SETTLE_SECONDS", "0")
    _run(workspace.root, SAMPLE_INITIATIVE, dask=False)
    # The sample has no data lead to review it: release at once, so it has a public scorecard.
    _release(workspace, SAMPLE_INITIATIVE, force=False)


def _release(workspace: Workspace, initiative: str, force: bool) -> None:
    from pipelines.lock import workspace_lock
    from pipelines.release import ReleaseError, release

    try:
        config = workspace.load(initiative)
        with _exit_3_when_busy("Not released"), \
                workspace_lock(workspace, purpose=f"release {initiative}"):
            outcome = release(workspace, config, force=force)
    except ConfigError as exc:
        _definitions_invalid(exc)
    except ReleaseError as exc:
        console.print(f"[red]Not released:[/] {escape(str(exc))}")
        raise typer.Exit(1)
    show_release(console, workspace, config, initiative, outcome)


@app.command(name="release")
def release_command(
        initiative: str = typer.Argument(..., help="The initiative whose results to release."),
        force: bool = typer.Option(False, help="Release even if no public number changed."),
        home: Optional[Path] = HOME) -> None:
    """Publish the latest partnership results to the public folder (scorecard and open data).

    Public figures change only here, never on a nightly run; the release note lists every
    public number that changed since the previous release. Exit 1 if refused (nothing published
    yet, or the definitions changed since the last run), 2 for invalid definitions, 3 if another
    backbone command is using the workspace.
    """
    _release(Workspace.resolve(home), initiative, force)


CHECK_HELP = """Validate one file as the nightly run would, writing nothing to the workspace.

Exit status: 0 the file would load (any rows that would be set aside are listed), 1 the file
would be rejected (or changed while it was read: check it again once it is complete), 2 a usage
error (unknown partner, several initiatives and no --initiative, invalid definitions, no such
file).
"""


def _writable_file(path: Path, option: str) -> None:
    """Refused before any work, as a usage error: an exit code of 1 means the file is rejected."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise typer.BadParameter(f"cannot write {path}: the folder {folder} does not exist",
                                 param_hint=option)
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise typer.BadParameter(f"cannot write {path}: permission denied", param_hint=option)


def _intake_folder_of(workspace: Workspace, file: Path) -> tuple[str | None, str | None]:
    """(initiative, partner) of the intake folder `file` sits in directly, else (None, None)."""
    try:
        initiative, partner, _ = file.resolve().relative_to(workspace.intake.resolve()).parts
    except ValueError:  # elsewhere, or deeper or shallower than a partner's folder
        return None, None
    return initiative, partner


@app.command(help=CHECK_HELP)
def check(file: Path = typer.Argument(..., exists=True, dir_okay=False),
          partner: Optional[str] = typer.Option(
              None, help="Partner id the file comes from (default: the partner whose intake "
                         "folder holds the file)."),
          initiative: Optional[str] = typer.Option(
              None, help="Initiative (default: the one whose intake holds the file, or the "
                         "only one)."),
          bad_rows_csv: Optional[Path] = typer.Option(
              None, "--bad-rows", dir_okay=False,
              help="Also write every row to fix to this CSV, like the nightly *.bad_rows.csv."),
          home: Optional[Path] = HOME) -> None:
    from pipelines import check_periods
    from pipelines.check_output import show_check
    from pipelines.feedback import bad_rows
    from pipelines.intake import stage_file

    end_without_teardown()  # partners wait for this command: see pipelines/process_end.py

    if bad_rows_csv is not None:
        _writable_file(bad_rows_csv, "--bad-rows")
    workspace = Workspace.resolve(home)
    found_initiative, found_partner = _intake_folder_of(workspace, file)
    initiative = initiative or found_initiative
    config = _load(workspace, _the_initiative(workspace, initiative))
    partner = partner or (found_partner if initiative == found_initiative else None)
    if partner is None:
        raise typer.BadParameter(
            f"which partner sent it? The file is not in a partner's intake folder "
            f"(data/intake/{config.id}/<partner>/): add --partner, one of "
            f"{sorted(config.initiative.partners)}", param_hint="--partner")
    if partner not in config.initiative.partners:
        raise typer.BadParameter(f"{partner!r} is not a partner of {config.id}: "
                                 f"{sorted(config.initiative.partners)}")
    with tempfile.TemporaryDirectory(prefix="backbone-check-") as scratch:
        staged = stage_file(file, config, partner, "check-only-salt", Path(scratch))
        rows = bad_rows(staged.staged_db, config.schema_for(partner).role_column("person_id"))
        read_as, missed = [], []
        if staged.status == "staged" and staged.staged_db:
            read_as, missed = check_periods.read_periods(staged.staged_db, config)
    raise typer.Exit(show_check(console, file.name, staged, rows, read_as, missed, bad_rows_csv))


@app.command()
def accept(file: Path = typer.Argument(..., help="The held file, as the run summary and its "
                                       "report name it (data/archive/...), or its file name."),
           home: Optional[Path] = HOME) -> None:
    """Apply a held file: a period's complete file that would remove more than half of a
    partner's rows for it. Files of the same run for the same period are applied with it; the
    next run publishes the result. Exit 1 if the file is not held, 3 if the workspace is busy."""
    from pipelines.accept import NotHeld, accept_file
    from pipelines.lock import workspace_lock

    workspace = Workspace.resolve(home)
    try:
        with _exit_3_when_busy("Not accepted"), \
                workspace_lock(workspace, purpose=f"accept {file.name}"):
            accepted = accept_file(workspace, file)
    except NotHeld as exc:
        console.print(f"[red]{escape(str(exc))}")
        raise typer.Exit(1)
    console.print(f"[green]Accepted[/] for {escape(accepted.partner_id)}: "
                  f"{escape(one_line(', '.join(accepted.files)))}")
    for line in accepted.lines:
        console.print(f"  {escape(line)}")
    console.print("Published by the next `backbone run`.")


@app.command()
def rebuild(initiative: Optional[str] = typer.Option(
                None, help="Only this initiative (other initiatives' data is kept as it is)."),
            home: Optional[Path] = HOME) -> None:
    """Rebuild the warehouse from data/archive/: every loaded or held file is loaded again, in
    the original order of receipt, with the same salts and today's rules; then the new warehouse
    replaces the old one (kept as data/warehouse/backbone.duckdb.<time>.before-rebuild.bak) and
    is published. Archived files and partner reports are not touched. Exit 1 if it stopped (the
    live warehouse is then unchanged), 3 if another backbone command is using the workspace."""
    from pipelines.migrations import MigrationFailed, WarehouseTooNew
    from pipelines.rebuild import RebuildError
    from pipelines.rebuild import rebuild as rebuild_warehouse

    workspace = Workspace.resolve(home)
    try:
        with _exit_3_when_busy("Not rebuilt"), \
                console.status("Rebuilding the warehouse from data/archive/..."):
            outcome = rebuild_warehouse(workspace, initiative)
    except (RebuildError, ConfigError, MigrationFailed, WarehouseTooNew) as exc:
        errors.print(f"[red]Not rebuilt:[/] {escape(one_line(str(exc), 2000))}")
        raise typer.Exit(1)
    console.print(f"Rebuilt {', '.join(outcome.initiatives)}: {outcome.files} file(s) loaded "
                  f"again from data/archive/, {outcome.copied} submission(s) kept as they were "
                  "(rejected, duplicates, other initiatives).")
    for line in outcome.differences:
        console.print(f"[yellow]Note:[/] {escape(line)}")
    console.print(f"The previous warehouse is kept as {outcome.backup}")
    for initiative_id, folder in outcome.published.items():
        console.print(f"{initiative_id}: published to {folder}")


@app.command()
def schedule(cron: str = typer.Option("0 2 * * *", help="When to run (cron, server time zone)."),
             home: Optional[Path] = HOME) -> None:
    """Serve the nightly flow on a schedule; runs show in the Prefect UI. Needs a lasting Prefect
    server: `prefect server start`, then `PREFECT_API_URL=http://127.0.0.1:4200/api backbone
    schedule` (exit 2 without PREFECT_API_URL). Ctrl-C stops serving."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        # Prefect would start a temporary server that dies with this command: the schedule and
        # its runs would vanish with it.
        errors.print(escape(NO_SERVER), highlight=False)
        raise typer.Exit(2)
    workspace = Workspace.resolve(home)
    try:
        from prefect import serve

        from pipelines.flows import nightly_deployment

        serve(nightly_deployment(cron, workspace.root))
    except KeyboardInterrupt:
        # Interrupted while still registering: the pending coroutine is dropped on purpose.
        warnings.filterwarnings("ignore", message="coroutine .* was never awaited",
                                category=RuntimeWarning)
    console.print("Stopped serving: no scheduled runs until `backbone schedule` runs again.")


@app.command()
def status(initiative: Optional[str] = typer.Option(None, help="Only this initiative."),
           as_of: Optional[datetime] = typer.Option(
               None, "--as-of", formats=["%Y-%m-%d"],
               help="Show the calendar as it stood that day (default: today); files received "
               "later do not count."),
           home: Optional[Path] = HOME) -> None:
    """Per partner and owed period (initiative.yaml `reporting:`): on time, late, missing
    (overdue), not yet due, rejected, held or partly quarantined, with the latest file. Reads
    the warehouse without waiting (the snapshot while a run writes it). Exit 0; 1 if it cannot
    be read; 2 for invalid definitions or an --as-of that is not a date."""
    from pipelines.status_text import print_status
    from pipelines.submission_status import StatusUnavailable

    workspace = Workspace.resolve(home)
    try:
        print_status(console, workspace, [initiative] if initiative else
                     workspace.initiative_ids(), as_of.date() if as_of else None)
    except ConfigError as exc:
        _definitions_invalid(exc)
    except StatusUnavailable as exc:
        errors.print(f"[red]No status:[/] {escape(str(exc))}")
        raise typer.Exit(1)


@app.command(name="scorecard")
def scorecard_command(
        initiative: Optional[str] = typer.Option(None, help="Initiative (default: the only one)."),
        audience: str = typer.Option("partnership", help="Which published numbers: public or "
                                     "partnership."),
        lang: Optional[str] = typer.Option(None, "--lang", help="Language: en or es (default: "
                                           "the initiative's `language`)."),
        pdf: bool = typer.Option(False, "--pdf", help="Also print a PDF (headless Chromium): a "
                                 "cover, one poster page per indicator, then the methods page."),
        out: Optional[Path] = typer.Option(None, "--out", file_okay=False, help="Folder to write "
                                           "to (default: data/scorecards/<initiative>/)."),
        home: Optional[Path] = HOME) -> None:
    """Render a published scorecard in a language, as HTML and optionally PDF, from the
    numbers already published for that audience. Exit 1 if nothing is published yet or the PDF
    could not be printed, 2 for invalid definitions or an unknown language or audience."""
    from pipelines.scorecard_i18n import LANGUAGES
    from pipelines.scorecard_print import ScorecardError, render_published

    workspace = Workspace.resolve(home)
    initiative = _the_initiative(workspace, initiative)
    if lang is not None and lang not in LANGUAGES:
        raise typer.BadParameter(f"--lang must be one of {', '.join(LANGUAGES)}")
    if audience not in ("public", "partnership"):
        raise typer.BadParameter("--audience must be public or partnership")
    config = _load(workspace, initiative)
    try:
        written = render_published(workspace, config, audience, lang, out, pdf)
    except ScorecardError as exc:
        console.print(f"[red]No scorecard:[/] {escape(str(exc))}")
        raise typer.Exit(1)
    for path in written:
        console.print(f"Wrote {escape(str(path))}")


if __name__ == "__main__":
    app()
