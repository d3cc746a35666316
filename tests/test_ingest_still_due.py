"""A partner's reports of one night carry the periods it still owes as read after its files
loaded: `ingest.settle_partner` works them out once per partner (and day), not once per file."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.status_text import still_due_section

from test_dated_resubmission import CLINIC, march, visits
from test_resubmission import SCHOOLS, night, people, school_file


def test_each_report_of_a_night_has_its_partners_periods_still_due_as_after_the_load(
        workspace, config):
    before = duckdb.connect()
    try:  # nothing received yet: every owed period is still due
        owed_before = {p: still_due_section(before, config, p) for p in (SCHOOLS, CLINIC)}
    finally:
        before.close()
    files = [(SCHOOLS, "north.csv", school_file(2024, people("N", 20))),
             (SCHOOLS, "south.csv", school_file(2024, people("S", 30))),
             (SCHOOLS, "RUSD_2023.csv", school_file(2023, people("T", 25))),
             (CLINIC, "visits 2024-03.csv", visits(*march()))]
    settled = night(workspace, config, *files)
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        owed_after = {p: still_due_section(con, config, p) for p in (SCHOOLS, CLINIC)}
    finally:
        con.close()
    for partner, name, _ in files:
        assert settled[name].status == "loaded"
        text = Path(settled[name].report).read_text(encoding="utf-8")
        section = "\n".join(owed_after[partner])
        assert "## Periods still due" in section and section in text
    # the load changed what each partner owes, and the partners owe different periods: a
    # section read before the load, or for the other partner, would not be in the reports
    for partner in (SCHOOLS, CLINIC):
        assert owed_after[partner] != owed_before[partner]
    assert owed_after[SCHOOLS] != owed_after[CLINIC]
