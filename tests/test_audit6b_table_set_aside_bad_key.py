"""An aggregate table whose bad row has a mistyped period (or indicator) cell is NOT set aside:
the bad row forms its own 'table' (indicator x period *as written*), so the rest of the real
table loads with totals that still count the missing cell.

standardize.set_aside_broken_tables docstring: "A table only means something whole: without its
impossible cell (13 of 12) its total, which still counts that cell, would be published with
subgroups that no longer add up to it."
"""
from __future__ import annotations



import test_audit6_scenario as cedar  # noqa: E402
import test_audit6_staging_fixes as s  # noqa: E402


def test_a_subgroup_row_with_a_mistyped_period_sets_its_table_aside(tmp_path):
    good = {("Asian", "400%+ FPG"): (5, 9), ("White", "Below 100% FPG"): (30, 40)}
    rows = [list(r) for r in cedar.aggregate_table("FY2024", good)]
    rows[0][1] = "FY2O24"  # letter O: the Asian / 400%+ cell's period cannot be read
    staged, bad = s._stage(tmp_path, cedar.to_csv(cedar.AGGREGATE_HEADER, rows),
                           partner="housing_b", name="b.csv", aggregates=True)
    loaded = s._records(staged, "period, race, class, numerator, denominator") \
        if staged.status == "staged" else {}
    # Loaded today: White/Below 30/40, Asian/ALL 5/9, ALL/400%+ 5/9, ALL/ALL 35/49: totals
    # that count the Asian 400%+ household whose subgroup row is gone.
    assert loaded == {}, f"FY2024 table loaded without its row 2: {loaded}"
