"""The thin CLI: `backbone check` validates without writing anything."""

from __future__ import annotations

from typer.testing import CliRunner

from pipelines.cli import app

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
    assert result.exit_code == 1
    assert "5 of 6 rows would load" in result.output
    assert "row 7, column race" in result.output and "unknown_race_code" in result.output
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


def test_schedule_builds_a_cron_deployment_of_the_nightly_flow(tmp_path):
    from pipelines.flows import nightly_deployment

    deployment = nightly_deployment("0 2 * * *", tmp_path)
    assert deployment.name == "nightly"
    assert deployment.parameters == {"home": str(tmp_path)}
    assert [s.schedule.cron for s in deployment.schedules] == ["0 2 * * *"]
