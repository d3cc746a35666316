"""Audit 10 (E): a household sent without a state is priced with the initiative's *current*
`state`.

README: "A `state` cell ... (a blank one is the initiative's `state`)" and "Class is derived each
run ... Every run classes them with the workspace's current guidelines". The initiative's state
was written into each blank record at load, so correcting `state:` in initiative.yaml (WA copied
from the sample, the partnership is in Hawaii) changed the definitions fingerprint and
re-measured, yet every household without a state column kept the old state's guideline: Hawaii
households stayed priced with the 48-state guideline in every published class cell.
"""

from __future__ import annotations

import dataclasses

from pipelines.intake import stage_file
from test_measure import _cells, _insert, con  # noqa: F401 (a fixture)

from conftest import drop, query


def _with_state(config, state: str):
    return dataclasses.replace(config, initiative=config.initiative.model_copy(update={"state": state}))


def test_a_blank_state_is_stored_blank_not_as_the_initiatives(workspace, config):
    # The clinic's extract has income and household size but no state column at all.
    path = drop(workspace, "northside_clinic", "wcv.csv",
                "PersonalID,ReportYear,WCV,HouseholdIncome,HouseholdSize\nc1,2024,1,20000,1\n")
    staged = stage_file(path, config, "northside_clinic", "salt", workspace.staging)
    assert staged.status == "staged", staged.problems
    state, klass = query(staged.staged_db, "SELECT state, class FROM records")[0]
    assert state is None
    # The class the partner's report shows is still the initiative's state's (WA: 15,060).
    assert klass == "100-199% FPG"


def test_a_corrected_initiative_state_reprices_households_sent_without_one(con, config):
    # 2024, household of one, $16,000: 106% of the 48-state guideline ($15,060), 92% of
    # Hawaii's ($17,310). Sent with no state; another household says WA itself.
    _insert(con, 1, "northside_clinic", "p1", 2024, ["white"], wcv=1, income=16000.0, state=None)
    _insert(con, 1, "northside_clinic", "p2", 2024, ["black"], wcv=1, income=16000.0, state="WA")
    assert config.initiative.state == "WA"
    cells = _cells(con, config, indicator_id="well_child_visits", period="2024", partner_id="ALL")
    assert cells[("total", "ALL", "100-199% FPG")] == (2, 2)
    hawaii = _with_state(config, "HI")
    assert hawaii.fingerprint != config.fingerprint
    cells = _cells(con, hawaii, indicator_id="well_child_visits", period="2024", partner_id="ALL")
    assert cells[("total", "ALL", "Below 100% FPG")] == (1, 1)  # p1, now priced as Hawaii
    assert cells[("total", "ALL", "100-199% FPG")] == (1, 1)    # p2 said WA


def test_a_condition_on_state_sees_the_initiatives_state_for_a_blank_one(con, config):
    from pipelines.config import Condition

    wcv = next(i for i in config.indicators if i.id == "well_child_visits")
    in_wa = wcv.model_copy(update={"id": "wcv_wa", "denominator": (
        *wcv.denominator, Condition(column="state", op="=", value="WA"))})
    config = dataclasses.replace(config, indicators=(*config.indicators, in_wa))
    _insert(con, 1, "northside_clinic", "p1", 2024, ["white"], wcv=1, income=16000.0, state=None)
    _insert(con, 1, "northside_clinic", "p2", 2024, ["black"], wcv=1, income=16000.0, state="OR")
    cells = _cells(con, config, indicator_id="wcv_wa", period="2024", partner_id="ALL")
    assert cells[("total", "ALL", "ALL")] == (1, 1)  # p1: sent blank, the initiative is in WA


def test_an_initiative_state_with_no_guideline_is_refused(workspace):
    # README: `HA` for HI or a territory is "never classed with the 48-state guideline"; as the
    # initiative's `state` it was accepted and priced every blank-state household that way.
    import pytest

    from pipelines.errors import ConfigError

    initiative = workspace.path("indicators", "riverbend") / "initiative.yaml"
    text = initiative.read_text()
    for bad in ("HA", "PR", "XX"):
        initiative.write_text(text.replace("\nstate: WA\n", f"\nstate: {bad}\n"))
        with pytest.raises(ConfigError, match=f"'{bad}' is not the code of a US state or DC"):
            workspace.load("riverbend")
    initiative.write_text(text.replace("\nstate: WA\n", "\nstate: HI\n"))
    assert workspace.load("riverbend").initiative.state == "HI"
