"""Row rules folded into one GX row query give exactly what each rule gives validated alone."""

from __future__ import annotations

import dataclasses

import pytest

from bad_corpus import CASES, REGISTERED
from conftest import SAMPLES, query
from pipelines import folded_rules, intake
from pipelines.validate import build_suite, record_failures, run_suite

SALT = "salt"
FILES = [c for c in CASES if c.build is None and c.partner in REGISTERED and not c.fresh]
QUARANTINE = "SELECT _row, column_name, rule, value, message FROM quarantine ORDER BY ALL"


def _staged_both_ways(path, config, partner, tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "_SUITES", {})
    validations = []
    with monkeypatch.context() as patch:  # GX runs the folded query itself, never falling back
        patch.setattr(folded_rules, "run_suite", lambda database, suite: validations.append(
            suite.name) or run_suite(database, suite))
        folded = intake.stage_file(path, config, partner, SALT, tmp_path / "folded")
    assert len(validations) <= 1 and all(v.endswith(".folded") for v in validations), validations
    monkeypatch.setattr(intake, "_SUITES", {})
    with monkeypatch.context() as patch:  # the suite as built, each rule an expectation alone
        patch.setattr(folded_rules, "validate", lambda con, database, folded: record_failures(
            con, run_suite(database, folded.original)))
        alone = intake.stage_file(path, config, partner, SALT, tmp_path / "alone")
    return folded, alone


def _same(folded, alone):
    assert folded.status == alone.status
    assert folded.problems == alone.problems
    assert folded.rules == alone.rules  # rule, column, message, expectation, count, success
    assert (folded.rows_read, folded.rows_loaded, folded.rows_quarantined) == (
        alone.rows_read, alone.rows_loaded, alone.rows_quarantined)
    if alone.staged_db:
        assert query(folded.staged_db, QUARANTINE) == query(alone.staged_db, QUARANTINE)


@pytest.mark.parametrize("case", FILES, ids=[c.id for c in FILES])
def test_the_bad_file_corpus_ends_the_same_folded(case, workspace, config, tmp_path,
                                                  monkeypatch):
    path = case.place(workspace.intake / "riverbend", tmp_path / "outside")
    _same(*_staged_both_ways(path, config, case.partner, tmp_path, monkeypatch))


def test_a_file_failing_every_kind_of_rule_ends_the_same_folded(workspace, config, tmp_path,
                                                                monkeypatch):
    rows = ["S1,2024,700,F,Y", "S2,2024,123,F,Y", ",2024,700,P,N", "S4,2099,400,P,N",
            "S5,2024,400|300,Z,Y", "S6,20x4,400,F,Y", "S7,2024,400,F,maybe", "S1,2024,700,F,N",
            "S9 !,2024,400,F,Y", "S10,2024,400,F,5", *(f"T{i},2024,200,R,N" for i in range(12))]
    path = workspace.intake / "riverbend" / "riverbend_schools" / "every_rule.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Student Number,School Year,Ethnicity/Race Codes,Lunch Status,"
                    "K Readiness Met\n" + "\n".join(rows) + "\n", encoding="utf-8")
    folded, alone = _staged_both_ways(path, config, "riverbend_schools", tmp_path, monkeypatch)
    _same(folded, alone)
    failed = {r["rule"] for r in folded.rules if not r["success"]}
    assert {"missing_value", "not_allowed", "unknown_race_code", "duplicate_key",
            "bad_format", "wrong_type", "unknown_proxy_value"} <= failed, failed
    clinic = workspace.intake / "riverbend" / "northside_clinic" / "every_rule.csv"
    clinic.parent.mkdir(parents=True, exist_ok=True)
    clinic.write_text("PersonalID,ReportYear,HouseholdIncome,HouseholdSize,State,WCV\n"
                      "P1,2024,-5,3,CA,1\nP2,2024,1000,0,CA,1\nP3,2024,1000,3,CA,7\n"
                      "P4,2024,,3,,1\nP5,2024,xyz,3,CA,1\n"
                      + "".join(f"Q{i},2024,{1000 + i},3,CA,0\n" for i in range(15)),
                      encoding="utf-8")
    folded, alone = _staged_both_ways(clinic, config, "northside_clinic", tmp_path / "clinic",
                                      monkeypatch)
    _same(folded, alone)
    failed = {r["rule"] for r in folded.rules if not r["success"]}
    assert {"out_of_range", "not_allowed", "wrong_type"} <= failed, failed


def test_the_sample_files_end_the_same_folded(config, tmp_path, monkeypatch):
    for partner in ("northside_clinic", "riverbend_schools", "riverbend_housing"):
        path = sorted((SAMPLES / partner).iterdir())[0]
        _same(*_staged_both_ways(path, config, partner, tmp_path / partner, monkeypatch))


def test_column_rules_become_one_row_query(config):
    schema = config.schema_for("northside_clinic")
    suite = build_suite(schema, config.crosswalks["northside_clinic"], "northside_clinic",
                        [c.name for c in schema.columns], race=config.standards.race)
    folded = folded_rules.fold(suite)
    kinds = [e.configuration.type for e in folded.suite.expectations]
    # The row count is no row rule; every other rule of this template is folded.
    assert kinds == ["expect_table_row_count_to_be_between", "unexpected_rows_expectation"]
    assert len(folded.rules) == len(suite.expectations) > 20
    # Every rule once, in the order GX reports them (grouped by column).
    assert sorted(map(repr, (r.meta for r in folded.rules))) == sorted(
        map(repr, (e.configuration.meta for e in suite.expectations)))


def test_options_not_translated_stay_expectations_of_their_own():
    sql = folded_rules.failing_rows_sql
    assert sql("expect_column_values_to_be_between",
               {"column": "x", "min_value": 0, "max_value": 9, "strict_min": True}) is None
    assert sql("expect_column_values_to_be_in_set", {"column": "x", "value_set": [True]}) is None
    assert sql("expect_column_values_to_not_be_null", {"column": "x", "mostly": 0.9}) is None
    assert sql("expect_column_values_to_be_in_set", {"column": "x", "value_set": []}) == (
        "SELECT _row, NULL AS value FROM {batch} WHERE x IS NOT NULL")
    assert sql("expect_column_values_to_be_in_set", {"column": "x", "value_set": ["a{1}", 2]}) == (
        "SELECT _row, NULL AS value FROM {batch} WHERE x IS NOT NULL AND NOT "
        "(x IN ('a{{1}}', 2))")


def test_a_folded_query_that_fails_validates_the_suite_as_built(config, tmp_path, monkeypatch):
    path = sorted((SAMPLES / "riverbend_schools").iterdir())[0]
    normal = intake.stage_file(path, config, "riverbend_schools", SALT, tmp_path / "normal")
    built = intake._suite
    monkeypatch.setattr(intake, "_SUITES", {})
    monkeypatch.setattr(intake, "_suite", lambda *args: dataclasses.replace(
        built(*args), query="SELECT _row FROM {batch} WHERE no_such_column"))
    validations = []
    monkeypatch.setattr(folded_rules, "run_suite", lambda database, suite: validations.append(
        suite.name) or run_suite(database, suite))
    broken = intake.stage_file(path, config, "riverbend_schools", SALT, tmp_path / "broken")
    assert validations and not any(v.endswith(".folded") for v in validations), validations
    _same(broken, normal)
