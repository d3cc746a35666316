"""Audit (session 5) of the read stage's shortcuts (the line scan fed by the encoding check, the
hash on its own thread, untrimmed cells without NULLIF): hostile files staged with 4 KiB chunks,
so that chunk edges fall inside CRLF pairs, multibyte characters, quoted newlines and cells of
spaces, through the fast path and through the general one (the scan done on its own, every
cell trimmed and NULLIF'd); the staged records, quarantine and file facts must be the same."""

from __future__ import annotations

import duckdb
import pytest

from pipelines import lines, read, read_encoding
from pipelines.intake import stage_file

from conftest import drop

C = 4096
HEADER = "person_id,period,kinder_ready"


def _fill(end: str, offset: int, bom: bytes = b"") -> bytes:
    """Rows ending in `end`, padded so that byte `offset` of a line end sits last in chunk 1."""
    body = [f"S{i:05d},2023,1" for i in range(600)]
    for pad in range(200):
        data = bom + end.join([HEADER, "S" + "0" * pad + body[0][1:]] + body[1:]).encode() \
            + end.encode()
        if data[C - 1 - offset:C - 1 - offset + len(end)] == end.encode():
            return data
    raise AssertionError("no padding fits")


def _around(piece: bytes, offset: int) -> bytes:
    """`piece` placed so that its byte `offset` is the first byte of chunk 2."""
    head = (HEADER + "\n").encode()
    i = 0
    while len(head) + 16 < C - offset - 40:
        head += f"S{i:05d},2023,1\n".encode()
        i += 1
    head += b"Q" + b"z" * (C - offset - len(head) - 1)
    return head + piece + "".join(f"T{j},2023,0\n" for j in range(20)).encode()


FILES = {
    "crlf_split": _fill("\r\n", 0),
    "cr_only_at_edge": _fill("\r", 0),
    "bom_crlf": _fill("\r\n", 1, bom=b"\xef\xbb\xbf"),
    "exact_chunk": _fill("\n", 0)[:C - 1].rsplit(b"\n", 1)[0] + b"\n",
    "multibyte_split": _around("日,2023,1\n".encode(), 2),
    "emoji_split": _around("😀,2023,1\n".encode(), 3),
    "quoted_newline_split": _around(b'",2023,1\n"X\n\nY",2023,1\n', 0),
    "spaces_split": _around(b",2023,   \n   ,2023,1\n", 8),
    "quoted_empty": (HEADER + '\nS1,2023,""\nS2,2023,\n"",2023,1\n,2023,1\nS3,"",1\n').encode(),
    "cp1252_split": _around(b"\x92,2023,1\n", 0),
    "utf16": (HEADER + "\nS1,2023,1\nS2,2023,\nS3,2023, 1\n").encode("utf-16"),
    "long_line": (HEADER + "\nS1,2023,1\n" + "L" * (3 * C) + ",2023,1\nS2,2023,0\n").encode(),
}


class _Unaligned(lines.LineScanner):
    def feed(self, chunk: bytes) -> None:
        super().feed(chunk)
        self.aligned = False  # sniff then scans the file on its own


def _stage(workspace, config, name: str, content: bytes) -> tuple:
    path = drop(workspace, "riverbend_schools", f"{name}.csv", content)
    staged = stage_file(path, config, "riverbend_schools", "salt", workspace.staging)
    found = [staged.status, staged.sha256, staged.encoding, staged.delimiter, staged.rows_read,
             staged.rows_loaded, staged.rows_quarantined, staged.problems]
    if staged.staged_db:
        con = duckdb.connect(staged.staged_db, read_only=True)
        try:
            for (table,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1"
                                        ).fetchall():
                found.append([table, sorted(map(repr, con.execute(f'FROM "{table}"').fetchall()))])
        finally:
            con.close()
    return found


@pytest.fixture
def small_chunks(monkeypatch):
    for module in (lines, read_encoding, read):
        if hasattr(module, "CHUNK"):
            monkeypatch.setattr(module, "CHUNK", C)
    monkeypatch.setattr(lines, "LONG_LINE_BLOCK", C)


def test_hostile_files_stage_the_same_through_the_fast_and_the_general_path(
        workspace, config, monkeypatch, small_chunks):
    scanned = []

    def counted(path, delimiter, scan=read.scan_lines):
        scanned.append(path)
        return scan(path, delimiter)

    monkeypatch.setattr(read, "scan_lines", counted)
    fast = {name: _stage(workspace, config, f"fast-{name}", content)
            for name, content in FILES.items()}
    # the UTF-8 files without long lines were scanned in the encoding check's pass
    assert len(scanned) <= len(FILES) - 6
    monkeypatch.setattr(read, "LineScanner", _Unaligned)
    monkeypatch.setattr(read, "TRIM_ONLY_WHEN_NEEDED", False)
    general = {name: _stage(workspace, config, f"general-{name}", content)
               for name, content in FILES.items()}
    for name in FILES:
        assert fast[name] == general[name], name
    assert sum(found[0] == "staged" for found in fast.values()) >= len(FILES) - 1
