"""Audit 11 (C, hostile definitions): what a backbone staffer plausibly saves by mistake gets an
error naming the file and the key, never a crash of the night nor a silent wrong reading."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError

SCHOOLS_XW = "schemas/crosswalks/riverbend/riverbend_schools.yaml"


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("relative", [
    "indicators/riverbend/kindergarten_readiness.yaml",   # yaml_models
    "indicators/riverbend/initiative.yaml",
    SCHOOLS_XW,
    "schemas/intake/person_outcomes_v1.yaml",
    "schemas/equity/race_spd15.yaml",                      # equity.standards
    "schemas/equity/poverty_guidelines.csv",               # equity.poverty
])
def test_c1_a_definition_saved_as_windows_1252_names_the_file_and_line(workspace, relative):
    """Notepad's "ANSI" (or Excel's CSV) writes `ñ` as one byte 0xF1: a UnicodeDecodeError is
    no ConfigError, and the night stopped for every initiative instead of skipping this one."""
    path = workspace.path(relative)
    path.write_bytes(path.read_bytes() + "\n# Niños\n".encode("cp1252"))
    lines = path.read_bytes().count(b"\n")
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert f"{path}: (file): line {lines} is not UTF-8 text (byte 0xf1); save the file as " \
           "UTF-8" in str(caught.value)


def test_c1_a_definition_saved_as_utf16_says_so(workspace):
    path = workspace.path(SCHOOLS_XW)
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(ConfigError, match="line 1 is not UTF-8 text .*the file is UTF-16"):
        workspace.load("riverbend")


def test_c1_poverty_guidelines_saved_as_csv_utf8_with_a_bom_load(workspace):
    """Excel's "CSV UTF-8" starts with a byte order mark; the header was read as '\\ufeffyear'."""
    path = workspace.path("schemas/equity/poverty_guidelines.csv")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert workspace.load("riverbend").standards is not None


@pytest.mark.usefixtures("prefect_harness")
def test_c1_one_initiative_saved_in_windows_1252_does_not_stop_the_others(workspace):
    from conftest import SAMPLES, drop
    from pipelines.flows import nightly
    from pipelines.run_summary import NightNeedsAttention

    other = workspace.path("indicators", "alpha")
    other.mkdir()
    (other / "initiative.yaml").write_bytes("id: alpha\nname: Alianza Niños\n".encode("cp1252"))
    sample = next(SAMPLES.glob("riverbend_schools/*.csv"))
    drop(workspace, "riverbend_schools", sample.name, sample.read_bytes())
    with pytest.raises(NightNeedsAttention) as caught:
        nightly(home=str(workspace.root))
    summaries = {s["initiative"]: s for s in caught.value.summaries}
    assert "initiative.yaml: (file): line 2 is not UTF-8 text" in summaries["alpha"]["error"]
    assert [f["status"] for f in summaries["riverbend"]["files"]] == ["loaded"]


@pytest.mark.parametrize("relative, old, new, expected", [
    # the second code silently won: every 700 (White) would be counted as Black
    (SCHOOLS_XW, '  "999": not_reported\n', '  "999": not_reported\n  "700": black\n',
     "the key '700' is written twice (first on line 17)"),
    # a partner pasted twice: the first entry (its crosswalk) vanished without a word
    ("indicators/riverbend/initiative.yaml", "  riverbend_housing:\n",
     "  bright_start:\n    name: Bright Start\n  riverbend_housing:\n",
     "the key 'bright_start' is written twice"),
    ("indicators/riverbend/third_grade_reading.yaml", "unit: percent\n",
     "unit: percent\ntarget: {value: 0.9, period: '2030'}\n", "the key 'target' is written twice"),
])
def test_c2_a_key_written_twice_is_refused_naming_file_and_line(workspace, relative, old, new,
                                                                 expected):
    _edit(workspace.path(relative), old, new)
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert str(workspace.path(relative)) in str(caught.value)
    assert expected in str(caught.value)


def test_c2_a_merge_key_may_still_override_what_it_brings(workspace):
    from pipelines import yaml_text_keys

    data = yaml_text_keys.load("base: &b {a: 1, c: 3}\nx: {<<: *b, a: 2}\n")
    assert data["x"] == {"a": 2, "c": 3}


@pytest.mark.parametrize("baseline, target", [("2022", "2020"), ("2027", "2027"),
                                              ("2031", "2027")])
def test_c3_a_baseline_not_before_its_target_is_refused(workspace, baseline, target):
    """Swapped periods loaded: the scorecard drew a goal at or before its starting point."""
    path = workspace.path("indicators/riverbend/third_grade_reading.yaml")
    _edit(path, 'baseline: {value: 0.48, period: "2022"}',
          f'baseline: {{value: 0.48, period: "{baseline}"}}')
    _edit(path, 'target: {value: 0.65, period: "2027"}',
          f'target: {{value: 0.65, period: "{target}"}}')
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert (f"third_grade_reading.yaml: baseline: Value error, period {baseline!r} is not before "
            f"the target's period {target!r}") in str(caught.value)


def test_c4_an_excel_total_row_under_an_aggregate_table_is_named_not_the_sums(workspace, config):
    """A "Total" row below the groups was summed as one more race: every row of a table that
    adds up was told "do not add up to its 'ALL' total row", and the partner re-checked sums
    that were right. Now each row says the table waits on row 52, the one to fix."""
    from conftest import SAMPLES, drop, query
    from pipelines.intake import stage_file

    sample = (SAMPLES / "riverbend_housing" / "rha_stability_2023.csv").read_text()
    assert sample.count("\n") == 51
    path = drop(workspace, "riverbend_housing", "rha 2023 with total.csv",
                sample + "stable_housing,2023,Total,Total,9999,99999\n")
    staged = stage_file(path, config, "riverbend_housing", "test-salt", workspace.staging)
    rules = query(staged.staged_db, "SELECT rule, count(*) FROM quarantine GROUP BY 1 ORDER BY 1")
    assert rules == [("not_allowed", 2), ("table_set_aside", 50)]
    messages = query(staged.staged_db,
                     "SELECT DISTINCT message FROM quarantine WHERE rule = 'table_set_aside'")
    assert len(messages) == 1 and "its row 52 has a problem (not_allowed)" in messages[0][0]


@pytest.mark.parametrize("old, new, expected", [
    ("    min: 1\n    max: 30", "    min: 31\n    max: 30",
     "household_size: min 31 is above max 30: no value could pass"),
    ("    type: integer\n    allowed: [0, 1]\n    description: 1 if the child met",
     "    type: integer\n    min: 5\n    allowed: [0, 1]\n    description: 1 if the child met",
     "kinder_ready: allowed value(s) 0, 1 are outside min/max (5 to -)"),
])
def test_c5_template_bounds_no_value_can_meet_are_refused(workspace, old, new, expected):
    """Loaded before: every partner's rows were set aside (files past the bad-row share
    rejected), each partner told its values were wrong, for a typo in the template."""
    path = workspace.path("schemas/intake/person_outcomes_v1.yaml")
    _edit(path, old, new)
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert f"{path}: columns." in str(caught.value) and expected in str(caught.value)


@pytest.mark.parametrize("value", ["45292", "45292.5", " 45292"])
def test_c6_an_excel_day_number_in_the_period_column_is_named_as_such(workspace, config, value):
    """A School Year or Visit Date column that lost its date format is saved as Excel's day
    numbers: "must be a period: write e.g. ..." left the partner looking at a number they never
    typed. It is still never read as a day."""
    from conftest import drop, query
    from pipelines.intake import stage_file

    header = "Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met"
    rows = [f"S{i:03d},2023,300,F,Y" for i in range(9)] + [f'S999,"{value}",300,F,Y']
    path = drop(workspace, "riverbend_schools", "rusd.csv", "\n".join([header, *rows]) + "\n")
    staged = stage_file(path, config, "riverbend_schools", "test-salt", workspace.staging)
    bad = query(staged.staged_db, "SELECT _row, column_name, rule, message FROM quarantine")
    assert [b[:3] for b in bad] == [(11, "period", "excel_date_number")]
    assert "Excel keeps a date as a day number (45292 is 1 January 2024)" in bad[0][3]
    assert "Format the column as a Date" in bad[0][3]


def test_c6_five_digit_numbers_outside_excel_days_stay_bad_periods(workspace, config):
    from conftest import drop, query
    from pipelines.intake import stage_file

    header = "Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met"
    rows = [f"S{i:03d},2023,300,F,Y" for i in range(9)] + ["S999,20243,300,F,Y"]
    path = drop(workspace, "riverbend_schools", "rusd.csv", "\n".join([header, *rows]) + "\n")
    staged = stage_file(path, config, "riverbend_schools", "test-salt", workspace.staging)
    assert query(staged.staged_db, "SELECT rule FROM quarantine") == [("bad_period",)]


@pytest.mark.parametrize("saved_as", ["kindergarten_readiness.YAML",
                                      "kindergarten_readiness.yaml.txt"])
def test_c7_an_indicator_saved_under_a_name_not_read_is_refused(workspace, saved_as):
    """Windows' `.YAML` and Notepad's added `.txt` were skipped without a word: a new indicator
    never appeared, an edit never applied (here it was caught only because turn_the_curve
    happens to name it)."""
    folder = workspace.path("indicators", "riverbend")
    (folder / "kindergarten_readiness.yaml").rename(folder / saved_as)
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert (f"{folder / saved_as}: (file name): not read as a definition: only names ending in "
            ".yaml or .yml (lowercase) are; rename it 'kindergarten_readiness.yaml'"
            ) in str(caught.value)


def test_c7_a_crosswalk_written_but_not_named_for_its_partner_is_refused(workspace):
    """Its files were read against the bare template: rejected or set aside as if the partner
    had sent the wrong headers and codes."""
    _edit(workspace.path("indicators/riverbend/initiative.yaml"),
          "    crosswalk: bright_start.yaml\n", "")
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert ("initiative.yaml: partners.bright_start: no crosswalk: is given, but "
            f"{workspace.path('schemas/crosswalks/riverbend/bright_start.yaml')} exists"
            ) in str(caught.value)


@pytest.mark.parametrize("cell, said", [('"RB9\n99"', "(hidden: it holds a line break)"),
                                        ('"RB9 99"', "(hidden: it holds a space)"),
                                        ("RB9~99", "(hidden)")])
def test_c8_a_hidden_person_id_says_what_cannot_be_seen_in_it(workspace, config, cell, said):
    """A quoted id spanning two lines was "has characters or a shape it may not have", value
    "(hidden)": nothing a partner could look for. The id stays hidden."""
    from conftest import drop
    from pipelines.feedback import bad_rows
    from pipelines.intake import stage_file

    header = "Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met"
    rows = [f"S{i:03d},2023,300,F,Y" for i in range(9)] + [f"{cell},2023,300,F,Y"]
    path = drop(workspace, "riverbend_schools", "rusd.csv", "\n".join([header, *rows]) + "\n")
    staged = stage_file(path, config, "riverbend_schools", "test-salt", workspace.staging)
    assert [r[:4] for r in bad_rows(staged.staged_db, "person_id")] == [
        (11, "person_id", "bad_format", said)]


@pytest.mark.parametrize("value", ["[white]", "{code: white}"])
def test_c9_an_hmis_column_written_as_a_list_names_the_key(workspace, value):
    """`White: [white]`, as RaceNone and crosswalk race codes are written, raised TypeError
    (unhashable list) out of the load: the whole night stopped, no file or key named."""
    path = workspace.path("schemas/equity/race_spd15.yaml")
    _edit(path, "  White: white\n", f"  White: {value}\n")
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert f"{path}: hmis_fy2024_columns.White: unknown race code" in str(caught.value)


def test_c10_a_file_of_which_no_row_loads_is_not_called_ok_or_accepted(workspace, config,
                                                                       tmp_path):
    """The Total row sets the only table aside: `check` said "OK ... 0 of 51 rows would load"
    and the report "ACCEPTED", both read as done while nothing of the file counts."""
    import io
    from pathlib import Path

    from rich.console import Console

    from conftest import SAMPLES, drop
    from pipelines.check_output import show_check
    from pipelines.feedback import bad_rows, write_report
    from pipelines.intake import stage_file

    sample = (SAMPLES / "riverbend_housing" / "rha_stability_2023.csv").read_text()
    path = drop(workspace, "riverbend_housing", "rha.csv",
                sample + "stable_housing,2023,Total,ALL,1245,1715\n")
    staged = stage_file(path, config, "riverbend_housing", "test-salt", workspace.staging)
    assert (staged.status, staged.rows_loaded) == ("staged", 0)
    rows = bad_rows(staged.staged_db, None)
    out = io.StringIO()
    assert show_check(Console(file=out, width=200), "rha.csv", staged, rows, [], [], None) == 0
    assert out.getvalue().startswith("NO ROW WOULD LOAD rha.csv: 0 of 51 rows would load")
    report = write_report(tmp_path, staged, "loaded", rows, Path("rha.csv")).read_text()
    assert report.startswith("# rha.csv: RECEIVED, BUT NO ROW LOADED")
