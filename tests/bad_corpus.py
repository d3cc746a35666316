"""A corpus of bad (and tricky but valid) partner files, and what the partner should be told.

Every case is data: the partner folder, the file name, the bytes (or a builder for links and
folders), and the expected ending: "rejected" with rule codes (and the row/column the reason names),
"loaded" with the exact quarantined (row, column, rule) cells, or "ignored" for names discover
leaves on purpose (files still being written, dotfiles). Files are generated at test time; nothing
binary is committed. Expectations are written from the partner's side: a case that fails because
the pipeline does something unreasonable is a bug, marked with `bug=` (strict xfail).

Person-level files use period 2023 so the good 2024 sample files stay current in the end-to-end run.
Every dropped file looks settled (written long ago) unless its case is `fresh`: still being
uploaded, which discover must leave alone.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCHOOLS = "riverbend_schools"
CLINIC = "northside_clinic"
BRIGHT = "bright_start"
HOUSING = "riverbend_housing"
REGISTERED = (SCHOOLS, CLINIC, BRIGHT, HOUSING)
LOOSE = ""  # the "partner folder" of a file dropped directly in the initiative's intake folder
UNREGISTERED = "_unregistered"  # what discover files unattributable things under

SCHOOLS_HEADER = "Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met"
CLINIC_HEADER = "PersonalID,ReportYear,HouseholdIncome,HouseholdSize,State,WCV"
BRIGHT_HEADER = ('"Child ID";"Program Year";"Race / Ethnicity";"Family Income ($)";"Family Size";'
                 '"Ready for K?";"Medicaid?"')
AGG_HEADER = "indicator_id,period,race,class,numerator,denominator"
# A housing table for 2023 whose subgroups add up: rows 2-6 of every aggregate file below.
AGG_2023 = ["stable_housing,2023,ALL,ALL,30,50", "stable_housing,2023,White,ALL,20,30",
            "stable_housing,2023,Asian,ALL,10,20", "stable_housing,2023,ALL,Below 100% FPG,12,25",
            "stable_housing,2023,ALL,400%+ FPG,18,25"]
FORMULAS = {
    "hyperlink": '=HYPERLINK("http://evil.example/x","click")',
    "cmd": "+cmd|' /C calc'!A0",
    "at_sum": "@SUM(1+1)*cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
}
OUTSIDE_TARGET = "outside_target.csv"  # a partner-looking file outside the workspace


@dataclass(frozen=True)
class Expect:
    status: str  # "rejected" | "loaded" | "duplicate" | "ignored"
    rules: tuple[str, ...] = ()  # rejected: file-level rule codes in order (the first is reason_code)
    row: int | None = None  # rejected: the spreadsheet row the first reason names
    column: str | None = None  # rejected: the column the first reason names
    quarantined: frozenset[tuple[int, str, str]] = frozenset()  # loaded: (row, column or "", rule)
    rows_loaded: int | None = None
    says: str = ""  # a phrase the first reason (or every quarantine message) must contain
    values: tuple[tuple[int, str, object], ...] = ()  # loaded: (row, record column, value)


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    partner: str
    name: str
    expect: Expect
    content: bytes = b""
    build: Callable[[Path, Path], Path] | None = None  # (partner folder, outside dir) -> path
    same_as: str | None = None  # a re-drop: that case's file was loaded before this one
    bug: str | None = None  # the pipeline is wrong here: strict xfail with this reason
    e2e: bool = True  # False only when the bug would crash the whole nightly run
    shown_as: str | None = None  # the name the file is answered under, when not `name`
    fresh: bool = False  # written just now (an upload in progress): must be left alone
    filed_under: str | None = None  # the partner id it is recorded under, when not derived

    @property
    def filed_as(self) -> str:
        """The partner id the file is answered under: never a real partner's, unless it is one."""
        if self.filed_under is not None:
            return self.filed_under
        if self.partner in REGISTERED:
            return self.partner
        return f"{UNREGISTERED}/{self.partner}" if self.partner else UNREGISTERED

    @property
    def answered_name(self) -> str:
        return self.shown_as or self.name

    def place(self, intake: Path, outside: Path) -> Path:
        """Put this case in `intake/<partner>/` as a partner would; return the dropped path."""
        folder = intake / self.partner
        folder.mkdir(parents=True, exist_ok=True)
        if self.build is not None:
            return self.build(folder, outside)
        path = folder / self.name
        path.write_bytes(self.content)
        return path


def rejected(*rules: str, row: int | None = None, column: str | None = None,
             says: str = "") -> Expect:
    return Expect("rejected", rules, row, column, says=says)


def loaded(*quarantined: tuple[int, str, str], rows: int | None = None, says: str = "",
           values: tuple = ()) -> Expect:
    return Expect("loaded", quarantined=frozenset(quarantined), rows_loaded=rows, says=says,
                  values=values)


IGNORED = Expect("ignored")


def lines(header: str, rows: list[str], eol: str = "\n") -> str:
    return eol.join([header, *rows]) + eol


def schools(*bad: str, tag: str, good: int = 8, tail: tuple[str, ...] = (),
            header: str = SCHOOLS_HEADER, eol: str = "\n", encoding: str = "utf-8") -> bytes:
    """The school district's export: the given rows first (row 2 on), then `good` valid rows."""
    rows = [*bad, *(f"{tag}{i:03d},2023,700,F,Y" for i in range(good)), *tail]
    return lines(header, rows, eol).encode(encoding)


def clinic(*bad: str, tag: str, good: int = 8) -> bytes:
    rows = [*bad, *(f"{tag}{i:03d},2023,\"$42,000\",4,WA,1" for i in range(good))]
    return lines(CLINIC_HEADER, rows).encode()


def bright(*bad: str, tag: str, good: int = 6) -> bytes:
    rows = [*bad, *(f"{tag}{i:03d};2023;Latino, Black;$31,000;3;Yes;Yes" for i in range(good))]
    return lines(BRIGHT_HEADER, rows).encode("cp1252")


def housing(*rows: str) -> bytes:
    return lines(AGG_HEADER, list(rows)).encode()


def q(row: int, column: str, rule: str) -> tuple[int, str, str]:
    return (row, column, rule)


def _zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _xlsx(sheet: str) -> bytes:
    return _zip({"[Content_Types].xml": '<?xml version="1.0"?><Types/>',
                 "xl/workbook.xml": f"<workbook><sheets><sheet name='{sheet}'/></sheets></workbook>",
                 "xl/worksheets/sheet1.xml": "<worksheet><sheetData/></worksheet>"})


def _workbook(csv_bytes: bytes) -> bytes:
    """A real .xlsx holding these CSV rows, numbers typed as numbers as Excel would keep them."""
    import openpyxl

    book = openpyxl.Workbook()
    for line in csv_bytes.decode().splitlines():
        book.active.append([int(c) if c.isdigit() else c for c in line.split(",")])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


DOCX = _zip({"[Content_Types].xml": '<?xml version="1.0"?><Types/>',
             "word/document.xml": "<document><body>Student Number, School Year</body></document>"})
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00"
       b"\x00\x90\x91h6\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"
       b"2 0 obj << /Length 44 >> stream\nBT /F1 12 Tf (Student Number, School Year) Tj ET\n"
       b"endstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
OLE_XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56) + b"\x03\x00>\x00"


def _symlink_to(target: Callable[[Path], Path]) -> Callable[[Path, Path], Path]:
    def build(folder: Path, outside: Path, name: str) -> Path:
        link = folder / name
        link.symlink_to(target(outside))
        return link
    return build


def link_case(id: str, name: str, target: Callable[[Path], Path], bug: str | None = None) -> Case:
    make = _symlink_to(target)
    return Case(id, "path traversal", SCHOOLS, name,
                rejected("symlink", says="link to another file"),
                build=lambda folder, outside: make(folder, outside, name), bug=bug, e2e=bug is None)


def _hard_link(folder: Path, outside: Path) -> Path:
    link = folder / "RUSD hard link.csv"
    os.link(outside / OUTSIDE_TARGET, link)
    return link


def _linked_partner_folder(name: str) -> Callable[[Path, Path], Path]:
    def build(intake: Path, outside: Path) -> Path:
        link = intake / name
        link.symlink_to(outside, target_is_directory=True)
        return link
    return build


NON_UTF8_NAME = b"RUSD caf\xe9 2023.csv"  # Latin-1 'é' from a Windows upload: not UTF-8


def _non_utf8_name(folder: Path, outside: Path) -> Path:
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + NON_UTF8_NAME))
    path.write_bytes(schools(tag="CAFE"))
    return path


def _subfolder(folder: Path, outside: Path) -> Path:
    sub = folder / "2023 exports"
    sub.mkdir()
    (sub / "RUSD_outcomes_2023.csv").write_bytes(schools(tag="SUB"))
    return sub


def _stranger(folder: Path, outside: Path) -> Path:
    path = folder / "theirs.csv"
    path.write_bytes(schools(tag="STR"))
    return path


WIDE_HEADER = SCHOOLS_HEADER + "".join(f",Extra column number {i}" for i in range(3000))
WIDE_ROWS = [f"W{i:03d},2023,700,F,Y" + "," * 3000 for i in range(8)]
UTF8_ROW = "M1;2023;Latino;;3;Sí;Yes\n".encode()
CP1252_ROW = "M2;2023;Latino;;3;Sí;No\n".encode("cp1252")  # the same 'Sí', but as byte 0xED

VALID_ORIGINAL = schools(tag="ORIG")

CASES: list[Case] = [
    # --- encodings -------------------------------------------------------------------------
    Case("utf16le_without_bom", "encoding", SCHOOLS, "RUSD utf16le.csv", loaded(rows=8),
         schools(tag="U16L", encoding="utf-16-le")),
    Case("utf16be_without_bom", "encoding", SCHOOLS, "RUSD utf16be.csv", loaded(rows=8),
         schools(tag="U16B", encoding="utf-16-be")),
    Case("utf16_bom_tab_txt_valid", "encoding", SCHOOLS, "RUSD unicode text.txt", loaded(rows=8),
         codecs.BOM_UTF16_LE + schools(tag="UTAB", header=SCHOOLS_HEADER).decode()
         .replace(",", "\t").encode("utf-16-le")),
    Case("cp1252_valid", "encoding", BRIGHT, "BrightStart cp1252.csv",
         loaded(rows=7, values=((2, "kinder_ready", 1),)),
         bright("C1;2023;Latino;$28,000;4;Sí;Yes", tag="CP")),
    Case("utf8_mixed_with_cp1252_bytes", "encoding", BRIGHT, "BrightStart mixed.csv",
         loaded(rows=8, values=((2, "kinder_ready", 1), (3, "kinder_ready", 1))),
         BRIGHT_HEADER.encode() + b"\n" + UTF8_ROW + CP1252_ROW
         + bright(tag="MX").decode("cp1252").split("\n", 1)[1].encode()),
    Case("invalid_bytes_in_data_row", "encoding", SCHOOLS, "RUSD invalid bytes.csv",
         rejected("unknown_encoding", row=3, says="line 3"),
         schools("E1,2023,700,F,Y", "E2,2023,700,F,Y", tag="INV").replace(
             b"E2,2023,700", b"E2\x81\x8d\x90,2023,700")),
    Case("invalid_bytes_in_header", "encoding", SCHOOLS, "RUSD invalid header.csv",
         rejected("unknown_encoding", row=1, says="CSV UTF-8"),
         schools(tag="INH").replace(b"Student Number", b"Student\x9d\x81 Number")),

    # --- CSV structure -----------------------------------------------------------------------
    Case("short_row", "ragged rows", SCHOOLS, "RUSD short row.csv",
         loaded(q(3, "", "malformed_row"), rows=9, says="fewer cells"),
         schools("R1,2023,700,F,Y", "R2,2023", tag="SHO")),
    Case("long_row", "ragged rows", SCHOOLS, "RUSD long row.csv",
         loaded(q(2, "", "malformed_row"), rows=8, says="more cells"),
         schools("R3,2023,700,F,Y,Oak Park", tag="LON")),
    Case("mostly_ragged_rows", "ragged rows", SCHOOLS, "RUSD mostly ragged.csv",
         rejected("too_many_bad_rows", says="fewer cells"),
         schools(*(f"R{i},2023" for i in range(5)), tag="MOR", good=2)),
    Case("unterminated_quote", "ragged rows", SCHOOLS, "RUSD open quote.csv",
         rejected("unterminated_quote", row=3, says="never closes"),
         schools("Q0,2023,700,F,Y", 'Q1,2023,"700,F,Y', tag="UNQ")),
    Case("unterminated_quote_last_row", "ragged rows", SCHOOLS, "RUSD open quote at end.csv",
         loaded(q(10, "", "malformed_row"), rows=8, says="quote"),
         schools(tag="UNL", tail=('Q9,2023,"700,F,Y',))),
    Case("text_after_closing_quote", "ragged rows", SCHOOLS, "RUSD stray quote.csv",
         loaded(q(2, "", "malformed_row"), rows=8, says="quote"),
         schools('Q2,2023,"700"x,F,Y', tag="STQ")),
    Case("blank_lines_between_rows", "ragged rows", SCHOOLS, "RUSD blank lines.csv",
         loaded(q(6, "race", "unknown_race_code"), rows=9),
         lines(SCHOOLS_HEADER, ["B0,2023,700,F,Y", "B1,2023,700,F,Y", "", "", "B2,2023,800,F,Y",
                                *(f"BL{i},2023,700,F,Y" for i in range(7))]).encode()),
    Case("blank_line_crlf_then_ragged", "ragged rows", SCHOOLS, "RUSD blank crlf.csv",
         loaded(q(4, "", "malformed_row"), q(5, "race", "unknown_race_code"), rows=10),
         lines(SCHOOLS_HEADER, ["C0,2023,700,F,Y", "", "C1,2023", "C2,2023,800,F,Y",
                                *(f"CL{i},2023,700,F,Y" for i in range(9))], "\r\n").encode()),
    Case("quoted_newlines_valid", "tricky valid", SCHOOLS, "RUSD notes.csv",
         loaded(q(4, "race", "unknown_race_code"), rows=9),
         lines(SCHOOLS_HEADER + ",Notes", [
             'N0,2023,700,F,Y,"moved in March,\nback in May"', 'N1,2023,700,F,Y,"say ""hi"""',
             "N2,2023,800,F,Y,", *(f"NL{i},2023,700,F,Y," for i in range(7))]).encode()),

    # --- not text at all ---------------------------------------------------------------------
    Case("png_named_csv", "binary", SCHOOLS, "RUSD chart.csv", rejected("not_a_csv", says="PNG"),
         PNG),
    Case("pdf_named_csv", "binary", SCHOOLS, "RUSD report.csv", rejected("not_a_csv", says="PDF"),
         PDF),
    Case("zip_named_csv", "binary", SCHOOLS, "RUSD bundle.csv", rejected("not_a_csv", says="ZIP"),
         _zip({"RUSD_outcomes_2023.csv": schools(tag="ZIP").decode()})),
    # Workbooks are read by their content whatever their name: these two are damaged ones.
    Case("xlsx_named_csv", "binary", SCHOOLS, "RUSD workbook.csv",
         rejected("unreadable_workbook", says="Excel workbook"), _xlsx("RUSD")),
    Case("xls_named_csv", "binary", SCHOOLS, "RUSD old workbook.csv",
         rejected("unreadable_workbook", says="Excel workbook"), OLE_XLS),
    Case("gzip_named_csv", "binary", SCHOOLS, "RUSD compressed.csv",
         rejected("not_a_csv", says="compressed"), gzip.compress(schools(tag="GZ"), mtime=0)),
    Case("executable_named_csv", "binary", SCHOOLS, "RUSD program.csv",
         rejected("binary_file", says="binary data"), ELF),

    # --- empty -------------------------------------------------------------------------------
    Case("zero_bytes", "empty", SCHOOLS, "RUSD empty.csv", rejected("empty_file", says="0 bytes"),
         b""),
    Case("whitespace_only", "empty", SCHOOLS, "RUSD blank.csv",
         rejected("empty_file", says="blank lines"), b"  \r\n\t\n\n   \n"),
    Case("bom_only", "empty", SCHOOLS, "RUSD bom only.csv", rejected("empty_file"),
         codecs.BOM_UTF8 + b"\r\n"),
    Case("header_only", "empty", SCHOOLS, "RUSD header only.csv",
         rejected("no_rows", says="no data rows"), (SCHOOLS_HEADER + "\n").encode()),
    Case("header_then_blank_lines", "empty", SCHOOLS, "RUSD header blank lines.csv",
         rejected("no_rows", says="no data rows"), (SCHOOLS_HEADER + "\r\n\r\n\r\n").encode()),

    # --- sizes -------------------------------------------------------------------------------
    Case("cell_over_1mb", "huge", SCHOOLS, "RUSD huge cell.csv",
         loaded(q(3, "", "malformed_row"), rows=8, says="1 MB"),
         schools("H0,2023,700,F,Y", "H1,2023,700,F," + "Y" * 1_100_000, tag="HUG", good=7)),
    Case("header_of_3000_columns", "huge", SCHOOLS, "RUSD wide.csv", loaded(rows=8),
         lines(WIDE_HEADER, WIDE_ROWS).encode()),
    Case("header_cell_over_128k", "huge", SCHOOLS, "RUSD long header cell.csv",
         rejected("bad_header", row=1, says="column names"),
         schools(tag="HC", header=SCHOOLS_HEADER + "," + "N" * 200_000)),
    Case("header_line_over_1mb", "huge", SCHOOLS, "RUSD long header.csv",
         rejected("bad_header", row=1, says="column names"),
         schools(tag="HL", header=SCHOOLS_HEADER + "".join(f",c{i:07d}" for i in range(130_000)))),

    # --- SQL injection -----------------------------------------------------------------------
    Case("sql_in_header_name", "sql injection", SCHOOLS, "RUSD sql header.csv", loaded(rows=8),
         schools(tag="SQH", header=SCHOOLS_HEADER + ',"x""); DROP TABLE submissions; --"')
         .replace(b",Y\n", b",Y,1\n")),
    Case("sql_as_required_header", "sql injection", SCHOOLS, "RUSD sql required header.csv",
         rejected("missing_column", row=1, column="person_id", says="Student Number"),
         schools(tag="SQR", header=SCHOOLS_HEADER.replace(
             "Student Number", "Student Number'); DROP TABLE records;--"))),
    Case("sql_in_values", "sql injection", SCHOOLS, "RUSD sql values.csv",
         loaded(q(2, "person_id", "bad_format"), q(3, "race", "unknown_race_code"),
                q(4, "period", "bad_period"), q(5, "low_income_proxy", "unknown_proxy_value"),
                rows=8),
         schools("x'); DROP TABLE records;--,2023,700,F,Y",
                 "S2,2023,700'); DROP TABLE submissions;--,F,Y",
                 "S3,2023; DROP TABLE quarantine,700,F,Y",
                 "S4,2023,700,Robert'); DROP TABLE students;--,Y", tag="SQV")),
    Case("sql_in_file_name", "sql injection", SCHOOLS, "x'); DROP TABLE submissions;--.csv",
         loaded(rows=8), schools(tag="SQF")),
    Case("sql_in_partner_folder", "sql injection", "x'); DROP TABLE submissions;--", "data.csv",
         rejected("unknown_partner", says="not a partner"), schools(tag="SQP")),

    # --- formula injection: may be quarantined, must be neutralised in the bad_rows CSV ---------
    Case("formula_hyperlink", "formula injection", SCHOOLS, "RUSD formula race.csv",
         loaded(q(2, "race", "unknown_race_code"), rows=8),
         schools('F1,2023,"' + FORMULAS["hyperlink"].replace('"', '""') + '",F,Y', tag="FHL")),
    Case("formula_plus_cmd", "formula injection", SCHOOLS, "RUSD formula lunch.csv",
         loaded(q(2, "low_income_proxy", "unknown_proxy_value"), rows=8),
         schools(f"F2,2023,700,{FORMULAS['cmd']},Y", tag="FPC")),
    Case("formula_at_sum", "formula injection", SCHOOLS, "RUSD formula year.csv",
         loaded(q(2, "period", "bad_period"), rows=8),
         schools(f"F3,{FORMULAS['at_sum']},700,F,Y", tag="FAS")),
    Case("formula_minus", "formula injection", CLINIC, "northside formula income.csv",
         loaded(q(2, "household_income", "wrong_type"), rows=8),
         clinic(f"F4,2023,{FORMULAS['minus']},4,WA,1", tag="FMI")),
    Case("formula_as_person_id", "formula injection", SCHOOLS, "RUSD formula id.csv",
         loaded(q(2, "person_id", "bad_format"), rows=8),
         schools("=1+1,2023,700,F,Y", tag="FID")),

    # --- names and places --------------------------------------------------------------------
    Case("dotdot_name_is_a_dotfile", "path traversal", SCHOOLS, "..%2F..%2Fescape.csv", IGNORED,
         schools(tag="DOT")),
    Case("dotdot_backslash_name", "path traversal", SCHOOLS, "report..\\..\\..\\windows\\x.csv",
         loaded(rows=8), schools(tag="BSL")),
    Case("dotdot_in_middle", "path traversal", SCHOOLS, "2023..%2f..%2fetc%2fpasswd.csv",
         loaded(rows=8), schools(tag="MID")),
    link_case("symlink_outside_workspace", "linked.csv", lambda outside: outside / OUTSIDE_TARGET),
    link_case("symlink_to_etc_passwd", "passwd.csv", lambda outside: Path("/etc/passwd")),
    link_case("symlink_to_folder", "folder.csv", lambda outside: outside),
    link_case("symlink_dangling", "gone.csv", lambda outside: outside / "no_such_file.csv"),
    Case("subfolder", "path traversal", SCHOOLS, "2023 exports",
         rejected("subfolder", says="directly in your folder"), build=_subfolder),
    Case("unregistered_partner", "unknown partner", "stranger", "theirs.csv",
         rejected("unknown_partner", says="not a partner"), build=_stranger),
    # "riverbend schools" cleans up to the real partner's folder name: filed under it, another
    # partner would read this file's report.
    Case("unregistered_folder_named_like_a_partner", "unknown partner", "riverbend schools",
         "RUSD_2023.csv", rejected("unknown_partner", says="not a partner"),
         schools(tag="LOOKALIKE")),
    Case("loose_file_in_initiative_folder", "unknown partner", LOOSE, "RUSD_2023_loose.csv",
         rejected("no_partner_folder", says="partner's folder"), schools(tag="LOOSE")),
    Case("symlinked_partner_folder", "path traversal", LOOSE, "partner_share",
         rejected("symlink", says="link to another folder"),
         build=_linked_partner_folder("partner_share"),
         filed_under=f"{UNREGISTERED}/partner_share"),
    Case("hard_link_outside_workspace", "path traversal", SCHOOLS, "RUSD hard link.csv",
         rejected("hard_link", says="hard link"), build=_hard_link),
    Case("file_name_not_utf8", "names", SCHOOLS, os.fsdecode(NON_UTF8_NAME), loaded(rows=8),
         build=_non_utf8_name, shown_as="RUSD café 2023.csv"),
    Case("in_progress_upload", "tricky valid", SCHOOLS, "RUSD upload.csv.part", IGNORED,
         schools(tag="PRT")),
    # --- still being written: a plain name, but written to just now ---------------------------
    Case("upload_still_being_written", "in progress", SCHOOLS, "RUSD 2023 big.csv", IGNORED,
         schools(tag="HALF", good=40)[:700], fresh=True),
    Case("zero_bytes_upload_starting", "in progress", CLINIC, "northside 2023.csv", IGNORED,
         b"", fresh=True),

    # --- extensions --------------------------------------------------------------------------
    Case("xlsx_extension", "extension", SCHOOLS, "RUSD 2023.xlsx", loaded(rows=8),
         _workbook(schools(tag="XLW"))),
    Case("corrupt_xlsx", "extension", SCHOOLS, "RUSD 2023 broken.xlsx",
         rejected("unreadable_workbook", says="Excel workbook"), _xlsx("RUSD 2023")),
    Case("docx_extension", "extension", BRIGHT, "notes.docx", rejected("not_a_csv", says=".docx"),
         DOCX),
    Case("pdf_extension", "extension", CLINIC, "report.pdf", rejected("not_a_csv", says=".pdf"),
         PDF.replace(b"Student Number", b"PersonalID")),
    Case("json_extension", "extension", CLINIC, "export.json", rejected("not_a_csv", says=".json"),
         b'[{"PersonalID": "J1", "ReportYear": 2023}]'),
    Case("no_extension", "extension", SCHOOLS, "RUSD_2023_export",
         rejected("not_a_csv", says="no extension"), schools(tag="NOX")),
    Case("uppercase_csv_extension", "tricky valid", SCHOOLS, "RUSD_2023.CSV", loaded(rows=8),
         schools(tag="UPC")),
    Case("tsv_extension", "tricky valid", SCHOOLS, "RUSD_2023.tsv", loaded(rows=8),
         schools(tag="TSV").replace(b",", b"\t")),

    # --- row rules ---------------------------------------------------------------------------
    Case("rows_of_another_partner", "other partner", SCHOOLS, "RUSD with partner column.csv",
         loaded(q(2, "partner_id", "other_partner"), q(3, "partner_id", "other_partner"), rows=8,
                says="another partner"),
         schools("O1,2023,700,F,Y,northside_clinic", "O2,2023,700,F,Y,Bright_Start", tag="OP",
                 header=SCHOOLS_HEADER + ",partner_id").replace(b",F,Y\n", b",F,Y,riverbend_schools\n")),
    Case("file_of_another_partner", "other partner", SCHOOLS, "clinic file in school folder.csv",
         rejected("too_many_bad_rows", says="another partner"),
         schools(tag="OPF", header=SCHOOLS_HEADER + ",Partner").replace(
             b",F,Y\n", b",F,Y,northside_clinic\n")),
    Case("future_periods", "periods", SCHOOLS, "RUSD future.csv",
         loaded(q(2, "period", "future_period"), q(3, "period", "future_period"), rows=8,
                says="future"),
         schools("P1,2099,700,F,Y", "P2,2027,700,F,Y", tag="FUT")),
    Case("periods_before_2000", "periods", SCHOOLS, "RUSD old years.csv",
         loaded(q(2, "period", "out_of_range"), q(3, "period", "out_of_range"), rows=8,
                says="at least 2000"),
         schools("P3,1999,700,F,Y", "P4,1850,700,F,Y", tag="OLD")),
    Case("duplicate_person_period", "duplicates", SCHOOLS, "RUSD duplicates.csv",
         loaded(q(2, "person_id+period", "duplicate_key"), q(3, "person_id+period", "duplicate_key"),
                rows=8, says="more than one row"),
         schools("D1,2023,700,F,Y", "D1,2023,400,P,N", tag="DUP")),
    Case("valid_original", "duplicates", SCHOOLS, "rusd_2023.csv", loaded(rows=8), VALID_ORIGINAL),
    Case("exact_redrop", "duplicates", SCHOOLS, "rusd_2023_resent.csv",
         Expect("duplicate", ("duplicate_file",), says="already received"), VALID_ORIGINAL,
         same_as="valid_original"),
    Case("negative_income", "values", CLINIC, "northside negative income.csv",
         loaded(q(2, "household_income", "out_of_range"), rows=8, says="between 0 and 100"),
         clinic("N1,2023,-5000,3,WA,1", tag="NEG")),
    Case("non_numeric_income", "values", CLINIC, "northside text income.csv",
         loaded(q(2, "household_income", "wrong_type"), q(3, "household_income", "wrong_type"),
                rows=8, says="number"),
         clinic("N2,2023,thirty thousand,3,WA,1", "N3,2023,30k,3,WA,1", tag="TXT")),
    # Values past the range of the record column they end in (period and household size are
    # INTEGER): quarantined cells, never a file whose staging crashes every night.
    Case("period_overflows_integer", "overflow", SCHOOLS, "RUSD year overflow.csv",
         loaded(q(2, "period", "bad_period"), q(3, "period", "bad_period"), rows=8),
         schools("V1,99999999999,700,F,Y", "V2,2147483648,700,F,Y", tag="OVF")),
    Case("household_size_overflows_integer", "overflow", CLINIC, "northside size overflow.csv",
         loaded(q(2, "household_size", "wrong_type"), q(3, "household_size", "wrong_type"),
                rows=8),
         clinic("V3,2023,30000,1e12,WA,1", "V4,2023,30000,99999999999,WA,1", tag="OVS")),
    Case("income_not_finite", "overflow", CLINIC, "northside infinite income.csv",
         loaded(q(2, "household_income", "wrong_type"), q(3, "household_income", "wrong_type"),
                rows=8),
         clinic("V5,2023,1e400,3,WA,1", "V6,2023,NaN,3,WA,1", tag="INF")),
    Case("aggregate_period_overflows_integer", "overflow", HOUSING, "rha year overflow.csv",
         loaded(q(7, "period", "bad_period"), rows=5),
         housing(*AGG_2023, "stable_housing,99999999999,ALL,ALL,1,2")),
    Case("household_size_0_and_500", "values", CLINIC, "northside household size.csv",
         loaded(q(2, "household_size", "out_of_range"), q(3, "household_size", "out_of_range"),
                rows=8, says="between 1 and 30"),
         clinic("H0,2023,30000,0,WA,1", "H5,2023,30000,500,WA,1", tag="HHS")),
    Case("unknown_race_codes", "values", SCHOOLS, "RUSD race codes.csv",
         loaded(q(2, "race", "unknown_race_code"), q(3, "race", "unknown_race_code"), rows=8,
                says="crosswalk"),
         schools("R8,2023,800,F,Y", "R9,2023,700|abc,F,Y", tag="RAC")),
    Case("missing_required_column", "header", SCHOOLS, "RUSD no year.csv",
         rejected("missing_column", row=1, column="period", says="School Year"),
         lines("Student Number,Ethnicity/Race Codes,Lunch Status,K Readiness Met",
               [f"M{i},700,F,Y" for i in range(8)]).encode()),
    Case("missing_all_required_columns", "header", CLINIC, "northside names only.csv",
         rejected("missing_column", "missing_column", row=1, column="person_id"),
         b"Patient Name,Visit Notes\nA. Person,checked\n"),
    Case("duplicate_header_exact", "header", SCHOOLS, "RUSD two years.csv",
         rejected("duplicate_column", row=1, column="School Year", says="keep only one"),
         schools(tag="DHE", header=SCHOOLS_HEADER + ",School Year").replace(b",Y\n", b",Y,2023\n")),
    # The crosswalk names "Student Number" as the id: a column that only matches a template
    # alias of it ("student_id") is left aside, not a duplicate (audit 8, A8-11).
    Case("crosswalk_column_wins_over_alias", "tricky valid", SCHOOLS, "RUSD two ids.csv",
         loaded(rows=8),
         schools(tag="DHA", header=SCHOOLS_HEADER + ",student_id").replace(b",Y\n", b",Y,x\n")),
    Case("duplicate_header_alias", "header", SCHOOLS, "RUSD two ids both aliases.csv",
         rejected("duplicate_column", row=1, column="student_id", says="keep only one"),
         schools(tag="DHB", header=SCHOOLS_HEADER.replace("Student Number", "person_id")
                 + ",student_id").replace(b",Y\n", b",Y,x\n")),
    Case("header_case_and_aliases_valid", "tricky valid", SCHOOLS, "RUSD odd header.csv",
         loaded(rows=8), schools(tag="ODD", header="  STUDENT_ID ,year,Race Codes,FRL,K_READY")),

    # --- aggregates --------------------------------------------------------------------------
    Case("aggregate_subgroups_do_not_sum", "aggregates", HOUSING, "rha sums.csv",
         loaded(*(q(r, "numerator+denominator", "subgroups_do_not_sum") for r in (7, 8, 9)),
                rows=5, says="add up"),
         housing(*AGG_2023, "stable_housing,2022,ALL,ALL,30,50",
                 "stable_housing,2022,White,ALL,20,30", "stable_housing,2022,Asian,ALL,11,20")),
    Case("aggregate_numerator_over_denominator", "aggregates", HOUSING, "rha over.csv",
         loaded(q(7, "numerator", "numerator_over_denominator"), rows=5, says="larger than"),
         housing(*AGG_2023, "stable_housing,2021,ALL,ALL,45,40")),
    Case("aggregate_nothing_adds_up", "aggregates", HOUSING, "rha all wrong.csv",
         rejected("too_many_bad_rows", says="add up"),
         housing("stable_housing,2023,ALL,ALL,30,50", "stable_housing,2023,White,ALL,25,30",
                 "stable_housing,2023,Asian,ALL,10,20")),

    # --- locale and line endings -------------------------------------------------------------
    Case("semicolon_comma_decimals", "locale", BRIGHT, "BrightStart decimals.csv",
         loaded(rows=8, values=((2, "household_income", 25000.5), (3, "household_income", 1234.5))),
         bright("K1;2023;Latino;25000,50;3;Yes;Yes", "K2;2023;Black;1234,5;2;No;No", tag="DEC")),
    Case("bom_crlf_trailing_blank_lines", "tricky valid", SCHOOLS, "RUSD excel.csv",
         loaded(rows=8),
         codecs.BOM_UTF8 + schools(tag="BOM", eol="\r\n") + b"\r\n\r\n\r\n"),
    Case("everything_quoted_crlf", "tricky valid", CLINIC, "northside quoted.csv",
         loaded(rows=8),
         b'"PersonalID","ReportYear","HouseholdIncome","HouseholdSize","State","WCV"\r\n'
         + b"".join(f'"Q{i}","2023","$1,234.50","2","AK","0"\r\n'.encode() for i in range(8))),
]

BY_ID = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"
