"""Synthetic dated visit files for the sample's quarterly indicator (developmental screening).

Everything is made up. Two partners see the same toddlers:
- Northside clinic sends one CSV a month from its health record: one row per visit, dated
  (`Visit Date`, US month/day/year), with a `Dev Screen` Y/N column.
- Bright Start sends its home-visiting log as an Excel workbook with a title block above the
  table: one row per home visit, `Visit Date` as real Excel dates, `ASQ-3 Done?` Yes/No.

A child is often seen more than once in a quarter (and by both partners), so the quarterly
indicator has to count each child once per quarter. The workbook is written byte-for-byte
reproducibly (fixed document times and zip entry times), so regenerating it changes nothing.

`python -m pipelines.synth` writes these files with the rest of the sample.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import zipfile
from dataclasses import replace
from pathlib import Path

from pipelines.synth import BRIGHT_START_NAMES, HMIS_COLUMNS, RACES, Child, make_children

# The clinic's monthly files: January 2024 through December 2025 (eight quarters).
FIRST_MONTH, MONTHS = (2024, 1), 24
# The home-visiting log is Bright Start's fiscal year 2025 (July 2024 - June 2025).
HOME_VISIT_SPAN = (dt.date(2024, 7, 1), dt.date(2025, 6, 30))
TODDLERS = 1600
FIXED_TIME = dt.datetime(2025, 7, 8, 9, 0, 0)  # "exported" stamp, also the zip entry times
WORKBOOK_NAME = "Bright Start home visits FY2025.xlsx"


def toddlers(rng: random.Random) -> list[Child]:
    # Ids far from the older children's (RB000000..RB011999): these are new, younger children.
    return [replace(child, person_id=f"RB{200000 + i:06d}")
            for i, child in enumerate(make_children(TODDLERS, rng))]


def _screen_chance(child: Child, months_in: int) -> float:
    """Per visit. Screening rates rise over the two years (the curve the partnership turns) and
    differ by income and race, so the breakdowns have something to show."""
    chance = 0.22 + 0.012 * months_in
    chance += 0.10 if child.ratio >= 2 else (-0.06 if child.ratio < 1 else 0)
    chance -= 0.05 if set(child.races) & {"black", "aian", "nhpi"} else 0
    return min(max(chance, 0.02), 0.95)


def _month(index: int) -> tuple[int, int]:
    year, month = divmod(FIRST_MONTH[0] * 12 + FIRST_MONTH[1] - 1 + index, 12)
    return year, month + 1


def _visit_days(rng: random.Random, start: dt.date, end: dt.date, count: int) -> list[dt.date]:
    """`count` distinct days between start and end (a person has one row per day)."""
    span = (end - start).days + 1
    return sorted(start + dt.timedelta(days=d) for d in rng.sample(range(span), min(count, span)))


def clinic_visits(children: list[Child], rng: random.Random) -> dict[tuple[int, int], list]:
    """Visits per (year, month): each quarter about half the toddlers come in, some 2-3 times."""
    visits: dict[tuple[int, int], list] = {_month(i): [] for i in range(MONTHS)}
    for quarter_index in range(MONTHS // 3):
        year, month = _month(quarter_index * 3)
        start = dt.date(year, month, 1)
        last_year, last_month = _month(quarter_index * 3 + 2)
        end = (dt.date(last_year + last_month // 12, last_month % 12 + 1, 1)
               - dt.timedelta(days=1))
        for child in children:
            if rng.random() >= 0.5:
                continue
            count = rng.choices([1, 2, 3], [0.6, 0.3, 0.1])[0]
            for day in _visit_days(rng, start, end, count):
                months_in = quarter_index * 3 + (day.month - month)
                screened = rng.random() < _screen_chance(child, months_in)
                kind = rng.choice(["Well child", "Well child", "Sick", "Follow-up"])
                visits[(day.year, day.month)].append((child, day, kind, screened))
    return visits


def write_clinic_month(folder: Path, year: int, month: int, rows: list, rng: random.Random) -> Path:
    path = folder / "northside_clinic" / f"northside_visits_{year}-{month:02d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["PersonalID", "Visit Date", "Visit Type", *HMIS_COLUMNS, "RaceNone",
                         "HouseholdIncome", "HouseholdSize", "State", "Dev Screen"])
        for child, day, kind, screened in sorted(rows, key=lambda r: (r[1], r[0].person_id)):
            flags = [1 if r in child.races else 0 for r in RACES]
            race_none = "" if child.races else rng.choice(["8", "9", "99"])
            income = "" if rng.random() < 0.1 else child.income
            writer.writerow([child.person_id, f"{day.month}/{day.day}/{day.year}", kind, *flags,
                             race_none, income, child.household_size, child.state,
                             "Y" if screened else "N"])
    return path


def home_visits(children: list[Child], rng: random.Random) -> list[tuple]:
    """Bright Start's home visits: a third of the toddlers, about monthly while enrolled."""
    start, end = HOME_VISIT_SPAN
    rows = []
    for child in children[::3]:
        enrolled = start + dt.timedelta(days=rng.randrange(0, 200))
        days = _visit_days(rng, enrolled, end, rng.randint(2, 10))
        for day in days:
            months_in = (day.year - FIRST_MONTH[0]) * 12 + day.month - FIRST_MONTH[1]
            rows.append((child, day, rng.random() < _screen_chance(child, months_in) + 0.1))
    return sorted(rows, key=lambda r: (r[1], r[0].person_id))


def write_home_visit_workbook(folder: Path, rows: list[tuple], rng: random.Random) -> Path:
    """The log as Bright Start keeps it: a title and an export line above the table, dates as
    Excel dates, income as numbers, then the columns a partner adds for itself."""
    from openpyxl import Workbook  # test extra: only needed to regenerate the sample

    book = Workbook()
    sheet = book.active
    sheet.title = "Home visits"
    sheet.append(["Bright Start Early Learning - Home visiting log, FY2025 (July 2024 - June 2025)"])
    sheet.append([f"Exported {FIXED_TIME:%m/%d/%Y} by the program office"])
    sheet.append([])
    sheet.append(["Child ID", "Visit Date", "Race / Ethnicity", "Family Income ($)", "Family Size",
                  "Medicaid?", "ASQ-3 Done?", "Home Visitor"])
    for child, day, screened in rows:
        race = ", ".join(BRIGHT_START_NAMES[r] for r in child.races) or "Declined"
        income = child.income if rng.random() < 0.8 else None
        sheet.append([child.person_id, day, race, income, child.household_size,
                      "Yes" if child.ratio < 1.38 else "No", "Yes" if screened else "No",
                      rng.choice(["M. Okafor", "J. Rivera", "L. Nguyen"])])
    for row in sheet.iter_rows(min_row=5, min_col=2, max_col=2):
        row[0].number_format = "m/d/yyyy"
    sheet.column_dimensions["A"].width = 12
    sheet.column_dimensions["B"].width = 12
    book.properties.creator = "Bright Start Early Learning"
    book.properties.created = book.properties.modified = FIXED_TIME
    path = folder / "bright_start" / WORKBOOK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(_fixed_zip_times(buffer.getvalue()))
    return path


def _fixed_zip_times(data: bytes) -> bytes:
    """The same workbook bytes on every run: openpyxl stamps the zip entries and the document's
    "modified" property with the time it saves."""
    stamp = f"{FIXED_TIME:%Y-%m-%dT%H:%M:%SZ}".encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, content)
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, content)
    return out.getvalue()


def write_visit_sample(folder: Path, seed: int = 12) -> list[Path]:
    """The clinic's monthly visit CSVs and Bright Start's home-visit workbook under `folder`."""
    rng = random.Random(seed)
    children = toddlers(rng)
    written = [write_clinic_month(folder, year, month, rows, rng)
               for (year, month), rows in sorted(clinic_visits(children, rng).items())]
    written.append(write_home_visit_workbook(folder, home_visits(children, rng), rng))
    return written
