"""Audit 6b: the kept-counts path (measure_reuse) gives the same cells as a full count for
indicators with conditions on the person's class and poverty ratio, when a second night brings
one new file (people already counted gain an income record: their class of the period moves)."""

from __future__ import annotations


import yaml

from pipelines.refresh import measure_and_publish
from test_measure_reuse import _cells, _file, _night_before, _outputs, measure_kept_and_full

CLASSED = {
    "wcv_poor": {"denominator": [{"column": "well_child_visit", "op": "not_null"},
                                 {"column": "class", "op": "in",
                                  "value": ["Below 100% FPG", "100-199% FPG"]}],
                 "numerator": [{"column": "well_child_visit", "op": "=", "value": 1}]},
    "wcv_noratio": {"denominator": [{"column": "well_child_visit", "op": "not_null"}],
                    "numerator": [{"column": "poverty_ratio", "op": "is_null"}]},
    "dev_ratio": {"period_type": "quarter",
                  "denominator": [{"column": "dev_screening", "op": "not_null"},
                                  {"column": "poverty_ratio", "op": "<", "value": 2}],
                  "numerator": [{"column": "class", "op": "not_in",
                                 "value": ["Below 100% FPG"]}]},
}


def test_kept_counts_equal_a_full_count_with_class_conditions(workspace, tmp_path_factory):
    for name, body in CLASSED.items():
        (workspace.path("indicators", "riverbend") / f"{name}.yaml").write_text(yaml.safe_dump(
            {"id": name, "title": name, "direction": "higher_is_better", **body}))
    config = workspace.load("riverbend")
    con = _night_before(workspace, config, monthly=True)
    try:
        measure_and_publish(con, workspace, config, "20261201T000000-aaaaaa")
        # One new file: the school's 2023 people again (offset 0: persons already counted by
        # both partners), with incomes; and a month of screenings for people seen before.
        _file(con, "northside_clinic", 2023, 80, offset=0)
        _file(con, "northside_clinic", 2023, 40, offset=30, month=2)
    finally:
        con.close()
    full = measure_kept_and_full(workspace, tmp_path_factory)
    fast, whole = _cells(workspace), _cells(full)
    assert any("dev_ratio" in c for c in whole) and any("wcv_poor" in c for c in whole)
    assert fast == whole
    assert _outputs(workspace) == _outputs(full)
