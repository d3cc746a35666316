"""Fixes of the session-9 audit's findings (helper B, a messy partner's files): a ';' file's
"$47,016" (F1), ids that changed form or were wrapped to keep their zeros (F3, F2), title rows
above a CSV header (F5), "$ 45,000.00" (F8), aggregate labels in any case (F7), Excel for Mac's
CSV (F9)."""

from __future__ import annotations

from pipelines.intake import stage_file

from test_audit8_fixes import _incomes, staged_query


def test_the_bright_start_sample_keeps_its_dollar_incomes_in_a_semicolon_file(workspace, config):
    """Audit 9 (B, F1): a ';' file from a US system writes "$47,016": forty-seven thousand
    dollars, not 47.016. Staged from the shipped sample, every income is the one written."""
    import csv
    import shutil

    from conftest import SAMPLES, drop

    sample = SAMPLES / "bright_start" / "BrightStart FY2024 export.csv"
    with sample.open(encoding="cp1252", newline="") as handle:
        written = {row["Child ID"]: row["Family Income ($)"]
                   for row in csv.DictReader(handle, delimiter=";")}
    path = drop(workspace, "bright_start", sample.name, b"")
    shutil.copyfile(sample, path)
    staged = stage_file(path, config, "bright_start", "salt", workspace.staging)
    incomes = sorted(r[0] for r in staged_query(
        staged, "SELECT household_income FROM records WHERE household_income IS NOT NULL"))
    expected = sorted(float(v.replace("$", "").replace(",", "")) for v in written.values()
                      if v.strip())
    assert incomes == expected and min(incomes) > 1000


def test_a_resend_whose_ids_all_changed_form_is_flagged_in_its_report(workspace, config):
    """Audit 9 (B, F3): Excel re-typed the ids of a corrected resend (000001 -> 1): it matches
    none of the period's people and counts as new ones. The report says so in words the partner
    can act on (the rule cannot know the ids are the same people)."""
    from test_resubmission import SCHOOLS, night, report, school_file

    night(workspace, config, (SCHOOLS, "RUSD_2024.csv",
                              school_file(2024, [f"{i:06d}" for i in range(1, 301)])))
    again = night(workspace, config, (SCHOOLS, "RUSD_2024 corrected.csv",
                                      school_file(2024, [str(i) for i in range(1, 301)])))
    text = report(again["RUSD_2024 corrected.csv"])
    assert "none of the 300 people in this file match the 300 already on file for 2024" in text
    assert "Excel drops leading zeros" in text
    # An update that matches some of the period's people is not flagged.
    more = night(workspace, config, (SCHOOLS, "late.csv", school_file(2024, ["000001", "X9"])))
    assert "Check this" not in report(more["late.csv"])


def test_a_csv_with_title_rows_above_its_header_is_told_which_row_is_the_header(workspace,
                                                                                config):
    """Audit 9 (B, F5): a report's title block above the table (what many SIS exports write)
    was told its required columns are missing, though row 4 names them."""
    from conftest import drop

    content = ("Riverbend USD student export,,,\nGenerated 2024-07-01,,,\n,,,\n"
               "Student Number,School Year,K Readiness Met,Campus\nS1,2024,Y,North\n")
    staged = stage_file(drop(workspace, "riverbend_schools", "title.csv", content), config,
                        "riverbend_schools", "salt", workspace.staging)
    assert staged.status == "rejected"
    [problem] = staged.problems
    assert problem["rule"] == "title_rows_above_header" and problem["row"] == 4
    assert problem["message"].startswith("Row 4 looks like the column names (it names "
                                         "'Student Number', 'School Year', 'K Readiness Met')")
    assert "3 other rows above it" in problem["message"]


def test_ids_wrapped_to_keep_their_zeros_are_the_same_person(workspace, config):
    """Audit 9 (B, F2): `="00123"` (what some student systems write so that Excel keeps the
    zeros) and `'00123` (Excel's text prefix, typed in) are the id 00123: one person with the
    plain 00123, not a pattern failure or another child."""
    from conftest import drop

    content = ('person_id,period,kinder_ready\n="00123",2023,1\n00123,2024,1\n\'00124,2023,0\n'
               "00124,2024,1\nS9,2025,1\n")
    staged = stage_file(drop(workspace, "riverbend_schools", "ids.csv", content), config,
                        "riverbend_schools", "salt", workspace.staging)
    keys = staged_query(staged, "SELECT source_row, person_key FROM records ORDER BY 1")
    key = dict(keys)
    assert key[2] == key[3] and key[4] == key[5] and key[2] != key[4]
    assert len(key) == 5


def test_dollars_with_a_space_thousands_and_cents_are_read(tmp_path):
    """Audit 9 (B, F8): Excel's accounting format writes "$ 45,000.00"; one space next to "$"
    is fine and commas group thousands, so it is 45000, not `wrong_type`."""
    written = ["$ 45,000.00", "$ 1,234,567.89", "45,000.00 $", "$ 45,000", "1, 234"]
    assert _incomes(tmp_path, written, ",") == [45000, 1234567.89, 45000, 45000, "refused"]


def test_aggregate_group_labels_match_whatever_their_case(workspace, config):
    """Audit 9 (B, F7): an aggregate table whose total rows say `All` (and a `white`) was set
    aside whole, first reason "does not add up". Labels match whatever their case, as race
    codes and value maps do, and are kept as the template spells them."""
    from conftest import drop

    rows = [("ALL", "ALL", 30, 40), ("White", "ALL", 20, 25),
            ("Black or African American", "ALL", 10, 15), ("ALL", "Below 100% FPG", 30, 40),
            ("White", "Below 100% FPG", 20, 25),
            ("Black or African American", "Below 100% FPG", 10, 15)]
    typed = [tuple({"ALL": "All", "White": "white"}.get(c, c) for c in row) for row in rows]
    content = "indicator_id,period,race,class,numerator,denominator\n" + "".join(
        f"stable_housing,2024,{race},{klass},{n},{d}\n" for race, klass, n, d in typed)
    staged = stage_file(drop(workspace, "riverbend_housing", "rha.csv", content), config,
                        "riverbend_housing", "salt", workspace.staging)
    assert staged.status == "staged" and staged.rows_quarantined == 0, staged.problems
    kept = staged_query(staged, "SELECT race, class FROM records ORDER BY source_row")
    assert kept == [(race, klass) for race, klass, _, _ in rows]


def test_excel_for_macs_csv_is_read_as_mac_roman(workspace, config):
    """Audit 9 (B, F9): Excel for Mac's "CSV (Macintosh)" is Mac Roman with lines ended by CR
    alone. Read as Windows-1252, "Sí" became "S’" and its rows were refused."""
    from conftest import drop

    header = "Child ID;Program Year;Race / Ethnicity;Family Income ($);Family Size;" \
             "Ready for K?;Medicaid?\r"
    body = "".join(f"K{i};2024;White;30000;3;{'Sí' if i % 2 else 'No'};Yes\r" for i in range(10))
    path = drop(workspace, "bright_start", "mac.csv", (header + body).encode("mac_roman"))
    staged = stage_file(path, config, "bright_start", "salt", workspace.staging)
    assert staged.encoding == "mac_roman" and staged.rows_quarantined == 0, staged.problems
    ready = staged_query(staged, "SELECT sum(kinder_ready), count(*) FROM records")
    assert ready == [(5, 10)]


def test_a_file_sent_again_to_undo_a_correction_counts_again(workspace, config):
    """Audit 9 (D, D1): a partner re-sends its first file, byte for byte, to undo a wrong
    correction that replaced it. The newest row counts: the file is loaded again, not answered
    "already received; your data is as before"."""
    from test_resubmission import SCHOOLS, current, night, people, query, school_file

    first = school_file(2024, people("S", 100), ready=1)
    night(workspace, config, (SCHOOLS, "RUSD_2024.csv", first))
    night(workspace, config, (SCHOOLS, "RUSD_2024_fix.csv",
                              school_file(2024, people("S", 100), ready=0)))
    again = night(workspace, config, (SCHOOLS, "RUSD_2024.csv", first))["RUSD_2024.csv"]
    assert again.status == "loaded"
    assert current(workspace) == {2024: 100}
    assert query(workspace, "SELECT sum(kinder_ready) FROM riverbend.records_current") == [(100,)]


def test_a_file_sent_again_after_part_of_it_was_corrected_says_so(workspace, config):
    """Part of the earlier copy was replaced by a later late-rows file: the copy is answered
    "already received", saying those rows were replaced, and the correction stands."""
    from test_resubmission import SCHOOLS, night, people, query, report, school_file

    first = school_file(2024, people("S", 100), ready=1)
    night(workspace, config, (SCHOOLS, "RUSD_2024.csv", first))
    night(workspace, config, (SCHOOLS, "late.csv", school_file(2024, ["S1", "S2"], ready=0)))
    again = night(workspace, config, (SCHOOLS, "RUSD_2024 copy.csv", first))["RUSD_2024 copy.csv"]
    assert again.status == "duplicate"
    assert "2 of its rows have since been replaced by later files" in again.reasons
    assert "does not bring those rows back" in report(again)
    assert query(workspace, "SELECT sum(kinder_ready) FROM riverbend.records_current") == [(98,)]


def test_one_late_row_for_a_busy_person_day_updates_it_and_holds_nothing(workspace, config):
    """Audit 9 (D, D3): a child with 16 events on one day (one row per service line) and 14
    others seen once; one late row fixing that child's day was judged March's complete file
    ("30 -> 1 rows") and held. It carries one row: an update of that person-day."""
    from test_dated_resubmission import CLINIC, visits
    from test_resubmission import night, query

    first = [("K0", "3/1/2024", "N")] * 16 + [(f"C{i}", f"3/{i + 2}/2024", "N")
                                             for i in range(14)]
    night(workspace, config, (CLINIC, "visits_2024-03.csv", visits(*first)))
    fix = night(workspace, config, (CLINIC, "K0 fix.csv", visits(("K0", "3/1/2024", "Y"))))
    outcome = fix["K0 fix.csv"]
    assert outcome.status == "loaded"
    assert outcome.reasons == "March 2024 (1 day with rows): 30 -> 15 rows (updated)"
    assert query(workspace, "SELECT count(*), count(DISTINCT person_key), sum(dev_screening) "
                            "FROM riverbend.records_current") == [(15, 15, 1)]


def test_the_manifest_says_what_an_indicators_grain_left_out():
    """Audit 9 (C, C7): an indicator measured monthly from yearly files published nothing,
    said only by a count in the manifest's indicator_periods. Its notes say it in words."""
    from pipelines.publish import grain_notes

    notes = grain_notes([
        {"indicator_id": "visits_m", "period_type": "month", "records_not_counted": 6000,
         "aggregate_rows_not_counted": 0, "aggregate_periods_not_counted": []},
        {"indicator_id": "housed", "period_type": "fiscal_year", "records_not_counted": 0,
         "aggregate_rows_not_counted": 6, "aggregate_periods_not_counted": ["city 2024Q1"]},
        {"indicator_id": "ready", "period_type": "year", "records_not_counted": 0,
         "aggregate_rows_not_counted": 0, "aggregate_periods_not_counted": []}])
    assert notes == [
        "Indicator visits_m (one month at a time) did not count 6,000 records of its "
        "denominator: their period is longer than one month or spans two.",
        "Indicator housed (one fiscal year at a time) did not count 6 aggregate rows, for "
        "periods that are not one fiscal year: city 2024Q1."]


def test_the_scorecard_shows_bidirectional_controls_as_escapes():
    """Audit 9 (C, C8): a right-to-left override in an initiative name or indicator title
    reached the scorecard raw, and a browser showed the rest of its line reversed."""
    import gettext

    from markupsafe import Markup

    from pipelines.scorecard_jinja import new_environment

    env = new_environment(gettext.NullTranslations(), None)
    page = env.from_string("<h1>{{ name }}</h1>{{ chart }}").render(
        name="Riverbend \u202eevil\u202c <b>", chart=Markup("<svg>\u2067x\u2069</svg>"))
    assert page == ("<h1>Riverbend \\u202eevil\\u202c &lt;b&gt;</h1>"
                    "<svg>\\u2067x\\u2069</svg>")


def test_a_corrected_dated_month_keeps_the_months_labelled_rows(workspace, config):
    """Audit 9 (D, D2): a partner sends March as a summary (rows labelled 2024-03) and as dated
    visits; a corrected visit file carrying half the month's rows replaced the labelled rows
    too. Without `complete_extracts` a dated month replaces only the month's dated rows."""
    from test_dated_resubmission import CLINIC, visits
    from test_resubmission import night, query

    night(workspace, config, (CLINIC, "march summary.csv",
                              visits(*((f"M{i}", "2024-03", "Y") for i in range(30)))))
    dated = [(f"D{i}", f"3/{i % 28 + 1}/2024", "N") for i in range(30)]
    night(workspace, config, (CLINIC, "visits 2024-03.csv", visits(*dated)))
    fixed = [(p, d, "Y") for p, d, _ in dated]
    outcome = night(workspace, config, (CLINIC, "visits 2024-03 fixed.csv",
                                        visits(*fixed)))["visits 2024-03 fixed.csv"]
    assert outcome.status == "loaded"
    assert query(workspace, "SELECT period_type, count(*), sum(dev_screening) FROM "
                            "riverbend.records_current GROUP BY 1 ORDER BY 1") == [
        ("day", 30, 30), ("month", 30, 30)]
