"""The fixed cost of a night with nothing to do, against a running Prefect server.

Most nights bring no file, or only files already loaded; a scheduled run reports to a server that
is already up (`backbone schedule`). In one script, alternating so that the machine's load hits
every variant alike, this times `python -m pipelines.cli run` in fresh processes on:

- an empty workspace (definitions only, no warehouse yet),
- the sample initiative after its files were loaded: no new files (warehouse, manifest and
  snapshot already in place),

and, as the floor of any run, `python -c "from prefect import flow, task"` (what a flow needs
of Prefect: `import prefect` alone defers most of it). Target: each run <= 3 s.

`--before DIR` also times another copy of the code (a tree with `pipelines/`), on its own copies
of the same workspaces, for before/after ratios in one script:

    python -m benchmarks.quiet_night [--repeats 5] [--before /tmp/old-tree]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.prefect_server import running_server
from pipelines.config import REPO_ROOT, Workspace

WORK = REPO_ROOT / "benchmarks" / "work" / "quiet"
SAMPLES = REPO_ROOT / "data" / "samples" / "riverbend"
FLOOR = "import Prefect's flow and task"


def _env(api_url: str, code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_API_URL=api_url, BACKBONE_SETTLE_SECONDS="0", PYTHONPATH=str(code),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    return env


def _timed(command: list[str], env: dict, cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                         f"{done.stderr[-3000:]}")
    return elapsed


def _run(home: Path) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home)]


def prepare(work: Path) -> tuple[Path, Path]:
    """An empty workspace and one holding the sample's files, to be loaded by a first run."""
    shutil.rmtree(work, ignore_errors=True)
    empty = Workspace.resolve(work / "empty").add_definitions().root
    loaded = Workspace.resolve(work / "loaded").add_definitions()
    for partner in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        target = loaded.intake / "riverbend" / partner.name
        target.mkdir(parents=True, exist_ok=True)
        for sample in sorted(partner.iterdir()):
            shutil.copy2(sample, target / sample.name)
    return empty, loaded.root


def measure(repeats: int, codes: dict[str, Path], work: Path = WORK) -> dict:
    empty, loaded = prepare(work)
    times: dict[str, list[float]] = {FLOOR: []}
    with running_server(work / "prefect-home", work / "server.log") as (api_url, _):
        # The first run loads the sample; each code then gets its own copies of both workspaces.
        _timed(_run(loaded), _env(api_url, REPO_ROOT), REPO_ROOT)
        cases = []
        for label, code in codes.items():
            for kind, home in (("empty workspace", empty), ("no new files", loaded)):
                copy = work / f"{label}-{home.name}"
                shutil.copytree(home, copy, symlinks=True)
                cases.append((f"{label}: {kind}", copy, code))
                times[f"{label}: {kind}"] = []
        for _, home, code in cases:  # warm-up: first snapshot and Prefect's flow registration
            _timed(_run(home), _env(api_url, code), code)
        floor = [sys.executable, "-c", "from prefect import flow, task"]
        for _ in range(repeats):
            times[FLOOR].append(_timed(floor, _env(api_url, REPO_ROOT), REPO_ROOT))
            for label, home, code in cases:
                times[label].append(_timed(_run(home), _env(api_url, code), code))
    return {"times": times, "load": os.getloadavg()}


def report(result: dict) -> str:
    times = result["times"]
    floor = statistics.median(times[FLOOR])
    lines = ["| command | median wall s | x the Prefect import | runs |", "|---|---:|---:|---|"]
    for label, values in times.items():
        median = statistics.median(values)
        lines.append(f"| {label} | {median:.2f} | {median / floor:.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in values)} |")
    lines.append("")
    for label, values in times.items():
        if label != FLOOR and not label.startswith("before"):
            median = statistics.median(values)
            lines.append(f"- {label}: {median:.2f} s (target <= 3 s): "
                         f"{'met' if median <= 3 else 'NOT met'}")
    lines.append("- load average after: " + ", ".join(f"{x:.1f}" for x in result["load"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another code tree to time beside this one")
    args = parser.parse_args(argv)
    codes = {"after": REPO_ROOT} if args.before else {"this code": REPO_ROOT}
    if args.before:
        codes = {"before": args.before.resolve(), **codes}
    text = report(measure(args.repeats, codes))
    print(text)
    return text


if __name__ == "__main__":
    main()
