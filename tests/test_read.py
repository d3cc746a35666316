"""The read stage on the kinds of files partners really send."""

from __future__ import annotations

import codecs

import duckdb
import pytest

from pipelines.config import Crosswalk
from pipelines.problems import FileRejected
from pipelines.read import _line_count, load_csv, map_header, normalize_name, sniff
from pipelines.validate import typed_columns

HEADER = "person_id,period,kinder_ready\n"


def _read(tmp_path, config, content: bytes, crosswalk: Crosswalk | None = None):
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    sniffed = sniff(path, tmp_path / "staging")
    header_map = map_header(sniffed.header, config.record_schema, crosswalk or Crosswalk())
    con = duckdb.connect()
    problems = load_csv(con, sniffed, header_map)
    rows = con.execute("SELECT * FROM raw ORDER BY _row").fetchall()
    return sniffed, problems, rows


@pytest.mark.parametrize("encoding, prefix", [
    ("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("cp1252", b""), ("utf-16", b"")])
def test_encodings_are_detected_and_text_survives(tmp_path, config, encoding, prefix):
    text = "Person ID,Year,Kinder Ready,Note\r\nA1,2024,1,Señora’s “class”\r\n"
    sniffed, problems, rows = _read(tmp_path, config, prefix + text.encode(encoding))
    assert problems == []
    assert rows == [(2, "A1", "2024", "1")]
    assert sniffed.encoding.startswith({"utf-8": "utf-8", "cp1252": "cp1252",
                                        "utf-16": "utf-16"}[encoding])
    if encoding == "utf-8" and prefix:
        assert sniffed.encoding == "utf-8-sig"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(tmp_path, config, delimiter):
    content = HEADER.replace(",", delimiter) + delimiter.join(["B7", "2023", "0"]) + "\n"
    sniffed, _, rows = _read(tmp_path, config, content.encode())
    assert sniffed.delimiter == delimiter
    assert rows == [(2, "B7", "2023", "0")]


def test_header_aliases_from_schema_and_partner_crosswalk(tmp_path, config):
    crosswalk = Crosswalk(header_aliases={"Kiddo #": "person_id"})
    content = "  KIDDO #  ,School-Year,K Ready,Shoe size\nC3,2022,1,7\n".encode()
    sniffed, _, rows = _read(tmp_path, config, content, crosswalk)
    header_map = map_header(sniffed.header, config.record_schema, crosswalk)
    assert sorted(header_map.positions.values()) == ["kinder_ready", "period", "person_id"]
    assert header_map.ignored == ["Shoe size"]
    assert rows == [(2, "C3", "2022", "1")]


def test_missing_required_column_names_it_and_its_aliases(tmp_path, config):
    with pytest.raises(FileRejected) as caught:
        _read(tmp_path, config, b"period,kinder_ready\n2024,1\n")
    problem = caught.value.problems[0]
    assert problem.rule == "missing_column" and problem.column == "person_id" and problem.row == 1
    assert "student_id" in problem.message


def test_two_headers_meaning_the_same_column_are_refused(tmp_path, config):
    with pytest.raises(FileRejected) as caught:
        _read(tmp_path, config, b"person_id,student_id,period\n1,2,2024\n")
    assert caught.value.rule == "duplicate_column"


def test_ragged_rows_are_reported_with_spreadsheet_row_numbers(tmp_path, config):
    content = (HEADER + "A,2024,1\nB,2024\nC,2024,1,extra\n\"D\nwith newline\",2024,0\n"
               "E,2024,1\n").encode()
    _, problems, rows = _read(tmp_path, config, content)
    assert [(p.row, p.rule) for p in problems] == [(3, "malformed_row"), (4, "malformed_row")]
    assert "fewer cells" in problems[0].message and "more cells" in problems[1].message
    # Rows after the bad ones keep the numbers a spreadsheet shows (a quoted newline is one row).
    assert [(r[0], r[1]) for r in rows] == [(2, "A"), (5, "D\nwith newline"), (6, "E")]


@pytest.mark.parametrize("content, rule", [
    (b"", "empty_file"),
    (b"PK\x03\x04\x14\x00\x06\x00 workbook", "not_a_csv"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00binary", "binary_file"),
    (b"\n\nperson_id\n", "no_header"),
    (b"person_id,period\n\x81\x8d\x8f\x90\x9d\n", "unknown_encoding"),
])
def test_unreadable_files_are_refused_with_a_reason(tmp_path, config, content, rule):
    with pytest.raises(FileRejected) as caught:
        _read(tmp_path, config, content)
    assert caught.value.rule == rule
    assert caught.value.problems[0].message


def test_header_text_never_reaches_sql(tmp_path, config):
    content = b'person_id,period,"x"");DROP TABLE raw;--"\nA,2024,1\n'
    sniffed, problems, rows = _read(tmp_path, config, content)
    assert rows == [(2, "A", "2024")] and problems == []


def test_normalize_name():
    assert normalize_name("\ufeff Student-ID #") == "student_id"


def test_typed_view_has_every_template_column_but_stores_only_what_differs(tmp_path, config):
    """Absent columns and unrecoded text columns are view-only: stored, they took more memory
    than the file's own columns."""
    path = tmp_path / "in.csv"
    path.write_text("Person ID,Year,Kinder Ready,Note\nA1,2024,1,x\nA2,20x4,,y\n")
    schema, crosswalk = config.record_schema, Crosswalk()
    sniffed = sniff(path, tmp_path / "staging")
    header_map = map_header(sniffed.header, schema, crosswalk)
    stored, exposed = typed_columns(schema, crosswalk, list(header_map.positions.values()))
    con = duckdb.connect()
    load_csv(con, sniffed, header_map, table="typed", materialize=False, select=stored,
             expose=exposed)
    view = [name for name, *_ in con.execute("DESCRIBE typed").fetchall()]
    assert view == ["_row"] + [f"{c.name}{suffix}" for c in schema.columns
                               for suffix in ("", "__text")]
    kept = {name for name, *_ in con.execute("DESCRIBE _csv").fetchall()}
    assert kept == {"person_id", "period", "period__text", "kinder_ready", "kinder_ready__text"}
    rows = con.execute("SELECT _row, person_id, person_id__text, period, period__text, "
                       "kinder_ready, household_income, household_income__text FROM typed "
                       "ORDER BY _row").fetchall()
    assert rows == [(2, "A1", "A1", 2024, "2024", 1, None, None),
                    (3, "A2", "A2", None, "20x4", None, None, None)]


@pytest.mark.parametrize("content, lines", [(b"", 0), (b"h\n", 1), (b"h", 1), (b"h\r\na\r\n", 2),
                                            (b"h\n\na", 3), (b'h\n"a\nb"\n', 3)])
def test_line_count_counts_an_unterminated_last_line(tmp_path, content, lines):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    assert _line_count(path) == lines
