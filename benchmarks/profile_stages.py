"""Where the nightly run's time goes: the same stage functions the flow calls, timed one by one.

Runs without Prefect, one file after another (the flow runs stage-file tasks in parallel
threads), on a copy of a workspace's intake so the original files stay where they are:

    python -m benchmarks.profile_stages --source benchmarks/work/ws [--only riverbend_schools]

Prints one line per file and sub-stage (seconds, MB/s) and a total per stage, and the warehouse
steps (load, measure, suppress, disparities, publish, snapshot) on the resulting warehouse.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from pipelines import gx_duckdb, ingest, read, warehouse
from pipelines.config import Workspace
from pipelines.discover import discover
from pipelines.disparities import compute_disparities
from pipelines.intake import StagedFile, _reject_if_unusable
from pipelines.measure import build_indicator_cells
from pipelines.problems import FileRejected
from pipelines.publish import publish, snapshot_warehouse
from pipelines.standardize import ensure_salt, read_salt, standardize, standardize_aggregates
from pipelines.suppress import suppress_cells
from pipelines.validate import build_suite, create_typed_view, record_failures, run_suite

TOTALS: dict[str, float] = defaultdict(float)


@contextmanager
def timed(name: str, line: list):
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    TOTALS[name] += elapsed
    line.append(f"{name} {elapsed:.2f}")


def sniff_parts(path: Path, staging: Path, line: list) -> read.Sniffed:
    """read.sniff, split into its passes over the file (same calls, same order)."""
    with timed("sniff.sha256", line):
        read.sha256_file(path)
    with path.open("rb") as handle:
        head = handle.read(65536)
    with timed("sniff.encoding", line):
        encoding = read.detect_encoding(path, head)
    with timed("sniff.rest(transcode+header)", line):
        sniffed = read.sniff(path, staging) if encoding in read.CODECS else None
    if sniffed is None:  # sniff again for its result; its hash and decode passes are timed above
        started = time.perf_counter()
        sniffed = read.sniff(path, staging)
        TOTALS["(sniff repeated, not counted)"] += time.perf_counter() - started
    return sniffed


def stage(path: Path, config, partner_id: str, salt: str, staging: Path) -> StagedFile:
    """pipelines.intake.stage_file with a timer around each step."""
    line: list[str] = []
    staged = StagedFile(config.id, partner_id, str(path), path.name)
    staging.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    try:
        sniffed = sniff_parts(path, staging, line)
        staged.sha256, staged.size_bytes = sniffed.sha256, sniffed.size
        staged.encoding, staged.delimiter = sniffed.encoding, sniffed.delimiter
        schema = config.schema_for(partner_id)
        crosswalk = config.crosswalks[partner_id]
        header_map = read.map_header(sniffed.header, schema, crosswalk)
        database = staging / f"{sniffed.sha256}.duckdb"
        database.unlink(missing_ok=True)
        con = gx_duckdb.connect(database)
        try:
            with timed("load_csv", line):
                parse_problems = read.load_csv(con, sniffed, header_map)
            present = list(header_map.positions.values())
            with timed("typed_table", line):
                create_typed_view(con, schema, crosswalk, present)
            with timed("build_suite", line):
                ids = tuple(i.id for i in config.indicators if i.source == "aggregates")
                suite = build_suite(schema, crosswalk, partner_id, present, indicator_ids=ids)
            with timed("gx_validate", line):
                result = run_suite(database, suite)
            with timed("record_failures", line):
                outcome = record_failures(con, result)
                if parse_problems:
                    con.executemany("INSERT INTO quarantine VALUES (?, NULL, ?, NULL, ?)",
                                    [(p.row, p.rule, p.message) for p in parse_problems])
                staged.rules = [asdict(o) for o in outcome.outcomes]
                staged.rows_read = outcome.row_count + len(parse_problems)
                staged.rows_quarantined = con.execute(
                    "SELECT count(DISTINCT _row) FROM quarantine").fetchall()[0][0]
                _reject_if_unusable(staged, schema.max_bad_row_share)
            with timed("standardize", line):
                staged.rows_loaded = (standardize_aggregates(con, schema, partner_id)
                                      if schema.kind == "aggregates"
                                      else standardize(con, config, partner_id, salt))
            with timed("checkpoint", line):
                con.execute("CHECKPOINT")
        finally:
            con.close()
        staged.staged_db = str(database)
    except FileRejected as rejection:
        staged.status = "rejected"
        staged.problems = [p.as_dict() for p in rejection.problems]
    finally:
        (staging / f"{staged.sha256}.utf8.csv").unlink(missing_ok=True)
    elapsed = time.perf_counter() - total
    TOTALS["stage-file total"] += elapsed
    mb = staged.size_bytes / 1e6
    print(f"{partner_id}/{path.name}: {mb:.0f} MB, {staged.rows_read:,} rows, {elapsed:.1f} s "
          f"({mb / elapsed:.1f} MB/s) | " + " | ".join(line), flush=True)
    return staged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="workspace whose intake to use")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "profile")
    parser.add_argument("--only", help="only this partner's files")
    args = parser.parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    for folder in ("indicators", "schemas"):
        shutil.copytree(args.source / folder, args.work / folder)
    shutil.copytree(args.source / "data" / "intake", args.work / "data" / "intake")
    workspace = Workspace.resolve(args.work)
    config = workspace.load("riverbend")
    ensure_salt(workspace, config.id)
    salt = read_salt(workspace, config.id)
    found = [f for f in discover(workspace, config) if f.problem is None
             and (not args.only or f.partner_id == args.only)]
    total_bytes = sum(f.path.stat().st_size for f in found)
    started = time.perf_counter()
    staged = [stage(f.path, config, f.partner_id, salt, workspace.staging) for f in found]
    stage_seconds = time.perf_counter() - started

    line: list[str] = []
    con = warehouse.connect(workspace.warehouse_file)
    run_id = f"profile-{dt.datetime.now():%Y%m%dT%H%M%S}"
    try:
        warehouse.ensure_initiative_tables(con, config)
        with timed("warehouse load (all files)", line):
            for item in staged:
                ingest.settle(con, workspace, config, item, run_id)
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
        snapshot_warehouse(workspace.warehouse_file, workspace.snapshot_file)
    print(" | ".join(line))
    gb = total_bytes / 1e9
    print(f"\n{len(found)} files, {total_bytes / 1e6:.0f} MB; staging {stage_seconds:.1f} s "
          "(sequential)\n")
    print("| stage | seconds | share | s per GB |\n|---|---:|---:|---:|")
    grand = sum(v for k, v in TOTALS.items() if k != "stage-file total" and not k.startswith("("))
    for name, seconds in TOTALS.items():
        if name == "stage-file total" or name.startswith("("):
            continue
        print(f"| {name} | {seconds:.1f} | {seconds / grand:.0%} | {seconds / gb:.0f} |")
    print(f"| **total** | {grand:.1f} | 100% | {grand / gb:.0f} |")


if __name__ == "__main__":
    main()
