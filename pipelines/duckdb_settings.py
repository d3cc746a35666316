"""Memory for each DuckDB database the pipeline opens, so a night's run has a known ceiling.

DuckDB's default is 80% of the machine's RAM for every database; a 1 GB night then peaked at
6.8 GB. With a limit, DuckDB spills large joins, sorts and tables to disk instead of growing.
At 600 MB a 1 GB night peaks at about 1.4 GB for the whole process tree, Prefect's server
included (`benchmarks/RESULTS.md`). Lower costs time, not correctness: under memory pressure
DuckDB builds an order-preserving table on one thread, and a 100 MB file with a dozen numeric
columns then took 4.2 s to parse and type instead of 2.3 s. Set `BACKBONE_MEMORY_LIMIT` (a
DuckDB size such as "2GB" or "300MB") to suit the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

DEFAULT_MEMORY_LIMIT = "600MB"


def memory_limit() -> str:
    return os.environ.get("BACKBONE_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def limit_memory(con: duckdb.DuckDBPyConnection, spill: Path | None = None) -> None:
    """Cap `con`'s database at `memory_limit()`; spill to `spill` (default: DuckDB's own)."""
    con.execute("SET memory_limit = $limit", {"limit": memory_limit()})
    if spill is not None:
        con.execute("SET temp_directory = $spill", {"spill": str(spill)})
