"""Definitions are data: they load, and a mistake names the file and the key."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError


def test_sample_initiative_loads(config):
    assert config.id == "riverbend"
    assert {i.id for i in config.indicators} == {"kindergarten_readiness", "third_grade_reading",
                                                 "well_child_visits", "stable_housing", "developmental_screening"}
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
    ("schemas/intake/person_outcomes_v1.yaml", "    type: period\n    required: true",
     "    type: perod\n    required: true", "person_outcomes_v1.yaml: columns.1.type"),
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


@pytest.mark.parametrize("relative, old, new, expected", [
    # a condition on a column the records do not keep (race codes become SPD 15 flags)
    ("indicators/riverbend/kindergarten_readiness.yaml", "column: kinder_ready, op: not_null",
     "column: race, op: not_null",
     "kindergarten_readiness.yaml: denominator.0.column: 'race' is a column of intake schema "
     "'person_outcomes_v1' but is not kept"),
    ("indicators/riverbend/kindergarten_readiness.yaml", 'op: "=", value: 1',
     'op: "=", value: .inf',
     "kindergarten_readiness.yaml: numerator.0.value: inf is not a finite number"),
    ("indicators/riverbend/kindergarten_readiness.yaml", 'op: "=", value: 1',
     'op: "=", value: "yes"', "kindergarten_readiness.yaml: numerator.0.value: 'yes' is not a "
     "whole number"),
    ("indicators/riverbend/kindergarten_readiness.yaml", 'op: "=", value: 1',
     'op: in, value: [1, "yes"]', "kindergarten_readiness.yaml: numerator.0.value.1: 'yes'"),
    ("indicators/riverbend/kindergarten_readiness.yaml", 'op: "=", value: 1',
     'op: in, value: [1, .nan]', "numerator.0.value.1: nan is not a finite number"),
    ("indicators/riverbend/kindergarten_readiness.yaml", 'op: "=", value: 1', 'op: "=", value: 2',
     "kindergarten_readiness.yaml: numerator.0.value: 2 is not one of the values column "
     "'kinder_ready' allows (0, 1), so no record would count"),
    ("indicators/riverbend/kindergarten_readiness.yaml", 'op: "=", value: 1',
     'op: in, value: [1, 2]', "kindergarten_readiness.yaml: numerator.0.value.1: 2 is not one"),
    ("indicators/riverbend/kindergarten_readiness.yaml",
     '{column: kinder_ready, op: "=", value: 1}',
     '{column: class, op: "=", value: "Below 100%"}', "numerator.0.value: 'Below 100%' is not a "
     "class band; the bands are 'Below 100% FPG'"),
    ("indicators/riverbend/kindergarten_readiness.yaml",
     '{column: kinder_ready, op: "=", value: 1}', '{column: class, op: "<", value: "200-399% FPG"}',
     "numerator.0.op: '<' on column 'class' compares text letter by letter"),
    ("indicators/riverbend/kindergarten_readiness.yaml", "{column: kinder_ready, op: not_null}",
     '{column: kinder_ready, op: "=", value: 0}', "kindergarten_readiness.yaml: numerator.0: no "
     "record the denominator counts can meet it (the denominator asks kinder_ready = 0)"),
    ("schemas/crosswalks/riverbend/bright_start.yaml", '"Yes": 1, "No": 0',
     '"Yes": 2, "No": 0', "bright_start.yaml: values.kinder_ready.Yes: 2 is not one of the "
     "values column 'kinder_ready' allows (0, 1)"),
    ("schemas/crosswalks/riverbend/bright_start.yaml", '"Yes": 1, "No": 0',
     '"Yes": "yes", "No": 0', "values.kinder_ready.Yes: 'yes' is not one of the values"),
    ("schemas/crosswalks/riverbend/bright_start.yaml", '  "Black": black\n',
     '  "Black": black\n  "black ": white\n', "bright_start.yaml: race_codes: 'Black' and "
     "'black ' differ only in case or spaces"),
    ("schemas/intake/person_outcomes_v1.yaml", "aliases: [wcv, well_child]",
     "aliases: [wcv, well_child, K-Ready]", "columns 'kinder_ready' and 'well_child_visit' both "
     "take the header 'kready'"),
    ("schemas/intake/person_outcomes_v1.yaml", "  - name: well_child_visit\n",
     "  - {name: primary, role: measure, type: integer}\n  - name: well_child_visit\n",
     "person_outcomes_v1.yaml: columns.18.name: Value error, 'primary' is a reserved SQL word"),
    ("indicators/riverbend/initiative.yaml", "race: White", "race: Whte",
     "initiative.yaml: reference_groups.race: 'Whte' is not a race group"),
    ("indicators/riverbend/initiative.yaml", 'class: "400%+ FPG"', 'class: "400+ FPG"',
     "initiative.yaml: reference_groups.class: '400+ FPG' is not a class group"),
    ("indicators/riverbend/initiative.yaml", "threshold: 10", "threshold: 0",
     "initiative.yaml: suppression.threshold: Input should be greater than or equal to 1"),
    ("indicators/riverbend/initiative.yaml", "crosswalk: bright_start.yaml",
     "crosswalk: bright_strat.yaml", "initiative.yaml: partners.bright_start.crosswalk: no file"),
    ("indicators/riverbend/initiative.yaml", "crosswalk: bright_start.yaml",
     "crosswalk: ../../../etc/passwd", "initiative.yaml: partners.bright_start.crosswalk"),
])
def test_definition_mistakes_fail_on_load_naming_file_and_key(workspace, relative, old, new,
                                                               expected):
    _edit(workspace.path(relative), old, new)
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert expected in str(caught.value)


def test_a_condition_value_of_the_column_type_loads(workspace):
    """Race flags are yes/no in records: 1/0 and true/false both compare; dates parse."""
    _edit(workspace.path("indicators/riverbend/kindergarten_readiness.yaml"),
          "column: kinder_ready, op: not_null",
          "column: kinder_ready, op: not_null}\n  - {column: race_white, op: in, value: [1, true]")
    assert workspace.load("riverbend")


def test_a_condition_that_always_holds_is_no_reachability_error(workspace):
    """`!= 2` on a 0/1 column counts every record: not refused as counting nobody."""
    _edit(workspace.path("indicators/riverbend/kindergarten_readiness.yaml"),
          "column: kinder_ready, op: not_null",
          "column: kinder_ready, op: not_null}\n  - {column: kinder_ready, op: \"!=\", value: 2")
    assert workspace.load("riverbend")


def test_a_condition_outside_a_measures_bounds_is_refused_inside_them_loads(workspace):
    _edit(workspace.path("schemas/intake/person_outcomes_v1.yaml"), "  - name: well_child_visit\n",
          "  - {name: age_months, role: measure, type: integer, min: 0, max: 240}\n"
          "  - name: well_child_visit\n")
    indicator = workspace.path("indicators/riverbend/kindergarten_readiness.yaml")
    _edit(indicator, "column: kinder_ready, op: not_null",
          "column: kinder_ready, op: not_null}\n  - {column: age_months, op: \"<=\", value: 240")
    assert workspace.load("riverbend")
    _edit(indicator, 'op: "<=", value: 240', 'op: ">", value: 240')
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert ("denominator.1.value: no record can be > 240: column 'age_months' is at least 0 and "
            "at most 240, so no record would count") in str(caught.value)


def test_an_indicator_saved_as_yml_is_loaded(workspace):
    folder = workspace.path("indicators", "riverbend")
    (folder / "kindergarten_readiness.yaml").rename(folder / "kindergarten_readiness.yml")
    config = workspace.load("riverbend")
    assert "kindergarten_readiness" in {i.id for i in config.indicators}


def test_the_same_indicator_as_yaml_and_yml_is_an_error(workspace):
    folder = workspace.path("indicators", "riverbend")
    (folder / "kindergarten_readiness.yml").write_text(
        (folder / "kindergarten_readiness.yaml").read_text())
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert ("kindergarten_readiness.yml: id: indicator 'kindergarten_readiness' is also "
            "defined in kindergarten_readiness.yaml") in str(caught.value)


@pytest.mark.usefixtures("prefect_harness")
def test_a_definition_mistake_stops_the_run_before_any_file_moves(workspace):
    from conftest import SAMPLES, drop
    from pipelines.flows import nightly

    sample = next(SAMPLES.glob("riverbend_schools/*.csv"))
    path = drop(workspace, "riverbend_schools", sample.name, sample.read_bytes())
    _edit(workspace.path("indicators/riverbend/kindergarten_readiness.yaml"),
          'op: "=", value: 1', 'op: "=", value: "yes"')
    from pipelines.run_summary import NightNeedsAttention

    # The run shows as failed in the Prefect UI (not a green run that skipped the initiative).
    with pytest.raises(NightNeedsAttention, match="riverbend: definitions invalid") as caught:
        nightly(home=str(workspace.root), initiative="riverbend")
    summaries = caught.value.summaries
    assert "kindergarten_readiness.yaml: numerator.0.value: 'yes'" in summaries[0]["error"]
    assert path.exists()
    assert not workspace.path("data", "archive").exists()
    assert not workspace.path("data", "reports").exists()


@pytest.mark.parametrize("relative, old, new, expected", [
    # a template's own name for a role column: the records keep it under the role's name
    ("indicators/riverbend/kindergarten_readiness.yaml", "column: kinder_ready, op: not_null",
     "column: low_income_proxy, op: not_null",
     "denominator.0.column: 'low_income_proxy' is column 'low_income_proxy' of intake schema "
     "'person_outcomes_v1', kept in the records as 'class_proxy_value' (its role); write column: "
     "class_proxy_value"),
    # an aggregates indicator where nobody submits aggregates would never have a number
    ("indicators/riverbend/initiative.yaml", "    submits: aggregates\n", "",
     "stable_housing.yaml: source: 'aggregates', but no partner of 'riverbend' submits "
     "aggregates"),
    # a baseline typed as a percent: the scorecard would compare 64% with 5200%
    ("indicators/riverbend/kindergarten_readiness.yaml", "baseline: {value: 0.52",
     "baseline: {value: 52", "kindergarten_readiness.yaml: baseline.value: Value error, 52.0 is "
     "not a share between 0 and 1"),
    ("indicators/riverbend/kindergarten_readiness.yaml", 'target: {value: 0.70, period: "2027"}',
     'target: {value: 0.70, period: "Q5 2027"}',
     "kindergarten_readiness.yaml: target.period: Value error, 'Q5 2027' is not a period: "
     "write e.g. 2024Q1"),
    # a label of another period type than the indicator's
    ("indicators/riverbend/kindergarten_readiness.yaml", 'target: {value: 0.70, period: "2027"}',
     'target: {value: 0.70, period: "FY27"}',
     "kindergarten_readiness.yaml: target.period: Value error, 'FY27' is a fiscal year, but the "
     "indicator's period_type is year: write a year label, e.g. 2027"),
    # YAML reads `true` as a boolean, which pydantic would otherwise take as the count 1
    ("indicators/riverbend/initiative.yaml", "threshold: 10", "threshold: true",
     "initiative.yaml: suppression.threshold: Input should be a valid integer"),
])
def test_more_definition_mistakes_fail_on_load(workspace, relative, old, new, expected):
    _edit(workspace.path(relative), old, new)
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert expected in str(caught.value)


def test_an_aggregate_indicator_without_source_says_to_write_source_aggregates(workspace):
    """A staffer adding an indicator fed by an aggregate partner writes no conditions; without
    `source: aggregates` the load refused it for lacking conditions and never named the key."""
    _edit(workspace.path("indicators/riverbend/stable_housing.yaml"), "source: aggregates\n", "")
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbend")
    assert "stable_housing.yaml" in str(caught.value)
    assert "says `source: aggregates` instead" in str(caught.value)


def test_a_milestone_period_written_as_a_number_is_that_year(workspace):
    """YAML reads `period: 2027` as a number; it means the year, as "2027" does."""
    _edit(workspace.path("indicators/riverbend/kindergarten_readiness.yaml"),
          'target: {value: 0.70, period: "2027"}', "target: {value: 0.70, period: 2027}")
    config = workspace.load("riverbend")
    indicator = next(i for i in config.indicators if i.id == "kindergarten_readiness")
    assert indicator.target.period == "2027"


def test_an_unknown_initiative_names_the_ones_there(workspace):
    with pytest.raises(ConfigError) as caught:
        workspace.load("riverbed")
    assert (f"no initiative 'riverbed' in workspace {workspace.root} (initiatives there: "
            "riverbend)") in str(caught.value)
