"""Audit (session 6) scenario: "Cedar", a new initiative unlike the sample (its own template,
an October fiscal year, dated visits, fiscal-year and quarter labels, local race codes, class at
band edges, two aggregate partners). Shared by the tests/test_audit6_*.py files; no tests here.
See tests/test_audit6_cedar.py for what is checked and tests/test_audit6_model.py for the
reference model written from the README."""

from __future__ import annotations

import csv
import io
import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipelines.config import REPO_ROOT, Workspace

INITIATIVE = "cedar"
THRESHOLD = 3
STATE = "OR"
RACE_LABELS = {"aian": "American Indian or Alaska Native", "asian": "Asian",
               "black": "Black or African American", "hispanic": "Hispanic or Latino",
               "mena": "Middle Eastern or North African",
               "nhpi": "Native Hawaiian or Pacific Islander", "white": "White"}
MULTI, NOT_REPORTED = "Multiracial and/or Multiethnic", "Not reported"
BANDS = ["Below 100% FPG", "100-199% FPG", "200-399% FPG", "400%+ FPG"]
CLASSES = BANDS + ["Low income (proxy)", "Not low income (proxy)", NOT_REPORTED]

CLINIC_RACE = {"W": ("white",), "B": ("black",), "A": ("asian",), "H": ("hispanic",),
               "N": ("aian",), "AH": ("asian", "hispanic"), "MX": "multi", "DK": None,
               "REF": None}
SCHOOL_RACE = {"1": ("white",), "2": ("black",), "3": ("asian",), "4": ("hispanic",),
               "5": ("nhpi",), "6": ("mena",), "9": None}
SCHOOL_PROXY = {"F": "Low income (proxy)", "R": "Low income (proxy)",
                "P": "Not low income (proxy)"}

TEMPLATE = """
id: family_v1
title: Family services (audit template)
grain: one row per person per period (or per visit)
unique: [client_id, served]
columns:
  - {name: client_id, role: person_id, required: true}
  - {name: served, role: period, type: period, required: true, min: 2015, max_is_current_year: true}
  - {name: race, role: race_codes}
  - {name: inc, role: household_income, type: number, min: 0}
  - {name: hhsize, role: household_size, type: integer, min: 1, max: 30}
  - {name: st, role: state, pattern: "[A-Z]{2}"}
  - {name: benefit, role: class_proxy}
  - {name: seen, role: measure, type: integer, allowed: [0, 1]}
  - {name: screened, role: measure, type: integer, allowed: [0, 1]}
  - {name: days_enrolled, role: measure, type: integer, min: 0}
  - {name: days_absent, role: measure, type: number, min: 0}
"""

CROSSWALKS = {
    "clinic.yaml": """
header_aliases: {"Patient": client_id, "Visit Date": served, "Race": race, "Income": inc,
                 "HH Size": hhsize, "State": st, "Seen": seen, "Screened": screened}
race_separator: "+"
race_codes: {W: white, B: black, A: asian, H: hispanic, N: aian, AH: [asian, hispanic],
             MX: multiracial_unspecified, DK: not_reported, REF: not_reported}
values:
  screened: {"Y": 1, "N": 0}
""",
    "school.yaml": """
header_aliases: {"Student": client_id, "School Year": served, "Ethnicity": race, "FRL": benefit,
                 "Days Enrolled": days_enrolled, "Days Absent": days_absent}
race_separator: ";"
race_codes: {"1": white, "2": black, "3": asian, "4": hispanic, "5": nhpi, "6": mena,
             "9": not_reported}
class_proxy: {F: "Low income (proxy)", R: "Low income (proxy)", P: "Not low income (proxy)"}
period:
  type: fiscal_year
""",
    "shelter.yaml": """
header_aliases: {"Guest": client_id, "Quarter": served, "Race": race, "Income": inc,
                 "HH Size": hhsize, "State": st, "Seen": seen, "Screened": screened}
race_separator: "+"
race_codes: {W: white, B: black, A: asian, H: hispanic, N: aian, AH: [asian, hispanic],
             MX: multiracial_unspecified, DK: not_reported, REF: not_reported}
""",
}

INDICATORS = {
    "screening_q.yaml": """
id: screening_q
title: Children screened in the quarter
direction: higher_is_better
period_type: quarter
denominator: [{column: seen, op: "=", value: 1}]
numerator: [{column: screened, op: "=", value: 1}]
""",
    "screening_m.yaml": """
id: screening_m
title: Children screened in the month
direction: higher_is_better
period_type: month
disaggregations: [race, class]
denominator: [{column: seen, op: "=", value: 1}]
numerator: [{column: screened, op: "=", value: 1}]
""",
    "attendance_fy.yaml": """
id: attendance_fy
title: Enrolled students not chronically absent
direction: higher_is_better
period_type: fiscal_year
denominator: [{column: days_enrolled, op: ">=", value: 90}]
numerator: [{column: days_absent, op: "<", value: 18}]
""",
    # A condition on `class`: the person's one class of the period (income before proxy), so
    # a student classed by a clinic visit's income is not "low income by proxy" (finding D1).
    "proxy_fy.yaml": """
id: proxy_fy
title: Enrolled students whose class is low income by proxy
direction: lower_is_better
period_type: fiscal_year
disaggregations: [class, partner]
denominator: [{column: days_enrolled, op: ">=", value: 0}]
numerator: [{column: class, op: "in", value: ["Low income (proxy)"]}]
""",
    "reach_low_income.yaml": """
id: reach_low_income
title: Children seen whose household is under 200% of the poverty guideline
direction: higher_is_better
disaggregations: [race, partner]
denominator: [{column: seen, op: "=", value: 1}]
numerator: [{column: poverty_ratio, op: "<", value: 2}]
""",
}


def build(root: Path) -> Workspace:
    workspace = Workspace(root)
    shutil.copytree(REPO_ROOT / "schemas" / "equity", workspace.path("schemas", "equity"))
    intake = workspace.path("schemas", "intake")
    intake.mkdir(parents=True)
    (intake / "family_v1.yaml").write_text(TEMPLATE)
    crosswalks = workspace.path("schemas", "crosswalks", INITIATIVE)
    crosswalks.mkdir(parents=True)
    for name, text in CROSSWALKS.items():
        (crosswalks / name).write_text(text)
    indicators = workspace.path("indicators", INITIATIVE)
    indicators.mkdir(parents=True)
    (indicators / "initiative.yaml").write_text(f"""
id: {INITIATIVE}
name: Cedar Families
state: {STATE}
record_schema: family_v1
suppression: {{threshold: {THRESHOLD}}}
calendar: {{fiscal_year_start_month: 10}}
partners:
  clinic: {{name: Cedar Clinic, crosswalk: clinic.yaml}}
  school: {{name: Cedar Schools, crosswalk: school.yaml}}
  shelter: {{name: Cedar Shelter, crosswalk: shelter.yaml}}
""")
    for name, text in INDICATORS.items():
        (indicators / name).write_text(text)
    for partner in ("clinic", "school", "shelter"):
        (workspace.intake / INITIATIVE / partner).mkdir(parents=True)
    return workspace


def drop(workspace: Workspace, partner: str, name: str, data: bytes | str) -> Path:
    path = workspace.intake / INITIATIVE / partner / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def to_csv(header: list[str], rows: list[list[str]], delimiter: str = ",",
           end: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=end).writerows([header, *rows])
    return out.getvalue()


# --- the data ---------------------------------------------------------------------------------

CLINIC_HEADER = ["Patient", "Visit Date", "Race", "Income", "HH Size", "State", "Seen", "Screened"]
SCHOOL_HEADER = ["Student", "School Year", "Ethnicity", "FRL", "Days Enrolled", "Days Absent"]
SHELTER_HEADER = ["Guest", "Quarter", "Race", "Income", "HH Size", "State", "Seen", "Screened"]

# Edge incomes (first person + each additional x (size - 1)); 2024 contiguous 15060 + 5380,
# Alaska 18810 + 6730, Hawaii 17310 + 6190; 2023 contiguous 14580 + 5140; 2016 size 8 stays at
# 2015's 11770 + 7 x 4160 = 40890 (2016's own formula gives 40860).
EDGE_CLINIC = [
    # exactly 100% of 2024 contiguous for 3 -> 100-199%
    ["E01", "2024-02-10", "W", "25820", "3", "OR", "1", "Y"],
    # exactly 200% for 1 -> 200-399%; a dollar less -> 100-199%
    ["E02", "2024-02-11", "B", "30120", "1", "OR", "1", "N"],
    ["E03", "2024-02-12", "B", "30119", "1", "OR", "1", "Y"],
    # exactly 400% of Alaska 2024 for 2 -> 400%+; Hawaii 2024 for 4 at 399.99% -> 200-399%
    ["E04", "2024-03-01", "A", "102160", "2", "AK", "1", "Y"],
    ["E05", "2024-03-02", "A+H", "143519", "4", "HI", "1", "N"],
    # a dollar under 100% for 5 in 2024 contiguous (36580) -> below 100%
    ["E06", "3/15/2024", "N", "36579", "5", "OR", "1", "Y"],
    # 2016, household of 8: 40880 is under 2015's 40890 (the guideline kept) -> below 100%
    ["E07", "2016-05-05", "W", "40880", "8", "OR", "1", "Y"],
    # a visit in January 2024 and 2023 (previous year's guideline): 29160 for 1 in 2023 = 200%
    ["E08", "2023-12-31", "H", "29160", "1", "OR", "1", "Y"],
    ["E08", "2024-01-01", "H", "29160", "1", "OR", "1", "Y"],
    # fiscal-year edges (October start): C001 is also a FY2024 student, so this visit's race
    # and class join their FY2024 profile; C002's, a day before FY2024, do not
    ["C001", "2023-10-01", "N", "9000", "4", "OR", "1", "N"],
    ["C002", "9/30/2023", "N", "9000", "4", "OR", "1", "N"],
]


def clinic_rows() -> list[list[str]]:
    races = ["W", "B", "A", "H", "AH", "W+B", "MX", "DK", "REF", "N", "W", "H"]
    incomes = ["12000", "25000", "40000", "65000", "90000", "150000", ""]
    rows = []
    for i in range(140):
        month = 1 + i % 6
        day = 1 + (i * 7) % 27
        when = f"2024-{month:02d}-{day:02d}" if i % 3 else f"{month}/{day}/2024"
        income = incomes[i % 7]
        size = str(1 + i % 6) if income else ""
        state = "OR" if i % 11 else "AK"
        screened = "Y" if i % 4 else "N"
        rows.append([f"C{i % 100:03d}", when, races[i % 12], income, size, state, "1", screened])
    return rows + EDGE_CLINIC


def school_rows() -> list[list[str]]:
    races = ["1", "2", "3", "4", "5", "6", "9", "1;2", "3;4", "1", "4", ""]
    frl = ["F", "R", "P", "", "P", "F"]
    labels = {2024: ["FY24", "FY2024", "2023-24", "FY 2024"], 2025: ["FY2025", "FY25"]}
    rows = []
    for i in range(120):
        year = 2024 if i < 80 else 2025
        label = labels[year][i % len(labels[year])]
        enrolled = str(60 + (i * 13) % 120)
        absent = f"{(i * 5) % 30}" if i % 5 else f"{(i * 5) % 30}.5"
        # S000..S039 are also clinic patients (C000..C039): one profile across partners
        pid = f"C{i:03d}" if i < 40 else f"S{i:03d}"
        rows.append([pid, label, races[i % 12], frl[i % 6], enrolled, absent])
    return rows


def shelter_rows() -> list[list[str]]:
    races = ["B", "H", "W", "MX", "DK", "A"]
    labels = ["Q1 2024", "2024Q2", "2024-Q1", "q2 2024", "Q4 2023", "Q1/2024"]
    rows = []
    for i in range(60):
        income = ["8000", "22000", "", "51000"][i % 4]
        size = ["2", "3", "", "4"][i % 4]
        # G000..G019 are clinic patients C050..C069
        pid = f"C{50 + i:03d}" if i < 20 else f"G{i:03d}"
        rows.append([pid, labels[i % 6], races[i % 6], income, size, "HI" if i % 9 == 0 else "OR",
                     "1", "1" if i % 3 else "0"])
    return rows



# --- reading what the pipeline wrote ----------------------------------------------------------

def warehouse_cells(workspace: Workspace) -> dict[tuple, tuple[int, int]]:
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        rows = con.execute(f"""
            SELECT indicator_id, period, partner_id, race_tabulation, race, class, numerator,
                   denominator FROM {INITIATIVE}.indicator_cells""").fetchall()
    finally:
        con.close()
    return {tuple(r[:6]): (r[6], r[7]) for r in rows}



def published(workspace: Workspace, audience: str = "partnership") -> list[dict]:
    folder = workspace.published(INITIATIVE) / audience
    return pq.read_table(folder / "indicator_results.parquet").to_pylist()


def cell_key(row: dict) -> tuple:
    return (row["indicator_id"], row["period"], row["partner_id"], row["race_tabulation"],
            row["race"], row["class"])


def night(workspace: Workspace) -> dict[str, dict]:
    from pipelines.flows import nightly

    [summary] = nightly(home=str(workspace.root), initiative=INITIATIVE)
    return {f["file_name"]: f for f in summary["files"]}



# --- aggregate partners -----------------------------------------------------------------------

AGGREGATE_HEADER = ["indicator_id", "period", "race", "class", "numerator", "denominator"]


def add_aggregate_partners(workspace: Workspace) -> None:
    """Two housing partners sending counts for a fiscal-year indicator of households."""
    shutil.copy(REPO_ROOT / "schemas" / "intake" / "aggregate_counts_v1.yaml",
                workspace.path("schemas", "intake"))
    folder = workspace.path("indicators", INITIATIVE)
    initiative = folder / "initiative.yaml"
    initiative.write_text(initiative.read_text()
                          + "  housing_a: {name: Housing A, submits: aggregates}\n"
                          + "  housing_b: {name: Housing B, submits: aggregates}\n")
    (folder / "housed_fy.yaml").write_text("""
id: housed_fy
title: Households stably housed
direction: higher_is_better
counted: households
period_type: fiscal_year
source: aggregates
""")
    for partner in ("housing_a", "housing_b"):
        (workspace.intake / INITIATIVE / partner).mkdir()


def aggregate_table(period: str, cells: dict[tuple[str, str], tuple[int, int]],
                    fudge_total: int = 0) -> list[list[str]]:
    """Subgroup rows plus their race, class and overall 'ALL' totals."""
    rows, races, classes = [], defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    for (race, klass), (num, den) in cells.items():
        rows.append(["housed_fy", period, race, klass, str(num), str(den)])
        for total in (races[race], classes[klass]):
            total[0] += num
            total[1] += den
    rows += [["housed_fy", period, race, "ALL", str(n), str(d)] for race, (n, d) in races.items()]
    rows += [["housed_fy", period, "ALL", k, str(n), str(d)] for k, (n, d) in classes.items()]
    num, den = (sum(v[i] for v in cells.values()) for i in (0, 1))
    return rows + [["housed_fy", period, "ALL", "ALL", str(num + fudge_total), str(den)]]


HOUSING_A = {("White", "Below 100% FPG"): (20, 30), ("White", "400%+ FPG"): (15, 16),
             ("Black or African American", "Below 100% FPG"): (12, 25),
             ("Asian", "100-199% FPG"): (2, 9), ("Not reported", "Not reported"): (5, 8)}
HOUSING_B = {("White", "Below 100% FPG"): (10, 12),
             ("Hispanic or Latino", "200-399% FPG"): (30, 41),
             ("Black or African American", "Below 100% FPG"): (3, 3)}


