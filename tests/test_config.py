"""Definitions are data: they load, and a mistake names the file and the key."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError


def test_sample_initiative_loads(config):
    assert config.id == "riverbend"
    assert {i.id for i in config.indicators} == {"kindergarten_readiness", "third_grade_reading",
                                                 "well_child_visits", "stable_housing"}
    assert set(config.crosswalks) == {"riverbend_schools", "northside_clinic", "bright_start",
                                      "riverbend_housing"}
    assert config.crosswalks["riverbend_schools"].race_codes["400"] == ("hispanic",)
    assert config.crosswalks["riverbend_schools"].race_codes["999"] == "not_reported"


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("relative, old, new, expected", [
    ("indicators/riverbend/kindergarten_readiness.yaml", "direction: higher_is_better",
     "direction: upwards", "kindergarten_readiness.yaml: direction"),
    ("indicators/riverbend/kindergarten_readiness.yaml", "column: kinder_ready, op: not_null",
     "column: kinder_redy, op: not_null", "denominator.0.column: 'kinder_redy' is not a column"),
    ("indicators/riverbend/third_grade_reading.yaml", 'op: "=", value: 1', 'op: "~", value: 1',
     "third_grade_reading.yaml: numerator.0.op"),
    ("indicators/riverbend/initiative.yaml", "threshold: 10", "threshold: -1",
     "initiative.yaml: suppression.threshold"),
    ("indicators/riverbend/initiative.yaml", "record_schema: person_outcomes_v1",
     "record_schema: nope", "schema 'nope': no file"),
    ("schemas/intake/person_outcomes_v1.yaml", "    type: integer\n    required: true",
     "    type: integr\n    required: true", "person_outcomes_v1.yaml: columns.1.type"),
    ("schemas/crosswalks/riverbend/riverbend_schools.yaml", '"Lunch Status": low_income_proxy',
     '"Lunch Status": lunch', "riverbend_schools.yaml: header_aliases.Lunch Status"),
    ("schemas/crosswalks/riverbend/bright_start.yaml", '"Black": black', '"Black": [black, purple]',
     "bright_start.yaml: race_codes.Black: 'purple'"),
    ("indicators/riverbend/initiative.yaml", "partners:", "partners: [\n",
     "initiative.yaml: not valid YAML"),
])
def test_bad_definitions_name_the_file_and_key(workspace, relative, old, new, expected):
    _edit(workspace.path(relative), old, new)
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert expected in str(caught.value)
