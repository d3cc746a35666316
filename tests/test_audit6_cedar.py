"""Audit (session 6): a new initiative unlike the sample, measured by the real nightly flow and
compared cell by cell with a reference model written from the README alone.

"Cedar" has its own template (dated visits, fiscal-year and quarter labels, number measures),
a fiscal year starting in October, three partners with their own local race codes (a code for
"more than one race, not specified", refusals), class from income at edge values (exactly at
100%/200%/400% of a guideline, Alaska and Hawaii, 2016's household of 8 kept at 2015's amount, a
fiscal year that starts in the previous calendar year), and indicators measured by quarter,
month, fiscal year and year, with `>=`/`<` filters and a condition on `poverty_ratio`.

The model: a record counts in the indicator period that wholly contains its own period; a person
counts once per indicator period (all partners, and per partner); in the denominator when any
record meets the denominator conditions, in the numerator when any record meets both; race is
the union of the races of all the person's records in the period (a multiracial-unspecified code
makes them Multiracial alone and is in no "alone or in combination" group), class the lowest
(income bands, then proxies, then Not reported), by the guideline of the calendar year the
record's own period starts in, never below the previous year's for the same size.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pyarrow.parquet as pq
import pytest

from pipelines.config import Workspace

from test_audit6_model import (expected_cells, expected_disparities, parse_period, records,
                               wilson)
from test_audit6_scenario import (CLINIC_HEADER, INDICATORS, INITIATIVE, SCHOOL_HEADER, SHELTER_HEADER,
                                  THRESHOLD, build, cell_key, clinic_rows, drop, night,
                                  published, school_rows, shelter_rows, to_csv, warehouse_cells)


def assert_published_as_modelled(workspace: Workspace, expected: dict[tuple, tuple[int, int]]):
    # Every cell the model has, with its counts, before suppression (the warehouse mart).
    measured = warehouse_cells(workspace)
    assert {k: measured.get(k) for k in expected} == expected
    # Published: exactly the model's cells (the indicator's disaggregations), numbers as
    # modelled, Wilson intervals, the dagger under 30, and every 1..T cell hidden as primary.
    rows = published(workspace)
    got = {cell_key(r): r for r in rows}
    assert len(got) == len(rows) and set(got) == set(expected)
    shown = 0
    for key, (num, den) in expected.items():
        r = got[key]
        small = any(0 < n <= THRESHOLD for n in (num, den, den - num))
        assert (r["suppression_reason"] == "primary") == small, (key, num, den, r)
        if r["suppressed"]:
            assert r["suppression_reason"] in ("primary", "complementary")
            assert all(r[c] is None for c in ("numerator", "denominator", "value", "ci_lower",
                                              "ci_upper")), r
            continue
        shown += 1
        lower, upper = wilson(num, den)
        assert (r["numerator"], r["denominator"]) == (num, den), key
        assert r["value"] == pytest.approx(num / den, abs=1e-12)
        assert (r["ci_lower"], r["ci_upper"]) == (pytest.approx(lower, abs=1e-9),
                                                  pytest.approx(upper, abs=1e-9))
        assert r["low_reliability"] == (den < 30)
    assert shown >= 20, "the comparison above would be nearly vacuous"
    # No hidden cell is the only hidden one among race (or class) siblings of a shown total.
    families: dict[tuple, list[dict]] = defaultdict(list)
    for (ind, period, partner, tab, race, klass), r in got.items():
        if tab == "alone":
            families[("race", ind, period, partner, klass)].append(r)
        if klass != "ALL" and tab in ("alone", "total"):
            families[("class", ind, period, partner, race)].append(r)
    for (dim, ind, period, partner, other), members in families.items():
        total = got.get((ind, period, partner, "total", "ALL", other) if dim == "race" else
                        (ind, period, partner, "total" if other == "ALL" else "alone", other,
                         "ALL"))
        if total is not None and not total["suppressed"]:
            assert sum(m["suppressed"] for m in members) != 1, (dim, ind, period, partner, other)
    # Disparities from the published cells, against the default reference groups.
    folder = workspace.published(INITIATIVE) / "partnership"
    disparities = {(d["indicator_id"], d["period"], d["partner_id"], d["dimension"],
                    d["group_label"]): d
                   for d in pq.read_table(folder / "disparities.parquet").to_pylist()}
    favorable = frozenset(name.removesuffix(".yaml") for name, text in INDICATORS.items()
                          if "direction: higher_is_better" in text)
    modelled = expected_disparities(rows, {"race": "White", "class": "400%+ FPG"}, favorable)
    assert set(disparities) == set(modelled) and modelled
    for key, values in modelled.items():
        for column, value in values.items():
            assert disparities[key][column] == (value if value is None or column ==
                                                "groups_compared" else pytest.approx(value)), key


def test_cedar_cells_match_the_model_across_a_resubmission_night(tmp_path, prefect_harness):
    import json

    workspace = build(tmp_path / "home")
    clinic, school, shelter = clinic_rows(), school_rows(), shelter_rows()
    drop(workspace, "clinic", "clinic_2024H1.csv", to_csv(CLINIC_HEADER, clinic))
    drop(workspace, "school", "school.csv", to_csv(SCHOOL_HEADER, school, ";"))
    drop(workspace, "shelter", "shelter.csv", to_csv(SHELTER_HEADER, shelter, end="\r\n"))
    files = night(workspace)
    assert {n: (f["status"], f["rows_loaded"], f["rows_quarantined"]) for n, f in files.items()} \
        == {"clinic_2024H1.csv": ("loaded", len(clinic), 0), "school.csv": ("loaded", 120, 0),
            "shelter.csv": ("loaded", 60, 0)}
    expected = expected_cells(records(workspace, clinic, school, shelter))
    # Hand-checked edges: exactly 100% of the guideline is 100-199%, exactly 400% (Alaska) is
    # 400%+, 2016's household of 8 is classed by 2015's kept amount, a 2023 visit by 2023's.
    q1 = lambda race, klass: expected[("screening_q", "2024Q1", "clinic", "alone", race, klass)]
    assert expected[("screening_q", "2016Q2", "ALL", "total", "ALL", "Below 100% FPG")] == (1, 1)
    assert expected[("screening_q", "2023Q4", "clinic", "total", "ALL", "200-399% FPG")] == (1, 1)
    assert q1("Asian", "400%+ FPG")[1] >= 1
    # Students classed by a clinic visit's income inside FY2024 are not "low income by proxy",
    # whatever their school record says: a class condition sees the person's one class.
    poor = expected[("proxy_fy", "FY2024", "ALL", "total", "ALL", "Below 100% FPG")]
    assert poor[0] == 0 and poor[1] >= 10
    assert expected[("screening_q", "2024Q1", "ALL", "total", "ALL", "ALL")][1] == len(
        {r["person"] for r in records(workspace, clinic, school, shelter)
         if r["seen"] == 1 and date(2024, 1, 1) <= r["start"] and r["end"] <= date(2024, 3, 31)})
    assert_published_as_modelled(workspace, expected)
    manifest = json.loads((workspace.published(INITIATIVE) / "partnership" /
                           "manifest.json").read_text())
    grains = {g["indicator_id"]: g["records_not_counted"] for g in manifest["indicator_periods"]}
    assert grains == {"screening_q": 0, "screening_m": 60, "attendance_fy": 0,
                      "reach_low_income": 0, "proxy_fy": 0}  # shelter quarters: coarser than months
    assert {(y["period"], y["guideline_year"]) for y in manifest["poverty_guideline_years"]} == {
        ("2016", 2016), ("2023", 2023), ("2024", 2024)}

    # Night 2: the shelter's complete Q1 resend (20 of 30 people, some screened since, one new),
    # the clinic's complete March file (18 of 26 rows, 6 changed) and two late visit rows.
    q1_rows = [r for r in shelter if parse_period("shelter", r[1])[0] == date(2024, 1, 1)]
    fix = [[r[0], "2024Q1", *r[2:7], "1"] for r in q1_rows[:20]]
    fix.append(["NEW1", "Q1 2024", "W", "90000", "2", "OR", "1", "0"])
    march = [r for r in clinic if parse_period("clinic", r[1])[0].strftime("%Y-%m") == "2024-03"]
    march_fix = [list(r) for r in march[:18]]
    for r in march_fix[:6]:
        r[7] = "N" if r[7] == "Y" else "Y"
    may = [r for r in clinic if r[1].startswith("2024-05")]
    late = [[*may[0][:2], "AH", *may[0][3:7], "N" if may[0][7] == "Y" else "Y"],
            ["L01", "2024-05-20", "B", "15000", "2", "OR", "1", "Y"]]
    drop(workspace, "shelter", "shelter_q1_fix.csv", to_csv(SHELTER_HEADER, fix))
    drop(workspace, "clinic", "clinic_march_fix.csv", to_csv(CLINIC_HEADER, march_fix))
    drop(workspace, "clinic", "clinic_late.csv", to_csv(CLINIC_HEADER, late))
    files = night(workspace)
    assert files["shelter_q1_fix.csv"]["reasons"] == "2024Q1: 30 -> 21 rows (replaced)"
    assert files["clinic_march_fix.csv"]["reasons"] == \
        "March 2024 (9 days with rows): 26 -> 18 rows (replaced)"
    assert files["clinic_late.csv"]["reasons"] == \
        "May 2024 (2 days with rows): 23 -> 24 rows (updated)"
    day = lambda r: (r[0], parse_period("clinic", r[1])[0])
    shelter = [r for r in shelter if r not in q1_rows] + fix
    clinic = [r for r in clinic if r not in march] + march_fix
    clinic = [r for r in clinic if day(r) not in {day(x) for x in late}] + late
    assert_published_as_modelled(workspace, expected_cells(records(workspace, clinic, school,
                                                                   shelter)))
