"""Audit (session 7): the second night of the Juniper scenario (tests/test_audit7_scenario.py):
what real partners send next. No tests here."""

from __future__ import annotations

from test_audit7_scenario import (CLINIC_HEADER, _flags, aggregate_table, to_csv)

# --- night 2: what a real partner sends next ----------------------------------------------------

ODD_CLINIC_HEADER = ["  NIÑO id ", "fecha_visita", "RAZA / ETNIA", "ingreso-familiar",
                     "Tamaño  Hogar", "ESTADO", "Edad (Meses)", "Vacunas Al Día", "Notes", "", ""]
HOSTILE_VALUES = {4: "<img src=x onerror=alert(1)>", 9: "=cmd|' /C calc'!A0",
                  10: "[click](http://evil.example)", 11: "WHT\nBLK\x1b[31m"}


def clinic_october() -> list[list[str]]:
    """Odd headers, an ignored Notes column with a quoted newline and markup, trailing empty
    columns, thousands separators, a repeated event, ids 007 and 7, four hostile race cells
    (spreadsheet rows 4, 9, 10, 11)."""
    rows = [
        ["K200", "2024-10-01", "WHT", "45,000", "4", "NM", "12", "Sí", "first\nsecond line"],
        ["K201", "10/2/2024", "HSP/BLK", "$1,234", "2", "NM", "20", "No", "<b>bold</b>"],
        ["K202", "2024/10/03", HOSTILE_VALUES[4], "20000", "3", "NM", "5", "Sí", ""],
        ["K203", "10/04/2024", "ASN", "20000", "3", "NM", "5", "Sí", "=1+2"],
        ["K203", "10/04/2024", "ASN", "20000", "3", "NM", "5", "Sí", "=1+2"],  # sent twice
        ["007", "2024-10-05", "WHT", "30000", "2", "NM", "8", "Sí", ""],
        ["7", "2024-10-05", "BLK", "30000", "2", "NM", "8", "No", ""],
        ["K204", "2024-10-06", HOSTILE_VALUES[9], "30000", "2", "NM", "8", "No", ""],
        ["K205", "2024-10-07", HOSTILE_VALUES[10], "30000", "2", "NM", "8", "No", ""],
        ["K206", "2024-10-08", HOSTILE_VALUES[11], "1 234", "2", "NM", "8", "No", ""],
        ["K207", "2024-10-08", "AIAN", "1 234", "2", "NM", "8", "No", ""],
    ] + [[f"K{210 + i}", f"2024-10-{10 + i}", "HSP", "25000", "3", "HI", str(i), "Sí", ""]
         for i in range(12)] + [
        ["K230", "2024-10-30", "WHT", "18000", "", "NM", "", "Sí", ""]]  # income, no size
    return [r + ["", ""] for r in rows]


def clinic_october_bytes() -> bytes:
    """As Excel's "CSV (Windows)" writes it: cp1252, CRLF, empty formatted rows at the end."""
    return (to_csv(ODD_CLINIC_HEADER, clinic_october()) + ",,,,,,,,,,\r\n" * 2).encode("cp1252")


def clinic_october_loaded() -> list[list[str]]:
    """The October rows as the model reads them: hostile rows set aside, numbers cleaned."""
    out = []
    for row in clinic_october():
        if row[2] in HOSTILE_VALUES.values():
            continue
        out.append([row[0], row[1], row[2], row[3].replace(",", "").replace("$", "")
                    .replace(" ", ""), *row[4:8]])
    return out


def clinic_september() -> list[list[str]]:
    return [[f"K{300 + i}", f"9/{1 + i}/2024", "WHT/HSP", "50000", "4", "NM", "10", "Sí"]
            for i in range(10)]


def clinic_september_bytes() -> bytes:
    """A UTF-8 byte-order mark in front of cp1252 text (a tool that adds the mark itself)."""
    return b"\xef\xbb\xbf" + to_csv(CLINIC_HEADER, clinic_september()).encode("cp1252")


def schools_correction(schools: list[list[str]]) -> list[list[str]]:
    """The complete 2023-24 file again: five students dropped, six results corrected, one new
    student sent twice (both rows are duplicate_key)."""
    year = [list(r) for r in schools if r[1] in ("2023-24", "SY2024", "2023-2024", "SY 2023-24",
                                                 "2024")]
    fix = year[5:]
    for r in fix[:6]:
        r[4] = "N" if r[4] == "Y" else "Y"
    return fix + [["N001", "2023-24", "01", "F", "Y"], ["N001", "2023-24", "01", "F", "Y"]]


def housing_q3() -> list[list[str]]:
    """A new quarter, with one bad household size among good rows (spreadsheet row 6)."""
    rows = [[f"H{500 + i}", "2024Q3", *_flags(("white",)), "", "20000", "3", "NM", "1"]
            for i in range(9)]
    rows.insert(4, ["H599", "2024Q3", *_flags(("black",)), "", "20000", "abc", "NM", "1"])
    return rows


HOSTILE_NAME = "<b>x<i> [y](javascript:alert(1)) =1+1 | pipe.csv"
COALITION_FIX = {("White", "Below 100% FPG"): (1044, 1050),
                 ("Hispanic or Latino", "Below 100% FPG"): (70, 95)}


def coalition_fix_rows() -> list[list[str]]:
    """2024-25 again, counts written with thousands separators."""
    return [[*r[:4], f"{int(r[4]):,}", f"{int(r[5]):,}"]
            for r in aggregate_table("visits_agg", "2024-25", COALITION_FIX)]
