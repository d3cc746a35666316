"""The nightly run against a bare DuckDB baseline and a pandas + GX-pandas path, on the same files.

    python -m benchmarks.run --megabytes 1000          # ~1 GB; see benchmarks/README.md

One script, one machine, one set of generated files, so the ratios hold even on a busy machine:

a. baseline: DuckDB `COPY (FROM read_csv(file)) TO 'x.parquet'` per file (cp1252 files, which
   DuckDB cannot read without a download, are transcoded to UTF-8 in Python first, timed);
b. the full nightly run: `python -m pipelines.cli run` (the real Prefect flow) in a subprocess,
   peak RSS sampled every 0.1 s over its whole process tree (Prefect's temporary server too);
c. pandas + GX-pandas (benchmarks/pandas_path.py) in a subprocess, on one file per person-level
   partner by default and scaled linearly by bytes per partner (`--pandas-all` for every file);
d. the nightly run again with no new files (measure, suppress, publish on the full warehouse);
e. one new ~20 MB file dropped onto that warehouse, and the baseline on that file alone;
f. (a fresh copy of the same files) the empty and the full run against a running Prefect server,
   as a scheduled deployment runs, without the temporary server's start-up; then, on that
   warehouse, the no-new-files run and the one-new-file run (the same new file) again.

The incremental target (issue 14): the one-new-file run costs at most twice a fresh night's fixed
cost (the empty-workspace run) plus that file's share of the full run beyond that fixed cost
(full - empty, scaled by the file's bytes over all bytes), with either server.
`--skip-temporary` leaves out (b), (d) and (e), the runs on the temporary server.

Before (b) the flow runs once on an empty workspace so Prefect's database exists (start-up cost
reported separately). Results are printed as a Markdown table and appended to
benchmarks/RESULTS.md with the machine, versions and raw numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import duckdb
import psutil

from benchmarks import generate
from benchmarks.prefect_server import running_server
from benchmarks.sampling import RssSampler, run_sampled
from pipelines.config import Workspace

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
NEW_FILE = ("riverbend_schools", 2021)  # a late file for a year not loaded yet


@dataclass
class Measured:
    name: str
    megabytes: float
    seconds: float
    peak_rss_mb: float | None = None  # whole process tree
    peak_process_mb: float | None = None  # largest single process
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float:
        return self.megabytes / self.seconds if self.seconds else 0.0


def files_in(intake: Path) -> list[tuple[Path, str]]:
    return sorted((p, p.parent.name) for p in intake.glob("*/*") if p.is_file()
                  and not p.name.startswith("."))


def baseline(files: list[tuple[Path, str]], out: Path) -> Measured:
    """DuckDB's floor: read each CSV and write it as Parquet, nothing else."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    started = time.perf_counter()
    transcode = 0.0
    for index, (path, _) in enumerate(files):
        source = path
        try:
            con.execute(f"COPY (FROM read_csv(?)) TO '{out / f'{index}.parquet'}' (FORMAT parquet)",
                        [str(path)])
        except duckdb.Error:  # cp1252: DuckDB reads UTF-8/UTF-16/latin-1 only without extensions
            mark = time.perf_counter()
            source = out / f"{index}.utf8.csv"
            with path.open("r", encoding="cp1252", newline="") as src, \
                    source.open("w", encoding="utf-8", newline="") as dst:
                while chunk := src.read(16 * 1024 * 1024):
                    dst.write(chunk)
            transcode += time.perf_counter() - mark
            con.execute(f"COPY (FROM read_csv(?)) TO '{out / f'{index}.parquet'}' (FORMAT parquet)",
                        [str(source)])
            source.unlink()
    seconds = time.perf_counter() - started
    con.close()
    size = sum(p.stat().st_size for p, _ in files) / 1e6
    return Measured("baseline: DuckDB COPY read_csv -> parquet", size, seconds,
                    note=f"in this process, RSS not sampled; includes {transcode:.1f} s "
                         "transcoding cp1252 files",
                    extra={"transcode_seconds": transcode})


def nightly(name: str, home: Path, log: Path, megabytes: float, env: dict) -> Measured:
    samples: list[tuple[float, int]] = []
    day = dt.date.today()
    seconds, tree, single, code = run_sampled(
        [PYTHON, "-m", "pipelines.cli", "run", "--home", str(home), "--initiative", "riverbend"],
        log, env, samples)
    if code != 0:
        raise SystemExit(f"{name}: the nightly run failed ({code}); see {log}")
    facts = outcome(home, log)
    facts.update(phases(samples, facts["task_ends"], day))
    return Measured(name, megabytes, seconds, tree, single, extra=facts)


def phases(samples: list[tuple[float, int]], ends: list, day: dt.date) -> dict:
    """Peak tree RSS while files were staged and during the warehouse step (from task ends)."""
    def stamp(clock: str) -> float:
        return dt.datetime.combine(day, dt.time.fromisoformat(clock)).timestamp()
    staged = [stamp(t) for t, name, _ in ends if name.startswith("stage ")]
    warehouse_end = [stamp(t) for t, name, _ in ends if name.startswith("warehouse ")]
    if not samples or not warehouse_end:
        return {}
    split = max(staged) if staged else samples[0][0]
    staging = [rss for t, rss in samples if t <= split]
    after = [rss for t, rss in samples if split < t <= warehouse_end[-1] + 1]
    return {"peak_rss_staging_mb": max(staging, default=0) / 1e6,
            "peak_rss_warehouse_step_mb": max(after, default=0) / 1e6,
            "staging_seconds": split - samples[0][0] if staged else 0.0,
            "warehouse_step_seconds": warehouse_end[-1] - split}


def outcome(home: Path, log: Path) -> dict:
    """What the run did, from the snapshot it leaves, and task end times from Prefect's log."""
    facts: dict = {}
    snapshot = home / "data" / "warehouse" / "snapshot.duckdb"
    if snapshot.exists():
        con = duckdb.connect(str(snapshot), read_only=True)
        facts["submissions"] = dict(con.execute(
            "SELECT status, count(*) FROM submissions GROUP BY ALL").fetchall())
        facts["records"] = con.execute("SELECT count(*) FROM riverbend.records").fetchall()[0][0]
        facts["quarantine_cells"] = con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0]
        facts["indicator_cells"] = con.execute(
            "SELECT count(*) FROM riverbend.indicator_cells").fetchall()[0][0]
        con.close()
    # Prefect logs "HH:MM:SS.mmm | INFO | Task run 'stage x/y' - Finished in state Completed()";
    # when it does not log task ends, a task's last message (a file staged, results published)
    # stands for its end.
    pattern = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| \w+\s*\| (?:Task|Flow) run '([^']+)' - "
                         r"(?:Finished in state (\w+))?")
    ends, last = [], {}
    for line in log.read_text(errors="replace").splitlines():
        match = pattern.match(line.strip())
        if match and match.group(3):
            ends.append((match.group(1), match.group(2), match.group(3)))
        elif match:
            last[match.group(2)] = match.group(1)
    finished = {name for _, name, _ in ends}
    ends += [(clock, name, "last message") for name, clock in last.items()
             if name not in finished]
    facts["task_ends"] = ends
    return facts


def pandas_path(home: Path, files: list[tuple[Path, str]], run_all: bool, log: Path) -> Measured:
    person = [(p, partner) for p, partner in files if partner != "riverbend_housing"]
    chosen = person if run_all else [next(f for f in person if f[1] == partner)
                                     for partner in dict.fromkeys(p for _, p in person)]
    seconds, tree, single, code = run_sampled(
        [PYTHON, "-m", "benchmarks.pandas_path", "--home", str(home),
         *[f"{path}:{partner}" for path, partner in chosen]], log)
    if code != 0:
        raise SystemExit(f"pandas path failed ({code}); see {log}")
    per_file = [json.loads(line) for line in log.read_text().splitlines()
                if line.startswith("{") and '"summary"' not in line]
    startup = seconds - sum(f["seconds"] for f in per_file)  # imports, GX context
    # Scale per partner by bytes: the partners' formats cost differently per byte.
    estimate = startup
    for partner in dict.fromkeys(p for _, p in person):
        done = [f for f in per_file if f["partner"] == partner]
        total = sum(p.stat().st_size for p, who in person if who == partner)
        estimate += sum(f["seconds"] for f in done) * total / sum(f["bytes"] for f in done)
    measured_mb = sum(f["bytes"] for f in per_file) / 1e6
    all_mb = sum(p.stat().st_size for p, _ in files) / 1e6
    note = ("all files" if run_all else
            f"measured on {len(per_file)} files ({measured_mb:.0f} MB, {seconds:.0f} s), scaled "
            "linearly by bytes per partner")
    stages: dict[str, float] = {}
    for f in per_file:
        for key, value in f["stages"].items():
            stages[key] = stages.get(key, 0.0) + value
    return Measured("pandas + GX-pandas path", all_mb, estimate, tree, single, note,
                    {"measured_seconds": seconds, "measured_mb": measured_mb,
                     "startup_seconds": startup, "stages_measured": stages, "files": per_file})


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {name: metadata.version(name) for name in
                ("duckdb", "great_expectations", "prefect", "pandas", "pyarrow", "numpy")}
    return {"nproc": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions}


def table(rows: list[Measured], base: Measured) -> str:
    lines = ["| run | MB | wall s | MB/s | x baseline | peak RSS tree MB | largest process MB "
             "| note |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        ratio = row.seconds / (base.seconds * row.megabytes / base.megabytes) \
            if row.megabytes and base.megabytes else float("nan")
        if not row.megabytes:
            ratio_text = "-"
        elif row.extra.get("baseline_seconds"):
            ratio_text = f"{row.seconds / row.extra['baseline_seconds']:.1f}"
        else:
            ratio_text = f"{ratio:.1f}"
        size = f"{row.megabytes:.0f}" if row.megabytes else "-"
        speed = f"{row.mb_per_s:.1f}" if row.megabytes else "-"
        tree = f"{row.peak_rss_mb:.0f}" if row.peak_rss_mb else "-"
        single = f"{row.peak_process_mb:.0f}" if row.peak_process_mb else "-"
        lines.append(f"| {row.name} | {size} | {row.seconds:.1f} | {speed} | {ratio_text} | "
                     f"{tree} | {single} | {row.note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=1000)
    parser.add_argument("--new-file-megabytes", type=float, default=20)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--pandas-all", action="store_true", help="pandas path on every file")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-temporary", action="store_true",
                        help="only the runs against a running Prefect server")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args(argv)

    work = args.work.resolve()
    run_dir = work / f"run-{int(args.megabytes)}mb"
    shutil.rmtree(run_dir, ignore_errors=True)
    home, logs = run_dir / "ws", run_dir / "logs"
    logs.mkdir(parents=True)
    env = {"PREFECT_HOME": str(work / "prefect-home"), "PREFECT_LOGGING_LEVEL": "INFO",
           "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200",
           "BACKBONE_SETTLE_SECONDS": "0"}  # the files were just generated, whole
    load_before = os.getloadavg()
    started_at = dt.datetime.now()

    mark = time.perf_counter()
    written = generate.generate(home, args.megabytes, verbose=False)
    generated_s = time.perf_counter() - mark
    files = files_in(home / "data" / "intake" / "riverbend")
    total_mb = sum(p.stat().st_size for p, _ in files) / 1e6
    print(f"generated {len(written)} files, {total_mb:.0f} MB in {generated_s:.0f} s", flush=True)

    base = baseline(files, run_dir / "baseline")
    print(f"baseline: {base.seconds:.1f} s ({base.mb_per_s:.0f} MB/s)", flush=True)

    pandas = None
    if not args.skip_pandas:
        pandas = pandas_path(home, files, args.pandas_all, logs / "pandas.log")
        print(f"pandas: {pandas.seconds:.0f} s ({pandas.note})", flush=True)

    empty = Workspace(run_dir / "empty").add_definitions(home).root
    if args.skip_temporary:
        # The served runs on these files: the temporary server is not started at all.
        return _served_only(args, run_dir, logs, home, empty, files, total_mb, base, pandas,
                            env, load_before, started_at, generated_s)
    cold = nightly("nightly, empty workspace (Prefect start-up, no data)", empty,
                   logs / "nightly-empty.log", 0, env)
    print(f"empty workspace: {cold.seconds:.1f} s", flush=True)

    # The same files, for the run against a running server.
    served_home = Workspace(run_dir / "ws-served").add_definitions(home).root
    shutil.copytree(home / "data" / "intake", served_home / "data" / "intake",
                    copy_function=os.link)  # files are moved, never changed: links suffice

    full = nightly("nightly, all files (full run)", home, logs / "nightly-full.log", total_mb, env)
    print(f"nightly: {full.seconds:.1f} s, peak {full.peak_rss_mb:.0f} MB", flush=True)
    again = nightly("nightly, no new files (large warehouse)", home, logs / "nightly-again.log",
                    0, env)
    again.note = "nothing new: measure and publish skipped (data_version unchanged)"
    print(f"no new files: {again.seconds:.1f} s", flush=True)

    partner, year = NEW_FILE
    new_rows = generate.rows_for(partner, args.new_file_megabytes, duckdb.connect())
    new_path = generate.write_partner_file(home / "data" / "intake" / "riverbend", partner, year,
                                           new_rows)
    new_mb = new_path.stat().st_size / 1e6
    new_base = baseline([(new_path, partner)], run_dir / "baseline-new")
    one = nightly("nightly, one new file on the large warehouse", home, logs / "nightly-one.log",
                  new_mb, env)
    one.note = f"{new_path.name}; baseline on it {new_base.seconds:.2f} s"
    one.extra["baseline_seconds"] = new_base.seconds
    print(f"one new file: {one.seconds:.1f} s", flush=True)

    with running_server(work / "prefect-server-home", logs / "prefect-server.log") as (url, server):
        served_env = {**env, "PREFECT_API_URL": url}
        warm = nightly("nightly, empty workspace, running Prefect server", empty,
                       logs / "nightly-empty-served.log", 0, served_env)
        server_rss = RssSampler(server.pid)
        server_rss.start()
        served = nightly("nightly, all files, running Prefect server (as scheduled)", served_home,
                         logs / "nightly-full-served.log", total_mb, served_env)
        server_rss.done.set()
        server_rss.join()
        print(f"nightly against a running server: {served.seconds:.1f} s", flush=True)
        served_again, served_one = incremental(served_home, logs, served_env, new_rows,
                                               args.new_file_megabytes, new_base)
    served.extra["prefect_server_peak_rss_mb"] = server_rss.peak_total / 1e6

    rows = [base, full, served] + ([pandas] if pandas else []) + [cold, warm, again, one,
                                                                  served_again, served_one]
    cold.note = "fixed cost in every run"
    warm.note = "fixed cost when a Prefect server is already running"
    full.note = f"{full.seconds / base.seconds:.1f}x baseline (target <= 4x)"
    served.note = (f"{served.seconds / base.seconds:.1f}x baseline; the Prefect server (not in "
                   f"this tree) peaked at {server_rss.peak_total / 1e6:.0f} MB")
    if pandas:
        pandas.note += (f"; {pandas.seconds / full.seconds:.1f}x the nightly run, "
                        f"{pandas.seconds / served.seconds:.1f}x with a running server "
                        "(target >= 5x)")
    markdown = table(rows, base)
    load_after = os.getloadavg()
    facts = machine()
    header = (f"## {started_at:%Y-%m-%d %H:%M} — {total_mb:.0f} MB, {len(files)} files\n\n"
              f"Machine: {facts['nproc']} cores ({facts['cpu']}), {facts['ram_gb']} GB RAM, "
              f"Python {facts['python']}; load average {load_before[0]:.1f} before, "
              f"{load_after[0]:.1f} after (shared machine: expect noise).\n"
              f"Versions: {', '.join(f'{k} {v}' for k, v in facts['versions'].items())}.\n")
    split = [f"- full run phases: staging {full.extra.get('staging_seconds', 0):.0f} s (from "
             f"process start to the last file staged), warehouse step "
             f"{full.extra.get('warehouse_step_seconds', 0):.0f} s; peak RSS (tree) while staging "
             f"{full.extra.get('peak_rss_staging_mb', 0):.0f} MB, during the warehouse step "
             f"{full.extra.get('peak_rss_warehouse_step_mb', 0):.0f} MB"]
    served_peak = served.peak_rss_mb + served.extra["prefect_server_peak_rss_mb"]

    def verdict(temporary: bool, running: bool) -> str:
        return {(True, True): "met", (False, True): "met with a running server only",
                (True, False): "met with the temporary server only"}.get((temporary, running),
                                                                         "NOT met")

    targets = split + [
        f"- nightly / baseline: {full.seconds / base.seconds:.1f}x with the temporary Prefect "
        f"server, {served.seconds / base.seconds:.1f}x with a running one (target <= 4x): "
        + verdict(full.seconds <= 4 * base.seconds, served.seconds <= 4 * base.seconds),
        f"- peak RSS of the nightly run: {full.peak_rss_mb:.0f} MB for the process tree with the "
        f"temporary server; {served_peak:.0f} MB for the flow's tree plus the running server "
        f"(target <= 1536 MB): " + verdict(full.peak_rss_mb <= 1536, served_peak <= 1536)]
    targets += [incremental_verdict("the temporary server", one, cold, full, total_mb),
                incremental_verdict("a running server", served_one, warm, served, total_mb)]
    if pandas:
        targets.insert(2, f"- pandas path / nightly: {pandas.seconds / full.seconds:.1f}x with the "
                       f"temporary Prefect server, {pandas.seconds / served.seconds:.1f}x with a "
                       "running one (target >= 5x): "
                       + verdict(pandas.seconds >= 5 * full.seconds,
                                 pandas.seconds >= 5 * served.seconds))
    write_report(args, run_dir, header, markdown, targets, facts, generated_s, load_before,
                 load_after, rows)


def incremental(home: Path, logs: Path, env: dict, new_rows: int, new_megabytes: float,
                new_base: Measured) -> tuple[Measured, Measured]:
    """The no-new-files run, then one new file, on the large warehouse at `home`."""
    again = nightly("nightly, no new files, running Prefect server", home,
                    logs / "nightly-again-served.log", 0, env)
    again.note = "nothing new: measure and publish skipped (data_version unchanged)"
    partner, year = NEW_FILE
    path = generate.write_partner_file(home / "data" / "intake" / "riverbend", partner, year,
                                       new_rows)
    one = nightly("nightly, one new file, running Prefect server", home,
                  logs / "nightly-one-served.log", path.stat().st_size / 1e6, env)
    one.note = f"{path.name}; baseline on it {new_base.seconds:.2f} s"
    one.extra["baseline_seconds"] = new_base.seconds
    print(f"against a running server: no new files {again.seconds:.1f} s, one new file "
          f"{one.seconds:.1f} s", flush=True)
    return again, one


def incremental_verdict(server: str, one: Measured, empty: Measured, full: Measured,
                        total_mb: float) -> str:
    share = (full.seconds - empty.seconds) * one.megabytes / total_mb
    budget = 2 * empty.seconds + share
    return (f"- one new {one.megabytes:.0f} MB file on the large warehouse, {server}: "
            f"{one.seconds:.1f} s = {one.seconds / budget:.2f}x the budget of twice the fixed "
            f"cost ({empty.seconds:.1f} s) plus the file's share ({share:.1f} s) = {budget:.1f} s "
            f"(target <= 1.00x): {'met' if one.seconds <= budget else 'NOT met'}")


def _served_only(args, run_dir: Path, logs: Path, home: Path, empty: Path, files, total_mb,
                 base: Measured, pandas: Measured | None, env: dict, load_before, started_at,
                 generated_s) -> None:
    partner, year = NEW_FILE
    new_rows = generate.rows_for(partner, args.new_file_megabytes, duckdb.connect())
    scratch = run_dir / "new-file"
    new_base = baseline([(generate.write_partner_file(scratch, partner, year, new_rows),
                          partner)], run_dir / "baseline-new")
    shutil.rmtree(scratch)
    with running_server(args.work.resolve() / "prefect-server-home",
                        logs / "prefect-server.log") as (url, server):
        served_env = {**env, "PREFECT_API_URL": url}
        warm = nightly("nightly, empty workspace, running Prefect server", empty,
                       logs / "nightly-empty-served.log", 0, served_env)
        print(f"empty workspace, running server: {warm.seconds:.1f} s", flush=True)
        server_rss = RssSampler(server.pid)
        server_rss.start()
        served = nightly("nightly, all files, running Prefect server (as scheduled)", home,
                         logs / "nightly-full-served.log", total_mb, served_env)
        server_rss.done.set()
        server_rss.join()
        print(f"nightly against a running server: {served.seconds:.1f} s", flush=True)
        again, one = incremental(home, logs, served_env, new_rows, args.new_file_megabytes,
                                 new_base)
    server_peak = server_rss.peak_total / 1e6
    served.extra["prefect_server_peak_rss_mb"] = server_peak
    warm.note = "fixed cost when a Prefect server is already running"
    served.note = (f"{served.seconds / base.seconds:.1f}x baseline; the Prefect server (not in "
                   f"this tree) peaked at {server_peak:.0f} MB")
    rows = [base, served] + ([pandas] if pandas else []) + [warm, again, one]
    facts = machine()
    load_after = os.getloadavg()
    header = (f"## {started_at:%Y-%m-%d %H:%M} — {total_mb:.0f} MB, {len(files)} files "
              "(running Prefect server only)\n\n"
              f"Machine: {facts['nproc']} cores ({facts['cpu']}), {facts['ram_gb']} GB RAM, "
              f"Python {facts['python']}; load average {load_before[0]:.1f} before, "
              f"{load_after[0]:.1f} after (shared machine: expect noise).\n"
              f"Versions: {', '.join(f'{k} {v}' for k, v in facts['versions'].items())}.\n")
    targets = [
        f"- full run phases: staging {served.extra.get('staging_seconds', 0):.0f} s, warehouse "
        f"step {served.extra.get('warehouse_step_seconds', 0):.0f} s",
        f"- nightly / baseline: {served.seconds / base.seconds:.1f}x with a running server "
        f"(target <= 4x): {'met' if served.seconds <= 4 * base.seconds else 'NOT met'}",
        f"- peak RSS: {served.peak_rss_mb:.0f} MB for the flow's tree, "
        f"{served.peak_rss_mb + server_peak:.0f} MB with the running server (target <= 1536 MB): "
        + ("met" if served.peak_rss_mb + server_peak <= 1536 else "NOT met"),
        incremental_verdict("a running server", one, warm, served, total_mb)]
    if pandas:
        targets.append(f"- pandas path / nightly: {pandas.seconds / served.seconds:.1f}x with a "
                       "running server (target >= 5x): "
                       + ("met" if pandas.seconds >= 5 * served.seconds else "NOT met"))
    write_report(args, run_dir, header, table(rows, base), targets, facts, generated_s,
                 load_before, load_after, rows)


def write_report(args, run_dir: Path, header: str, markdown: str, targets: list[str],
                 facts: dict, generated_s: float, load_before, load_after,
                 rows: list[Measured]) -> None:
    raw = {"machine": facts, "generated_seconds": generated_s, "load_before": load_before,
           "load_after": load_after, "runs": [asdict(r) for r in rows]}
    report = (header + "\n" + markdown + "\n\n" + "\n".join(targets) + "\n\n<details><summary>raw "
              "numbers</summary>\n\n```json\n" + json.dumps(raw, indent=1, default=str) +
              "\n```\n</details>\n")
    print("\n" + report)
    (run_dir / "result.json").write_text(json.dumps(raw, indent=1, default=str))
    if not args.no_results:
        if not args.results.exists():
            args.results.write_text("# Benchmark results\n\nAppended by `python -m benchmarks.run` "
                                    "(see README.md). Newest last.\n\n")
        with args.results.open("a") as handle:
            handle.write("\n" + report)


if __name__ == "__main__":
    main()
