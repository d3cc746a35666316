"""The incremental night's measure-and-publish step with two code trees, and the fast path against
the full one, on the same warehouse: CPU time, and the same outputs.

    python -m benchmarks.incremental_ab --source <workspace> --before <code tree>

`--source`: a workspace after a night (its warehouse is used), or a generated one whose intake
is staged and loaded first (`benchmarks/work/ab`).

One new file (`--partner`, `--year`, `--megabytes`) is staged and loaded onto a copy of the
workspace, after one measure with this tree has kept its profile counts (the night before).
Then, from copies of that loaded warehouse, each in a fresh process, alternately:
`before` (`refresh.measure_and_publish` of the tree at `--before`), `fast` (this tree, counting
again only the indicator periods the file touched) and `full` (this tree, nothing kept: every
period counted). Every warehouse table the step writes and every published Parquet file must be
the same in `fast` and `full` (row count and an order-independent hash of every row), and the
same as `before` with doubles rounded to 12 decimals (`before` averaged the index of disparity
in whatever order measure wrote the cells, so its last bits varied from run to run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TABLES = ("indicator_cells", "disparities", "quality_flags", "indicator_grains",
          "poverty_guideline_years")
PUBLISHED = ("indicator_results.parquet", "disparities.parquet", "quality_flags.parquet")
MANIFEST = ("source_files", "indicator_periods", "poverty_guideline_years", "data_version",
            "notes")


def _child(home: Path, initiative: str, run_id: str) -> None:
    """Run in a fresh process with the code tree under test first on PYTHONPATH."""
    started, cpu = time.perf_counter(), time.process_time()
    from pipelines import warehouse
    from pipelines.config import Workspace
    from pipelines.refresh import measure_and_publish

    workspace = Workspace.resolve(home)
    config = workspace.load(initiative)
    con = warehouse.connect(workspace.warehouse_file)
    try:
        mark, mark_cpu = time.perf_counter(), time.process_time()
        measure_and_publish(con, workspace, config, run_id)
        step, step_cpu = time.perf_counter() - mark, time.process_time() - mark_cpu
    finally:
        con.close()
    print(json.dumps({"step_s": step, "step_cpu": step_cpu,
                      "process_s": time.perf_counter() - started,
                      "process_cpu": time.process_time() - cpu}))


def _copy(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True,
                    ignore=shutil.ignore_patterns("archive", "snapshot.duckdb"))
    return target


def _run(tree: Path, home: Path, initiative: str,
         run_id: str = "20991231T000000-abtest") -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(home),
                           "--initiative", initiative, "--run-id", run_id], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{tree} on {home} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def outputs(home: Path, initiative: str, digits: int | None = None) -> dict:
    """Row count and an order-independent hash of every row, per table and published file;
    with `digits`, doubles rounded to that many decimals first."""
    import duckdb

    from pipelines.config import Workspace
    from pipelines.versions import PARTNERSHIP, audience_dir

    workspace = Workspace.resolve(home)
    folder = audience_dir(workspace, initiative, PARTNERSHIP)
    sources = {t: f"{initiative}.{t}" for t in TABLES}
    sources.update({n: f"read_parquet('{folder / n}')" for n in PUBLISHED
                    if (folder / n).is_file()})
    found = {}
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        for name, source in sources.items():
            columns = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            row = ", ".join(f"round({c}, {digits})" if digits is not None and t == "DOUBLE"
                            else c for c, t, *_ in columns)
            found[name] = con.execute(f"SELECT count(*), sum(hash(row({row}))) FROM {source}"
                                      ).fetchall()[0]
    finally:
        con.close()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    found["manifest"] = json.dumps({k: manifest.get(k) for k in MANIFEST}, sort_keys=True)
    return found


def _load(home: Path, files: list[tuple[Path, str]], run_id: str) -> list[str]:
    """Stage and load `files` ((path, partner) pairs) as a night's warehouse step would."""
    from pipelines import ingest, warehouse
    from pipelines.config import Workspace
    from pipelines.intake import stage_file
    from pipelines.standardize import ensure_salt, read_salt

    workspace = Workspace.resolve(home)
    config = workspace.load("riverbend")
    ensure_salt(workspace, config.id)
    salt = read_salt(workspace, config.id)
    staged = [stage_file(path, config, partner, salt, workspace.staging)
              for path, partner in files]
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        return [o.status for o in ingest.settle_all(con, workspace, config, staged, [], run_id)]
    finally:
        warehouse.close(con)


def _load_new_file(home: Path, partner: str, year: int, megabytes: float) -> str:
    import duckdb

    from benchmarks import generate

    rows = generate.rows_for(partner, megabytes, duckdb.connect())
    path = generate.write_partner_file(home / "new-file", partner, year, rows)
    size = path.stat().st_size  # the load moves the file to the archive
    statuses = _load(home, [(path, partner)], "20991230T000000-abload")
    shutil.rmtree(home / "new-file", ignore_errors=True)
    return f"{path.name}, {rows:,} rows, {size / 1e6:.1f} MB: " + ", ".join(statuses)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--initiative", default="riverbend")
    parser.add_argument("--run-id", default="20991231T000000-abtest", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path)
    parser.add_argument("--before", type=Path, help="the code tree to compare with")
    parser.add_argument("--work", type=Path, default=Path("/tmp") / "incremental-ab")
    parser.add_argument("--partner", default="riverbend_schools")
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--megabytes", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.initiative, args.run_id)
    os.environ.setdefault("BACKBONE_SETTLE_SECONDS", "0")
    here = HERE.parent
    trees = {"before": args.before.resolve(), "fast": here, "full": here}
    base = _copy(args.source, args.work / "base")
    if not (base / "data" / "warehouse" / "backbone.duckdb").exists():
        # A generated workspace, files still in its intake: loaded first.
        waiting = sorted((p, p.parent.name) for p in (base / "data" / "intake").glob("*/*/*")
                         if p.is_file())
        print(f"loaded {len(waiting)} files from the intake: "
              + ", ".join(_load(base, waiting, "20991229T000000-abfill")), flush=True)
    # The night before, with this tree: its counts are kept.
    night = _run(here, base, args.initiative, "20991230T000000-before")
    print(f"night before (this tree, counts kept): {night['step_cpu']:.2f} s CPU", flush=True)
    print("new file: " + _load_new_file(base, args.partner, args.year, args.megabytes),
          flush=True)
    results: dict[str, list[dict]] = {name: [] for name in trees}
    seen: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            home = _copy(base, args.work / name)
            if name == "full":
                shutil.rmtree(home / "data" / "warehouse" / "measure-cache", ignore_errors=True)
            results[name].append(_run(tree, home, args.initiative))
            seen[name] = outputs(home, args.initiative)
            seen[f"{name}, rounded"] = outputs(home, args.initiative, digits=12)
    # `before` averaged doubles in whatever order measure wrote the cells (the last bits of
    # index_of_disparity varied from run to run): compared with it to 12 decimals.
    same = seen["fast"] == seen["full"] and seen["fast, rounded"] == seen["before, rounded"]
    print(f"\nload {os.getloadavg()[0]:.1f}; fast and full identical, and the same as before to "
          f"12 decimals: {same}")
    if not same:
        for key in seen["before"]:
            print(f"  {key}: " + ", ".join(f"{n} {seen[n].get(key)}" for n in seen))
    print("\n| code | measure_and_publish CPU s (min) | wall s (min) | process CPU s (min) | "
          "x before (CPU) |\n|---|---:|---:|---:|---:|")
    floor = min(r["step_cpu"] for r in results["before"])
    for name, runs in results.items():
        cpu = min(r["step_cpu"] for r in runs)
        print(f"| {name} | {cpu:.2f} | {min(r['step_s'] for r in runs):.2f} | "
              f"{min(r['process_cpu'] for r in runs):.2f} | {cpu / floor:.2f} |")
    if not same:
        raise SystemExit("outputs differ")
    return None


if __name__ == "__main__":
    main()
