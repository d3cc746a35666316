"""Equity standards: loaders validate, poverty_line, class bands, Wilson intervals."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml
from scipy.stats import binomtest

from pipelines.config import REPO_ROOT
from pipelines.equity.poverty import (guideline_amount, load_poverty_guidelines,
                                      register_poverty_guidelines)
from pipelines.equity.standards import class_band_sql, load_class_bands, load_race_standard
from pipelines.equity.stats import (
    RELIABILITY_MIN_DENOMINATOR,
    register_stat_macros,
    wilson_interval,
)
from pipelines.errors import ConfigError

RACE_LABELS = {
    "aian": "American Indian or Alaska Native", "asian": "Asian", "black": "Black or African American",
    "hispanic": "Hispanic or Latino", "mena": "Middle Eastern or North African",
    "nhpi": "Native Hawaiian or Pacific Islander", "white": "White",
}
SHIPPED = REPO_ROOT / "schemas" / "equity"
RACE_STANDARD_PATH = SHIPPED / "race_spd15.yaml"
CLASS_BANDS_PATH = SHIPPED / "class_bands.yaml"
POVERTY_GUIDELINES_PATH = SHIPPED / "poverty_guidelines.csv"
CLASS_LABELS = ["Below 100% FPG", "100-199% FPG", "200-399% FPG", "400%+ FPG",
                "Low income (proxy)", "Not low income (proxy)", "Not reported"]


# ---------------------------------------------------------------- loaders

def test_race_standard_vocabulary() -> None:
    race = load_race_standard(RACE_STANDARD_PATH)
    assert race.codes == list(RACE_LABELS)
    assert {c: race.label(c) for c in race.codes} == RACE_LABELS
    assert race.multiracial_label == "Multiracial and/or Multiethnic"
    assert race.not_reported_label == "Not reported"
    assert race.hmis_columns == {
        "AmIndAKNative": "aian", "Asian": "asian", "BlackAfAmerican": "black",
        "HispanicLatinaeo": "hispanic", "MidEastNAfrican": "mena", "NativeHIPacific": "nhpi",
        "White": "white",
    }
    assert race.hmis_race_none_values == (8, 9, 99)
    assert race.detailed_to_code("  puerto   RICAN ") == "hispanic"
    assert race.detailed_to_code("Hmong") == "asian"
    assert race.detailed_to_code("Native Village of Barrow Inupiat") == "aian"
    assert race.detailed_to_code("marshallese") == "nhpi"
    assert race.detailed_to_code("Klingon") is None
    with pytest.raises(KeyError):
        race.label("martian")


def test_class_bands_and_guidelines_as_shipped() -> None:
    bands = load_class_bands(CLASS_BANDS_PATH)
    assert bands.labels == CLASS_LABELS
    assert [(b.lower, b.upper) for b in bands.bands] == [(0, 1), (1, 2), (2, 4), (4, float("inf"))]


def test_shipped_poverty_guidelines_cover_2015_to_2026_for_all_three_tables() -> None:
    guidelines = load_poverty_guidelines(POVERTY_GUIDELINES_PATH)
    rows = {(g.year, g.region): (g.first_person, g.each_additional) for g in guidelines}
    assert set(rows) == {(y, r) for y in range(2015, 2027) for r in ("contiguous", "alaska", "hawaii")}
    # Spot checks against the Federal Register notices.
    assert rows[(2015, "contiguous")] == (11770, 4160)
    assert rows[(2019, "alaska")] == (15600, 5530)
    assert rows[(2022, "contiguous")] == (13590, 4720)
    assert rows[(2022, "hawaii")] == (15630, 5430)
    assert rows[(2023, "alaska")] == (18210, 6430)
    assert rows[(2025, "alaska")] == (19550, 6880)
    assert rows[(2025, "hawaii")] == (17990, 6330)
    assert rows[(2026, "contiguous")] == (15960, 5680)
    assert rows[(2026, "alaska")] == (19950, 7100)
    assert rows[(2026, "hawaii")] == (18360, 6530)
    assert all(g.source.startswith(f"{80 + g.year - 2015} FR ") for g in guidelines)
    # Published household amounts, including 2016's, where HHS kept 7+ at 2015 levels.
    assert guideline_amount(guidelines, 2022, "contiguous", 4) == 27750
    assert guideline_amount(guidelines, 2016, "contiguous", 6) == 32580
    assert guideline_amount(guidelines, 2016, "contiguous", 7) == 36730
    assert guideline_amount(guidelines, 2016, "contiguous", 8) == 40890
    assert guideline_amount(guidelines, 2016, "alaska", 8) == 51120
    assert guideline_amount(guidelines, 2016, "hawaii", 8) == 47010
    assert guideline_amount(guidelines, 2017, "contiguous", 8) == 41320
    assert guideline_amount(guidelines, 2026, "alaska", 8) == 69650
    assert guideline_amount(guidelines, 2026, "hawaii", 2) == 24890


def test_a_year_without_alaska_or_hawaii_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "poverty_guidelines.csv"
    path.write_text("year,region,first_person,each_additional,source\n"
                    "2024,contiguous,15060,5380,x\n2024,alaska,18810,6730,x\n"
                    "2024,hawaii,17310,6190,x\n2025,contiguous,15650,5500,x\n")
    with pytest.raises(ConfigError, match=rf"^{path}: year 2025: no rows for \['alaska', 'hawaii'\]"):
        load_poverty_guidelines(path)


def _edited_yaml(tmp_path: Path, source: Path, edit) -> Path:
    data = yaml.safe_load(source.read_text())
    edit(data)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(("edit", "key"), [
    (lambda d: d["categories"][1].update(code="aian"), "categories.1.code"),
    (lambda d: d["detailed_categories"].update(Klingon="qonos"), "detailed_categories.Klingon"),
    (lambda d: d["hmis_fy2024_columns"].update(White="caucasian"), "hmis_fy2024_columns.White"),
    (lambda d: d["hmis_fy2024_columns"].update(RaceNone="8"), "hmis_fy2024_columns.RaceNone"),
    (lambda d: d.pop("multiracial_label"), "multiracial_label"),
    (lambda d: d["categories"][0].update(colour="red"), "categories.0.colour"),
])
def test_bad_race_standard_names_file_and_key(tmp_path: Path, edit, key: str) -> None:
    path = _edited_yaml(tmp_path, RACE_STANDARD_PATH, edit)
    with pytest.raises(ConfigError) as err:
        load_race_standard(path)
    assert str(err.value).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize(("edit", "key"), [
    (lambda d: d["bands"][2].update(lower=2.5), "bands.2.lower"),  # gap
    (lambda d: d["bands"][1].update(lower=0.5), "bands.1.lower"),  # overlap
    (lambda d: d["bands"][3].update(upper=9), "bands.3.upper"),  # closed top
    (lambda d: d["bands"][0].update(lower=0.1), "bands.0.lower"),
    (lambda d: d["bands"][1].update(upper=1), "bands.1.upper"),  # empty band
    (lambda d: d["proxy_labels"].update(low_income="Below 100% FPG"), "bands"),
])
def test_bad_class_bands_names_file_and_key(tmp_path: Path, edit, key: str) -> None:
    path = _edited_yaml(tmp_path, CLASS_BANDS_PATH, edit)
    with pytest.raises(ConfigError) as err:
        load_class_bands(path)
    assert str(err.value).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize(("line", "key"), [
    ("2024,contiguous,-15060,5380", "line 3.first_person"),
    ("2024,guam,15060,5380", "line 3.region"),
    ("2024,contiguous,15060,0", "line 3.each_additional"),
    ("20x4,contiguous,15060,5380", "line 3.year"),
    ("2025,contiguous,15650,5500", "line 3.year"),  # duplicate of line 2
])
def test_bad_poverty_guidelines_name_file_and_key(tmp_path: Path, line: str, key: str) -> None:
    path = tmp_path / "poverty_guidelines.csv"
    path.write_text(
        "year,region,first_person,each_additional\n2025,contiguous,15650,5500\n"
        f"{line}\n2024,alaska,18810,6730\n2024,hawaii,17310,6190\n"
    )
    with pytest.raises(ConfigError) as err:
        load_poverty_guidelines(path)
    assert str(err.value).startswith(f"{path}: {key}: ")


def test_unreadable_config_files(tmp_path: Path) -> None:
    broken = tmp_path / "race.yaml"
    broken.write_text("categories: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"^{broken}: \(yaml\): "):
        load_race_standard(broken)
    with pytest.raises(ConfigError, match=r"\(file\): not found"):
        load_class_bands(tmp_path / "missing.yaml")
    no_alaska = tmp_path / "pg.csv"
    no_alaska.write_text("year,region,first_person,each_additional\n2024,contiguous,1,1\n2024,hawaii,1,1\n")
    with pytest.raises(ConfigError, match=rf"^{no_alaska}: region: no rows for \['alaska'\]"):
        load_poverty_guidelines(no_alaska)
    assert issubclass(ConfigError, ValueError)


# ---------------------------------------------------------------- poverty_line

@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    register_poverty_guidelines(con, load_poverty_guidelines(POVERTY_GUIDELINES_PATH))
    return con


def _line(con: duckdb.DuckDBPyConnection, year, state, size):
    return con.execute("SELECT poverty_line(?, ?, ?)", [year, state, size]).fetchall()[0][0]


def test_poverty_line_regions_and_sizes(con: duckdb.DuckDBPyConnection) -> None:
    assert _line(con, 2024, "OR", 4) == 15060 + 3 * 5380
    assert _line(con, 2024, "CA", 1) == 15060
    assert _line(con, 2025, "NY", 2) == 15650 + 5500
    assert _line(con, 2024, "AK", 3) == 18810 + 2 * 6730
    assert _line(con, 2024, " ak ", 1) == 18810
    assert _line(con, 2024, "HI", 5) == 17310 + 4 * 6190
    assert _line(con, 2024, None, 2) == 15060 + 5380  # unknown state -> 48 states + DC
    assert _line(con, 2024, "DC", 2) == 15060 + 5380
    assert _line(con, 2024, "CA", 0) is None
    assert _line(con, None, "CA", 2) is None
    assert _line(con, 2024, "CA", None) is None


def test_poverty_line_years(con: duckdb.DuckDBPyConnection) -> None:
    assert _line(con, 2027, "CA", 1) == 15960  # after the table: its latest year, 2026
    assert _line(con, 2025, "AK", 1) == 19550  # Alaska's own 2025 guideline
    assert _line(con, 2019, "CA", 2) == 12490 + 4420
    assert _line(con, 2022, "HI", 1) == 15630
    assert _line(con, 2016, "WA", 8) == 40890  # held at the 2015 amount, as HHS published
    assert _line(con, 2014, "CA", 1) is None  # before the table: no guideline, never a later one


def test_poverty_line_over_a_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE households AS SELECT * FROM (VALUES "
        "(2024, 'WA', 3), (2025, 'WA', 3), (2024, 'HI', 2), (2026, 'AK', 6), (2023, NULL, 1)) t(y, st, n)"
    )
    got = con.execute("SELECT poverty_line(y, st, n) FROM households ORDER BY ALL").fetchall()
    expected = sorted([15060 + 2 * 5380, 15650 + 2 * 5500, 17310 + 6190, 19950 + 5 * 7100, 14580])
    assert [g for (g,) in got] == expected
    # re-registering replaces, never duplicates
    register_poverty_guidelines(con, load_poverty_guidelines(POVERTY_GUIDELINES_PATH))
    assert con.execute("SELECT count(*) FROM poverty_guidelines").fetchall() == [(36,)]


# ---------------------------------------------------------------- class bands

@pytest.mark.parametrize(("ratio", "label"), [
    (None, None), (-0.5, "Below 100% FPG"), (0.0, "Below 100% FPG"), (0.999, "Below 100% FPG"),
    (1.0, "100-199% FPG"), (1.999, "100-199% FPG"), (2.0, "200-399% FPG"), (3.999, "200-399% FPG"),
    (4.0, "400%+ FPG"), (37.5, "400%+ FPG"), (float("nan"), None),
])
def test_class_band_sql_boundaries(ratio, label) -> None:
    bands = load_class_bands(CLASS_BANDS_PATH)
    got = duckdb.connect().execute(
        f"SELECT {class_band_sql('x', bands)} FROM (SELECT ?::DOUBLE AS x)", [ratio]).fetchall()[0][0]
    assert got == label
    assert bands.band_for(ratio) == label


def test_class_band_from_income_and_poverty_line(con: duckdb.DuckDBPyConnection) -> None:
    bands = load_class_bands(CLASS_BANDS_PATH)
    # a 2024 family of 4 in Oregon: the guideline is 31,200
    got = con.execute(
        f"SELECT income, {class_band_sql('income / poverty_line(2024, ' + repr('OR') + ', 4)', bands)} "
        "FROM (VALUES (31199.0), (31200.0), (124799.0), (124800.0)) t(income) ORDER BY income"
    ).fetchall()
    assert got == [(31199.0, "Below 100% FPG"), (31200.0, "100-199% FPG"),
                   (124799.0, "200-399% FPG"), (124800.0, "400%+ FPG")]


# ---------------------------------------------------------------- Wilson

CASES = [(0, 1), (0, 10), (1, 10), (3, 10), (10, 10), (29, 30), (1, 29), (500, 1000), (7, 12345)]


def test_wilson_macros_match_scipy() -> None:
    con = duckdb.connect()
    register_stat_macros(con)
    for k, n in CASES:
        ci = binomtest(k, n).proportion_ci(method="wilson")
        lo, hi = con.execute("SELECT wilson_lower(?, ?), wilson_upper(?, ?)", [k, n, k, n]).fetchall()[0]
        assert lo == pytest.approx(ci.low, abs=1e-12)
        assert hi == pytest.approx(ci.high, abs=1e-12)
        assert wilson_interval(k, n) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))
    assert 0.0 <= lo < k / n < hi <= 1.0


def test_wilson_edges() -> None:
    con = duckdb.connect()
    register_stat_macros(con)
    got = con.execute(
        "SELECT wilson_lower(0, 0), wilson_upper(3, 0), wilson_lower(1, NULL), wilson_upper(NULL, 5), "
        "wilson_lower(6, 5), wilson_lower(3::BIGINT, 10::INTEGER)").fetchall()[0]
    assert got[:5] == (None, None, None, None, None)
    assert got[5] == pytest.approx(binomtest(3, 10).proportion_ci(method="wilson").low)
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    lo, hi = wilson_interval(3, 10, z=1.0)  # narrower at a smaller z
    assert wilson_interval(3, 10)[0] < lo < 0.3 < hi < wilson_interval(3, 10)[1]
    assert RELIABILITY_MIN_DENOMINATOR == 30


def test_a_workspace_without_equity_standards_is_told_where_they_go(tmp_path: Path) -> None:
    from pipelines.equity.workspace import EquityStandards

    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'equity'}: \(folder\): not found"):
        EquityStandards.load(tmp_path / "equity")
    standards = EquityStandards.load(SHIPPED)
    assert (standards.first_guideline_year, standards.latest_guideline_year) == (2015, 2026)


# ---------------------------------------- SPD 15 "more than one race, not specified" ("2+")

def test_more_than_one_race_not_specified_is_its_own_flag(workspace, config) -> None:
    """A crosswalk code for "more than one race, not specified" sets race_multi_unspecified and
    no race flag from that code (so it is never counted in an "alone or in combination" group);
    codes beside it still set theirs; the shipped standard understands "Two or more races"."""
    from conftest import drop, query
    from pipelines.equity.race import MULTI_UNSPECIFIED, code_lookup
    from pipelines.intake import stage_file

    path = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    path.write_text(path.read_text().replace(
        '  "999": not_reported\n', '  "999": not_reported\n  "2+": multiracial_unspecified\n'))
    config = workspace.load("riverbend")
    lookup = code_lookup(config.crosswalks["riverbend_schools"], config.standards.race)
    assert lookup["2+"] == lookup["two or more races"] == (MULTI_UNSPECIFIED,)
    content = ("Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met\n"
               "A,2024,2+,F,Y\n"                   # more than one race, not specified
               "B,2024,2+|700,F,Y\n"               # ... and White
               "C,2024,Two or more races,F,Y\n"    # the standard's own name for it
               "D,2024,400|300,F,Y\n"              # two races, specified
               "E,2024,999,F,Y\n")                 # not reported
    source = drop(workspace, "riverbend_schools", "RUSD 2plus.csv", content)
    staged = stage_file(source, config, "riverbend_schools", "salt", workspace.staging)
    assert staged.status == "staged" and staged.rows_quarantined == 0, staged.problems
    flags = ", ".join(f"race_{code}" for code in RACE_LABELS)
    rows = query(staged.staged_db, f"SELECT source_row, race_multi_unspecified, race_reported, "
                                   f"[{flags}] FROM records ORDER BY source_row")
    none, white = [False] * 7, [False] * 6 + [True]
    black_hispanic = [False, False, True, True, False, False, False]
    assert rows == [(2, True, True, none), (3, True, True, white), (4, True, True, none),
                    (5, False, True, black_hispanic), (6, False, False, none)]


def test_a_crosswalk_may_map_only_known_codes(workspace) -> None:
    path = workspace.path("schemas", "crosswalks", "riverbend", "riverbend_schools.yaml")
    path.write_text(path.read_text().replace('  "999": not_reported\n',
                                             '  "999": not_reported\n  "2+": two_or_more\n'))
    with pytest.raises(ConfigError, match=r"race_codes.2\+: 'two_or_more' is not an SPD 15 code "
                                          r"\(.*multiracial_unspecified\)"):
        workspace.load("riverbend")
