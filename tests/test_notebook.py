"""The analyst notebook: stored executed (charts visible before anyone runs it), and it runs top
to bottom against a real published run, reading the partnership Parquet and the snapshot."""

from __future__ import annotations

import os

import nbformat
from nbclient import NotebookClient

from pipelines.config import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "analyst_tour.ipynb"
CHARTS = 3  # trend with intervals, gaps by race, gaps by class


def _outputs(notebook) -> list:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def _check(notebook) -> None:
    outputs = _outputs(notebook)
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= CHARTS, f"{len(images)} charts"
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "kindergarten_readiness" in html and "rate_ratio" in html
    assert "submissions_by_partner_period" in html and "unknown_race_code" in html


def test_stored_notebook_shows_its_charts_without_running():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "store the notebook executed"
    _check(notebook)
    source = "".join(cell.source for cell in code)
    assert '"partnership"' in source and "backbone.duckdb" not in source


def test_analyst_notebook_executes(demo_run, monkeypatch):
    workspace, _, _ = demo_run
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("BACKBONE_HOME", str(workspace.root))
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO_ROOT / "notebooks")}})
    client.execute(env={**os.environ})
    _check(notebook)
