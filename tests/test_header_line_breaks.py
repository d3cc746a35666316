"""Session 8, helper B (finding A9): a CSV header cell with a line break (Excel's Alt+Enter,
saved quoted: "Visit<line break>Date") is one header cell, read as "Visit Date".

The header is the file's first record, quotes respected; rows keep their spreadsheet numbers
(record 2 is row 2) whatever the header's extra lines, rows with quoted line breaks, blank and
malformed rows. Staging only, on the Cedar scenario (tests/test_audit6_scenario.py).
"""

from __future__ import annotations

import codecs
import io
import time

import pytest
from typer.testing import CliRunner

import test_audit6_staging_fixes as s
import test_hostile7_read as h
from pipelines import read
from pipelines.header_record import read_header
from pipelines.problems import FileRejected

HEADER = [*s.HEADER.split(","), "Notes"]  # Patient, Visit Date, ..., Screened, Notes
BAD_INCOME = "X1,2024-04-09,W,lots,2,OR,1,Y,x"


def _csv(header: list[str], end: str = "\r\n", repeat: bool = True) -> str:
    """Record 1 the header; 2 a good row; 3 a good row with a quoted line break; 4 a bad income;
    5 blank; 6 a row with a cell too many; 7 good (CR LF in a cell); 8 the header again; 9 good.
    Written as Excel's "Save as CSV" does: cells with a line break quoted, `end` after rows."""
    def row(cells: list[str]) -> str:
        return ",".join(f'"{c}"' if "\n" in c or "\r" in c else c for c in cells)

    good = [g + "," for g in s.GOOD]
    records = [row(header), good[0] + "plain", good[1] + '"line one\nline two"', BAD_INCOME, "",
               good[2] + "x,extra", good[3] + '"a\r\nb"', row(header), good[4] + "end"]
    if not repeat:
        records[7] = good[4] + "again"
    return end.join(records) + end


def _outcome(tmp_path, content: str | bytes, name: str = "visits.csv"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    staged, bad = h._stage(tmp_path, content, name)
    rows = sorted(s._records(staged, "person_key")) if staged.status == "staged" else []
    return (staged.status, staged.rows_read, staged.rows_loaded,
            [(b[0], b[2]) for b in bad], rows, staged.ignored_columns), staged, bad


EXPECTED = ("staged", 7, 4, [(4, "wrong_type"), (6, "malformed_row"), (8, "repeated_header")],
            [2, 3, 7, 9])


def _wrapped(cell_break: str) -> list[str]:
    wrapped = list(HEADER)
    wrapped[1] = f"Visit{cell_break}Date"  # in the middle of the header
    wrapped[-1] = f"Notes{cell_break}(free text)"  # and last
    return wrapped


@pytest.mark.parametrize("cell_break,end", [("\n", "\r\n"), ("\n", "\n"), ("\r\n", "\r\n"),
                                            ("\n\n", "\r\n")])
def test_a_wrapped_header_is_one_record_and_rows_keep_their_numbers(tmp_path, cell_break, end):
    """Excel on Windows puts a line feed in the cell and CR LF after each row (DuckDB took the
    file's line ending from the header's first line break and read no row)."""
    outcome, staged, bad = _outcome(tmp_path, _csv(_wrapped(cell_break), end))
    assert outcome[:5] == EXPECTED
    assert staged.ignored_columns == ["Notes (free text)"]  # not "Notes", the text before the break
    assert staged.header_names["served"] == "Visit Date"
    assert bad[-1][4].startswith("Row 8 repeats the header (the column names of row 1)")
    assert "lots" in {b[3] for b in bad}  # the income of row 4 is the one named


def test_a_wrapped_header_reads_as_the_same_file_with_a_one_line_header(tmp_path):
    wrapped, _, bad = _outcome(tmp_path / "w", _csv(_wrapped("\n")))
    plain, _, plain_bad = _outcome(tmp_path / "p", _csv(HEADER[:-1] + ["Notes (free text)"]))
    assert wrapped == plain
    assert [b[4] for b in bad] == [b[4] for b in plain_bad]  # messages too


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig"])
def test_a_wrapped_header_in_cp1252_or_after_a_byte_order_mark(tmp_path, encoding):
    header = _wrapped("\n")
    header[-1] = "Notes\n(café)"
    content = _csv(header).replace("plain", "déjà vu").encode(encoding)
    if encoding == "cp1252":
        assert not content.startswith(codecs.BOM_UTF8)
    outcome, staged, _ = _outcome(tmp_path, content)
    assert outcome[:5] == EXPECTED
    assert (staged.encoding, staged.ignored_columns) == (encoding, ["Notes (café)"])


@pytest.mark.parametrize("wrapped", [True, False])
@pytest.mark.parametrize("path", ["general", "pieces"])
def test_every_read_path_numbers_a_wrapped_header_file_alike(tmp_path, monkeypatch, path,
                                                             wrapped):
    """The fast path (no trim, one parse) against every cell trimmed, and against the parse in
    pieces that a file with many refused rows takes. A piece starting with a row that holds a
    quoted line feed, in a CR LF file, was refused whole (wrapped header or not): DuckDB took
    that line feed for the file's line ending."""
    text = _csv(_wrapped("\n") if wrapped else HEADER[:-1] + ["Notes (free text)"])
    fast, _, fast_bad = _outcome(tmp_path / "fast", text)
    if path == "general":
        monkeypatch.setattr(read, "TRIM_ONLY_WHEN_NEEDED", False)
    else:
        monkeypatch.setattr(read, "REFUSED_CELLS_PER_SCAN", 1)  # a piece per record
    other, _, other_bad = _outcome(tmp_path / "other", text)
    assert fast == other and fast_bad == other_bad
    assert fast[:5] == EXPECTED


def test_many_bad_rows_after_a_wrapped_header_keep_their_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(read, "REFUSED_CELLS_PER_SCAN", 50)
    rows = [f"{g},x" if i % 3 else f"{g},x,extra" for i, g in enumerate(s.GOOD * 20)]
    text = "\r\n".join([",".join(f'"{c}"' if "\n" in c else c for c in _wrapped("\n")), *rows])
    staged, bad = h._stage(tmp_path, text + "\r\n")
    assert staged.rows_read == 100 and staged.rows_loaded == 66
    assert [b[0] for b in bad] == [2 + i for i in range(100) if i % 3 == 0]


def test_an_unterminated_quote_in_the_header_is_a_clear_rejection(tmp_path):
    """The rest of the file is not read as one header cell: the search stops at 1 MB."""
    header = s.HEADER.replace("Visit Date", '"Visit Date')
    body = "\r\n".join(s.GOOD) + "\r\n"
    started = time.process_time()
    staged, _ = h._stage(tmp_path, header + "\r\n" + body * 100_000)  # 3 MB
    assert time.process_time() - started < 20
    assert staged.status == "rejected"
    [problem] = staged.problems
    assert (problem["rule"], problem["row"]) == ("unterminated_quote", 1)
    assert "quote mark" in problem["message"] and "never closes" in problem["message"]
    (tmp_path / "short").mkdir()
    staged, _ = h._stage(tmp_path / "short", header + "\r\n" + body)
    assert [p["rule"] for p in staged.problems] == ["unterminated_quote"]


def test_a_header_quote_that_closes_rows_later_is_a_rejection_not_a_crash(tmp_path):
    """The header runs on into row 2 (its third cell "Race,...<line break>G0,...,x"): three
    columns, so the rows are refused for their cells (as before this change: no rows loaded)."""
    header = s.HEADER.replace("Race", '"Race')
    staged, _ = h._stage(tmp_path, header + "\n" + s.GOOD[0] + ',"x"\n' + s.GOOD[1] + "\n")
    assert staged.status == "rejected" and staged.rows_loaded == 0
    assert "more cells than the header (3)" in staged.problems[0]["message"]


def test_backbone_check_reads_a_wrapped_header(tmp_path):
    from pipelines.cli import app
    import test_audit6_scenario as cedar

    workspace = cedar.build(tmp_path / "home")
    path = tmp_path / "visits.csv"
    path.write_text(_csv(_wrapped("\n"), repeat=False))
    result = CliRunner().invoke(app, ["check", str(path), "--partner", "clinic",
                                      "--home", str(workspace.root)])
    output = " ".join(result.output.split())
    assert "no data rows" not in output and "is missing" not in output, output
    assert "Row 4" in output or "row 4" in output, output


def test_a_workbook_header_with_a_line_break_reads_as_the_csv_one(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(_wrapped("\n"))
    for line in [s.GOOD[0] + ",a", BAD_INCOME, s.GOOD[1] + ",b"]:
        sheet.append(line.split(","))
    book.save(tmp_path / "visits.xlsx")
    outcome, staged, _ = _outcome(tmp_path, (tmp_path / "visits.xlsx").read_bytes(),
                                  "visits.xlsx")
    assert outcome[:5] == ("staged", 3, 2, [(3, "wrong_type")], [2, 4])
    assert staged.ignored_columns == ["Notes (free text)"]


def _header(text: str, maps=None):
    return read_header(io.StringIO(text, newline=""), maps)


def test_the_header_record_reads_each_line_break_as_one_space():
    found = _header('a,"b\r\n\r\n c",d\r\n1,2,3\r\n')
    assert (found.delimiter, found.names, found.cells) == (",", ["a", "b c", "d"],
                                                           ["a", "b\r\n\r\n c", "d"])
    assert found.wrapped and not _header("a,b\n1,2\n").wrapped


def test_an_unterminated_header_quote_at_the_end_of_a_short_file_is_rejected():
    for text in ['a,"b,c', 'a,"b,c\n', '"a,b\n1,2\n']:
        with pytest.raises(FileRejected) as caught:
            _header(text)
        assert caught.value.problems[0].rule == "unterminated_quote"


# C7: the delimiter under which the header names the template's columns --------------------------
def test_a_comma_file_with_semicolons_in_a_header_cell_is_read_as_commas(tmp_path):
    """By cell count alone, "a;b;...;j" (ten cells under ';', nine columns under ',') made this
    a semicolon file, every template column missing."""
    extra = "a;b;c;d;e;f;g;h;i;j"
    rows = [f"{g},note" for g in s.GOOD[:3]] + [BAD_INCOME]
    staged, bad = h._stage(tmp_path, "\n".join([f"{s.HEADER},{extra}", *rows]) + "\n")
    assert (staged.status, staged.delimiter, staged.rows_loaded) == ("staged", ",", 3)
    assert staged.ignored_columns == [extra]
    assert [(b[0], b[2]) for b in bad] == [(5, "wrong_type")]


def test_a_semicolon_file_with_commas_in_a_header_cell_is_read_as_semicolons(tmp_path):
    extra = "a,b,c,d,e,f,g,h,i,j"
    rows = [f"{g};note".replace(",", ";") for g in s.GOOD[:3]]
    header = ";".join([*s.HEADER.split(","), extra])
    staged, _ = h._stage(tmp_path, "\n".join([header, *rows]) + "\n")
    assert (staged.status, staged.delimiter, staged.rows_loaded) == ("staged", ";", 3)
    assert staged.ignored_columns == [extra]


def test_without_a_template_the_delimiter_is_the_one_giving_the_most_cells():
    assert _header("a;b;c;d,e\n").delimiter == ";"
    assert _header("a,b\n").delimiter == ","
    assert _header("ab\n").delimiter == ","  # one column: the usual comma
    assert _header("a|b|c\n").delimiter == "|"
    # A template name under ',' outweighs more cells under ';'.
    assert _header("id,x;y;z\n", lambda name: name == "id").delimiter == ","
