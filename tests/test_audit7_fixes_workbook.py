"""Session 7, finding A4: a workbook cell is read as Excel shows it. A student number stored as 42 in a
cell formatted `00000` shows, and saves to CSV, as 00042: the workbook and the CSV a partner would
save from it are the same people (pipelines.workbook_formats)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest

import test_audit7_scenario as J
from pipelines import workbook, workbook_formats
from pipelines.intake import stage_file
from pipelines.workbook_formats import shown_as

ROW = ["2024Q1", 0, 0, 0, 1, 0, 0, 0, None, 45000, 3, "NM", 1]  # after the Client ID


def _rewrite(path: Path, edit) -> None:
    """Rewrite some parts of an .xlsx: `edit(name, text)` returns the new text, or None to keep."""
    with zipfile.ZipFile(path) as book:
        parts = [(info, book.read(info.filename)) for info in book.infolist()]
    extra = edit(None, None) or {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for info, data in parts:
            changed = edit(info.filename, data.decode("utf-8"))
            book.writestr(info, data if changed is None else changed.encode("utf-8"))
        for name, text in extra.items():
            book.writestr(name, text)


def _shared_strings(path: Path, texts: set[str]) -> None:
    """Store the inline-string cells holding `texts` as shared strings (openpyxl writes inline
    strings; Excel writes shared ones)."""
    table: list[str] = []

    def share(match: re.Match) -> str:
        if match.group(2) not in texts:
            return match.group(0)
        table.append(match.group(2))
        return f'<c{match.group(1)} t="s"><v>{len(table) - 1}</v></c>'

    def edit(name, text):
        if name is None:
            return None
        if name.endswith("sheet1.xml"):
            return re.sub(r'<c([^>]*?) t="inlineStr"><is><t>([^<]*)</t></is></c>', share, text)
        return None
    _rewrite(path, edit)
    assert table, "no cell was made a shared string"
    strings = ('<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
               f'count="{len(table)}" uniqueCount="{len(table)}">'
               + "".join(f"<si><t>{t}</t></si>" for t in table) + "</sst>")

    def add(name, text):
        if name is None:
            return {"xl/sharedStrings.xml": strings}
        if name == "[Content_Types].xml":
            return text.replace("</Types>", '<Override PartName="/xl/sharedStrings.xml" '
                                "ContentType=\"application/vnd.openxmlformats-officedocument."
                                'spreadsheetml.sharedStrings+xml"/></Types>')
        if name == "xl/_rels/workbook.xml.rels":
            return text.replace("</Relationships>", '<Relationship Id="rIdS" Type="http://schemas'
                                ".openxmlformats.org/officeDocument/2006/relationships/"
                                'sharedStrings" Target="sharedStrings.xml"/></Relationships>')
        return None
    _rewrite(path, add)


def _person_keys(staged) -> list[tuple]:
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        return con.execute("SELECT person_key, household_income FROM records ORDER BY source_row"
                           ).fetchall()
    finally:
        con.close()


# The ids as the workbook holds them, their formats, and what Excel shows (and saves to CSV).
IDS = [(42, "00000", "00042"), (7, '"H"00000', "H00007"), (123456789, "000-00-0000", "123-45-6789"),
       (45, None, "45"), ("00043", None, "00043"), ("00044", None, "00044"),
       ("00046", "00000", "00046"), (47.0, "0", "47")]


def test_a_padded_workbook_id_is_the_same_person_as_in_the_csv_excel_saves(tmp_path):
    """A title block above the table starting in column B; a padded id column next to an
    unpadded number column (and one padded number column: still its number); ids typed as text
    stored as a shared string and as an inline string; a padded style on a text cell."""
    config = J.build(tmp_path / "home").load(J.INITIATIVE)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.cell(1, 2, "Juniper housing, Q1 2024")  # title block, then a blank row
    for c, name in enumerate(J.HOUSING_HEADER):
        sheet.cell(3, 2 + c, name)
    for r, (value, code, _) in enumerate(IDS):
        cell = sheet.cell(4 + r, 2, value)
        if code:
            cell.number_format = code
        for c, other in enumerate(ROW):
            sheet.cell(4 + r, 3 + c, other)
        income = sheet.cell(4 + r, 3 + ROW.index(45000))
        income.value = 45000 + r
        if r % 2:
            income.number_format = "00000000"  # a padded measure still reads as its number
    book.save(tmp_path / "housing.xlsx")
    _shared_strings(tmp_path / "housing.xlsx", {"00043"})  # 00044 stays an inline string
    shown = [[text, *["" if v is None else str(v) for v in ROW]] for _, _, text in IDS]
    for r, row in enumerate(shown):
        row[1 + ROW.index(45000)] = f"{45000 + r:08d}" if r % 2 else str(45000 + r)
    (tmp_path / "housing.csv").write_text(J.to_csv(J.HOUSING_HEADER, shown))

    answers = []
    for name in ("housing.xlsx", "housing.csv"):
        staged = stage_file(tmp_path / name, config, "housing", "salt", tmp_path / f"st-{name}")
        assert (staged.status, staged.rows_quarantined) == ("staged", 0), staged.problems
        answers.append(_person_keys(staged))
    assert answers[0] == answers[1]
    assert [income for _, income in answers[0]] == [45000.0 + r for r in range(len(IDS))]
    assert len({key for key, _ in answers[0]}) == len(IDS)


def _to_csv(path: Path, tmp_path: Path) -> list[str]:
    target = tmp_path / f"{path.stem}-{len(list(tmp_path.iterdir()))}.csv"
    workbook.to_csv(path, target, maps=lambda text: text in ("id", "n", "note"))
    return target.read_text().splitlines()


def test_only_numbers_in_padded_cells_change_against_reading_without_formats(tmp_path,
                                                                              monkeypatch):
    """The same workbook with and without format reading: every cell is the same text except
    the numbers whose format pads them (the path without formats is the one before)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "n", "note"])
    rows = [(5, 5, "a"), ("x", 1.5, "b"), (12.0, -3, None), (-4, 2.25, "05"), (True, 0, "c")]
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            sheet.cell(r, c, value).number_format = "0000" if c != 2 else "General"
    sheet.cell(4, 3).number_format = "0000"
    book.save(tmp_path / "mixed.xlsx")
    formatted = _to_csv(tmp_path / "mixed.xlsx", tmp_path)
    monkeypatch.setattr(workbook_formats, "read", lambda *args: None)
    plain = _to_csv(tmp_path / "mixed.xlsx", tmp_path)
    assert plain == ["id,n,note", "5,5,a", "x,1.5,b", "12,-3,", "-4,2.25,05", "TRUE,0,c"]
    assert formatted == ["id,n,note", "0005,5,a", "x,1.5,b", "0012,-3,", "-0004,2.25,05",
                         "TRUE,0,c"]


@pytest.mark.parametrize("code, value, text", [
    ("00000", 42, "00042"), ("00000", 42.0, "00042"), ("00000", 42.5, "00043"),
    ("00000", -42.5, "-00043"), ("00000", 0.4, "00000"), ("00000", 1234567, "1234567"),
    ("000000000", 12345, "000012345"), ('"ID"0000', 42, "ID0042"), ("\\A000", 7, "A007"),
    ("000-00-0000", 1234567890, "1234-56-7890"), ("00000-0000", 123456789, "12345-6789"),
    ("00000", 12345678901234567.0, "12345678901234600"),  # Excel shows 15 significant digits
    ("0", 42.6, None), ('0" kg"', 5, None), ("0.00", 1, None), ("#,##0", 1, None),
    ("00000;-00000", 1, None), ("[Red]00000", 1, None), ("@", 1, None), ("General", 1, None),
    ("0%", 0.45, None), ("00000", 1e300, None)])
def test_format_codes_that_pad_a_whole_number(code, value, text):
    shown = shown_as(code)
    assert (shown.text(value) if shown else None) == text


def _excel_like(path: Path) -> None:
    """Strip cell references and prefix every element, as some writers (not Excel) do."""
    def edit(name, text):
        if name is None or not name.endswith("sheet1.xml"):
            return None
        text = re.sub(r' r="[A-Z]+\d+"', "", text)
        text = re.sub(r"<(/?)([A-Za-z]+)\b", lambda m: f"<{m.group(1)}x:{m.group(2)}", text)
        return text.replace("<x:worksheet xmlns=", "<x:worksheet xmlns:x=")
    _rewrite(path, edit)


def test_cells_without_references_and_prefixed_elements_are_placed_by_their_order(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "n", "note"])
    for r in range(2, 5):
        sheet.append([r, r, "x"])
        sheet.cell(r, 2).number_format = "000"
    book.save(tmp_path / "bare.xlsx")
    _excel_like(tmp_path / "bare.xlsx")
    assert "<x:c s=" in zipfile.ZipFile(tmp_path / "bare.xlsx").read(
        "xl/worksheets/sheet1.xml").decode()
    assert _to_csv(tmp_path / "bare.xlsx", tmp_path) == ["id,n,note", "2,002,x", "3,003,x",
                                                         "4,004,x"]


def test_a_workbook_without_a_padded_format_opens_no_sheet_xml(tmp_path, monkeypatch):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "n"])
    sheet.append([1, 0.5])
    sheet.cell(2, 2).number_format = "0.00"
    book.save(tmp_path / "plain.xlsx")
    opened: list[str] = []
    real = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real(self, name, *args, **kwargs)
    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    assert workbook_formats.read(tmp_path / "plain.xlsx", "Sheet") is None
    assert opened == ["xl/_rels/workbook.xml.rels", "xl/styles.xml"]


def test_a_long_padded_column_is_held_as_one_run(tmp_path):
    """Memory follows the runs of a format down a column, not its cells."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Big")
    padded = openpyxl.styles.NamedStyle(name="padded", number_format="00000")
    book.add_named_style(padded)
    sheet.append(["id", "n"])
    for r in range(5000):
        cell = openpyxl.cell.WriteOnlyCell(sheet, value=r)
        cell.style = "padded"
        sheet.append([cell, r])
    book.save(tmp_path / "big.xlsx")
    formats = workbook_formats.read(tmp_path / "big.xlsx", "Big")
    assert list(formats.columns) == [0]
    assert (formats.columns[0].starts, formats.columns[0].ends) == ([1], [5000])
    lines = _to_csv(tmp_path / "big.xlsx", tmp_path)
    assert lines[1] == "00000,0" and lines[-1] == "04999,4999" and len(lines) == 5001


def test_a_sheet_named_in_the_crosswalk_is_the_one_whose_formats_are_read(tmp_path):
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Notes"
    first.append(["id", "n"])
    first.append([1, 1])
    data = book.create_sheet("Data & more")  # escaped in workbook.xml
    data.append(["id", "n"])
    data.append([9, 9])
    data.cell(2, 1).number_format = "000"
    book.save(tmp_path / "two.xlsx")
    target = tmp_path / "two.csv"
    workbook.to_csv(tmp_path / "two.xlsx", target, "Data & more", lambda t: t in ("id", "n"))
    assert target.read_text().splitlines() == ["id,n", "009,9"]
    workbook.to_csv(tmp_path / "two.xlsx", target, None, lambda t: t in ("id", "n"))
    assert target.read_text().splitlines() == ["id,n", "1,1"]


TRICKY_SHEET = (
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    '<row r="1" s="1" customFormat="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>n</t></is></c></row>'
    '<row r="2"><c s="1" r="A2"><v>7</v></c><c r="B2" t="inlineStr" s="1"><is><t>07</t></is></c>'
    '</row>'
    "<row r='3'><c r='A3' s='1' t='n'><v>8</v></c><c r=\"B3\"\n s=\"1\"><v>9</v></c></row>"
    '<row r="4"><c r="A4" t="inlineStr"><is><t> s="1" is text</t></is></c>'
    '<c r="B4" xs="1"><v>10</v></c></row>'
    '<row r="5"><c r="A5" s="1"><f>IF(B5=1, "s=\'1\'", 0)</f><v>11</v></c>'
    '<c r="B5" s="1" t="b"><v>1</v></c></row>'
    '</sheetData></worksheet>')


def test_the_fast_scan_finds_exactly_the_cells_the_full_walk_finds(tmp_path):
    """Attributes in any order and quoting, row styles, text that reads like a style, a padded
    style on text and on a boolean: the regular-expression scan and expat agree."""
    book = openpyxl.Workbook()
    book.active.cell(1, 1, 1).number_format = "000"
    book.save(tmp_path / "tricky.xlsx")
    _rewrite(tmp_path / "tricky.xlsx", lambda name, text: TRICKY_SHEET if name and name.endswith(
        "sheet1.xml") else None)
    with zipfile.ZipFile(tmp_path / "tricky.xlsx") as archive:
        mattering = workbook_formats._mattering_styles(archive, "xl/styles.xml")
        assert list(mattering) == [1]
        part = "xl/worksheets/sheet1.xml"
        fast = workbook_formats._scan(archive, part, mattering)
        full = workbook_formats._walk(archive, part, mattering)
    assert {c: (r.starts, r.ends) for c, r in fast.items()} == \
        {c: (r.starts, r.ends) for c, r in full.items()} == {0: ([1, 4], [2, 4]), 1: ([2], [2])}
    assert _to_csv(tmp_path / "tricky.xlsx", tmp_path) == [
        "id,n", "007,07", "008,009", '"s=""1"" is text",10', "011,TRUE"]  # calamine trims <t>


def test_a_workbook_with_many_padded_styles_is_scanned_without_a_long_pattern(tmp_path):
    """Past 64 padded styles the scan matches any style number and checks it: same cells."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "n"])
    for r in range(2, 82):  # 80 distinct padded formats, one per row, and a plain cell beside
        sheet.cell(r, 1, r).number_format = "0" * (2 + r % 40) + ("" if r < 42 else '"x"')
        sheet.cell(r, 2, r).number_format = "0.0"
    book.save(tmp_path / "many.xlsx")
    with zipfile.ZipFile(tmp_path / "many.xlsx") as archive:
        mattering = workbook_formats._mattering_styles(archive, "xl/styles.xml")
        assert len(mattering) == 80
        part = "xl/worksheets/sheet1.xml"
        fast = workbook_formats._scan(archive, part, mattering)
        full = workbook_formats._walk(archive, part, mattering)
    runs = {c: (r.starts, r.ends, r.shown) for c, r in fast.items()}
    assert runs == {c: (r.starts, r.ends, r.shown) for c, r in full.items()}
    assert list(runs) == [0] and runs[0][0] == list(range(1, 81))
    lines = _to_csv(tmp_path / "many.xlsx", tmp_path)
    assert lines[1] == "0002,2" and lines[-1] == f"{81:0{2 + 81 % 40}d}x,81"


def _padded_id_beside_a_percentage(path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "n"])
    sheet.append([42, 0.45])
    sheet.cell(2, 1).number_format = "00000"
    sheet.cell(2, 2).number_format = "0%"
    book.save(path)


def test_padded_ids_beside_percent_cells_each_are_shown_as_excel_shows_them(tmp_path):
    """One reader of the sheet's number formats shows both kinds of cell in one row."""
    _padded_id_beside_a_percentage(tmp_path / "both.xlsx")
    assert _to_csv(tmp_path / "both.xlsx", tmp_path) == ["id,n", "00042,45%"]


def test_percent_and_padded_cells_that_do_not_say_where_they_are_are_still_shown(tmp_path):
    """Cells without `r` (Excel always writes one; other tools may not) are found by walking the
    sheet: a percentage is never read as its stored number, a padded id keeps its zeros."""
    _padded_id_beside_a_percentage(tmp_path / "nowhere.xlsx")
    _rewrite(tmp_path / "nowhere.xlsx", lambda name, text: re.sub(r'<c r="[A-Z]+[0-9]+"', "<c", text)
             if name and name.endswith("sheet1.xml") else None)
    with zipfile.ZipFile(tmp_path / "nowhere.xlsx") as archive:
        assert ' r="A2"' not in archive.read("xl/worksheets/sheet1.xml").decode()
    assert _to_csv(tmp_path / "nowhere.xlsx", tmp_path) == ["id,n", "00042,45%"]
