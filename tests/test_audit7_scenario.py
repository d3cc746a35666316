"""Audit (session 7) scenario: "Juniper", a health + housing + early-learning coalition unlike the
sample and unlike session 6's Cedar: an August school year, a monthly indicator with an age
window (a denominator condition), HMIS 0/1 race columns beside local race codes, households of
9 to 14 people in Alaska and Hawaii across guideline years 2015-2026, a proxy partner, an
aggregate partner, a partner that sends nothing, a reference group that compares race only.
Definitions were written from the README alone. Shared by tests/test_audit7_*.py; no tests here.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipelines.config import REPO_ROOT, Workspace

INITIATIVE = "juniper"
THRESHOLD = 4
STATE = "NM"
MULTI, NOT_REPORTED = "Multiracial and/or Multiethnic", "Not reported"
RACE_LABELS = {"aian": "American Indian or Alaska Native", "asian": "Asian",
               "black": "Black or African American", "hispanic": "Hispanic or Latino",
               "mena": "Middle Eastern or North African",
               "nhpi": "Native Hawaiian or Pacific Islander", "white": "White"}
BANDS = ["Below 100% FPG", "100-199% FPG", "200-399% FPG", "400%+ FPG"]
CLASSES = BANDS + ["Low income (proxy)", "Not low income (proxy)", NOT_REPORTED]
REFERENCE_RACE = "Hispanic or Latino"

CLINIC_CODES = {"WHT": "white", "BLK": "black", "ASN": "asian", "HSP": "hispanic",
                "AIAN": "aian", "NHPI": "nhpi", "MENA": "mena", "MULT": "multi", "UNK": None}
SCHOOL_CODES = {"01": "white", "02": "black", "03": "asian", "04": "hispanic", "05": "aian",
                "06": "nhpi", "07": "mena", "99": None}
SCHOOL_PROXY = {"F": "Low income (proxy)", "R": "Low income (proxy)",
                "P": "Not low income (proxy)"}
HMIS = ["AmIndAKNative", "Asian", "BlackAfAmerican", "HispanicLatinaeo", "MidEastNAfrican",
        "NativeHIPacific", "White"]
HMIS_RACE = dict(zip(HMIS, ["aian", "asian", "black", "hispanic", "mena", "nhpi", "white"]))

TEMPLATE = """
id: juniper_v1
title: Juniper person records (audit template)
grain: one row per person per period (or per visit)
unique: [pid, visit_on]
columns:
  - {name: pid, role: person_id, required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_-]{0,31}"}
  - {name: visit_on, role: period, type: period, required: true, min: 2015, max_is_current_year: true}
  - {name: race, role: race_codes}
  - {name: r_aian, role: race_flag, race_code: aian, type: integer, allowed: [0, 1], aliases: [AmIndAKNative]}
  - {name: r_asian, role: race_flag, race_code: asian, type: integer, allowed: [0, 1], aliases: [Asian]}
  - {name: r_black, role: race_flag, race_code: black, type: integer, allowed: [0, 1], aliases: [BlackAfAmerican]}
  - {name: r_hisp, role: race_flag, race_code: hispanic, type: integer, allowed: [0, 1], aliases: [HispanicLatinaeo]}
  - {name: r_mena, role: race_flag, race_code: mena, type: integer, allowed: [0, 1], aliases: [MidEastNAfrican]}
  - {name: r_nhpi, role: race_flag, race_code: nhpi, type: integer, allowed: [0, 1], aliases: [NativeHIPacific]}
  - {name: r_white, role: race_flag, race_code: white, type: integer, allowed: [0, 1], aliases: [White]}
  - {name: r_none, role: race_none, type: integer, allowed: [8, 9, 99], aliases: [RaceNone]}
  - {name: income, role: household_income, type: number, min: 0}
  - {name: hhsize, role: household_size, type: integer, min: 1, max: 30}
  - {name: st, role: state, pattern: "[A-Z]{2}"}
  - {name: lunch, role: class_proxy}
  - {name: age_months, role: measure, type: integer, min: 0, max: 240}
  - {name: immunized, role: measure, type: integer, allowed: [0, 1]}
  - {name: ready, role: measure, type: integer, allowed: [0, 1]}
  - {name: housed, role: measure, type: integer, allowed: [0, 1]}
"""

CROSSWALKS = {
    "clinic.yaml": """
header_aliases: {"Niño ID": pid, "Fecha Visita": visit_on, "Raza/Etnia": race, "Ingreso Familiar": income,
                 "Tamaño Hogar": hhsize, "Estado": st, "Edad (meses)": age_months,
                 "Vacunas al día": immunized}
race_separator: "/"
race_codes: {WHT: white, BLK: black, ASN: asian, HSP: hispanic, AIAN: aian, NHPI: nhpi,
             MENA: mena, MULT: multiracial_unspecified, UNK: not_reported}
values:
  immunized: {"Sí": 1, "No": 0}
""",
    "schools.yaml": """
header_aliases: {"Student #": pid, "School Year": visit_on, "Race Codes": race, "Lunch": lunch,
                 "K Ready": ready}
race_separator: ";"
race_codes: {"01": white, "02": black, "03": asian, "04": hispanic, "05": aian, "06": nhpi,
             "07": mena, "99": not_reported}
class_proxy: {F: "Low income (proxy)", R: "Low income (proxy)", P: "Not low income (proxy)"}
values:
  ready: {"Y": 1, "N": 0}
period:
  type: school_year
""",
    "housing.yaml": """
header_aliases: {"Client ID": pid, "Quarter": visit_on, "Annual Income": income,
                 "Household Members": hhsize, "State": st, "Stably Housed": housed}
""",
    "headstart.yaml": """
header_aliases: {"Child": pid, "Program Year": visit_on}
period:
  type: school_year
""",
}

INDICATORS = {
    "immunized_m.yaml": """
id: immunized_m
title: Children under three up to date on immunizations
direction: higher_is_better
period_type: month
denominator: [{column: age_months, op: ">=", value: 0}, {column: age_months, op: "<=", value: 35}]
numerator: [{column: immunized, op: "=", value: 1}]
""",
    "ready_sy.yaml": """
id: ready_sy
title: Children ready for kindergarten
direction: higher_is_better
period_type: school_year
disaggregations: [race, class, partner]
denominator: [{column: ready, op: not_null}]
numerator: [{column: ready, op: "=", value: 1}]
baseline: {value: 0.5, period: "2023-24"}
""",
    "housed_q.yaml": """
id: housed_q
title: Households stably housed in the quarter
direction: higher_is_better
counted: households
period_type: quarter
denominator: [{column: housed, op: not_null}]
numerator: [{column: housed, op: "=", value: 1}]
""",
    # Fed by two partners (clinic visits and housing quarters): the condition on
    # poverty_ratio is the person's lowest ratio of the quarter, per partner its own records.
    "low_income_q.yaml": """
id: low_income_q
title: Households with a known income under 200% of the poverty guideline
direction: lower_is_better
counted: households
period_type: quarter
disaggregations: [race, class, partner]
denominator: [{column: household_income, op: not_null}]
numerator: [{column: poverty_ratio, op: "<", value: 2}]
""",
    "visits_agg.yaml": """
id: visits_agg
title: Families completing home visits
direction: higher_is_better
counted: families
period_type: school_year
source: aggregates
""",
}


def build(root: Path) -> Workspace:
    workspace = Workspace(root)
    shutil.copytree(REPO_ROOT / "schemas" / "equity", workspace.path("schemas", "equity"))
    intake = workspace.path("schemas", "intake")
    intake.mkdir(parents=True)
    (intake / "juniper_v1.yaml").write_text(TEMPLATE)
    shutil.copy(REPO_ROOT / "schemas" / "intake" / "aggregate_counts_v1.yaml", intake)
    crosswalks = workspace.path("schemas", "crosswalks", INITIATIVE)
    crosswalks.mkdir(parents=True)
    for name, text in CROSSWALKS.items():
        (crosswalks / name).write_text(text, encoding="utf-8")
    indicators = workspace.path("indicators", INITIATIVE)
    indicators.mkdir(parents=True)
    (indicators / "initiative.yaml").write_text(f"""
id: {INITIATIVE}
name: Juniper Health, Housing and Early Learning Coalition
state: {STATE}
record_schema: juniper_v1
aggregate_schema: aggregate_counts_v1
suppression: {{threshold: {THRESHOLD}}}
calendar: {{school_year_start_month: 8}}
reference_groups: {{race: {REFERENCE_RACE}}}
partners:
  clinic: {{name: Juniper Clinic, crosswalk: clinic.yaml}}
  schools: {{name: Juniper Schools, crosswalk: schools.yaml}}
  housing: {{name: Juniper Housing, crosswalk: housing.yaml}}
  coalition: {{name: Juniper Home Visiting Coalition, submits: aggregates}}
  headstart: {{name: Juniper Head Start, crosswalk: headstart.yaml}}
reporting:
  headstart:
    - {{every: school_year, due_days: 30, first_period: 2023-24, measures: [ready]}}
  housing:
    - {{every: quarter, due_days: 45, first_period: 2024Q1, measures: [housed]}}
""")
    for name, text in INDICATORS.items():
        (indicators / name).write_text(text)
    for partner in ("clinic", "schools", "housing", "coalition", "headstart"):
        (workspace.intake / INITIATIVE / partner).mkdir(parents=True)
    return workspace


def drop(workspace: Workspace, partner: str, name: str, data: bytes | str) -> Path:
    path = workspace.intake / INITIATIVE / partner / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def to_csv(header: list[str], rows: list[list[str]], delimiter: str = ",",
           end: str = "\r\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=end).writerows([header, *rows])
    return out.getvalue()


# --- the data ---------------------------------------------------------------------------------

CLINIC_HEADER = ["Niño ID", "Fecha Visita", "Raza/Etnia", "Ingreso Familiar", "Tamaño Hogar",
                 "Estado", "Edad (meses)", "Vacunas al día"]
SCHOOL_HEADER = ["Student #", "School Year", "Race Codes", "Lunch", "K Ready"]
HOUSING_HEADER = ["Client ID", "Quarter", *HMIS, "RaceNone", "Annual Income",
                  "Household Members", "State", "Stably Housed"]
AGGREGATE_HEADER = ["indicator_id", "period", "race", "class", "numerator", "denominator"]


def clinic_rows() -> list[list[str]]:
    """Dated visits, January to August 2024 (August is school year 2024-25), in four date forms;
    children seen several times a month; ages inside and outside the 0-35 month window."""
    races = ["WHT", "BLK", "HSP", "HSP/WHT", "ASN", "MULT", "UNK", "AIAN", "HSP", "BLK/AIAN",
             "", "NHPI/ASN", "HSP", "WHT", "MENA"]
    incomes = ["9000", "31000", "52000", "80000", "150000", "", "24000"]
    rows = []
    for i in range(170):
        month = 1 + i % 8
        day = 1 + (i * 5) % 28
        form = i % 4
        when = (f"2024-{month:02d}-{day:02d}", f"{month}/{day}/2024", f"2024/{month:02d}/{day:02d}",
                f"{month:02d}/{day:02d}/2024")[form]
        pid = f"K{i % 95:03d}"
        income = incomes[i % 7]
        size = str(1 + i % 12) if income else ""
        state = ("AK", "HI", "NM", "NM", "NM")[i % 5]
        age = str((i * 7) % 48)          # 0..47 months: some outside the window
        shot = ("Sí", "No", "Sí", "")[i % 4]
        rows.append([pid, when, races[i % 15], income, size, state, age, shot])
    return rows


def school_rows() -> list[list[str]]:
    """School years 2023-24 and 2024-25 in several forms; leading-zero ids; FRL codes."""
    races = ["01", "02", "04", "04;01", "03", "99", "", "05", "04", "02;07", "06"]
    lunch = ["F", "R", "P", "", "F", "P"]
    labels = {"2023-24": ["2023-24", "SY2024", "2023-2024", "SY 2023-24", "2024"],
              "2024-25": ["2024-25", "SY2025", "2024/25"]}
    rows = []
    for i in range(110):
        year = "2023-24" if i < 70 else "2024-25"
        label = labels[year][i % len(labels[year])]
        # the first 30 are also clinic children (K000..K029); "0042".."0049" are not clinic 42..49
        pid = f"K{i:03d}" if i < 30 else f"{i:04d}"
        rows.append([pid, label, races[i % 11], lunch[i % 6], "Y" if i % 3 else "N"])
    return rows


def _flags(races: tuple[str, ...]) -> list[str]:
    return ["1" if HMIS_RACE[h] in races else "0" for h in HMIS]


# Households of 9-14 people at exact band edges, Alaska and Hawaii, 2015-2026 guidelines.
# 2016 for 9+: HHS kept 2015's amounts (2015 contiguous 9: 11770 + 8 x 4160 = 45050; 2016's own
# formula gives 44,... lower) so the 2015 amount counts.
EDGE_HOUSING = [
    # (id, quarter label, races, race_none, income, size, state, housed)
    ("H900", "2016 Q2", ("white",), "", "45050", "9", "NM", "1"),  # 100% of kept 2015: 100-199
    ("H901", "Q2 2016", ("black",), "", "45049", "9", "NM", "1"),      # a dollar under -> <100
    ("H902", "2015Q3", ("asian",), "", "90100", "9", "NM", "0"),       # 200% of 2015 -> 200-399
    ("H903", "2024-Q1", ("hispanic",), "", str(4 * (18810 + 6730 * 11)), "12", "AK", "1"),  # 400%+
    ("H904", "Q1/2024", ("hispanic", "white"), "", str(2 * (17310 + 6190 * 13) - 1), "14", "HI",
     "1"),                                                              # just under 200% -> 100-199
    ("H905", "2026Q1", ("nhpi",), "", str(15960 + 5680 * 9), "10", "NM", "0"),  # 100% of 2026
    ("H906", "2025Q1", (), "9", str(19550 + 6880 * 10), "11", "AK", "1"),       # 100% of 2025 AK
    ("H907", "2023Q4", ("mena",), "", str(2 * (16770 + 5910 * 8)), "9", "HI", "1"),  # 200% HI 2023
    # 2016 Alaska 10 and Hawaii 12 stay at 2015's 61520 and 66130 (2016's own: 61460, 66030)
    ("H908", "2016Q3", ("aian",), "", "61519", "10", "AK", "1"),      # under the kept amount: <100
    ("H909", "2016 q3", ("white",), "", "66100", "12", "HI", "0"),     # <100 (not 100-199)
]


def housing_rows() -> list[list[str]]:
    races = [("white",), ("black",), ("hispanic",), ("hispanic", "white"), (), ("asian",),
             ("black", "aian"), ("hispanic",)]
    labels = ["2024Q1", "Q1 2024", "2024 Q1", "2024Q2", "Q2-2024", "1Q2024", "2024q2"]
    rows = []
    for i in range(84):
        # K050..K079 are clinic children too (the same household record)
        pid = f"K{50 + i:03d}" if i < 30 else f"H{i:03d}"
        r = races[i % 8]
        none = "" if r else ("8", "9", "99")[i % 3]
        income = ["11000", "", "38000", "64000", "120000", "27000"][i % 6]
        size = "" if not income else str(2 + i % 13)
        state = ("NM", "NM", "AK", "HI")[i % 4]
        rows.append([pid, labels[i % 7], *_flags(r), none, income, size, state,
                     "1" if i % 4 else "0"])
    for pid, label, r, none, income, size, state, housed in EDGE_HOUSING:
        rows.append([pid, label, *_flags(r), none, income, size, state, housed])
    return rows


def aggregate_table(indicator: str, period: str, cells: dict[tuple[str, str], tuple[int, int]]
                    ) -> list[list[str]]:
    """Subgroup rows plus their race, class and overall 'ALL' totals."""
    rows, races, classes = [], {}, {}
    for (race, klass), (num, den) in cells.items():
        rows.append([indicator, period, race, klass, str(num), str(den)])
        for totals, key in ((races, race), (classes, klass)):
            n, d = totals.get(key, (0, 0))
            totals[key] = (n + num, d + den)
    rows += [[indicator, period, race, "ALL", str(n), str(d)] for race, (n, d) in races.items()]
    rows += [[indicator, period, "ALL", k, str(n), str(d)] for k, (n, d) in classes.items()]
    num, den = (sum(v[i] for v in cells.values()) for i in (0, 1))
    return rows + [[indicator, period, "ALL", "ALL", str(num), str(den)]]


COALITION = {"2023-24": {("White", "Below 100% FPG"): (40, 52), ("Hispanic or Latino",
                                                                 "Below 100% FPG"): (61, 90),
                         ("Hispanic or Latino", "100-199% FPG"): (22, 30),
                         ("Black or African American", "Low income (proxy)"): (3, 7),
                         (MULTI, "Not reported"): (9, 12)},
             "2024-25": {("White", "Below 100% FPG"): (44, 50), ("Hispanic or Latino",
                                                                 "Below 100% FPG"): (70, 95),
                         ("Asian", "400%+ FPG"): (2, 2)}}


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


def published(workspace: Workspace, name: str = "indicator_results.parquet",
              audience: str = "partnership") -> list[dict]:
    return pq.read_table(workspace.published(INITIATIVE) / audience / name).to_pylist()


def cell_key(row: dict) -> tuple:
    return (row["indicator_id"], row["period"], row["partner_id"], row["race_tabulation"],
            row["race"], row["class"])


def night(workspace: Workspace) -> dict[str, dict]:
    from pipelines.flows import nightly

    [summary] = nightly(home=str(workspace.root), initiative=INITIATIVE)
    return {f["file_name"]: f for f in summary["files"]}
