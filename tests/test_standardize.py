"""Hashing each distinct person id once gives the keys hashing every row gives."""

from __future__ import annotations

import hashlib

from pipelines import intake, standardize as standardize_module
from pipelines.intake import stage_file
from pipelines.standardize import standardize

from conftest import drop

SALT = "test-salt"
HOSTILE = ["S'1", 'S"2', "S;DROP TABLE records;--", "Søren", "名前", "S 1", "s1", "S1",
           "x" * 300, "S\\1", "{batch}", "S%1"]


def _records_both_ways(workspace, config, monkeypatch, partner, name, content):
    """Stage `content`, standardizing the same `typed` rows both ways, nothing quarantined
    (so NULL and malformed ids reach the hash too); returns both tables' rows and the guard."""
    seen = {}

    def both(con, config, partner_id, salt, out="records"):
        con.execute("CREATE OR REPLACE TEMP TABLE _nothing (_row BIGINT)")
        for once in (True, False):
            standardize(con, config, partner_id, salt, quarantine="_nothing",
                        out=f"by_{once}", hash_each_id_once=once)
            seen[once] = con.execute(f"SELECT * FROM by_{once} ORDER BY ALL").fetchall()
        seen["guard"] = standardize_module.ids_repeat(con, "person_id")
        return standardize(con, config, partner_id, salt, out=out)

    monkeypatch.setattr(intake, "standardize", both)
    path = drop(workspace, partner, name, content)
    staged = stage_file(path, config, partner, SALT, workspace.staging)
    assert staged.status == "staged", staged.problems
    return seen


def test_each_distinct_id_hashed_once_gives_every_rows_key(workspace, config, monkeypatch):
    # Every id on three rows (three years), hostile ones among them, and a blank id.
    ids = [*HOSTILE, "", *(f"G{i}" for i in range(60))]
    rows = [f'"{i.replace(chr(34), chr(34) * 2)}",{year},700,F,Y' for year in (2022, 2023, 2024)
            for i in ids]
    seen = _records_both_ways(workspace, config, monkeypatch, "riverbend_schools", "repeat.csv",
                              "Student Number,School Year,Ethnicity/Race Codes,Lunch Status,"
                              "K Readiness Met\n" + "\n".join(rows) + "\n")
    assert seen[True] == seen[False]
    assert len(seen[True]) == len(rows)
    assert seen["guard"]
    keys = {row[2] for row in seen[True]}
    assert None in keys  # the blank id: no key either way
    expected = int(hashlib.sha256(f"{SALT}:S'1".encode()).hexdigest()[:32], 16)
    assert expected in keys  # the algorithm and salt existing warehouses hold


def test_distinct_ids_are_hashed_row_by_row(workspace, config, monkeypatch):
    rows = [f"P{i},2024,0,1,0,0,0,0,1,,{20000 + i},3,WA,1" for i in range(40)]
    seen = _records_both_ways(workspace, config, monkeypatch, "northside_clinic", "distinct.csv",
                              "PersonalID,ReportYear,AmIndAKNative,Asian,BlackAfAmerican,"
                              "HispanicLatinaeo,MidEastNAfrican,NativeHIPacific,White,RaceNone,"
                              "HouseholdIncome,HouseholdSize,State,WCV\n"
                              + "\n".join(rows) + "\n")
    assert seen[True] == seen[False]
    assert not seen["guard"]
