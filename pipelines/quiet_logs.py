"""Keep libraries' set-up chatter out of a run's log, which data leads read line by line.

- Great Expectations logs at INFO that it "Created temporary directory ... for ephemeral docs
  site" for every context: it reads as if something happened to a partner's file. GX's own
  warnings and errors still show.
- Prefect, when no server is configured, says "Starting temporary server on ..." followed by a
  documentation link, and "Stopping temporary server" at the end. The start is worth one plain
  line (a temporary server means the runs will not be in any lasting Prefect UI); the rest goes.
  A filter on the `prefect` logger sees only records logged to that logger itself, not those of
  `prefect.flow_runs` or `prefect.task_runs` (the run's own lines), so nothing else changes.
- Prefect adds "Finished in state Completed()" after every task: with one task per file that
  doubles the log, after the task's own line saying what it did. Tasks that fail, crash or are
  cancelled still say so, and the Prefect UI shows every task's state.
"""

from __future__ import annotations

import logging


class _TemporaryServerNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Starting temporary server on "):
            address = message.split()[4] if len(message.split()) > 4 else "a local port"
            record.msg = ("No Prefect server is set (PREFECT_API_URL): this run uses a temporary "
                          "one at %s that stops when the run ends.")
            record.args = (address,)
        return not message.startswith("Stopping temporary server")


class _TaskCompleted(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Finished in state Completed()"


def quiet_third_party_logs() -> None:
    """Idempotent; call after importing GX, before it makes a context or Prefect starts a flow."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # GX sets this module's logger to INFO itself, on import: call this after importing GX.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    prefect_logger = logging.getLogger("prefect")
    if not any(isinstance(f, _TemporaryServerNote) for f in prefect_logger.filters):
        prefect_logger.addFilter(_TemporaryServerNote())
    task_logger = logging.getLogger("prefect.task_runs")
    if not any(isinstance(f, _TaskCompleted) for f in task_logger.filters):
        task_logger.addFilter(_TaskCompleted())
