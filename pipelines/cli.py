"""`backbone`: a thin command line over the library and the Prefect flows."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.config import REPO_ROOT, ConfigError, Workspace

app = typer.Typer(help="backbone: shared measurement for collective impact initiatives.",
                  no_args_is_help=True, add_completion=False)
# Logs and CI are not terminals; a wider table keeps partner-facing reasons readable there.
console = Console() if sys.stdout.isatty() else Console(width=200)
HOME = typer.Option(None, "--home", envvar="BACKBONE_HOME",
                    help="Workspace root holding indicators/, schemas/ and data/ (default: the repo).")
SAMPLE_INITIATIVE = "riverbend"


def _print_summaries(summaries: list[dict]) -> None:
    table = Table(title="Files received")
    for column in ("initiative", "partner", "file", "status", "loaded", "quarantined", "reasons"):
        table.add_column(column, overflow="fold")
    for summary in summaries:
        if "error" in summary:
            table.add_row(summary["initiative"], "", "", "[red]definitions invalid", "", "",
                          escape(summary["error"]))
        for item in summary.get("files", []):
            color = {"loaded": "green", "rejected": "red"}.get(item["status"], "yellow")
            table.add_row(summary["initiative"], escape(item["partner_id"]),
                          escape(item["file_name"]), f"[{color}]{item['status']}",
                          str(item["rows_loaded"]), str(item["rows_quarantined"]),
                          escape(item["reasons"][:300]))
    console.print(table)
    for summary in summaries:
        if "published" in summary:
            console.print(f"[bold]{summary['initiative']}[/]: {summary['cells']} cells, "
                          f"suppressed {summary['suppressed']}; published to {summary['published']}")


def _run(home: Optional[Path], initiative: Optional[str], dask: bool,
         dask_address: Optional[str] = None) -> list[dict]:
    from pipelines.flows import nightly

    flow = nightly
    if dask or dask_address:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=dask_address) if dask_address else DaskTaskRunner(
            cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
        flow = nightly.with_options(task_runner=runner)
    with console.status("Running the nightly flow (Prefect)..."):
        summaries = flow(home=str(Workspace.resolve(home).root), initiative=initiative)
    _print_summaries(summaries)
    return summaries


@app.command()
def run(initiative: Optional[str] = typer.Option(None, help="Only this initiative."),
        dask: bool = typer.Option(False, help="Run per-file tasks on a local Dask cluster."),
        dask_address: Optional[str] = typer.Option(
            None, help="Run per-file tasks on an existing Dask scheduler (tcp://host:8786); "
            "workers need this package and the workspace at the same path."),
        home: Optional[Path] = HOME) -> None:
    """Ingest waiting partner files, then measure, suppress and publish."""
    summaries = _run(home, initiative, dask, dask_address)
    if any("error" in s for s in summaries):
        raise typer.Exit(1)


@app.command()
def demo(home: Optional[Path] = HOME) -> None:
    """Copy the bundled sample initiative's partner files into intake and run it."""
    workspace = Workspace.resolve(home).add_definitions()
    samples = REPO_ROOT / "data" / "samples" / SAMPLE_INITIATIVE
    for partner_dir in sorted(p for p in samples.iterdir() if p.is_dir()):
        target = workspace.intake / SAMPLE_INITIATIVE / partner_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for sample in sorted(partner_dir.iterdir()):
            shutil.copy2(sample, target / sample.name)
    _run(workspace.root, SAMPLE_INITIATIVE, dask=False)
    console.print(f"Scorecard: {workspace.published(SAMPLE_INITIATIVE) / 'scorecard.html'}")


@app.command()
def check(file: Path = typer.Argument(..., exists=True, dir_okay=False),
          partner: str = typer.Option(..., help="Partner id the file comes from."),
          initiative: Optional[str] = typer.Option(None, help="Initiative (default: the only one)."),
          home: Optional[Path] = HOME) -> None:
    """Validate one file as the nightly run would, writing nothing to the workspace."""
    from pipelines.feedback import bad_rows
    from pipelines.intake import stage_file

    workspace = Workspace.resolve(home)
    ids = [initiative] if initiative else workspace.initiative_ids()
    if len(ids) != 1:
        raise typer.BadParameter(f"choose one with --initiative: {ids}")
    try:
        config = workspace.load(ids[0])
    except ConfigError as exc:
        console.print(f"[red]Definitions are invalid:[/]\n{exc}")
        raise typer.Exit(2)
    if partner not in config.initiative.partners:
        raise typer.BadParameter(f"{partner!r} is not a partner of {config.id}: "
                                 f"{sorted(config.initiative.partners)}")
    with tempfile.TemporaryDirectory(prefix="backbone-check-") as scratch:
        staged = stage_file(file, config, partner, "check-only-salt", Path(scratch))
        rows = bad_rows(staged.staged_db, config.schema_for(partner).role_column("person_id"))
    if staged.status == "rejected":
        console.print(f"[red]REJECTED[/] {escape(file.name)}")
        for problem in staged.problems:
            console.print(f"  - {escape(problem['message'])}")
    else:
        console.print(f"[green]OK[/] {escape(file.name)}: {staged.rows_loaded} of "
                      f"{staged.rows_read} rows would load ({staged.encoding}, delimiter "
                      f"{staged.delimiter!r})")
    for row, column, rule, value, message in rows[:50]:
        console.print(escape(f"  row {row}, column {column or '-'}: [{rule}] {message} "
                             f"(value: {value!r})"))
    if staged.status == "rejected" or rows:
        raise typer.Exit(1)


@app.command()
def schedule(cron: str = typer.Option("0 2 * * *", help="When to run (cron, server time zone)."),
             home: Optional[Path] = HOME) -> None:
    """Serve the nightly flow on a schedule (needs `prefect server start` and PREFECT_API_URL)."""
    from prefect import serve

    from pipelines.flows import nightly_deployment

    serve(nightly_deployment(cron, Workspace.resolve(home).root))


if __name__ == "__main__":
    app()
