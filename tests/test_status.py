"""Submission status: the `reporting:` calendar, each state and their precedence, how files are
attributed to owed periods, `--as-of`, the `backbone status` command, the published table and
the partner report's "periods still due", and the sample showing a missing and a late period."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from pipelines import warehouse
from pipelines.cli import app
from pipelines.config import ConfigError, Workspace
from pipelines.status_page import publish_status
from pipelines.status_text import still_due_lines
from pipelines.submission_status import COLUMNS, STATES, read_status, submission_status

D = dt.date


def set_reporting(workspace: Workspace, reporting: dict | None) -> Path:
    """Replace the initiative's `reporting:` block (None: remove it)."""
    path = workspace.path("indicators", "riverbend", "initiative.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.pop("reporting", None)
    if reporting is not None:
        data["reporting"] = reporting
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class Books:
    """A real warehouse file in the post-migration layout, filled by hand: submissions and the
    rows each file carried, with the dates a run would have recorded."""

    def __init__(self, workspace: Workspace, reporting: dict) -> None:
        set_reporting(workspace, reporting)
        self.workspace = workspace
        self.config = workspace.load("riverbend")
        self.con = warehouse.connect(workspace.warehouse_file)
        warehouse.ensure_initiative_tables(self.con, self.config)
        self.row = 0

    def file(self, partner: str, name: str, status: str, received: str, *, read: int = 10,
             quarantined: int = 0) -> int:
        return self.con.execute(
            "INSERT INTO submissions (initiative_id, partner_id, file_name, status, rows_read, "
            "rows_loaded, rows_quarantined, received_at) VALUES ('riverbend', ?, ?, ?, ?, ?, ?, "
            "?) RETURNING submission_id",
            [partner, name, status, read, read - quarantined if status != "rejected" else 0,
             quarantined, received]).fetchall()[0][0]

    def records(self, submission: int, start: D, end: D, n: int = 1, **measures) -> None:
        label = start.isoformat() if start == end else f"{start:%Y-%m}"
        columns = ", ".join(measures)
        for _ in range(n):
            self.row += 1
            # As the warehouse load writes them: each record names its file's partner.
            self.con.execute(
                f"INSERT INTO riverbend.records (submission_id, partner_id, source_row, "
                f"loaded_at, period, period_start, period_end{', ' if measures else ''}"
                f"{columns}) VALUES (?, (SELECT partner_id FROM submissions WHERE "
                f"submission_id = ?), ?, now(), ?, ?, ?{', ?' * len(measures)})",
                [submission, submission, self.row, label, start, end, *measures.values()])

    def cells(self, submission: int, indicator: str, year: int) -> None:
        self.row += 1
        self.con.execute(
            "INSERT INTO riverbend.aggregate_counts (submission_id, partner_id, source_row, "
            "loaded_at, indicator_id, period, period_type, period_start, period_end) VALUES (?, "
            "(SELECT partner_id FROM submissions WHERE submission_id = ?), ?, now(), ?, ?, "
            "'year', ?, ?)", [submission, submission, self.row, indicator, str(year),
                              D(year, 1, 1), D(year, 12, 31)])

    def status(self, as_of: D, partner: str | None = None) -> list[dict]:
        return submission_status(self.con, self.config, as_of, partner).to_pylist()

    def states(self, as_of: D, partner: str | None = None) -> dict[str, str]:
        return {r["period"]: r["state"] for r in self.status(as_of, partner)}


QUARTERLY = {"northside_clinic": [{"every": "quarter", "due_days": 30,
                                   "first_period": "2024Q1", "measures": ["well_child_visit"]}]}


@pytest.fixture
def books(workspace: Workspace):
    books = Books(workspace, QUARTERLY)
    yield books
    books.con.close()


# ------------------------------------------------------------------ the reporting: model

def test_reporting_block_is_read_and_normalised(workspace: Workspace) -> None:
    set_reporting(workspace, {"northside_clinic": [
        {"every": "quarter", "due_days": 30, "first_period": "Q1 2024"},
        {"every": "school_year", "due_days": 0, "first_period": "SY2024",
         "template": "person_outcomes_v1", "measures": ["well_child_visit"]}],
        "riverbend_housing": [{"every": "year", "due_days": 45, "first_period": 2022,
                               "measures": ["stable_housing"]}]})
    reporting = workspace.load("riverbend").initiative.reporting
    assert [o.first_period for o in reporting["northside_clinic"]] == ["2024Q1", "2023-24"]
    assert reporting["riverbend_housing"][0].first_period == "2022"


@pytest.mark.parametrize("reporting, where, says", [
    ({"nobody": [{"every": "year", "due_days": 30, "first_period": 2024}]},
     "reporting.nobody", "'nobody' is not one of partners"),
    ({"northside_clinic": [{"every": "quarter", "due_days": 30, "first_period": "2024Q5"}]},
     "reporting.northside_clinic.0", "first_period: '2024Q5' is not a period"),
    ({"northside_clinic": [{"every": "quarter", "due_days": 30, "first_period": "2024-03"}]},
     "reporting.northside_clinic.0", "'2024-03' is a month, not a quarter"),
    ({"northside_clinic": [{"every": "week", "due_days": 30, "first_period": "2024"}]},
     "reporting.northside_clinic.0.every", "Input should be"),
    ({"northside_clinic": [{"every": "year", "due_days": -1, "first_period": "2024"}]},
     "reporting.northside_clinic.0.due_days", "greater than or equal to 0"),
    ({"northside_clinic": [{"every": "year", "due_days": 30, "first_period": "2024",
                            "cadence": "x"}]},
     "reporting.northside_clinic.0.cadence", "Extra inputs are not permitted"),
    ({"northside_clinic": [{"every": "year", "due_days": 30, "first_period": "2024",
                            "template": "aggregate_counts_v1"}]},
     "reporting.northside_clinic.0.template", "is not the template northside_clinic submits"),
    ({"northside_clinic": [{"every": "year", "due_days": 30, "first_period": "2024",
                            "measures": ["well_child"]}]},
     "reporting.northside_clinic.0.measures.0", "'well_child' is not one of the measure columns"),
    ({"riverbend_housing": [{"every": "year", "due_days": 30, "first_period": "2024",
                             "measures": ["well_child_visit"]}]},
     "reporting.riverbend_housing.0.measures.0", "is not one of the indicator ids"),
])
def test_reporting_errors_name_file_and_key(workspace: Workspace, reporting: dict, where: str,
                                            says: str) -> None:
    path = set_reporting(workspace, reporting)
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    message = str(caught.value)
    assert str(path) in message and where in message and says in message, message


# ------------------------------------------------------------------ states and precedence

def test_each_state(books: Books) -> None:
    on_time = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-30 23:00")
    books.records(on_time, D(2024, 2, 1), D(2024, 2, 29), well_child_visit=1)  # a month in Q1
    late = books.file("northside_clinic", "q2.csv", "loaded", "2024-08-01 09:00")
    books.records(late, D(2024, 5, 3), D(2024, 5, 3), well_child_visit=0)  # a dated row
    quarantined = books.file("northside_clinic", "q3.csv", "loaded", "2024-10-20 09:00",
                             read=10, quarantined=3)
    books.records(quarantined, D(2024, 8, 1), D(2024, 8, 31), n=7, well_child_visit=1)
    held = books.file("northside_clinic", "q4.csv", "held", "2025-01-10 09:00")
    books.records(held, D(2024, 12, 1), D(2024, 12, 31), well_child_visit=1)
    rejected = books.file("northside_clinic", "broken.csv", "rejected", "2025-05-02 09:00")
    # 2025Q2 has no file and is overdue by 2025-09-01; 2025Q3 is not due until 2025-10-30.
    rows = books.status(D(2025, 9, 1))
    assert {r["period"]: r["state"] for r in rows} == {
        "2024Q1": "on_time", "2024Q2": "late", "2024Q3": "partly_quarantined",
        "2024Q4": "held", "2025Q1": "rejected", "2025Q2": "missing", "2025Q3": "not_yet_due"}
    assert set(STATES) == {r["state"] for r in rows}
    by = {r["period"]: r for r in rows}
    assert by["2024Q3"]["quarantined_share"] == 0.3 and by["2024Q3"]["on_time"] is True
    assert by["2024Q3"]["rows"] == 7
    assert by["2024Q2"]["on_time"] is False and by["2024Q2"]["due_date"] == D(2024, 7, 30)
    assert by["2024Q4"]["on_time"] is True and by["2024Q4"]["latest_status"] == "held"
    assert by["2025Q1"]["latest_file"] == "broken.csv" and by["2025Q1"]["overdue"] is True
    assert by["2025Q1"]["rows"] is None and rejected
    assert by["2025Q2"]["overdue"] is True and by["2025Q2"]["files"] == 0
    assert by["2025Q3"]["overdue"] is False and by["2025Q3"]["on_time"] is None
    assert list(rows[0]) == list(COLUMNS)


def test_precedence_latest_file_decides_and_on_time_is_kept(books: Books) -> None:
    first = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-10", read=10,
                       quarantined=3)
    books.records(first, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
    row = books.status(D(2024, 5, 1))[0]
    assert (row["state"], row["quarantined_share"], row["on_time"]) == \
        ("partly_quarantined", 0.3, True)
    # A later replacement, held for review: held wins, and the period stays received on time.
    held = books.file("northside_clinic", "q1 again.csv", "held", "2024-06-01")
    books.records(held, D(2024, 1, 1), D(2024, 3, 31), well_child_visit=1)
    row = books.status(D(2024, 6, 2))[0]
    assert (row["state"], row["on_time"], row["latest_file"], row["files"]) == \
        ("held", True, "q1 again.csv", 2)
    # A clean file after that: on time (timeliness is the first receipt), nothing set aside.
    clean = books.file("northside_clinic", "q1 fixed.csv", "loaded", "2024-07-01")
    books.records(clean, D(2024, 3, 1), D(2024, 3, 31), well_child_visit=0)
    row = books.status(D(2024, 7, 2))[0]
    assert (row["state"], row["quarantined_share"], row["on_time"]) == ("on_time", 0.0, True)
    # A rejected file never lands on a period already received: it goes to the next one owed.
    books.file("northside_clinic", "q2 broken.csv", "rejected", "2024-07-15")
    assert books.states(D(2024, 8, 1)) == {"2024Q1": "on_time", "2024Q2": "rejected",
                                           "2024Q3": "not_yet_due"}


# ------------------------------------------------------------------ attribution

def test_records_cover_the_periods_that_contain_them(books: Books) -> None:
    yearly = books.file("northside_clinic", "year.csv", "loaded", "2024-04-01")
    books.records(yearly, D(2024, 1, 1), D(2024, 12, 31), well_child_visit=1)
    straddling = books.file("northside_clinic", "span.csv", "loaded", "2024-04-02")
    books.records(straddling, D(2024, 3, 15), D(2024, 4, 15), well_child_visit=1)
    no_measure = books.file("northside_clinic", "other.csv", "loaded", "2024-04-03")
    books.records(no_measure, D(2024, 2, 1), D(2024, 2, 29), kinder_ready=1)
    # Coarser or straddling rows, or rows without the owed measure, cover no quarter.
    assert books.states(D(2024, 5, 15)) == {"2024Q1": "missing", "2024Q2": "not_yet_due"}
    spread = books.file("northside_clinic", "two quarters.csv", "loaded", "2024-07-10")
    books.records(spread, D(2024, 3, 1), D(2024, 3, 31), well_child_visit=1)
    books.records(spread, D(2024, 4, 1), D(2024, 4, 30), n=2, well_child_visit=0)
    rows = {r["period"]: r for r in books.status(D(2024, 7, 10))}
    assert (rows["2024Q1"]["state"], rows["2024Q1"]["rows"]) == ("late", 1)
    assert (rows["2024Q2"]["state"], rows["2024Q2"]["rows"]) == ("on_time", 2)


def test_rows_set_aside_or_superseded_still_count_as_received(books: Books) -> None:
    first = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-10")
    books.records(first, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
    later = books.file("northside_clinic", "q1 complete.csv", "loaded", "2024-06-10")
    books.records(later, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
    books.con.execute("INSERT INTO riverbend.records_set_aside VALUES (?, '2024-01', 'replaced', "
                      "?, now())", [first, later])
    books.con.execute("INSERT INTO riverbend.records_superseded SELECT submission_id, "
                      "source_row, ?, now() FROM riverbend.records WHERE submission_id = ?",
                      [later, first])
    assert books.con.execute("SELECT count(*) FROM riverbend.records_current WHERE "
                             "submission_id = ?", [first]).fetchall()[0][0] == 0
    row = books.status(D(2024, 7, 1))[0]
    assert (row["state"], row["first_received_at"], row["files"]) == \
        ("on_time", dt.datetime(2024, 4, 10), 2)


def test_measures_all_present_and_aggregates_by_indicator(workspace: Workspace) -> None:
    books = Books(workspace, {
        "riverbend_schools": [{"every": "year", "due_days": 90, "first_period": 2023,
                               "measures": ["kinder_ready", "grade3_reading_proficient"]}],
        "riverbend_housing": [{"every": "year", "due_days": 45, "first_period": 2023,
                               "measures": ["stable_housing"]}]})
    try:
        only_k = books.file("riverbend_schools", "k.csv", "loaded", "2024-02-01")
        books.records(only_k, D(2023, 1, 1), D(2023, 12, 31), n=3, kinder_ready=1)
        both = books.file("riverbend_schools", "k and g3.csv", "loaded", "2025-02-01")
        books.records(both, D(2024, 1, 1), D(2024, 12, 31), n=2, kinder_ready=1)
        books.records(both, D(2024, 1, 1), D(2024, 12, 31), n=1, grade3_reading_proficient=0)
        cells = books.file("riverbend_housing", "rha.csv", "loaded", "2024-02-10")
        books.cells(cells, "stable_housing", 2023)
        other = books.file("riverbend_housing", "other.csv", "loaded", "2025-01-10")
        books.cells(other, "kindergarten_readiness", 2024)
        rows = {(r["partner_id"], r["period"]): r for r in books.status(D(2025, 6, 1))}
        assert rows[("riverbend_schools", "2023")]["state"] == "missing"  # one measure of two
        assert (rows[("riverbend_schools", "2024")]["state"],
                rows[("riverbend_schools", "2024")]["rows"]) == ("on_time", 3)
        assert rows[("riverbend_housing", "2023")]["state"] == "on_time"
        assert rows[("riverbend_housing", "2024")]["state"] == "missing"
    finally:
        books.con.close()


def test_rejected_file_goes_to_the_earliest_period_not_received(books: Books) -> None:
    q1 = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-20")
    books.records(q1, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
    books.file("northside_clinic", "attempt 1.csv", "rejected", "2024-11-05")
    books.file("northside_clinic", "attempt 2.csv", "rejected", "2024-11-06")
    books.file("northside_clinic", "attempt 1.csv", "duplicate", "2024-11-07")
    rows = {r["period"]: r for r in books.status(D(2024, 11, 10))}
    # Q2 is the earliest period begun and not received when they came: both land there.
    assert (rows["2024Q2"]["state"], rows["2024Q2"]["files"], rows["2024Q2"]["latest_file"]) \
        == ("rejected", 2, "attempt 2.csv")
    assert rows["2024Q3"]["state"] == "missing" and rows["2024Q4"]["state"] == "not_yet_due"
    # Q2 arrives after all: loaded wins, late (its first receipt is after the due date).
    q2 = books.file("northside_clinic", "q2.csv", "loaded", "2024-11-20")
    books.records(q2, D(2024, 4, 1), D(2024, 4, 30), well_child_visit=1)
    rows = {r["period"]: r for r in books.status(D(2024, 11, 20))}
    assert (rows["2024Q2"]["state"], rows["2024Q2"]["files"]) == ("late", 3)


# ------------------------------------------------------------------ as of a day

def test_as_of_ignores_later_files_and_periods(books: Books) -> None:
    q1 = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-30 18:00")
    books.records(q1, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
    # Before the first period ends only it is listed; the file has not come yet.
    assert books.states(D(2024, 2, 1)) == {"2024Q1": "not_yet_due"}
    # Received on the due date: on time; before the first period begins it is still listed.
    assert books.states(D(2023, 6, 1)) == {"2024Q1": "not_yet_due"}
    assert books.states(D(2024, 4, 30)) == {"2024Q1": "on_time", "2024Q2": "not_yet_due"}
    assert books.states(D(2024, 4, 29)) == {"2024Q1": "not_yet_due", "2024Q2": "not_yet_due"}
    # The day after a due date with nothing received: missing; the periods begun are listed.
    assert books.states(D(2024, 7, 31)) == {"2024Q1": "on_time", "2024Q2": "missing",
                                            "2024Q3": "not_yet_due"}
    assert books.states(D(2024, 7, 30))["2024Q2"] == "not_yet_due"
    assert {r["as_of"] for r in books.status(D(2024, 7, 31))} == {D(2024, 7, 31)}


def test_no_reporting_calendar_means_an_empty_table(workspace: Workspace) -> None:
    set_reporting(workspace, None)
    config = workspace.load("riverbend")
    con = duckdb.connect()
    assert submission_status(con, config, D(2025, 1, 1)).num_rows == 0
    assert publish_status(con, config, workspace.root) == []


def test_nothing_received_yet_lists_everything_owed(workspace: Workspace) -> None:
    set_reporting(workspace, QUARTERLY)
    table, source = read_status(workspace, workspace.load("riverbend"), D(2024, 8, 15))
    assert [r["state"] for r in table.to_pylist()] == ["missing", "missing", "not_yet_due"]
    assert "no warehouse" in source


def test_quality_flags_are_counted_per_partner_period(books: Books) -> None:
    from pipelines.quality import FLAGS_DDL

    q1 = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-20")
    books.records(q1, D(2024, 1, 1), D(2024, 3, 31), well_child_visit=1)
    assert [r["quality_flags"] for r in books.status(D(2024, 5, 1))] == [0, 0]
    books.con.execute(f"CREATE TABLE riverbend.quality_flags ({FLAGS_DDL})")
    books.con.execute("""INSERT INTO riverbend.quality_flags (partner_id, period, period_start,
        check_name, message) VALUES ('northside_clinic', '2024-02', DATE '2024-02-01',
        'row_count', 'x'), ('northside_clinic', '2024', DATE '2024-01-01', 'indicator_value',
        'y'), ('northside_clinic', '2024-04', DATE '2024-04-01', 'row_count', 'z'),
        ('riverbend_schools', '2024-02', DATE '2024-02-01', 'row_count', 'w')""")
    assert [r["quality_flags"] for r in books.status(D(2024, 5, 1))] == [2, 1]


def test_cli_says_what_to_do_with_a_warehouse_before_period_dates(workspace: Workspace) -> None:
    set_reporting(workspace, QUARTERLY)
    workspace.warehouse_file.parent.mkdir(parents=True)
    con = duckdb.connect(str(workspace.warehouse_file))
    con.execute(warehouse.DDL)
    con.execute("CREATE SCHEMA riverbend")
    con.execute("CREATE TABLE riverbend.records (submission_id BIGINT, period INTEGER)")
    con.execute("CREATE TABLE riverbend.aggregate_counts (submission_id BIGINT, period INTEGER)")
    con.close()
    result = CliRunner().invoke(app, ["status", "--home", str(workspace.root)])
    assert result.exit_code == 1
    assert "backbone run" in " ".join(result.output.split()), result.output


# ------------------------------------------------------------------ published and reported

def test_published_status_table_and_page(books: Books) -> None:
    q1 = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-20")
    books.records(q1, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
    folder = books.workspace.root / "version"
    folder.mkdir()
    written = publish_status(books.con, books.config, folder)
    assert [p.name for p in written] == ["submissions.parquet", "status.html"]
    published = duckdb.sql(f"SELECT * FROM '{written[0]}'")
    assert published.columns == list(COLUMNS)
    assert published.fetchall() == [tuple(r.values()) for r in
                                    books.status(dt.date.today())]
    metadata = duckdb.sql(f"SELECT decode(key), decode(value) FROM "
                          f"parquet_kv_metadata('{written[0]}')").fetchall()
    assert any(k == "description:due_date" for k, _ in metadata)


def test_partner_report_lists_periods_still_due(books: Books) -> None:
    q1 = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-20")
    books.records(q1, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
    books.file("northside_clinic", "q2.csv", "rejected", "2024-08-01")
    text = "\n".join(still_due_lines(books.status(D(2024, 11, 10), "northside_clinic")))
    assert "## Periods still due" in text
    assert "`2024Q2`" in text and "'q2.csv' was rejected; please send this period" in text
    assert "`2024Q3`" in text and "overdue: please send it" in text
    assert "`2024Q4`" in text and "not due yet" in text and "`2024Q1`" not in text
    done = books.status(D(2024, 4, 21), "northside_clinic")[:1]
    assert "Every period you owe so far has been received" in "\n".join(still_due_lines(done))


# ------------------------------------------------------------------ backbone status

HOSTILE = "q1 [bold red]X[/] \x1b[31mred\n| forged.csv"


def test_cli_prints_a_table_with_escaped_file_names(books: Books) -> None:
    q1 = books.file("northside_clinic", HOSTILE, "loaded", "2024-04-20")
    books.records(q1, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
    books.con.close()
    result = CliRunner().invoke(app, ["status", "--home", str(books.workspace.root),
                                      "--as-of", "2024-08-15"], terminal_width=250)
    assert result.exit_code == 0, result.output
    out = result.output
    for words in ("on time", "missing (overdue)", "not yet due", "2024Q1", "2024-04-30"):
        assert words in out, out
    # Markup shown as typed, the terminal code and the line break as visible escapes.
    assert "[bold red]X[/]" in out and "\x1b" not in out
    assert "\\u001b[31mred\\n|forged" in "".join(out.split()), out
    assert "1 on time, 1 missing (overdue), 1 not yet due" in out
    bad = CliRunner().invoke(app, ["status", "--home", str(books.workspace.root), "--as-of",
                                   "15/08/2024"])
    assert bad.exit_code == 2


def test_cli_reads_the_snapshot_while_a_run_holds_the_warehouse(books: Books) -> None:
    q1 = books.file("northside_clinic", "q1.csv", "loaded", "2024-04-20")
    books.records(q1, D(2024, 1, 1), D(2024, 1, 31), well_child_visit=1)
    books.con.close()
    from pipelines.snapshot import snapshot_warehouse

    snapshot_warehouse(books.workspace)
    # Another process writing the warehouse, as a nightly run does, holding its lock.
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(books.workspace.warehouse_file)!r})
            print("holding", flush=True)
            sys.stdin.read()""")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = CliRunner().invoke(app, ["status", "--home", str(books.workspace.root),
                                          "--as-of", "2024-08-15"], terminal_width=250)
    finally:
        holder.communicate("", timeout=60)
    assert result.exit_code == 0, result.output
    assert "read from the snapshot" in " ".join(result.output.split()), result.output
    assert "1 on time, 1 missing (overdue)" in result.output


# ------------------------------------------------------------------ the sample

def test_sample_shows_missing_and_late_and_publishes_for_the_partnership(demo_run,
                                                                          tmp_path) -> None:
    workspace, _summaries, _hashes = demo_run
    result = CliRunner().invoke(app, ["status", "--home", str(workspace.root)],
                                terminal_width=250)
    assert result.exit_code == 0, result.output
    rows = read_status(workspace, workspace.load("riverbend"))[0].to_pylist()
    states = {(r["partner_id"], r["period"]): r["state"] for r in rows}
    # By construction, on any day after the sample's run: see initiative.yaml's reporting.
    assert states[("riverbend_schools", "2021")] == "missing"
    assert states[("riverbend_housing", "2022")] == "late"
    # Dated monthly files through 2025 against a quarterly obligation: each quarter received
    # (late), then 2026's quarters missing once due.
    assert states[("northside_clinic", "2025Q4")] == "late"
    assert states[("northside_clinic", "2026Q1")] == "missing"
    assert "missing (overdue)" in result.output and "late" in result.output
    partnership = workspace.published("riverbend") / "partnership"
    published = duckdb.sql(f"SELECT partner_id, period, state FROM "
                           f"'{partnership / 'submissions.parquet'}'").fetchall()
    assert ("riverbend_schools", "2021", "missing") in published
    assert (partnership / "status.html").is_file()
    report = next(workspace.reports("riverbend", "riverbend_schools").glob("*2022*.report.md"))
    assert "## Periods still due" in report.read_text(encoding="utf-8")
    assert "`2021`" in report.read_text(encoding="utf-8")
    # Never public: a release copies only the initiative-wide result tables.
    copy = Workspace(tmp_path / "copy")
    shutil.copytree(workspace.root, copy.root, symlinks=True)
    from pipelines.release import release

    outcome = release(copy, copy.load("riverbend"), force=True)
    public = {p.name for p in outcome.folder.iterdir()}
    assert "submissions.parquet" not in public and "status.html" not in public


def test_nightly_run_attaches_the_status_table_as_an_artifact(demo_run) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["submission-status-riverbend"])))
    # Other tests' runs on the same test server attach artifacts under the same key: this run's
    # names the partnership version it read.
    version = (demo_run[0].published("riverbend") / "partnership").resolve().name
    found = [a for a in found if f"published partnership version {version}" in a.description]
    assert len(found) == 1, "no submission-status artifact for this run"
    table = found[-1].data
    if isinstance(table, str):
        import json

        table = json.loads(table)
    states = {(r["partner"], r["period"]): r["state"] for r in table}
    assert states[("riverbend\\_schools", "2021")] == "missing (overdue)"
    assert "missing (overdue)" in found[-1].description
