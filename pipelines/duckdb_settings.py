"""Memory for each DuckDB database the pipeline opens, so a night's run has a known ceiling.

DuckDB's default is 80% of the machine's RAM for every database; a 1 GB night then peaked at
6.8 GB. With a limit, DuckDB spills large joins, sorts and tables to disk instead of growing.
At 400 MB a 1 GB night peaks at about 1.5 GB for the whole process tree, Prefect's server
included (`benchmarks/RESULTS.md`); the price is spilling: parsing and typing a 100 MB file
with a dozen numeric columns took 5.8 s instead of 3.6 s without a limit. Set
`BACKBONE_MEMORY_LIMIT` (a DuckDB size such as "2GB") on a machine with memory to spare.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

DEFAULT_MEMORY_LIMIT = "400MB"


def memory_limit() -> str:
    return os.environ.get("BACKBONE_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def limit_memory(con: duckdb.DuckDBPyConnection, spill: Path | None = None) -> None:
    """Cap `con`'s database at `memory_limit()`; spill to `spill` (default: DuckDB's own)."""
    con.execute("SET memory_limit = $limit", {"limit": memory_limit()})
    if spill is not None:
        con.execute("SET temp_directory = $spill", {"spill": str(spill)})
