"""Conditions on `class` and `poverty_ratio` are about the person's one class in the period.

README: "`class` and `poverty_ratio` in a condition are today's class, re-derived like the
breakdowns", and a person has one class per period, the lowest on all their records. A record
without income must not hide the person's income from another record (or another partner), and
two people of one band must not share one ratio.
"""

from __future__ import annotations

import pytest
import yaml

from test_measure import _cells, _insert, con  # noqa: F401 (a fixture)


@pytest.fixture
def config(workspace):
    folder = workspace.path("indicators", "riverbend")
    (folder / "ready_poor.yaml").write_text(yaml.safe_dump({
        "id": "ready_poor", "title": "Children under 150% FPG ready, of those assessed",
        "direction": "higher_is_better",
        "denominator": [{"column": "kinder_ready", "op": "not_null"},
                        {"column": "poverty_ratio", "op": "<", "value": 1.5}],
        "numerator": [{"column": "kinder_ready", "op": "=", "value": 1}]}))
    (folder / "ready_proxy.yaml").write_text(yaml.safe_dump({
        "id": "ready_proxy", "title": "Assessed children who are low income by proxy",
        "direction": "higher_is_better",
        "denominator": [{"column": "kinder_ready", "op": "not_null"}],
        "numerator": [{"column": "class", "op": "in", "value": ["Low income (proxy)"]}]}))
    return workspace.load("riverbend")


def test_class_conditions_use_the_persons_class_of_the_period(con, config):
    # p1: the school's record has the proxy only; the home visitor's has an income (66% FPG,
    # household of one in WA, 2024). p1's class in 2024 is Below 100% FPG, ratio 0.66.
    _insert(con, 1, "riverbend_schools", "p1", 2024, ["white"], "Low income (proxy)", ready=1)
    _insert(con, 2, "bright_start", "p1", 2024, ["white"], income=10000.0)
    # p2 and p3: one partner, one band (100-199% FPG), ratios 1.20 and 1.79.
    _insert(con, 2, "bright_start", "p2", 2024, ["white"], income=18000.0, ready=1)
    _insert(con, 2, "bright_start", "p3", 2024, ["white"], income=27000.0, ready=1)
    # p4: the proxy only, in every record.
    _insert(con, 1, "riverbend_schools", "p4", 2024, ["black"], "Low income (proxy)", ready=0)

    poor = _cells(con, config, indicator_id="ready_poor", period="2024", partner_id="ALL")
    # Under 150% FPG: p1 (0.66, from the other record) and p2 (1.20); not p3, not p4 (no ratio).
    assert poor[("total", "ALL", "ALL")] == (2, 2)
    assert poor[("total", "ALL", "Below 100% FPG")] == (1, 1)
    assert poor[("total", "ALL", "100-199% FPG")] == (1, 1)
    proxy = _cells(con, config, indicator_id="ready_proxy", period="2024", partner_id="ALL")
    # Only p4's class is the proxy: p1 is Below 100% FPG across partners.
    assert proxy[("total", "ALL", "ALL")] == (1, 4)
    assert proxy[("total", "ALL", "Below 100% FPG")] == (0, 1)
    assert proxy[("total", "ALL", "Low income (proxy)")] == (1, 1)

    # Per partner, people as that partner reported them: the school knows p1 by proxy only.
    school = _cells(con, config, indicator_id="ready_proxy", period="2024",
                    partner_id="riverbend_schools")
    assert school[("total", "ALL", "ALL")] == (2, 2)
    school_poor = _cells(con, config, indicator_id="ready_poor", period="2024",
                         partner_id="riverbend_schools")
    assert school_poor.get(("total", "ALL", "ALL"), (0, 0)) == (0, 0)
    home = _cells(con, config, indicator_id="ready_poor", period="2024", partner_id="bright_start")
    # p2 and p3 are one profile but for their ratio: only p2 is under 150%.
    assert home[("total", "ALL", "100-199% FPG")] == (1, 1)
