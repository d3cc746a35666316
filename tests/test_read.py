"""The read stage on the kinds of files partners really send."""

from __future__ import annotations

import codecs
import hashlib

import duckdb
import pytest

from pipelines.config import Crosswalk
from pipelines.lines import line_count
from pipelines.problems import FileRejected, Problem
from pipelines.read import Malformed, load_csv, map_header, normalize_name, sniff
from pipelines.typed import typed_columns

HEADER = "person_id,period,kinder_ready\n"


def _read(tmp_path, config, content: bytes, crosswalk: Crosswalk | None = None):
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    sniffed = sniff(path, tmp_path / "staging")
    header_map = map_header(sniffed.header, config.record_schema, crosswalk or Crosswalk())
    con = duckdb.connect()
    malformed = load_csv(con, sniffed, header_map)
    rows = con.execute("SELECT * FROM raw ORDER BY _row").fetchall()
    return sniffed, _malformed(con, malformed), rows


def _malformed(con, malformed: Malformed) -> list[Problem]:
    """The refused rows load_csv left in `_malformed`, checked against what it returned."""
    problems = [Problem(rule, message, row=row) for row, rule, message in con.execute(
        "SELECT _row, rule, message FROM _malformed ORDER BY _row").fetchall()]
    assert malformed.count == len(problems) and malformed.first == (problems or [None])[0]
    return problems


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
    assert normalize_name("\ufeff Student-ID #") == "studentid" == normalize_name("StudentID")


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
    # The period column is text (read once per distinct value by pipelines.period_intake).
    # `_aside` flags blank records, repeated headers and NUL cells (left out of the view, kept
    # in the numbering).
    assert kept == {"person_id", "period", "kinder_ready", "kinder_ready__text", "_aside"}
    rows = con.execute("SELECT _row, person_id, person_id__text, period, period__text, "
                       "kinder_ready, household_income, household_income__text FROM typed "
                       "ORDER BY _row").fetchall()
    assert rows == [(2, "A1", "A1", "2024", "2024", 1, None, None),
                    (3, "A2", "A2", "20x4", "20x4", None, None, None)]


@pytest.mark.parametrize("content, lines", [(b"", 0), (b"h\n", 1), (b"h", 1), (b"h\r\na\r\n", 2),
                                            (b"h\n\na", 3), (b'h\n"a\nb"\n', 3)])
def test_line_count_counts_an_unterminated_last_line(tmp_path, content, lines):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    assert line_count(path) == lines


def test_refused_rows_are_quarantined_set_based_with_their_rows(tmp_path, config):
    """400k short rows the parser refuses: one table of refused rows, built in SQL (inserting
    them one by one from Python took minutes), numbered like the spreadsheet."""
    rows = 400_000
    body = "".join(f"A{i},2024\n" if i % 4 else f"A{i},2024,1\n" for i in range(rows))
    path = tmp_path / "ragged.csv"
    path.write_text(HEADER + body)
    sniffed = sniff(path, tmp_path / "staging")
    con = duckdb.connect()
    malformed = load_csv(con, sniffed, map_header(sniffed.header, config.record_schema,
                                                  Crosswalk()))
    assert malformed.count == rows * 3 // 4
    assert malformed.first.row == 3 and "fewer cells" in malformed.first.message
    count, first, last, kinds = con.execute(
        "SELECT count(*), min(_row), max(_row), count(DISTINCT message) FROM _malformed "
        "WHERE rule = 'malformed_row'").fetchall()[0]
    assert (count, first, last, kinds) == (rows * 3 // 4, 3, rows + 1, 1)
    loaded = con.execute("SELECT _row, person_id FROM raw ORDER BY _row").fetchall()
    assert len(loaded) == rows // 4
    assert loaded[:2] == [(2, "A0"), (6, "A4")] and loaded[-1] == (rows - 2, f"A{rows - 4}")


def test_a_row_over_the_parsers_buffer_is_refused_where_it_stands(tmp_path, config):
    """A row of 40 MB is over DuckDB's read buffer (~32 MB): left to the parser it vanished
    without a reject row, and every later row was numbered one too early."""
    path = tmp_path / "long.csv"
    with path.open("wb") as handle:
        handle.write(b"person_id,period,kinder_ready\r\nA,2024,1\r\nB,2024,")
        handle.write(b"1" * 40_000_000)
        handle.write(b"\r\nC,2024,1\r\nD,2024\r\nE,2024,0\r\n")
    sniffed = sniff(path, tmp_path / "staging")
    assert sniffed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()  # of what was sent
    con = duckdb.connect()
    malformed = load_csv(con, sniffed, map_header(sniffed.header, config.record_schema,
                                                  Crosswalk()))
    problems = _malformed(con, malformed)
    assert [(p.row, p.rule) for p in problems] == [(3, "malformed_row"), (5, "malformed_row")]
    assert "longer than 1 MB" in problems[0].message and "fewer cells" in problems[1].message
    rows = con.execute("SELECT _row, person_id FROM raw ORDER BY _row").fetchall()
    assert rows == [(2, "A"), (4, "C"), (6, "E")]


def test_typed_columns_fit_the_record_columns_they_end_in(tmp_path, config):
    """A typed value that fits `typed` but not its record column crashed standardize (a year of
    99999999999 cast to INTEGER): each typed column has its record column's type."""
    from pipelines.standardize import AGGREGATE_COLUMNS, record_columns

    for schema, record in ((config.record_schema, dict(record_columns(config.record_schema))),
                           (config.aggregate_schema, dict(AGGREGATE_COLUMNS))):
        # Columns standardize casts to their record column (race flags are compared, not cast).
        cast = {c.name: c.name if c.role == "measure" else c.role for c in schema.columns
                if c.type != "string" and (c.role == "measure" or c.role in record)}
        ends_in = {name: record[column] for name, column in cast.items()}
        assert ends_in, schema.id
        stored, exposed = typed_columns(schema, Crosswalk(), [c.name for c in schema.columns])
        path = tmp_path / f"{schema.id}.csv"
        path.write_text(",".join(c.name for c in schema.columns) + "\n"
                        + ",".join("1" for _ in schema.columns) + "\n")
        sniffed = sniff(path, tmp_path / "staging")
        con = duckdb.connect()
        load_csv(con, sniffed, map_header(sniffed.header, schema, Crosswalk()), table="typed",
                 materialize=False, select=stored, expose=exposed)
        types = {name: kind for name, kind, *_ in con.execute("DESCRIBE typed").fetchall()}
        assert {name: types[name] for name in ends_in} == ends_in


@pytest.mark.parametrize("content", [
    HEADER + "A,2024,1\nB,2024\n\n\nC,2024,1,extra\n\"D\nwith newline\",2024,0\nE,2024,1\n",
    HEADER.replace("\n", "\r\n") + "A,2024,1\r\n\r\nB\r\n\"C \"\"x\"\"\",2024,1\r\nD,2024,0",
    HEADER + "A,2024,1\nB,2024,\"open\nC,2024,1\n",
])
def test_many_refused_rows_are_parsed_in_pieces_with_the_same_result(tmp_path, config,
                                                                     monkeypatch, content):
    """Past a number of refused cells a file is parsed in pieces (DuckDB holds ~1 KB per refused
    cell until a scan ends): same rows, same numbers, same refusals as in one scan."""
    from pipelines import read

    def outcome(folder):
        path = tmp_path / "in.csv"
        path.write_bytes(content.encode())
        sniffed = sniff(path, tmp_path / folder)
        con = duckdb.connect()
        try:
            malformed = load_csv(con, sniffed, map_header(sniffed.header, config.record_schema,
                                                          Crosswalk()))
        except FileRejected as rejection:
            return rejection.problems
        rows = con.execute("SELECT * FROM raw ORDER BY _row").fetchall()
        return rows, _malformed(con, malformed)

    whole = outcome("whole")
    monkeypatch.setattr(read, "REFUSED_CELLS_PER_SCAN", 1)  # every record a piece of its own
    assert outcome("pieces") == whole
    assert (tmp_path / "pieces" / "pieces").is_dir()  # it was parsed in pieces
    assert not list((tmp_path / "pieces").rglob("*.csv"))  # and none is left behind


class _CountingConnection:
    """A DuckDB connection that counts the statements reading the CSV file."""

    def __init__(self):
        self.con, self.scans = duckdb.connect(), 0

    def execute(self, sql, *args, **kwargs):
        self.scans += "read_csv(" in sql
        return self.con.execute(sql, *args, **kwargs)


def _scans(tmp_path, config, content: bytes):
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    sniffed = sniff(path, tmp_path / "staging")
    con = _CountingConnection()
    malformed = load_csv(con, sniffed, map_header(sniffed.header, config.record_schema,
                                                  Crosswalk()))
    rows = con.con.execute("SELECT _row, person_id FROM raw ORDER BY _row").fetchall()
    return con.scans, _malformed(con.con, malformed), rows


def test_a_file_whose_every_line_is_a_row_is_parsed_once(tmp_path, config):
    """Parsing is most of reading a file: a clean file is not scanned again for rejects."""
    scans, problems, rows = _scans(tmp_path, config, (HEADER + "A,2024,1\nB,2024,0\n").encode())
    assert (scans, problems, rows) == (1, [], [(2, "A"), (3, "B")])
    # A refused row: scanned again, keeping the parser's reasons, with the same rows.
    scans, problems, rows = _scans(tmp_path, config, (HEADER + "A,2024,1\nB,2024\nC,2024,0\n")
                                   .encode())
    assert scans == 2 and [(p.row, p.rule) for p in problems] == [(3, "malformed_row")]
    assert rows == [(2, "A"), (4, "C")]


def test_lone_carriage_returns_take_the_scan_that_keeps_rejects(tmp_path, config):
    """Counted line feeds undercount a file with old Mac line ends, so such a file is never
    taken for clean on that count."""
    from pipelines.lines import lone_carriage_return

    for content, lone in ((b"a\r\nb\r\n", False), (b"a\rb\n", True), (b"a\n\r", True),
                          (b"a\nb", False)):
        path = tmp_path / "lines.csv"
        path.write_bytes(content)
        assert lone_carriage_return(path) is lone
    # One line feed-free line, no row loaded: the count alone would call this file clean.
    scans, problems, rows = _scans(tmp_path, config, b"person_id,period,kinder_ready\rB,2024\r")
    assert scans == 2 and [(p.row, p.rule) for p in problems] == [(2, "malformed_row")]
    assert rows == []


def test_the_crosswalks_column_wins_over_a_template_alias_of_the_same_column(config):
    """Audit 8, A8-11: the partner's crosswalk says "Gross HH" is the household income; their
    "Income" column (a template alias) is some other income: left aside, not a duplicate."""
    crosswalk = Crosswalk(header_aliases={"Gross HH": "household_income"})
    header = ["person_id", "period", "Income", "Gross HH"]
    mapped = map_header(header, config.record_schema, crosswalk)
    assert mapped.positions == {0: "person_id", 1: "period", 3: "household_income"}
    assert mapped.ignored == ["Income"]
    # Without the crosswalk's word, two columns that both mean one are still a duplicate.
    with pytest.raises(FileRejected) as caught:
        map_header(["person_id", "period", "Income", "hh_income"], config.record_schema,
                   crosswalk)
    assert caught.value.problems[0].rule == "duplicate_column"
