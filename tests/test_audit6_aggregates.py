"""Audit (session 6): aggregate partners of the Cedar scenario (tests/test_audit6_scenario.py):
all-partner rows are sums of the partners' tables, an unbalanced period is set aside, a table
finer than the indicator's grain is not counted and the manifest says so."""

from __future__ import annotations

import json
from pathlib import Path

from test_audit6_scenario import (AGGREGATE_HEADER, HOUSING_A, HOUSING_B, INITIATIVE, THRESHOLD,
                                  add_aggregate_partners, aggregate_table, build, cell_key, drop,
                                  night, published, to_csv, warehouse_cells)


def test_aggregate_partners_add_up_and_unbalanced_or_finer_tables_do_not_count(
        tmp_path, prefect_harness):
    workspace = build(tmp_path / "home")
    add_aggregate_partners(workspace)
    unbalanced = aggregate_table("FY2025", {("White", "Below 100% FPG"): (21, 30)}, fudge_total=1)
    drop(workspace, "housing_a", "a.csv",
         to_csv(AGGREGATE_HEADER, aggregate_table("FY2024", HOUSING_A) + unbalanced))
    quarter = aggregate_table("2024Q1", {("White", "Below 100% FPG"): (4, 5)})
    drop(workspace, "housing_b", "b.csv",
         to_csv(AGGREGATE_HEADER, aggregate_table("FY2024", HOUSING_B) + quarter))
    files = night(workspace)
    assert (files["a.csv"]["status"], files["a.csv"]["rows_quarantined"]) == ("loaded", 4)
    report = Path(files["a.csv"]["report"]).read_text()
    assert "subgroups\\_do\\_not\\_sum" in report and "| 18 |" in report  # FY2025's rows
    cells = warehouse_cells(workspace)
    # The all-partner row of an aggregate indicator is the sum of the partners' tables.
    total = lambda partner, race, klass: cells[("housed_fy", "FY2024", partner,
                                                "total" if race == "ALL" else "alone", race, klass)]
    assert total("ALL", "ALL", "ALL") == (54 + 43, 88 + 56)
    assert total("ALL", "White", "ALL") == (45, 58)
    assert total("ALL", "ALL", "Below 100% FPG") == (32 + 13, 55 + 15)
    assert total("housing_b", "ALL", "ALL") == (43, 56)
    assert not any(k[0] == "housed_fy" and k[1] != "FY2024" for k in cells)
    rows = [r for r in published(workspace) if r["indicator_id"] == "housed_fy"]
    shown = {cell_key(r)[2:]: (r["numerator"], r["denominator"]) for r in rows
             if not r["suppressed"]}
    assert shown[("ALL", "total", "ALL", "ALL")] == (97, 144)
    for r in rows:
        if not r["suppressed"]:
            assert not any(0 < n <= THRESHOLD for n in (r["numerator"], r["denominator"],
                                                        r["denominator"] - r["numerator"]))
    manifest = json.loads((workspace.published(INITIATIVE) / "partnership" /
                           "manifest.json").read_text())
    [grain] = [g for g in manifest["indicator_periods"] if g["indicator_id"] == "housed_fy"]
    assert (grain["aggregate_rows_not_counted"], grain["aggregate_periods_not_counted"]) == (
        4, ["housing_b 2024Q1"])
