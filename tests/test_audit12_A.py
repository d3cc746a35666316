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
