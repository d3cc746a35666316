"""The analysts' snapshot with two code trees, and brought up to date against a fresh build, on the
same warehouse: CPU time, file size and the same contents.

    python -m benchmarks.snapshot_ab --source <workspace> --before <code tree> [--rounds 2]

`--source`: a workspace after a night (its warehouse is used), or a generated one whose intake is
staged and loaded first (`benchmarks/work/ab`). On a copy, a fresh snapshot is built (the night
before), one new file (`--partner`, `--year`, `--megabytes`) is loaded, and then, each starting
from the night before's snapshot, alternately: `before` (`snapshot.snapshot_warehouse` of the
tree at `--before`), `fresh` (this tree, built from scratch) and `updated` (this tree, the
previous snapshot brought up to date). All three must hold the same (every table's row count and
order-independent hash, every relation's and column's definition and comment, sequences,
storage version).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import time
from pathlib import Path

import duckdb

from benchmarks.incremental_ab import _load, _load_new_file


def contents(database: Path) -> dict:
    """Every table's rows (count and an order-independent hash), every relation's and column's
    definition and comment, each sequence's counter and the storage version."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        found = {}
        for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                         "ORDER BY ALL").fetchall():
            found[f"{schema}.{table}"] = con.execute(
                f'SELECT count(*), sum(hash(t)::HUGEINT) FROM "{schema}"."{table}" AS t'
            ).fetchall()[0]
        for sql in ("SELECT schema_name, table_name, comment, sql FROM duckdb_tables()",
                    "SELECT schema_name, view_name, comment, sql FROM duckdb_views() "
                    "WHERE NOT internal",
                    "SELECT schema_name, table_name, column_name, data_type, comment "
                    "FROM duckdb_columns()",
                    "SELECT schema_name, sequence_name, last_value FROM duckdb_sequences()",
                    "SELECT tags::VARCHAR FROM duckdb_databases() WHERE database_name = "
                    "current_database()"):
            found[sql] = sorted(con.execute(sql).fetchall(), key=repr)
        return found
    finally:
        con.close()


def _snapshot_module(tree: Path):
    """`pipelines/snapshot.py` of another tree, with that tree's incremental step (whose calls
    changed with the row ledger), importing this tree's other modules."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_before",
                                                      tree / "pipelines" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    module = load("snapshot")
    module.incremental = load("snapshot_incremental")
    return module


def main(argv: list[str] | None = None) -> None:
    from pipelines.config import Workspace
    from pipelines.snapshot import snapshot_warehouse
    from pipelines.snapshot_incremental import read_mark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--before", type=Path, required=True, help="the old code tree")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "snapshot-ab")
    parser.add_argument("--partner", default="riverbend_schools")
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--megabytes", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    before = _snapshot_module(args.before.resolve())

    shutil.rmtree(args.work, ignore_errors=True)
    home = args.work / "ws"
    shutil.copytree(args.source, home, symlinks=True, ignore=shutil.ignore_patterns(
        "snapshot.duckdb", ".snapshot-marks", "staging"))
    workspace = Workspace.resolve(home)
    if not workspace.warehouse_file.exists():
        files = [(p, p.parent.name) for p in sorted((home / "data" / "intake").rglob("*.csv"))]
        _load(home, files, "20991229T000000-abload")
    snapshot_warehouse(workspace, fresh=True)
    previous = args.work / "previous.duckdb"
    shutil.copy2(workspace.snapshot_file, previous)  # with its marks
    print(f"new file: {_load_new_file(home, args.partner, args.year, args.megabytes)}",
          flush=True)

    ways = {"before": lambda: before.snapshot_warehouse(workspace),
            "fresh": lambda: snapshot_warehouse(workspace, fresh=True),
            "updated": lambda: snapshot_warehouse(workspace)}
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in ways}
    for round_ in range(args.rounds):
        built = {}
        for name, build in ways.items():
            workspace.snapshot_file.unlink()
            shutil.copy2(previous, workspace.snapshot_file)
            cpu, wall = time.process_time(), time.perf_counter()
            build()
            runs[name].append((time.process_time() - cpu, time.perf_counter() - wall,
                               workspace.snapshot_file.stat().st_size))
            built[name] = args.work / f"{name}.duckdb"
            if name == "updated":
                mark = read_mark(workspace.snapshot_file) or {}
                print(f"updated: nights brought up to date since a fresh build: "
                      f"{mark.get('updates')}", flush=True)
            shutil.copyfile(workspace.snapshot_file, built[name])
        found = {name: contents(path) for name, path in built.items()}
        same = all(found[name] == found["fresh"] for name in found)
        print(f"round {round_ + 1}: before, fresh and updated hold the same: {same}", flush=True)
    base = min(cpu for cpu, _, _ in runs["before"])
    print("| snapshot | CPU s | wall s | x before (CPU) | MB |\n|---|---:|---:|---:|---:|")
    for name, measured in runs.items():
        cpu = min(c for c, _, _ in measured)
        print(f"| {name} | {cpu:.2f} | {min(w for _, w, _ in measured):.2f} | "
              f"{cpu / base:.2f} | {measured[-1][2] / 1e6:.0f} |")


if __name__ == "__main__":
    main()
