"""What `backbone check` costs beyond importing Great Expectations, on a 1,000-row file.

Partners run `check` by hand, so its fixed cost is what they wait for. Importing GX alone takes
3 to 4 s here and cannot be avoided (the check is a GX suite); everything else is ours. In one
script, alternating so that a change in the machine's load hits both alike, this times in fresh
processes:

- `python -c "import great_expectations"` (the floor),
- `python -m pipelines.cli check FILE` on the first 1,000 rows of the sample clinic file, with
  the sample's template (14 of its 19 columns present),
- the same on a larger template: the sample template plus 24 columns (integers with bounds,
  strings with a pattern, amounts), all present in the file,

and prints the medians and each check's cost beyond the import (target: <= 0.5 s). `check` ends
without the interpreter's teardown (pipelines/process_end.py), which the floor pays (0.5-0.9 s
with GX loaded), so it is also compared with a second floor that skips it too: `import
great_expectations` then `os._exit(0)`; the difference to that floor is the check's own work.
It also runs the check once under `python -X importtime` and lists the heavy packages it
imported that the command does not need (Prefect must not be among them).

    python -m benchmarks.check_cost [--repeats 5] [--before /tmp/old-tree]

`--before DIR` also times another copy of the code (a tree holding `pipelines/`), alternating,
for before/after ratios in one script.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.config import REPO_ROOT, Workspace

SAMPLE = REPO_ROOT / "data" / "samples" / "riverbend" / "northside_clinic" / "northside_wcv_2022.csv"
PARTNER = "northside_clinic"
ROWS = 1000
EXTRA_COLUMNS = 24
# Packages the check must not import (they cost seconds and the command has no use for them).
NOT_NEEDED = ("prefect", "prefect_dask", "distributed", "jinja2")


def _extra_schema_lines() -> list[str]:
    lines = []
    for i in range(EXTRA_COLUMNS):
        name = f"extra_{i:02d}"
        kind = i % 3
        if kind == 0:
            lines.append(f"  - {{name: {name}, type: integer, min: 0, max: 1000}}")
        elif kind == 1:
            lines.append(f"  - {{name: {name}, pattern: \"[A-Z]{{2}}[0-9]{{3}}\"}}")
        else:
            lines.append(f"  - {{name: {name}, type: number, min: 0}}")
    return lines


def _extra_value(i: int, row: int) -> str:
    kind = i % 3
    if kind == 0:
        return str((row * 7 + i) % 1000)
    if kind == 1:
        return f"AB{(row + i) % 1000:03d}"
    return f"{(row * 13 + i) % 5000}.50"


def prepare(root: Path) -> dict[str, tuple[Path, Path]]:
    """Two workspaces, each with one 1,000-row file: {label: (home, file)}."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:ROWS + 1]
    cases = {}

    sample_home = Workspace.resolve(root / "sample").add_definitions().root
    sample_file = root / "sample" / "northside_1000.csv"
    sample_file.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    cases["sample template (14 columns)"] = (sample_home, sample_file)

    wide = Workspace.resolve(root / "wide").add_definitions()
    schema = wide.path("schemas", "intake", "person_outcomes_v1.yaml")
    text = schema.read_text(encoding="utf-8").rstrip("\n")
    schema.write_text(text + "\n" + "\n".join(_extra_schema_lines()) + "\n", encoding="utf-8")
    names = [f"extra_{i:02d}" for i in range(EXTRA_COLUMNS)]
    wide_file = root / "wide" / "northside_1000_wide.csv"
    rows = [",".join([header, *names])]
    rows += [",".join([line, *(_extra_value(i, n) for i in range(EXTRA_COLUMNS))])
             for n, line in enumerate(body)]
    wide_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cases[f"larger template ({14 + EXTRA_COLUMNS} columns)"] = (wide.root, wide_file)
    return cases


def _check_command(home: Path, file: Path) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "check", str(file), "--partner", PARTNER,
            "--initiative", "riverbend", "--home", str(home)]


CPU: dict[str, list[float]] = {}  # user + system seconds of each timed process, by label


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], code: Path = REPO_ROOT, label: str | None = None) -> float:
    """Wall seconds; the process's CPU seconds go to CPU[label] (a busy machine stretches wall
    time far more than CPU time)."""
    cpu = _cpu()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=code, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(code)})
    elapsed = time.perf_counter() - started
    if label is not None:
        CPU.setdefault(label, []).append(_cpu() - cpu)
    if done.returncode != 0:
        raise SystemExit(f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def _imported(command: list[str]) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", *command[1:]], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:")}


def imported_not_needed(home: Path, file: Path) -> list[str]:
    """Listed packages the check imported that importing GX alone does not."""
    extra = _imported(_check_command(home, file)) - _imported(
        [sys.executable, "-c", "import great_expectations"])
    return sorted(m for m in extra if m.split(".")[0] in NOT_NEEDED and "." not in m)


FLOOR = "import great_expectations"
BARE_FLOOR = "import great_expectations, no teardown"


def measure(repeats: int, work: Path, codes: dict[str, Path]) -> dict:
    cases = prepare(work)
    floor_command = [sys.executable, "-c", "import great_expectations"]
    bare_command = [sys.executable, "-c", "import great_expectations, os; os._exit(0)"]
    times: dict[str, list[float]] = {FLOOR: [], BARE_FLOOR: []}
    runs = [(f"{name}: {label}" if len(codes) > 1 else label, home, file, code)
            for name, code in codes.items() for label, (home, file) in cases.items()]
    times.update({label: [] for label, *_ in runs})
    _timed(floor_command)  # warm the file cache for all
    for _, home, file, code in runs:
        _timed(_check_command(home, file), code)
    for _ in range(repeats):
        times[FLOOR].append(_timed(floor_command, label=FLOOR))
        times[BARE_FLOOR].append(_timed(bare_command, label=BARE_FLOOR))
        for label, home, file, code in runs:
            times[label].append(_timed(_check_command(home, file), code, label))
    first_home, first_file = next(iter(cases.values()))
    return {"times": times, "cpu": dict(CPU),
            "not_needed": imported_not_needed(first_home, first_file), "load": os.getloadavg()}


def report(result: dict) -> str:
    times = result["times"]
    floor, bare = statistics.median(times[FLOOR]), statistics.median(times[BARE_FLOOR])
    cpu = result["cpu"]
    cpu_floor = statistics.median(cpu[FLOOR])
    lines = ["| command | median wall s | beyond importing GX s | beyond importing GX, no "
             "teardown s | x import GX | median CPU s | CPU beyond importing GX s | wall runs |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for label, values in times.items():
        median, used = statistics.median(values), statistics.median(cpu[label])
        name = label if label.startswith("import") else f"check, {label}"
        lines.append(f"| {name} | {median:.2f} | {median - floor:.2f} | {median - bare:.2f} | "
                     f"{median / floor:.2f} | {used:.2f} | {used - cpu_floor:.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in values)} |")
    checks = {k: statistics.median(v) for k, v in times.items()
              if not k.startswith(("import", "before"))}
    lines.append("")
    cpu_beyond = [statistics.median(v) - cpu_floor for k, v in cpu.items()
                  if not k.startswith(("import", "before"))]
    worst = max(checks.values())
    lines.append(f"- worst check beyond importing GX: {worst - floor:.2f} s wall, "
                 f"{max(cpu_beyond):.2f} s CPU (target <= 0.5 s): "
                 f"{'met' if worst - floor <= 0.5 else 'NOT met'}")
    lines.append(f"- its own work (beyond importing GX and ending without teardown, as it "
                 f"does): {worst - bare:.2f} s wall ({'within' if worst - bare <= 0.5 else 'over'}"
                 f" 0.5 s)")
    lines.append(f"- heavy packages imported that `check` does not need: "
                 f"{', '.join(result['not_needed']) or 'none'}")
    lines.append("- load average after: " + ", ".join(f"{x:.1f}" for x in result["load"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another code tree to time beside this one")
    args = parser.parse_args(argv)
    codes = {"before": args.before.resolve(), "after": REPO_ROOT} if args.before \
        else {"this code": REPO_ROOT}
    with tempfile.TemporaryDirectory(prefix="check-cost-") as work:
        text = report(measure(args.repeats, Path(work), codes))
    print(text)
    return text


if __name__ == "__main__":
    main()
