"""Definition keys are read as written: YAML 1.1 would turn the code `01` into 1, `010` into 8 and
`Yes` into true (session-8 audit, A8-1)."""

from __future__ import annotations

import io

import pytest

from pipelines import yaml_text_keys
from pipelines.errors import ConfigError
from pipelines.intake import stage_file

import test_audit7_scenario as J
from test_audit8_fixes import staged_query


def test_plain_keys_stay_text_and_values_keep_their_yaml_types():
    doc = ("codes: {01: a, 010: b, Yes: c, off: d, 1.50: e, ~: f, '02': g}\n"
           "threshold: 10\nshare: 0.5\nflag: true\nlist: [01, x]\n"
           "base: &base {07: h}\nmerged: {<<: *base, 3: i}\n")
    assert yaml_text_keys.load(io.StringIO(doc)) == {
        "codes": {"01": "a", "010": "b", "Yes": "c", "off": "d", "1.50": "e", "~": "f", "02": "g"},
        "threshold": 10, "share": 0.5, "flag": True, "list": [1, "x"],
        "base": {"07": "h"}, "merged": {"07": "h", "3": "i"}}


def _school_crosswalk(ws, text: str) -> None:
    ws.path("schemas", "crosswalks", J.INITIATIVE, "schools.yaml").write_text(text)


def test_unquoted_zero_padded_codes_and_yes_no_keys_match_what_partners_send(tmp_path):
    ws = J.build(tmp_path / "home")
    _school_crosswalk(ws, """
header_aliases: {"Student #": pid, "School Year": visit_on, "Race Codes": race, "Lunch": lunch,
                 "K Ready": ready}
race_separator: ";"
race_codes: {01: white, 02: black, 08: asian, 010: hispanic, 99: not_reported}
class_proxy: {Yes: "Low income (proxy)", No: "Not low income (proxy)"}
values:
  ready: {Yes: 1, No: 0}
period:
  type: school_year
""")
    config = ws.load(J.INITIATIVE)
    assert sorted(config.crosswalks["schools"].race_codes) == ["01", "010", "02", "08", "99"]
    rows = [["S1", "2023-24", "01", "Yes", "Yes"], ["S2", "2023-24", "010", "No", "No"],
            ["S3", "2023-24", "08", "yes", "Yes"], ["S4", "2023-24", "02;01", "No", "No"]]
    path = tmp_path / "k.csv"
    path.write_text(J.to_csv(J.SCHOOL_HEADER, rows))
    staged = stage_file(path, config, "schools", "salt", tmp_path / "staging")
    assert (staged.status, staged.rows_loaded, staged.rows_quarantined) == ("staged", 4, 0), \
        staged.reasons
    got = staged_query(staged, "SELECT race_white, race_black, race_asian, race_hispanic, "
                               "class, ready FROM records ORDER BY source_row")
    low, not_low = "Low income (proxy)", "Not low income (proxy)"
    assert got == [(True, False, False, False, low, 1), (False, False, False, True, not_low, 0),
                   (False, False, True, False, low, 1), (True, True, False, False, not_low, 0)]


def test_a_value_yaml_read_as_a_number_is_refused_with_a_hint_to_quote_it(tmp_path):
    ws = J.build(tmp_path / "home")
    _school_crosswalk(ws, 'header_aliases: {"Student #": 01}\n')
    with pytest.raises(ConfigError) as caught:
        ws.load(J.INITIATIVE)
    message = str(caught.value)
    assert "schools.yaml" in message and "header_aliases.Student #" in message
    assert "YAML read this value as a number 1" in message and "in quotes" in message
