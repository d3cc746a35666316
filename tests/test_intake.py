"""Validation with real GX suites in DuckDB, and standardization, through `stage_file`."""

from __future__ import annotations

import pytest

from pipelines.intake import stage_file
from pipelines.validate import build_suite

from conftest import drop, query

SALT = "test-salt"


def _stage(workspace, config, partner, name, content, encoding="utf-8"):
    path = drop(workspace, partner, name, content, encoding)
    return stage_file(path, config, partner, SALT, workspace.staging)


def _query(staged, sql):
    return query(staged.staged_db, sql)


def test_suite_is_generated_from_the_schema(config):
    suite = build_suite(config.record_schema, config.crosswalks["riverbend_schools"],
                        "riverbend_schools", ["person_id", "period", "race", "kinder_ready"],
                        race=config.standards.race)
    rules = {(e.meta["rule"], e.meta["column"]) for e in suite.expectations}
    assert {("missing_value", "person_id"), ("bad_period", "period"), ("future_period", "period"),
            ("not_allowed", "kinder_ready"), ("unknown_race_code", "race"),
            ("bad_format", "person_id"), ("duplicate_key", "person_id+period")} <= rules
    assert not any(column == "household_income" for _, column in rules)  # not in the file


def test_row_errors_are_quarantined_with_row_column_and_rule(workspace, config):
    content = ("Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met\n"
               "S1,2024,700,F,Y\n"         # row 2 fine
               "S2,2024,123,F,Y\n"         # row 3 unknown race code
               ",2024,700,P,N\n"           # row 4 missing id
               "S4,2099,400,P,N\n"         # row 5 future period
               "S5,2024,400|300,Z,Y\n"     # row 6 unknown lunch status
               "S6,20x4,400,F,Y\n"         # row 7 period not a number
               "S7,2024,400,F,maybe\n"     # row 8 kinder_ready not mapped / not an integer
               "S1,2024,700,F,N\n"         # row 9 duplicate of row 2
               "S9,99999999999999999999,400,F,Y\n"  # row 10 a whole number past BIGINT
               + "".join(f"T{i},2024,200,R,N\n" for i in range(12)))
    staged = _stage(workspace, config, "riverbend_schools", "f.csv", content)
    assert staged.status == "staged", staged.problems
    bad = _query(staged, "SELECT _row, column_name, rule, value FROM quarantine ORDER BY ALL")
    assert (3, "race", "unknown_race_code", "123") in bad
    assert (4, "person_id", "missing_value", None) in bad
    assert (5, "period", "future_period", "2099") in bad
    assert (6, "low_income_proxy", "unknown_proxy_value", "Z") in bad
    assert (7, "period", "bad_period", "20x4") in bad
    assert (8, "kinder_ready", "wrong_type", "maybe") in bad
    assert {r[0] for r in bad if r[2] == "duplicate_key"} == {2, 9}
    assert (10, "period", "bad_period", "99999999999999999999") in bad
    assert staged.rows_read == 21 and staged.rows_quarantined == 9
    assert staged.rows_loaded == 12
    # The quarantine holds exactly what GX counted, rule by rule.
    for rule in staged.rules:
        if rule["rule"] not in ("no_rows",):
            counted = sum(1 for r in bad if r[2] == rule["rule"] and r[1] == rule["column"])
            assert counted == rule["unexpected_count"], rule


def test_standardized_records_hash_ids_and_map_race_and_class(workspace, config):
    content = ("PersonalID,ReportYear,AmIndAKNative,Asian,BlackAfAmerican,HispanicLatinaeo,"
               "MidEastNAfrican,NativeHIPacific,White,RaceNone,HouseholdIncome,HouseholdSize,"
               "State,WCV\n"
               "P1,2024,0,0,1,1,0,0,0,,15060,1,WA,1\n"     # multiracial, exactly 100% FPG
               "P2,2024,0,0,0,0,0,0,0,9,,3,WA,0\n"         # prefers not to answer, no income
               "P3,2024,0,0,0,0,0,0,1,,18810,1,AK,1\n"     # Alaska guideline -> 100%
               "P4,2024,0,0,0,0,0,0,1,,\"$86,080\",4,WA,1\n")  # 86080/31200 = 2.76
    staged = _stage(workspace, config, "northside_clinic", "c.csv", content)
    assert staged.status == "staged" and staged.rows_loaded == 4, staged.problems
    rows = _query(staged, "SELECT person_key, race_black, race_hispanic, race_white, "
                  "race_reported, poverty_ratio, class FROM records ORDER BY source_row")
    import hashlib
    keys = [int(hashlib.sha256(f"{SALT}:P{n}".encode()).hexdigest()[:32], 16) for n in (1, 2, 3, 4)]
    assert [r[0] for r in rows] == keys  # salted sha256, first 128 bits
    assert rows[0][1:5] == (True, True, False, True)
    assert rows[0][5] == pytest.approx(1.0) and rows[0][6] == "100-199% FPG"
    assert rows[1][4] is False and rows[1][6] == "Not reported"
    assert rows[2][5] == pytest.approx(1.0) and rows[2][6] == "100-199% FPG"
    assert rows[3][5] == pytest.approx(86080 / (15060 + 3 * 5380)) and rows[3][6] == "200-399% FPG"
    unsalted = int(hashlib.sha256(b"P1").hexdigest()[:32], 16)
    assert _query(staged, f"SELECT count(*) FROM records WHERE person_key = {unsalted}") == [(0,)]


def test_local_codes_detailed_names_and_proxies(workspace, config):
    content = ('"Child ID";"Program Year";"Race / Ethnicity";"Family Income ($)";"Family Size";'
               '"Ready for K?";"Medicaid?"\n'
               "K1;2024;Latino, Black;;3;Sí;Yes\n"
               "K2;2024;Mexican;;3;No;No\n"
               "K3;2024;Declined;;2;Yes;\n")
    staged = _stage(workspace, config, "bright_start", "b.csv", content, "cp1252")
    assert staged.status == "staged" and staged.encoding == "cp1252", staged.problems
    rows = _query(staged, "SELECT race_black, race_hispanic, race_reported, class, kinder_ready "
                  "FROM records ORDER BY source_row")
    assert rows == [(True, True, True, "Low income (proxy)", 1),
                    (False, True, True, "Not low income (proxy)", 0),
                    (False, False, False, "Not reported", 1)]


def test_a_file_of_mostly_bad_rows_is_rejected_whole(workspace, config):
    content = "person_id,period,kinder_ready\n" + "".join(f"X{i},2024,7\n" for i in range(10))
    staged = _stage(workspace, config, "riverbend_schools", "bad.csv", content)
    assert staged.status == "rejected"
    assert staged.problems[0]["rule"] == "too_many_bad_rows"
    assert "10 of 10 rows" in staged.problems[0]["message"]


def test_rows_claiming_another_partner_are_quarantined(workspace, config):
    content = "person_id,period,partner_id,kinder_ready\n" + "".join(
        f"X{i},2024,riverbend_schools,1\n" for i in range(5)) + "Y,2024,northside_clinic,1\n"
    staged = _stage(workspace, config, "riverbend_schools", "p.csv", content)
    bad = _query(staged, "SELECT _row, rule FROM quarantine")
    assert bad == [(7, "other_partner")]


AGG_HEADER = "indicator_id,period,race,class,numerator,denominator\n"


def test_aggregate_submission_loads_when_subgroups_sum(workspace, config):
    content = AGG_HEADER + (
        "stable_housing,2024,ALL,ALL,30,50\n"
        "stable_housing,2024,White,ALL,20,30\n"
        "stable_housing,2024,Asian,ALL,10,20\n"
        "stable_housing,2024,ALL,Below 100% FPG,12,25\n"
        "stable_housing,2024,ALL,400%+ FPG,18,25\n")
    staged = _stage(workspace, config, "riverbend_housing", "a.csv", content)
    assert staged.status == "staged" and staged.rows_loaded == 5, staged.problems
    rows = _query(staged, "SELECT race, class, numerator, denominator FROM records ORDER BY source_row")
    assert rows[0] == ("ALL", "ALL", 30, 50)


def test_aggregate_rules_quarantine_what_does_not_add_up(workspace, config):
    content = AGG_HEADER + (
        "stable_housing,2024,ALL,ALL,30,50\n"
        "stable_housing,2024,White,ALL,20,30\n"
        "stable_housing,2024,Asian,ALL,11,20\n"        # races sum to 31, not 30
        "stable_housing,2023,ALL,ALL,5,40\n"
        "stable_housing,2023,White,ALL,5,40\n"
        "stable_housing,2022,ALL,ALL,45,40\n"           # numerator over denominator
        "kinder_magic,2022,ALL,ALL,1,2\n"              # not an aggregate indicator
        + "".join(f"stable_housing,{y},ALL,ALL,1,2\n" for y in range(2010, 2016)))
    staged = _stage(workspace, config, "riverbend_housing", "a.csv", content)
    bad = _query(staged, "SELECT _row, rule FROM quarantine ORDER BY ALL")
    assert {r for r, rule in bad if rule == "subgroups_do_not_sum"} == {2, 3, 4}
    assert (7, "numerator_over_denominator") in bad
    assert (8, "unknown_indicator") in bad
    assert staged.rows_loaded == 2 + 6


def _contents(database: str, table: str) -> tuple[list, list]:
    import duckdb

    con = duckdb.connect(database, read_only=True)
    try:
        rows = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        methods = sorted({m for (m,) in con.execute(
            f"SELECT DISTINCT compression FROM pragma_storage_info('{table}')").fetchall()})
        return rows, methods
    finally:
        con.close()


def test_staged_records_without_bitpacking_hold_the_same_rows(workspace, config, monkeypatch):
    """The staging file leaves bitpacking out (intake.STAGED_UNCOMPRESSED): same records and
    quarantine, in the same order, as with every compression method DuckDB has."""
    import duckdb

    from pipelines import intake

    header = ("PersonalID,ReportYear,AmIndAKNative,Asian,BlackAfAmerican,HispanicLatinaeo,"
              "MidEastNAfrican,NativeHIPacific,White,RaceNone,HouseholdIncome,HouseholdSize,"
              "State,WCV\n")
    rows = [f"P{i},2024,{i % 2},{i // 2 % 2},0,{i % 3 == 0:d},0,0,{i % 5 == 0:d},,"
            f"{10000 + i * 37 % 90000},{1 + i % 7},{'AK' if i % 11 == 0 else 'WA'},{i % 2}\n"
            for i in range(5000)]
    rows[17] = "P17,2024,0,0,0,0,0,0,3,,1000,2,WA,1\n"  # quarantined: a flag of 3
    content = header + "".join(rows)
    staged = {}
    for off, name in (("bitpacking", "fast.csv"), ("", "general.csv")):
        monkeypatch.setattr(intake, "STAGED_UNCOMPRESSED", off)
        staged[off] = _stage(workspace, config, "northside_clinic", name, content)
        assert staged[off].status == "staged" and staged[off].rows_loaded == 4999
    for table in ("records", "quarantine"):
        fast, fast_methods = _contents(staged["bitpacking"].staged_db, table)
        general, general_methods = _contents(staged[""].staged_db, table)
        assert fast == general and len(fast) == {"records": 4999, "quarantine": 1}[table]
        assert "BitPacking" not in fast_methods
    assert "BitPacking" in _contents(staged[""].staged_db, "records")[1]
    # Stored in the same order too: the warehouse appends them as they come.
    con = duckdb.connect()
    con.execute(f"ATTACH '{staged['bitpacking'].staged_db}' AS f (READ_ONLY)")
    con.execute(f"ATTACH '{staged[''].staged_db}' AS g (READ_ONLY)")
    assert con.execute("SELECT count(*) FROM (SELECT rowid, * FROM f.records EXCEPT ALL "
                       "SELECT rowid, * FROM g.records)").fetchall() == [(0,)]
