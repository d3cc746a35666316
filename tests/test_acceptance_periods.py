"""Acceptance (issue 12): periods of any grain, run as a data lead would, on an initiative the code
has never seen.

"Eastlake" keeps an August school year and an October fiscal year. Its five indicators are
monthly, quarterly, school-year, fiscal-year and calendar-year, with baselines and targets written
as partners write them ("Mar 2024", "Q1 2024", "SY2024", "FY24"). Four partners send what
partners send:

- the clinic: one row per visit, "Date of Service" in US m/d/Y (a header the template has never
  seen, mapped only by the clinic's crosswalk); people seen twice in a month, people also seen at
  the schools, visits on either side of the school-year (7/31 | 8/1) and fiscal-year
  (9/30 | 10/1) edges, incomes on either side of the 2023/2024 poverty-guideline change;
- the schools: an .xlsx workbook with a title row above the table, a hidden first sheet, real
  date cells (one with a time of day), a numeric ID cell, numbers stored as text and a bad row
  named by its sheet row;
- the county: period labels in every accepted form, and hostile or impossible ones, which must be
  quarantined naming the row, the county's own header and the value;
- family services: monthly labels with a "2+" race code (more than one race, not specified).

The published numbers are checked against a reference model written here with plain Python
(csv, datetime) from the rules of issue 12: a record counts in the indicator period that
wholly contains it, a person once per period (race the union, class the lowest, the guideline year
that of the record's period start), "2+" is Multiracial alone and in no alone-or-in-combination
group. Not against the pipeline's own SQL or pipelines/periods.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from markdown_it import MarkdownIt

from pipelines.config import REPO_ROOT, Workspace

from test_acceptance_new_initiative import _guidelines

INITIATIVE = "eastlake"
THRESHOLD = 1
SY_START, FY_START = 8, 10
TODAY = dt.date.today()
RACE_LABELS = {"aian": "American Indian or Alaska Native", "asian": "Asian",
               "black": "Black or African American", "hispanic": "Hispanic or Latino",
               "mena": "Middle Eastern or North African",
               "nhpi": "Native Hawaiian or Pacific Islander", "white": "White"}
MULTI, NOT_REPORTED = "Multiracial and/or Multiethnic", "Not reported"
CLASSES = ["Below 100% FPG", "100-199% FPG", "200-399% FPG", "400%+ FPG", "Low income (proxy)",
           "Not low income (proxy)", "Not reported"]
TWO_PLUS = "2+"
LOCAL_RACE = {"W": "white", "B": "black", "A": "asian", "H": "hispanic", "U": None,
              TWO_PLUS: TWO_PLUS}
INDICATORS = {"visits_month": "month", "goals_quarter": "quarter",
              "goals_school_year": "school_year", "goals_fiscal_year": "fiscal_year",
              "goals_year": "year"}

CLINIC_HEADER = ["Client No", "Date of Service", "Race/Eth", "Annual Income", "Household",
                 "Seen", "Goal Met"]
SCHOOL_HEADER = ["Student", "Service Day", "Race", "Family Income", "Family Size", "Served",
                 "Goal"]
COUNTY_HEADER = ["Case", "Reporting Period", "Race", "Income", "HH", "Served", "Goal"]
FAMILY_HEADER = ["Family Member", "Month", "Race Code", "Served", "Goal"]

# Every accepted form of a period label -> (canonical label, type, start, end), written by hand.
D = dt.date
FORMS = [
    ("2024", "2023-24", "school_year", D(2023, 8, 1), D(2024, 7, 31)),  # crosswalk: school years
    ("2023-24", "2023-24", "school_year", D(2023, 8, 1), D(2024, 7, 31)),
    ("2023-2024", "2023-24", "school_year", D(2023, 8, 1), D(2024, 7, 31)),
    ("2023/24", "2023-24", "school_year", D(2023, 8, 1), D(2024, 7, 31)),
    ("SY2024", "2023-24", "school_year", D(2023, 8, 1), D(2024, 7, 31)),
    ("SY 2024-25", "2024-25", "school_year", D(2024, 8, 1), D(2025, 7, 31)),
    ("sy24-25", "2024-25", "school_year", D(2024, 8, 1), D(2025, 7, 31)),
    ("FY24", "FY2024", "fiscal_year", D(2023, 10, 1), D(2024, 9, 30)),
    ("FY2024", "FY2024", "fiscal_year", D(2023, 10, 1), D(2024, 9, 30)),
    ("fy 2025", "FY2025", "fiscal_year", D(2024, 10, 1), D(2025, 9, 30)),
    ("FY2023-24", "FY2024", "fiscal_year", D(2023, 10, 1), D(2024, 9, 30)),
    ("2024Q1", "2024Q1", "quarter", D(2024, 1, 1), D(2024, 3, 31)),
    ("2024 Q2", "2024Q2", "quarter", D(2024, 4, 1), D(2024, 6, 30)),
    ("2024-Q3", "2024Q3", "quarter", D(2024, 7, 1), D(2024, 9, 30)),
    ("Q4 2024", "2024Q4", "quarter", D(2024, 10, 1), D(2024, 12, 31)),
    ("q1-2024", "2024Q1", "quarter", D(2024, 1, 1), D(2024, 3, 31)),
    ("Q2/2024", "2024Q2", "quarter", D(2024, 4, 1), D(2024, 6, 30)),
    ("3Q2024", "2024Q3", "quarter", D(2024, 7, 1), D(2024, 9, 30)),
    ("2024-03", "2024-03", "month", D(2024, 3, 1), D(2024, 3, 31)),
    ("2024/04", "2024-04", "month", D(2024, 4, 1), D(2024, 4, 30)),
    ("05/2024", "2024-05", "month", D(2024, 5, 1), D(2024, 5, 31)),
    ("6/2024", "2024-06", "month", D(2024, 6, 1), D(2024, 6, 30)),
    ("July 2024", "2024-07", "month", D(2024, 7, 1), D(2024, 7, 31)),
    ("Aug 2024", "2024-08", "month", D(2024, 8, 1), D(2024, 8, 31)),
    ("Sep-24", "2024-09", "month", D(2024, 9, 1), D(2024, 9, 30)),
    ("october-2024", "2024-10", "month", D(2024, 10, 1), D(2024, 10, 31)),
    ("2024-03-15", "2024-03-15", "day", D(2024, 3, 15), D(2024, 3, 15)),
    ("3/16/2024", "2024-03-16", "day", D(2024, 3, 16), D(2024, 3, 16)),
    ("03/17/2024", "2024-03-17", "day", D(2024, 3, 17), D(2024, 3, 17)),
    ("2024/03/18", "2024-03-18", "day", D(2024, 3, 18), D(2024, 3, 18)),
    ("2024-03-19 00:00:00", "2024-03-19", "day", D(2024, 3, 19), D(2024, 3, 19)),
    ("Fall term 2023", "2023Q4", "quarter", D(2023, 10, 1), D(2023, 12, 31)),  # crosswalk label
    (f"{TODAY.month}/{TODAY.day}/{TODAY.year}", TODAY.isoformat(), "day", TODAY, TODAY),
]
FUTURE = D(TODAY.year + 1, 1, 15)
TOMORROW = TODAY + dt.timedelta(days=1)
HOSTILE = [("Q5 2024", "bad_period"), ("2024-13", "bad_period"), ("FY", "bad_period"),
           ("=cmd()", "bad_period"), ("<script>alert(1)</script>", "bad_period"),
           (f"{FUTURE.month}/{FUTURE.day}/{FUTURE.year}", "future_period"),
           (f"{FUTURE.year}Q1", "future_period"),
           (f"{TOMORROW.month}/{TOMORROW.day}/{TOMORROW.year}", "future_period"),
           ("2024 | Q1 |", "bad_period")]


# --- the partners' files ----------------------------------------------------------------------

def _us(day: dt.date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def _clinic_rows() -> list[list[str]]:
    rng = random.Random(12)
    races, incomes = ["W", "B", "A", "H", "W/B", "U", "W", "B"], ["9000", "21000", "45000",
                                                                   "90000", "150000", ""]
    rows = []
    for i in range(90):
        person, race = f"C{i:03d}", races[i % 8]
        income, size = incomes[(i * 7) % 6], str(1 + i % 4)
        days: set[dt.date] = set()
        while len(days) < 1 + i % 3:
            days.add(D(2023, 7, 1) + dt.timedelta(days=rng.randrange(730)))
        for day in sorted(days):
            seen = "0" if rng.random() < 0.1 else "1"
            goal = ("Y" if rng.random() < 0.6 else "N") if seen == "1" else ""
            rows.append([person, _us(day), race, income, size if income else "", seen, goal])
    rows += [
        # Twice in one month: once in March 2024, goal met at the second visit.
        ["C900", "3/4/2024", "H", "30000", "3", "1", "N"],
        ["C900", "3/25/2024", "H", "30000", "3", "1", "Y"],
        # Either side of the school-year edge (August) and the fiscal-year edge (October).
        ["C901", "7/31/2024", "A", "60000", "2", "1", "Y"],
        ["C902", "8/1/2024", "A", "60000", "2", "1", "Y"],
        ["C903", "9/30/2024", "B", "60000", "2", "1", "N"],
        ["C904", "10/1/2024", "B", "60000", "2", "1", "Y"],
        # 14,800 alone: 100-199% of the 2023 guideline (14,580), below 100% of 2024's (15,060).
        ["C905", "12/15/2023", "W", "14800", "1", "1", "Y"],
        ["C906", "1/15/2024", "W", "14800", "1", "1", "Y"],
        # Also seen at the schools in the same month, White there: Multiracial, counted once.
        ["S001", "2/6/2024", "B", "", "", "1", "N"],
        ["1001", "2/14/2024", "W", "", "", "1", "Y"],
    ]
    return rows


def _school_rows() -> list[list]:
    rows = [["S001", D(2024, 2, 20), "Black", 52000, 4, 1, "Yes"],
            ["S001", D(2024, 2, 21), "White", 52000, 4, 1, "No"]]
    rng = random.Random(7)
    for i in range(2, 40):
        day = D(2024, 8, 1) + dt.timedelta(days=rng.randrange(300))
        rows.append([f"S{i:03d}", day, ["White", "Black", "Asian", "Latino"][i % 4],
                     [18000, 40000, 70000][i % 3], 1 + i % 5, 1, "Yes" if i % 3 else "No"])
    # A date cell with a time of day is that day; a number stored as text is that number; a
    # numeric ID cell is the same person as the clinic's "1001".
    rows.append(["S040", dt.datetime(2024, 9, 4, 13, 45), "Asian", "41000", "3", 1, "Yes"])
    rows.append([1001, D(2024, 2, 12), "Asian", 70000, 2, 1, "No"])
    return rows


# Served must be 0 or 1: set aside, named by its sheet row (title, blank, header, the rows above).
SCHOOL_BAD = ["S099", D(2024, 9, 3), "White", 52000, 2, 7, "Yes"]
SCHOOL_BAD_ROW = 3 + len(_school_rows()) + 1


def _county_rows() -> tuple[list[list[str]], list[list[str]]]:
    good = [[f"K{i:03d}", form, ["W", "B", "A", "H"][i % 4], "14800", "1", "1",
             "Y" if i % 2 else "N"] for i, (form, *_) in enumerate(FORMS)]
    bad = [[f"X{i:03d}", text, "W", "14800", "1", "1", "Y"] for i, (text, _) in enumerate(HOSTILE)]
    return good, bad


def _family_rows() -> list[list[str]]:
    rows = []
    for i in range(12):
        rows.append([f"F{i:03d}", "2024-03" if i < 8 else "2024-05",
                     TWO_PLUS if i % 2 == 0 else "W", "1", "Y" if i % 3 else "N"])
    return rows


def _csv(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    return out.getvalue().encode()


def _xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    old = book.active
    old.title = "Old export"
    old.append(SCHOOL_HEADER)
    old.append(["ZZ999", D(2019, 1, 1), "White", 1, 1, 1, "Yes"])
    old.sheet_state = "hidden"
    sheet = book.create_sheet("Services")
    sheet.append(["Eastlake Schools: student services export"])
    sheet.append([])
    sheet.append(SCHOOL_HEADER)
    for row in [*rows, SCHOOL_BAD]:
        sheet.append(row)
        sheet.cell(sheet.max_row, 2).number_format = "m/d/yyyy"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- the workspace ------------------------------------------------------------------------------

def _ended_days_ago(end: dt.date) -> int:
    return (TODAY - end).days


def _build(root: Path) -> Workspace:
    workspace = Workspace(root)
    shutil.copytree(REPO_ROOT / "schemas" / "equity", workspace.path("schemas", "equity"))
    intake = workspace.path("schemas", "intake")
    intake.mkdir(parents=True)
    (intake / "services_v1.yaml").write_text("""
id: services_v1
title: Services
grain: one row per person per service day or period
columns:
  - {name: client_id, role: person_id, required: true}
  - {name: period, role: period, type: period, required: true, min: 2000, max_is_current_year: true}
  - {name: race, role: race_codes}
  - {name: income, role: household_income, type: number, min: 0}
  - {name: hh, role: household_size, type: integer, min: 1, max: 30}
  - {name: served, role: measure, type: integer, allowed: [0, 1]}
  - {name: goal, role: measure, type: integer, allowed: [0, 1]}
""")
    crosswalks = workspace.path("schemas", "crosswalks", INITIATIVE)
    crosswalks.mkdir(parents=True)
    (crosswalks / "clinic.yaml").write_text("""
header_aliases: {"Client No": client_id, "Date of Service": period, "Race/Eth": race,
                 "Annual Income": income, "Household": hh, "Seen": served, "Goal Met": goal}
race_separator: "/"
race_codes: {W: white, B: black, A: asian, H: hispanic, U: not_reported}
values:
  goal: {"Y": 1, "N": 0}
""")
    (crosswalks / "schools.yaml").write_text("""
header_aliases: {"Student": client_id, "Service Day": period, "Family Income": income,
                 "Family Size": hh, "Served": served}
race_codes: {White: white, Black: black, Asian: asian, Latino: hispanic}
values:
  goal: {"Yes": 1, "No": 0}
""")
    (crosswalks / "county.yaml").write_text("""
header_aliases: {"Case": client_id, "Reporting Period": period, "Income": income, "HH": hh,
                 "Served": served, "Goal": goal}
race_codes: {W: white, B: black, A: asian, H: hispanic}
values:
  goal: {"Y": 1, "N": 0}
period:
  type: school_year
  labels: {"Fall term 2023": "Q4 2023"}
""")
    (crosswalks / "family.yaml").write_text("""
header_aliases: {"Family Member": client_id, "Month": period, "Race Code": race, "Served": served,
                 "Goal": goal}
race_codes: {W: white, "2+": multiracial_unspecified}
values:
  goal: {"Y": 1, "N": 0}
""")
    indicators = workspace.path("indicators", INITIATIVE)
    indicators.mkdir(parents=True)
    # What each partner owes, in days from today so the states hold on any day the test runs:
    # the schools' 2024-25 school year and family services' 2024Q2 are due in 60 days (on time;
    # the schools' file has a row set aside), the clinic's quarters from
    # 2024Q1 were due 30 days after each ended (late, then missing from 2025Q3), the county's
    # FY2022 was never sent (missing).
    school_due = _ended_days_ago(D(2025, 7, 31)) + 60
    family_due = _ended_days_ago(D(2024, 6, 30)) + 60
    (indicators / "initiative.yaml").write_text(f"""
id: {INITIATIVE}
name: Eastlake Families
state: MN
record_schema: services_v1
suppression: {{threshold: {THRESHOLD}}}
calendar:
  school_year_start_month: {SY_START}
  fiscal_year_start_month: {FY_START}
partners:
  clinic: {{name: Eastlake Clinic, crosswalk: clinic.yaml}}
  schools: {{name: Eastlake Schools, crosswalk: schools.yaml}}
  county: {{name: Eastlake County, crosswalk: county.yaml}}
  family: {{name: Family Services, crosswalk: family.yaml}}
reporting:
  clinic:
    - {{every: quarter, due_days: 30, first_period: "Q1 2024", measures: [served]}}
  schools:
    - {{every: school_year, due_days: {school_due}, first_period: "SY 2024-25"}}
  county:
    - {{every: fiscal_year, due_days: 30, first_period: FY22}}
  family:
    - {{every: quarter, due_days: {family_due}, first_period: 2024-Q2, measures: [goal]}}
""")
    milestones = {"visits_month": ("Mar 2024", "December 2026"),
                  "goals_quarter": ("Q1 2024", "2026 Q4"),
                  "goals_school_year": ("SY2024", "SY 2026-27"),
                  "goals_fiscal_year": ("FY24", "FY 2027"),
                  "goals_year": ("2024", "2027")}
    for indicator, period_type in INDICATORS.items():
        baseline, target = milestones[indicator]
        (indicators / f"{indicator}.yaml").write_text(f"""
id: {indicator}
title: Served people meeting their goal ({period_type})
direction: higher_is_better
period_type: {period_type}
denominator: [{{column: served, op: "=", value: 1}}]
numerator: [{{column: goal, op: "=", value: 1}}]
baseline: {{value: 0.4, period: "{baseline}"}}
target: {{value: 0.7, period: "{target}"}}
""")
    for partner in ("clinic", "schools", "county", "family"):
        (workspace.intake / INITIATIVE / partner).mkdir(parents=True)
    return workspace


def _drop(workspace: Workspace, partner: str, name: str, data: bytes) -> None:
    (workspace.intake / INITIATIVE / partner / name).write_bytes(data)


# --- the reference model ------------------------------------------------------------------------

def _containing(day: dt.date, period_type: str) -> tuple[str, dt.date]:
    """(label, start) of the period of `period_type` holding `day`, from the calendar above."""
    if period_type == "month":
        return f"{day.year}-{day.month:02d}", D(day.year, day.month, 1)
    if period_type == "quarter":
        q = (day.month - 1) // 3 + 1
        return f"{day.year}Q{q}", D(day.year, 3 * q - 2, 1)
    if period_type == "school_year":
        first = day.year if day.month >= SY_START else day.year - 1
        return f"{first}-{(first + 1) % 100:02d}", D(first, SY_START, 1)
    if period_type == "fiscal_year":
        last = day.year + 1 if day.month >= FY_START else day.year
        return f"FY{last}", D(last - 1, FY_START, 1)
    if period_type == "year":
        return str(day.year), D(day.year, 1, 1)
    raise AssertionError(period_type)


def _end(start: dt.date, period_type: str) -> dt.date:
    months = {"month": 1, "quarter": 3, "school_year": 12, "fiscal_year": 12, "year": 12}[
        period_type]
    month = start.month - 1 + months
    return D(start.year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def _fits(record: dict, period_type: str) -> str | None:
    label = _containing(record["start"], period_type)[0]
    return label if _containing(record["end"], period_type)[0] == label else None


def _class_rank(guidelines, start: dt.date, income: str, size: str) -> int:
    if not (income and size):
        return CLASSES.index(NOT_REPORTED)
    year = max(y for y in guidelines if y <= start.year)
    line = lambda y: guidelines[y][0] + guidelines[y][1] * (int(size) - 1)  # noqa: E731
    ratio = float(income) / max(line(year), line(year - 1) if year - 1 in guidelines else 0)
    return 0 if ratio < 1 else 1 if ratio < 2 else 2 if ratio < 4 else 3


def _us_date(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%m/%d/%Y").date()


def _records(workspace: Workspace) -> list[dict]:
    """One dict per good row of every file: partner, person, start, end, races, rank, den, num."""
    guidelines = _guidelines(workspace)
    out = []

    def add(partner, person, start, end, races, income, size, served, goal):
        out.append({"partner": partner, "person": person, "start": start, "end": end,
                    "races": races, "rank": _class_rank(guidelines, start, income, size),
                    "den": served == "1", "num": served == "1" and goal})

    for person, day, race, income, size, seen, goal in _clinic_rows():
        races = {LOCAL_RACE[c] for c in race.split("/")} - {None}
        add("clinic", person, _us_date(day), _us_date(day), races, income, size, seen, goal == "Y")
    school_race = {"White": "white", "Black": "black", "Asian": "asian", "Latino": "hispanic"}
    for person, day, race, income, size, served, goal in _school_rows():
        day = day.date() if isinstance(day, dt.datetime) else day
        add("schools", str(person), day, day, {school_race[race]}, str(income), str(size),
            str(served), goal == "Yes")
    good, _ = _county_rows()
    for (person, _, race, income, size, served, goal), (_, _, _, start, end) in zip(good, FORMS):
        add("county", person, start, end, {LOCAL_RACE[race]}, income, size, served, goal == "Y")
    for person, month, race, served, goal in _family_rows():
        start = D(int(month[:4]), int(month[5:]), 1)
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        add("family", person, start, end, {LOCAL_RACE[race]} - {None}, "", "", served, goal == "Y")
    return out


def _race_alone(races: set[str]) -> str:
    if TWO_PLUS in races or len(races) > 1:
        return MULTI
    return RACE_LABELS[next(iter(races))] if races else NOT_REPORTED


def _expected(records: list[dict]) -> dict[tuple, tuple[int, int]]:
    """(indicator, period, partner, tabulation, race, class) -> (numerator, denominator)."""
    people: dict[tuple, dict] = {}
    for r in records:
        for indicator, period_type in INDICATORS.items():
            label = _fits(r, period_type)
            if label is None:
                continue  # coarser than the indicator, or straddling two of its periods
            for partner in ("ALL", r["partner"]):
                p = people.setdefault((indicator, label, partner, r["person"]),
                                      {"races": set(), "rank": 99, "den": False, "num": False})
                p["races"] |= r["races"]
                p["rank"] = min(p["rank"], r["rank"])
                p["den"] |= r["den"]
                p["num"] |= r["num"]
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for (indicator, label, partner, _), p in people.items():
        if not p["den"]:
            continue
        groups = [("total", "ALL"), ("alone", _race_alone(p["races"]))]
        groups += [("alone_or_in_combination", RACE_LABELS[code])
                   for code in p["races"] - {TWO_PLUS}]
        keys = [(indicator, label, partner, tabulation, race, klass)
                for tabulation, race in groups for klass in ("ALL", CLASSES[p["rank"]])]
        for key in keys:
            cells[key][0] += p["num"]
            cells[key][1] += 1
    return {k: tuple(v) for k, v in cells.items()}


def _published(workspace: Workspace, name: str) -> list[dict]:
    return pq.read_table(workspace.published(INITIATIVE) / "partnership" / name).to_pylist()


def _query(workspace: Workspace, sql: str) -> list[tuple]:
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def eastlake(tmp_path_factory, prefect_harness):
    """The four partners' files through one real nightly run: (workspace, config, files by name,
    the reference records). Shared by the tests below: treat as read-only."""
    from pipelines.flows import nightly

    workspace = _build(tmp_path_factory.mktemp("eastlake") / "home")
    _drop(workspace, "clinic", "clinic visits 2023-2025.csv", _csv(CLINIC_HEADER, _clinic_rows()))
    _drop(workspace, "schools", "Services export.xlsx", _xlsx(_school_rows()))
    good, bad = _county_rows()
    _drop(workspace, "county", "county periods.csv", _csv(COUNTY_HEADER, good + bad))
    _drop(workspace, "family", "family months.csv", _csv(FAMILY_HEADER, _family_rows()))
    [summary] = nightly(home=str(workspace.root), initiative=INITIATIVE)
    files = {f["file_name"]: f for f in summary["files"]}
    return workspace, workspace.load(INITIATIVE), files, _records(workspace)


def test_every_partner_file_is_read(eastlake):
    _, _, files, _ = eastlake
    assert {n: (f["partner_id"], f["status"], f["rows_loaded"], f["rows_quarantined"])
            for n, f in files.items()} == {
        "clinic visits 2023-2025.csv": ("clinic", "loaded", len(_clinic_rows()), 0),
        "Services export.xlsx": ("schools", "loaded", len(_school_rows()), 1),
        "county periods.csv": ("county", "loaded", len(FORMS), len(HOSTILE)),
        "family months.csv": ("family", "loaded", len(_family_rows()), 0)}


def test_published_numbers_equal_the_reference_model(eastlake):
    """Every published cell equals the reference model, and every cell it expects is there:
    each grain, each partner and all together, race alone, in combination, and class."""
    workspace, _, _, records = eastlake
    expected = _expected(records)
    results = _published(workspace, "indicator_results.parquet")
    got = {(r["indicator_id"], r["period"], r["partner_id"], r["race_tabulation"], r["race"],
            r["class"]): r for r in results}
    assert set(got) == set(expected)
    shown = {k: (r["numerator"], r["denominator"]) for k, r in got.items() if not r["suppressed"]}
    assert {k: expected[k] for k in shown} == shown
    assert all(r["suppressed"] for k, r in got.items() if 0 < expected[k][1] <= THRESHOLD)
    # The comparison above is not vacuous for any grain. (Indicators whose counts add up to
    # another's, as these grains of one measure can, share a hidden pattern: suppress_linked.)
    for indicator in INDICATORS:
        assert sum(k[0] == indicator and k[4] != "ALL" for k in shown) >= 3, indicator


def test_published_periods_follow_the_initiatives_calendar(eastlake):
    """Published periods are the indicator's, named, bounded and ordered by the calendar above;
    records coarser than an indicator, or straddling two of its periods, are not counted there."""
    workspace, config, _, records = eastlake
    results = _published(workspace, "indicator_results.parquet")
    for r in results:
        assert (r["period"], r["period_start"]) == _containing(r["period_start"], r["period_type"])
        assert r["period_end"] == _end(r["period_start"], r["period_type"]), r
        assert r["period_type"] == INDICATORS[r["indicator_id"]]
    for indicator in INDICATORS:
        starts = [r["period_start"] for r in results if r["indicator_id"] == indicator]
        assert starts == sorted(starts), indicator
    disparities = _published(workspace, "disparities.parquet")
    assert disparities
    for d in disparities:
        assert (d["period"], d["period_start"]) == _containing(d["period_start"], d["period_type"])
        assert d["period_end"] == _end(d["period_start"], d["period_type"]), d

    manifest = json.loads((workspace.published(INITIATIVE) / "partnership" / "manifest.json")
                          .read_text())
    not_counted = {(m["indicator_id"], m["records_not_counted"])
                   for m in manifest["indicator_periods"]}
    assert not_counted == {(indicator, sum(_fits(r, kind) is None for r in records))
                           for indicator, kind in INDICATORS.items()}

    # The edges, by hand: the school year turns on 8/1, the fiscal year on 10/1.
    assert [_containing(D(2024, 7, 31), "school_year")[0],
            _containing(D(2024, 8, 1), "school_year")[0],
            _containing(D(2024, 9, 30), "fiscal_year")[0],
            _containing(D(2024, 10, 1), "fiscal_year")[0]] == [
        "2023-24", "2024-25", "FY2024", "FY2025"]
    # Every accepted form is read as its canonical period; the crosswalk's own label too.
    assert sorted(_query(workspace, f"""
        SELECT period, period_type, period_start, period_end FROM {INITIATIVE}.records_current
        WHERE partner_id = 'county'""")) == sorted((f[1], f[2], f[3], f[4]) for f in FORMS)
    # Baselines and targets as partners write them, read in each indicator's type.
    assert {i.id: (i.baseline.period, i.target.period) for i in config.indicators} == {
        "visits_month": ("2024-03", "2026-12"), "goals_quarter": ("2024Q1", "2026Q4"),
        "goals_school_year": ("2023-24", "2026-27"), "goals_fiscal_year": ("FY2024", "FY2027"),
        "goals_year": ("2024", "2027")}


def test_guideline_year_and_the_two_plus_code(eastlake):
    """The guideline year is the calendar year the record's period starts in: 14,800 alone is
    100-199% FPG for the clinic's December 2023 visit and the county's FY2024 ("2024" in the
    label, starting October 2023) but below 100% for a January 2024 visit. "2+" is Multiracial
    alone and in no alone-or-in-combination group."""
    workspace, _, _, _ = eastlake
    results = _published(workspace, "indicator_results.parquet")
    assert _query(workspace, f"""
        SELECT period, class FROM {INITIATIVE}.records_current
        WHERE partner_id = 'clinic' AND household_income = 14800 ORDER BY period""") == [
        ("2023-12-15", "100-199% FPG"), ("2024-01-15", "Below 100% FPG")]
    assert [r["class"] for r in results if r["indicator_id"] == "goals_fiscal_year"
            and r["period"] == "FY2024" and r["partner_id"] == "county"
            and r["race_tabulation"] == "total" and r["class"] != "ALL"] == [
        "100-199% FPG", "Below 100% FPG"]
    assert _query(workspace, f"""
        SELECT DISTINCT period, class FROM {INITIATIVE}.records_current
        WHERE partner_id = 'county' AND period IN ('FY2024', '2023Q4', '2024Q1', '2024-03-15')
        ORDER BY period_start, period""") == [
        ("2023Q4", "100-199% FPG"), ("FY2024", "100-199% FPG"), ("2024Q1", "Below 100% FPG"),
        ("2024-03-15", "Below 100% FPG")]

    family = dict(((tabulation, race), den) for tabulation, race, den in _query(workspace, f"""
        SELECT race_tabulation, race, denominator FROM {INITIATIVE}.indicator_cells
        WHERE indicator_id = 'visits_month' AND period = '2024-03' AND partner_id = 'family'
              AND class = 'ALL' AND denominator > 0"""))
    assert family == {("total", "ALL"): 8, ("alone", MULTI): 4, ("alone", "White"): 4,
                      ("alone_or_in_combination", "White"): 4}
    assert _query(workspace, f"""
        SELECT count(*) FILTER (WHERE race_multi_unspecified), count(*) FROM {INITIATIVE}.records
        WHERE partner_id = 'family'""") == [(6, 12)]


def test_bad_and_future_periods_are_set_aside_naming_row_header_and_value(eastlake):
    _, _, files, _ = eastlake
    county = files["county periods.csv"]
    with open(county["report"].replace(".report.md", ".bad_rows.csv"), encoding="utf-8-sig") as f:
        bad_rows = [(r["row"], r["column"], r["problem"], r["value"]) for r in csv.DictReader(f)]
    assert bad_rows == [(str(2 + len(FORMS) + i), "Reporting Period", rule,
                         "'" + text if text.startswith("=") else text)
                        for i, (text, rule) in enumerate(HOSTILE)]
    report = Path(county["report"]).read_text()
    rendered = MarkdownIt("commonmark").enable("table").render(report)
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    to_fix = rendered.split("Rows to fix")[1]
    assert to_fix.count("<tr>") == 1 + len(HOSTILE)  # the header and one row each: no forged cells
    assert "`Reporting Period`" in report and "Fall term 2023" in report  # its own label listed
    # The workbook's bad row is named by the row the partner sees in Excel.
    with open(files["Services export.xlsx"]["report"].replace(".report.md", ".bad_rows.csv"),
              encoding="utf-8-sig") as f:
        assert [(r["row"], r["column"], r["value"]) for r in csv.DictReader(f)] == [
            (str(SCHOOL_BAD_ROW), "Served", "7")]


def test_status_shows_on_time_late_and_missing_partner_periods(eastlake):
    """Who has reported: `backbone status` and the published table, from the calendar above."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    workspace, _, files, records = eastlake
    on_time: dict[tuple, bool] = {}
    counted: dict[tuple, int] = {}

    def owed(partner, kind, first, due_days, set_aside=False):
        """(partner, period) -> state: every period from `first` that has begun by today."""
        sent = {_fits(r, kind) for r in records if r["partner"] == partner} - {None}
        states, start = {}, first
        while start <= TODAY:
            label, _ = _containing(start, kind)
            end = _end(start, kind)
            due = end + dt.timedelta(days=due_days)
            if label in sent:  # received today
                on_time[(partner, label)] = due >= TODAY
                counted[(partner, label)] = sum(_fits(r, kind) == label for r in records
                                                if r["partner"] == partner)
                states[(partner, label)] = ("partly_quarantined" if set_aside else
                                            "on_time" if due >= TODAY else "late")
            else:
                states[(partner, label)] = "missing" if due < TODAY else "not_yet_due"
            start = end + dt.timedelta(days=1)
        return states

    expected_status = {
        **owed("clinic", "quarter", D(2024, 1, 1), 30),
        **owed("county", "fiscal_year", D(2021, 10, 1), 30, set_aside=True),
        **owed("schools", "school_year", D(2024, 8, 1), _ended_days_ago(D(2025, 7, 31)) + 60,
               set_aside=True),
        **owed("family", "quarter", D(2024, 4, 1), _ended_days_ago(D(2024, 6, 30)) + 60)}
    submissions = _published(workspace, "submissions.parquet")
    assert {(r["partner_id"], r["period"]): r["state"] for r in submissions} == expected_status
    assert {(r["partner_id"], r["period"]): r["on_time"] for r in submissions
            if r["on_time"] is not None} == on_time
    assert {(r["partner_id"], r["period"]): r["rows"] for r in submissions if r["rows"]} == counted
    # The partner's report lists the periods it still owes.
    clinic_report = Path(files["clinic visits 2023-2025.csv"]["report"]).read_text()
    still_due = clinic_report.split("## Periods still due")[1].split("\n## ")[0]
    assert {line.split("`")[1] for line in still_due.splitlines() if "overdue" in line} == {
        period for (partner, period), state in expected_status.items()
        if partner == "clinic" and state == "missing"}
    assert {"on_time", "late", "missing", "partly_quarantined"} <= set(expected_status.values())
    county_fy24 = next(r for r in submissions
                       if (r["partner_id"], r["period"]) == ("county", "FY2024"))
    assert county_fy24["rows"] == sum(_fits(r, "fiscal_year") == "FY2024" for r in records
                                      if r["partner"] == "county")
    assert county_fy24["quarantined_share"] == pytest.approx(
        len(HOSTILE) / (len(FORMS) + len(HOSTILE)), abs=1e-4)

    shown = CliRunner().invoke(app, ["status", "--home", str(workspace.root), "--initiative",
                                     INITIATIVE], env={"COLUMNS": "220"})
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    for (partner, period), state in expected_status.items():
        words = {"on_time": "on time", "late": "late", "missing": "missing (overdue)",
                 "not_yet_due": "not yet due", "partly_quarantined": "partly quarantined"}[state]
        assert any(f" {partner} " in line and f" {period} " in line and words in line
                   for line in lines), (partner, period, words)
    counts = {s: list(expected_status.values()).count(s) for s in ("on_time", "late", "missing")}
    assert (f"{counts['on_time']} on time, {counts['late']} late, {counts['missing']} missing "
            "(overdue)") in shown.output

    # Quality over time runs on the new grains: the table exists and is published.
    assert _query(workspace, f"SELECT count(*) >= 0 FROM {INITIATIVE}.quality_flags") == [(True,)]
    assert (workspace.published(INITIATIVE) / "partnership" / "quality_flags.parquet").is_file()
    assert (workspace.published(INITIATIVE) / "partnership" / "status.html").is_file()
