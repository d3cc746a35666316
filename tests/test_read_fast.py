"""The read stage's fast path: cells are not trimmed when a byte scan proves no cell needs it.

Every test here compares the fast path with the general one (every cell trimmed) on the same
input: same rows, same values, same refused rows with the same numbers and messages.
"""

from __future__ import annotations

import codecs
import random

import duckdb
import pytest

from pipelines import lines, read
from pipelines.config import Crosswalk
from pipelines.lines import TRIMMED, line_count, lone_carriage_return, scan_lines
from pipelines.problems import FileRejected
from pipelines.read import load_csv, map_header, sniff
from pipelines.typed import typed_columns

HEADER = "Person ID,Year,Kinder Ready,Household Income,Household Size,Race,Note\n"


class _Statements:
    """A DuckDB connection that keeps the statements reading the CSV file."""

    def __init__(self):
        self.con, self.parses = duckdb.connect(), []

    def execute(self, sql, *args, **kwargs):
        if "read_csv(" in sql:
            self.parses.append(sql)
        return self.con.execute(sql, *args, **kwargs)


def _typed(tmp_path, config, content: bytes, folder: str):
    """What intake.stage_file's read gives for `content`: the typed view, the refused rows and
    whether the cells were trimmed (or the rejection)."""
    path = tmp_path / f"{folder}.csv"
    path.write_bytes(content)
    schema, crosswalk = config.record_schema, Crosswalk()
    try:
        sniffed = sniff(path, tmp_path / folder)
        header_map = map_header(sniffed.header, schema, crosswalk)
        stored, exposed = typed_columns(schema, crosswalk, list(header_map.positions.values()))
        con = _Statements()
        malformed = load_csv(con, sniffed, header_map, table="typed", materialize=False,
                             select=stored, expose=exposed)
    except FileRejected as rejection:
        return rejection.problems, None
    rows = con.con.execute("SELECT * FROM typed ORDER BY _row").fetchall()
    refused = con.con.execute("SELECT _row, rule, message FROM _malformed ORDER BY _row").fetchall()
    return (rows, refused, malformed), any("trim(" in sql for sql in con.parses)


def _both(tmp_path, config, monkeypatch, content: bytes):
    """(fast path's outcome, general path's outcome, whether the fast path trimmed)."""
    monkeypatch.setattr(read, "TRIM_ONLY_WHEN_NEEDED", True)
    fast, trimmed = _typed(tmp_path, config, content, "fast")
    monkeypatch.setattr(read, "TRIM_ONLY_WHEN_NEEDED", False)
    general, always = _typed(tmp_path, config, content, "general")
    assert always in (True, None)  # the general path trims every cell (None: rejected)
    return fast, general, trimmed


def test_duckdb_trims_exactly_the_characters_the_scan_looks_for():
    """The proof that skipping trim() changes nothing rests on this set (a DuckDB upgrade that
    trims more would break it here, not in a partner's numbers)."""
    con = duckdb.connect()
    trimmed = con.execute(
        "SELECT list(cp ORDER BY cp) FROM range(1, 1114112) r(cp) "
        "WHERE (cp < 55296 OR cp > 57343) AND length(trim(chr(cp::INTEGER) || 'x')) = 1 "
        "AND length(trim('x' || chr(cp::INTEGER))) = 1").fetchall()[0][0]
    assert trimmed == [ord(c) for c in TRIMMED]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, lines.CHUNK])
def test_the_scan_counts_lines_and_carriage_returns_as_the_separate_passes(tmp_path, monkeypatch,
                                                                          chunk):
    monkeypatch.setattr(lines, "CHUNK", chunk)  # edges and line ends across read boundaries
    for content in (b"", b"h\n", b"h", b"h\r\na\r\n", b"h\n\na", b'h\n"a\nb"\n', b"a\r\nb\r\n",
                    b"a\rb\n", b"a\n\r", b"a\nb", b"a\r", b"\r\n\r\n\r", b"x\r\r\n"):
        path = tmp_path / "f.csv"
        path.write_bytes(content)
        scan = scan_lines(path, ",")
        assert (scan.count, scan.lone_carriage_return) == (line_count(path),
                                                           lone_carriage_return(path)), content


@pytest.mark.parametrize("chunk", [1, 2, 5, lines.CHUNK])
def test_the_scan_finds_every_cell_that_begins_or_ends_with_a_space(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(lines, "CHUNK", chunk)
    clean = "h,i\na b,c\u00e9\n\"x,y\",z\u2019\n1,2"
    assert not scan_lines(_write(tmp_path, clean), ",").edge_space
    for space in TRIMMED:
        for cell in (f"{space}a", f"a{space}", space, f'"{space}a"', f'"a{space}"'):
            for line in (f"{cell},b", f"b,{cell}", f"b,{cell}\r\n", f"{cell}\r"):
                content = f"h,i\n{line}\nc,d"
                assert scan_lines(_write(tmp_path, content), ",").edge_space, repr(content)
        assert scan_lines(_write(tmp_path, f"h,i\nb,c{space}"), ",").edge_space  # end of file
        assert scan_lines(_write(tmp_path, f"h;i\nb;{space}c"), ";").edge_space


def _write(tmp_path, text: str):
    path = tmp_path / "edges.csv"
    path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize("content", [
    HEADER + "A1,2024,1,\"$52,802\",4,700,\u2013\nA2,2024,0,1.234,05,,note\n",
    HEADER + "A1,2024,1, 52802 ,4,700,x\nA2, 2024,0,,4 ,\u00a0,y\n",  # cells to trim
    HEADER + "A1,2024,1,\"  \",4,700,x\n A2,2024,\"\",,4,,y\r\n",
    HEADER.replace(",", ";") + "A1;2024;1;25000,50;3;700;x\nA2;2024;ja;;;;\n",
    HEADER + "A1,2024,1\nA2,2024,0,1,2,3,4,5\n\n\nA3,2024,1,1,1,1,\"open\nA4,2024,1,1,1,1,1\n",
    HEADER + "A1,2024,1,1,1,1,\"a\nb\"\nA2,2024,0,2,2,2,x\rA3,2024,1,3,3,3,y\n",
    "\ufeff" + HEADER + "A1,2024,1,1,1,1,x\u3000\n",
    HEADER + "A1,2024,99999999999,1e400,-0,\"\"\"700\"\"\",x",
])
def test_both_paths_read_the_same(tmp_path, config, monkeypatch, content):
    fast, general, _ = _both(tmp_path, config, monkeypatch, content.encode())
    assert fast == general


def test_a_clean_file_is_read_without_trimming_and_a_spaced_one_with(tmp_path, config,
                                                                     monkeypatch):
    _, _, trimmed = _both(tmp_path, config, monkeypatch,
                          (HEADER + "A1,2024,1,100,4,700,a b\n").encode())
    assert trimmed is False
    _, _, trimmed = _both(tmp_path, config, monkeypatch,
                          (HEADER + "A1,2024,1,100 ,4,700,a b\n").encode())
    assert trimmed is True


def test_random_files_read_the_same_both_ways(tmp_path, config, monkeypatch):
    """Cells built from spaces, quotes, delimiters, line breaks and digits, quoted or not: the
    fast path, where the scan allows it, reads exactly what trimming every cell reads. Half the
    files have spaces only inside cells, so the fast path is taken."""
    inside = ["1", "0", "05", "2024", "-3", "x", "a b", "x\u3000y", "\u00e9", ",", "\"", "\n",
              "\r\n", "$", "1,000", "", "\t"]
    anywhere = inside + [" ", "\u00a0", "\u2009", "\u3000", "\u00e0", "\u2013"]
    rng = random.Random(14)
    fast_taken = 0
    for number in range(40):
        pieces = inside if number % 2 else anywhere
        rows = []
        for _ in range(rng.randint(1, 6)):
            cells = []
            for _ in range(rng.choice([6, 7, 7, 7, 8])):
                cell = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 3)))
                if rng.random() < 0.3 or any(c in cell for c in ",\"\n"):
                    stray = pieces is anywhere and rng.random() < 0.1  # hostile: left unquoted
                    cell = cell if stray else '"' + cell.replace('"', '""') + '"'
                cells.append(cell)
            rows.append(",".join(cells))
        content = HEADER + "\n".join(rows) + rng.choice(["", "\n", "\r\n"])
        folder = tmp_path / str(number)
        folder.mkdir()
        fast, general, trimmed = _both(folder, config, monkeypatch, content.encode())
        assert fast == general, content
        fast_taken += trimmed is False
    assert fast_taken >= 8  # the comparison covered the fast path, not only the general one


@pytest.mark.parametrize("chunk", [1, 2, 3, 16])
def test_the_ascii_shortcut_decides_as_decoding_every_byte(tmp_path, monkeypatch, chunk):
    """An ASCII chunk is not decoded, unless a character split across chunks is pending."""
    from pipelines import read_encoding

    contents = [b"", b"abc,def\n" * 5, codecs.BOM_UTF8 + b"a,b\n" * 9, b"a" * 15 + "é".encode(),
                b"a" * 15 + b"\xc3", b"a" * 15 + b"\xc3(", b"\xe2\x80" + b"a" * 20,
                b"a" * 16 + b"\x92" + b"b" * 16, "x’y".encode() * 7, b"\xef\xbb" + b"a" * 20,
                codecs.BOM_UTF8 + b"a" * 20 + b"\xff"]
    for content in contents:
        path = tmp_path / "enc.csv"
        path.write_bytes(content)
        for encoding, errors in (("utf-8", "strict"), ("utf-8-sig", "strict"), ("cp1252", "strict"),
                                 ("utf-8-sig", "backbone-cp1252")):
            try:
                content.decode(encoding, errors)
                whole = True
            except UnicodeDecodeError:
                whole = False
            monkeypatch.setattr(read_encoding, "CHUNK", chunk)
            assert read_encoding._decodes_as(path, encoding, errors) is whole, (content, encoding)
