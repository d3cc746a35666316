"""The thin CLI: `backbone check` validates without writing anything."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config import REPO_ROOT

runner = CliRunner()


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_check_reports_bad_rows_and_writes_nothing(workspace, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "rusd.csv"
    outside.write_text("Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\n"
                       + "".join(f"S{i},2024,700,Y\n" for i in range(5)) + "S9,2024,555,Y\n")
    before = _files(workspace.root)
    result = runner.invoke(app, ["check", str(outside), "--partner", "riverbend_schools",
                                 "--home", str(workspace.root)])
    assert result.exit_code == 0, result.output  # it would load: quarantined rows are listed
    assert ("5 of 6 rows would load (read as UTF-8 text, columns separated by commas)"
            in result.output)
    assert "1 row would be set aside" in result.output
    assert "unknown_race_code" in result.output
    assert _files(workspace.root) == before


def test_check_rejects_with_reason(workspace, tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("period\n2024\n")
    result = runner.invoke(app, ["check", str(bad), "--partner", "riverbend_schools",
                                 "--home", str(workspace.root)])
    assert result.exit_code == 1
    assert "REJECTED" in result.output and "person_id" in result.output


def test_check_unknown_partner_is_a_usage_error(workspace, tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("person_id,period\nA,2024\n")
    result = runner.invoke(app, ["check", str(bad), "--partner", "nobody",
                                 "--home", str(workspace.root)])
    assert result.exit_code == 2


def test_check_knows_the_partner_from_the_intake_folder_and_asks_elsewhere(workspace, tmp_path):
    content = "Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\nS1,2024,700,Y\n"
    dropped = workspace.intake / "riverbend" / "riverbend_schools" / "rusd.csv"
    dropped.parent.mkdir(parents=True)
    dropped.write_text(content)
    result = runner.invoke(app, ["check", str(dropped), "--home", str(workspace.root)])
    assert result.exit_code == 0, result.output
    assert "1 of 1 rows would load" in result.output
    elsewhere = tmp_path / "rusd.csv"
    elsewhere.write_text(content)
    result = runner.invoke(app, ["check", str(elsewhere), "--home", str(workspace.root)])
    assert result.exit_code == 2
    said = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert "not in a partner's intake folder" in said and "riverbend_schools" in said


def test_schedule_builds_a_cron_deployment_of_the_nightly_flow(tmp_path):
    from pipelines.flows import nightly_deployment

    deployment = nightly_deployment("0 2 * * *", tmp_path)
    assert deployment.name == "nightly"
    assert deployment.parameters == {"home": str(tmp_path)}
    assert [s.schedule.cron for s in deployment.schedules] == ["0 2 * * *"]


def _check(workspace, path, *extra):
    return runner.invoke(app, ["check", str(path), "--partner", "riverbend_schools",
                               "--home", str(workspace.root), *extra])


def test_check_names_the_partners_own_header_value_and_accepted_codes(workspace, tmp_path):
    path = tmp_path / "rusd.csv"
    path.write_text("Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\n"
                    + "".join(f"S{i},2024,700,Y\n" for i in range(5))
                    + "S8,2024,555,Y\nS9,2024,700,maybe\n")
    result = _check(workspace, path)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the console wraps long lines
    assert "row 7, column 'Ethnicity/Race Codes'" in output
    assert 'value as written: "555"' in output
    assert "Codes your crosswalk accepts: 100, 200, 300, 400, 500, 600, 700, 999" in output
    assert "row 8, column 'K Readiness Met'" in output and "kinder_ready" not in output
    assert "'K Readiness Met' must be one of: Y, N (or 0, 1)" in output
    assert 'value as written: "maybe"' in output


def test_check_exit_status_is_documented_in_help():
    result = runner.invoke(app, ["check", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "0 the file would load" in text and "1 the file would be rejected" in text
    assert "2 a usage error" in text


def test_release_and_status_exit_statuses_are_documented_in_help():
    """README documents them; `release --help` said nothing of exit statuses."""
    release = " ".join(runner.invoke(app, ["release", "--help"]).output.split())
    assert "Exit 1 if refused" in release and "2 for invalid definitions" in release
    assert "3 if another backbone command" in release
    status = " ".join(runner.invoke(app, ["status", "--help"]).output.split())
    assert "2 for invalid definitions or an --as-of that is not a date" in status


def test_check_with_several_initiatives_and_none_chosen_is_a_usage_error(workspace, tmp_path):
    other = workspace.path("indicators", "other")
    shutil.copytree(workspace.path("indicators", "riverbend"), other)
    (other / "initiative.yaml").write_text(
        (other / "initiative.yaml").read_text().replace("id: riverbend", "id: other"))
    path = tmp_path / "x.csv"
    path.write_text("person_id,period\nA,2024\n")
    assert _check(workspace, path).exit_code == 2
    assert _check(workspace, path, "--initiative", "riverbend").exit_code == 0


def test_check_with_invalid_definitions_is_a_usage_error(workspace, tmp_path):
    initiative = workspace.path("indicators", "riverbend", "initiative.yaml")
    initiative.write_text(initiative.read_text().replace("threshold: 10", "threshold: 0"))
    path = tmp_path / "x.csv"
    path.write_text("person_id,period\nA,2024\n")
    result = _check(workspace, path)
    assert result.exit_code == 2
    assert "Definitions are invalid" in result.output and "suppression.threshold" in result.output


def test_every_command_that_loads_definitions_says_they_are_invalid(workspace):
    initiative = workspace.path("indicators", "riverbend", "initiative.yaml")
    initiative.write_text(initiative.read_text().replace("threshold: 10", "threshold: 0"))
    home = ["--home", str(workspace.root)]
    for argv in (["scorecard"], ["status"], ["release", "riverbend"]):
        result = runner.invoke(app, [*argv, *home], env={"COLUMNS": "200"})
        assert result.exit_code == 2, (argv, result.output)
        assert "Definitions are invalid" in result.output, argv
        assert "suppression.threshold" in result.output, argv


def test_scorecard_with_several_initiatives_and_none_chosen_is_a_usage_error(workspace):
    other = workspace.path("indicators", "other")
    shutil.copytree(workspace.path("indicators", "riverbend"), other)
    (other / "initiative.yaml").write_text(
        (other / "initiative.yaml").read_text().replace("id: riverbend", "id: other"))
    result = runner.invoke(app, ["scorecard", "--home", str(workspace.root)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "choose one with --initiative" in result.output and "other" in result.output
    # Chosen, it goes on to look for published numbers (none yet: exit 1, not a usage error).
    chosen = runner.invoke(app, ["scorecard", "--initiative", "riverbend", "--home",
                                 str(workspace.root)], env={"COLUMNS": "200"})
    assert chosen.exit_code == 1, chosen.output
    assert "No scorecard" in chosen.output


def test_check_cuts_a_long_list_and_writes_the_full_one(workspace, tmp_path):
    path = tmp_path / "rusd.csv"
    good = "".join(f"S{i},2024,700,Y\n" for i in range(100))
    bad = "".join(f"B{i},2024,555,Y\n" for i in range(60))
    header = "Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\n"
    path.write_text(header + good + bad)
    result = _check(workspace, path)
    assert result.exit_code == 0, result.output
    assert "...and 10 more rows: run again with --bad-rows" in " ".join(result.output.split())
    full = tmp_path / "all.csv"
    result = _check(workspace, path, "--bad-rows", str(full))
    assert "...and 10 more rows: all rows are in" in " ".join(result.output.split())
    with full.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 60 and {r["column"] for r in rows} == {"Ethnicity/Race Codes"}
    assert rows[0]["row"] == "102" and rows[0]["value"] == "555"


def test_check_refuses_a_bad_rows_file_it_could_not_write_before_checking(workspace, tmp_path):
    """Exit 1 means "would be rejected": a target in a missing folder is a usage error (2)."""
    path = tmp_path / "rusd.csv"
    path.write_text("Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\n"
                    + "".join(f"S{i},2024,{555 if i % 2 else 700},Y\n" for i in range(8)))
    missing = tmp_path / "no such folder" / "rows.csv"
    result = runner.invoke(app, ["check", str(path), "--partner", "riverbend_schools", "--home",
                                 str(workspace.root), "--bad-rows", str(missing)],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "the folder" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output and "would load" not in result.output
    assert not missing.parent.exists()

def test_check_shows_hostile_text_inert(workspace, tmp_path):
    path = tmp_path / "evil [red]x[bold] name.csv"
    path.write_text("Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\n"
                    + "".join(f"S{i},2024,700,Y\n" for i in range(5))
                    + 'S9,2024,"700|\x1b[2J\nline",Y\n')
    result = _check(workspace, path)
    assert result.exit_code == 0, result.output
    assert "evil [red]x[bold] name.csv" in result.output
    assert "\x1b" not in result.output and "\\u001b[2J\\nline" in result.output


def test_the_run_table_shows_hostile_file_names_inert():
    from pipelines import cli
    from pipelines.run_output import show_run

    item = {"partner_id": "riverbend_schools", "file_name": "a\x1b[2J\nb[red]x.csv",
            "status": "rejected", "rows_loaded": 0, "rows_quarantined": 0,
            "reasons": "bad \x1b]8;;http://evil.example\x07link"}
    with cli.console.capture() as captured:
        show_run(cli.console, [{"initiative": "riverbend", "files": [item]}])
    output = captured.get()
    assert "\x1b" not in output and "\x07" not in output
    assert "a\\u001b[2J\\nb[red]x.csv" in output


def test_run_summary_says_what_happened_in_words(capsys):
    from pipelines import cli
    from pipelines.run_output import show_run

    show_run(cli.console, [
        {"initiative": "riverbend", "files": [], "note": None, "cells": 2901,
         "suppressed": {"primary": 1622, "complementary": 515}, "published": "/p/partnership"},
        {"initiative": "eastside", "files": [], "error": "year 2013: no HHS poverty guideline",
         "error_kind": "not measured"}])
    out = capsys.readouterr().out
    assert "1,622 hidden as small counts and 515 hidden to protect them" in out
    assert "{'primary'" not in out
    assert "not measured" in out and "definitions invalid" not in out
    show_run(cli.console, [{"initiative": "riverbend", "files": [], "note": "nothing new"}])
    out = capsys.readouterr().out
    assert "No new files were waiting in intake." in out and "Files received" not in out


def test_a_run_that_took_nothing_names_the_files_still_arriving(capsys, monkeypatch):
    from pipelines import cli
    from pipelines.run_output import show_run

    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", "300")
    show_run(cli.console, [{"initiative": "riverbend", "files": [], "note": "nothing new",
                            "arriving": ["riverbend_schools/RUSD 2024.csv"]}])
    out = " ".join(capsys.readouterr().out.split())
    assert "No new files were waiting" not in out
    assert ("Left in intake for a later run, still being written (changed in the last 300 "
            "seconds, or named as an upload in progress): riverbend/riverbend_schools/RUSD "
            "2024.csv") in out


def test_check_says_how_a_file_was_read_in_plain_words():
    from pipelines.check_output import how_read

    assert how_read("cp1252", ";") == ("read as Windows-1252 text, columns separated by "
                                       "semicolons")
    assert how_read("utf-8-sig", "\t").endswith("columns separated by tabs")
    assert how_read("xlsx", None) == "read as an Excel workbook"
    # Anything not in the table is still named, never dropped.
    assert how_read("utf-32", "~") == "read as text (utf-32), columns separated by '~'"


def test_ci_script_installs_the_system_packages_the_readme_says_tests_need():
    """README: "apt-get install -y chromium poppler-utils npm" ... "`.ci/run` installs all
    three". It installed two: on a clean machine without npm it stopped at `npm install`."""
    readme = (REPO_ROOT / "README.md").read_text()
    needed = set(re.search(r"apt-get install -y ([\w .-]+?)\)", readme).group(1).split())
    assert needed == {"chromium", "poppler-utils", "npm"}
    script = (REPO_ROOT / ".ci" / "run").read_text()
    installed = set(re.search(r"apt-get install -y -qq ([\w .-]+?) >", script).group(1).split())
    assert needed <= installed
    assert all(f"command -v {tool} " in script for tool in ("chromium", "pdftoppm", "npm"))


def test_the_workspace_lock_file_is_ignored_by_git():
    """`backbone demo` in a checkout left `?? data/.backbone.lock` in `git status`."""
    if not (REPO_ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    from pipelines.config import Workspace
    from pipelines.lock import lock_file

    path = lock_file(Workspace(REPO_ROOT)).relative_to(REPO_ROOT)
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", str(path)],
                             cwd=REPO_ROOT, check=False)
    assert ignored.returncode == 0, f"{path} is not in .gitignore"
