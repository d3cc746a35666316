"""Session 7, helper B: records that are not data rows, read as a partner meant them.

Short all-empty lines are blank lines; a repeated header is one problem per repeated row; a stray
NUL byte sets aside only its row (or, padding the end of a file, nothing), while binary files are
still refused. Staging only, on the Cedar scenario (tests/test_audit6_scenario.py).
"""

from __future__ import annotations

import pytest

import test_audit6_staging_fixes as s
from pipelines import read
from pipelines.problems import FileRejected
from pipelines.read_encoding import detect_encoding

HEADER, GOOD = s.HEADER, s.GOOD  # eight columns: Patient, Visit Date, Race, Income, ...


def _stage(tmp_path, text: str | bytes, name: str = "visits.csv"):
    if isinstance(text, str):
        text = text.encode()
    path = tmp_path / name
    path.write_bytes(text)
    from pipelines.feedback import bad_rows
    from pipelines.intake import stage_file

    staged = stage_file(path, s._config(tmp_path), "clinic", "salt", tmp_path / "staging")
    return staged, (bad_rows(staged.staged_db, "client_id") if staged.staged_db else [])


def _rows(staged) -> list[int]:
    return sorted(s._records(staged, "person_key"))


def test_short_lines_of_empty_cells_are_blank_lines_counted_in_the_numbering(tmp_path):
    rows = [GOOD[0], ",,,", GOOD[1], "\t", '"",""', " ,\u200b", GOOD[2], ",,,,,,,,,,", GOOD[3]]
    staged, bad = _stage(tmp_path, "\r\n".join([HEADER, *rows]) + "\r\n")
    assert (staged.status, staged.rows_read, staged.rows_loaded, bad) == ("staged", 4, 4, [])
    assert _rows(staged) == [2, 4, 8, 10]  # the sheet rows of the four good rows


def test_a_short_line_with_something_in_it_is_still_a_malformed_row(tmp_path):
    """A quoted comma, a quoted quote, a letter: a short row that is not empty stays a problem."""
    rows = [GOOD[0], '","', '""""', "x,,", *GOOD[1:]]
    staged, bad = _stage(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    assert staged.rows_loaded == 5
    assert [(b[0], b[2]) for b in bad] == [(3, "malformed_row"), (4, "malformed_row"),
                                           (5, "malformed_row")]


def test_a_repeated_header_is_one_problem_per_repeated_row(tmp_path):
    """Two exports pasted together (the second's byte order mark included), and a third."""
    text = ("\ufeff" + "\r\n".join([HEADER, GOOD[0], GOOD[1]]) + "\r\n\ufeff"
            + "\r\n".join([HEADER, GOOD[2]]) + "\r\n" + HEADER + "\r\n" + GOOD[3] + "\r\n")
    staged, bad = _stage(tmp_path, text)
    assert staged.status == "staged" and staged.rows_loaded == 4
    assert [(b[0], b[2]) for b in bad] == [(4, "repeated_header"), (6, "repeated_header")]
    assert bad[0][4].startswith("Row 4 repeats the header")
    assert _rows(staged) == [2, 3, 5, 7]


def test_a_row_that_only_starts_like_the_header_is_data(tmp_path):
    row = HEADER.split(",")
    row[3] = "lots"  # the Income cell differs: a data row with a wrong value, not a header
    staged, bad = _stage(tmp_path, "\n".join([HEADER, GOOD[0], ",".join(row)]) + "\n")
    assert "repeated_header" not in {b[2] for b in bad}
    assert "wrong_type" in {b[2] for b in bad}


def test_a_stray_nul_sets_aside_its_row_naming_the_column(tmp_path):
    rows = [GOOD[0], "G9,2024-04-0\x009,W,20000,2,OR,1,Y", GOOD[1]]
    staged, bad = _stage(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    assert (staged.status, staged.rows_loaded) == ("staged", 2)
    assert [(b[0], b[2]) for b in bad] == [(3, "nul_character")]
    assert "'Visit Date'" in bad[0][4] and "NUL" in bad[0][4]


def test_a_nul_past_the_first_64_kb_is_found_too(tmp_path):
    """Before, only the first 64 KB were looked at: a later NUL went into the person id."""
    filler = [f"F{i},2024-04-01,W,20000,2,OR,1,Y" for i in range(3000)]  # ~100 KB
    rows = [*filler, "G\x009,2024-04-02,W,20000,2,OR,1,Y"]
    staged, bad = _stage(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    assert staged.rows_loaded == 3000
    assert [(b[0], b[2]) for b in bad] == [(3002, "nul_character")]
    assert "'Patient'" in bad[0][4]


def test_nul_padding_at_the_end_of_a_file_is_nothing(tmp_path):
    """A file cut short by a crash, or padded to a block: the NULs after the last row."""
    text = ("\n".join([HEADER, *GOOD[:3]]) + "\n").encode() + b"\x00" * 3000
    staged, bad = _stage(tmp_path, text)
    assert (staged.status, staged.rows_read, staged.rows_loaded, bad) == ("staged", 3, 3, [])


@pytest.mark.parametrize("content, rule", [
    (b"\x7fELF\x02\x01\x01\x00" + bytes(56) + b"\x03\x00>\x00", "binary_file"),
    ("a,b\n1,2\n".encode("utf-32-le"), "binary_file"),  # UTF-32 without a BOM: 3 NULs in 4
    (bytes(range(256)) * 4, "binary_file"),
    (b"\x00" * 5000, "empty_file"),
    (b"a,b\n" + b"1\x00\x00\x00\x00\x00,2\x00\x00\x00\x00\x00\n" * 40, "binary_file"),
])
def test_binary_files_are_still_refused_whole(tmp_path, content, rule):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(FileRejected) as caught:
        detect_encoding(path, content[:65536])
    assert caught.value.problems[0].rule == rule
    if content.startswith(b"a,b"):  # text but for its NULs: the message says what is wrong
        assert "NUL" in caught.value.problems[0].message


def test_the_fast_and_the_general_parse_set_aside_the_same_records(tmp_path, monkeypatch):
    """The usual row's test (one code point and the header's first name) and the full one,
    with and without trimming, on blank, header, NUL and spaced rows."""
    rows = [GOOD[0], " , ,,,,,,", HEADER, " " + HEADER.replace(",", " , "), ",,",
            "G7,2024-04-0\x007,W,20000,2,OR,1,Y", "\x00,\x00,,,,,,", GOOD[1], "\u00a0" + GOOD[2]]
    answers = []
    for trim_always in (False, True):
        monkeypatch.setattr(read, "TRIM_ONLY_WHEN_NEEDED", not trim_always)
        folder = tmp_path / str(trim_always)
        folder.mkdir()
        staged, bad = _stage(folder, "\n".join([HEADER, *rows]) + "\n")
        answers.append((staged.rows_read, staged.rows_loaded, _rows(staged),
                        [(b[0], b[2]) for b in bad]))
    assert answers[0] == answers[1]
    assert answers[0][3] == [(4, "repeated_header"), (5, "repeated_header"),
                             (7, "nul_character")]
    assert answers[0][2] == [2, 9, 10]
