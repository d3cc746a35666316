"""What a user sees in the terminal: no exit noise, no library chatter, progress, clear stops.

Commands run in real subprocesses, as a user runs them: the interpreter-exit report of DuckDB's
bindings ("nanobind: leaked ... instances") only shows when a process ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import SAMPLES, drop
from pipelines.config import REPO_ROOT
from pipelines.escape import log_text

BACKBONE = [sys.executable, "-m", "pipelines.cli"]
NO_CHATTER = ("nanobind", "leaked", "ephemeral docs site", "See https://docs.prefect.io",
              "Traceback", "RuntimeWarning")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PYTHONPATH=str(REPO_ROOT), BACKBONE_SETTLE_SECONDS="0", **extra)
    return env


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), cwd=REPO_ROOT, timeout=300)


def _assert_quiet(stderr: str) -> None:
    for word in NO_CHATTER:
        assert word not in stderr, f"{word!r} in stderr:\n{stderr[-3000:]}"


@pytest.fixture(scope="module")
def api_url(prefect_harness) -> str:
    """The test Prefect server, for subprocesses (they would otherwise each start their own)."""
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url)


def test_validating_with_gx_then_exiting_prints_nothing(tmp_path):
    """SQLAlchemy's lru_caches kept every GX engine's dialect (with DuckDB types) alive, and with
    GX and duckdb_engine imported DuckDB's modules outlived their bindings at exit."""
    result = _python(f"""
import great_expectations as gx
from pipelines import gx_duckdb
database = {str(tmp_path / 't.duckdb')!r}
con = gx_duckdb.connect(database)
con.execute("CREATE TABLE t AS SELECT range AS _row, range AS y FROM range(10)")
con.close()
gx_duckdb.context()
suite = gx.ExpectationSuite(name="probe")
suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="y"))
result = gx_duckdb.validate(database, "t", suite, {{"result_format": "SUMMARY"}})
print("validated", result.success)
""")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "validated True\n"
    assert result.stderr == ""


def test_frozen_imports_are_thawed_so_duckdb_exits_quietly():
    """`gc.freeze()` at flow import hid DuckDB's module objects from the last collection."""
    result = _python("""
import pipelines.flows
import duckdb, pyarrow as pa
con = duckdb.connect()
con.register("v", pa.table({"a": [1, 2]}))
print(con.execute("SELECT sum(a) FROM v").fetchall()[0][0])
con.unregister("v")
con.close()
""")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "3\n"
    assert "nanobind" not in result.stderr


def test_check_command_output_ends_cleanly(workspace, tmp_path):
    partner_file = tmp_path / "rusd.csv"
    partner_file.write_text("Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\n"
                            + "".join(f"S{i},2024,700,Y\n" for i in range(5)))
    result = subprocess.run([*BACKBONE, "check", str(partner_file), "--partner",
                             "riverbend_schools", "--home", str(workspace.root)],
                            capture_output=True, text=True, env=_env(), cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "5 of 5 rows would load" in result.stdout and result.stdout.endswith("\n")
    _assert_quiet(result.stderr)
    assert result.stderr == ""


def test_run_shows_one_line_per_staged_file_and_no_chatter(workspace, api_url):
    for sample in sorted((SAMPLES / "riverbend_schools").iterdir())[:2]:
        drop(workspace, "riverbend_schools", sample.name, sample.read_bytes())
    result = subprocess.run([*BACKBONE, "run", "--home", str(workspace.root)],
                            capture_output=True, text=True, env=_env(PREFECT_API_URL=api_url),
                            cwd=REPO_ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    _assert_quiet(result.stderr)
    assert result.stderr.endswith("\n")
    for sample in sorted((SAMPLES / "riverbend_schools").iterdir())[:2]:
        rows = sum(1 for _ in sample.open(encoding="utf-8", errors="replace")) - 1
        line = f"staged {log_text('riverbend_schools')}/{log_text(sample.name)}: {rows:,} rows read"
        assert line in result.stderr
    assert "Files received" in result.stdout
    # The staged line replaces Prefect's own "Finished in state Completed()" for each task.
    assert not [line for line in result.stderr.splitlines()
                if "Task run" in line and "Finished in state Completed()" in line]


def test_temporary_prefect_server_is_announced_in_one_plain_line():
    result = _python("""
import logging
import pipelines.flows
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(self.format(record))
logging.getLogger("prefect").addHandler(Keep())
logging.getLogger("prefect").info(
    "Starting temporary server on http://127.0.0.1:8123\\nSee https://docs.prefect.io/v3/x "
    "for more information on running a dedicated Prefect server.")
logging.getLogger("prefect").info("Stopping temporary server on http://127.0.0.1:8123")
logging.getLogger("prefect.flow_runs").info("Stopping temporary server is only filtered at 'prefect'")
print(repr(records))
""")
    assert result.returncode == 0, result.stderr[-3000:]
    records = eval(result.stdout)  # noqa: S307 - our own repr of a list of str
    assert records[0] == ("No Prefect server is set (PREFECT_API_URL): this run uses a temporary "
                          "one at http://127.0.0.1:8123 that stops when the run ends.")
    assert len(records) == 2 and records[1].startswith("Stopping temporary server is only")


def test_schedule_without_a_server_says_how_to_start_one(tmp_path):
    result = subprocess.run([*BACKBONE, "schedule", "--home", str(tmp_path)], capture_output=True,
                            text=True, env=_env(PREFECT_HOME=str(tmp_path / "prefect")),
                            cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 2
    assert "prefect server start" in result.stderr
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api backbone schedule" in result.stderr
    _assert_quiet(result.stderr)


def test_schedule_stops_on_ctrl_c_without_warnings(workspace, api_url):
    process = subprocess.Popen([*BACKBONE, "schedule", "--home", str(workspace.root)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_env(PREFECT_API_URL=api_url), cwd=REPO_ROOT,
                               start_new_session=True)
    seen: list[str] = []
    serving = threading.Event()

    def read() -> None:
        for line in process.stdout:
            seen.append(line)
            if "being served" in line:
                serving.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert serving.wait(180), "".join(seen)
        time.sleep(1)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    reader.join(10)
    stderr = process.stderr.read()
    assert process.returncode == 0, stderr[-3000:]
    assert "Stopped serving" in "".join(seen)
    _assert_quiet(stderr)


def test_ci_runs_the_readme_test_command_unfiltered():
    script = (REPO_ROOT / ".ci" / "run").read_text()
    assert "grep" not in script and "PIPESTATUS" not in script
    assert ".venv/bin/python -m pytest -n 2 -q\n" in script
    assert "apt-get install" in script and "chromium" in script


def test_scorecard_test_fails_with_install_advice_when_chromium_is_missing():
    """A newcomer without Chromium gets a failing test that says how to install it, not a skip."""
    text = (Path(__file__).parent / "test_scorecard.py").read_text()
    assert "apt-get install -y chromium" in text and "pytest.fail(" in text
    assert "pytest.skip(" not in text and "importorskip" not in text
