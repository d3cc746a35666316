"""End to end through the real Prefect flow, a real DuckDB warehouse file and real GX suites."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines import synth
from pipelines.flows import nightly
from pipelines.periods import display_label, period_from_label
from pipelines.read import sha256_file

from conftest import drop

pytestmark = pytest.mark.usefixtures("prefect_harness")

RESULT_COLUMNS = ["initiative_id", "indicator_id", "period", "period_type", "period_start",
                  "period_end", "partner_id", "race_tabulation",
                  "race", "class", "numerator", "denominator", "value", "ci_lower", "ci_upper",
                  "low_reliability", "suppressed", "suppression_reason", "source"]


def _warehouse(workspace, sql, params=()):
    con = duckdb.connect(str(workspace.warehouse_file), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_sample_initiative_end_to_end(demo_run):
    workspace, summaries, hashes = demo_run

    statuses = {f["file_name"]: f["status"] for f in summaries[0]["files"]}
    assert statuses.pop("wcv_adhoc_extract.csv") == "rejected"
    assert set(statuses.values()) == {"loaded"} and len(statuses) == len(hashes) - 1

    # Every file ended somewhere, byte for byte: the intake folder is empty.
    assert not any(p.is_file() for p in (workspace.intake / "riverbend").rglob("*"))
    archived = {sha256_file(p) for pattern in ("*.csv", "*.xlsx")
                for p in workspace.path("data", "archive").rglob(pattern)}
    assert archived == {h for n, h in hashes.items() if n != "wcv_adhoc_extract.csv"}
    rejected = list(workspace.path("data", "rejected").rglob("*wcv_adhoc_extract.csv"))
    assert len(rejected) == 1
    reason = Path(str(rejected[0]) + ".reason.md").read_text()
    assert "NOT LOADED" in reason and "person_id" in reason

    # Warehouse: submissions, records with lineage, quarantine naming row and column.
    loaded = _warehouse(workspace, "SELECT sum(rows_loaded) FROM submissions WHERE status='loaded' "
                                   "AND partner_id <> 'riverbend_housing'")
    aggregates = _warehouse(workspace, "SELECT sum(rows_loaded) FROM submissions WHERE "
                                       "partner_id = 'riverbend_housing'")
    assert _warehouse(workspace, "SELECT count(*) FROM riverbend.aggregate_counts") == aggregates
    records = _warehouse(workspace, "SELECT count(*), count(DISTINCT (submission_id, source_row)) "
                                    "FROM riverbend.records")
    assert records[0][0] == records[0][1] == loaded[0][0] > 10000
    bad = _warehouse(workspace, "SELECT source_row, column_name, rule FROM quarantine ORDER BY ALL")
    assert (3002, "race", "unknown_race_code") in bad  # the slip planted in the 2024 school file
    assert any(rule == "out_of_range" and column == "household_income" for _, column, rule in bad)

    # Published: aggregates only, the documented columns, suppressed cells blanked. A nightly run
    # refreshes the partnership folder only: the public one waits for `backbone release`.
    published = workspace.published("riverbend") / "partnership"
    assert not (workspace.published("riverbend") / "public").exists()
    table = pq.read_table(published / "indicator_results.parquet")
    assert table.column_names == RESULT_COLUMNS
    rows = table.to_pylist()
    assert {r["indicator_id"] for r in rows} == {"kindergarten_readiness", "third_grade_reading",
                                                 "well_child_visits", "stable_housing",
                                                 "developmental_screening"}
    assert all(r["numerator"] is None and r["value"] is None for r in rows if r["suppressed"])
    assert all(not (0 < r["denominator"] <= 10) for r in rows if not r["suppressed"])
    assert "person_key" not in table.column_names
    headline = [r for r in rows if r["partner_id"] == "ALL" and r["race"] == "ALL"
                and r["class"] == "ALL" and r["indicator_id"] == "kindergarten_readiness"]
    assert {r["period"] for r in headline} == {"2022", "2023", "2024", "2025"}
    assert all(r["ci_lower"] < r["value"] < r["ci_upper"] for r in headline)

    manifest = json.loads((published / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(published / name)
    assert manifest["files"]["indicator_results.parquet"]["rows"] == len(rows)
    # Each indicator's period type, and rows in period order within it.
    grains = {g["indicator_id"]: g for g in manifest["indicator_periods"]}
    assert grains["developmental_screening"]["period_type"] == "quarter"
    assert grains["kindergarten_readiness"]["period_type"] == "year"
    order = [(r["indicator_id"], r["period_start"]) for r in rows]
    assert all(a[1] <= b[1] for a, b in zip(order, order[1:]) if a[0] == b[0])
    assert {s["sha256"] for s in manifest["source_files"]} <= archived
    # Every submission that fed the outputs, the housing authority's aggregate files included.
    sources = {(s["partner_id"], s["file_name"], s["kind"]) for s in manifest["source_files"]}
    assert {(p, n) for p, n, k in sources if k == "aggregates"} == {
        ("riverbend_housing", f"rha_stability_{year}.csv") for year in (2022, 2023, 2024, 2025)}
    fed = _warehouse(workspace, "SELECT DISTINCT submission_id FROM riverbend.records_current "
                                "UNION SELECT DISTINCT submission_id FROM "
                                "riverbend.aggregate_counts_current")
    assert {s["submission_id"] for s in manifest["source_files"]} == {r[0] for r in fed}
    assert (published / "scorecard.html").stat().st_size > 10_000
    # Everything published is readable by the web server or sync job that shares it.
    assert {p.name for p in published.iterdir()} == {
        "indicator_results.parquet", "disparities.parquet", "manifest.json", "datapackage.json",
        "scorecard.html", "quality_flags.parquet", "submissions.parquet", "status.html"}
    for path in [published, *published.iterdir()]:
        assert path.stat().st_mode & 0o444 == 0o444, f"{path.name}: {oct(path.stat().st_mode)}"
    assert workspace.snapshot_file.exists()


def test_redrop_is_idempotent_and_recovers_an_interrupted_move(workspace):
    synth.write_sample(workspace.intake / "riverbend", children_per_year=60, years=(2024,))
    nightly(home=str(workspace.root), initiative="riverbend")
    before = _warehouse(workspace, "SELECT count(*) FROM riverbend.records")[0][0]
    partnership = workspace.published("riverbend") / "partnership"
    results_before = pq.read_table(partnership / "indicator_results.parquet")
    version_before = os.readlink(partnership)

    # The same file dropped again adds nothing and is answered as a duplicate.
    archived = sorted(workspace.path("data", "archive").rglob("*RUSD*"))[0]
    again = drop(workspace, "riverbend_schools", "RUSD_again.csv", archived.read_bytes())
    summaries = nightly(home=str(workspace.root), initiative="riverbend")
    outcome = summaries[0]["files"][0]
    assert outcome["status"] == "duplicate" and "already received" in outcome["reasons"]
    assert outcome["rows_quarantined"] == 0
    assert summaries[0]["note"].startswith("nothing new; the published version of 20")
    assert not workspace.path("data", "rejected").exists()
    assert _warehouse(workspace, "SELECT count(*) FROM riverbend.records")[0][0] == before
    assert not again.exists()
    results_after = pq.read_table(partnership / "indicator_results.parquet")
    assert results_after.equals(results_before)
    # Nothing new was loaded, so the published version was kept rather than rebuilt.
    assert os.readlink(partnership) == version_before

    # A crash between COMMIT and the archive move: the rerun completes the move.
    # (Moved back into its own partner's folder: what a partner sent is matched per partner.)
    stored = _warehouse(workspace, "SELECT stored_path FROM submissions WHERE status='loaded' "
                                   "AND partner_id = 'riverbend_schools' ORDER BY submission_id "
                                   "LIMIT 1")[0][0]
    shutil.move(stored, workspace.intake / "riverbend" / "riverbend_schools" / "back.csv")
    summaries = nightly(home=str(workspace.root), initiative="riverbend")
    assert summaries[0]["files"][0]["status"] == "recovered"
    assert Path(stored).exists()
    assert _warehouse(workspace, "SELECT count(*) FROM riverbend.records")[0][0] == before


def test_one_bad_file_does_not_block_other_partners(workspace):
    synth.write_sample(workspace.intake / "riverbend", children_per_year=40, years=(2024,))
    drop(workspace, "riverbend_schools", "oops.csv", b"PK\x03\x04 an xlsx file")
    drop(workspace, "bright_start", "notes.docx", b"not a csv")
    drop(workspace, "stranger", "theirs.csv", "person_id,period\nA,2024\n")
    summaries = nightly(home=str(workspace.root), initiative="riverbend")
    outcomes = {f["file_name"]: f for f in summaries[0]["files"]}
    assert outcomes["oops.csv"]["status"] == "rejected"
    assert outcomes["oops.csv"]["reasons"].startswith("[not_a_csv]")
    assert outcomes["notes.docx"]["status"] == "rejected"
    assert outcomes["theirs.csv"]["status"] == "rejected"
    assert "not a partner" in outcomes["theirs.csv"]["reasons"]
    loaded = [f for f in outcomes.values() if f["status"] == "loaded"]
    assert {f["partner_id"] for f in loaded} == {"riverbend_schools", "northside_clinic",
                                                 "bright_start", "riverbend_housing"}
    reports = list(workspace.path("data", "reports").rglob("*.report.md"))
    assert len(reports) == len(outcomes)


def test_a_file_the_machine_cannot_process_stays_in_intake_and_the_rest_loads(workspace,
                                                                            monkeypatch):
    # Running out of memory is not the partner's fault: the file must not be rejected, and
    # it must not stop the other files; the run reports it and ends as failed.
    import duckdb as _duckdb

    from pipelines import flows

    synth.write_sample(workspace.intake / "riverbend", children_per_year=40, years=(2024,))
    victim = drop(workspace, "riverbend_schools", "huge.csv",
                  "Student Number,School Year\nS1,2024\n")
    real_stage = flows.stage_file

    def stage(path, *args, **kwargs):
        if path.name == victim.name:
            raise _duckdb.OutOfMemoryException("could not allocate block (simulated)")
        return real_stage(path, *args, **kwargs)

    monkeypatch.setattr(flows, "stage_file", stage)
    with pytest.raises(RuntimeError, match=r"1 file.*left in intake: 'huge\.csv'"):
        nightly(home=str(workspace.root), initiative="riverbend")
    assert victim.read_text() == "Student Number,School Year\nS1,2024\n"  # untouched
    loaded = _warehouse(workspace, "SELECT DISTINCT partner_id FROM submissions "
                                   "WHERE status = 'loaded'")
    assert {r[0] for r in loaded} == {"riverbend_schools", "northside_clinic", "bright_start",
                                      "riverbend_housing"}
    assert not _warehouse(workspace, "SELECT * FROM submissions WHERE file_name = 'huge.csv'")
    assert (workspace.published("riverbend") / "partnership" / "manifest.json").exists()


def test_sample_scorecard_agrees_with_its_own_numbers(demo_run):
    """Headline, chart and text say what the published rows say (the sample's well-child bug)."""
    workspace, _, _ = demo_run
    folder = workspace.published("riverbend") / "partnership"
    rows = pq.read_table(folder / "indicator_results.parquet").to_pylist()
    html = (folder / "scorecard.html").read_text()
    checked = 0
    for indicator in workspace.load("riverbend").indicators:
        totals = {r["period"]: r for r in rows if r["indicator_id"] == indicator.id
                  and r["partner_id"] == "ALL" and r["race"] == "ALL" and r["class"] == "ALL"}
        section = html.split(f">{indicator.title}</h2>")[1].split('<section class="indicator"')[0]
        latest = max(totals.values(), key=lambda r: r["period_start"])
        base = totals.get(indicator.baseline.period)
        if base is None or base["suppressed"] or latest["suppressed"]:
            continue
        shown = display_label(period_from_label(base["period"], indicator.period_type))
        delta = latest["value"] - base["value"]
        said = ("About the same" if abs(delta) < 0.005 else
                f"{'Up' if delta > 0 else 'Down'} {abs(delta) * 100:.1f} percentage points")
        assert said in section, indicator.id
        assert f"since {shown} ({base['value'] * 100:.1f}%, 95% CI" in section
        # The chart's baseline line sits at the same measured value.
        assert f">{base['value'] * 100:.1f}% ({shown})</text>" in section
        if abs(delta) >= 0.005 and "within the margin of error" not in section:
            better = (delta > 0) == (indicator.direction == "higher_is_better")
            assert ("Improving" if better else "Getting worse") in section, indicator.id
        checked += 1
    assert checked == 5
    housing = html.split(">Families with children stably housed</h2>")[1].split(
        '<section class="indicator"')[0]
    assert "families</p>" in housing and "counted once" not in housing
