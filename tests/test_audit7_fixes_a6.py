"""Audit 7, finding A6: `backbone run`'s closing line gives the cells published and hidden in
the partnership file, not the counts over every breakdown measured (most never published:
"246 cells measured; 220 hidden" for a file of 76 cells)."""

from __future__ import annotations

import os

import pyarrow.parquet as pq

os.environ["BACKBONE_SETTLE_SECONDS"] = "0"

import test_audit7_scenario as J  # noqa: E402


def test_the_run_summary_counts_the_cells_it_published(tmp_path, prefect_harness, capsys):
    from pipelines import cli
    from pipelines.flows import nightly
    from pipelines.run_output import show_run

    ws = J.build(tmp_path / "home")
    J.drop(ws, "schools", "k.csv", J.to_csv(J.SCHOOL_HEADER, J.school_rows()))
    [summary] = nightly(home=str(ws.root), initiative=J.INITIATIVE)
    rows = pq.read_table(ws.published(J.INITIATIVE) / "partnership" /
                         "indicator_results.parquet").to_pylist()
    primary = sum(r["suppression_reason"] == "primary" for r in rows)
    complementary = sum(r["suppression_reason"] == "complementary" for r in rows)
    assert summary["published_cells"] == {"cells": len(rows), "primary": primary,
                                          "complementary": complementary}
    assert summary["cells"] > len(rows)  # every breakdown measured, more than published
    capsys.readouterr()
    show_run(cli.console, [summary])
    out = " ".join(capsys.readouterr().out.split())
    assert (f"published {len(rows):,} cells for the partnership ({primary:,} hidden as small "
            f"counts and {complementary:,} hidden to protect them)") in out, out
