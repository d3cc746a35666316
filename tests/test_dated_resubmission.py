"""Dated rows (one row per event, period_type 'day') through real staging (GX), a real DuckDB
warehouse, the resubmission rule, partner reports and the real measure stage.

Northside's crosswalk maps `Visit Date` onto the period column and `Dev Screen` (Y/N) onto
dev_screening, the quarterly `developmental_screening` indicator's column.
"""

from __future__ import annotations

from pipelines import warehouse
from pipelines.measure import build_indicator_cells

from test_resubmission import night, query, report

CLINIC = "northside_clinic"
HEADER = "PersonalID,Visit Date,Dev Screen\n"


def visits(*events) -> str:
    """(person, date as the partner writes it, Y/N) rows."""
    return HEADER + "".join(f"{p},{d},{s}\n" for p, d, s in events)


def current(workspace) -> list[tuple]:
    return query(workspace, "SELECT period, dev_screening, count(*) FROM "
                            "riverbend.records_current WHERE partner_id = ? "
                            "GROUP BY ALL ORDER BY ALL", [CLINIC])


def march(extra=()) -> list[tuple]:
    """20 children seen once in March 2024, on 10 days (two a day)."""
    return [(f"M{i}", f"3/{1 + i // 2}/2024", "N") for i in range(20)] + list(extra)


def test_two_events_on_one_day_load_and_the_child_counts_once(workspace, config):
    # N1: a screening (Y) and a well-child visit without one (N) on the same day; the N row
    # is last, so "the newest row of the key wins" would have dropped the screening.
    content = visits(("N1", "3/15/2024", "Y"), ("N1", "2024-03-15", "N"),
                     ("N2", "3/15/2024", "N"),
                     ("N3", "3/2/2024", "N"), ("N3", "3/20/2024", "Y"))
    settled = night(workspace, config, (CLINIC, "visits 2024-03.csv", content))
    outcome = settled["visits 2024-03.csv"]
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 5, 0)
    assert query(workspace, "SELECT count(*) FROM riverbend.records_current") == [(5,)]
    assert outcome.reasons == "March 2024 (3 days with rows): 0 -> 5 rows (added)"
    assert "- **March 2024 (3 days with rows)**: 0 rows -> 5. Nothing was on file for " \
           "March 2024 before." in report(outcome)

    con = warehouse.connect(workspace.warehouse_file)
    try:
        build_indicator_cells(con, config)
        cells = con.execute(
            "SELECT partner_id, numerator, denominator FROM riverbend.indicator_cells WHERE "
            "indicator_id = 'developmental_screening' AND period = '2024Q1' AND "
            "race_tabulation = 'total' AND race = 'ALL' AND class = 'ALL' ORDER BY partner_id"
        ).fetchall()
    finally:
        con.close()
    # Three children; N1 and N3 had a screening on some visit of the quarter.
    assert cells == [("ALL", 2, 3), (CLINIC, 2, 3)]


def test_a_corrected_month_replaces_the_month_and_all_its_days(workspace, config):
    first = march(extra=[("M0", "3/1/2024", "Y"),          # M0's second event that day
                         ("X1", "3/31/2024", "N"), ("X2", "3/31/2024", "N")])
    night(workspace, config, (CLINIC, "visits 2024-03.csv", visits(*first)))
    assert sum(r[2] for r in current(workspace)) == 23
    # The corrected extract: 3/31 was entered by mistake (no row that day any more), and M0
    # had three events on 3/1. Judged by day, 3/31 would never have been replaced.
    fixed = march(extra=[("M0", "3/1/2024", "Y"), ("M0", "3/1/2024", "Y")])
    outcome = night(workspace, config, (CLINIC, "visits 2024-03 fixed.csv", visits(*fixed)))
    outcome = outcome["visits 2024-03 fixed.csv"]
    assert outcome.status == "loaded"
    assert outcome.reasons == "March 2024 (10 days with rows): 23 -> 22 rows (replaced)"
    assert query(workspace, "SELECT count(*) FROM riverbend.records_current "
                            "WHERE period = '2024-03-31'") == [(0,)]
    assert query(workspace, "SELECT DISTINCT submission_id FROM riverbend.records_current") == \
        [(2,)]
    assert query(workspace, "SELECT count(*) FROM riverbend.records_current WHERE "
                            "period = '2024-03-01' AND dev_screening = 1") == [(2,)]
    text = report(outcome)
    assert "- **March 2024 (10 days with rows)**: 23 rows -> 22. This file is the complete " \
           "file for March 2024, so it replaced it: 2 rows from earlier files, for people " \
           "and days not in it, were removed." in text
    assert "matched by person and day" in text
    # One line for the month, not one per day.
    assert "2024-03-01" not in text
    # What is stored: one part, the month; the old days set aside by their own labels.
    assert query(workspace, "SELECT part, rows_before, rows_carried, rows_kept, rows_after, "
                            "decision FROM riverbend.part_changes WHERE batch = 2") == \
        [("2024-03", 23, 22, 21, 22, "replaced")]
    assert query(workspace, "SELECT count(*), count(DISTINCT period) FROM "
                            "riverbend.records_set_aside WHERE reason = 'replaced'") == [(11, 11)]


def test_a_late_row_updates_its_person_and_day_and_keeps_the_others_seen_that_day(workspace,
                                                                                   config):
    night(workspace, config, (CLINIC, "visits 2024-03.csv", visits(*march())))
    # M4 and M5 were seen on 3/3. A late file corrects M4's 3/3 visit into two events (a visit
    # and a screening). By day this would have replaced 3/3 (1 of its 2 rows again) and dropped
    # M5; by month it is an update of one person-day.
    late = visits(("M4", "3/3/2024", "N"), ("M4", "3/3/2024", "Y"))
    outcome = night(workspace, config, (CLINIC, "late.csv", late))["late.csv"]
    assert outcome.reasons == "March 2024 (1 day with rows): 20 -> 21 rows (updated)"
    assert query(workspace, "SELECT submission_id, dev_screening FROM riverbend.records_current "
                            "WHERE period = '2024-03-03' ORDER BY ALL") == \
        [(1, 0), (2, 0), (2, 1)]  # M5 from the first file; both of M4's events from the late one
    assert query(workspace, "SELECT count(*) FROM riverbend.records_superseded") == [(1,)]
    assert "- **March 2024 (1 day with rows)**: 20 rows -> 21. This file's 2 rows replaced " \
           "the 1 row on file for the same people and days, and the 19 rows of other people " \
           "and days were kept." in report(outcome)


def test_a_resent_person_day_keeps_all_its_new_events_and_drops_all_its_old_ones(workspace,
                                                                                   config):
    first = march(extra=[("M0", "3/1/2024", "Y"), ("M0", "3/1/2024", "N")])  # 3 events
    night(workspace, config, (CLINIC, "visits.csv", visits(*first)))
    again = visits(("M0", "3/1/2024", "Y"), ("M0", "3/1/2024", "Y"))  # now 2 events
    outcome = night(workspace, config, (CLINIC, "M0.csv", again))["M0.csv"]
    assert outcome.reasons == "March 2024 (1 day with rows): 22 -> 21 rows (updated)"
    m0 = query(workspace, "SELECT submission_id, dev_screening FROM riverbend.records_current "
                          "WHERE source_row IN (2, 3) AND period = '2024-03-01' AND "
                          "submission_id = 2 ORDER BY ALL")
    assert m0 == [(2, 1), (2, 1)]
    assert query(workspace, "SELECT count(*) FROM riverbend.records_current") == [(21,)]
    assert query(workspace, "SELECT rows_before, rows_carried, rows_kept, rows_after FROM "
                            "riverbend.part_changes WHERE batch = 2") == [(22, 2, 3, 21)]


def test_a_month_shrinking_by_more_than_half_is_held_and_said_by_month(workspace):
    crosswalk = workspace.path("schemas", "crosswalks", "riverbend", f"{CLINIC}.yaml")
    crosswalk.write_text(crosswalk.read_text() + "complete_extracts: true\n")
    config = workspace.load("riverbend")
    night(workspace, config, (CLINIC, "visits.csv", visits(*march())))
    cut = visits(*march()[:6])
    held = night(workspace, config, (CLINIC, "cut.csv", cut))["cut.csv"]
    assert held.status == "held"
    assert "held, not applied: March 2024 (3 days with rows) would go from 20 to 6 rows" in \
        held.reasons
    assert "- **March 2024 (3 days with rows)**: 20 rows, unchanged (held). As the complete " \
           "file for March 2024 this file would leave 6 and remove 14 of 20 rows on file" in \
        report(held)
    assert query(workspace, "SELECT count(*) FROM riverbend.records_current") == [(20,)]


def test_two_files_of_one_run_are_one_submission_and_keep_both_events(workspace, config):
    # Two sites' March extracts dropped the same night; M0 was seen at both on 3/1.
    north = visits(*march()[:10], ("M0", "3/1/2024", "Y"))
    south = visits(("M0", "3/1/2024", "N"), *march()[10:])
    settled = night(workspace, config, (CLINIC, "north.csv", north), (CLINIC, "south.csv", south))
    assert {s.status for s in settled.values()} == {"loaded"}
    assert query(workspace, "SELECT count(*) FROM riverbend.records_current WHERE "
                            "period = '2024-03-01'") == [(4,)]  # M0 three times, M1 once
    assert query(workspace, "SELECT count(*) FROM riverbend.records_superseded") == [(0,)]


def test_a_dated_aggregate_row_is_answered_and_the_night_goes_on(workspace, config):
    """An aggregate partner writing a date where a period belongs: its part is (indicator,
    month); the report names both instead of failing the whole night on the label."""
    content = ("indicator_id,period,race,class,numerator,denominator\n"
               "stable_housing,3/15/2024,ALL,ALL,1,2\n")
    settled = night(workspace, config, ("riverbend_housing", "rha_march.csv", content),
                    (CLINIC, "visits.csv", visits(("N1", "3/15/2024", "Y"))))
    housing, clinic = settled["rha_march.csv"], settled["visits.csv"]
    assert housing.status == "loaded" and clinic.status == "loaded"
    assert "stable_housing 2024-03-15" in report(housing)
