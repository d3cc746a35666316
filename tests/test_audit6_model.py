"""Audit (session 6): the reference model for the Cedar scenario, written from the README only
(never from the pipeline's measure code).

A record counts in the indicator period that wholly contains its own period; a person counts once
per indicator period (all partners, and per partner); in the denominator when any record meets
the denominator conditions, in the numerator when any record meets both; race is the union of
the races of all the person's records in the period (a multiracial-unspecified code makes them
Multiracial alone and is in no "alone or in combination" group), class the lowest (income bands,
then proxies, then Not reported), by the guideline of the calendar year the record's own period
starts in, never below the previous year's for the same size. No tests here."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import date, timedelta

from pipelines.config import Workspace
from test_audit6_scenario import (CLASSES, CLINIC_RACE, MULTI, NOT_REPORTED, RACE_LABELS,
                                  SCHOOL_PROXY, SCHOOL_RACE, STATE)

# --- the reference model, from the README ---------------------------------------------------

def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def parse_period(partner: str, text: str) -> tuple[date, date]:
    """The record's own period for the forms this scenario's partners write."""
    t = text.strip().upper().replace(" ", "")
    if partner == "clinic":
        if "/" in t:
            m, d, y = (int(x) for x in t.split("/"))
        else:
            y, m, d = (int(x) for x in t.split("-"))
        return date(y, m, d), date(y, m, d)
    if partner == "school":  # fiscal years starting in October, named by the year they end in
        if t.startswith("FY"):
            end = int(t[2:]) if len(t[2:]) == 4 else 2000 + int(t[2:])
        else:  # "2023-24"
            end = int(t[:4]) + 1
        return date(end - 1, 10, 1), date(end, 9, 30)
    # shelter: quarters
    t = t.replace("-", "").replace("/", "")
    if t.startswith("Q"):
        q, y = int(t[1]), int(t[2:])
    else:
        y, q = int(t[:4]), int(t[5])
    return date(y, 3 * q - 2, 1), _month_end(y, 3 * q)


def indicator_period(kind: str, day: date) -> tuple[str, date, date]:
    if kind == "year":
        return str(day.year), date(day.year, 1, 1), date(day.year, 12, 31)
    if kind == "month":
        return (f"{day.year}-{day.month:02d}", date(day.year, day.month, 1),
                _month_end(day.year, day.month))
    if kind == "quarter":
        q = (day.month - 1) // 3 + 1
        return f"{day.year}Q{q}", date(day.year, 3 * q - 2, 1), _month_end(day.year, 3 * q)
    end = day.year + 1 if day.month >= 10 else day.year  # fiscal year from October
    return f"FY{end}", date(end - 1, 10, 1), date(end, 9, 30)


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
        amount = max(amount, first + extra * (size - 1))  # never below the previous year's
    return amount


def class_rank(table, start: date, income: str, size: str, state: str, proxy: str | None) -> int:
    if income != "" and size != "":
        ratio = float(income) / guideline(table, start.year, state or STATE, int(size))
        return 0 if ratio < 1 else 1 if ratio < 2 else 2 if ratio < 4 else 3
    if proxy:
        return CLASSES.index(proxy)
    return CLASSES.index(NOT_REPORTED)


def _races(codes: str, mapping: dict, separator: str) -> tuple[set[str], bool]:
    races, multi = set(), False
    for code in filter(None, (c.strip() for c in codes.split(separator))):
        value = mapping[code]
        if value == "multi":
            multi = True
        elif value:
            races |= set(value)
    return races, multi


def _num(text: str) -> float | None:
    return None if text.strip() == "" else float(text)


def records(workspace: Workspace, clinic, school, shelter) -> list[dict]:
    table, out = guidelines(workspace), []
    for pid, when, race, income, size, state, seen, screened in clinic:
        start, end = parse_period("clinic", when)
        races, multi = _races(race, CLINIC_RACE, "+")
        out.append({"partner": "clinic", "person": pid, "start": start, "end": end,
                    "races": races, "multi": multi,
                    "rank": class_rank(table, start, income, size, state, None),
                    "ratio": (float(income) / guideline(table, start.year, state, int(size))
                              if income and size else None),
                    "seen": _num(seen), "screened": {"Y": 1, "N": 0}.get(screened),
                    "days_enrolled": None, "days_absent": None})
    for pid, label, race, frl, enrolled, absent in school:
        start, end = parse_period("school", label)
        races, multi = _races(race, SCHOOL_RACE, ";")
        out.append({"partner": "school", "person": pid, "start": start, "end": end,
                    "races": races, "multi": multi,
                    "rank": class_rank(table, start, "", "", "", SCHOOL_PROXY.get(frl)),
                    "ratio": None, "seen": None, "screened": None,
                    "days_enrolled": _num(enrolled), "days_absent": _num(absent)})
    for pid, label, race, income, size, state, seen, screened in shelter:
        start, end = parse_period("shelter", label)
        races, multi = _races(race, CLINIC_RACE, "+")
        out.append({"partner": "shelter", "person": pid, "start": start, "end": end,
                    "races": races, "multi": multi,
                    "rank": class_rank(table, start, income, size, state, None),
                    "ratio": (float(income) / guideline(table, start.year, state, int(size))
                              if income and size else None),
                    "seen": _num(seen), "screened": _num(screened),
                    "days_enrolled": None, "days_absent": None})
    return out


def _meets(record: dict, conditions) -> bool:
    for column, op, value in conditions:
        if column == "class":
            continue  # the person's class, applied after the profile (expected_cells)
        x = record[column]
        if x is None:
            return False
        if not {"=": x == value, ">=": x >= value, "<": x < value}[op]:
            return False
    return True


CONDITIONS = {  # indicator -> (period type, denominator, numerator, disaggregations)
    "screening_q": ("quarter", [("seen", "=", 1)], [("screened", "=", 1)],
                    {"race", "class", "race_x_class", "partner"}),
    "screening_m": ("month", [("seen", "=", 1)], [("screened", "=", 1)], {"race", "class"}),
    "attendance_fy": ("fiscal_year", [("days_enrolled", ">=", 90)], [("days_absent", "<", 18)],
                      {"race", "class", "race_x_class", "partner"}),
    "reach_low_income": ("year", [("seen", "=", 1)], [("ratio", "<", 2)], {"race", "partner"}),
    # `class` in a condition is the person's class of the period, not a record's
    "proxy_fy": ("fiscal_year", [("days_enrolled", ">=", 0)],
                 [("class", "in", {"Low income (proxy)"})], {"class", "partner"}),
}


def expected_cells(recs: list[dict]) -> dict[tuple, tuple[int, int]]:
    """(indicator, period, partner, race_tabulation, race, class) -> (numerator, denominator),
    for every cell with a denominator, restricted to the indicator's disaggregations."""
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for indicator, (kind, den, num, allowed) in CONDITIONS.items():
        people: dict[tuple, dict] = {}
        for r in recs:
            label, pstart, pend = indicator_period(kind, r["start"])
            if r["end"] > pend:
                continue  # coarser than the indicator's grain, or straddling two periods
            for partner in ("ALL", r["partner"]):
                p = people.setdefault((label, partner, r["person"]), {
                    "races": set(), "multi": False, "rank": 99, "den": False, "num": False})
                p["races"] |= r["races"]
                p["multi"] |= r["multi"]
                p["rank"] = min(p["rank"], r["rank"])
                in_den = _meets(r, den)
                p["den"] |= in_den
                p["num"] |= in_den and _meets(r, num)
        person_level = [c for c in num if c[0] == "class"]
        for (label, partner, _), p in people.items():
            if not p["den"]:
                continue
            if any(CLASSES[p["rank"]] not in values for _, _, values in person_level):
                p["num"] = False
            if partner != "ALL" and "partner" not in allowed:
                continue
            races = sorted(p["races"])
            alone = (MULTI if p["multi"] or len(races) > 1 else
                     NOT_REPORTED if not races else RACE_LABELS[races[0]])
            klass = CLASSES[p["rank"]]
            keys = [("total", "ALL", "ALL")]
            if "race" in allowed:
                keys.append(("alone", alone, "ALL"))
                keys += [("alone_or_in_combination", RACE_LABELS[r], "ALL") for r in races]
            if "class" in allowed:
                keys.append(("total", "ALL", klass))
            if "race_x_class" in allowed:
                keys.append(("alone", alone, klass))
                keys += [("alone_or_in_combination", RACE_LABELS[r], klass) for r in races]
            for tab, race, klass_ in keys:
                cell = cells[(indicator, label, partner, tab, race, klass_)]
                cell[0] += p["num"]
                cell[1] += 1
    return {k: tuple(v) for k, v in cells.items()}


def wilson(num: int, den: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = num / den
    centre = (p + z * z / (2 * den)) / (1 + z * z / den)
    half = z * math.sqrt(p * (1 - p) / den + z * z / (4 * den * den)) / (1 + z * z / den)
    return centre - half, centre + half




def expected_disparities(results: list[dict], reference: dict[str, str],
                         favorable: frozenset[str] = frozenset()) -> dict[tuple, dict]:
    """Rate ratio and difference against the reference group, and the index of disparity (mean
    absolute gap of the other groups from the reference rate, as % of the reference group's
    adverse rate: 1 - its rate for the `favorable` (higher_is_better) indicators), from the
    published unsuppressed cells; "Not reported" groups are not compared."""
    shown: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in results:
        if r["suppressed"] or r["value"] is None:
            continue
        base = (r["indicator_id"], r["period"], r["partner_id"])
        if r["race_tabulation"] == "alone" and r["class"] == "ALL":
            shown[(*base, "race")][r["race"]] = r["value"]
        elif r["race_tabulation"] == "total" and r["race"] == "ALL" and r["class"] != "ALL":
            shown[(*base, "class")][r["class"]] = r["value"]
    out = {}
    for key, groups in shown.items():
        ref = reference[key[3]]
        if ref not in groups:
            continue
        others = {g: v for g, v in groups.items() if g not in (ref, NOT_REPORTED)}
        if not others:
            continue
        r0 = groups[ref]
        adverse = 1 - r0 if key[0] in favorable else r0
        index = (sum(abs(v - r0) for v in others.values()) / len(others) / adverse * 100
                 if adverse else None)
        for group, v in others.items():
            out[(*key, group)] = {"group_rate": v, "reference_rate": r0,
                                  "rate_ratio": v / r0 if r0 else None,
                                  "rate_difference": v - r0, "index_of_disparity": index,
                                  "groups_compared": len(others)}
    return out
