"""The resubmission shortcuts against the general queries they skip: `_measure` without its
per-key count when no earlier row is current in the group's parts (`earlier_rows`), and `_apply`
without its newest-row window when no row can lose (`nothing_superseded`).

Every scenario runs twice on its own workspace, once as the night runs and once with
`resubmission_shortcuts.ALWAYS_GENERAL` forcing the general paths, and the warehouse's tables must come out
identical. The guards' answers are recorded too, so each scenario is known to reach both sides:
a first submission of a period, a key repeated within a group (two campus files), an update of
earlier rows, a complete resend whose old rows are set aside first, a late row for an earlier
period, dated files with repeated person-day events, aggregate tables, and rows the intake
would never let through (NULL keys and periods, mixed period types) written straight into the
warehouse.
"""

from __future__ import annotations

import pytest

from pipelines import resubmission, warehouse
from pipelines import resubmission_shortcuts as shortcuts
from pipelines.config import Workspace

from test_dated_resubmission import march, visits
from test_resubmission import SCHOOLS, night, people, query, school_file

CLINIC = "northside_clinic"
HOUSING = "riverbend_housing"
AGGREGATE_HEADER = "indicator_id,period,race,class,numerator,denominator\n"


def tables(workspace: Workspace) -> dict[str, list[tuple]]:
    """What a night decides, without the clock's columns."""
    out = {}
    for table in ("records", "aggregate_counts"):
        out[table] = query(workspace, f"SELECT submission_id, source_row FROM riverbend.{table}_"
                                      "current ORDER BY ALL")
        out[table + "_superseded"] = query(
            workspace, f"SELECT submission_id, source_row, by_submission FROM riverbend.{table}_"
                       "superseded ORDER BY ALL")
        out[table + "_set_aside"] = query(
            workspace, f"SELECT * EXCLUDE (decided_at) FROM riverbend.{table}_set_aside "
                       "ORDER BY ALL")
    out["part_changes"] = query(workspace, "SELECT * EXCLUDE (run_id, decided_at) FROM "
                                           "riverbend.part_changes ORDER BY ALL")
    out["submissions"] = query(workspace, "SELECT submission_id, partner_id, file_name, status, "
                                          "rows_loaded FROM submissions ORDER BY ALL")
    return out


def aggregate_table(white: int, asian: bool = True) -> str:
    rows = [f"stable_housing,2024,ALL,ALL,{white + (10 if asian else 0)},50",
            f"stable_housing,2024,White,ALL,{white},{30 if asian else 50}"]
    rows += ["stable_housing,2024,Asian,ALL,10,20"] if asian else []
    low = 12 if asian else white - 18
    rows += [f"stable_housing,2024,ALL,Below 100% FPG,{low},25",
             "stable_housing,2024,ALL,400%+ FPG,18,25"]
    return AGGREGATE_HEADER + "\n".join(rows) + "\n"


# Each night: the files it drops, (partner, name, content); then what the guard should answer
# for each group the night judges (True: nothing can be superseded, the window is skipped).
SCENARIOS = {
    "person files": [
        ([(SCHOOLS, "RUSD_2023.csv", school_file(2023, people("S", 300)))], [True]),
        # 40 corrections and 10 new children: earlier rows share keys with it
        ([(SCHOOLS, "fixes.csv", school_file(2023, people("S", 40), ready=0)
           + school_file(2023, people("X", 10)).split("\n", 1)[1])], [False]),
        # a new period in two campus files, with child D1 in both: a key repeated in one group
        ([(SCHOOLS, "north.csv", school_file(2024, people("N", 20) + ["D1"])),
          (SCHOOLS, "south.csv", school_file(2024, people("S", 30) + ["D1"], ready=0))],
         [False]),
        # the north campus corrected (20 of 2024's 51 rows: an update of earlier keys)
        ([(SCHOOLS, "north fixes.csv", school_file(2024, people("N", 20), ready=0))], [False]),
        # 2023's complete file: every earlier 2023 row is set aside before the window would run
        ([(SCHOOLS, "RUSD_2023 again.csv", school_file(2023, people("S", 280)))], [True]),
        # a 2025 file with one late row for 2023: the 2023 row has an earlier current row
        ([(SCHOOLS, "RUSD_2025.csv", school_file(2025, people("Y", 30)) + "S7,2023,0\n")],
         [False]),
    ],
    "dated files": [
        # repeated person-day events (M0 twice on 3/1) are all kept: no row can lose
        ([(CLINIC, "visits 2024-03.csv", visits(*march([("M0", "3/1/2024", "Y")])))], [True]),
        # a late file correcting one person-day into two events: earlier rows of that day
        ([(CLINIC, "late.csv", visits(("M4", "3/3/2024", "N"), ("M4", "3/3/2024", "Y")))],
         [False]),
        # a new month, again with repeated events
        ([(CLINIC, "visits 2024-04.csv", visits(("A1", "4/2/2024", "N"), ("A1", "4/2/2024", "Y"),
                                                ("A2", "4/9/2024", "N")))], [True]),
        # March resent complete: its old days are set aside first
        ([(CLINIC, "visits 2024-03 fixed.csv", visits(*march()))], [True]),
        # a new day in March: no earlier row that day, but earlier rows in its (month) part
        ([(CLINIC, "visits 2024-03-20.csv", visits(("Z1", "3/20/2024", "Y")))], [True]),
    ],
    "aggregate tables": [
        ([(HOUSING, "h.csv", aggregate_table(20))], [True]),
        ([(HOUSING, "redo.csv", aggregate_table(30, asian=False))], [True]),
    ],
}

# Per group: is it the first submission of all its parts (no earlier current row in them)?
EARLIER = {"person files": [True, False, True, False, False, False],
           "dated files": [True, False, True, False, False],
           "aggregate tables": [True, False]}

# Per group that reaches it (no earlier current row in its periods, no dated rows): are all its
# keys distinct? The campus files share child D1; dated groups group by key directly.
DISTINCT = {"person files": [True, False, True], "dated files": [],
            "aggregate tables": [True, True]}

# Per group whose window was skipped and that replaced nothing: was each part a first submission,
# so that the rows after are the group's own (True), or are they counted (False)?
AFTER = {"person files": [True], "dated files": [True, True, False], "aggregate tables": [True]}


def recording(monkeypatch, general: bool) -> dict[str, list[bool]]:
    """Force or allow the shortcuts, and keep each guard's answers (earlier rows: True means the
    general `_measure` query runs; nothing superseded: True means the window is skipped; keys
    distinct, asked inside it for undated groups: True means the grouping by key is skipped;
    rows after: True means the rows after are the group's own, not counted)."""
    answers = {"earlier_rows": [], "nothing_superseded": [], "keys_distinct": [], "rows_after": []}
    for name, seen in answers.items():
        def recorded(*args, guard=getattr(shortcuts, name), seen=seen, name=name):
            answer = guard(*args)
            seen.append(answer is not None if name == "rows_after" else answer)
            return answer
        monkeypatch.setattr(shortcuts, name, recorded)
    monkeypatch.setattr(shortcuts, "ALWAYS_GENERAL", general)
    return answers


def run(workspace: Workspace, nights, general: bool, monkeypatch) -> dict[str, list[bool]]:
    answers = recording(monkeypatch, general)
    config = workspace.load("riverbend")
    for files, _ in nights:
        night(workspace, config, *files)
    monkeypatch.undo()
    return answers


def fresh(tmp_path, name: str) -> Workspace:
    workspace = Workspace(tmp_path / name).add_definitions()
    workspace.intake.mkdir(parents=True)
    return workspace


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_shortcuts_leave_the_same_tables_as_the_general_queries(tmp_path, monkeypatch,
                                                                    scenario):
    nights = SCENARIOS[scenario]
    shortcut, general = fresh(tmp_path, "shortcut"), fresh(tmp_path, "general")
    answers = run(shortcut, nights, general=False, monkeypatch=monkeypatch)
    assert answers["nothing_superseded"] == [a for _, expected in nights for a in expected]
    # A first submission of its parts skips the general _measure; every other group runs it.
    assert answers["earlier_rows"] == [not first for first in EARLIER[scenario]]
    assert answers["keys_distinct"] == DISTINCT[scenario]
    assert answers["rows_after"] == AFTER[scenario]
    assert run(general, nights, general=True, monkeypatch=monkeypatch) == \
        {"earlier_rows": [], "nothing_superseded": [], "keys_distinct": [], "rows_after": []}
    got, want = tables(shortcut), tables(general)
    assert got == want
    # the scenarios do supersede rows, so the comparison is not between two empty tables
    assert want["records_superseded"] or want["aggregate_counts_superseded"] or \
        want["aggregate_counts_set_aside"]


# Rows written straight into the warehouse, (person_key, period, period_type, day) per row: what
# the guard must get right even where intake would have refused the file.
EDGE_NIGHTS = [
    # two rows with a NULL person: they join no key in the window, but count as repeated here
    [(1, "2023", "year", None), (None, "2023", "year", None), (None, "2023", "year", None)],
    # a NULL period, twice for one person, in a new period's file
    [(2, None, "year", None), (2, None, "year", None), (3, "2022", "year", None)],
    # one person-day as a day row and a NULL-typed row, another as two NULL-typed rows: in the
    # window `NOT (period_type = 'day' AND ...)` is NULL for them, so neither can lose
    [(4, "2024-05-01", "day", "2024-05-01"), (4, "2024-05-01", None, "2024-05-01"),
     (5, "2024-05-02", None, "2024-05-02"), (5, "2024-05-02", None, "2024-05-02")],
    # the same person-day as a month-typed row, then a day row: the month row loses
    [(6, "2024-06-01", "month", "2024-06-01"), (6, "2024-06-01", "day", "2024-06-01")],
    # a NULL period again: it matches no earlier row
    [(2, None, "year", None), (7, "2021", "year", None)],
    # night 1's person and year again
    [(1, "2023", "year", None)],
]


def edge_run(workspace: Workspace, general: bool, monkeypatch) -> dict[str, list[bool]]:
    answers = recording(monkeypatch, general)
    config = workspace.load("riverbend")
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        for number, rows in enumerate(EDGE_NIGHTS, start=1):
            con.execute("BEGIN")
            sid = con.execute(
                "INSERT INTO submissions (initiative_id, partner_id, file_name, status, "
                "received_at) VALUES ('riverbend', $p, $n, 'loaded', now()) "
                "RETURNING submission_id", {"p": SCHOOLS, "n": f"edge{number}.csv"}
            ).fetchall()[0][0]
            con.executemany(
                "INSERT INTO riverbend.records (submission_id, source_row, loaded_at, partner_id, "
                "person_key, period, period_type, period_start, period_end) "
                "VALUES (?, ?, now(), ?, ?, ?, ?, ?::DATE, ?::DATE)",
                [(sid, row, SCHOOLS, key, period, kind, day, day)
                 for row, (key, period, kind, day) in enumerate(rows, start=1)])
            resubmission.settle_night(con, config, SCHOOLS, [sid], f"edge-{number}")
            con.execute("COMMIT")
    finally:
        con.close()
    monkeypatch.undo()
    return answers


def test_the_shortcuts_agree_with_the_general_queries_on_rows_intake_would_refuse(tmp_path,
                                                                                  monkeypatch):
    shortcut, general = fresh(tmp_path, "shortcut"), fresh(tmp_path, "general")
    assert edge_run(shortcut, False, monkeypatch) == {
        "earlier_rows": [False, False, False, False, False, True],
        "nothing_superseded": [False, False, True, False, True, False],
        # NULL persons (night 1) and a NULL period (night 2) repeat a key, so do their hashes;
        # nights 3 and 4 are dated, 6 has earlier rows in its period
        "keys_distinct": [False, False, True],
        # nights 3 and 5 skip the window; their parts had no earlier rows (night 5: a NULL one)
        "rows_after": [True, True]}
    assert edge_run(general, True, monkeypatch) == {"earlier_rows": [], "nothing_superseded": [],
                                                    "keys_distinct": [], "rows_after": []}
    got, want = tables(shortcut), tables(general)
    assert got == want
    # night 4's month-typed row loses to its day row, night 1's row to night 6's
    assert len(want["records_superseded"]) >= 2
