"""Acceptance (issues 10 and 11): a new initiative, unlike the sample, run as a data lead would.

"Lakeside" has its own intake template (its own column names), two partners with their own
crosswalks (local race codes, `;` cp1252 and BOM files), suppression threshold 2, a restricted
indicator saved as `.yml` (race only), and its own workspace standards: a 2014 guideline year the
install does not ship. The published numbers are checked against a reference model written here
from the rules in the README (one profile per person and period: union of races across
partners, lowest class, income-based before proxy), not against the pipeline's own SQL. Then a
night of hostile files, each answered, and a quiet second night.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from markdown_it import MarkdownIt

from pipelines.config import REPO_ROOT, Workspace

INITIATIVE = "lakeside"
THRESHOLD = 2
RACE_LABELS = {"aian": "American Indian or Alaska Native", "asian": "Asian",
               "black": "Black or African American", "hispanic": "Hispanic or Latino",
               "mena": "Middle Eastern or North African",
               "nhpi": "Native Hawaiian or Pacific Islander", "white": "White"}
MULTI, NOT_REPORTED = "Multiracial and/or Multiethnic", "Not reported"
CLASSES = ["Below 100% FPG", "100-199% FPG", "200-399% FPG", "400%+ FPG", "Low income (proxy)",
           "Not low income (proxy)", "Not reported"]
YMCA_RACE = {"W": "white", "B": "black", "A": "asian", "L": "hispanic", "X": None}
HARBOR_RACE = {"1": "white", "2": "black", "3": "asian", "4": "hispanic", "9": None}
HARBOR_PROXY = {"F": "Low income (proxy)", "P": "Not low income (proxy)"}
# The official 2014 notice (79 FR 3593): the install's table starts in 2015.
GUIDELINES_2014 = ['2014,contiguous,11670,4060,"79 FR 3593, Jan 22 2014"',
                   '2014,alaska,14580,5080,"79 FR 3593, Jan 22 2014"',
                   '2014,hawaii,13420,4670,"79 FR 3593, Jan 22 2014"']

YMCA_HEADER = ["Member #", "Yr", "Race", "Income", "HH", "Enrolled", "Completed", "Placed", "Notes"]
HARBOR_HEADER = ["Student", "Year", "Ethnicity", "FRL", "Enrolled", "Completed", "Placed"]

# 2014, small enough to check by hand. P05 earns 11,700 alone: 100-199% of the 2014 guideline
# (11,670) but below 100% of 2015's (11,770), so its class shows which table was used.
YMCA_2014 = [
    ["P01", "2014", "W", "50000", "2", "1", "Y", "1", "José"],
    ["P02", "2014", "W", "80000", "2", "1", "Y", "1", ""],
    ["P03", "2014", "W", "90000", "1", "1", "Y", "0", ""],
    ["P04", "2014", "B", "10000", "3", "1", "N", "", ""],
    ["P05", "2014", "B", "11700", "1", "1", "Y", "1", '=HYPERLINK("http://x")'],
    ["P06", "2014", "A", "20000", "4", "1", "Y", "0", ""],
    ["P07", "2014", "W/A", "", "", "1", "Y", "1", ""],
    ["P08", "2014", "L", "40000", "3", "1", "N", "", ""],
]
HARBOR_2014 = [  # P07 and P01 are also YMCA members: each counts once, with one profile
    ["P07", "2014", "3", "F", "1", "1", "1"],
    ["P01", "2014", "1", "P", "1", "0", ""],
    ["H01", "2014", "2", "F", "1", "1", "1"],
    ["H02", "2014", "2;4", "F", "1", "1", "0"],
    ["H03", "2014", "9", "P", "1", "0", ""],
    ["H04", "2014", "1", "P", "1", "1", "1"],
    ["H05", "2014", "1", "", "0", "", ""],
]


def _ymca_2015() -> list[list[str]]:
    races, incomes = ["W", "B", "A", "L", "W/B", "X", "W", "B"], ["9000", "15000", "30000",
                                                                "60000", "150000", ""]
    rows = []
    for i in range(160):
        completed = "N" if i % 3 == 0 else "Y"
        placed = ("1" if i % 2 == 0 else "0") if completed == "Y" else ""
        rows.append([f"G{i}", "2015", races[i % 8], incomes[(i * 7) % 6], str(1 + i % 4),
                     "0" if i % 10 == 9 else "1", completed, placed, ""])
    return rows


def _harbor_2015() -> list[list[str]]:
    races, proxies = ["1", "2", "3", "4", "9", "1;3", "1", "2"], ["F", "P", ""]
    rows = []
    for j in range(80, 260):  # G80..G159 are also YMCA members
        completed = "0" if j % 4 == 0 else "1"
        placed = ("1" if j % 5 else "0") if completed == "1" else ""
        rows.append([f"G{j}", "2015", races[j % 8], proxies[j % 3],
                     "0" if j % 7 == 0 else "1", completed, placed])
    return rows


def _csv(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows([header, *rows])
    return out.getvalue()


def _build(root: Path) -> Workspace:
    workspace = Workspace(root)
    shutil.copytree(REPO_ROOT / "schemas" / "equity", workspace.path("schemas", "equity"))
    guidelines = workspace.path("schemas", "equity", "poverty_guidelines.csv")
    header, *rest = guidelines.read_text().splitlines()
    guidelines.write_text("\n".join([header, *GUIDELINES_2014, *rest]) + "\n")
    intake = workspace.path("schemas", "intake")
    intake.mkdir(parents=True)
    (intake / "youth_v1.yaml").write_text("""
id: youth_v1
title: Youth programme outcomes
grain: one row per youth per programme year
unique: [youth_id, program_year]
columns:
  - {name: youth_id, role: person_id, required: true}
  - {name: program_year, role: period, type: integer, required: true, min: 2010, max_is_current_year: true}
  - {name: race, role: race_codes}
  - {name: income, role: household_income, type: number, min: 0}
  - {name: hh, role: household_size, type: integer, min: 1, max: 30}
  - {name: lunch, role: class_proxy}
  - {name: enrolled, role: measure, type: integer, allowed: [0, 1]}
  - {name: completed, role: measure, type: integer, allowed: [0, 1]}
  - {name: placed, role: measure, type: integer, allowed: [0, 1]}
""")
    crosswalks = workspace.path("schemas", "crosswalks", INITIATIVE)
    crosswalks.mkdir(parents=True)
    (crosswalks / "ymca.yaml").write_text("""
header_aliases: {"Member #": youth_id, "Yr": program_year, "Race": race, "Income": income,
                 "HH": hh, "Enrolled": enrolled, "Completed": completed, "Placed": placed}
race_separator: "/"
race_codes: {W: white, B: black, A: asian, L: hispanic, X: not_reported}
values:
  completed: {"Y": 1, "N": 0}
""")
    (crosswalks / "harbor.yaml").write_text("""
header_aliases: {"Student": youth_id, "Year": program_year, "Ethnicity": race, "FRL": lunch}
race_separator: ";"
race_codes: {"1": white, "2": black, "3": asian, "4": hispanic, "9": not_reported}
class_proxy: {F: "Low income (proxy)", P: "Not low income (proxy)"}
""")
    indicators = workspace.path("indicators", INITIATIVE)
    indicators.mkdir(parents=True)
    (indicators / "initiative.yaml").write_text(f"""
id: {INITIATIVE}
name: "Lakeside Youth <b>Futures</b> | Initiative"
state: MN
record_schema: youth_v1
suppression: {{threshold: {THRESHOLD}}}
partners:
  ymca: {{name: Lakeside YMCA, crosswalk: ymca.yaml}}
  harbor: {{name: Harbor Schools, crosswalk: harbor.yaml}}
""")
    (indicators / "summer_completion.yaml").write_text("""
id: summer_completion
title: Youth completing the summer programme
direction: higher_is_better
denominator: [{column: enrolled, op: "=", value: 1}]
numerator: [{column: completed, op: "=", value: 1}]
""")
    # Saved as .yml, and restricted: race only, no partner or class breakdowns anywhere.
    (indicators / "job_placement.yml").write_text("""
id: job_placement
title: Completers placed in a summer job
direction: higher_is_better
disaggregations: [race]
denominator: [{column: completed, op: "=", value: 1}]
numerator: [{column: placed, op: "=", value: 1}]
""")
    for partner in ("ymca", "harbor"):
        (workspace.intake / INITIATIVE / partner).mkdir(parents=True)
    return workspace


def _drop(workspace: Workspace, partner: str, name: str | bytes, data: bytes) -> Path:
    folder = os.fsencode(workspace.intake / INITIATIVE / partner)
    path = Path(os.fsdecode(os.path.join(folder, os.fsencode(name))))
    path.write_bytes(data)
    return path


# --- the reference model --------------------------------------------------------------------

def _guidelines(workspace: Workspace) -> dict[int, tuple[int, int]]:
    with workspace.path("schemas", "equity", "poverty_guidelines.csv").open() as handle:
        return {int(r["year"]): (int(r["first_person"]), int(r["each_additional"]))
                for r in csv.DictReader(handle) if r["region"] == "contiguous"}


def _class_rank(guidelines, period: int, income: str, size: str, proxy: str | None) -> int:
    if income and size:
        first, extra = guidelines[max(y for y in guidelines if y <= period)]
        ratio = float(income) / (first + extra * (int(size) - 1))
        return 0 if ratio < 1 else 1 if ratio < 2 else 2 if ratio < 4 else 3
    if proxy:
        return CLASSES.index(proxy)
    return CLASSES.index("Not reported")


def _records(workspace: Workspace, ymca: list[list[str]], harbor: list[list[str]]) -> list[dict]:
    guidelines = _guidelines(workspace)
    records = []
    for pid, period, race, income, size, enrolled, completed, placed, _ in ymca:
        records.append({"partner": "ymca", "person": pid, "period": int(period),
                        "races": {YMCA_RACE[c] for c in race.split("/") if YMCA_RACE[c]},
                        "rank": _class_rank(guidelines, int(period), income, size, None),
                        "enrolled": enrolled == "1", "completed": completed == "Y",
                        "placed": placed == "1"})
    for pid, period, race, proxy, enrolled, completed, placed in harbor:
        records.append({"partner": "harbor", "person": pid, "period": int(period),
                        "races": {HARBOR_RACE[c] for c in race.split(";") if HARBOR_RACE[c]},
                        "rank": _class_rank(guidelines, int(period), "", "", HARBOR_PROXY.get(proxy)),
                        "enrolled": enrolled == "1", "completed": completed in ("1", "Y"),
                        "placed": placed == "1"})
    return records


def _expected_all_partner_cells(records: list[dict]) -> dict[tuple, tuple[int, int]]:
    """(indicator, period, race alone, class) -> (numerator, denominator), partner 'ALL'."""
    people: dict[tuple, dict] = {}
    for r in records:
        p = people.setdefault((r["person"], r["period"]), {"races": set(), "rank": 99,
                                                           "sc": [False, False], "jp": [False, False]})
        p["races"] |= r["races"]
        p["rank"] = min(p["rank"], r["rank"])
        # In an indicator (and its numerator) when any of the person's records is.
        p["sc"][0] |= r["enrolled"]
        p["sc"][1] |= r["enrolled"] and r["completed"]
        p["jp"][0] |= r["completed"]
        p["jp"][1] |= r["completed"] and r["placed"]
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for (_, period), p in people.items():
        races = sorted(p["races"])
        race = NOT_REPORTED if not races else MULTI if len(races) > 1 else RACE_LABELS[races[0]]
        for indicator, (den, num) in (("summer_completion", p["sc"]), ("job_placement", p["jp"])):
            if den:
                for key in ((indicator, str(period), race, CLASSES[p["rank"]]),
                            (indicator, str(period), race, "ALL"),
                            (indicator, str(period), "ALL", CLASSES[p["rank"]]),
                            (indicator, str(period), "ALL", "ALL")):
                    cells[key][0] += num
                    cells[key][1] += 1
    return {k: tuple(v) for k, v in cells.items()}


def _measured_all_partner_cells(workspace: Workspace) -> dict[tuple, tuple[int, int]]:
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        rows = con.execute(f"""
            SELECT indicator_id, period, race, class, numerator, denominator
            FROM {INITIATIVE}.indicator_cells
            WHERE partner_id = 'ALL' AND race_tabulation IN ('alone', 'total')""").fetchall()
    finally:
        con.close()
    return {tuple(r[:4]): (r[4], r[5]) for r in rows}


def _published(folder: Path, name: str) -> list[dict]:
    return pq.read_table(folder / name).to_pylist()


def _assert_publishes_only_what_definitions_allow(folder: Path, audience: str) -> None:
    results = _published(folder, "indicator_results.parquet")
    disparities = _published(folder, "disparities.parquet")
    placement = [r for r in results if r["indicator_id"] == "job_placement"]
    assert placement and all(r["partner_id"] == "ALL" and r["class"] == "ALL" for r in placement)
    assert {r["race_tabulation"] for r in placement} == {"total", "alone", "alone_or_in_combination"}
    assert all(d["dimension"] == "race" and d["partner_id"] == "ALL"
               for d in disparities if d["indicator_id"] == "job_placement")
    completion = [r for r in results if r["indicator_id"] == "summer_completion"]
    if audience == "partnership":
        assert {r["partner_id"] for r in completion} == {"ALL", "ymca", "harbor"}
    else:
        assert {r["partner_id"] for r in results} | {d["partner_id"] for d in disparities} == {"ALL"}
    # Nothing shown counts 1..threshold people, with or without the result.
    for r in results:
        if not r["suppressed"]:
            den, num = r["denominator"], r["numerator"]
            assert not any(0 < n <= THRESHOLD for n in (den, num, den - num)), r
        else:
            assert r["numerator"] is None and r["denominator"] is None and r["value"] is None
    shown = {(r["indicator_id"], r["period"], r["partner_id"], r["race"], r["class"])
             for r in results if not r["suppressed"] and r["race_tabulation"] != "alone_or_in_combination"}
    # A gap is published only between groups both published.
    for d in disparities:
        for group in (d["group_label"], d["reference_group"]):
            key = ((d["indicator_id"], d["period"], d["partner_id"], group, "ALL")
                   if d["dimension"] == "race" else
                   (d["indicator_id"], d["period"], d["partner_id"], "ALL", group))
            assert key in shown, d


@pytest.fixture
def lakeside(tmp_path: Path) -> Workspace:
    workspace = _build(tmp_path / "home")
    _drop(workspace, "ymca", "YMCA 2014.csv", _csv(YMCA_HEADER, YMCA_2014, ";").encode("cp1252"))
    _drop(workspace, "ymca", "YMCA 2015.csv", _csv(YMCA_HEADER, _ymca_2015(), ";").encode("cp1252"))
    _drop(workspace, "harbor", "harbor_2014.csv",
          b"\xef\xbb\xbf" + _csv(HARBOR_HEADER, HARBOR_2014).encode())
    _drop(workspace, "harbor", "harbor_2015.csv", _csv(HARBOR_HEADER, _harbor_2015()).encode())
    return workspace


def _by_file(summary: dict) -> dict[str, dict]:
    return {f["file_name"]: f for f in summary["files"]}


def test_new_initiative_publishes_what_its_definitions_allow_and_answers_hostile_files(
        lakeside, prefect_harness, tmp_path):
    from pipelines.flows import nightly
    from pipelines.release import release

    workspace = lakeside
    # The install's table starts in 2015, so 2014 incomes are classed only with this
    # workspace's own table; the definitions load from the workspace alone.
    config = workspace.load(INITIATIVE)
    assert config.standards.first_guideline_year == 2014
    assert {i.id for i in config.indicators} == {"summer_completion", "job_placement"}

    [summary] = nightly(home=str(workspace.root), initiative=INITIATIVE)
    files = _by_file(summary)
    assert {n: (f["status"], f["rows_loaded"], f["rows_quarantined"]) for n, f in files.items()} == {
        "YMCA 2014.csv": ("loaded", 8, 0), "YMCA 2015.csv": ("loaded", 160, 0),
        "harbor_2014.csv": ("loaded", 7, 0), "harbor_2015.csv": ("loaded", 180, 0)}

    # Every all-partner cell equals the reference model: unduplicated people, one race (the
    # union across partners) and one class (the lowest, income before proxy) per person-period.
    ymca, harbor = YMCA_2014 + _ymca_2015(), HARBOR_2014 + _harbor_2015()
    expected = _expected_all_partner_cells(_records(workspace, ymca, harbor))
    measured = {k: v for k, v in _measured_all_partner_cells(workspace).items() if v[1] > 0}
    assert measured == expected
    # The 2014 cells by hand: 12 enrolled (P01 and P07 once each), 9 completed; P07 is White at
    # the YMCA and Asian at Harbor, so Multiracial, and low income by Harbor's proxy; P05 is
    # 100-199% FPG by the workspace's 2014 guideline.
    assert expected[("summer_completion", "2014", "ALL", "ALL")] == (9, 12)
    assert expected[("summer_completion", "2014", MULTI, "Low income (proxy)")] == (2, 2)
    assert expected[("summer_completion", "2014", "ALL", "100-199% FPG")] == (1, 1)
    assert expected[("job_placement", "2014", "ALL", "ALL")] == (6, 9)

    partnership = workspace.published(INITIATIVE) / "partnership"
    manifest = json.loads((partnership / "manifest.json").read_text())
    assert {(y["period"], y["guideline_year"]) for y in manifest["poverty_guideline_years"]} == {
        ("2014", 2014), ("2015", 2015)}
    assert {s["file_name"] for s in manifest["source_files"]} == set(files)
    _assert_publishes_only_what_definitions_allow(partnership, "partnership")
    disparities = _published(partnership, "disparities.parquet")
    assert {d["dimension"] for d in disparities if d["indicator_id"] == "summer_completion"} == {
        "race", "class"}, "the restriction check above would be vacuous"
    assert any(d["indicator_id"] == "job_placement" for d in disparities)

    released = release(workspace, workspace.load(INITIATIVE))
    assert released.release_id
    _assert_publishes_only_what_definitions_allow(released.folder, "public")

    # --- night 2: hostile and careless files ----------------------------------------------
    late = [["P04", "2014", "B", "10000", "3", "1", "Y", "1", "entered late"],
            ["G9000", "2015", "W", "52000", "2", "1", "Y", "1", "Renée"]]
    _drop(workspace, "ymca", "YMCA 2015 update.csv", _csv(YMCA_HEADER, late, ";").encode("cp1252"))
    campus = lambda ids: _csv(HARBOR_HEADER, [[i, "2016", "1", "F", "1", "1", "1"] for i in ids])
    # Split by campus, the same night; the two names clean up to the same safe name.
    _drop(workspace, "harbor", "harbor 2016 north.csv", campus(["N1", "N2", "N3"]).encode())
    _drop(workspace, "harbor", "harbor_2016_north.csv", campus(["S1", "S2", "S3"]).encode())
    _drop(workspace, "harbor", b"caf\xe9 2016.csv", campus(["C1"]).encode())
    hostile_name = "odd\n| forged | row |<img src=x onerror=alert(1)>.csv"
    _drop(workspace, "harbor", hostile_name, (
        " STUDENT ,year,ETHNICITY,frl,Enrolled,Completed,Placed\n"
        "Q1,2016,7,F,1,1,1\n"
        "Q2,2016,=2+5,F,1,1,1\n"
        "Q3,2016,1,<img src=x onerror=alert(1)>,1,1,1\n"
        "Q4,99999999999,1,F,1,1,1\n"
        "Q5,2016,[click](javascript:alert(1)),F,1,1,1\n"
        + "".join(f"Q{i},2016,2,F,1,1,1\n" for i in range(6, 12))).encode())
    (workspace.intake / INITIATIVE / "loose.csv").write_text("Student,Year\nL1,2016\n")
    (workspace.intake / INITIATIVE / "harbor schools").mkdir()
    (workspace.intake / INITIATIVE / "harbor schools" / "hs.csv").write_text(campus(["U1"]))
    outside = tmp_path / "outside.csv"
    outside.write_text(campus(["O1"]))
    os.link(outside, workspace.intake / INITIATIVE / "harbor" / "hardlink.csv")
    (workspace.intake / INITIATIVE / "harbor" / "symlink.csv").symlink_to(outside)
    shutil.copy(workspace.path("data", "archive", INITIATIVE, "harbor",
                               next(p.name for p in workspace.archive(INITIATIVE, "harbor").iterdir()
                                    if p.name.endswith("harbor_2014.csv"))),
                workspace.intake / INITIATIVE / "harbor" / "harbor_2014 again.csv")

    [summary] = nightly(home=str(workspace.root), initiative=INITIATIVE)
    files = _by_file(summary)
    status = {n: (f["partner_id"], f["status"]) for n, f in files.items()}
    assert status["YMCA 2015 update.csv"] == ("ymca", "loaded")
    assert status["harbor 2016 north.csv"] == status["harbor_2016_north.csv"] == ("harbor", "loaded")
    assert status["café 2016.csv"] == ("harbor", "loaded")
    assert status[hostile_name] == ("harbor", "loaded")
    assert files[hostile_name]["rows_loaded"] == 6 and files[hostile_name]["rows_quarantined"] == 5
    assert status["harbor_2014 again.csv"] == ("harbor", "duplicate")
    assert status["hardlink.csv"] == ("harbor", "rejected")
    assert status["symlink.csv"] == ("harbor", "rejected")
    assert status["loose.csv"][1] == status["hs.csv"][1] == "rejected"
    assert not any(p.name.startswith("hs") for p in workspace.rejected(INITIATIVE, "harbor").iterdir())
    assert not any(workspace.intake.rglob("*.csv")), "every file is answered and leaves intake"
    assert outside.read_text() == campus(["O1"])
    # A late row updates one person; the split campus files both count.
    assert "2014: 8 -> 8 rows (updated)" in files["YMCA 2015 update.csv"]["reasons"]
    assert "2016: 0 -> 13 rows (added)" in files["harbor 2016 north.csv"]["reasons"]
    report = Path(files[hostile_name]["report"]).read_text()
    rendered = MarkdownIt("commonmark").enable("table").render(report)  # as a portal or a Git host shows it
    assert "<img" not in rendered and "href=\"javascript" not in rendered
    assert rendered.count("<tr>") == 1 + 5  # header and the five bad rows: no forged row
    assert "`ETHNICITY`" in report and "`frl`" in report and "`year`" in report
    bad_rows = Path(files[hostile_name]["report"].replace(".report.md", ".bad_rows.csv")).read_text()
    assert "'=2+5" in bad_rows and ",=2+5" not in bad_rows

    measured = _measured_all_partner_cells(workspace)
    assert measured[("summer_completion", "2014", "ALL", "ALL")] == (10, 12)  # P04 completed
    assert measured[("summer_completion", "2016", "ALL", "ALL")] == (13, 13)
    _assert_publishes_only_what_definitions_allow(partnership, "partnership")

    # --- night 3: nothing new: green, and the published version stands ----------------------
    before = (partnership / "manifest.json").read_text()
    [summary] = nightly(home=str(workspace.root), initiative=INITIATIVE)
    assert summary["files"] == [] and not summary.get("error") and not summary.get("failed")
    assert (partnership / "manifest.json").read_text() == before


def test_a_workspace_that_renames_groups_publishes_the_same_numbers_under_its_labels(
        tmp_path, prefect_harness):
    """Race and class labels are the workspace's: renamed, the same data suppresses the same
    cells, and its own "not reported" groups are never compared in disparities."""
    from pipelines.flows import nightly

    renamed = {MULTI: "Two or more races", NOT_REPORTED: "Unknown race"}
    homes = {}
    for name in ("default", "renamed"):
        workspace = _build(tmp_path / name)
        _drop(workspace, "ymca", "YMCA 2015.csv", _csv(YMCA_HEADER, _ymca_2015(), ";").encode("cp1252"))
        _drop(workspace, "harbor", "harbor_2015.csv", _csv(HARBOR_HEADER, _harbor_2015()).encode())
        homes[name] = workspace
    race = homes["renamed"].path("schemas", "equity", "race_spd15.yaml")
    race.write_text(race.read_text()
                    .replace(f"multiracial_label: {MULTI}", f"multiracial_label: {renamed[MULTI]}")
                    .replace(f"not_reported_label: {NOT_REPORTED}",
                             f"not_reported_label: {renamed[NOT_REPORTED]}"))
    bands = homes["renamed"].path("schemas", "equity", "class_bands.yaml")
    bands.write_text(bands.read_text().replace("not_reported_label: Not reported",
                                               "not_reported_label: Income unknown"))
    published = {}
    for name, workspace in homes.items():
        nightly(home=str(workspace.root), initiative=INITIATIVE)
        published[name] = workspace.published(INITIATIVE) / "partnership"

    def cells(workspace: Workspace, races: dict, classes: dict) -> list[tuple]:
        con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
        try:
            rows = con.execute(f"""
                SELECT indicator_id, partner_id, race_tabulation, race, class, numerator,
                       denominator, coalesce(suppression_reason = 'primary', false)
                FROM {INITIATIVE}.indicator_cells""").fetchall()
        finally:
            con.close()
        return sorted((*r[:3], races.get(r[3], r[3]), classes.get(r[4], r[4]), *r[5:])
                      for r in rows)

    # The same people in the same groups, and the same small cells hidden; which complements
    # are chosen may differ, since ties between equal candidates break in label order.
    default = cells(homes["default"], renamed, {NOT_REPORTED: "Income unknown"})
    assert any(c[3] == renamed[MULTI] for c in default)
    assert cells(homes["renamed"], {}, {}) == default
    _assert_publishes_only_what_definitions_allow(published["renamed"], "partnership")
    groups = {d["group_label"] for d in _published(published["renamed"], "disparities.parquet")}
    assert groups and not groups & {renamed[NOT_REPORTED], "Income unknown", NOT_REPORTED}
    shown = {(r["race"], r["class"]) for r in _published(published["renamed"],
                                                         "indicator_results.parquet")
             if not r["suppressed"] and r["partner_id"] == "ALL"}
    assert (renamed[NOT_REPORTED], "ALL") in shown, "the exclusion above would be vacuous"
