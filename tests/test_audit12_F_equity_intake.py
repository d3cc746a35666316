"""Audit 12 (F): race/ethnicity and income as partners really send them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.config import REPO_ROOT
from pipelines.equity.standards import load_race_standard
from pipelines.errors import ConfigError
from pipelines.intake import stage_file

from conftest import drop, query

SALT = "audit12-F-salt-" + "x" * 32
RACES = ("aian", "asian", "black", "hispanic", "mena", "nhpi", "white")


def _stage(workspace, partner, name, content):
    config = workspace.load("riverbend")
    staged = stage_file(drop(workspace, partner, name, content), config, partner, SALT,
                        workspace.staging)
    assert staged.status == "staged", staged.problems
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        quarantined = con.execute("SELECT _row, rule, value FROM quarantine ORDER BY ALL").fetchall()
        rows = con.execute(
            f"SELECT source_row, {', '.join('race_' + r for r in RACES)}, race_multi_unspecified, "
            "race_reported FROM records ORDER BY source_row").fetchall()
    finally:
        con.close()
    races = {row[0]: ({r for r, flag in zip(RACES, row[1:8]) if flag}, row[8], row[9])
             for row in rows}
    return staged, quarantined, races


def test_one_column_per_category_headed_by_its_spd15_label_is_read(workspace):
    """A yes/no column per category, as school systems export it, headed by SPD 15's labels:
    only 'Asian' and 'White' were read (the other headers were listed as ignored), so a Black and
    White child was White alone, a Black child not reported, a Hispanic child not Hispanic."""
    staged, quarantined, races = _stage(
        workspace, "northside_clinic", "race columns.csv",
        "PersonalID,ReportYear,American Indian or Alaska Native,Asian,Black or African American,"
        "Hispanic or Latino,Middle Eastern or North African,Native Hawaiian or Pacific Islander,"
        "White,HouseholdIncome,HouseholdSize,WCV\n"
        "P1,2024,0,0,1,0,0,0,1,45000,3,1\n"
        "P2,2024,0,0,1,0,0,0,0,45000,3,1\n"
        "P3,2024,0,0,0,1,0,0,1,45000,3,1\n"
        "P4,2024,1,0,0,0,1,1,0,45000,3,1\n")
    assert staged.ignored_columns == [] and quarantined == []
    assert races[2][0] == {"black", "white"}
    assert races[3][0] == {"black"} and races[3][2]
    assert races[4][0] == {"hispanic", "white"}
    assert races[5][0] == {"aian", "mena", "nhpi"}


def test_the_standards_own_words_for_no_race_and_more_than_one_are_read(workspace):
    """'Unknown', HMIS's 'Data not collected', the published 'Multiracial and/or Multiethnic'
    and 'Black/African American' were unknown codes: each person's whole row was set aside (its
    outcome uncounted) unless the partner's crosswalk listed them."""
    cells = ["Unknown", "Data not collected", "Client doesn’t know", "Multiracial and/or "
             "Multiethnic", "Multiracial", "Black/African American", "Hispanic/Latino, White",
             '"Black, African American, or African"', "Declined"]
    staged, quarantined, races = _stage(
        workspace, "bright_start", "words.csv",
        "Child ID;Program Year;Race / Ethnicity;Ready for K?\n"
        + "".join(f"W{i};2024;{cell};Yes\n" for i, cell in enumerate(cells)))
    assert quarantined == []
    no_race, multi = (set(), False, False), (set(), True, True)
    assert [races[row] for row in range(2, 2 + len(cells))] == [
        no_race, no_race, no_race, multi, multi, ({"black"}, False, True),
        ({"hispanic", "white"}, False, True), ({"black"}, False, True), no_race]


def test_a_code_cannot_mean_both_no_race_and_more_than_one(tmp_path):
    data = yaml.safe_load((REPO_ROOT / "schemas/equity/race_spd15.yaml").read_text())
    data["not_reported_codes"].append("multiracial")
    path = Path(tmp_path) / "race_spd15.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match="not_reported_codes"):
        load_race_standard(path)


def test_race_and_ethnicity_columns_are_told_how_to_keep_both(workspace):
    """The two-question format (Race, then Hispanic or Latino as 'Ethnicity') was refused with
    "keep only one of them": deleting Ethnicity, as told, counts every Hispanic person as not
    Hispanic. The message now gives the crosswalk lines that read both, and they do."""
    config = workspace.load("riverbend")
    text = ("PersonalID,ReportYear,Race,Ethnicity,WCV\n"
            "P1,2024,White,Hispanic or Latino,1\nP2,2024,Black,Not Hispanic or Latino,1\n")
    staged = stage_file(drop(workspace, "northside_clinic", "two questions.csv", text), config,
                        "northside_clinic", SALT, workspace.staging)
    assert staged.status == "rejected"
    message = staged.problems[0]["message"]
    assert "do not delete it" in message and "'Ethnicity': race_hispanic" in message
    crosswalk = workspace.path("schemas/crosswalks/riverbend/northside_clinic.yaml")
    crosswalk.write_text(crosswalk.read_text().replace(
        "header_aliases:\n", "header_aliases:\n  Ethnicity: race_hispanic\n").replace(
        "values:\n", 'values:\n  race_hispanic: {"Hispanic or Latino": 1, '
        '"Not Hispanic or Latino": 0}\n'))
    _, quarantined, races = _stage(workspace, "northside_clinic", "two questions 2.csv", text)
    assert quarantined == []
    assert races[2][0] == {"hispanic", "white"} and races[3][0] == {"black"}


def _crosswalk_with(workspace, extra_alias: str, extra: str = ""):
    crosswalk = workspace.path("schemas/crosswalks/riverbend/northside_clinic.yaml")
    crosswalk.write_text(crosswalk.read_text().replace(
        "header_aliases:\n", f"header_aliases:\n  {extra_alias}\n") + extra)


def test_monthly_income_is_made_annual_when_the_crosswalk_says_so(workspace):
    """HMIS keeps TotalMonthlyIncome: mapped onto the (annual) income, $3,000 a month for three
    was $3,000 a year, 12% of the guideline instead of 139%, and nothing could say otherwise."""
    crosswalk = workspace.path("schemas/crosswalks/riverbend/northside_clinic.yaml")
    before = crosswalk.read_text()
    _crosswalk_with(workspace, "Income (past 12 months): household_income")
    workspace.load("riverbend")  # a year's income, whatever the word
    crosswalk.write_text(before)
    _crosswalk_with(workspace, "TotalMonthlyIncome: household_income")
    with pytest.raises(ConfigError, match="household_income_per: month"):
        workspace.load("riverbend")
    _crosswalk_with(workspace, "", "household_income_per: month\n")
    staged, quarantined, _ = _stage(
        workspace, "northside_clinic", "monthly.csv",
        "PersonalID,ReportYear,TotalMonthlyIncome,HouseholdSize,State,WCV\n"
        "M1,2024,\"$3,000\",3,WA,1\nM2,2024,0,3,WA,1\n")
    rows = query(staged.staged_db, "SELECT household_income, round(poverty_ratio, 3), class "
                                   "FROM records ORDER BY source_row")
    # 2024: $15,060 + 2 x $5,380 = $25,820 for three in the 48 states and DC.
    assert rows == [(36000.0, round(36000 / 25820, 3), "100-199% FPG"),
                    (0.0, 0.0, "Below 100% FPG")]
