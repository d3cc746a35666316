"""Synthetic partner files for the sample initiative, tests and benchmarks.

Everything is made up. Outcome rates differ by race and by income on purpose, so the
disaggregated results and disparity measures have something to show; the gaps are illustrative,
not estimates of anything real. Each partner's file uses its own local format (see the
crosswalks in schemas/crosswalks/riverbend/).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

RACES = ["aian", "asian", "black", "hispanic", "mena", "nhpi", "white"]
RACE_WEIGHTS = [0.03, 0.09, 0.16, 0.27, 0.03, 0.02, 0.40]
SCHOOL_CODES = dict(zip(RACES, ["100", "200", "300", "400", "500", "600", "700"]))
BRIGHT_START_NAMES = {"aian": "Native American", "asian": "Vietnamese", "black": "Black",
                      "hispanic": "Latino", "mena": "Middle Eastern", "nhpi": "Samoan",
                      "white": "White"}
HMIS_COLUMNS = ["AmIndAKNative", "Asian", "BlackAfAmerican", "HispanicLatinaeo",
                "MidEastNAfrican", "NativeHIPacific", "White"]
POVERTY_2024 = (15060, 5380)


@dataclass
class Child:
    person_id: str
    races: list[str]
    household_size: int
    income: int
    state: str

    @property
    def ratio(self) -> float:
        return self.income / (POVERTY_2024[0] + POVERTY_2024[1] * (self.household_size - 1))


def make_children(count: int, rng: random.Random) -> list[Child]:
    children = []
    for index in range(count):
        roll = rng.random()
        races = [] if roll < 0.04 else rng.choices(RACES, RACE_WEIGHTS, k=2 if roll > 0.88 else 1)
        size = rng.choice([2, 3, 3, 4, 4, 4, 5, 5, 6, 7])
        # Income gaps by race mirror the structural gaps the initiative exists to close.
        base = 0.6 if set(races) & {"black", "hispanic", "aian", "nhpi"} else 1.0
        income = int(max(0, rng.lognormvariate(10.9, 0.7) * base))
        state = "AK" if rng.random() < 0.01 else "WA"
        children.append(Child(f"RB{index:06d}", sorted(set(races)), size, income, state))
    return children


def _chance(child: Child, base: float, rng: random.Random) -> bool:
    lift = 0.12 if child.ratio >= 2 else (-0.10 if child.ratio < 1 else 0)
    lift -= 0.06 if set(child.races) & {"black", "aian", "nhpi"} else 0
    return rng.random() < base + lift


def write_sample(folder: Path, children_per_year: int = 1500,
                 years: tuple[int, ...] = (2022, 2023, 2024, 2025), seed: int = 7) -> list[Path]:
    """Write the sample initiative's partner files under `folder/<partner>/`; return the paths."""
    rng = random.Random(seed)
    children = make_children(children_per_year * len(years) * 2, rng)
    written = []
    for year_index, year in enumerate(years):
        cohort = children[year_index * children_per_year:(year_index + 1) * children_per_year]
        older = len(years) * children_per_year + year_index * children_per_year
        third_graders = children[older:older + children_per_year]
        written.append(_school_file(folder, year, cohort, third_graders, rng))
        written.append(_clinic_file(folder, year, cohort + third_graders[::2], rng))
        if year >= 2023:
            written.append(_bright_start_file(folder, year, cohort[: children_per_year // 3], rng))
        written.append(_housing_file(folder, year, children[year_index::7], rng))
    return written


RACE_LABELS = {"aian": "American Indian or Alaska Native", "asian": "Asian",
               "black": "Black or African American", "hispanic": "Hispanic or Latino",
               "mena": "Middle Eastern or North African",
               "nhpi": "Native Hawaiian or Pacific Islander", "white": "White"}


def _band(ratio: float) -> str:
    return ("Below 100% FPG" if ratio < 1 else "100-199% FPG" if ratio < 2
            else "200-399% FPG" if ratio < 4 else "400%+ FPG")


def _housing_file(folder, year, families, rng) -> Path:
    """An aggregate submission: counts by race x class with margins, as the template asks."""
    from collections import Counter

    counts: Counter = Counter()
    for family in families:
        race = ("Not reported" if not family.races else "Multiracial and/or Multiethnic"
                if len(family.races) > 1 else RACE_LABELS[family.races[0]])
        stable = _chance(family, 0.74, rng)
        for key in ((race, _band(family.ratio)), (race, "ALL"), ("ALL", _band(family.ratio)),
                    ("ALL", "ALL")):
            counts[key + ("n",)] += 1
            counts[key + ("k",)] += stable
    path, handle = _open(folder, "riverbend_housing", f"rha_stability_{year}.csv")
    with handle:
        writer = csv.writer(handle)
        writer.writerow(["indicator_id", "period", "race", "class", "numerator", "denominator"])
        for race, band, kind in sorted(counts):
            if kind == "n":
                writer.writerow(["stable_housing", year, race, band,
                                 counts[(race, band, "k")], counts[(race, band, "n")]])
    return path


def _open(folder: Path, partner: str, name: str, encoding: str = "utf-8"):
    path = folder / partner / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, path.open("w", newline="", encoding=encoding)


def _school_file(folder, year, cohort, third_graders, rng) -> Path:
    path, handle = _open(folder, "riverbend_schools", f"RUSD_outcomes_{year}.csv", "utf-8-sig")
    with handle:
        writer = csv.writer(handle)
        writer.writerow(["Student Number", "School Year", "Ethnicity/Race Codes", "Lunch Status",
                         "K Readiness Met", "Gr3 ELA Met", "Campus"])
        for child, grade in [(c, "K") for c in cohort] + [(c, "3") for c in third_graders]:
            codes = "|".join(SCHOOL_CODES[r] for r in child.races) or "999"
            lunch = "F" if child.ratio < 1.3 else ("R" if child.ratio < 1.85 else "P")
            ready = ("Y" if _chance(child, 0.58, rng) else "N") if grade == "K" else ""
            reading = ("Y" if _chance(child, 0.50, rng) else "N") if grade == "3" else ""
            writer.writerow([child.person_id, year, codes, lunch, ready, reading,
                             rng.choice(["Riverside Elementary", "Oak Park", "Hillcrest"])])
        if year == 2024:  # a couple of typical data-entry slips, to show quarantine at work
            writer.writerow(["RB999001", year, "800", "F", "Y", "", "Oak Park"])
            writer.writerow(["RB999002", year, "700", "X", "maybe", "", "Hillcrest"])
    return path


def _clinic_file(folder, year, patients, rng) -> Path:
    path, handle = _open(folder, "northside_clinic", f"northside_wcv_{year}.csv")
    with handle:
        writer = csv.writer(handle)
        writer.writerow(["PersonalID", "ReportYear", *HMIS_COLUMNS, "RaceNone", "HouseholdIncome",
                         "HouseholdSize", "State", "WCV"])
        for child in patients:
            if rng.random() < 0.5:
                continue
            flags = [1 if r in child.races else 0 for r in RACES]
            race_none = "" if child.races else rng.choice(["8", "9", "99"])
            income = "" if rng.random() < 0.1 else child.income
            writer.writerow([child.person_id, year, *flags, race_none, income,
                             child.household_size, child.state,
                             1 if _chance(child, 0.66, rng) else 0])
        if year == 2025:
            writer.writerow(["RB999003", year, 0, 0, 0, 0, 0, 0, 1, "", "-5000", 0, "WA", 1])
    return path


def _bright_start_file(folder, year, children, rng) -> Path:
    path, handle = _open(folder, "bright_start", f"BrightStart FY{year} export.csv", "cp1252")
    with handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["Child ID", "Program Year", "Race / Ethnicity", "Family Income ($)",
                         "Family Size", "Ready for K?", "Medicaid?", "Teacher’s note"])
        for child in children:
            race = ", ".join(BRIGHT_START_NAMES[r] for r in child.races) or "Declined"
            income = f"${child.income:,}" if rng.random() < 0.8 else ""
            ready = "Sí" if _chance(child, 0.62, rng) and rng.random() < 0.1 else (
                "Yes" if _chance(child, 0.62, rng) else "No")
            medicaid = "Yes" if child.ratio < 1.38 else "No"
            writer.writerow([child.person_id, year, race, income, child.household_size, ready,
                             medicaid, rng.choice(["", "Señora López’s class", "–"])])
    return path


def write_bad_sample(folder: Path) -> Path:
    """A file that must be rejected: the clinic's ad-hoc extract without the person id column."""
    path, handle = _open(folder, "northside_clinic", "wcv_adhoc_extract.csv")
    with handle:
        writer = csv.writer(handle)
        writer.writerow(["Patient Name", "ReportYear", "WCV"])
        writer.writerow(["(name removed)", 2025, 1])
    return path


if __name__ == "__main__":
    import sys

    from pipelines.synth_visits import write_visit_sample

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "data/samples/riverbend")
    for written in write_sample(target) + [write_bad_sample(target)] + write_visit_sample(target):
        print(written)
