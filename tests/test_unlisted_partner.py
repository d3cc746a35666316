"""Audit 8, finding A8-2: a partner renamed or removed in initiative.yaml kept counting. Its rows
stay in the warehouse (nothing is deleted) but no longer count, and every run says so.
"""

from __future__ import annotations

import json
import re

from pipelines import unlisted, warehouse

from test_resubmission import SALT, SCHOOLS, night, people, query, school_file

CLINIC = "northside_clinic"


def clinic_file(people_ids) -> str:
    return "person_id,period,well_child_visit\n" + "".join(f"{p},2023,1\n" for p in people_ids)


def rename_partner(workspace, old: str, new: str):
    """initiative.yaml with `old` called `new` everywhere (its crosswalk file kept); reloaded."""
    path = workspace.path("indicators", "riverbend", "initiative.yaml")
    text = re.sub(rf"\b{old}\b(?!\.yaml)", new, path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    return workspace.load("riverbend")


def current_partners(workspace) -> dict[str, int]:
    return dict(query(workspace, "SELECT partner_id, count(*) FROM riverbend.records_current "
                                 "GROUP BY ALL"))


def refresh_views(workspace, config) -> list[dict]:
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        return unlisted.not_counted(con, config)
    finally:
        con.close()


def test_a_renamed_partners_old_rows_stop_counting_and_are_named(workspace, config):
    night(workspace, config, (SCHOOLS, "2023.csv", school_file(2023, people("S", 30))),
          (CLINIC, "2023.csv", clinic_file(people("C", 12))))
    assert current_partners(workspace) == {SCHOOLS: 30, CLINIC: 12}
    assert refresh_views(workspace, config) == []

    renamed = rename_partner(workspace, CLINIC, "northside_health")
    gone = refresh_views(workspace, renamed)
    assert current_partners(workspace) == {SCHOOLS: 30}
    assert [(g["partner_id"], g["records"], g["aggregate_counts"]) for g in gone] == \
        [(CLINIC, 12, 0)]
    assert "'northside_clinic' is no longer listed" in gone[0]["note"]
    assert "12 current records are not counted" in gone[0]["note"]
    # Nothing was deleted: the rows are in the table, and listing the partner again counts them.
    assert query(workspace, "SELECT count(*) FROM riverbend.records WHERE partner_id = ?",
                 [CLINIC]) == [(12,)]
    back = rename_partner(workspace, "northside_health", CLINIC)
    assert refresh_views(workspace, back) == []
    assert current_partners(workspace) == {SCHOOLS: 30, CLINIC: 12}


def test_the_renamed_partners_new_file_is_counted_once(workspace, config):
    night(workspace, config, (CLINIC, "2023.csv", clinic_file(people("C", 12))))
    renamed = rename_partner(workspace, CLINIC, "northside_health")
    night(workspace, renamed, ("northside_health", "2023.csv", clinic_file(people("C", 12))))
    assert current_partners(workspace) == {"northside_health": 12}


def test_a_night_after_the_rename_publishes_without_the_old_partner_and_says_so(
        workspace, config, prefect_harness, monkeypatch):
    from pipelines.flows import nightly

    monkeypatch.setenv("BACKBONE_SALT_RIVERBEND", SALT)  # the salt night() stages with
    night(workspace, config, (SCHOOLS, "2023.csv", school_file(2023, people("S", 30))),
          (CLINIC, "2023.csv", clinic_file(people("C", 12))))
    renamed = rename_partner(workspace, CLINIC, "northside_health")
    [summary] = nightly(home=str(workspace.root), initiative="riverbend")
    assert len(summary["notices"]) == 1 and CLINIC in summary["notices"][0]
    from pipelines.run_summary import run_summary_markdown

    told = run_summary_markdown([summary], "run").split("For the data lead:")[1]
    assert CLINIC.replace("_", "\\_") in told and "not counted" in told
    manifest = json.loads((workspace.published("riverbend") / "partnership"
                           / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["partners_not_listed"] == [
        {"partner_id": CLINIC, "records": 12, "aggregate_counts": 0}]
    assert any(CLINIC in note for note in manifest["notes"])
    assert renamed.fingerprint != config.fingerprint

