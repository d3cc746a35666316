"""The one-new-file night, step by step, without Prefect: wall and CPU per step, with one or two
code trees, and the same outputs.

    python -m benchmarks.incremental_night --source <workspace> [--before <code tree>]

`--source`: a workspace after a night (its warehouse, snapshot and published versions are used),
or a generated one whose intake is loaded first by a night of this tree (`benchmarks/work/ab`).
One new file (`--partner`, `--year`, `--megabytes`) is generated once; then, per round and per
tree (alternately, so the machine's load hits both alike), a copy of the workspace gets the file
in its intake and a fresh process with that tree first on PYTHONPATH runs what `flows.nightly`
runs, in order, timing each step: importing the pipeline modules the flow imports (Prefect
left out), the definitions and discovery, importing Great Expectations (what staging imports
first), staging, the warehouse step (load and reports, then measure, suppress, disparities,
quality flags, publish and what it writes, each timed inside it), the snapshot, the run summary
and the status artifact's rows. What the flow adds (Prefect's import, flow and task runs, API
calls, artifacts) is not here: `benchmarks.run` measures the whole night against a server.

Outputs of every run are compared, tree against tree: every warehouse table (row count and an
order-independent hash of every row), every file of the partnership version published and every
report written, with the night's own timestamps, run ids and archive names masked (they differ
from run to run by construction); the snapshot's tables by row count and an order-independent
hash of every row, and its views' and comments' definitions.

Before each timed night the copy gets a fresh snapshot built by the same tree (untimed): a copied
workspace's definition files are new files, and a snapshot built from other files or by other
code is built afresh, so without this the night would time a fresh build, not the update.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
INITIATIVE = "riverbend"
# Timed inside the steps, by the name the caller calls them under: (module, attribute, label).
# A name a tree does not have is skipped; the step's remainder shows as "(rest)".
INNER = [
    ("pipelines.ingest", "still_due_section", "settle: status for reports"),
    ("pipelines.refresh", "build_indicator_cells", "measure"),
    ("pipelines.refresh", "suppress_cells", "suppress"),
    ("pipelines.refresh", "compute_disparities", "disparities"),
    ("pipelines.quality", "build_flags", "quality flags"),
    ("pipelines.refresh", "publish", "publish"),
    ("pipelines.publish", "write_datapackage", "publish: datapackage"),
    ("pipelines.publish", "render_scorecard", "publish: scorecard"),
    ("pipelines.publish", "status_table", "publish: status table"),
    ("pipelines.publish", "publish_status", "publish: status files"),
    ("pipelines.publish", "publish_flags", "publish: quality flags"),
    ("pipelines.publish", "write_manifest", "publish: manifest"),
    ("pipelines.resubmission", "mark_published", "mark published"),
    ("pipelines.quality_text", "add_to_reports", "reports: quality text"),
    ("pipelines.snapshot", "sources", "snapshot: sources"),
    ("pipelines.snapshot_incremental", "table_states", "snapshot: verification scan"),
    ("pipelines.snapshot", "_update_copy", "snapshot: copy brought up to date"),
    ("pipelines.snapshot_incremental", "apply", "snapshot: tables"),
    ("pipelines.snapshot_analyst", "refresh", "snapshot: analyst objects"),
    ("pipelines.snapshot", "_build", "snapshot: fresh build (the copy path was not taken)"),
]
# What differs between two runs of the same night by construction.
MASKS = [(re.compile(r"\d{8}T\d{6}[-_][0-9a-f]{6,8}"), "<id>"),
         (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z| UTC)?"),
          "<time>"),
         (re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\b"), "<clock>")]  # "December 1, 2026 at 02:06"


def mask(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


class Steps:
    """Wall and CPU seconds per step, and per timed call inside the steps."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def run(self, name: str, function, *args, **kwargs):  # noqa: ANN001, ANN201
        return self._timed(name, False, function, *args, **kwargs)

    def _timed(self, name: str, inner: bool, function, *args, **kwargs):  # noqa: ANN001, ANN202
        row = {"step": name, "inner": inner}
        self.rows.append(row)  # before the calls inside it: the table lists a step first
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            row.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)

    def wrap(self, module, attribute: str, label: str) -> None:  # noqa: ANN001
        original = getattr(module, attribute, None)
        if original is None or not callable(original):
            return

        def timed(*args, **kwargs):  # noqa: ANN202
            return self._timed(label, True, original, *args, **kwargs)

        setattr(module, attribute, timed)


def _night(home: Path, run_id: str, snapshot: bool = True) -> dict:
    """In a fresh process: the flow's steps on `home`, as `flows._nightly_locked` and
    `flows.warehouse_task` call them."""
    import importlib

    steps = Steps()
    began = time.time()

    def imports() -> None:
        for name in ("pipelines.ingest", "pipelines.resubmission", "pipelines.warehouse",
                     "pipelines.config", "pipelines.discover", "pipelines.intake",
                     "pipelines.lock", "pipelines.publish", "pipelines.refresh",
                     "pipelines.run_summary", "pipelines.snapshot", "pipelines.standardize",
                     "pipelines.status_text"):
            importlib.import_module(name)

    steps.run("import the flow's modules (no Prefect)", imports)
    from pipelines import ingest, part_changes, warehouse
    from pipelines.config import Workspace
    from pipelines.discover import arriving, discover
    from pipelines.intake import stage_file
    from pipelines.publish import is_current
    from pipelines.refresh import measure_and_publish, refresh_status
    from pipelines.run_summary import run_summary_markdown
    from pipelines.snapshot import snapshot_warehouse
    from pipelines.standardize import ensure_salt, read_salt

    for module, attribute, label in INNER:
        steps.wrap(importlib.import_module(module), attribute, label)

    workspace = Workspace.resolve(home)

    def find() -> tuple:
        config = workspace.load(INITIATIVE)
        ensure_salt(workspace, INITIATIVE)
        found = discover(workspace, config)
        return config, found, arriving(workspace, config, found)

    config, found, still_arriving = steps.run("definitions, discovery", find)
    readable = [f for f in found if f.problem is None]
    refused = [(str(f.path), f.partner_id, f.problem.as_dict()) for f in found if f.problem]
    if readable:
        # Staging imports GX on its first file (gx_duckdb configures GX before importing it).
        steps.run("import Great Expectations", importlib.import_module, "pipelines.gx_duckdb")

    def stage() -> list:
        salt = read_salt(workspace, INITIATIVE)
        return [stage_file(f.path, workspace.load(INITIATIVE), f.partner_id, salt,
                           workspace.staging) for f in readable]

    staged = steps.run("stage", stage)
    con = warehouse.connect(workspace.warehouse_file)
    try:
        def load() -> list:
            warehouse.ensure_initiative_tables(con, config)
            return ingest.settle_all(con, workspace, config, staged, refused, run_id)

        settled = steps.run("warehouse: load, reports", load)

        def marts() -> dict:
            if is_current(con, workspace, config) and not part_changes.unpublished(con, config):
                refresh_status(con, workspace, config, run_id)
                return {"cells": 0, "suppressed": {"unchanged": True}, "note": "nothing new"}
            refreshed = measure_and_publish(con, workspace, config, run_id)
            return {"cells": refreshed.cells, "suppressed": refreshed.suppressed,
                    "published": str(refreshed.published), "note": None}

        outcome = steps.run("warehouse: measure and publish", marts)
        # The tree's own close (which seals the file for the snapshot's row ledger), if any.
        steps.run("warehouse: close", getattr(warehouse, "close", type(con).close), con)
    finally:
        con.close()
    if snapshot:
        steps.run("snapshot", snapshot_warehouse, workspace)
    summary = {"initiative": INITIATIVE, "files": [o.__dict__ for o in settled], **outcome,
               "failed": [], "arriving": still_arriving}
    steps.run("run summary", run_summary_markdown, [summary], run_id)
    steps.run("status artifact rows", _status_rows, workspace)
    return {"steps": steps.rows, "began": began, "ended": time.time(),
            "statuses": [o.status for o in settled]}


def _status_rows(workspace) -> list:  # noqa: ANN001
    """What `status_text.status_artifacts` builds before it calls Prefect."""
    from pipelines.status_page import published_status
    from pipelines.status_text import artifact_rows, counts_line, rows_of

    config = workspace.load(INITIATIVE)
    found = published_status(workspace, config)
    rows = rows_of(found[0]) if found else []
    counts_line(rows)
    return artifact_rows(rows)


def _prime(home: Path) -> None:
    """A fresh snapshot of `home` built by this process's tree: the night's update then starts
    from a snapshot whose mark names this tree's code and this copy's definition files (a copied
    workspace's files are new files, so a snapshot built elsewhere would be built afresh)."""
    from pipelines.config import Workspace
    from pipelines.snapshot import snapshot_warehouse

    snapshot_warehouse(Workspace.resolve(home), fresh=True)


def _child(home: Path, run_id: str, snapshot: bool) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    result = _night(home, run_id, snapshot)
    result.update(process_s=time.perf_counter() - started, process_cpu=time.process_time() - cpu)
    print(json.dumps(result))


def run_night(tree: Path, home: Path, run_id: str, snapshot: bool = True) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "BACKBONE_SETTLE_SECONDS": "0"}
    if snapshot and _warehouse_file(home).exists():
        _in_tree(env, tree, home, ["--prime", str(home)])
    done = _in_tree(env, tree, home, ["--child", str(home), "--run-id", run_id]
                    + ([] if snapshot else ["--no-snapshot"]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def _warehouse_file(home: Path) -> Path:
    return home / "data" / "warehouse" / "backbone.duckdb"


def _in_tree(env: dict, tree: Path, home: Path, arguments: list[str]
             ) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), *arguments], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{tree} on {home} failed:\n{done.stderr[-3000:]}")
    return done


def copy_workspace(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("archive"))
    return target


def outputs(home: Path, began: float) -> dict:
    """What a night leaves, comparable between two runs of it (see the module docstring)."""
    import duckdb

    from pipelines.config import Workspace
    from pipelines.versions import PARTNERSHIP, audience_dir

    workspace = Workspace.resolve(home)
    found: dict[str, object] = {}
    night = f"to_timestamp({began})::TIMESTAMP"
    for label, database in (("table", workspace.warehouse_file),
                            ("snapshot", workspace.snapshot_file)):
        if not database.exists():
            continue
        con = duckdb.connect(str(database), read_only=True)
        try:
            found.update(_contents(con, label, night))
        finally:
            con.close()
    folder = audience_dir(workspace, INITIATIVE, PARTNERSHIP)
    for path in sorted(folder.iterdir()):
        found[f"published {path.name}"] = _file_digest(path)
    reports = workspace.root / "data" / "reports"
    for path in sorted(p for p in reports.rglob("*") if p.is_file()):
        found[f"report {mask(str(path.relative_to(reports)))}"] = _file_digest(path)
    return found


def _contents(con, label: str, night: str) -> dict:  # noqa: ANN001
    """Every table's row count and order-independent hash of its rows (the night's timestamps
    masked), every view's definition and every comment."""
    found: dict[str, object] = {}
    con.execute("SET TimeZone = 'UTC'")
    # The warehouse's row ledger (pipelines/snapshot_ledger.py) is bookkeeping, not an output:
    # a tree without it copies it to the snapshot, and the two keep different rows in it.
    ledger = "NOT (schema_name = 'main' AND table_name = 'row_ledger')"
    tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                         f"database_name = current_database() AND {ledger} ORDER BY ALL"
                         ).fetchall()
    for schema, table in tables:
        name = f'"{schema}"."{table}"'
        columns = con.execute(f"DESCRIBE {name}").fetchall()
        small = con.execute(f"SELECT count(*) < 100000 FROM {name}").fetchall()[0][0]
        row = ", ".join(_masked(f'"{c}"', kind, night, small) for c, kind, *_ in columns)
        found[f"{label} {schema}.{table}"] = con.execute(
            f"SELECT count(*), sum(hash(row({row}))) FROM {name}").fetchall()[0]
    found[f"{label}: views and comments"] = hashlib.sha256(json.dumps(con.execute(
        "SELECT schema_name, view_name, sql, comment::VARCHAR FROM duckdb_views() WHERE "
        "database_name = current_database() AND NOT internal UNION ALL SELECT schema_name, "
        "table_name || '.' || column_name, NULL, comment::VARCHAR FROM duckdb_columns() WHERE "
        f"database_name = current_database() AND {ledger} UNION ALL SELECT schema_name, "
        "table_name, NULL, comment::VARCHAR FROM duckdb_tables() WHERE database_name = "
        f"current_database() AND {ledger} ORDER BY ALL").fetchall(), default=str).encode()
    ).hexdigest()[:16]
    return found


def _masked(column: str, kind: str, night: str, small: bool) -> str:
    if kind.startswith("TIMESTAMP"):
        # From the night's first instant exactly (taken before its process writes anything): a
        # slack would also mask the night before's last rows whenever it ended less than the
        # slack before the first tree's night began, and not for the second tree's.
        return f"CASE WHEN {column}::TIMESTAMP >= {night} THEN NULL ELSE {column} END"
    if kind == "VARCHAR" and small:
        for pattern, replacement in MASKS:
            column = f"regexp_replace({column}, '{pattern.pattern}', '{replacement}', 'g')"
    return column


def _file_digest(path: Path) -> str:
    if path.suffix in (".html", ".json", ".md", ".txt", ".csv"):
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.name == "manifest.json":
            text = _manifest_text(text)
        return "text " + hashlib.sha256(mask(text).encode()).hexdigest()[:16]
    return "bytes " + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _manifest_text(text: str) -> str:
    """The manifest, without the checksums of files that carry the night's time (compared on
    their own, masked)."""
    manifest = json.loads(text)
    for name, entry in manifest.get("files", {}).items():
        if name.endswith((".html", ".json")) or name == "submissions.parquet":
            entry.pop("sha256", None)
            entry.pop("bytes", None)
    return json.dumps(manifest, sort_keys=True)


def report(results: dict[str, list[dict]]) -> str:
    """Per step: min wall and CPU over the rounds, per tree, and after / before (CPU)."""
    names = list(results)
    order: list[tuple[str, bool]] = []
    for runs in results.values():
        for row in runs[0]["steps"]:
            if (row["step"], row["inner"]) not in order:
                order.append((row["step"], row["inner"]))

    def total(run: dict, step: str, inner: bool) -> tuple[float, float] | None:
        rows = [r for r in run["steps"] if r["step"] == step and r["inner"] == inner]
        if not rows:
            return None
        return sum(r["wall"] for r in rows), sum(r["cpu"] for r in rows)

    head = "| step | " + " | ".join(f"{n} wall s | {n} CPU s" for n in names)
    head += " | after / before (CPU) |" if len(names) == 2 else " |"
    lines = [head, "|---|" + "---:|" * (2 * len(names) + (len(names) == 2))]
    for step, inner in order + [("process (all steps)", None)]:
        cells = []
        cpus = []
        for name in names:
            if inner is None:
                found = [(r["process_s"], r["process_cpu"]) for r in results[name]]
            else:
                found = [t for t in (total(r, step, inner) for r in results[name]) if t]
            if found:
                wall, cpu = min(w for w, _ in found), min(c for _, c in found)
                cells.append(f"{wall:.2f} | {cpu:.2f}")
                cpus.append(cpu)
            else:
                cells.append("- | -")
        ratio = ""
        if len(names) == 2:
            ratio = (f" {cpus[1] / cpus[0]:.2f} |" if len(cpus) == 2 and cpus[0] > 0.005
                     else " - |")
        label = f"&nbsp;&nbsp;{step}" if inner else (f"**{step}**" if inner is None else step)
        lines.append(f"| {label} | " + " | ".join(cells) + " |" + ratio)
    return "\n".join(lines)


def prepare(source: Path, work: Path, tree: Path, partner: str, year: int,
            megabytes: float) -> tuple:
    """The workspace after a night (loaded first with this tree when `source` was never run),
    and the new file to drop into copies of it."""
    import duckdb

    from benchmarks import generate

    base = work / "base"
    copy_workspace(source, base)
    if not (base / "data" / "warehouse" / "backbone.duckdb").exists():
        first = run_night(tree, base, "20991229T000000-first0")
        print(f"first night on {source}: " + ", ".join(first["statuses"]),
              flush=True)
    rows = generate.rows_for(partner, megabytes, duckdb.connect())
    new = generate.write_partner_file(work / "new-file", partner, year, rows)
    return base, new, rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--prime", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", default="20991231T000000-night0", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path)
    parser.add_argument("--before", type=Path, help="another code tree, timed alternately")
    parser.add_argument("--after", type=Path, default=HERE.parent,
                        help="the code tree to measure (default: this one)")
    parser.add_argument("--work", type=Path, default=Path("/tmp") / "incremental-night")
    parser.add_argument("--partner", default="riverbend_schools")
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--megabytes", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-snapshot", action="store_true",
                        help="leave the snapshot out (else each run's copy first gets a fresh "
                             "snapshot built by its tree, untimed: ~20 s at 1 GB)")
    args = parser.parse_args(argv)
    if args.prime:
        _prime(args.prime)
        return {}
    if args.child:
        _child(args.child, args.run_id, not args.no_snapshot)
        return {}
    trees = {"after": args.after.resolve()}
    if args.before:
        trees = {"before": args.before.resolve(), **trees}
    base, new, rows = prepare(args.source, args.work, trees["after"], args.partner, args.year,
                              args.megabytes)
    print(f"new file: {new.name}, {rows:,} rows, {new.stat().st_size / 1e6:.1f} MB", flush=True)
    results: dict[str, list[dict]] = {name: [] for name in trees}
    seen: dict[str, dict] = {}
    differ: list[str] = []
    loads = [os.getloadavg()[0]]
    for round_ in range(args.rounds):
        for name, tree in trees.items():
            # One path for every run: the warehouse records where files and reports went.
            home = copy_workspace(base, args.work / "night")
            intake = home / "data" / "intake" / INITIATIVE / args.partner
            intake.mkdir(parents=True, exist_ok=True)
            shutil.copy2(new, intake / new.name)
            night = run_night(tree, home, f"20991231T00000{round_ % 10}-night0",
                              not args.no_snapshot)
            results[name].append(night)
            seen[name] = outputs(home, night["began"])
            steps = ", ".join(f"{r['step']} {r['cpu']:.2f}" for r in night["steps"]
                              if not r["inner"] and r["cpu"] >= 0.1)
            print(f"round {round_ + 1}, {name}: {night['process_cpu']:.2f} s CPU, "
                  + ", ".join(night["statuses"]) + f" ({steps})", flush=True)
            loads.append(os.getloadavg()[0])
        for key in sorted(set().union(*seen.values())):  # every round's outputs compared
            if len({json.dumps(s.get(key), default=str) for s in seen.values()}) > 1:
                differ.append(f"  round {round_ + 1} differs: {key}: "
                              + ", ".join(f"{n} {seen[n].get(key)}" for n in seen))
    same = not differ
    print(f"\nload {min(loads):.1f}-{max(loads):.1f}; outputs of "
          f"{' and '.join(trees)} identical (night's timestamps masked): {same}")
    print("\n".join(differ))
    print("\n" + report(results))
    if not same:
        raise SystemExit("outputs differ")
    return {"results": results, "outputs": seen}


if __name__ == "__main__":
    main()
