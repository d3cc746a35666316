"""Review: a workspace whose path holds a quote (/home/o'brien/...) publishes and releases."""

from __future__ import annotations

from pipelines import warehouse
from pipelines.config import Workspace
from pipelines.refresh import measure_and_publish
from pipelines.release import release


def test_publish_and_release_under_a_path_with_a_quote(tmp_path):
    workspace = Workspace(tmp_path / "o'brien").add_definitions()
    config = workspace.load("riverbend")
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        published = measure_and_publish(con, workspace, config, "20261130T000000-abcdef").published
    finally:
        con.close()
    assert (published / "indicator_results.parquet").is_file()
    released = release(workspace, config)
    assert (released.folder / "indicator_results.parquet").is_file()
