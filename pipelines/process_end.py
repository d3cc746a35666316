"""End a `backbone` process without the interpreter's teardown, for commands that opt in.

With Great Expectations imported, the interpreter's own shutdown (clearing every module and
collecting some 300,000 objects, then DuckDB's leak check) takes 0.5 to 0.9 s: as long as all of
`backbone check`'s own work on a 1,000-row file, and a sixth of a quiet night. None of it is
needed: the operating system takes the memory back. A command that opted in ends with
`os._exit` once everything Python's exit still does that matters is done:

- threading's exit callbacks have run and other non-daemon threads have finished (the
  interpreter's `threading._shutdown`, called as it calls it),
- exit handlers have run (logging flushes and closes its files; Prefect drains its log and event
  workers to the server),
- stdout and stderr are flushed.

Skipped are the finalizers of objects still alive at the end. A command opts in only if it
closes its own files and databases before it returns (check: its temporary staging database is
deleted before it prints; run: the flow closes the warehouse and staging connections).
Exceptions other than SystemExit (a bug) end the normal way, with their traceback.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

import typer

_opted_in = False


def end_without_teardown() -> None:
    """Called by a command: this process may end without the interpreter's teardown."""
    global _opted_in
    _opted_in = True


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # what the interpreter does with sys.exit("message")
    return 1


def end(code: object) -> None:
    """Exit with `code` (a SystemExit's), without the teardown if the command opted in."""
    # What the interpreter calls first on exit: threading's own exit callbacks (thread pools
    # finish their work; Prefect stops its services there), then it waits for non-daemon threads.
    shutdown = getattr(threading, "_shutdown", None)
    if not _opted_in or shutdown is None:
        sys.exit(code)
    status = _exit_code(code)
    from pipelines import clean_exit

    shutdown()
    # It frees DuckDB's objects only so that the teardown's leak report stays quiet: one full
    # collection (~0.15 s) for a teardown that will not happen.
    atexit.unregister(clean_exit._empty_duckdb_modules)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said
            pass
    os._exit(status)


class CommandLine(typer.Typer):
    """`backbone` as a program (the console script and `python -m pipelines.cli` call the app
    in standalone mode, which always ends in SystemExit). Called with `standalone_mode=False`
    (a caller that goes on afterwards) or through typer's CliRunner (which does not go through
    `__call__`), it behaves exactly like typer.Typer."""

    def __call__(self, *args, **kwargs):
        if kwargs.get("standalone_mode", True) is False:
            return super().__call__(*args, **kwargs)
        try:
            super().__call__(*args, **kwargs)
        except SystemExit as exc:
            end(exc.code)
        end(0)
