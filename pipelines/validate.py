"""Validate stage: Great Expectations suites generated from the intake schema, run in DuckDB.

Each rule of the schema becomes one expectation whose `meta` carries the rule name, the column and
a sentence for the partner. Failing rows are found with the query GX itself reports
(`unexpected_index_query`), or with the query given to an `UnexpectedRowsExpectation`, so the
quarantine holds exactly the rows GX counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipelines.config import Crosswalk, IntakeColumn, IntakeSchema
from pipelines.date_text import DATE_FORMS
from pipelines.equity.poverty import US_STATES
from pipelines.equity.race import code_lookup
from pipelines.equity.standards import RaceStandard
from pipelines.pattern_words import pattern_in_words
from pipelines.period_intake import PERIODS, period_rules
from pipelines.sql import sql_literal
from pipelines.unicode_forms import nfc_sql

# A count hidden by the partner's own small-cell rule: "<10", "< 11", "<=5", "≤10", "*", "n<11",
# "suppressed" (any case).
SUPPRESSED_COUNT = r"(?i)\s*((<=?|≤)\s*\d+|\*+|n\s*(<=?|≤)\s*\d+|suppressed|masked|redacted)\s*"
# What Excel shows and saves for a long number id ("1.23457E+11"): its digits are gone.
SCIENTIFIC_ID = r"\d([.,]\d+)?[eE][+]\d+"

if TYPE_CHECKING:  # imported where used: GX takes seconds to import
    import great_expectations as gx

VIEW = "typed"
# BASIC still gives every rule's unexpected_count and GX's own failing-row query (all that
# record_failures reads); SUMMARY would add one more query per rule for sample row numbers.
RESULT_FORMAT = {"result_format": "BASIC", "unexpected_index_column_names": ["_row"],
                 "return_unexpected_index_query": True, "partial_unexpected_count": 5}


@dataclass
class RuleOutcome:
    rule: str
    column: str
    message: str
    expectation: str
    unexpected_count: int
    success: bool


@dataclass
class ValidationOutcome:
    success: bool
    row_count: int
    outcomes: list[RuleOutcome] = field(default_factory=list)
    gx_statistics: dict = field(default_factory=dict)


def _bound(value: float) -> str:
    """100000000 reads as 100,000,000, but a year stays 2000."""
    if value != int(value):
        return f"{value:g}"
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.0f}"


def gx_literal(value: object) -> str:
    """A SQL literal inside a GX query: GX runs `query.format(batch=...)`, so braces (regex
    quantifiers like `{0,63}`) are doubled; unescaped, the expectation errors out."""
    return sql_literal(value).replace("{", "{{").replace("}", "}}")


def _meta(rule: str, column: str, message: str) -> dict:
    return {"rule": rule, "column": column, "message": message}


def _unexpected_rows(rule: str, column: str, message: str, where: str,
                     value: str) -> gx.Expectation:
    import great_expectations as gx

    query = f"SELECT _row, {value} AS value FROM {{batch}} WHERE {where}"
    return gx.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query=query, description=message, meta=_meta(rule, column, message))


def _accepted_values(column: IntakeColumn, crosswalk: Crosswalk) -> str:
    """What the partner may write: their crosswalk's local values first, then the template's."""
    local = [str(k) for k in crosswalk.values.get(column.name, {})]
    shared = ", ".join(str(v) for v in column.allowed or ())
    return f"{', '.join(local)} (or {shared})" if local else shared


def _race_codes_accepted(crosswalk: Crosswalk, lookup: dict[str, tuple[str, ...]]) -> str:
    """The codes to tell a partner about: their crosswalk's own, else the SPD 15 codes."""
    separator = crosswalk.race_separator
    if crosswalk.race_codes:
        return (f"Codes your crosswalk accepts: {', '.join(crosswalk.race_codes)} (several "
                f"separated by {separator!r}).")
    codes = sorted({code for codes in lookup.values() for code in codes})
    return (f"Use the SPD 15 codes ({', '.join(codes)}) or category names, several separated "
            f"by {separator!r}.")


def build_suite(schema: IntakeSchema, crosswalk: Crosswalk, partner_id: str,
                present: list[str], today: dt.date | None = None,
                indicator_ids: tuple[str, ...] = (),
                headers: dict[str, str] | None = None,
                race: RaceStandard | None = None) -> gx.ExpectationSuite:
    """`headers`: template column -> the partner's own header, used in every message."""
    from pipelines import gx_duckdb  # first: it configures GX before GX is imported

    import great_expectations as gx

    today = today or dt.date.today()
    headers = headers or {}
    gx_duckdb.context()  # GX requires an active context even to assemble a suite
    suite = gx.ExpectationSuite(name=f"{schema.id}.{partner_id}")
    suite.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(
        min_value=1, meta=_meta("no_rows", "", "The file has a header but no data rows.")))
    for column in schema.columns:
        name = column.name
        if name not in present:
            continue
        label = headers.get(name, name)
        if column.required:
            suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(
                column=f"{name}__text", meta=_meta("missing_value", name, f"{label!r} is required "
                                                   "and is blank.")))
        if column.role == "period":
            for rule in period_rules(column, crosswalk, label, today, _meta):
                suite.add_expectation(rule)
            continue
        if column.type != "string":
            # A 0/1 column the partner writes as Y/N: "must be an integer" would mislead them.
            kind = f"one of: {_accepted_values(column, crosswalk)}" if column.allowed is not None \
                else f"a{'n' if column.type == 'integer' else ''} {column.type}"
            if column.type == "date" and column.allowed is None:
                kind = f"a date ({DATE_FORMS}; month before day)"
            wrong = f"{name}__text IS NOT NULL AND {name} IS NULL"
            # "45%" (typed in a CSV, or a workbook cell shown so) is no number we can read: 45
            # and 0.45 are both plausible, and a wrong guess is 100 times off. chr(37) is "%",
            # spelled so that no SQL layer takes it for a parameter marker.
            percent = f"contains({name}__text, chr(37))" if column.type != "date" else None
            # "<10" or "*": a count the partner's own system suppressed (aggregate exports do).
            hidden = (f"regexp_full_match({name}__text, '{SUPPRESSED_COUNT}')"
                      if column.role in ("numerator", "denominator") else None)
            plain = " AND ".join(f"NOT {c}" for c in (percent, hidden) if c)
            suite.add_expectation(_unexpected_rows(
                "wrong_type", name, f"{label!r} must be {kind}.",
                f"{wrong} AND {plain}" if plain else wrong, f"{name}__text"))
            if hidden:
                suite.add_expectation(_unexpected_rows(
                    "suppressed_count", name, f"{label!r} holds a suppressed count, not the "
                    "count: send the exact number. Counts go only to the backbone team, which "
                    "hides small numbers itself before anything is published; a table with a "
                    "hidden count cannot be checked against its totals, so it is set aside "
                    "whole.", f"{wrong} AND {hidden}", f"{name}__text"))
            if percent:
                suite.add_expectation(_unexpected_rows(
                    "percent_sign", name, f"{label!r} is written as a percentage; it must be "
                    f"{kind}, without a % sign. A percentage is not read, since 45% could mean "
                    "45 or 0.45 and a wrong guess would be 100 times off: write the number "
                    "itself, as the template asks.", f"{wrong} AND {percent}", f"{name}__text"))
        if column.allowed is not None:
            suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(
                column=name, value_set=list(column.allowed), meta=_meta(
                    "not_allowed", name,
                    f"{label!r} must be one of: {_accepted_values(column, crosswalk)}.")))
        if column.min is not None or column.max is not None:
            bounds = f"between {_bound(column.min)} and {_bound(column.max)}" \
                if column.min is not None and column.max is not None else (
                    f"at least {_bound(column.min)}" if column.min is not None
                    else f"at most {_bound(column.max)}")
            suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(
                column=name, min_value=column.min, max_value=column.max,
                meta=_meta("out_of_range", name, f"{label!r} must be {bounds}.")))
        if column.max_is_current_year:
            suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(
                column=name, max_value=today.year, meta=_meta(
                    "future_period", name, f"{label!r} is in the future (after {today.year}).")))
        rounded = None
        if column.role == "person_id":
            # Excel shows a long number id as 1.2E+05 and saves it so: its digits are gone, and
            # kept, every id rounded alike would be one person.
            rounded = f"regexp_full_match({name}__text, '{SCIENTIFIC_ID}')"
            suite.add_expectation(_unexpected_rows(
                "id_in_scientific_notation", name, f"{label!r} is written in scientific "
                "notation, as Excel shows a long number: the id's last digits are lost, so the "
                "row cannot be matched to its person. Format the column as Text in Excel (or "
                "export the ids from the source system as text) and send the file again.",
                f"{name}__text IS NOT NULL AND {rounded}", f"{name}__text"))
        if column.pattern:
            suite.add_expectation(_unexpected_rows(
                "bad_format", name, f"{label!r} has characters or a shape it may not have"
                + (f": it {said}." if (said := pattern_in_words(column.pattern)) else "."),
                f"{name}__text IS NOT NULL AND NOT regexp_full_match({name}__text, "
                f"{gx_literal(column.pattern)})" + (f" AND NOT {rounded}" if rounded else ""),
                f"{name}__text"))
        if column.role == "state":
            states = ", ".join(gx_literal(s) for s in US_STATES)
            suite.add_expectation(_unexpected_rows(
                "not_a_state", name, f"{label!r} must be the two-letter code of a US state or DC "
                "(e.g. NM): the federal poverty guideline, which places a household's income, "
                "exists only for those.",
                f"{name}__text IS NOT NULL AND upper(trim({name}__text)) NOT IN ({states})",
                f"{name}__text"))
        if column.role == "race_codes":
            lookup = code_lookup(crosswalk, race)  # race: the workspace's SPD 15 standard
            known = ", ".join(gx_literal(k) for k in sorted(lookup))
            separator = gx_literal(crosswalk.race_separator)
            # Codes are checked once per distinct code list (a few hundred in a file), then
            # joined back to the rows: 5x faster than splitting every row's list. A cell that is
            # a known code as a whole ("2+" under a "+" separator) is that code, not split (as
            # in standardize); a bad cell is reported as the partner wrote it, not its piece.
            # Each distinct list is read in NFC (pipelines.unicode_forms), as standardize does.
            nfc = nfc_sql(name)
            suite.add_expectation(gx.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query=(
                    f"SELECT t._row, t.{name}__text AS value FROM {{batch}} t JOIN (SELECT "
                    f"DISTINCT {name} FROM (SELECT {name}, trim(unnest(string_split({nfc}, "
                    f"{separator}))) AS value FROM (SELECT DISTINCT {name} FROM {{batch}} WHERE "
                    f"{name} IS NOT NULL AND lower(trim({nfc})) NOT IN ({known}))) "
                    f"WHERE value <> '' AND lower(value) NOT IN ({known})) b USING ({name})"),
                meta=_meta("unknown_race_code", name, f"{label!r} has a code that is not in the "
                           "initiative's race/ethnicity crosswalk for this partner. "
                           + _race_codes_accepted(crosswalk, lookup))))
        if column.role == "class_proxy" and crosswalk.class_proxy:
            suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(
                column=name, value_set=list(crosswalk.class_proxy), meta=_meta(
                    "unknown_proxy_value", name, f"{label!r} must be one of: "
                    f"{', '.join(crosswalk.class_proxy)}.")))
        if column.role == "indicator_id":
            suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(
                column=name, value_set=list(indicator_ids), meta=_meta(
                    "unknown_indicator", name, f"{label!r} must be one of the initiative's "
                    f"indicators reported in aggregate: {', '.join(indicator_ids) or '(none)'}.")))
        if column.role == "partner_id":
            suite.add_expectation(_unexpected_rows(
                "other_partner", name, f"This row belongs to another partner, not {partner_id!r}; "
                "each partner sends only its own rows.",
                f"{name} IS NOT NULL AND lower({name}) <> {gx_literal(partner_id)}", name))
    if schema.kind == "aggregates":
        _add_aggregate_rules(suite, schema, headers)
    keys = [k for k in schema.unique if k in present]
    if keys and len(keys) == len(schema.unique):
        # Periods are compared as labels: "Q1 2024" and "2024Q1" are the same period. A dated
        # row is one event (a visit and a screening on one day are two): the key is not unique
        # at the day grain, so dated person rows are left out (resubmission keeps all of a
        # file's events; measure counts a person once per indicator period). Aggregate cells
        # stay unique whatever their grain.
        # The keys that repeat are grouped, then joined back (NULL keys group together, as in a
        # window's partition): a window counting each key's rows sorted every row, 2x the CPU.
        period = schema.role_column("period")
        key = [f"coalesce(p.label, b.{k})" if k == period else f"b.{k}" for k in keys]
        said = [headers.get(k, k) for k in keys]
        events = "AND p.period_type IS DISTINCT FROM 'day'" if schema.kind == "records" else ""
        rows = f"{{batch}} b LEFT JOIN {PERIODS} p ON p.text = b.{period}"
        kept = f"WHERE b.{keys[0]} IS NOT NULL {events}"
        repeated = (f"SELECT {', '.join(f'{k} AS k{i}' for i, k in enumerate(key))} FROM {rows} "
                    f"{kept} GROUP BY ALL HAVING count(*) > 1")
        same = " AND ".join(f"{k} IS NOT DISTINCT FROM d.k{i}" for i, k in enumerate(key))
        suite.add_expectation(_unexpected_rows(
            "duplicate_key", "+".join(keys), f"The same {' + '.join(said)} appears on more than "
            "one row; send one row per " + " per ".join(said) + ".",
            f"_row IN (SELECT b._row FROM {rows} JOIN ({repeated}) d ON {same} {kept})",
            f"concat_ws(' / ', {', '.join(k + '__text' for k in keys)})"))
    return suite


def _add_aggregate_rules(suite: gx.ExpectationSuite, schema: IntakeSchema,
                         headers: dict[str, str]) -> None:
    num, den = schema.role_column("numerator"), schema.role_column("denominator")
    race, klass = schema.role_column("race_group"), schema.role_column("class_group")
    group = f"{schema.role_column('indicator_id')}, {schema.role_column('period')}"
    suite.add_expectation(_unexpected_rows(
        "numerator_over_denominator", num,
        f"{headers.get(num, num)!r} cannot be larger than {headers.get(den, den)!r}.",
        f"{num} > {den}", f"{num}__text || ' > ' || {den}__text"))
    # Every margin must equal the sum of its cells, over races at each class and over classes at
    # each race. A period whose table does not add up is set aside whole: loading part of it
    # would publish totals that disagree with their own subgroups. In a table with race x class
    # cells, a race's (or class's) total with no cells under it sums to nothing: a row lost to a
    # mistyped period leaves exactly that.
    # Only rows labelled with the template's groups are cells: Excel's "Total" row under the
    # groups is set aside by its own rule, and summed as one more race it set aside a table that
    # adds up, each of its rows told the sums were wrong. A cell a typo lost ("Whte") still
    # leaves the margins short, and the table is set aside as before.
    labelled = " AND ".join(
        f"{c} IN ({', '.join(gx_literal(str(v)) for v in schema.column(c).allowed)})"
        for c in (race, klass) if schema.column(c).allowed)
    cells = f"(SELECT * FROM {{batch}} WHERE {labelled})" if labelled else "{batch}"
    detailed = f"SELECT {group} FROM {cells} WHERE {race} <> 'ALL' AND {klass} <> 'ALL'"
    checks = []
    for margin, member in ((race, klass), (klass, race)):
        for measure in (num, den):
            checks.append(f"""SELECT {group} FROM {cells} GROUP BY {group}, {member}
                HAVING (count(*) FILTER (WHERE {margin} <> 'ALL') > 0 OR ({member} <> 'ALL'
                        AND ({group}) IN ({detailed}))) AND
                       coalesce(sum({measure}) FILTER (WHERE {margin} <> 'ALL'), 0)
                       IS DISTINCT FROM any_value({measure}) FILTER (WHERE {margin} = 'ALL')""")
    sums = [f"({group}) IN ({' UNION '.join(checks)})"]
    suite.add_expectation(_unexpected_rows(
        "subgroups_do_not_sum", f"{num}+{den}", "The subgroup rows of this indicator and period do "
        "not add up to its 'ALL' total row (every race group and every class group must sum to "
        "the total, and the total row must be present).", " OR ".join(sums),
        f"{race}__text || ' / ' || {klass}__text"))


def run_suite(database: Path | str, suite: gx.ExpectationSuite):
    """Validate the `typed` view of `database` in-database with GX.

    Connections to `database` open in this process must come from `gx_duckdb.connect`.
    """
    from pipelines import gx_duckdb

    return gx_duckdb.validate(database, VIEW, suite, RESULT_FORMAT)


def record_failures(con: duckdb.DuckDBPyConnection, result,
                    quarantine: str = "quarantine") -> ValidationOutcome:
    """Fill `quarantine` with the failing cells of a GX result, using GX's own row queries."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {quarantine} (_row BIGINT, column_name VARCHAR, "
                "rule VARCHAR, value VARCHAR, message VARCHAR)")
    outcomes = []
    row_count = con.execute(f"SELECT count(*) FROM {VIEW}").fetchall()[0][0]
    for item in result.results:
        config = item.expectation_config
        meta = config.meta or {}
        details = item.result or {}
        count = failing_count(item)
        outcomes.append(RuleOutcome(meta.get("rule", config.type), meta.get("column", ""),
                                    meta.get("message", ""), config.type, count, item.success))
        if item.success or meta.get("rule") == "no_rows":
            continue
        query = _failing_rows_query(config, details)
        column = meta.get("column", "")
        value = f"{column}__text" if column and "+" not in column else "NULL"
        con.execute(
            f"INSERT INTO {quarantine} SELECT t._row, $column, $rule, "
            f"coalesce(f.value::VARCHAR, {('t.' + value) if value != 'NULL' else 'NULL'}), $message "
            f"FROM {VIEW} t JOIN ({query}) f USING (_row)",
            {"column": column, "rule": meta.get("rule"), "message": meta.get("message")})
    return ValidationOutcome(result.success, row_count, outcomes,
                             dict(result.statistics))


def failing_count(item) -> int:
    """Rows that broke one GX result's rule, as `submissions.validation` reports it."""
    if item.expectation_config.type == "expect_table_row_count_to_be_between":
        # Its observed_value is the file's row count: no row fails "the file has rows".
        return 0
    details = item.result or {}
    count = details.get("unexpected_count", details.get("observed_value", 0))
    return count if isinstance(count, int) else 0 if item.success else 1


def _failing_rows_query(config, details: dict) -> str:
    if config.type == "unexpected_rows_expectation":
        return config.kwargs["unexpected_rows_query"].format(batch=VIEW)  # as GX substitutes it
    native = details["unexpected_index_query"].strip().rstrip(";")
    # GX selects (_row, <column>); expose the second column as `value` for one insert shape.
    return f"SELECT _row, NULL::VARCHAR AS value FROM ({native})"
