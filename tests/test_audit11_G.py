"""Audit 11, helper G: the equity measures against their official definitions.

G1. The index of disparity (Pearcy & Keppel 2002) is a relative measure; Keppel & Pearcy 2005
("Measuring relative disparities in terms of adverse events", J Public Health Manag Pract
11(6):479-83) require it to be taken on the adverse event. For a higher_is_better indicator
(85% ready) the published index divided by the favourable reference rate, so it shrank as the
outcome got more common and could not be compared with a lower_is_better indicator.
"""

from __future__ import annotations

import inspect

import duckdb
import pytest

from pipelines import refresh
from pipelines.disparities import compute_disparities
from pipelines.equity.poverty import guideline_amount, load_poverty_guidelines
from pipelines.equity.standards import load_class_bands

from test_disparities import _cells

SCHEMAS = __import__("pathlib").Path(__file__).resolve().parent.parent / "schemas" / "equity"


def _ready_cells(con: duckdb.DuckDBPyConnection) -> None:
    # White 85% ready (17/20), Black 75% (15/20), Hispanic 65% (13/20).
    _cells(con, [("p1", "alone", "White", "ALL", 17, 20, False),
                 ("p1", "alone", "Black or African American", "ALL", 15, 20, False),
                 ("p1", "alone", "Hispanic or Latino", "ALL", 13, 20, False)])


def test_index_of_disparity_of_a_favourable_rate_is_relative_to_the_adverse_reference_rate():
    con = duckdb.connect()
    _ready_cells(con)
    compute_disparities(con, "cells", "out", {"race": "White"}, favorable_indicators=["ind"])
    rows = con.execute("SELECT group_label, rate_ratio, rate_difference, index_of_disparity "
                       "FROM out ORDER BY group_label").fetchall()
    # Gaps .10 and .20, mean .15, over the reference's 15% not ready: 100, not 17.6.
    assert [r[3] for r in rows] == [pytest.approx(100.0)] * 2
    # Ratio and difference stay those of the published rates.
    assert rows[0][1:3] == (pytest.approx(15 / 17), pytest.approx(-0.10))


def test_index_of_disparity_of_an_adverse_rate_is_unchanged():
    con = duckdb.connect()
    _ready_cells(con)
    compute_disparities(con, "cells", "out", {"race": "White"})
    got = [r[0] for r in con.execute("SELECT index_of_disparity FROM out").fetchall()]
    assert got == [pytest.approx(0.15 / 0.85 * 100)] * 2


def test_index_of_disparity_is_null_when_the_reference_never_has_the_adverse_event():
    con = duckdb.connect()
    _cells(con, [("p1", "alone", "White", "ALL", 20, 20, False),
                 ("p1", "alone", "Asian", "ALL", 15, 20, False)])
    compute_disparities(con, "cells", "out", {"race": "White"}, favorable_indicators=["ind"])
    assert con.execute("SELECT index_of_disparity FROM out").fetchall() == [(None,)]


def test_refresh_passes_the_higher_is_better_indicators():
    source = inspect.getsource(refresh)
    assert "favorable_indicators=" in source and '"higher_is_better"' in source


# Checked against the Federal Register notices (see findings.md): kept as a guard so a future
# edit of the shipped table cannot drift from them unnoticed.
HHS = {  # year: {region: (household of 1, household of 8, each additional above 8)}
    2015: {"contiguous": (11770, 40890, 4160), "alaska": (14720, 51120, 5200),
           "hawaii": (13550, 47010, 4780)},
    2016: {"contiguous": (11880, 40890, 4160), "alaska": (14840, 51120, 5200),
           "hawaii": (13670, 47010, 4780)},
    2024: {"contiguous": (15060, 52720, 5380), "alaska": (18810, 65920, 6730),
           "hawaii": (17310, 60640, 6190)},
    2025: {"contiguous": (15650, 54150, 5500), "alaska": (19550, 67710, 6880),
           "hawaii": (17990, 62300, 6330)},
    2026: {"contiguous": (15960, 55720, 5680), "alaska": (19950, 69650, 7100),
           "hawaii": (18360, 64070, 6530)},
}


@pytest.mark.parametrize("year", sorted(HHS))
def test_shipped_guidelines_match_the_federal_register_tables(year):
    table = load_poverty_guidelines(SCHEMAS / "poverty_guidelines.csv")
    for region, (one, eight, each) in HHS[year].items():
        assert guideline_amount(table, year, region, 1) == one
        assert guideline_amount(table, year, region, 8) == eight
        assert guideline_amount(table, year, region, 11) == eight + 3 * each


def test_band_edges_follow_their_labels():
    bands = load_class_bands(SCHEMAS / "class_bands.yaml")
    assert [bands.band_for(r) for r in (0.999, 1.0, 1.999, 2.0, 3.999, 4.0)] == [
        "Below 100% FPG", "100-199% FPG", "100-199% FPG", "200-399% FPG", "200-399% FPG",
        "400%+ FPG"]


def test_a_version_published_by_earlier_methods_is_published_again(demo_run, tmp_path):
    """The corrected index must reach an initiative with no new data: a partnership version
    whose manifest predates the correction is not current, so the next night measures again."""
    import json
    import shutil

    from pipelines import warehouse
    from pipelines.config import Workspace
    from pipelines.publish import METHODS, is_current
    from pipelines.versions import PARTNERSHIP, audience_dir

    source, _, _ = demo_run
    shutil.copytree(source.root, tmp_path / "ws")  # links followed: the shared run stays as is
    workspace = Workspace(tmp_path / "ws")
    config = workspace.load("riverbend")
    manifest = audience_dir(workspace, "riverbend", PARTNERSHIP) / "manifest.json"
    body = json.loads(manifest.read_text())
    assert body["methods"] == METHODS
    con = warehouse.connect(workspace.warehouse_file, read_only=True)
    try:
        assert is_current(con, workspace, config)
        for earlier in ({k: v for k, v in body.items() if k != "methods"},
                        {**body, "methods": METHODS - 1}):
            manifest.unlink()
            manifest.write_text(json.dumps(earlier))
            assert not is_current(con, workspace, config)
    finally:
        con.close()
