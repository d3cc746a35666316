"""Audit (session 7): the Juniper coalition (tests/test_audit7_scenario.py) over three nights of
the real nightly flow, compared cell by cell with a reference model written from the README
alone (tests/test_audit7_model.py).

Night 1: clean files (a cp1252 clinic export with Spanish headers, a BOM'd school file, HMIS race
columns, an aggregate table). Night 2: what partners really send next (odd headers, hostile cell
text and file names, a cp1252 file behind a UTF-8 byte-order mark, a corrected complete period,
a new period, one bad row among good ones, counts with thousands separators, a file of another
template, a resend of the same bytes). Night 3: nothing new. One partner never sends anything.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

import test_audit7_night2 as N
import test_audit7_scenario as J
from test_audit7_model import expected_cells, records, wilson


def _night1(ws):
    J.drop(ws, "clinic", "clinic 2024.csv", J.to_csv(J.CLINIC_HEADER, J.clinic_rows())
           .encode("cp1252"))
    J.drop(ws, "schools", "k_ready.csv", "\ufeff" + J.to_csv(J.SCHOOL_HEADER, J.school_rows()))
    J.drop(ws, "housing", "housing.csv", J.to_csv(J.HOUSING_HEADER, J.housing_rows()))
    agg = [r for p, t in J.COALITION.items() for r in J.aggregate_table("visits_agg", p, t)]
    J.drop(ws, "coalition", "counts.csv", J.to_csv(J.AGGREGATE_HEADER, agg))


def _night2(ws):
    J.drop(ws, "clinic", "clinic_2024-10.csv", N.clinic_october_bytes())
    J.drop(ws, "clinic", "clinic_2024-09.csv", N.clinic_september_bytes())
    J.drop(ws, "schools", "k_ready_2023-24_corrected.csv",
           J.to_csv(J.SCHOOL_HEADER, N.schools_correction(J.school_rows())))
    J.drop(ws, "schools", "roster.csv", "Student,Grade,Teacher\r\n1,K,Ms. A\r\n")
    J.drop(ws, "housing", N.HOSTILE_NAME, J.to_csv(J.HOUSING_HEADER, N.housing_q3()))
    J.drop(ws, "housing", "housing (copy).csv", J.to_csv(J.HOUSING_HEADER, J.housing_rows()))
    J.drop(ws, "coalition", "counts_2024-25.csv",
           J.to_csv(J.AGGREGATE_HEADER, N.coalition_fix_rows()))


def _data_after_night2():
    clinic = J.clinic_rows() + N.clinic_october_loaded() + N.clinic_september()
    schools = J.school_rows()
    fix = N.schools_correction(schools)
    schools = [r for r in schools if r[1] in ("2024-25", "SY2025", "2024/25")] + [
        r for r in fix if r[0] != "N001"]
    return clinic, schools, J.housing_rows() + [r for r in N.housing_q3() if r[0] != "H599"], {
        **J.COALITION, "2024-25": N.COALITION_FIX}


@pytest.fixture(scope="module")
def juniper(tmp_path_factory, prefect_harness):
    ws = J.build(tmp_path_factory.mktemp("juniper") / "home")
    _night1(ws)
    out = {"files1": J.night(ws), "results1": J.published(ws)}
    out["cells1"] = J.warehouse_cells(ws)
    _night2(ws)
    out["files2"] = J.night(ws)
    out["results2"] = J.published(ws)
    out["cells2"] = J.warehouse_cells(ws)
    version = (ws.published(J.INITIATIVE) / "partnership").resolve()
    out["files3"] = J.night(ws)
    out["version_stands"] = (ws.published(J.INITIATIVE) / "partnership").resolve() == version
    return ws, out


def assert_published_as_modelled(rows: list[dict], expected: dict) -> None:
    allowed = {k for k in expected}
    got = {J.cell_key(r): r for r in rows}
    assert len(got) == len(rows) and set(got) == allowed
    shown = 0
    for key, (num, den) in expected.items():
        r = got[key]
        small = any(0 < n <= J.THRESHOLD for n in (num, den, den - num))
        assert (r["suppression_reason"] == "primary") == small, (key, num, den, r)
        if r["suppressed"]:
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
    assert shown >= 40
    # A shown total never has exactly one hidden child (race alone, class, or partner for the
    # aggregate indicator, whose all-partner row is the sum of its one partner's).
    families: dict[tuple, list[dict]] = defaultdict(list)
    for (ind, period, partner, tab, race, klass), r in got.items():
        if tab == "alone":
            families[(ind, period, partner, "total", "ALL", klass)].append(r)
        if klass != "ALL" and tab in ("alone", "total"):
            families[(ind, period, partner, tab, race, "ALL")].append(r)
    for total, members in families.items():
        if total in got and not got[total]["suppressed"]:
            assert sum(m["suppressed"] for m in members) != 1, total
    for key, r in got.items():
        if key[0] == "visits_agg" and key[2] == "ALL":
            assert got[(key[0], key[1], "coalition", *key[3:])]["suppressed"] == r["suppressed"]


def _published_model(cells: dict) -> dict:
    return {k: v for k, v in cells.items() if not (
        k[0] == "ready_sy" and (k[5] != "ALL" and k[4] != "ALL"))}


def test_night1_every_published_cell_is_the_models(juniper):
    ws, out = juniper
    assert {n: (f["status"], f["rows_loaded"], f["rows_quarantined"])
            for n, f in out["files1"].items()} == {
        "clinic 2024.csv": ("loaded", 170, 0), "k_ready.csv": ("loaded", 110, 0),
        "housing.csv": ("loaded", 94, 0), "counts.csv": ("loaded", 23, 0)}
    clinic, schools, housing = J.clinic_rows(), J.school_rows(), J.housing_rows()
    expected = expected_cells(records(ws, clinic, schools, housing),
                              {("visits_agg", "coalition"): J.COALITION})
    # hand-checked: 2016's household of 9 is classed by 2015's kept amount (45050), exactly
    # 100% of it is 100-199%; a dollar under is below 100%; 400% of Alaska 2024 for 12 is 400%+
    housed = lambda period, klass: expected[("housed_q", period, "housing", "total", "ALL", klass)]
    assert housed("2016Q2", "100-199% FPG") == (1, 1)
    assert housed("2016Q2", "Below 100% FPG") == (1, 1)
    assert housed("2015Q3", "200-399% FPG") == (0, 1)
    assert housed("2016Q3", "Below 100% FPG") == (1, 2) and ("housed_q", "2016Q3", "housing",
                                                              "total", "ALL", "100-199% FPG") \
        not in expected
    assert housed("2025Q1", "100-199% FPG") == (1, 1) and housed("2026Q1", "100-199% FPG") == (0, 1)
    assert_published_as_modelled(out["results1"], _published_model(expected))


def test_night2_hostile_files_are_answered_and_cells_are_the_models(juniper):
    ws, out = juniper
    files = out["files2"]
    assert {n: (f["status"], f["rows_loaded"], f["rows_quarantined"]) for n, f in files.items()
            } == {"clinic_2024-10.csv": ("loaded", 20, 4), "clinic_2024-09.csv": ("loaded", 10, 0),
                  "k_ready_2023-24_corrected.csv": ("loaded", 65, 2),
                  "roster.csv": ("rejected", 0, 0), N.HOSTILE_NAME: ("loaded", 9, 1),
                  "housing (copy).csv": ("duplicate", 0, 0),
                  "counts_2024-25.csv": ("loaded", 6, 0)}
    assert files["k_ready_2023-24_corrected.csv"]["reasons"] == "2023-24: 70 -> 65 rows (replaced)"
    assert files["counts_2024-25.csv"]["reasons"] == "visits_agg 2024-25: 9 -> 6 cells (replaced)"
    assert files[N.HOSTILE_NAME]["reasons"] == "2024Q3: 0 -> 9 rows (added)"
    assert "row 1" in files["roster.csv"]["reasons"] and "'School Year'" in files["roster.csv"][
        "reasons"]
    for name, f in files.items():
        assert Path(f["report"]).is_file(), name
    clinic, schools, housing, coalition = _data_after_night2()
    expected = expected_cells(records(ws, clinic, schools, housing),
                              {("visits_agg", "coalition"): coalition})
    # 007 and 7 are two children; the repeated event is one child in October
    october = expected[("immunized_m", "2024-10", "clinic", "total", "ALL", "ALL")]
    assert october == (15, 18)
    # K230 has an income but no household size: counted, not under 200%, class Not reported
    assert expected[("low_income_q", "2024Q4", "clinic", "total", "ALL", "Not reported")] == (0, 1)
    assert_published_as_modelled(out["results2"], _published_model(expected))
    # Partner rows no file of night 2 touched are exactly as they were.
    touched = {("clinic", "2024-09"), ("clinic", "2024-10"), ("clinic", "2024Q3"),
               ("clinic", "2024Q4"), ("clinic", "2024-25"), ("schools", "2023-24"),
               ("housing", "2024Q3"), ("coalition", "2024-25")}
    before = {k: v for k, v in out["cells1"].items() if k[2] != "ALL"}
    moved = {k: (v, out["cells2"].get(k)) for k, v in before.items()
             if (k[2], k[1]) not in touched and out["cells2"].get(k) != v}
    assert before and not moved, sorted(moved.items())[:5]


def test_bad_cells_are_reported_at_their_row_with_the_partners_header_and_value(juniper):
    import csv

    ws, out = juniper
    october = out["files2"]["clinic_2024-10.csv"]
    bad = Path(october["report"].replace(".report.md", ".bad_rows.csv"))
    with bad.open(encoding="utf-8-sig", newline="") as handle:
        cells = {int(r["row"]): (r["column"], r["problem"], r["value"])
                 for r in csv.DictReader(handle)}
    assert cells == {4: ("RAZA / ETNIA", "unknown_race_code", "<img src=x onerror=alert(1)>"),
                     9: ("RAZA / ETNIA", "unknown_race_code", "'=cmd|' /C calc'!A0"),
                     10: ("RAZA / ETNIA", "unknown_race_code", "[click](http://evil.example)"),
                     11: ("RAZA / ETNIA", "unknown_race_code", "WHT\nBLK\x1b[31m")}
    report = Path(october["report"]).read_text()
    assert "<img" not in report.replace("`<img src=x onerror=alert(1)>`", "")
    assert "\x1b" not in report and "Columns not in the shared template were ignored: `Notes`" \
        in report
    housing = Path(out["files2"][N.HOSTILE_NAME]["report"]).read_text()
    assert housing.startswith("# \\<b\\>x\\<i\\> \\[y\\](javascript:alert(1)) =1+1 \\| pipe.csv")
    assert "| 6 | `Household Members` | wrong\\_type | `abc` |" in housing
    reason = Path(out["files2"]["roster.csv"]["report"]).read_text()
    assert reason.startswith("# roster.csv: NOT LOADED") and "'School Year'" in reason


def test_status_page_escapes_file_names_and_shows_the_partner_that_sent_nothing(juniper):
    import re

    ws, out = juniper
    page = (ws.published(J.INITIATIVE) / "partnership" / "status.html").read_text()
    assert "<b>x" not in page and "&lt;b&gt;x&lt;i&gt; [y](javascript:alert(1))" in page
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "4 late, 9 missing (overdue), 2 not yet due, 1 partly quarantined" in text
    assert re.search(r"Juniper Head Start.*2023-24 school_year \(ready\), due in 30 days "
                     r"2024-08-30 missing \(overdue\)", text)


def test_disparities_compare_only_the_named_dimension_against_its_reference(juniper):
    ws, out = juniper
    rows = J.published(ws, "disparities.parquet")
    assert rows and {(r["dimension"], r["reference_group"]) for r in rows} == {
        ("race", J.REFERENCE_RACE)}
    # From the published race-alone cells: every shown group but the reference and Not
    # reported, against a shown reference; index of disparity = mean |gap| / reference, in %.
    groups: dict[tuple, dict] = defaultdict(dict)
    for r in out["results2"]:
        if not r["suppressed"] and r["race_tabulation"] == "alone" and r["class"] == "ALL":
            groups[(r["indicator_id"], r["period"], r["partner_id"])][r["race"]] = r["value"]
    expected = {}
    for key, shown in groups.items():
        others = {g: v for g, v in shown.items() if g not in (J.REFERENCE_RACE, J.NOT_REPORTED)}
        if J.REFERENCE_RACE not in shown or not others:
            continue
        ref = shown[J.REFERENCE_RACE]
        # Relative to the reference's adverse rate (Keppel & Pearcy 2005).
        favorable = "direction: higher_is_better" in J.INDICATORS[f"{key[0]}.yaml"]
        adverse = 1 - ref if favorable else ref
        index = sum(abs(v - ref) for v in others.values()) / len(others) / adverse * 100 \
            if adverse else None
        for group, value in others.items():
            expected[(*key, group)] = (ref, value, value / ref if ref else None, value - ref,
                                       index, len(others))
    got = {(d["indicator_id"], d["period"], d["partner_id"], d["group_label"]): (
        d["reference_rate"], d["group_rate"], d["rate_ratio"], d["rate_difference"],
        d["index_of_disparity"], d["groups_compared"]) for d in rows}
    assert set(got) == set(expected)
    for key, values in expected.items():
        assert got[key] == pytest.approx(values), key


def test_manifest_names_each_guideline_year_and_night3_changes_nothing(juniper):
    ws, out = juniper
    manifest = json.loads((ws.published(J.INITIATIVE) / "partnership" / "manifest.json")
                          .read_text())
    assert [(y["period"], y["guideline_year"]) for y in manifest["poverty_guideline_years"]] == [
        (str(y), y) for y in (2015, 2016, 2023, 2024, 2025, 2026)]
    assert out["files3"] == {} and out["version_stands"]
    assert J.published(ws) == out["results2"]
    # Nothing is deleted: every row any file loaded is still in records / aggregate_counts, and
    # the rejected file sits beside its reason.
    import duckdb

    loaded = sum(f["rows_loaded"] for night in ("files1", "files2") for f in out[night].values())
    con = duckdb.connect(str(ws.warehouse_file), read_only=True)
    try:
        kept = sum(con.execute(f"SELECT count(*) FROM {J.INITIATIVE}.{table}").fetchone()[0]
                   for table in ("records", "aggregate_counts"))
    finally:
        con.close()
    assert kept == loaded
    rejected = ws.rejected(J.INITIATIVE, "schools")
    assert [p.name.endswith("roster.csv.reason.md") for p in sorted(rejected.iterdir())] == [
        False, True]


def _derivable(rows: list[dict]) -> list[tuple]:
    """Hidden cells whose count is fixed by the shown ones through the additive relations of
    one table (race alone and classes sum to their totals, race x class to both margins),
    absent cells read as 0: a linear-algebra attack, independent of the suppressor's LP."""
    import numpy as np

    tables: dict[tuple, dict] = defaultdict(dict)
    for r in rows:
        if r["race_tabulation"] != "alone_or_in_combination":
            tables[(r["indicator_id"], r["period"], r["partner_id"])][(r["race"], r["class"])] = r
    found = []
    for key, cells in tables.items():
        races = {race for race, _ in cells if race != "ALL"}
        classes = {klass for _, klass in cells if klass != "ALL"}
        relations = [[("ALL", "ALL"), *[(r, "ALL") for r in races]],
                     [("ALL", "ALL"), *[("ALL", c) for c in classes]]]
        if any(r != "ALL" and c != "ALL" for r, c in cells):
            relations += [[(r, "ALL"), *[(r, c) for c in classes]] for r in races]
            relations += [[("ALL", c), *[(r, c) for r in races]] for c in classes]
        hidden = sorted(k for k, r in cells.items() if r["suppressed"])
        if not hidden:
            continue
        for measure in ("numerator", "denominator"):
            matrix, rhs = [], []
            for parent, *children in relations:
                row = [0.0] * len(hidden)
                known = 0.0
                for sign, cell in [(-1, parent)] + [(1, c) for c in children]:
                    if cell in hidden:
                        row[hidden.index(cell)] += sign
                    elif cell in cells:
                        known += sign * cells[cell][measure]
                if any(row):
                    matrix.append(row)
                    rhs.append(-known)
            if not matrix:
                continue
            a = np.array(matrix)
            rank = np.linalg.matrix_rank(a)
            for j, cell in enumerate(hidden):
                unit = np.zeros(len(hidden))
                unit[j] = 1
                if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
                    found.append((*key, *cell, measure))
    return found


def test_no_hidden_count_follows_from_the_shown_ones(juniper):
    ws, out = juniper
    assert _derivable(out["results1"]) == []
    assert _derivable(out["results2"]) == []
    assert _derivable(J.published(ws, audience="partnership")) == []


def test_check_answers_the_hostile_file_like_the_night_and_escapes_its_values(juniper, tmp_path):
    import subprocess
    import sys

    ws, out = juniper
    path = tmp_path / "clinic_2024-10.csv"
    path.write_bytes(N.clinic_october_bytes())
    done = subprocess.run([str(Path(sys.executable).with_name("backbone")), "check", str(path),
                           "--partner", "clinic", "--home", str(ws.root)],
                          capture_output=True, text=True, timeout=120)
    text = " ".join(done.stdout.split())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 of 24 rows would load (read as Windows-1252 text" in text
    assert "2024-10 (dated rows, 18 days): 20 rows" in text
    assert "4 rows would be set aside" in text
    for row in (4, 9, 10, 11):
        assert f"row {row}, column 'RAZA / ETNIA': [unknown_race_code]" in text
    assert '(value as written: "WHT\\nBLK\\u001b[31m")' in text and "\x1b" not in done.stdout
