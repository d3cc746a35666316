"""Every file in the bad-file corpus gets one clear ending, and bad files never block good ones.

(a) one fast test per case: discover -> stage_file -> the warehouse step's load/reject (no Prefect),
    checking the rule code, a plain-language message, the row/column it names, the quarantine and
    the partner's report;
(b) one end-to-end run of the real `nightly` flow with the whole corpus and good sample files.
"""

from __future__ import annotations

import csv
import hashlib
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from bad_corpus import BY_ID, CASES, FORMULAS, OUTSIDE_TARGET, Case, schools
from pipelines import feedback, ingest, synth, warehouse
from pipelines.config import InitiativeConfig, Workspace
from pipelines.discover import discover
from pipelines.escape import FORMULA_START
from pipelines.intake import stage_file
from pipelines.problems import Problem
from pipelines.standardize import ensure_salt, read_salt

SALT = "test-salt"
JARGON = ("Traceback", "duckdb", "DuckDB", "Exception", "Error:", "unexpected_rows", "c0")


def _params(cases: list[Case]) -> list:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=f"bug: {c.bug}")]
                         if c.bug else []) for c in cases]


SETTLE_SECONDS = "60"
LONG_AGO = time.time() - 3600


def make_outside(folder: Path) -> Path:
    """A folder outside the workspace, holding a file a link in the intake points to."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OUTSIDE_TARGET).write_bytes(schools(tag="OUT"))
    os.utime(folder / OUTSIDE_TARGET, (LONG_AGO, LONG_AGO))  # a hard link to it looks settled
    return folder


def settle_all_but(intake: Path, fresh: set[Path]) -> None:
    """Make every entry under `intake` look written an hour ago, except `fresh` (uploads going
    on); hard links are left alone (their time is their other name's, outside)."""
    for root, dirs, files in os.walk(intake):
        for name in dirs + files:
            path = Path(root, name)
            info = path.lstat()
            if path not in fresh and not (stat.S_ISREG(info.st_mode) and info.st_nlink > 1):
                os.utime(path, (LONG_AGO, LONG_AGO), follow_symlinks=False)


def fingerprint(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under `folder` (links not followed): mode, mtime and content hash."""
    seen = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() \
                and not path.is_symlink() else ""
            seen[str(path.relative_to(folder))] = (info.st_mode, info.st_mtime_ns, digest)
    return seen


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Ending:
    """What one file got: the problems it was refused for, or its load and quarantine."""
    path: Path
    found: bool
    status: str = "ignored"
    problems: list[Problem] = field(default_factory=list)
    submission: dict | None = None
    quarantine: list[tuple] = field(default_factory=list)  # (row, column, rule, value, message)
    records: dict[int, dict] = field(default_factory=dict)  # staged records by source row
    report: Path | None = None


def _records(staged_db: str | None) -> dict[int, dict]:
    if not staged_db or not Path(staged_db).exists():
        return {}
    con = duckdb.connect(staged_db, read_only=True)
    try:
        if "records" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}:
            return {}
        cursor = con.execute("SELECT * FROM records")
        names = [d[0] for d in cursor.description]
        return {row["source_row"]: row for row in (dict(zip(names, r)) for r in cursor.fetchall())}
    finally:
        con.close()


def answer(workspace: Workspace, config: InitiativeConfig, con, path: Path,
           salt: str = SALT) -> Ending:
    """What `nightly` does for one file, minus Prefect: discover, stage, then settle it."""
    item = next((f for f in discover(workspace, config) if f.path == path), None)
    if item is None:
        return Ending(path, found=False)
    ending = Ending(path, found=True)
    if item.problem is not None:
        refused = [(str(path), item.partner_id, item.problem.as_dict())]
        settled = ingest.settle_all(con, workspace, config, [], refused, "test")
        ending.problems = [item.problem]
    else:
        staged = stage_file(path, config, item.partner_id, salt, workspace.staging)
        ending.problems = [Problem(**p) for p in staged.problems]
        ending.records = _records(staged.staged_db)
        settled = ingest.settle_all(con, workspace, config, [staged], [], "test")
    [outcome] = settled
    ending.status = outcome.status
    ending.report = Path(outcome.report) if outcome.report else None
    cursor = con.execute("SELECT * FROM submissions WHERE partner_id = ? AND file_name = ? "
                         "ORDER BY submission_id DESC LIMIT 1", [item.partner_id, path.name])
    ending.submission = dict(zip([d[0] for d in cursor.description], cursor.fetchall()[0]))
    if ending.status == "duplicate":
        ending.problems = [Problem(ending.submission["reason_code"], outcome.reasons)]
    ending.quarantine = con.execute(
        "SELECT source_row, coalesce(column_name, ''), rule, value, message FROM quarantine "
        "WHERE submission_id = ? ORDER BY ALL", [ending.submission["submission_id"]]).fetchall()
    return ending


def bad_rows_csv(report: Path) -> list[dict]:
    path = report.with_name(report.name.removesuffix(".report.md") + ".bad_rows.csv")
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def assert_plain(message: str) -> None:
    assert len(message) > 20, message
    assert not any(word in message for word in JARGON), message


def check_ending(case: Case, ending: Ending, workspace: Workspace) -> None:
    """Where the file ended and what its report and quarantine say (fast and end-to-end)."""
    expect = case.expect
    if expect.status == "ignored":
        assert not ending.found and os.path.lexists(ending.path)
        return
    assert ending.found, "discover did not list the file"
    assert ending.status == expect.status, ending.problems or ending.quarantine
    assert not os.path.lexists(ending.path), "the file is still in the intake folder"
    stored = Path(ending.submission["stored_path"])
    assert os.path.lexists(stored)
    assert ending.report is not None and ending.report.exists()
    report = ending.report.read_text(encoding="utf-8")
    rows_csv = bad_rows_csv(ending.report)
    for cell in (c for row in rows_csv for c in (row["column"], row["value"])):
        assert not cell.startswith(FORMULA_START), f"formula not neutralised: {cell!r}"

    # Reports go to the partner the file is filed under: never a real partner's, unless it is.
    filed = warehouse.safe_name(case.filed_as)
    assert ending.report.parent == workspace.path("data", "reports", "riverbend", filed)
    assert ending.submission["partner_id"] == case.filed_as
    if expect.status == "rejected":
        assert stored.parent == workspace.path("data", "rejected", "riverbend", filed)
        reason = Path(str(stored) + ".reason.md").read_text(encoding="utf-8")
        assert reason.startswith(report)
        if rows_csv:  # the reason says where its rows-to-fix CSV is
            assert reason[len(report):] == (f"\nThe rows-to-fix CSV and this report are in "
                                            f"`data/reports/riverbend/{filed}`.\n")
        else:
            assert reason == report
        assert "NOT LOADED" in report
        assert ending.submission["reason_code"] == expect.rules[0]
        return
    if expect.status == "duplicate":
        assert stored.parent == workspace.path("data", "archive", "riverbend", filed,
                                               "duplicates")
        assert ending.submission["reason_code"] == expect.rules[0]
        return

    assert stored.parent == workspace.path("data", "archive", "riverbend", case.partner)
    assert "ACCEPTED" in report
    got = {(row, column, rule) for row, column, rule, _, _ in ending.quarantine}
    assert got == set(expect.quarantined), ending.quarantine
    for row, column, rule, value, message in ending.quarantine:
        assert_plain(message)
        assert expect.says.lower() in message.lower(), message
        if "person_id" in column:
            assert value == "(hidden: person identifier)"
    assert {int(r["row"]) for r in rows_csv} == {row for row, _, _ in expect.quarantined}
    if expect.rows_loaded is not None:
        assert ending.submission["rows_loaded"] == expect.rows_loaded


def check_reasons(case: Case, ending: Ending) -> None:
    """A rejected file's reasons: rule codes, plain sentences, and the row/column they name."""
    expect = case.expect
    assert tuple(p.rule for p in ending.problems) == expect.rules, ending.problems
    if expect.status == "duplicate":
        assert expect.says in ending.problems[0].message, ending.problems
        return
    for problem in ending.problems:
        assert_plain(problem.message)
    first = ending.problems[0]
    assert expect.says.lower() in first.message.lower(), first.message
    if expect.row is not None:
        assert first.row == expect.row, first
    if expect.column is not None:
        assert first.column == expect.column, first
    assert feedback._md(first.message) in ending.report.read_text(encoding="utf-8")


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    return make_outside(tmp_path_factory.mktemp("outside"))


@pytest.mark.parametrize("case", _params(CASES))
def test_each_bad_file_gets_a_clear_answer(case: Case, workspace: Workspace, config, outside,
                                           monkeypatch):
    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", SETTLE_SECONDS)
    before = fingerprint(outside)
    passwd = sha(Path("/etc/passwd"))
    intake = workspace.intake / "riverbend"
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        if case.same_as:  # the earlier drop of the same bytes, loaded first
            earlier = BY_ID[case.same_as].place(intake, outside)
            settle_all_but(intake, set())
            earlier = answer(workspace, config, con, earlier)
            assert earlier.status == "loaded", earlier.problems
        path = case.place(intake, outside)
        settle_all_but(intake, {path} if case.fresh else set())
        ending = answer(workspace, config, con, path.with_name(case.answered_name))
        check_ending(case, ending, workspace)
        if case.fresh:
            assert ending.path.read_bytes() == case.content  # untouched, for a later run
        if case.expect.status in ("rejected", "duplicate"):
            check_reasons(case, ending)
        for row, column, value in case.expect.values:
            assert ending.records[row][column] == pytest.approx(value), ending.records.get(row)
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert {"submissions", "quarantine", "records"} <= tables
    finally:
        con.close()
    assert fingerprint(outside) == before and sha(Path("/etc/passwd")) == passwd


def test_the_corpus_is_big_and_varied():
    bad = [c for c in CASES if c.category != "tricky valid" and c.expect.status != "ignored"]
    assert len(bad) >= 40
    assert len({c.category for c in CASES}) >= 15
    assert {c.expect.status for c in CASES} == {"rejected", "loaded", "duplicate", "ignored"}
    # Distinct bytes, except the deliberate re-drop: identical files are a case of their own.
    contents = [(c.content, c.id) for c in CASES if c.content and not c.same_as]
    assert len({content for content, _ in contents}) == len(contents)


def _new_workspace(root: Path) -> Workspace:
    workspace = Workspace(root).add_definitions()
    workspace.intake.mkdir(parents=True)
    return workspace


def _count(workspace: Workspace, sql: str, params=()) -> int:
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        return con.execute(sql, params).fetchall()[0][0]
    finally:
        con.close()


RECORDS = ("SELECT (SELECT count(*) FROM riverbend.records {where}) + "
           "(SELECT count(*) FROM riverbend.aggregate_counts {where})")


def _load_directly(workspace: Workspace, paths: list[Path]) -> None:
    ensure_salt(workspace, "riverbend")
    settle_all_but(workspace.intake, set())
    config, salt = workspace.load("riverbend"), read_salt(workspace, "riverbend")
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        for path in paths:
            ending = answer(workspace, config, con, path, salt)
            assert ending.status == "loaded", (path, ending.problems)
    finally:
        con.close()


@pytest.mark.usefixtures("prefect_harness")
def test_whole_corpus_in_one_nightly_run(tmp_path_factory, monkeypatch):
    from pipelines.flows import nightly

    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", SETTLE_SECONDS)
    # The same good files loaded alone (same code path minus Prefect, to keep this test fast):
    # the record count the corpus must not change.
    alone = _new_workspace(tmp_path_factory.mktemp("good_only"))
    _load_directly(alone, synth.write_sample(alone.intake / "riverbend", children_per_year=60,
                                             years=(2024,)))
    good_only = _count(alone, RECORDS.format(where=""))

    workspace = _new_workspace(tmp_path_factory.mktemp("corpus"))
    intake = workspace.intake / "riverbend"
    outside = make_outside(tmp_path_factory.mktemp("outside"))
    cases = [c for c in CASES if c.e2e]
    # A re-drop repeats a file loaded before this night, so load that one first (identical files
    # dropped the SAME night crash the run: see test_identical_files_in_one_drop_...).
    earlier = {c.same_as for c in cases if c.same_as}
    paths = {i: BY_ID[i].place(intake, outside) for i in earlier}
    _load_directly(workspace, list(paths.values()))
    good = {(p.parent.name, p.name) for p in
            synth.write_sample(intake, children_per_year=60, years=(2024,))}
    paths |= {c.id: c.place(intake, outside) for c in cases if c.id not in earlier}
    settle_all_but(intake, {paths[c.id] for c in cases if c.fresh})
    before, passwd = fingerprint(outside), sha(Path("/etc/passwd"))

    summaries = nightly(home=str(workspace.root), initiative="riverbend")

    outcomes = {(f["partner_id"], f["file_name"]): f for f in summaries[0]["files"]}
    outcomes |= {(BY_ID[i].filed_as, BY_ID[i].answered_name): {"status": "loaded"}
                 for i in earlier}
    assert all(outcomes[key]["status"] == "loaded" for key in good), \
        {key: outcomes[key] for key in good}
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        for case in cases:
            key = (case.filed_as, case.answered_name)
            ending = Ending(paths[case.id].with_name(case.answered_name), found=key in outcomes)
            if ending.found:
                ending.status = outcomes[key]["status"]
                rows = con.execute("SELECT * FROM submissions WHERE partner_id = ? AND "
                                   "file_name = ?", list(key))
                names = [d[0] for d in rows.description]
                submissions = [dict(zip(names, r)) for r in rows.fetchall()]
                assert len(submissions) == 1, (case.id, submissions)  # one answer per file
                ending.submission = submissions[0]
                ending.report = Path(ending.submission["report_path"])
                ending.quarantine = con.execute(
                    "SELECT source_row, coalesce(column_name, ''), rule, value, message "
                    "FROM quarantine WHERE submission_id = ?",
                    [ending.submission["submission_id"]]).fetchall()
            if case.bug:  # only the ending is checked here; the fast test pins the bug itself
                assert ending.status == case.expect.status, case.id
                continue
            check_ending(case, ending, workspace)

        corpus_loaded = con.execute(
            "SELECT coalesce(sum(rows_loaded), 0) FROM submissions WHERE status = 'loaded' AND "
            "NOT list_contains(?, partner_id || '/' || file_name)",
            [[f"{p}/{n}" for p, n in good]]).fetchall()[0][0]
        total_submissions = con.execute("SELECT count(*) FROM submissions").fetchall()[0][0]
    finally:
        con.close()
    answered = [c for c in cases if c.expect.status != "ignored"]
    assert total_submissions == len(answered) + len(good)

    # Records: the good files' rows exactly as without the corpus, plus the corpus rows loaded.
    good_ids = "WHERE submission_id IN (SELECT submission_id FROM submissions WHERE " \
               "list_contains(?, partner_id || '/' || file_name))"
    good_list = [[f"{p}/{n}" for p, n in good]] * 2
    assert _count(workspace, RECORDS.format(where=good_ids), good_list) == good_only
    assert _count(workspace, RECORDS.format(where="")) == good_only + corpus_loaded

    # The intake folder holds only what discover leaves on purpose.
    left = {Path(root, name) for root, dirs, files in os.walk(intake) for name in files + [
        d for d in dirs if Path(root, d).is_symlink()]}
    assert left == {paths[c.id] for c in cases if c.expect.status == "ignored"}

    # Nothing outside the workspace was touched through a link.
    assert fingerprint(outside) == before and sha(Path("/etc/passwd")) == passwd

    # Formula injection comes back neutralised in the partner's bad_rows CSV.
    neutralised = set()
    for path in workspace.path("data", "reports").rglob("*.bad_rows.csv"):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                assert not row["value"].startswith(FORMULA_START), (path, row)
                neutralised.add(row["value"])
    for key, formula in FORMULAS.items():
        assert "'" + formula in neutralised, (key, formula)


def test_identical_files_in_one_drop_get_their_own_staging(workspace, config):
    content = BY_ID["valid_original"].content
    staged = []
    for name in ("rusd_2023.csv", "rusd_2023 (copy).csv"):
        path = workspace.intake / "riverbend" / "riverbend_schools" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        staged.append(stage_file(path, config, "riverbend_schools", SALT, workspace.staging))
    assert staged[0].staged_db != staged[1].staged_db
