"""The sniff's shortcuts against the passes they replace, on the same inputs: the cp1252 check by
bytes against decoding, the long-line test folded into the line scan against its own pass, the
scan done in sniff against load_csv's own, the hash on its own thread against sha256_file, and
an untrimmed cell read without NULLIF against the parser's NULL for an empty cell."""

from __future__ import annotations

import codecs
import dataclasses
import random
import threading

import duckdb
import pytest

from pipelines import lines, read_encoding
from pipelines.config import Crosswalk
from pipelines.lines import may_have_long_line, scan_lines
from pipelines.problems import FileRejected
from pipelines.read import load_csv, map_header, sniff
from pipelines.read_encoding import CP1252_UNDEFINED, sha256_file
from pipelines.typed import typed_columns

from test_read_fast import HEADER
from test_workbooks import _xlsx


def test_the_undefined_bytes_are_exactly_those_python_refuses_in_cp1252():
    refused = []
    for byte in range(256):
        try:
            bytes([byte]).decode("cp1252")
        except UnicodeDecodeError:
            refused.append(byte)
    assert refused == sorted(CP1252_UNDEFINED)


@pytest.mark.parametrize("chunk", [1, 3, 16, lines.CHUNK])
def test_the_cp1252_byte_check_decides_as_decoding(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(read_encoding, "CHUNK", chunk)
    rng = random.Random(5)
    contents = [b"", b"a,b\n", "caf\u00e9 \u2019".encode("cp1252"), b"x" * 40 + b"\x9d",
                b"\x81" + b"y" * 40, bytes(range(256))]
    contents += [bytes(rng.choice(b"ab,\n\x80\x92\xe9\x81\x8d\x8f\x90\x9d\xff")
                       for _ in range(rng.randint(0, 60))) for _ in range(200)]
    for content in contents:
        path = tmp_path / "c.csv"
        path.write_bytes(content)
        try:
            content.decode("cp1252")
            whole = True
        except UnicodeDecodeError:
            whole = False
        assert read_encoding._decodes_as_cp1252(path) is whole, content
        assert read_encoding._decodes_as(path, "cp1252") is whole, content


@pytest.mark.parametrize("chunk", [8, 16, 64, 4096])
def test_the_scan_finds_long_lines_as_their_own_pass(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(lines, "CHUNK", chunk)
    monkeypatch.setattr(lines, "LONG_LINE_BLOCK", max(1, chunk // 4))
    rng = random.Random(7)
    found = 0
    for _ in range(300):
        content = b"".join(b"x" * rng.choice([0, 1, 3, chunk // 4, chunk // 2, chunk, 3 * chunk])
                           + rng.choice([b"\n", b"\r\n", b" ,\n"])
                           for _ in range(rng.randint(0, 6)))
        path = tmp_path / "l.csv"
        path.write_bytes(content)
        assert scan_lines(path, ",").long_line is may_have_long_line(path), content
        found += may_have_long_line(path)
    assert 30 < found < 270  # both answers were compared


def _files(tmp_path) -> list:
    long_cell = "9" * (lines.MAX_FIELD_BYTES + 10)
    return [
        ("utf8", (HEADER + "A1,2024,1,52802,4,700,x\nA2,2024,0,,3,,y\n").encode()),
        ("bom", codecs.BOM_UTF8 + (HEADER + "A1,2024,1, 5,4,700,x\n").encode()),
        ("cp1252", (HEADER + "A1,2024,1,1,4,700,caf\u00e9 \u2019\n").encode("cp1252")),
        ("utf16", (HEADER + "A1,2024,1,1,4,700,\u00e9\r\n").encode("utf-16")),
        ("mixed", (HEADER + "A1,2024,1,1,4,700,\u00e9t\u00e9\n").encode() + b"A2,2024,0,,3,,\x92\n"),
        ("long", (HEADER + f"A1,2024,1,{long_cell},4,700,x\nA2,2024,0,,3,,y\n").encode()),
        ("semicolon", (HEADER.replace(",", ";") + "A1;2024;1;1;4;700;x\n").encode()),
        ("workbook", _xlsx(("Sheet1", [HEADER.strip().split(","),
                                       ["A1", 2024, 1, " 52802", 4, 700, "x"]]))),
    ]


def _sniffed(tmp_path, schema, crosswalk):
    """Each file of `_files` written and sniffed: (name, path, Sniffed)."""
    for name, content in _files(tmp_path):
        path = tmp_path / f"{name}.{'xlsx' if name == 'workbook' else 'csv'}"
        path.write_bytes(content)
        yield name, path, sniff(path, tmp_path / name, schema, crosswalk)


def test_the_sniff_scans_and_hashes_what_load_csv_and_sha256_file_would(tmp_path, config):
    schema, crosswalk = config.record_schema, Crosswalk()
    for name, path, sniffed in _sniffed(tmp_path, schema, crosswalk):
        assert sniffed.sha256 == sha256_file(path), name
        if name == "workbook":
            assert sniffed.lines is None  # load_csv scans the sheet's CSV itself
            continue
        assert sniffed.lines == scan_lines(sniffed.readable_path, sniffed.delimiter), name
        assert sniffed.lines.long_line is (name == "long"), name
        copied = name in ("long", "cp1252", "utf16", "mixed")  # capped or transcoded
        assert (sniffed.readable_path != path) is copied, name


def _read(con, sniffed, schema, crosswalk):
    header_map = map_header(sniffed.header, schema, crosswalk)
    stored, exposed = typed_columns(schema, crosswalk, list(header_map.positions.values()))
    try:
        malformed = load_csv(con, sniffed, header_map, table="typed", materialize=False,
                             select=stored, expose=exposed)
    except FileRejected as rejection:
        return rejection.problems
    return (con.execute("SELECT * FROM typed ORDER BY _row").fetchall(),
            con.execute("SELECT * FROM _malformed ORDER BY _row").fetchall(), malformed)


def test_load_csv_reads_the_same_with_the_sniffs_scan_as_with_its_own(tmp_path, config):
    schema, crosswalk = config.record_schema, Crosswalk()
    for name, path, sniffed in _sniffed(tmp_path, schema, crosswalk):
        given = _read(duckdb.connect(), sniffed, schema, crosswalk)
        own = _read(duckdb.connect(), dataclasses.replace(sniffed, lines=None), schema, crosswalk)
        assert given == own, name
        assert name == "utf16" or len(given[0]) >= 1, name  # utf16: "\n" then "\r\n", refused


@pytest.mark.parametrize("content", [b"%PDF-1.4 not a table", b"\n\nA1,2024\n",
                                     b"a\x00b\x00" * 10 + b"\xff\xfe\x00"])
def test_a_rejected_file_leaves_no_hash_running(tmp_path, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(FileRejected):
        sniff(path, tmp_path / "s")
    assert not [t for t in threading.enumerate() if t.name == "backbone-sha256"]


def test_the_parser_reads_every_empty_cell_as_null(tmp_path):
    """Why an untrimmed cell needs no NULLIF: with these options no cell is ''."""
    text = 'a,b,c\n,,\n"","",""\n"",,\r\n,"",\n"x",,""\n,,""'
    path = tmp_path / "empty.csv"
    path.write_bytes(text.encode())
    options = dict(auto_detect=False, header=False, skip=1, delim=",", quote='"', escape='"',
                   columns={"c0": "VARCHAR", "c1": "VARCHAR", "c2": "VARCHAR"},
                   ignore_errors=True, strict_mode=True, nullstr="", allow_quoted_nulls=True)
    arguments = ", ".join(f"{key} := ${key}" for key in options)
    rows = duckdb.connect().execute(f"SELECT c0, c1, c2 FROM read_csv($path, {arguments})",
                                    {"path": str(path), **options}).fetchall()
    assert len(rows) == 6
    assert [cell for row in rows for cell in row if cell is not None] == ["x"]


@pytest.mark.parametrize("chunk,encoding_chunk", [(16, 16), (64, 64), (16, 24), (4096, 4096)])
def test_the_scan_done_in_the_encoding_check_equals_its_own_pass(tmp_path, monkeypatch, chunk,
                                                                 encoding_chunk):
    """Random UTF-8 files (spaces and other trimmed characters at cell edges or inside, line
    ends of every kind, quotes, long lines, a byte order mark), chunked so chunk edges fall
    everywhere: what sniff keeps is what scan_lines finds. The encoding check's chunks must line
    up with the scan's (24 against 16: they do not, and the scan reads for itself)."""
    from pipelines import read

    monkeypatch.setattr(lines, "CHUNK", chunk)
    monkeypatch.setattr(lines, "LONG_LINE_BLOCK", max(1, chunk // 4))
    monkeypatch.setattr(read_encoding, "CHUNK", encoding_chunk)
    pieces = ["1", "a", "a b", " ", "\u00a0", "\u3000", "\u00e9", ",", ";", '"', "\n", "\r\n",
              "\r", "", "x" * (chunk // 2), "y" * chunk]
    rng = random.Random(21)
    own = []
    monkeypatch.setattr(read, "scan_lines", lambda *a: own.append(a) or scan_lines(*a))
    for number in range(60):
        header = rng.choice(["a,b,c", "a;b;c", "a|b|c", "a\tb"])
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        content = (("\ufeff" if number % 3 == 0 else "") + header
                   + rng.choice(["\n", "\r\n", "\r"]) + body).encode()
        path = tmp_path / f"{number}.csv"
        path.write_bytes(content)
        try:
            sniffed = sniff(path, tmp_path / f"s{number}")
        except FileRejected:
            continue
        assert sniffed.lines == scan_lines(sniffed.readable_path, sniffed.delimiter), content
    # Lined up, every file's scan came from the encoding check; not, most files read again (a
    # file shorter than both chunks is one chunk either way).
    assert len(own) == 0 if chunk == encoding_chunk else len(own) > 30


def test_a_non_utf8_file_is_scanned_after_transcoding(tmp_path, monkeypatch):
    from pipelines import read

    own = []
    monkeypatch.setattr(read, "scan_lines", lambda *a: own.append(a) or scan_lines(*a))
    path = tmp_path / "w.csv"
    path.write_bytes((HEADER + "A1,2024,1,1,4,700,caf\u00e9 \n").encode("cp1252"))
    sniffed = sniff(path, tmp_path / "s")
    assert own == [(sniffed.readable_path, ",")] and sniffed.readable_path != path
    assert sniffed.lines.edge_space  # the space before the line end, found in the UTF-8 copy
