"""Equity standards: loaders validate, poverty_line, class bands, Wilson intervals."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml
from scipy.stats import binomtest

from pipelines.equity.standards import (
    CLASS_BANDS_PATH,
    POVERTY_GUIDELINES_PATH,
    RACE_STANDARD_PATH,
    class_band_sql,
    load_class_bands,
    load_poverty_guidelines,
    load_race_standard,
    register_poverty_guidelines,
)
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
CLASS_LABELS = ["Below 100% FPG", "100-199% FPG", "200-399% FPG", "400%+ FPG",
                "Low income (proxy)", "Not low income (proxy)", "Not reported"]


# ---------------------------------------------------------------- loaders

def test_race_standard_vocabulary() -> None:
    race = load_race_standard()
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
    bands = load_class_bands()
    assert bands.labels == CLASS_LABELS
    assert [(b.lower, b.upper) for b in bands.bands] == [(0, 1), (1, 2), (2, 4), (4, float("inf"))]
    rows = {(g.year, g.region): (g.first_person, g.each_additional) for g in load_poverty_guidelines()}
    assert rows == {
        (2024, "contiguous"): (15060, 5380), (2025, "contiguous"): (15650, 5500),
        (2024, "alaska"): (18810, 6730), (2024, "hawaii"): (17310, 6190),
    }


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
    register_poverty_guidelines(con)
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


def test_poverty_line_year_fallback(con: duckdb.DuckDBPyConnection) -> None:
    assert _line(con, 2027, "CA", 1) == 15650  # latest year <= 2027 is 2025
    assert _line(con, 2025, "AK", 1) == 18810  # Alaska has no 2025 row: use its 2024
    assert _line(con, 2019, "CA", 2) == 15060 + 5380  # before every row: earliest year
    assert _line(con, 2019, "HI", 1) == 17310


def test_poverty_line_over_a_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE households AS SELECT * FROM (VALUES "
        "(2024, 'WA', 3), (2025, 'WA', 3), (2024, 'HI', 2), (2026, 'AK', 6), (2023, NULL, 1)) t(y, st, n)"
    )
    got = con.execute("SELECT poverty_line(y, st, n) FROM households ORDER BY ALL").fetchall()
    expected = sorted([15060 + 2 * 5380, 15650 + 2 * 5500, 17310 + 6190, 18810 + 5 * 6730, 15060])
    assert [g for (g,) in got] == expected
    register_poverty_guidelines(con)  # re-registering replaces, never duplicates
    assert con.execute("SELECT count(*) FROM poverty_guidelines").fetchall() == [(4,)]


# ---------------------------------------------------------------- class bands

@pytest.mark.parametrize(("ratio", "label"), [
    (None, None), (-0.5, "Below 100% FPG"), (0.0, "Below 100% FPG"), (0.999, "Below 100% FPG"),
    (1.0, "100-199% FPG"), (1.999, "100-199% FPG"), (2.0, "200-399% FPG"), (3.999, "200-399% FPG"),
    (4.0, "400%+ FPG"), (37.5, "400%+ FPG"), (float("nan"), None),
])
def test_class_band_sql_boundaries(ratio, label) -> None:
    bands = load_class_bands()
    got = duckdb.connect().execute(
        f"SELECT {class_band_sql('x', bands)} FROM (SELECT ?::DOUBLE AS x)", [ratio]).fetchall()[0][0]
    assert got == label
    assert bands.band_for(ratio) == label


def test_class_band_from_income_and_poverty_line(con: duckdb.DuckDBPyConnection) -> None:
    bands = load_class_bands()
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


def test_shipped_files_are_where_the_loaders_look() -> None:
    root = Path(__file__).resolve().parents[1] / "schemas" / "equity"
    assert RACE_STANDARD_PATH == root / "race_spd15.yaml"
    assert CLASS_BANDS_PATH == root / "class_bands.yaml"
    assert POVERTY_GUIDELINES_PATH == root / "poverty_guidelines.csv"
