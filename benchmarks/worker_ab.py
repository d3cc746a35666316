"""The warm staging worker (`pipelines/staging_worker.py`), before and after, with the real CLI.

Each case runs `python -m pipelines.cli run` in fresh processes against a running Prefect server,
on its own copy of a workspace per code tree and round, the trees alternating in every round so
that the machine's load hits them alike. Per run: wall s, CPU s of the whole tree (the CLI, its
workers; `RUSAGE_CHILDREN`), peak RSS of the tree. Outputs (every warehouse and snapshot table,
published file and report: `benchmarks.incremental_night.outputs`) are compared between the trees
in every round.

Cases (`--case`, repeatable):
- `one-new`: `--source` is a workspace after a night; a no-new-files run, then one new ~20 MB
  school file dropped into intake and a second run (the incremental night of issue 14).
- `night`: `--source` is a workspace with files waiting in intake (the 200 MB `ab` workspace,
  `small-files`): one run.
- `empty`: a workspace with definitions only.

`--variant NAME=ENV` adds runs of the after tree with extra environment (e.g.
`worker-on=BACKBONE_STAGING_WORKER=on`, to time the worker where the automatic rule does not
use it).

    python -m benchmarks.worker_ab --before /tmp/W/before --after . --source WS --case one-new
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

from benchmarks.prefect_server import running_server
from benchmarks.sampling import run_sampled

INITIATIVE = "riverbend"
NEW_FILE = ("riverbend_schools", 2020)  # not in benchmarks.run's workspace


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(tree: Path, home: Path, env: dict, log: Path) -> dict:
    """One `backbone run` in `tree`'s code: wall, CPU of the tree, peak tree RSS."""
    cpu = _cpu_children()
    wall, rss, largest, code = run_sampled(
        [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home), "--initiative",
         INITIATIVE], log, env={**env, "PYTHONPATH": str(tree)}, cwd=tree, inherit=False)
    if code != 0:
        raise SystemExit(f"{tree} on {home} failed ({code}); see {log}")
    return {"wall": wall, "cpu": _cpu_children() - cpu, "rss_mb": rss, "largest_mb": largest}


def _copy(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("archive"),
                    copy_function=shutil.copy2)
    return target


def _new_file(work: Path, megabytes: float) -> Path:
    import duckdb

    from benchmarks import generate

    partner, year = NEW_FILE
    folder = work / "new-file"
    shutil.rmtree(folder, ignore_errors=True)
    rows = generate.rows_for(partner, megabytes, duckdb.connect())
    return generate.write_partner_file(folder, partner, year, rows)


def _empty(work: Path) -> Path:
    from pipelines.config import Workspace

    home = work / "empty-source"
    if not home.exists():
        Workspace.resolve(home).add_definitions()
    return home


# Columns of the published status rows that are the night's own receipt times.
RECEIPT_TIMES = ("latest_received_at", "first_received_at")


def outputs(home: Path, began: float) -> dict:
    """`incremental_night.outputs`, except the two published files that carry the night's run
    id and times (and checksums of those): the manifest's file list, and the status rows without
    their receipt times."""
    import duckdb

    from benchmarks.incremental_night import outputs as night_outputs

    found = night_outputs(home, began)
    folder = home / "data" / "published" / INITIATIVE / "partnership"
    found.pop("published manifest.json", None)
    found.pop("published submissions.parquet", None)
    manifest = json.loads((folder / "manifest.json").read_text())
    found["manifest files"] = sorted(manifest["files"])
    if (folder / "submissions.parquet").exists():  # not published by every night
        con = duckdb.connect()
        found["submissions.parquet"] = con.execute(
            f"SELECT * EXCLUDE ({', '.join(RECEIPT_TIMES)}) FROM read_parquet($path) ORDER BY ALL",
            {"path": str(folder / "submissions.parquet")}).fetchall()
        con.close()
    return found


def measure(args, trees: dict[str, tuple[Path, dict]], env: dict) -> dict:
    work = args.work
    results: dict[str, dict[str, list[dict]]] = {}
    differences: list[str] = []
    new_file = _new_file(work, args.new_file_megabytes) if "one-new" in args.case else None
    primed = work / "primed"
    if "one-new" in args.case and not primed.exists():
        # A copied workspace's first run also brings the snapshot up to date: done once here,
        # so that every measured copy starts where a night left it.
        tree, extra = next(iter(trees.values()))
        run_cli(tree, _copy(args.source, work / "priming"), {**env, **extra},
                work / "priming.log")
        (work / "priming").rename(primed)
    for round_ in range(args.rounds):
        order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
        for case in args.case:
            seen: dict[str, dict] = {}
            began = time.time()  # every tree's own timestamps are masked from here on
            for label in order:
                tree, extra = trees[label]
                source = {"empty": _empty(work), "one-new": primed}.get(case, args.source)
                # The same path for every tree: paths are part of the outputs compared.
                home = _copy(source, work / case)
                run_env = {**env, **extra}
                log = work / f"{case}-{label}-{round_}.log"
                steps = []
                if case == "one-new":
                    steps.append(("no new files", run_cli(tree, home, run_env, log)))
                    target = home / "data" / "intake" / INITIATIVE / NEW_FILE[0] / new_file.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(new_file, target)
                steps.append((case, run_cli(tree, home, run_env, log.with_suffix(".2.log"))))
                for step, measured in steps:
                    results.setdefault(f"{step} | {label}", {}).setdefault("runs", []).append(
                        measured)
                    print(f"round {round_} {step} {label}: wall {measured['wall']:.2f} s, cpu "
                          f"{measured['cpu']:.2f} s, rss {measured['rss_mb']:.0f} MB, load "
                          f"{os.getloadavg()[0]:.1f}", flush=True)
                if case != "empty":
                    seen[label] = outputs(home, began)
                shutil.rmtree(home, ignore_errors=True)
            labels = list(seen)
            for other in labels[1:]:
                if seen[other] != seen[labels[0]]:
                    keys = sorted(k for k in seen[other] if seen[other].get(k) !=
                                  seen[labels[0]].get(k))
                    differences.append(f"round {round_} {case}: {labels[0]} vs {other}: {keys}")
    return {"results": results, "differences": differences, "load": os.getloadavg()}


def report(measured: dict) -> str:
    lines = ["| run | tree | median wall s | median CPU s | max peak tree RSS MB | walls |",
             "|---|---|---:|---:|---:|---|"]
    for name, found in measured["results"].items():
        runs = found["runs"]
        step, label = name.split(" | ")
        lines.append(f"| {step} | {label} | {statistics.median(r['wall'] for r in runs):.2f} | "
                     f"{statistics.median(r['cpu'] for r in runs):.2f} | "
                     f"{max(r['rss_mb'] for r in runs):.0f} | "
                     f"{', '.join(format(r['wall'], '.2f') for r in runs)} |")
    lines.append("")
    lines.append("- outputs: " + ("identical between the trees in every round"
                                  if not measured["differences"] else
                                  "DIFFERENT: " + "; ".join(measured["differences"])))
    lines.append("- load average after: " + ", ".join(f"{x:.1f}" for x in measured["load"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the code tree before (holds pipelines/)")
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--source", type=Path)
    parser.add_argument("--case", action="append", choices=["one-new", "night", "empty"])
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=VAR=VALUE: the after tree with VAR=VALUE set")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new-file-megabytes", type=float, default=20)
    parser.add_argument("--work", type=Path, default=Path("/tmp/worker-ab"))
    parser.add_argument("--api-url", help="a running Prefect server (default: start one)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.case = args.case or ["one-new"]
    args.work.mkdir(parents=True, exist_ok=True)
    trees: dict[str, tuple[Path, dict]] = {}
    if args.before:
        trees["before"] = (args.before.resolve(), {})
    trees["after"] = (args.after.resolve(), {})
    for variant in args.variant:
        name, setting = variant.split("=", 1)
        key, value = setting.split("=", 1)
        trees[name] = (args.after.resolve(), {key: value})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(BACKBONE_SETTLE_SECONDS="0", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1")
    if args.api_url:
        measured = measure(args, trees, {**env, "PREFECT_API_URL": args.api_url})
    else:
        with running_server(args.work / "prefect-home", args.work / "server.log") as (url, _):
            measured = measure(args, trees, {**env, "PREFECT_API_URL": url})
    text = report(measured)
    if args.json:
        args.json.write_text(json.dumps(measured, indent=1, default=str))
    print(text)
    return text


if __name__ == "__main__":
    main()
