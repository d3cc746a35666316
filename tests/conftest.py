"""Shared fixtures: a throwaway workspace with the repo's definitions, and a Prefect harness."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
# Tests drop files and run at once; the settle wait itself is tested with its own value.
os.environ["BACKBONE_SETTLE_SECONDS"] = "0"
# Every snapshot the suite makes also hashes every row and fails if the row ledger disagrees:
# a write path that skips the ledger fails its tests (pipelines/snapshot_ledger.py).
os.environ.setdefault("BACKBONE_SNAPSHOT_VERIFY", "1")

from pipelines.config import REPO_ROOT, Workspace  # noqa: E402

SAMPLES = REPO_ROOT / "data" / "samples" / "riverbend"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A workspace with the repo's indicators/ and schemas/ and an empty data/ folder."""
    workspace = Workspace(tmp_path).add_definitions()
    workspace.intake.mkdir(parents=True)
    return workspace


@pytest.fixture
def config(workspace: Workspace):
    return workspace.load("riverbend")


def query(database: str | Path, sql: str, params=()) -> list[tuple]:
    """Rows of `sql` from a DuckDB file, opened read-only and closed again."""
    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def drop(workspace: Workspace, partner: str, name: str, content: str | bytes,
         encoding: str = "utf-8") -> Path:
    """Put a file in a partner's intake folder, as a partner would."""
    folder = workspace.intake / "riverbend" / partner
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, str):
        content = content.encode(encoding)
    path.write_bytes(content)
    return path


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, prefect_harness):
    """The sample initiative run once through the real nightly flow; shared, treat as read-only."""
    from pipelines.flows import nightly
    from pipelines.read import sha256_file

    workspace = Workspace(tmp_path_factory.mktemp("demo")).add_definitions()
    hashes = {}
    for sample in sorted(SAMPLES.glob("*/*")):
        target = workspace.intake / "riverbend" / sample.parent.name / sample.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(sample, target)
        hashes[sample.name] = sha256_file(sample)
    summaries = nightly(home=str(workspace.root), initiative="riverbend")
    return workspace, summaries, hashes
