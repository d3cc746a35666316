"""An exception from stage_file in a warm worker that cannot be unpickled (many GX exceptions
take required init arguments: MetricResolutionError, DatasourceError, ClassInstantiationError)
breaks the pool, and the file's task fails with WorkerDied "killed, e.g. out of memory": the
real error is lost and the operator is told to look for the OOM killer.

staging_worker docstring: "A worker that dies (the OOM killer) fails its file's task like any
crash"; flows.stage_file_task without workers reports the exception itself.
"""
from __future__ import annotations

import os
import shutil
import textwrap
import time

import pytest

from pipelines import staging_worker
from tests.conftest import SAMPLES

HOOK = textwrap.dedent("""
    import os
    if os.environ.get("A6_BOOM"):
        import pipelines.intake as intake
        def stage_file(*args, **kwargs):
            from great_expectations.exceptions import MetricResolutionError
            raise MetricResolutionError("the expectation's query failed", failed_metrics=())
        intake.stage_file = stage_file
""")


def test_a_worker_exception_reaches_the_flow_as_itself(workspace, tmp_path, monkeypatch):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), os.getcwd()]))
    monkeypatch.setenv("A6_BOOM", "1")
    monkeypatch.setenv("BACKBONE_STAGING_WORKER", "on")
    target = workspace.intake / "riverbend" / "riverbend_schools" / "RUSD_outcomes_2024.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(SAMPLES / "riverbend_schools" / "RUSD_outcomes_2024.csv", target)
    old = time.time() - 3600
    os.utime(target, (old, old))
    from pipelines.standardize import ensure_salt
    ensure_salt(workspace, "riverbend")
    try:
        workers = staging_worker.start(workspace, None)
        assert workers is not None
        with pytest.raises(Exception) as caught:
            workers.stage("riverbend", "riverbend_schools", str(target))
        assert not isinstance(caught.value, staging_worker.WorkerDied), caught.value
        assert "query failed" in str(caught.value)
    finally:
        staging_worker.stop()
