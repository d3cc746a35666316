"""Audit 12 (A): words that were wrong for a Hawaii initiative with a households indicator,
found by comparing every published number and claim with an independent model."""

from __future__ import annotations

import dataclasses

from pipelines.datapackage import result_fields


def _description(config, name: str) -> str:
    return next(f["description"] for f in result_fields(config, public=True) if f["name"] == name)


def test_the_data_package_says_what_a_count_is_for_a_households_indicator(config) -> None:
    """The data package called every numerator and denominator "People (or families)", also
    when an indicator counts households (`counted: households`)."""
    assert _description(config, "numerator").startswith("People or families with the outcome")
    households = dataclasses.replace(config, indicators=tuple(
        i.model_copy(update={"counted": "households"}) if i.source == "aggregates" else i
        for i in config.indicators))
    assert _description(households, "numerator").startswith("People or households with the outcome")
    assert _description(households, "denominator").startswith("People or households measured")
    people = dataclasses.replace(config, indicators=tuple(
        i for i in config.indicators if i.counted == "people"))
    assert _description(people, "numerator").startswith("People with the outcome")


def test_a_local_word_mapped_to_null_is_a_blank_cell(workspace) -> None:
    """An EHR's Y/N/U column (U: unknown, not asked) could not be read: `U` set the whole visit
    row aside as `wrong_type` (its other answers lost with it), and a value map could not say
    that `U` means no answer. `values: {dev_screening: {"U": null}}` now makes it a blank cell,
    as `NA` is; a required column refuses such a map when the definitions load."""
    import duckdb
    import pytest

    from conftest import drop
    from pipelines.errors import ConfigError
    from pipelines.feedback import bad_rows
    from pipelines.intake import stage_file

    path = workspace.path("schemas", "crosswalks", "riverbend", "northside_clinic.yaml")
    original = path.read_text()
    path.write_text(original.replace('{"Y": 1, "N": 0}', '{"Y": 1, "N": 0, "U": null}'))
    config = workspace.load("riverbend")
    text = ("PersonalID,Visit Date,White,HouseholdIncome,HouseholdSize,State,Dev Screen\n"
            "RB1,2024-01-01,1,52000,3,WA,U\nRB2,2024-01-02,1,52000,3,WA,Y\n"
            "RB3,2024-01-03,1,52000,3,WA,u\n")
    staged = stage_file(drop(workspace, "northside_clinic", "ehr.csv", text), config,
                        "northside_clinic", "salt", workspace.root / "stg")
    assert staged.status == "staged"
    assert bad_rows(staged.staged_db, "person_id") == []
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        rows = dict(con.execute("SELECT source_row, dev_screening FROM records").fetchall())
    finally:
        con.close()
    assert rows == {2: None, 3: 1, 4: None}
    path.write_text(original + '  period: {"2024": null}\n')
    with pytest.raises(ConfigError, match="values.period.2024: null"):
        workspace.load("riverbend")
