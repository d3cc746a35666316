"""Audit 7, finding A7: of two files a partner drops for one period before the same night, the
later one's rows count, whatever the names. The night numbers its files in the order `discover`
lists them and the newest (highest-numbered) row of a person and period counts, so discover
lists each partner's files in order of arrival (then name), not by name: "2023-24
corrected.csv" sorts before "2023-24.csv" by name (a space sorts before a dot).
"""

from __future__ import annotations

import os
import time

from pipelines import ingest, warehouse
from pipelines.discover import discover
from pipelines.intake import stage_file

from conftest import drop
from test_resubmission import SALT, SCHOOLS, query


def test_a_correction_dropped_later_counts_whatever_its_name(workspace, config, monkeypatch):
    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", "0")
    first = drop(workspace, SCHOOLS, "2023.csv", "person_id,period,kinder_ready\n" +
                 "".join(f"S{i},2023,1\n" for i in range(10)))
    os.utime(first, (time.time() - 600, time.time() - 600))  # dropped ten minutes earlier
    drop(workspace, SCHOOLS, "2023 corrected.csv", "person_id,period,kinder_ready\n" +
         "".join(f"S{i},2023,{0 if i < 8 else 1}\n" for i in range(10)))
    found = discover(workspace, config)
    assert [f.path.name for f in found] == ["2023.csv", "2023 corrected.csv"]
    # The warehouse step of that night, on the files in discover's order (as the flow does).
    staged = [stage_file(f.path, config, f.partner_id, SALT, workspace.staging) for f in found]
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        settled = ingest.settle_all(con, workspace, config, staged, [], "run-1")
    finally:
        con.close()
    text = open(settled[0].report, encoding="utf-8").read()
    assert "the row of the file received last counts" in text, text
    assert query(workspace, "SELECT sum(kinder_ready), count(*) FROM riverbend.records_current"
                 ) == [(2, 10)]


def test_files_written_at_the_same_time_keep_name_order(workspace, config, monkeypatch):
    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", "0")
    stamp = time.time() - 60
    for name in ("b.csv", "a.csv", "c.csv"):
        os.utime(drop(workspace, SCHOOLS, name, "person_id,period,kinder_ready\nS1,2023,1\n"),
                 (stamp, stamp))
    assert [f.path.name for f in discover(workspace, config)] == ["a.csv", "b.csv", "c.csv"]
