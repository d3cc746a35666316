"""Audit of the untrimmed read: hostile encodings and layouts, fast path against trimming every
cell (the `_both` comparison of tests/test_read_fast.py)."""

from __future__ import annotations

import codecs

import pytest

from test_read_fast import HEADER, _both
from test_workbooks import _xlsx

ROWS = ["A1,2024,1,52802,4,700,x", "A2,2024,0,,3,,y"]


def _text(rows, delimiter=",", end="\n"):
    header = HEADER if delimiter == "," else HEADER.replace(",", delimiter)
    return header + end.join(r.replace(",", delimiter) for r in rows) + end


@pytest.mark.parametrize("content", [
    _text(["A1,2024,1,52802,4,700,x\xa0", "A2,\xa02024,0,,3,,y"]).encode("cp1252"),  # NBSP
    _text(["A1,2024,1,52802,4,700,caf\xe9", "A2,2024,0,,3,,\xa0"]).encode("cp1252"),
    _text(["A1,2024,1,52802,4,700,x ", "A2,2024,0,,3,,y"]).encode("utf-16"),  # BOM
    _text(["A1,2024,1,52802,4,700,x", "A2,2024,0,,3,, y"]).encode("utf-16-le"),  # no BOM
    codecs.BOM_UTF8 + _text(["A1,2024,1,52802,4,700,x", "A2,2024,0,,3,,y "]).encode(),
    codecs.BOM_UTF8 + _text([" A1,2024,1,52802,4,700,x"] + ROWS[1:]).encode(),
    _text(["A1;2024;1;52802;4;700;x", "A2;2024;0; ;3;;y"], ";").encode(),
    _text(["A1\t2024\t1\t52802\t4\t700\tx", "A2\t2024 \t0\t\t3\t\ty"], "\t").encode(),
    _text(["A1,2024,1,52802,4,700, x", "A2,2024,0,,3,,y"], "|").encode(),
    (_text(ROWS) + "A3,2024,1,1,1,1, ").encode(),  # a space right before EOF, no newline
    (_text(ROWS) + "A3,2024,1,1,1,1,\u3000").encode(),
    _text(['A1,2024,1,"  52802  ",4,700,x', 'A2,2024,0,"",3," ",y']).encode(),
    # mostly UTF-8 with a cp1252 NBSP pasted at a cell's edge
    _text(["A1,2024,1,52802,4,700,\u00e9t\u00e9", "A2,2024,0,,3,,y"]).encode()
    + b"A3,2024,1,1,1,1,z\xa0\n",
    # empty cells every way the parser can see them: the untrimmed read has no NULLIF
    _text(['"",2024,"",,"","",""', 'A2,,0,"",3,,', ',,,,,,']).encode(),
    (_text(['A1,2024,1,"",4,700,x']) + 'A2,2024,0,,3,"",').encode(),  # empty last cell at EOF
    _text(['A1;"";1;;4;700;""', ';2024;;"";;;'], ";").encode("cp1252"),
    _text(['A1,2024,1,"""",4,700,""""""', 'A2,"",0,,3,,"a"']).encode("utf-16"),
])
def test_hostile_files_read_the_same_both_ways(tmp_path, config, monkeypatch, content):
    fast, general, _ = _both(tmp_path, config, monkeypatch, content)
    assert fast == general
    assert isinstance(general, tuple) and len(general[0]) >= 2  # read, not rejected


def test_a_workbook_with_edge_spaces_reads_the_same_both_ways(tmp_path, config, monkeypatch):
    header = HEADER.strip().split(",")
    book = _xlsx(("Sheet1", [header, ["A1", 2024, 1, " 52802", 4, 700, "x\u00a0"],
                             ["A2", "2024 ", 0, None, 3, None, " y"]]))
    fast, general, _ = _both(tmp_path, config, monkeypatch, book)
    assert fast == general
    assert isinstance(general, tuple) and len(general[0]) == 2
