"""Audit (session 7): the reference model for the Juniper scenario, written from the README only
(never from the pipeline's measuring code). No tests here.

A record counts in the indicator period that wholly contains its own period; a person counts once
per indicator period (all partners, and per partner with that partner's records only); in the
denominator when a record meets every denominator condition, in the numerator when such a record
also meets the numerator's; race is the union of the races of all the person's records that fit
in the period, whatever indicator they feed (a multiracial-unspecified code: Multiracial alone,
no "alone or in combination" group from it); class the lowest (income bands, then proxies, then
Not reported), with the guideline of the calendar year the record's own period starts in (latest
table year at or before it), first + extra x (size - 1), never below an earlier year's for the
same size and region. Aggregate rows: the partners' tables summed."""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from datetime import date, timedelta

from pipelines.config import Workspace
from test_audit7_scenario import (CLASSES, CLINIC_CODES, HMIS, HMIS_RACE, MULTI, NOT_REPORTED,
                                  RACE_LABELS, SCHOOL_CODES, SCHOOL_PROXY, STATE)

SY_START = 8  # the initiative's school_year_start_month


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def clinic_day(text: str) -> date:
    t = text.strip()
    if re.fullmatch(r"\d{4}[-/]\d{1,2}[-/]\d{1,2}", t):
        y, m, d = (int(x) for x in re.split("[-/]", t))
    else:
        m, d, y = (int(x) for x in t.split("/"))
    return date(y, m, d)


def school_year(text: str) -> tuple[date, date]:
    """A school year named by the year it ends in (SY2024, bare 2024) or by both years."""
    t = text.strip().upper().replace(" ", "")
    if t.startswith("SY"):
        t = t[2:]
    if re.fullmatch(r"\d{4}", t):
        end = int(t)
    else:
        end = int(t[:4]) + 1
    return date(end - 1, SY_START, 1), _month_end(end, SY_START - 1)


def quarter(text: str) -> tuple[date, date]:
    t = text.strip().upper().replace(" ", "").replace("-", "").replace("/", "")
    if m := re.fullmatch(r"(\d{4})Q([1-4])", t):
        y, q = int(m[1]), int(m[2])
    elif m := re.fullmatch(r"Q([1-4])(\d{4})", t):
        q, y = int(m[1]), int(m[2])
    else:
        m = re.fullmatch(r"([1-4])Q(\d{4})", t)
        q, y = int(m[1]), int(m[2])
    return date(y, 3 * q - 2, 1), _month_end(y, 3 * q)


def indicator_period(kind: str, day: date) -> tuple[str, date]:
    """The label and end of the indicator period holding `day`."""
    if kind == "month":
        return f"{day.year}-{day.month:02d}", _month_end(day.year, day.month)
    if kind == "quarter":
        q = (day.month - 1) // 3 + 1
        return f"{day.year}Q{q}", _month_end(day.year, 3 * q)
    start = day.year if day.month >= SY_START else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}", _month_end(start + 1, SY_START - 1)


def guidelines(workspace: Workspace) -> dict[tuple[int, str], tuple[int, int]]:
    with workspace.path("schemas", "equity", "poverty_guidelines.csv").open() as handle:
        return {(int(r["year"]), r["region"]): (int(r["first_person"]), int(r["each_additional"]))
                for r in csv.DictReader(handle)}


def guideline(table, year: int, state: str, size: int) -> int:
    region = {"AK": "alaska", "HI": "hawaii"}.get(state, "contiguous")
    years = sorted(y for (y, r) in table if r == region)
    year = max([y for y in years if y <= year] or [years[0]])
    amount = 0
    for y in years:
        if y > year:
            break
        first, extra = table[(y, region)]
        amount = max(amount, first + extra * (size - 1))
    return amount


def ratio(table, start: date, income: str, size: str, state: str) -> float | None:
    if not (income.strip() and size.strip()):
        return None
    money = float(income.replace(",", "").replace("$", ""))
    return money / guideline(table, start.year, state or STATE, int(size))


def class_rank(table, start: date, income: str, size: str, state: str, proxy: str | None) -> int:
    if income.strip() and size.strip():
        money = float(income.replace(",", "").replace("$", ""))
        ratio = money / guideline(table, start.year, state or STATE, int(size))
        return 0 if ratio < 1 else 1 if ratio < 2 else 2 if ratio < 4 else 3
    if proxy:
        return CLASSES.index(proxy)
    return CLASSES.index(NOT_REPORTED)


def _codes(cell: str, mapping: dict, separator: str) -> tuple[set[str], bool]:
    races, multi = set(), False
    for code in filter(None, (c.strip() for c in cell.split(separator))):
        value = mapping[code.upper() if code.upper() in mapping else code]
        if value == "multi":
            multi = True
        elif value:
            races.add(value)
    return races, multi


def _int(text: str) -> int | None:
    return None if text.strip() == "" else int(text)


def records(workspace: Workspace, clinic=(), schools=(), housing=()) -> list[dict]:
    table, out = guidelines(workspace), []
    base = {"age_months": None, "immunized": None, "ready": None, "housed": None,
            "household_income": None, "ratio": None}
    for pid, when, race, income, size, state, age, shot in clinic:
        day = clinic_day(when)
        races, multi = _codes(race, CLINIC_CODES, "/")
        out.append({**base, "partner": "clinic", "person": pid, "start": day, "end": day,
                    "races": races, "multi": multi,
                    "rank": class_rank(table, day, income, size, state, None),
                    "age_months": _int(age), "immunized": {"Sí": 1, "No": 0}.get(shot.strip()),
                    "household_income": income.strip() or None,
                    "ratio": ratio(table, day, income, size, state)})
    for pid, label, race, lunch, ready in schools:
        start, end = school_year(label)
        races, multi = _codes(race, SCHOOL_CODES, ";")
        out.append({**base, "partner": "schools", "person": pid, "start": start, "end": end,
                    "races": races, "multi": multi,
                    "rank": class_rank(table, start, "", "", "", SCHOOL_PROXY.get(lunch.strip())),
                    "ready": {"Y": 1, "N": 0}.get(ready.strip())})
    for row in housing:
        pid, label, flags = row[0], row[1], row[2:2 + len(HMIS)]
        income, size, state, housed = row[3 + len(HMIS):]
        start, end = quarter(label)
        races = {HMIS_RACE[h] for h, f in zip(HMIS, flags) if f.strip() == "1"}
        out.append({**base, "partner": "housing", "person": pid, "start": start, "end": end,
                    "races": races, "multi": False,
                    "rank": class_rank(table, start, income, size, state, None),
                    "housed": _int(housed), "household_income": income.strip() or None,
                    "ratio": ratio(table, start, income, size, state)})
    return out


def _meets(record: dict, conditions) -> bool:
    for column, op, value in conditions:
        x = record[column]
        if x is None:
            return False
        if op != "not_null" and not {"=": x == value, ">=": x >= value, "<=": x <= value}[op]:
            return False
    return True


ALL_BREAKDOWNS = {"race", "class", "race_x_class", "partner"}
CONDITIONS = {  # indicator -> (period type, denominator, numerator, disaggregations)
    "immunized_m": ("month", [("age_months", ">=", 0), ("age_months", "<=", 35)],
                    [("immunized", "=", 1)], ALL_BREAKDOWNS),
    "ready_sy": ("school_year", [("ready", "not_null", None)], [("ready", "=", 1)],
                 {"race", "class", "partner"}),
    "housed_q": ("quarter", [("housed", "not_null", None)], [("housed", "=", 1)], ALL_BREAKDOWNS),
    # poverty_ratio: the person's lowest ratio of the period (per partner: its own records)
    "low_income_q": ("quarter", [("household_income", "not_null", None)],
                     [("poverty_ratio", "<", 2)], {"race", "class", "partner"}),
}


def _keys(allowed, alone, races, klass):
    keys = [("total", "ALL", "ALL")]
    if "race" in allowed:
        keys.append(("alone", alone, "ALL"))
        keys += [("alone_or_in_combination", RACE_LABELS[r], "ALL") for r in races]
    if "class" in allowed:
        keys.append(("total", "ALL", klass))
    if "race_x_class" in allowed:
        keys.append(("alone", alone, klass))
        keys += [("alone_or_in_combination", RACE_LABELS[r], klass) for r in races]
    return keys


def expected_cells(recs: list[dict], aggregates: dict | None = None
                   ) -> dict[tuple, tuple[int, int]]:
    """(indicator, period, partner, race_tabulation, race, class) -> (numerator, denominator)."""
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for indicator, (kind, den, num, allowed) in CONDITIONS.items():
        people: dict[tuple, dict] = {}
        for r in recs:
            label, pend = indicator_period(kind, r["start"])
            if r["end"] > pend:
                continue
            for partner in ("ALL", r["partner"]):
                p = people.setdefault((label, partner, r["person"]), {
                    "races": set(), "multi": False, "rank": 99, "den": False, "num": False,
                    "ratios": []})
                p["races"] |= r["races"]
                if r["ratio"] is not None:
                    p["ratios"].append(r["ratio"])
                p["multi"] |= r["multi"]
                p["rank"] = min(p["rank"], r["rank"])
                in_den = _meets(r, den)
                p["den"] |= in_den
                p["num"] |= in_den and _meets(r, [c for c in num if c[0] != "poverty_ratio"])
        for (label, partner, _), p in people.items():
            if not p["den"] or (partner != "ALL" and "partner" not in allowed):
                continue
            for _, _, edge in (c for c in num if c[0] == "poverty_ratio"):
                p["num"] = p["num"] and bool(p["ratios"]) and min(p["ratios"]) < edge
            races = sorted(p["races"])
            alone = (MULTI if p["multi"] or len(races) > 1 else
                     NOT_REPORTED if not races else RACE_LABELS[races[0]])
            for tab, race, klass in _keys(allowed, alone, races, CLASSES[p["rank"]]):
                cell = cells[(indicator, label, partner, tab, race, klass)]
                cell[0] += p["num"]
                cell[1] += 1
    for (indicator, partner), periods in (aggregates or {}).items():
        for period, table in periods.items():
            for (race, klass), (n, d) in table.items():
                for tab_race, tab_class in ((race, klass), (race, "ALL"), ("ALL", klass),
                                            ("ALL", "ALL")):
                    tab = "total" if tab_race == "ALL" else "alone"
                    for who in (partner, "ALL"):
                        cell = cells[(indicator, period, who, tab, tab_race, tab_class)]
                        cell[0] += n
                        cell[1] += d
    return {k: tuple(v) for k, v in cells.items()}


def wilson(num: int, den: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = num / den
    centre = (p + z * z / (2 * den)) / (1 + z * z / den)
    half = z * math.sqrt(p * (1 - p) / den + z * z / (4 * den * den)) / (1 + z * z / den)
    return centre - half, centre + half
