"""Staging a night of many small files: 40 files of 1,000 to 5,000 rows (issue 14).

Most real nights are a few small files per partner, so the fixed cost per file (GX's Python per
validation, building the suite, the connections) matters more than throughput. This generates
the partners' files (`benchmarks.generate`, each in its partner's own format), cuts them into 40
files of 1,000 to 5,000 rows, and stages them with the real `intake.stage_file`, without
Prefect, in one process per code tree:

- one after another, and with a pool of 2 threads (the flow maps one thread per file; the
  number of files staged at once is `intake.SMALL_FILE_SLOTS` for files of at most
  `intake.SMALL_FILE_BYTES`, one per core, and `intake.STAGING_SLOTS` for larger ones),
- beside DuckDB's floor on the same files in the same process (`benchmarks.run.baseline`: COPY
  each to Parquet), so each result is also a ratio that a busy machine moves less.

Target: a median of <= 0.2 s per file. `--before DIR` times another code tree (a copy holding
`pipelines/`) in the same script, alternating with this one, for before/after ratios:

    python -m benchmarks.small_files [--files 40] [--repeats 3] [--before /tmp/old-tree]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipelines.config import REPO_ROOT

WORK = REPO_ROOT / "benchmarks" / "work" / "small-files"
PERSON_PARTNERS = ("riverbend_schools", "northside_clinic", "bright_start")
ENCODINGS = {"bright_start": "cp1252"}


def rows_in(index: int) -> int:
    return 1000 + (index * 997) % 4001  # 1,000 to 5,000, spread evenly


def make_files(home: Path, count: int) -> list[tuple[Path, str]]:
    """`count` files cut from generated partner files, round robin over the partners."""
    from benchmarks import generate

    source = home.with_name(home.name + "-source")
    shutil.rmtree(source, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    generate.generate(source, megabytes=max(2.0, count * 0.25), verbose=False)
    shutil.copytree(source / "indicators", home / "indicators")
    shutil.copytree(source / "schemas", home / "schemas")
    lines = {}
    for partner in PERSON_PARTNERS:
        first = sorted((source / "data" / "intake" / "riverbend" / partner).iterdir())[0]
        with first.open("rb") as handle:
            lines[partner] = handle.read().split(b"\n")
    files, used = [], dict.fromkeys(PERSON_PARTNERS, 1)
    for index in range(count):
        partner = PERSON_PARTNERS[index % len(PERSON_PARTNERS)]
        header, body = lines[partner][0], lines[partner]
        take = rows_in(index)
        start = used[partner]
        if start + take >= len(body):
            start = 1
        used[partner] = start + take
        folder = home / "data" / "intake" / "riverbend" / partner
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"small_{index:03d}.csv"
        path.write_bytes(b"\n".join([header, *body[start:start + take]]) + b"\n")
        files.append((path, partner))
    shutil.rmtree(source, ignore_errors=True)
    return files


def child(home: Path, threads: int) -> dict:
    """Stage every file of `home` with this process's code; seconds per file and the floor."""
    import pipelines.flows  # noqa: F401  (the flow process's imports and its gc.freeze)
    from benchmarks.run import baseline
    from pipelines import intake
    from pipelines.config import Workspace
    from pipelines.discover import discover
    from pipelines.standardize import ensure_salt, read_salt

    workspace = Workspace.resolve(home)
    config = workspace.load("riverbend")
    ensure_salt(workspace, "riverbend")
    salt = read_salt(workspace, "riverbend")
    found = [(f.path, f.partner_id) for f in discover(workspace, config) if f.problem is None]
    with tempfile.TemporaryDirectory(prefix="small-files-") as scratch:
        floor = min(baseline(found, Path(scratch) / f"b{i}").seconds for i in range(2))
        started = time.perf_counter()
        import great_expectations  # noqa: F401  (the one-off import is not a per-file cost)
        imported = time.perf_counter() - started

        def stage(item):
            path, partner = item
            began = time.perf_counter()
            staged = intake.stage_file(path, config, partner, salt, Path(scratch) / "staging")
            return time.perf_counter() - began, staged.status

        results = {}
        for mode, workers in (("one at a time", 1), (f"{threads} threads", threads)):
            began = time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                done = list(pool.map(stage, found))
            results[mode] = {"wall": time.perf_counter() - began,
                             "per_file": [seconds for seconds, _ in done],
                             "statuses": sorted({status for _, status in done})}
            shutil.rmtree(Path(scratch) / "staging", ignore_errors=True)
    return {"files": len(found), "baseline": floor, "import_gx": imported, "modes": results}


def _child_run(code: Path, home: Path, threads: int) -> dict:
    # This file by path, so a code tree without it can be timed; `pipelines` is the tree's.
    done = subprocess.run([sys.executable, __file__, "--child", str(home), "--threads",
                           str(threads)], cwd=code, env={**os.environ, "PYTHONPATH": str(code),
                                                         "BACKBONE_SETTLE_SECONDS": "0"},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"staging with {code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(runs: dict[str, list[dict]]) -> str:
    lines = ["| code | mode | files | median s per file | wall s per file | x DuckDB floor (all "
             "files) | runs (median s per file) |", "|---|---|---:|---:|---:|---:|---|"]
    verdicts = []
    for label, results in runs.items():
        for mode in results[0]["modes"]:
            medians = [statistics.median(r["modes"][mode]["per_file"]) for r in results]
            walls = [r["modes"][mode]["wall"] / r["files"] for r in results]
            ratios = [r["modes"][mode]["wall"] / r["baseline"] for r in results]
            statuses = sorted({s for r in results for s in r["modes"][mode]["statuses"]})
            lines.append(f"| {label} | {mode} | {results[0]['files']} | "
                         f"{statistics.median(medians):.3f} | {statistics.median(walls):.3f} | "
                         f"{statistics.median(ratios):.0f} | "
                         f"{', '.join(f'{m:.3f}' for m in medians)} ({', '.join(statuses)}) |")
            if label != "before":
                best = statistics.median(walls)
                verdicts.append(f"- {label}, {mode}: {best:.3f} s per file (wall / files; target "
                                f"<= 0.2 s): {'met' if best <= 0.2 else 'NOT met'}")
    return "\n".join(lines + [""] + verdicts + [
        "- load average after: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())])


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--before", type=Path, help="another code tree to time beside this one")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.threads)))
        return ""
    home = args.work / "ws"
    make_files(home, args.files)
    codes = {"before": args.before.resolve(), "after": REPO_ROOT} if args.before \
        else {"this code": REPO_ROOT}
    runs: dict[str, list[dict]] = {label: [] for label in codes}
    for _ in range(args.repeats):
        for label, code in codes.items():
            runs[label].append(_child_run(code, home, args.threads))
    text = report(runs)
    print(text)
    return text


if __name__ == "__main__":
    main()
