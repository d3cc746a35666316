"""The analyst notebook runs top to bottom against a real published run."""

from __future__ import annotations

import os

import nbformat
from nbclient import NotebookClient

from pipelines.config import REPO_ROOT


def test_analyst_notebook_executes(demo_run, monkeypatch):
    workspace, _, _ = demo_run
    notebook = nbformat.read(REPO_ROOT / "notebooks" / "analyst_tour.ipynb", as_version=4)
    monkeypatch.setenv("BACKBONE_HOME", str(workspace.root))
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO_ROOT / "notebooks")}})
    client.execute(env={**os.environ})
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "kindergarten_readiness" in html and "rate_ratio" in html
