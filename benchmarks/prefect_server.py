"""A long-running Prefect server for the benchmark, as a scheduled deployment has.

`pipelines.cli run` without `PREFECT_API_URL` starts a temporary Prefect server for the length of
the run (about 7 s of its fixed cost here). Nightly runs scheduled with `backbone schedule` report
to a server that is already up, so the benchmark times the full run both ways.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

PREFECT = Path(sys.executable).with_name("prefect")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def running_server(home: Path, log: Path, timeout: float = 120):
    """Yield (api url, server process) for a `prefect server start` with its own PREFECT_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    with log.open("w") as out:
        server = subprocess.Popen([str(PREFECT), "server", "start", "--host", "127.0.0.1",
                                   "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                  env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the Prefect server did not start; see {log}")
            time.sleep(0.5)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
