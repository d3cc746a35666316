"""Audit 6b: class conditions (`not_in`, `is_null` on poverty_ratio) decided on the person's
class of the period, also when the indicator's bits are in a second packed word (> 30
indicators measured together)."""

from __future__ import annotations

import pytest
import yaml

from test_measure import _cells, _insert, con  # noqa: F401 (a fixture)

TARGETS = {
    "z_notpoor": {"numerator": [{"column": "class", "op": "not_in",
                                 "value": ["Below 100% FPG", "Low income (proxy)"]}]},
    "z_noratio": {"numerator": [{"column": "poverty_ratio", "op": "is_null"}]},
    "z_ratio_den": {"denominator": [{"column": "kinder_ready", "op": "not_null"},
                                    {"column": "poverty_ratio", "op": "not_null"}],
                    "numerator": [{"column": "kinder_ready", "op": "=", "value": 1}]},
}


def _write(workspace, fillers: int):
    folder = workspace.path("indicators", "riverbend")
    for i in range(fillers):
        (folder / f"a{i:02d}.yaml").write_text(yaml.safe_dump({
            "id": f"a{i:02d}", "title": f"Filler {i}", "direction": "higher_is_better",
            "denominator": [{"column": "kinder_ready", "op": "not_null"}],
            "numerator": [{"column": "kinder_ready", "op": "=", "value": 1}]}))
    for name, parts in TARGETS.items():
        body = {"id": name, "title": name, "direction": "higher_is_better",
                "denominator": [{"column": "kinder_ready", "op": "not_null"}], **parts}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(body))
    return workspace.load("riverbend")


def _people(con):
    _insert(con, 1, "riverbend_schools", "p1", 2024, ["white"], "Low income (proxy)", ready=1)
    _insert(con, 2, "bright_start", "p1", 2024, ["white"], income=10000.0)
    _insert(con, 1, "riverbend_schools", "p2", 2024, ["white"], "Low income (proxy)", ready=1)
    _insert(con, 1, "riverbend_schools", "p3", 2024, ["black"], "Not reported", ready=0)
    _insert(con, 2, "bright_start", "p4", 2024, ["black"], income=20000.0, ready=1)


@pytest.mark.parametrize("fillers", [0, 33])
def test_not_in_and_null_ratio_on_the_persons_class(con, workspace, fillers):  # noqa: F811
    config = _write(workspace, fillers)
    _people(con)
    got = {}
    for name in TARGETS:
        for partner in ("ALL", "riverbend_schools"):
            cells = _cells(con, config, indicator_id=name, period="2024", partner_id=partner)
            got[(name, partner)] = cells.get(("total", "ALL", "ALL"), (0, 0))
    assert got[("z_notpoor", "ALL")] == (2, 4)            # p3 (Not reported), p4 (100-199%)
    assert got[("z_notpoor", "riverbend_schools")] == (1, 3)  # p3
    assert got[("z_noratio", "ALL")] == (2, 4)            # p2, p3: no income anywhere
    assert got[("z_noratio", "riverbend_schools")] == (3, 3)  # the school has no income
    assert got[("z_ratio_den", "ALL")] == (2, 2)          # p1 (ratio from bright_start), p4
    assert got[("z_ratio_den", "riverbend_schools")] == (0, 0)
