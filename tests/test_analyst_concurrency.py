"""Analysts during a run: the snapshot and the published Parquet stay readable from another process
while a writer holds the warehouse, the live file refuses them with a pointer to both, and a
republish never shows a reader a Parquet file that does not match its manifest."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines import synth, warehouse
from pipelines.config import REPO_ROOT, Workspace
from pipelines.flows import nightly
from pipelines.publish import KEEP_VERSIONS, publish

pytestmark = pytest.mark.usefixtures("prefect_harness")

# Holds the warehouse open for writing, inside an uncommitted transaction, until stdin closes.
WRITER = r"""
import sys
from pathlib import Path
from pipelines.warehouse import connect
con = connect(Path(sys.argv[1]))
con.execute("BEGIN TRANSACTION")
con.execute("DELETE FROM riverbend.records")
print("holding", flush=True)
sys.stdin.read()
con.execute("ROLLBACK")
con.close()
"""

# An analyst's session, started when told to: the snapshot, the Parquet, then the live warehouse.
READER = r"""
import json, sys
from pathlib import Path
import duckdb
from pipelines.warehouse import WarehouseBusy, connect
snapshot, parquet, live = map(Path, sys.argv[1:4])
print("ready", flush=True)
sys.stdin.readline()
out = {}
con = duckdb.connect(str(snapshot), read_only=True)
out["snapshot"] = con.execute(
    "SELECT (SELECT count(*) FROM riverbend.records), "
    "(SELECT sum(rows_loaded) FROM submissions WHERE partner_id <> 'riverbend_housing'), "
    "(SELECT count(*) FROM riverbend.indicator_cells), "
    "(SELECT count(DISTINCT indicator_id) FROM riverbend.indicator_cells)").fetchall()[0]
con.close()
out["parquet"] = duckdb.sql(
    f"SELECT count(*), count(DISTINCT indicator_id) FROM '{parquet}'").fetchall()[0]
out["live"] = []
for read_only in (True, False):
    try:
        connect(live, read_only=read_only).close()
        out["live"].append(["opened", ""])
    except WarehouseBusy as exc:
        out["live"].append(["WarehouseBusy", str(exc)])
    except Exception as exc:
        out["live"].append([type(exc).__name__, str(exc)])
print(json.dumps(out), flush=True)
"""

# Reads the published manifest and results through one resolved version folder, over and over.
LOOP = r"""
import hashlib, io, json, os, sys
from pathlib import Path
import pyarrow.parquet as pq
link, stop = Path(sys.argv[1]), Path(sys.argv[2])
reads, bad, raced, seen = 0, [], 0, []
while not stop.exists() or reads == 0:
    folder = Path(os.path.realpath(link))
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        data = (folder / "indicator_results.parquet").read_bytes()
    except FileNotFoundError:
        if Path(os.path.realpath(link)) != folder:
            raced += 1  # a version pruned after the link had moved past it: read again
            continue
        raise
    entry = manifest["files"]["indicator_results.parquet"]
    # The footer is enough: decoding starts pyarrow's thread pool, which can abort at exit.
    rows = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    if (hashlib.sha256(data).hexdigest() != entry["sha256"] or rows != entry["rows"]
            or manifest["run_id"] != folder.name):
        bad.append(folder.name)
    if not seen or seen[-1] != manifest["run_id"]:
        seen.append(manifest["run_id"])
    reads += 1
    if reads == 1:
        print("ready", flush=True)
print(json.dumps({"reads": reads, "bad": bad, "raced": raced, "seen": seen}), flush=True)
"""


def _python(script: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=REPO_ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _expect(process: subprocess.Popen, line: str) -> None:
    got = process.stdout.readline().strip()
    assert got == line, f"expected {line!r}, got {got!r} (exit {process.poll()})"


def test_analysts_during_a_run(tmp_path):
    """One nightly run prepares a warehouse, a snapshot and a published version; then both checks.

    (One test rather than two: under `pytest -n 2` two tests sharing a fixture could each pay for
    the nightly run on a different worker.)
    """
    root = Workspace(tmp_path / "ws").add_definitions().root
    synth.write_sample(root / "data" / "intake" / "riverbend", children_per_year=60,
                       years=(2023, 2024))
    summaries = nightly(home=str(root), initiative="riverbend")
    _readers_while_a_writer_holds_the_warehouse(Workspace(root), summaries)
    _republishing_never_shows_a_reader_a_mix_of_versions(Workspace(root), tmp_path)


def _readers_while_a_writer_holds_the_warehouse(workspace: Workspace, summaries: list[dict]):
    results = workspace.published("riverbend") / "partnership" / "indicator_results.parquet"
    # Both start now: their imports overlap, and the reader waits for the writer's lock.
    writer = _python(WRITER, workspace.warehouse_file)
    reader = _python(READER, workspace.snapshot_file, results, workspace.warehouse_file)
    try:
        _expect(writer, "holding")
        _expect(reader, "ready")
        reader.stdin.write("go\n")
        reader.stdin.flush()
        out = json.loads(reader.stdout.readline())
        assert reader.wait(timeout=60) == 0
        assert writer.poll() is None, "the writer must still hold the warehouse"
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)
        if reader.poll() is None:
            reader.kill()

    loaded = sum(f["rows_loaded"] for f in summaries[0]["files"]
                 if f["partner_id"] != "riverbend_housing")
    records, from_submissions, cells, measured = out["snapshot"]
    assert records == from_submissions == loaded > 0 and cells == summaries[0]["cells"]
    manifest = json.loads((workspace.published("riverbend") / "partnership" / "manifest.json").read_text())
    rows, indicators = out["parquet"]
    assert rows == manifest["files"]["indicator_results.parquet"]["rows"] > 0
    # Every indicator with data is published (the sample written here has no dated visits, so
    # the quarterly indicator has no cells).
    assert indicators == measured >= len(workspace.load("riverbend").indicators) - 1
    for kind, message in out["live"]:
        assert kind == "WarehouseBusy", (kind, message)
        assert "snapshot.duckdb" in message and "Parquet" in message, message

    # The writer's uncommitted delete died with it.
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    assert con.execute("SELECT count(*) FROM riverbend.records").fetchall()[0][0] == loaded
    con.close()


def _republishing_never_shows_a_reader_a_mix_of_versions(workspace: Workspace, tmp_path: Path):
    link = workspace.published("riverbend") / "partnership"
    stop = tmp_path / "stop"
    loop = _python(LOOP, link, stop)
    runs = [f"{dt.datetime.now():%Y%m%dT%H%M%S}-r{i:02d}" for i in range(KEEP_VERSIONS + 2)]
    try:
        _expect(loop, "ready")
        con = warehouse.connect(workspace.warehouse_file)
        try:
            config = workspace.load("riverbend")
            for run_id in runs:
                # Different content each time, so an old manifest never matches a new Parquet.
                con.execute("UPDATE riverbend.indicator_cells SET source = ?", [run_id])
                publish(con, workspace, config, run_id)
        finally:
            con.close()
        stop.touch()
        out = json.loads(loop.stdout.readline())
        assert loop.wait(timeout=60) == 0
    finally:
        if loop.poll() is None:
            loop.kill()

    assert out["bad"] == [], out
    assert len(out["seen"]) >= 3, f"the reader saw too few swaps to prove anything: {out}"
    assert out["seen"][-1] == runs[-1] and out["seen"] == sorted(out["seen"])
    assert Path(link.resolve()).name == runs[-1]
    versions = [p.name for p in (link.parent.parent / ".versions" / "riverbend" / "partnership").iterdir()]
    assert sorted(versions) == runs[-KEEP_VERSIONS:]
    print(f"reader: {out['reads']} reads, {len(out['seen'])} versions seen, "
          f"{out['raced']} reads retried after a prune")
