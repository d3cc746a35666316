"""Finding A10 (session 7): the same visible text in decomposed Unicode (NFD: "Si" + U+0301, as
macOS tools and PDF copy-paste write it) and composed (NFC) is one text. Partner cells and
headers match definitions whichever form either side wrote (pipelines/unicode_forms.py), in a
CSV and a workbook alike; a person id is the same person in both forms; messages still quote
what the partner sent."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import duckdb
import pytest

import test_audit7_scenario as J
from pipelines.config import ConfigError
from pipelines.feedback import bad_rows
from pipelines.intake import stage_file

SALT = "salt"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _crosswalk(ws, name: str, old: str, new: str) -> None:
    path = ws.path("schemas", "crosswalks", J.INITIATIVE, name)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _any_id(ws) -> None:
    """The template without its id pattern (ASCII only), for ids with accents."""
    path = ws.path("schemas", "intake", "juniper_v1.yaml")
    text = path.read_text()
    old = ', pattern: "[A-Za-z0-9][A-Za-z0-9_-]{0,31}"}'
    assert old in text
    path.write_text(text.replace(old, "}"))


def _stage(ws, partner: str, name: str, header: list[str], rows: list[list[str]], tmp: Path):
    path = tmp / name
    path.write_text(J.to_csv(header, rows), encoding="utf-8")
    return stage_file(path, ws.load(J.INITIATIVE), partner, SALT, tmp / f"st-{name}")


def _records(staged, columns: str) -> list[tuple]:
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        return con.execute(f"SELECT source_row, {columns} FROM records ORDER BY source_row"
                           ).fetchall()
    finally:
        con.close()


CLINIC_COLUMNS = ("person_key, period, race_white, race_black, race_hispanic, "
                  "race_multi_unspecified, race_reported, immunized, age_months")


def _clinic_rows(ids=("K1", "K2", "K3", "K4", "K5", "K6")) -> list[list[str]]:
    shots = ["Sí", "No", "sÍ", "Sí", "NO", "Sí"]
    races = ["WHT", "HSP/WHT", "BLK", "MULT", "UNK", "HSP"]
    return [[pid, f"2024-0{1 + i % 8}-1{i}", races[i], "45000", "3", "NM", str(10 + i), shots[i]]
            for i, pid in enumerate(ids)]


def test_decomposed_values_and_headers_stage_as_the_composed_file_does(tmp_path):
    """A10: "Sí" (NFD) in a mapped column and "Niño ID" (NFD) as a header: every record equal
    to the same file in NFC, nothing quarantined."""
    ws = J.build(tmp_path / "home")
    rows = _clinic_rows()
    composed = _stage(ws, "clinic", "nfc.csv", J.CLINIC_HEADER, rows, tmp_path)
    decomposed = _stage(ws, "clinic", "nfd.csv", [nfd(h) for h in J.CLINIC_HEADER],
                        [[nfd(c) for c in row] for row in rows], tmp_path)
    for staged in (composed, decomposed):
        assert (staged.status, staged.rows_loaded, staged.rows_quarantined) == (
            "staged", 6, 0), staged.reasons
    assert nfd("Sí") != "Sí" and nfd("Niño ID") != "Niño ID"  # the test means something
    expected = _records(composed, CLINIC_COLUMNS)
    assert [r[-2] for r in expected] == [1, 0, 1, 1, 0, 1]
    assert _records(decomposed, CLINIC_COLUMNS) == expected
    # The partner's own header names the column in messages, as they wrote it.
    assert decomposed.header_names["pid"] == nfd("Niño ID")


def test_a_value_no_code_matches_is_quoted_as_the_partner_sent_it(tmp_path):
    ws = J.build(tmp_path / "home")
    rows = _clinic_rows()
    rows[1][-1] = nfd("Quizás")
    staged = _stage(ws, "clinic", "maybe.csv", J.CLINIC_HEADER, rows, tmp_path)
    assert (staged.status, staged.rows_loaded) == ("staged", 5), staged.reasons
    assert [b[:4] for b in bad_rows(staged.staged_db, "pid")] == [
        (3, "immunized", "wrong_type", nfd("Quizás"))]


def test_a_decomposed_race_code_matches_the_crosswalk(tmp_path):
    ws = J.build(tmp_path / "home")
    _crosswalk(ws, "clinic.yaml", "HSP: hispanic,", "HSP: hispanic, HISPÁNICO: hispanic,")
    nfc_rows, nfd_rows = _clinic_rows(), _clinic_rows()
    for rows, form in ((nfc_rows, nfc), (nfd_rows, nfd)):
        rows[1][2] = form("hispánico/WHT")  # any case, with the separator
        rows[5][2] = form("HISPÁNICO")
        rows[2][2] = form("ÉTNICO")  # no code: quoted as sent
    composed = _stage(ws, "clinic", "nfc.csv", J.CLINIC_HEADER, nfc_rows, tmp_path)
    decomposed = _stage(ws, "clinic", "nfd.csv", J.CLINIC_HEADER, nfd_rows, tmp_path)
    assert _records(decomposed, CLINIC_COLUMNS) == _records(composed, CLINIC_COLUMNS)
    flags = {r[0]: r[1:3] for r in _records(decomposed, "race_white, race_hispanic")}
    assert flags[3] == (True, True) and flags[7] == (False, True)
    bad = bad_rows(decomposed.staged_db, "pid")
    assert [b[:4] for b in bad] == [(4, "race", "unknown_race_code", nfd("ÉTNICO"))]


SCHOOL_PROXY = 'class_proxy: {"Sí": "Low income (proxy)", "No": "Not low income (proxy)"}'


def _school_rows(form) -> list[list[str]]:
    lunch = ["Sí", "No", "sí", "", "Sí", "Tal vez"]
    return [[f"S{i}", form("Año escolar 2023-24") if i % 2 else "2023-24", "01",
             form(lunch[i]), "Y"] for i in range(6)]


def test_decomposed_class_proxy_codes_and_period_labels_match_the_crosswalk(tmp_path):
    ws = J.build(tmp_path / "home")
    _crosswalk(ws, "schools.yaml", 'class_proxy: {F: "Low income (proxy)", R: "Low income '
               '(proxy)", P: "Not low income (proxy)"}', SCHOOL_PROXY)
    _crosswalk(ws, "schools.yaml", "  type: school_year\n",
               '  type: school_year\n  labels: {"AÑO ESCOLAR 2023-24": "2023-24"}\n')
    columns = "person_key, period, class, class_proxy_value, ready"
    composed = _stage(ws, "schools", "nfc.csv", J.SCHOOL_HEADER, _school_rows(nfc), tmp_path)
    decomposed = _stage(ws, "schools", "nfd.csv", J.SCHOOL_HEADER, _school_rows(nfd), tmp_path)
    assert (decomposed.status, decomposed.rows_loaded) == ("staged", 5), decomposed.reasons
    records = _records(decomposed, columns)
    assert records == _records(composed, columns)
    low, high = "Low income (proxy)", "Not low income (proxy)"
    # Kept as the crosswalk spells the code, so measure's own match finds it.
    assert [r[2:4] for r in records] == [("2023-24", low), ("2023-24", high),
                                         ("2023-24", low), ("2023-24", J.NOT_REPORTED),
                                         ("2023-24", low)]
    assert [r[4] for r in records] == [nfc("Sí"), "No", nfc("Sí"), None, nfc("Sí")]
    assert [b[:4] for b in bad_rows(decomposed.staged_db, "pid")] == [
        (7, "lunch", "unknown_proxy_value", nfd("Tal vez"))]


def test_definitions_saved_decomposed_match_composed_files(tmp_path):
    """A crosswalk (and a template) saved on a Mac, every accent decomposed, against a partner
    file in NFC: the same records as with composed definitions."""
    ws = J.build(tmp_path / "home")
    rows = _clinic_rows()
    expected = _records(_stage(ws, "clinic", "before.csv", J.CLINIC_HEADER, rows, tmp_path),
                        CLINIC_COLUMNS)
    for path in [*ws.path("schemas").rglob("*.yaml"), *ws.path("indicators").rglob("*.yaml")]:
        path.write_text(nfd(path.read_text(encoding="utf-8")), encoding="utf-8")
    crosswalk = ws.path("schemas", "crosswalks", J.INITIATIVE, "clinic.yaml")
    assert nfd("Niño ID") in crosswalk.read_text(encoding="utf-8")
    config = ws.load(J.INITIATIVE)
    assert "Niño ID" in config.crosswalks["clinic"].header_aliases  # NFC once loaded
    after = _stage(ws, "clinic", "after.csv", J.CLINIC_HEADER, rows, tmp_path)
    assert (after.status, after.rows_quarantined) == ("staged", 0), after.reasons
    assert _records(after, CLINIC_COLUMNS) == expected


def test_two_keys_that_are_one_text_in_two_forms_are_refused_when_they_disagree(tmp_path):
    ws = J.build(tmp_path / "home")
    _crosswalk(ws, "clinic.yaml", 'immunized: {"Sí": 1, "No": 0}',
               f'immunized: {{"Sí": 1, "{nfd("Sí")}": 0, "No": 0}}')
    with pytest.raises(ConfigError, match="same text"):
        ws.load(J.INITIATIVE)
    _crosswalk(ws, "clinic.yaml", f'"{nfd("Sí")}": 0', f'"{nfd("Sí")}": 1')  # agreeing: fine
    assert ws.load(J.INITIATIVE).crosswalks["clinic"].values["immunized"] == {"Sí": 1, "No": 0}


def test_an_id_in_either_form_is_one_person(tmp_path):
    """The key is the hash of the NFC id: "Zoë1" decomposed is "Zoë1" composed, so in two files
    it is the same key, and both in one file are one person twice (duplicate_key)."""
    ws = J.build(tmp_path / "home")
    _any_id(ws)
    rows = _clinic_rows(ids=("Zoë1", "K2", "K3", "K4", "K5", "Zoë9"))
    composed = _stage(ws, "clinic", "nfc.csv", J.CLINIC_HEADER, rows, tmp_path)
    decomposed = _stage(ws, "clinic", "nfd.csv", J.CLINIC_HEADER,
                        [[nfd(c) for c in row] for row in rows], tmp_path)
    assert _records(decomposed, "person_key") == _records(composed, "person_key")
    # A school year is one row per person: the id twice is a duplicate, whatever its forms.
    school = [[form("Zoë1"), "2023-24", "01", "F", "Y"] for form in (nfc, nfd)]
    both = _stage(ws, "schools", "both.csv", J.SCHOOL_HEADER,
                  [*school, ["S3", "2023-24", "01", "F", "Y"]], tmp_path)
    assert [b[:3] for b in bad_rows(both.staged_db, "pid")] == [
        (2, "pid+visit_on", "duplicate_key"), (3, "pid+visit_on", "duplicate_key")]


def test_a_workbook_in_nfd_stages_as_its_csv(tmp_path):
    import openpyxl

    ws = J.build(tmp_path / "home")
    _any_id(ws)
    rows = [[nfd(c) for c in row] for row in _clinic_rows(ids=("Zoë1", "K2", "K3", "K4", "K5",
                                                                  "K6"))]
    header = [nfd(h) for h in J.CLINIC_HEADER]
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (header, *rows):
        sheet.append(row)
    path = tmp_path / "visits.xlsx"
    book.save(path)
    workbook = stage_file(path, ws.load(J.INITIATIVE), "clinic", SALT, tmp_path / "st-xlsx")
    text = _stage(ws, "clinic", "visits.csv", header, rows, tmp_path)
    assert (workbook.status, workbook.rows_loaded, workbook.rows_quarantined) == (
        "staged", 6, 0), workbook.reasons
    assert _records(workbook, CLINIC_COLUMNS) == _records(text, CLINIC_COLUMNS)


def test_a_crosswalk_sheet_name_matches_a_decomposed_sheet(tmp_path):
    import openpyxl

    ws = J.build(tmp_path / "home")
    _crosswalk(ws, "clinic.yaml", 'race_separator: "/"', 'race_separator: "/"\nsheet: "Niños"')
    book = openpyxl.Workbook()
    book.active.title = "Notas"
    sheet = book.create_sheet(nfd("Niños"))
    for row in (J.CLINIC_HEADER, *_clinic_rows()):
        sheet.append(row)
    path = tmp_path / "visits.xlsx"
    book.save(path)
    staged = stage_file(path, ws.load(J.INITIATIVE), "clinic", SALT, tmp_path / "st")
    assert (staged.status, staged.rows_loaded) == ("staged", 6), staged.reasons


def test_header_names_match_in_any_unicode_form():
    from pipelines.read import normalize_name

    assert normalize_name(nfd("Niño ID")) == normalize_name("Niño ID")
    assert normalize_name("\ufb01rst name") == normalize_name("first name")  # a PDF ligature
    assert normalize_name("\uff29\uff24") == "id"  # full-width letters
    assert normalize_name(nfd("Tamaño Hogar")) != normalize_name("Tamano Hogar")


# Cells in every form a partner may send: each value matched as written first, in NFC only when
# it did not match (the usual cell is a crosswalk's spelling). These compare that path with
# bringing every cell to NFC before the same match.
CELLS = [None, "", "Sí", "sí", "SÍ", "No", "no", "1", "0", "Quizás", "Tal vez", "x", "Zoë1",
         "K1", "Ω", "\u212b", "\u2126", "A\u030a"]


def _cells() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    values = sorted({v for c in CELLS for v in ((c, nfd(c), nfc(c)) if c else (c,))},
                    key=lambda v: (v is None, v or ""))
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    return con


def _compare(con, fast: str, everything_nfc: str) -> None:
    rows = con.execute(f"SELECT v, {fast}, {everything_nfc} FROM t").fetchall()
    assert len(rows) > 20
    assert [r[1] for r in rows] == [r[2] for r in rows], [r for r in rows if r[1] != r[2]]


def test_value_maps_match_as_if_every_cell_were_nfc():
    from pipelines.intake_schema import Crosswalk
    from pipelines.typed import _mapped_text

    crosswalk = Crosswalk(values={"v": {"Sí": 1, "No": 0, "Ω": 2}})
    cases = " ".join(f"WHEN lower(nfc_normalize(v)) = '{k.lower()}' THEN '{w}'"
                     for k, w in crosswalk.values["v"].items())
    _compare(_cells(), _mapped_text("v", crosswalk),
             f"CASE {cases} ELSE nfc_normalize(v) END")


def test_proxy_codes_and_allowed_values_match_as_if_every_cell_were_nfc():
    from pipelines.intake_schema import Crosswalk, IntakeColumn
    from pipelines.typed import _compared_text, _proxy_code

    crosswalk = Crosswalk(class_proxy={"Sí": "Low income (proxy)", "No": "Not low income (proxy)",
                                       "Å": "Low income (proxy)"})
    cases = " ".join(f"WHEN '{k.lower()}' THEN '{k}'" for k in crosswalk.class_proxy)
    con = _cells()
    _compare(con, _proxy_code("v", crosswalk),
             f"coalesce(CASE lower(nfc_normalize(v)) {cases} END, nfc_normalize(v))")
    column = IntakeColumn(name="v", allowed=("Sí", "No", "Ω", "Å"))
    # Allowed values match whatever their case too, spelled as the template spells them.
    spelled = " ".join(f"WHEN '{a.lower()}' THEN '{a}'" for a in column.allowed)
    _compare(con, _compared_text(column),
             f"coalesce(CASE lower(nfc_normalize(v)) {spelled} END, nfc_normalize(v))")
    measure = IntakeColumn(name="v", role="measure")
    _compare(con, _compared_text(measure), "nfc_normalize(v)")
    assert _compared_text(IntakeColumn(name="v")) == "v"  # compared with nothing: as sent


def test_measure_classes_a_stored_proxy_code_in_either_form(tmp_path):
    """Records loaded from a crosswalk saved decomposed hold its decomposed code; the crosswalk
    now loads composed, and measure still classes them."""
    from pipelines.equity.profiles import _class_rank_sql

    ws = J.build(tmp_path / "home")
    _crosswalk(ws, "schools.yaml", 'class_proxy: {F: "Low income (proxy)", R: "Low income '
               '(proxy)", P: "Not low income (proxy)"}', SCHOOL_PROXY)
    config = ws.load(J.INITIATIVE)
    labels = config.standards.class_bands.labels
    con = duckdb.connect()
    con.execute("CREATE TABLE r (_ratio DOUBLE, partner_id VARCHAR, class_proxy_value VARCHAR, "
                "class VARCHAR)")
    con.executemany("INSERT INTO r VALUES (NULL, 'schools', ?, NULL)",
                    [[nfc("Sí")], [nfd("Sí")], ["No"], [nfd("Tal vez")]])
    ranks = [r[0] for r in con.execute(f"SELECT {_class_rank_sql(config)} FROM r").fetchall()]
    low, high = labels.index("Low income (proxy)"), labels.index("Not low income (proxy)")
    assert ranks == [low, low, high, len(labels) - 1]


@pytest.mark.usefixtures("prefect_harness")
def test_a_night_of_decomposed_files_publishes_what_composed_files_do(tmp_path):
    """Through the real nightly flow: a clinic file and a school file in NFD (headers, values,
    race codes, proxy codes, period labels), against composed crosswalks, count exactly what
    the same files in NFC count."""
    cells = []
    for form in (nfc, nfd):
        ws = J.build(tmp_path / form.__name__)
        _crosswalk(ws, "schools.yaml", 'class_proxy: {F: "Low income (proxy)", R: "Low income '
                   '(proxy)", P: "Not low income (proxy)"}', SCHOOL_PROXY)
        _crosswalk(ws, "schools.yaml", "  type: school_year\n",
                   '  type: school_year\n  labels: {"Año escolar 2023-24": "2023-24"}\n')
        J.drop(ws, "clinic", "visits.csv", J.to_csv(
            [form(h) for h in J.CLINIC_HEADER],
            [[form(c) for c in row] for row in J.clinic_rows()]))
        school = [[pid, form("Año escolar 2023-24") if label == "2023-24" else label, race,
                   form({"F": "Sí", "R": "sí", "P": "No"}.get(lunch, lunch)), ready]
                  for pid, label, race, lunch, ready in J.school_rows()]
        J.drop(ws, "schools", "k.csv", J.to_csv([form(h) for h in J.SCHOOL_HEADER], school))
        files = J.night(ws)
        assert {f["status"] for f in files.values()} == {"loaded"}, files
        cells.append(J.warehouse_cells(ws))
    assert cells[0] and cells[1] == cells[0]
    assert any(key[0] == "immunized_m" for key in cells[0])
