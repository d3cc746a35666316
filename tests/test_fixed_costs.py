"""Fixed costs every night and every `check` pays (issue 14): what is imported, and what is built
once per process rather than once per file. Timings are in benchmarks/, not here."""

from __future__ import annotations

import subprocess
import sys

from conftest import SAMPLES
from pipelines import intake
from pipelines.config import REPO_ROOT


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_a_night_imports_great_expectations_only_when_a_file_is_staged():
    out = _python("import sys, pipelines.flows, pipelines.ingest, pipelines.feedback\n"
                  "print('great_expectations' in sys.modules)")
    assert out == "False\n"


def test_check_imports_no_prefect(tmp_path):
    partner_file = tmp_path / "rusd.csv"
    partner_file.write_text("Student Number,School Year,Ethnicity/Race Codes,K Readiness Met\n"
                            + "".join(f"S{i},2024,700,Y\n" for i in range(5)))
    out = _python(
        "import sys\nfrom pipelines.cli import app\n"
        f"try:\n    app(['check', {str(partner_file)!r}, '--partner', 'riverbend_schools', "
        "'--initiative', 'riverbend'], standalone_mode=False)\nfinally:\n"
        "    print('prefect loaded:', any(m.split('.')[0] == 'prefect' for m in sys.modules))")
    assert "5 of 5 rows would load" in out
    assert out.endswith("prefect loaded: False\n")


def test_files_of_one_partner_share_one_suite(tmp_path, workspace, config, monkeypatch):
    built = []
    original = intake.build_suite

    def counting(*args, **kwargs):
        built.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(intake, "build_suite", counting)
    monkeypatch.setattr(intake, "_SUITES", {})
    files = sorted((SAMPLES / "riverbend_schools").iterdir())[:3]
    staged = [intake.stage_file(path, config, "riverbend_schools", "salt", tmp_path / "staging")
              for path in files]
    assert built == ["riverbend_schools"]
    assert all(s.status == "staged" and s.rows_loaded > 0 for s in staged)
    # The same outcome as a suite of its own: rules, counts and quarantine.
    monkeypatch.setattr(intake, "_SUITES", {})
    alone = intake.stage_file(files[-1], config, "riverbend_schools", "salt", tmp_path / "again")
    assert len(built) == 2
    assert (alone.rules, alone.rows_loaded, alone.rows_quarantined) == (
        staged[-1].rules, staged[-1].rows_loaded, staged[-1].rows_quarantined)


def test_gx_builds_each_expectation_configuration_once_per_validation(tmp_path, config,
                                                                     monkeypatch):
    """GX rebuilt `Expectation.configuration` ~75 times per expectation per validation; the
    outcome must be the same with it built once."""
    import contextlib

    from great_expectations.expectations.expectation import Expectation

    from pipelines import gx_duckdb

    path = SAMPLES / "northside_clinic" / "northside_wcv_2022.csv"
    built = []
    original = Expectation.__dict__["configuration"]

    def counting(self):
        built.append(id(self))
        return original.fget(self)

    monkeypatch.setattr(gx_duckdb, "_original_configuration", property(counting))
    monkeypatch.setattr(intake, "_SUITES", {})
    once = intake.stage_file(path, config, "northside_clinic", "salt", tmp_path / "a")
    assert Expectation.__dict__["configuration"] is original  # put back after the validation
    with_memo = len(built)

    monkeypatch.setattr(gx_duckdb, "_configurations_built_once", contextlib.nullcontext)
    monkeypatch.setattr(Expectation, "configuration", property(counting))
    built.clear()
    every_time = intake.stage_file(path, config, "northside_clinic", "salt", tmp_path / "b")
    # GX also copies expectations while validating: each copy builds its own, once.
    assert 0 < with_memo * 4 < len(built), (with_memo, len(built))
    assert (once.rules, once.rows_loaded, once.rows_quarantined) == (
        every_time.rules, every_time.rows_loaded, every_time.rows_quarantined)


def test_small_files_take_slots_of_their_own(tmp_path):
    """Small files are staged one per core, large ones as before (one per two cores)."""
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small.write_text("a,b\n1,2\n")
    with large.open("wb") as handle:
        handle.truncate(intake.SMALL_FILE_BYTES + 1)
    assert intake.slots_for(small) is intake.SMALL_FILE_SLOTS
    assert intake.slots_for(large) is intake.STAGING_SLOTS
    assert intake.slots_for(tmp_path / "gone.csv") is intake.SMALL_FILE_SLOTS
    assert intake.SMALL_FILE_SLOTS._initial_value >= intake.STAGING_SLOTS._initial_value
