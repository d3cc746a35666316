"""Where the nightly run's time goes: the same stage functions the flow calls, timed one by one.

Runs the real `intake.stage_file` with timers wrapped around what it calls (and around
`read.sniff`'s passes), without Prefect, one file after another (the flow runs stage-file tasks
in parallel threads), then the warehouse steps, on a copy of a workspace's intake so the
original files stay where they are. Wall time and process CPU time (all threads; less
sensitive to other load on a shared machine) per stage:

    python -m benchmarks.profile_stages --source benchmarks/work/ws [--only riverbend_schools]

Prints one line per file and sub-stage (seconds, MB/s) and a total per stage, and the warehouse
steps (load, measure, suppress, disparities, publish, snapshot) on the resulting warehouse.

First it times `benchmarks.run.baseline` (DuckDB's bare COPY to Parquet; the faster of two
runs) on the same files in the same process, and prints every stage as a multiple of it: how
much of the nightly run's 3x budget each stage uses on its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import shutil
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from benchmarks import run
from pipelines import folded_rules, ingest, intake, read, warehouse
from pipelines.config import Workspace
from pipelines.discover import discover
from pipelines.disparities import compute_disparities
from pipelines.intake import StagedFile
from pipelines.measure import build_indicator_cells
from pipelines.publish import publish
from pipelines.snapshot import snapshot_warehouse
from pipelines.standardize import ensure_salt, read_salt
from pipelines.suppress import suppress_cells

TOTALS: dict[str, float] = defaultdict(float)
CPU: dict[str, float] = defaultdict(float)  # process CPU time (all threads): robust to a busy box


@contextmanager
def timed(name: str, line: list):
    started, cpu = time.perf_counter(), time.process_time()
    yield
    elapsed = time.perf_counter() - started
    TOTALS[name] += elapsed
    CPU[name] += time.process_time() - cpu
    line.append(f"{name} {elapsed:.2f}")


# What intake.stage_file calls, by the name it calls it under; read.sniff's passes inside it.
WRAPPED = [(intake, "sniff", "sniff"), (intake, "load_csv", "load_csv (parse and type)"),
           (intake, "build_suite", "build_suite"), (folded_rules, "fold", "build_suite"),
           (folded_rules, "run_folded_query", "folded query"),
           (folded_rules, "run_suite", "gx_validate"),
           (folded_rules, "record_failures", "record_failures"),
           (intake, "standardize", "standardize"),
           (intake, "standardize_aggregates", "standardize"),
           (read, "sha256_file", "sniff: sha256"), (read, "detect_encoding", "sniff: encoding"),
           (read, "_transcode", "sniff: transcode"), (read, "_blank_rows", "load_csv: blank lines")]
LINE: list[str] = []


def _timer(function, name):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with timed(name, LINE):
            return function(*args, **kwargs)
    return wrapper


def install_timers() -> None:
    for module, attribute, name in WRAPPED:
        setattr(module, attribute, _timer(getattr(module, attribute), name))


def stage(path: Path, config, partner_id: str, salt: str, staging: Path) -> StagedFile:
    """The real intake.stage_file, with timers around what it calls."""
    LINE.clear()
    with timed("stage-file total", []):
        staged = intake.stage_file(path, config, partner_id, salt, staging)
    mb = staged.size_bytes / 1e6
    print(f"{partner_id}/{path.name}: {mb:.0f} MB, {staged.rows_read:,} rows, {staged.status} | "
          + " | ".join(LINE), flush=True)
    return staged


def _baseline(files: list[tuple[Path, str]], out: Path) -> tuple[run.Measured, float]:
    """The faster of two baseline runs (the first may read the files from disk), and its CPU."""
    timings = []
    for _ in range(2):
        cpu = time.process_time()
        measured = run.baseline(files, out)
        timings.append((measured.seconds, measured, time.process_time() - cpu))
        shutil.rmtree(out)
    _, measured, cpu = min(timings, key=lambda t: t[0])
    return measured, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="workspace whose intake to use")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "profile")
    parser.add_argument("--only", help="only this partner's files")
    args = parser.parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    workspace = Workspace.resolve(args.work).add_definitions(args.source)
    shutil.copytree(args.source / "data" / "intake", workspace.intake)
    os.environ.setdefault("BACKBONE_SETTLE_SECONDS", "0")  # a copy: nothing is being uploaded
    config = workspace.load("riverbend")
    ensure_salt(workspace, config.id)
    salt = read_salt(workspace, config.id)
    found = [f for f in discover(workspace, config) if f.problem is None
             and (not args.only or f.partner_id == args.only)]
    total_bytes = sum(f.path.stat().st_size for f in found)
    base, base_cpu = _baseline([(f.path, f.partner_id) for f in found], args.work / "baseline")
    install_timers()
    started = time.perf_counter()
    staged = [stage(f.path, config, f.partner_id, salt, workspace.staging) for f in found]
    stage_seconds = time.perf_counter() - started

    line: list[str] = []
    con = warehouse.connect(workspace.warehouse_file)
    run_id = f"profile-{dt.datetime.now():%Y%m%dT%H%M%S}"
    try:
        warehouse.ensure_initiative_tables(con, config)
        with timed("warehouse load (all files)", line):
            ingest.settle_all(con, workspace, config, staged, [], run_id)
        with timed("measure", line):
            build_indicator_cells(con, config)
        with timed("suppress", line):
            suppress_cells(con, f"{config.id}.indicator_cells",
                           config.initiative.suppression.threshold)
        with timed("disparities", line):
            compute_disparities(con, f"{config.id}.indicator_cells", f"{config.id}.disparities",
                                dict(config.initiative.reference_groups))
        with timed("publish", line):
            publish(con, workspace, config, run_id)
    finally:
        con.close()
    with timed("snapshot", line):
        snapshot_warehouse(workspace)
    print(" | ".join(line))
    gb = total_bytes / 1e9
    print(f"\n{len(found)} files, {total_bytes / 1e6:.0f} MB; staging {stage_seconds:.1f} s "
          "(sequential)\n")
    print(f"baseline (DuckDB COPY to Parquet, same files, this process): {base.seconds:.1f} s "
          f"wall, {base_cpu:.1f} s CPU\n")
    print("| stage | wall s | share | wall s per GB | CPU s | CPU s per GB | x baseline wall "
          "| x baseline CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    named = [k for k in TOTALS if k != "stage-file total" and not k.startswith(("(", "sniff:",
                                                                               "load_csv:"))]
    staged_named = [k for k in named if k in {n for _, _, n in WRAPPED}]
    TOTALS["stage: connect, close, other"] = TOTALS["stage-file total"] - sum(
        TOTALS[k] for k in staged_named)
    CPU["stage: connect, close, other"] = CPU["stage-file total"] - sum(
        CPU[k] for k in staged_named)
    names = [k for k in TOTALS if k != "stage-file total" and not k.startswith("(")]
    parts = [k for k in names if not k.startswith(("sniff:", "load_csv:"))]
    grand, grand_cpu = sum(TOTALS[k] for k in parts), sum(CPU[k] for k in parts)
    for name in names:
        label = name if name in parts else f"(of which) {name}"
        print(f"| {label} | {TOTALS[name]:.1f} | {TOTALS[name] / grand:.0%} | "
              f"{TOTALS[name] / gb:.0f} | {CPU[name]:.1f} | {CPU[name] / gb:.0f} | "
              f"{TOTALS[name] / base.seconds:.2f} | {CPU[name] / base_cpu:.2f} |")
    print(f"| **total** | {grand:.1f} | 100% | {grand / gb:.0f} | {grand_cpu:.1f} | "
          f"{grand_cpu / gb:.0f} | {grand / base.seconds:.2f} | {grand_cpu / base_cpu:.2f} |")
    checked = ("sniff", "load_csv (parse and type)", "gx_validate")
    print(f"\nA file read, typed and checked by GX, before anything is written: "
          f"{sum(TOTALS[k] for k in checked) / base.seconds:.2f}x the baseline's wall time, "
          f"{sum(CPU[k] for k in checked) / base_cpu:.2f}x its CPU time.")


if __name__ == "__main__":
    main()
