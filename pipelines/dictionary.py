"""The data dictionary: what every table and column analysts can read means, in one place.

Written into the analysts' snapshot as `COMMENT ON` (so `duckdb_columns()` and the snapshot's
`data_dictionary` view explain themselves) and into the published Parquet as key-value metadata
(`description` for the file, `description:<column>` per column). Columns that come from partners'
files take the intake schema's `description`; indicators take their YAML title and description;
lineage and derived columns have the fixed texts below.
"""

from __future__ import annotations

from pipelines.config import InitiativeConfig
from pipelines.quality import FLAGS_TABLE
from pipelines.sql import sql_literal

LINEAGE = {
    "submission_id": "The file this row came from: joins to submissions.submission_id.",
    "source_row": "Row number in the partner's file as a spreadsheet shows it (header = row 1).",
    "loaded_at": "When the warehouse loaded this row.",
}
SPD15 = {"aian": "American Indian or Alaska Native", "asian": "Asian",
         "black": "Black or African American", "hispanic": "Hispanic or Latino",
         "mena": "Middle Eastern or North African", "nhpi": "Native Hawaiian or Pacific Islander",
         "white": "White"}
# Aggregate indicators' ALL rows are sums of partners' counts (measure.py), not unduplicated.
PARTNER_OR_ALL = ("Partner id, or ALL for every partner together: for indicators measured from "
                  "records a person reported by several partners counts once; for aggregate "
                  "indicators (source aggregates) ALL is the sum of partners' own counts, so a "
                  "person served by two partners may count twice.")
RACE_GROUP = ("Race/ethnicity group (OMB SPD 15 label: a minimum category, Multiracial and/or "
              "Multiethnic, or Not reported), or ALL for everyone.")
CLASS_GROUP = ("Class group: household income as a share of the federal poverty guideline (FPG) "
               "band, a partner's proxy (Low income (proxy), Not low income (proxy)), Not "
               "reported, or ALL for everyone.")
PERIOD = ("The indicator period the row counts in, labelled in the indicator's period type "
          "(2024, 2023-24, FY2024, 2024Q1, 2024-03); order by period_start, not by this label.")
RECORD_PERIOD = ("The period the row reports, as a canonical label at the grain the partner "
                 "reported it: 2024, 2023-24 (school year), FY2024, 2024Q1, 2024-03, or a day "
                 "(2024-03-15) for dated rows.")
PERIODS = {
    "period_type": ("The period's type: year, school_year, fiscal_year, quarter, month (or day "
                    "for a partner's dated rows); the initiative's calendar sets where school "
                    "and fiscal years start."),
    "period_start": "First day of the period.",
    "period_end": "Last day of the period (inclusive).",
}

RECORD_FIXED = {
    "partner_id": "Partner that sent the file (its folder under data/intake/<initiative>/).",
    "person_key": ("The person, pseudonymized: the first 128 bits of sha256(initiative salt : the "
                   "partner's person id). The same id gets the same key in every file of this "
                   "initiative; the id as sent is never stored."),
    "race_reported": ("False when no race/ethnicity was reported (every race flag false): the "
                      "person counts as Not reported, never dropped."),
    "poverty_ratio": ("Household income divided by the HHS poverty guideline for the period, "
                      "household size and state (1.0 = at the guideline); empty without income "
                      "and household size."),
    "class": ("Class band: income as % of the federal poverty guideline when income and household "
              "size are known, otherwise the partner's proxy, otherwise Not reported."),
    "guideline_year": "The HHS poverty guideline year used to class this row.",
    "race_multi_unspecified": ("True when the partner reported \"more than one race, not "
                               "specified\" (e.g. 2+): the person counts as Multiracial and/or "
                               "Multiethnic alone, never in an alone-or-in-combination group."),
    "class_proxy_value": ("The partner's class proxy as sent (e.g. free/reduced lunch status), "
                          "kept so class can be derived again when a crosswalk changes."),
}
AGGREGATE_FIXED = {
    "partner_id": "Partner that sent the file.",
    "indicator_id": "Indicator the counts are for (see the indicators table).",
    "period": RECORD_PERIOD,
    **PERIODS,
    "race": RACE_GROUP + " As the partner counted it (SPD 15 alone tabulation).",
    "class": CLASS_GROUP,
    "numerator": ("People, families or households (as the indicator counts) in the group who "
                  "meet the indicator."),
    "denominator": ("People, families or households (as the indicator counts) in the group the "
                    "indicator is measured over."),
}
CELL = {
    "initiative_id": "Initiative id.",
    "indicator_id": "Indicator id (see the indicators table for its title and definition).",
    "period": PERIOD,
    **PERIODS,
    "partner_id": PARTNER_OR_ALL,
    "race_tabulation": ("How race was tabulated: 'alone' (everyone in exactly one group: a "
                        "single category, Multiracial and/or Multiethnic, or Not reported), "
                        "'alone_or_in_combination' (a person counts in every category they "
                        "reported, so groups sum to more than the total), 'total' (race ALL)."),
    "race": RACE_GROUP,
    "class": CLASS_GROUP,
    "numerator": ("Count who meet the indicator (people counted once however many records or "
                  "partners report them; partners' own counts for source aggregates)."),
    "denominator": "Count the indicator is measured over (counted likewise).",
    "source": "records (measured from person-level rows) or aggregates (partners' own counts).",
    "suppressed": "True when published outputs hide the cell to protect small groups.",
    "suppression_reason": ("primary (a count of 1 to the threshold) or complementary (hidden so "
                           "a primary cell cannot be worked out from totals); empty if shown."),
}
RESULT = {
    **CELL,
    "numerator": CELL["numerator"][:-1] + "; empty when suppressed.",
    "denominator": CELL["denominator"][:-1] + "; empty when suppressed.",
    "suppressed": "True when the cell is hidden to protect small groups (no counts, no rate).",
    "value": ("The rate: numerator / denominator (0 to 1); empty when suppressed or the "
              "denominator is 0."),
    "ci_lower": "Lower bound of the 95% Wilson score interval of value; empty when suppressed.",
    "ci_upper": "Upper bound of the 95% Wilson score interval of value; empty when suppressed.",
    "low_reliability": ("True when the denominator is under 30 (NCHS): read the rate with care; "
                        "empty when suppressed."),
}
DISPARITIES = {
    "initiative_id": "Initiative id.",
    "indicator_id": "Indicator id (see the indicators table).",
    "period": PERIOD,
    **PERIODS,
    "partner_id": PARTNER_OR_ALL,
    "dimension": "race or class: which breakdown the group belongs to.",
    "group_label": "The group compared with the reference group.",
    "reference_group": "The group every other group is compared with (initiative.yaml).",
    "group_rate": "The group's rate (0 to 1).",
    "reference_rate": "The reference group's rate (0 to 1).",
    "rate_ratio": "group_rate / reference_rate (1 = no gap).",
    "rate_difference": "group_rate - reference_rate (0 = no gap).",
    "index_of_disparity": ("Mean absolute gap of the dimension's groups from the reference rate, "
                           "as % of the reference group's adverse rate (1 - reference_rate when "
                           "higher is better; Pearcy & Keppel IDisp); same on each row."),
    "groups_compared": "How many groups (not suppressed, not Not reported) the index covers.",
}
SUBMISSIONS = {
    "submission_id": "One id per file received.",
    "initiative_id": "Initiative id.",
    "partner_id": "Partner whose folder the file was dropped in.",
    "file_name": "The file's name as the partner sent it.",
    "sha256": "SHA-256 of the file's bytes: the same file sent again has the same hash.",
    "size_bytes": "File size in bytes.",
    "encoding": "Text encoding the file was read with.",
    "delimiter": "Field delimiter the file was read with.",
    "status": ("What happened to the file: loaded, rejected, duplicate (the same bytes again, "
               "nothing new) or held (a replacement kept aside until a data lead accepts it)."),
    "reason_code": "Why a file was not loaded, as a code (empty when loaded).",
    "reasons": "Why a file was not loaded, in words (empty when loaded).",
    "rows_read": "Data rows in the file.",
    "rows_loaded": "Rows loaded into the warehouse.",
    "rows_quarantined": "Rows set aside for breaking a rule (see quarantine).",
    "received_at": "When the run took the file.",
    "run_id": "The nightly run that took the file.",
    "stored_path": "Where the file is kept now (archive, or rejected).",
    "report_path": "The partner report written for the file.",
    "validation": "Each validation rule run on the file, with its count of failing rows (JSON).",
}
QUARANTINE = {
    "submission_id": "The file the cell is in: joins to submissions.submission_id.",
    "initiative_id": "Initiative id.",
    "partner_id": "Partner that sent the file.",
    "source_row": "Row number in the partner's file as a spreadsheet shows it (header = row 1).",
    "column_name": "The intake column that broke the rule.",
    "rule": "The rule broken (e.g. out_of_range, wrong_type, unknown_race_code).",
    "message": "The rule in words.",
}
RUNS = {
    "run_id": "The nightly run.",
    "started_at": "When the run started.",
    "finished_at": "When the run finished.",
    "files_seen": "Files found waiting.",
    "files_loaded": "Files loaded.",
    "files_rejected": "Files rejected.",
    "published": "Where the run published.",
}
GUIDELINE_YEARS = {
    "period": ("Calendar year (e.g. 2023) in which the periods of the classed records start: a "
               "record's guideline year follows its period's first day (school year 2023-24 "
               "and March 2023 both use 2023's), not its label's digits."),
    "guideline_year": "The HHS poverty guideline year used for those records.",
    "beyond_latest": "True when that year is after the latest guideline year shipped, so the "
                     "latest year was used.",
}
INDICATOR_GRAINS = {
    "indicator_id": "Indicator id (see the indicators table).",
    "period_type": "The indicator's period type (its YAML period_type; year by default).",
    "records_not_counted": ("Current records in the indicator's denominator whose period is "
                            "coarser than the indicator's (a yearly row for a quarterly "
                            "indicator) or straddles two of its periods: not counted."),
    "aggregate_rows_not_counted": ("Current aggregate rows for the indicator whose period is "
                                   "not exactly one of its periods: not counted."),
    "aggregate_periods_not_counted": "Those rows' partner and period, as 'partner period'.",
    "records_other_calendar": ("Of records_not_counted: school or fiscal years dated by an "
                               "earlier `calendar:` start month, which straddle today's years; "
                               "`backbone rebuild` dates them by today's calendar."),
}
POVERTY_GUIDELINES = {
    "year": "Guideline year (HHS poverty guidelines).",
    "region": "contiguous (48 states and DC), alaska or hawaii.",
    "first_person": "Guideline for a household of one, in US dollars a year.",
    "each_additional": "Added for each further person in the household.",
    "floor_first_person": ("The previous year's first_person: the line used is never lower than "
                           "the previous year's (empty for the first year)."),
    "floor_each_additional": "The previous year's each_additional, as a floor likewise.",
    "source": "Where the figures come from (the Federal Register notice).",
}
PART_CHANGES = {
    "run_id": "The run that made the change.",
    "how": ("nightly run, accepted by a data lead (a held change applied with backbone accept), "
            "or a warehouse migration that needs the outputs measured again (no partner, part)."),
    "partner_id": "Partner whose files made the change.",
    "source_table": "The table changed (records or aggregate_counts).",
    "part": "The part: a period of person records, or an indicator and period of aggregate cells.",
    "batch": ("Files judged together as one submission (same night, same part) share a batch: "
              "its lowest submission_id."),
    "submission_ids": "The files of the batch.",
    "rows_before": "Rows of the part that counted before.",
    "rows_carried": "Rows the files carry for the part.",
    "rows_kept": "Of those, people (or cells) that already counted and were sent again.",
    "rows_after": "Rows of the part that count after (for a held change: what it would be).",
    "rows_listed": ("Rows that counted before whose person the files list only in rows they set "
                    "aside (quarantined): kept, never removed by a complete file."),
    "decision": ("added (a new part), updated (people added or updated) or replaced (a complete "
                 "file: people it does not carry stop counting)."),
    "held": ("True when the change would have shrunk the part by more than the allowed share: "
             "nothing of it applies until a data lead accepts it."),
    "decided_at": "When it was decided.",
    "published": "True once outputs were published with it.",
}
SET_ASIDE = {
    "submission_id": "The file whose rows for the part do not count.",
    "indicator_id": "Indicator of the part (aggregate cells).",
    "period": "Period of the part (its label, as stored in the rows).",
    "reason": "replaced (by a complete newer file) or held (until a data lead accepts it).",
    "by_submission": "The file that replaced them (empty when held).",
    "decided_at": "When it was decided.",
}
SUPERSEDED = {
    "submission_id": "The file whose row no longer counts.",
    "source_row": "That row's number in the file (header = row 1).",
    "by_submission": ("The newer file with a row for the same person and period (or cell), or "
                      "the complete file that removed the row while keeping another row of its "
                      "file and period (a person it listed in a row it set aside)."),
    "decided_at": "When it was decided.",
}
QUARANTINED_KEYS = {
    "submission_id": "The file.",
    "source_row": "The set-aside row's number in the file (header = row 1).",
    "person_key": ("The person the row lists, hashed as in records (empty when the id or the "
                   "period is the broken cell, or the row is another partner's)."),
    "period": "The period the row lists (its label; empty as for person_key).",
    "period_type": "The period's type.",
    "period_start": "The period's first day.",
}
INDICATORS = {
    "indicator_id": "Indicator id (the YAML file name under indicators/<initiative>/).",
    "title": "Indicator title.",
    "description": "What the indicator measures.",
    "unit": ("How the scorecard shows the rate (percent: a value of 0.42 shows as 42%); value, "
             "baseline_value and target_value are proportions 0 to 1 whatever the unit."),
    "direction": "higher_is_better or lower_is_better.",
    "source": "records (measured from person-level rows) or aggregates (partners' counts).",
    "disaggregations": "Breakdowns published for it (race, class, race_x_class, partner).",
    "period_type": "The indicator's period type: year, school_year, fiscal_year, quarter, month.",
    "baseline_period": "Period of the declared baseline.",
    "baseline_value": "Declared baseline value (0 to 1).",
    "target_period": "Period of the target.",
    "target_value": "Target value (0 to 1).",
}
SUBMISSIONS_BY_PARTNER_PERIOD = {
    "partner_id": "Partner.",
    "period": ("Period of the rows (a day for dated rows); empty for files that put no rows in "
               "the warehouse (rejected or duplicate). A held file's rows are loaded: it has "
               "its periods, with rows_current 0."),
    "status": "File status (see submissions.status).",
    "files": "Files of this partner, period and status.",
    "rows_loaded": "Rows those files loaded for the period.",
    "rows_current": ("Of those, rows that count now (records_current/aggregate_counts_current): "
                     "rows of replaced or held files count 0."),
    "first_received_at": "When the first of those files was taken.",
    "last_received_at": "When the latest of those files was taken.",
    "latest_file_name": "The latest of those files, as the partner named it.",
}
QUARANTINE_BY_RULE = {
    "partner_id": "Partner.",
    "rule": "The rule broken (e.g. out_of_range, wrong_type, unknown_race_code).",
    "column_name": "The intake column that broke it.",
    "files": "Files with at least one such cell.",
    "rows_affected": "Rows set aside for it (a row can break several rules).",
    "cells": "Cells that broke it.",
    "last_received_at": "When the latest such file was taken.",
}
BACKBONE_SCHEMA = {
    "version": "Warehouse layout version.",
    "reached_at": "When the warehouse reached it.",
    "how": "How: created new, or migrated from an older version (the copy kept aside).",
}
DATA_DICTIONARY = {
    "database_name": "Database (the snapshot's name as attached).",
    "schema_name": "Schema: main (files, runs) or an initiative id.",
    "table_name": "Table or view.",
    "kind": "table or view.",
    "table_comment": "What one row of the table is.",
    "column_index": "Position of the column.",
    "column_name": "Column.",
    "data_type": "DuckDB type.",
    "column_comment": "What the column means.",
}

MAIN_TABLES = {
    "submissions": ("One row per partner file received, whatever happened to it.", SUBMISSIONS),
    "quarantine": ("One row per cell set aside for breaking a rule. The value as sent is not in "
                   "the snapshot (it is in the partner's own bad_rows.csv).", QUARANTINE),
    "runs": ("One row per nightly run.", RUNS),
    "backbone_schema": ("One row per warehouse layout version reached (pipelines/migrations/): "
                        "the highest is the layout this warehouse has.", BACKBONE_SCHEMA),
    "data_dictionary": ("One row per column of every table and view of this database, with "
                        "the comments that explain them.", DATA_DICTIONARY),
}


def _initiative_tables(config: InitiativeConfig | None) -> dict[str, tuple[str, dict[str, str]]]:
    records = {**LINEAGE, **_record_columns(config)}
    aggregates = {**LINEAGE, **AGGREGATE_FIXED, **_intake_descriptions(config, aggregate=True)}
    cells = {**CELL, "indicator_id": _indicator_ids(config)}
    results = {**RESULT, "indicator_id": _indicator_ids(config)}
    return {
        "records": ("One row per accepted row of a partner's person-level file (every file ever "
                    "loaded; records_current has the rows that count).", records),
        "records_current": ("The records that count now: at most one row per partner, person "
                            "and period (dated rows: every event of the person's day), from the "
                            "latest data each partner sent.", records),
        "aggregate_counts": ("One row per indicator, period, race and class group of a partner's "
                             "aggregate file (every file ever loaded).", aggregates),
        "aggregate_counts_current": ("The aggregate counts that count now: each partner's latest "
                                     "file per indicator and period.", aggregates),
        "indicator_cells": ("One row per indicator, period, partner (or ALL), race tabulation, "
                            "race and class: every cell measured, suppressed ones included with "
                            "their counts (not published as such).", cells),
        "indicator_results": ("Indicator results as published (data/published/<initiative>/"
                              "partnership/indicator_results.parquet; public/ has only the "
                              "partner_id ALL rows): one row per indicator, period, partner (or "
                              "ALL), race tabulation, race and class that the indicator "
                              "publishes; suppressed cells have no numbers.", results),
        "disparities": ("One row per indicator, period, partner (or ALL), dimension and group "
                        "compared with the reference group (suppressed groups left out).",
                        DISPARITIES),
        "poverty_guideline_years": ("One row per calendar year in which records' periods "
                                    "start: the poverty guideline year that classed them.",
                                    GUIDELINE_YEARS),
        "indicator_grains": ("One row per indicator: its period type and what was not counted "
                             "because of it (also in the published manifest).",
                             INDICATOR_GRAINS),
        "poverty_guidelines": ("One row per guideline year and region: the HHS poverty "
                               "guidelines class is computed from (schemas/equity/).",
                               POVERTY_GUIDELINES),
        "part_changes": ("One row per part (a period, the month of dated rows, or an "
                         "indicator and period) that a "
                         "partner's files changed, per run or accept: rows before and after, "
                         "and the decision. What partner reports say about earlier data.",
                         PART_CHANGES),
        "records_set_aside": ("One row per file and period whose records do not count now "
                              "(replaced by a complete newer file, or held).", SET_ASIDE),
        "records_superseded": ("One row per record replaced by a newer row for the same person "
                               "and period, or removed by a complete file (see by_submission).",
                               SUPERSEDED),
        "records_quarantined_keys": ("One row per set-aside (quarantined) row of a person-level "
                                     "file: the person and period it lists. A complete file "
                                     "keeps those people's earlier rows.", QUARANTINED_KEYS),
        "aggregate_counts_set_aside": ("One row per file, indicator and period whose counts do "
                                       "not count now (replaced, or held).", SET_ASIDE),
        "aggregate_counts_superseded": ("One row per aggregate cell replaced by a newer one "
                                        "for the same cell.", SUPERSEDED),
        "indicators": ("One row per indicator defined for the initiative "
                       "(indicators/<initiative>/*.yaml).", INDICATORS),
        "submissions_by_partner_period": (
            "One row per partner, period and file status: files received and rows they loaded "
            "and still count. A file with rows in several periods appears in each.",
            SUBMISSIONS_BY_PARTNER_PERIOD),
        "quarantine_by_rule": ("One row per partner, rule and column: how many cells, rows and "
                               "files broke it (no values).", QUARANTINE_BY_RULE),
        "quality_flags": FLAGS_TABLE,
    }


def table_descriptions(config: InitiativeConfig | None) -> dict[str, tuple[str, dict[str, str]]]:
    """Every table and view analysts see: name -> (what a row is, {column: meaning}).

    Names without a schema: the main tables and the initiative's own tables share one dict
    because they do not collide. `config` None (definitions that no longer load) still describes
    everything but the YAML-derived texts.
    """
    return {**MAIN_TABLES, **_initiative_tables(config)}


def column_descriptions(config: InitiativeConfig | None, table: str) -> dict[str, str]:
    return table_descriptions(config)[table][1]


def parquet_kv_metadata(config: InitiativeConfig, table: str) -> str:
    """`KV_METADATA {...}` for a DuckDB `COPY ... (FORMAT parquet, ...)` of a published table."""
    description, columns = table_descriptions(config)[table]
    pairs = {"description": description, **{f"description:{k}": v for k, v in columns.items()}}
    return "KV_METADATA {" + ", ".join(f"{sql_literal(k)}: {sql_literal(v)}"
                                       for k, v in pairs.items()) + "}"



def _intake_descriptions(config: InitiativeConfig | None, aggregate: bool = False) -> dict:
    schema = None if config is None else (config.aggregate_schema if aggregate
                                          else config.record_schema)
    return {} if schema is None else {c.name: c.description for c in schema.columns
                                      if c.description}


def _record_columns(config: InitiativeConfig | None) -> dict[str, str]:
    columns = {**_intake_descriptions(config), **RECORD_FIXED, "period": RECORD_PERIOD,
               **PERIODS}
    columns.update({f"race_{code}": f"True if the person was reported as {label} (SPD 15, "
                    "select all that apply)." for code, label in SPD15.items()})
    columns.setdefault("household_income", "Annual household income in US dollars.")
    columns.setdefault("household_size", "People in the household.")
    columns["state"] = columns.get("state", "State of residence.") + " Blank = initiative's state."
    return columns


def _indicator_ids(config: InitiativeConfig | None) -> str:
    if config is None:
        return CELL["indicator_id"]
    listed = "; ".join(f"{i.id} = {i.title}" for i in config.indicators)
    return f"Indicator id: {listed} (definitions in the indicators table)."
