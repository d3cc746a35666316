"""The analysts' snapshot with two code trees, brought up to date (in place and by a copy)
against a fresh build, on the same warehouse: CPU and wall time, file size and the same contents.

    python -m benchmarks.snapshot_ab --source <workspace> --before <code tree> [--rounds 2]

`--source`: a workspace after a night (its warehouse is used), or a generated one whose intake is
staged and loaded first (`benchmarks/work/ab`). On a copy, three nights: a fresh snapshot (two
nights before), one new file (`--partner`, `--year` - 1, `--megabytes`) loaded and the snapshot
brought up to date (the night before: its spare is the first snapshot), and a second new file
(`--year`) loaded. Then, each starting from the night before's snapshot, alternately:
`before` (`snapshot.snapshot_warehouse` of the tree at `--before`, with its
`snapshot_incremental` when it has one, from its own fresh snapshot of the night before; and
`before fresh`, built from scratch, when that tree can be asked to),
`fresh` (this tree, built from scratch), `copied` (this tree, no spare: the night before's
snapshot copied and brought up to date) and `updated` (this tree, the spare, two nights
behind, brought up to date in place, whatever `snapshot_spare.MAX_CATCH_UP` would choose; the
script says which of the two a night would take). All must hold the same (every table's row
count and order-independent hash, every relation's and column's definition and comment,
sequences, storage version). `--cache cold` drops yesterday's files from the page cache before
each run (a night may find them on disk only); `both` measures each way both ways.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb

from benchmarks.incremental_ab import _load


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
    """`pipelines/snapshot.py` of another tree, with that tree's `snapshot_incremental` when it
    has one, importing this tree's other modules."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"{name}_before",
                                                      tree / "pipelines" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while defined
        spec.loader.exec_module(module)
        return module

    module = load("snapshot")
    if hasattr(module, "incremental"):  # bound at import; its functions look it up at call
        module.incremental = load("snapshot_incremental")
    return module


def _new_file(home: Path, partner: str, year: int, megabytes: float, run_id: str) -> str:
    from benchmarks import generate

    rows = generate.rows_for(partner, megabytes, duckdb.connect())
    path = generate.write_partner_file(home / "new-file", partner, year, rows)
    size = path.stat().st_size  # the load moves the file to the archive
    statuses = _load(home, [(path, partner)], run_id)
    shutil.rmtree(home / "new-file", ignore_errors=True)
    return f"{path.name}, {rows:,} rows, {size / 1e6:.1f} MB: " + ", ".join(statuses)


def _place(source: Path, at: Path) -> None:
    """`source`'s bytes and marks at `at` (nothing there when `source` is None)."""
    at.unlink(missing_ok=True)
    if source is not None:
        shutil.copy2(source, at)


def _evict(path: Path) -> None:
    """Drop `path`'s pages from the page cache (written out first): yesterday's snapshot as a
    night may find it, read from disk."""
    if not path.exists():
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def _scan(workspace, marks: list) -> tuple[float, float]:
    """CPU and wall s of the verification scan alone (every live table hashed once)."""
    from pipelines.snapshot import _copied_columns
    from pipelines.snapshot_incremental import table_states

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("ATTACH ? AS live (READ_ONLY)", [str(workspace.warehouse_file)])
        cpu, wall = time.process_time(), time.perf_counter()
        table_states(con, lambda schema, table: _copied_columns(con, schema, table),
                     [m["tables"] for m in marks if m])
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        con.close()


def main(argv: list[str] | None = None) -> None:
    from pipelines.config import Workspace
    from pipelines.snapshot import snapshot_warehouse
    from pipelines.snapshot_incremental import read_mark
    from pipelines import snapshot_spare
    from pipelines.snapshot_spare import spare_of

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--before", type=Path, required=True, help="the old code tree")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "snapshot-ab")
    parser.add_argument("--partner", default="riverbend_schools")
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--megabytes", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", choices=("warm", "cold", "both"), default="warm",
                        help="yesterday's snapshot and spare in the page cache, or read from disk")
    args = parser.parse_args(argv)
    before = _snapshot_module(args.before.resolve())

    shutil.rmtree(args.work, ignore_errors=True)
    home = args.work / "ws"
    shutil.copytree(args.source, home, symlinks=True, ignore=shutil.ignore_patterns(
        "snapshot.duckdb", ".snapshot.duckdb.*", ".snapshot-marks", "staging"))
    workspace = Workspace.resolve(home)
    target, spare = workspace.snapshot_file, spare_of(workspace.snapshot_file)
    if not workspace.warehouse_file.exists():
        files = [(p, p.parent.name) for p in sorted((home / "data" / "intake").rglob("*.csv"))]
        _load(home, files, "20991228T000000-abload")
    snapshot_warehouse(workspace, fresh=True)
    night_before = _new_file(home, args.partner, args.year - 1, args.megabytes,
                             "20991229T000000-abnew")
    print(f"new file, the night before: {night_before}", flush=True)
    rule = snapshot_spare.MAX_CATCH_UP

    def in_place() -> None:  # the spare whatever the night before grew the snapshot by
        snapshot_spare.MAX_CATCH_UP = float("inf")
        try:
            snapshot_warehouse(workspace)
        finally:
            snapshot_spare.MAX_CATCH_UP = rule

    in_place()  # the night before: the fresh snapshot becomes the spare
    previous, spare_before = args.work / "previous.duckdb", args.work / "spare.duckdb"
    shutil.copy2(target, previous)  # with its marks
    shutil.copy2(spare, spare_before)
    # The old tree's own snapshot of the night before (marks name its code): it can take its
    # own incremental path, if it has one.
    previous_old = args.work / "previous-before.duckdb"
    before.snapshot_warehouse(workspace, fresh=True)
    shutil.copy2(target, previous_old)
    new = _new_file(home, args.partner, args.year, args.megabytes, "20991230T000000-abload")
    print(f"new file: {new}", flush=True)

    # name: (how, the snapshot and the spare it starts with)
    ways = {"before": (lambda: before.snapshot_warehouse(workspace), previous_old, None)}
    if "fresh" in inspect.signature(before.snapshot_warehouse).parameters:
        ways["before fresh"] = (lambda: before.snapshot_warehouse(workspace, fresh=True),
                                previous_old, None)
    ways |= {"fresh": (lambda: snapshot_warehouse(workspace, fresh=True), previous, None),
            "copied": (lambda: snapshot_warehouse(workspace), previous, None),
            "updated": (in_place, previous, spare_before)}
    growth = previous.stat().st_size - spare_before.stat().st_size
    print(f"the night before grew the snapshot by {growth / 1e6:.1f} MB, "
          f"{growth / previous.stat().st_size:.1%}: a night (MAX_CATCH_UP {rule:.0%}) would "
          f"{'update the spare' if growth <= rule * previous.stat().st_size else 'copy'}",
          flush=True)
    caches = ("warm", "cold") if args.cache == "both" else (args.cache,)
    # A fresh build does not read yesterday's snapshot: measured once.
    once = ("fresh", "before fresh")
    ways = {f"{name}, {cache}" if len(caches) > 1 and name not in once else name: (*way, cache)
            for name, way in ways.items() for cache in (caches[:1] if name in once else caches)}
    scans = [_scan(workspace, [read_mark(p) for p in (spare_before, previous)])
             for _ in range(args.rounds)]
    print(f"verification scan alone: {min(c for c, _ in scans):.2f} CPU s, "
          f"{min(w for _, w in scans):.2f} wall s", flush=True)
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in ways}
    for round_ in range(args.rounds):
        built = {}
        for name, (build, start, spare_start, cache) in ways.items():
            _place(start, target)
            _place(spare_start, spare)
            os.sync()  # the copies' dirty pages are not written during the measurement
            if cache == "cold":
                _evict(target)
                _evict(spare)
            cpu, wall = time.process_time(), time.perf_counter()
            build()
            runs[name].append((time.process_time() - cpu, time.perf_counter() - wall,
                               target.stat().st_size))
            built[name] = args.work / f"{name}.duckdb".replace(", ", "-")
            if "fresh" not in name:
                mark = read_mark(target) or {}
                print(f"{name}: nights brought up to date since a fresh build: "
                      f"{mark.get('updates')}", flush=True)
            shutil.copyfile(target, built[name])
        found = {name: contents(path) for name, path in built.items()}
        fresh = found[next(name for name in found if name.startswith("fresh"))]
        same = {kind: all(found[name] == fresh for name in found if name.startswith(kind))
                for kind in ("before", "fresh", "updated", "copied")}
        print(f"round {round_ + 1}: before, fresh and updated hold the same: "
              f"{same['before'] and same['fresh'] and same['updated']}")
        print(f"round {round_ + 1}: copied holds the same: {same['copied']}", flush=True)
    first = next(iter(runs))
    base = min(cpu for cpu, _, _ in runs[first])
    base_wall = min(wall for _, wall, _ in runs[first])
    print(f"| snapshot | CPU s | wall s | x {first} (CPU) | x {first} (wall) | MB |\n"
          "|---|---:|---:|---:|---:|---:|")
    for name, measured in runs.items():
        cpu, wall = min(c for c, _, _ in measured), min(w for _, w, _ in measured)
        print(f"| {name} | {cpu:.2f} | {wall:.2f} | {cpu / base:.2f} | {wall / base_wall:.2f} | "
              f"{measured[-1][2] / 1e6:.0f} |")


if __name__ == "__main__":
    main()
