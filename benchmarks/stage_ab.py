"""Large files staged by two code trees, alternating, with the results compared (issue 14).

Throughput changes to staging (parsing, typing, GX, standardize) are measured here before and
after, as ratios on the same files in one script: each repeat stages every file of a generated
workspace with the real `intake.stage_file` (no Prefect, one file after another) in a fresh
process per code tree, `--before` first, then this tree. DuckDB's floor on the same files
(`benchmarks.run.baseline`, the faster of two runs) is timed in this process, so each tree's
staging is also a multiple of it. Every file's staged `records` and `quarantine` must come out
the same from both trees (row count and an order-independent hash of every row), or the script
says which differ: a change that is faster but stages something else is no change.

    python -m benchmarks.generate --home benchmarks/work/ab --megabytes 300
    python -m benchmarks.stage_ab --source benchmarks/work/ab --before /tmp/old-tree [--repeats 2]
        [--together]  # every file started at once, as the flow's thread pool does
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.config import REPO_ROOT


def child(home: Path, together: bool = False) -> dict:
    """Stage every file of `home` with this process's code: seconds, CPU and digests per file.

    `together`: every file's staging started at once on a thread of its own, as the flow's
    thread pool starts its tasks, so intake's slots decide what runs when (a file's large read
    beside another's DuckDB work); per file, seconds to its end, and the run's wall and CPU."""
    import pipelines.flows  # noqa: F401  (the flow process's imports and its gc.freeze)
    from pipelines import intake
    from pipelines.config import Workspace
    from pipelines.discover import discover
    from pipelines.standardize import ensure_salt, read_salt

    workspace = Workspace.resolve(home)
    config = workspace.load("riverbend")
    ensure_salt(workspace, "riverbend")
    salt = read_salt(workspace, "riverbend")
    found = [(f.path, f.partner_id) for f in discover(workspace, config) if f.problem is None]
    import great_expectations  # noqa: F401  (the one-off import is not a per-file cost)

    files = []
    if together:
        return _together(found, config, salt)
    with tempfile.TemporaryDirectory(prefix="stage-ab-") as scratch:
        for path, partner in found:
            wall, cpu = time.perf_counter(), time.process_time()
            staged = intake.stage_file(path, config, partner, salt, Path(scratch))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            files.append(_result(path, partner, staged, wall, cpu))
            shutil.rmtree(Path(scratch), ignore_errors=True)
            Path(scratch).mkdir()
    return {"files": files}


def _together(found: list, config, salt: str) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from pipelines import intake

    with tempfile.TemporaryDirectory(prefix="stage-ab-") as scratch:
        start, cpu = time.perf_counter(), time.process_time()
        ends = {}

        def stage(item):
            staged = intake.stage_file(item[0], config, item[1], salt, Path(scratch))
            ends[item[0]] = time.perf_counter() - start
            return staged

        with ThreadPoolExecutor(max(1, len(found))) as pool:
            staged = list(pool.map(stage, found))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        files = [_result(path, partner, one, ends[path], None)
                 for (path, partner), one in zip(found, staged)]
    return {"files": files, "wall": wall, "cpu": cpu}


def _result(path: Path, partner: str, staged, seconds: float, cpu: float | None) -> dict:
    import duckdb

    digest = {}
    if staged.staged_db:
        con = duckdb.connect(staged.staged_db, read_only=True)
        for table in ("records", "quarantine"):
            try:
                digest[table] = [str(v) for v in con.execute(
                    f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchall()[0]]
            except duckdb.CatalogException:
                digest[table] = None
        con.close()
    # What stage_file answers besides the tables, so a difference there shows too.
    answer = {key: value for key, value in staged.__dict__.items()
              if key not in ("staged_db", "source_path", "source_identity")}
    return {"file": f"{partner}/{path.name}", "bytes": path.stat().st_size, "seconds": seconds,
            "cpu": cpu, "status": staged.status, "rows_loaded": staged.rows_loaded,
            "digest": digest, "answer": json.loads(json.dumps(answer, default=str))}


def _child_run(code: Path, home: Path, together: bool = False) -> dict:
    # This file by path, so a code tree without it can be timed; `pipelines` is the tree's.
    done = subprocess.run([sys.executable, __file__, "--child", str(home)]
                          + (["--together"] if together else []), cwd=code,
                          env={**os.environ, "PYTHONPATH": str(code),
                               "BACKBONE_SETTLE_SECONDS": "0"},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"staging with {code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(runs: dict[str, list[dict]], floor: float, megabytes: float) -> str:
    lines = [f"{megabytes:.0f} MB; DuckDB floor (COPY to Parquet, same files) {floor:.1f} s",
             "", "| code | staging wall s (median) | CPU s (median) | x floor | x before | runs "
             "wall s |", "|---|---:|---:|---:|---:|---|"]
    # Files staged together: the run's wall and CPU; one after another: the files' sum.
    totals = {label: [r.get("wall", sum(f["seconds"] for f in r["files"])) for r in results]
              for label, results in runs.items()}
    cpus = {label: [r.get("cpu", sum(f["cpu"] or 0 for f in r["files"])) for r in results]
            for label, results in runs.items()}
    first = next(iter(runs))
    for label in runs:
        wall, cpu = statistics.median(totals[label]), statistics.median(cpus[label])
        lines.append(f"| {label} | {wall:.1f} | {cpu:.1f} | {wall / floor:.2f} | "
                     f"{wall / statistics.median(totals[first]):.2f} | "
                     f"{', '.join(f'{t:.1f}' for t in totals[label])} |")
    lines += ["", "| file | MB | " + " | ".join(f"{label} s" for label in runs)
              + " | same result |",
              "|---|---:|" + "---:|" * len(runs) + "---|"]
    reference = runs[first][0]["files"]
    for index, item in enumerate(reference):
        seconds = [statistics.median(r["files"][index]["seconds"] for r in results)
                   for results in runs.values()]
        same = all(r["files"][index]["digest"] == item["digest"]
                   and r["files"][index]["status"] == item["status"]
                   and r["files"][index].get("answer") == item.get("answer")
                   for results in runs.values() for r in results)
        lines.append(f"| {item['file']} | {item['bytes'] / 1e6:.0f} | "
                     + " | ".join(f"{s:.2f}" for s in seconds) + f" | {'yes' if same else 'NO'} |")
    lines.append("- load average after: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="a generated workspace (required)")
    parser.add_argument("--before", type=Path, help="another code tree to time beside this one")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--together", action="store_true",
                        help="start every file's staging at once, as the flow does (intake's "
                        "slots decide what overlaps); files' seconds are then to their end")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.together)))
        return ""
    if args.source is None:
        parser.error("--source is required")
    # As in the child: a copied workspace's files are new, not uploads still being written (the
    # floor found no file of a workspace copied a minute before).
    os.environ.setdefault("BACKBONE_SETTLE_SECONDS", "0")
    from benchmarks.run import baseline
    from pipelines.config import Workspace
    from pipelines.discover import discover

    workspace = Workspace.resolve(args.source)
    found = [(f.path, f.partner_id) for f in discover(workspace, workspace.load("riverbend"))
             if f.problem is None]
    megabytes = sum(p.stat().st_size for p, _ in found) / 1e6
    with tempfile.TemporaryDirectory(prefix="stage-ab-floor-") as scratch:
        floor = min(baseline(found, Path(scratch) / f"b{i}").seconds for i in range(2))
    codes = {"before": args.before.resolve(), "after": REPO_ROOT} if args.before \
        else {"this code": REPO_ROOT}
    runs: dict[str, list[dict]] = {label: [] for label in codes}
    for _ in range(args.repeats):
        for label, code in codes.items():
            runs[label].append(_child_run(code, args.source.resolve(), args.together))
    text = report(runs, floor, megabytes)
    print(text)
    return text


if __name__ == "__main__":
    main()
