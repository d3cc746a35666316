"""Wide files: the cost of the parse that stages a file, as a ratio to a plain DuckDB read of
the same file, by number of columns (survey exports such as REDCap have thousands).

The parse computes each record's `_aside` (blank row, repeated header, NUL: pipelines.csv_rows)
over every cell. Written as one condition per cell, DuckDB bound it in time growing with the
square of the columns: 116 s to stage a 4,000-column file. Run by hand:

    python -m benchmarks.wide_files [--columns 100 1000 4000] [--rows 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from pipelines.csv_rows import aside_sql


def _file(folder: Path, columns: int, rows: int) -> Path:
    path = folder / f"wide_{columns}.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(f"X{i}" for i in range(columns)) + "\n")
        for _ in range(rows):
            out.write(",".join(["v"] * columns) + "\n")
    return path


def measure(columns: int, rows: int, folder: Path) -> tuple[float, float]:
    """(seconds of a plain read, seconds of the staging parse's select) of one file."""
    path = _file(folder, columns, rows)
    names = {f"c{i}": "VARCHAR" for i in range(columns)}
    scan = (f"FROM read_csv($path, auto_detect=false, header=false, skip=1, columns={names}, "
            "strict_mode=true, store_rejects=true, ignore_errors=true)")
    aside = aside_sql("NULLIF(trim({}), '')", [f"X{i}" for i in range(columns)], [0, 1], False)
    timed = []
    with duckdb.connect() as con:
        for select in ("c0", aside):
            started = time.perf_counter()
            con.execute(f"SELECT {select} AS x {scan}", {"path": str(path)}).fetchall()
            timed.append(time.perf_counter() - started)
    return timed[0], timed[1]


def main(argv: list[str] | None = None) -> list[tuple[int, float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, nargs="+", default=[100, 1000, 4000])
    parser.add_argument("--rows", type=int, default=3)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        print("| columns | plain read s | staging parse s | x plain |")
        print("|---:|---:|---:|---:|")
        for columns in args.columns:
            plain, parse = measure(columns, args.rows, Path(folder))
            results.append((columns, plain, parse))
            print(f"| {columns:,} | {plain:.2f} | {parse:.2f} | {parse / plain:.1f} |")
    return results


if __name__ == "__main__":
    main()
