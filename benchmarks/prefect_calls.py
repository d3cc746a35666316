"""What Prefect costs a night: the HTTP calls `flows.nightly` makes to a running Prefect server.

    python -m benchmarks.prefect_calls --source <workspace after a night> [--megabytes 0.2]

Starts a Prefect server (`benchmarks.prefect_server`), drops one new file into a copy of the
workspace and runs the nightly flow in this process against the server, counting every request
Prefect's client sends (method and route, ids folded) and the time spent waiting for them.
A count of calls, not a timing: each is a round trip the night waits for (or a background
thread makes), whatever the machine's load.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def count_calls() -> tuple[collections.Counter, list[float]]:
    """Count every request of httpx's clients from now on (Prefect's client is httpx)."""
    import httpx

    calls: collections.Counter = collections.Counter()
    waited: list[float] = []
    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def route(request) -> str:  # noqa: ANN001
        return f"{request.method} {IDS.sub('<id>', request.url.path)}"

    def send(self, request, *args, **kwargs):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        try:
            return sync_send(self, request, *args, **kwargs)
        finally:
            calls[route(request)] += 1
            waited.append(time.perf_counter() - started)

    async def asend(self, request, *args, **kwargs):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        try:
            return await async_send(self, request, *args, **kwargs)
        finally:
            calls[route(request)] += 1
            waited.append(time.perf_counter() - started)

    httpx.Client.send, httpx.AsyncClient.send = send, asend
    return calls, waited


def main(argv: list[str] | None = None) -> collections.Counter:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "prefect-calls")
    parser.add_argument("--partner", default="riverbend_schools")
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--megabytes", type=float, default=0.2)
    args = parser.parse_args(argv)

    import duckdb

    from benchmarks import generate
    from benchmarks.incremental_night import copy_workspace
    from benchmarks.prefect_server import running_server

    home = copy_workspace(args.source, args.work / "ws")
    rows = generate.rows_for(args.partner, args.megabytes, duckdb.connect())
    generate.write_partner_file(home / "data" / "intake" / "riverbend", args.partner, args.year,
                                rows)
    with running_server(args.work / "prefect", args.work / "server.log") as (url, _):
        os.environ.update(PREFECT_API_URL=url, BACKBONE_SETTLE_SECONDS="0")
        calls, waited = count_calls()
        from pipelines.flows import nightly

        started = time.perf_counter()
        summaries = nightly(home=str(home))
        elapsed = time.perf_counter() - started
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # the run's last log lines, while the server is up
    statuses = [f["status"] for s in summaries for f in s.get("files", [])]
    print(f"night: {elapsed:.2f} s wall, files {statuses}; {sum(calls.values())} requests to the "
          f"server, {sum(waited):.2f} s waiting in them (threads overlap)")
    print("\n| requests | route |\n|---:|---|")
    for name, n in calls.most_common():
        print(f"| {n} | `{name}` |")
    shutil.rmtree(args.work / "ws", ignore_errors=True)
    return calls


if __name__ == "__main__":
    main()
