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
from pipelines.equity.race import code_lookup
from pipelines.equity.standards import RaceStandard
from pipelines.period_intake import PERIODS, period_rules
from pipelines.sql import sql_literal

if TYPE_CHECKING:  # imported where used: GX takes seconds to import
    import great_expectations as gx

VIEW = "typed"
# The SQL type each intake-schema column type is typed to (and stored as, for measures).
SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "date": "DATE"}
# Integer roles that end in an INTEGER record column (standardize.record_columns and
# AGGREGATE_COLUMNS). They are typed to INTEGER here, so a value past its range ("99999999999")
# is a quarantined `wrong_type` cell, not a cast that fails the whole file in standardize.
INTEGER_ROLES = frozenset({"household_size"})


def typed_sql_type(column: IntakeColumn) -> str:
    """The SQL type of `column` in `typed`: the type of the record column it ends in."""
    if column.role == "period":
        # Whatever its declared type ("integer" in templates from before period types): text,
        # each distinct value read once by pipelines.period_intake.
        return "VARCHAR"
    if column.type == "integer" and column.role in INTEGER_ROLES:
        return "INTEGER"
    return SQL_TYPES[column.type]
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


def _mapped_text(column: str, crosswalk: Crosswalk) -> str:
    mapping = crosswalk.values.get(column)
    if not mapping:
        return column
    cases = " ".join(f"WHEN lower({column}) = {sql_literal(str(k).lower())} THEN {sql_literal(str(v))}"
                     for k, v in mapping.items())
    return f"(CASE {cases} ELSE {column} END)"


def _number_text(text: str) -> str:
    """Partner numbers as DuckDB reads them: "$1,234.50", "1.234,5" and "25000,50" all work.

    A comma is a thousands separator only in groups of three ("81,236", "1,234,567.5"); a lone
    comma before the last digits is a decimal comma (European exports, usually ';' files); dots in
    groups of three before a decimal comma are thousands. Anything else stays as written and fails
    the type rule rather than being read as a different number. So are spaces: only thousands
    groups ("20 000", "1 234 567,5") lose theirs; "1 2" is not 12. The space rule wraps the comma
    rules rather than feeding them: nested, each copy of the text multiplied the expression and a
    small file's staging took 40% longer.
    """
    dollars = f"replace({text}, '$', '')"
    # One space may also stand next to the sign or a dropped "$" ("$ 20000", "- 5", "5 $").
    spaced = "' ?-? ?(\\d+|\\d{1,3}( \\d{3})+)([.,]\\d+)? ?'"
    bare = f"replace({dollars}, ' ', '')"
    commas = (f"(CASE WHEN NOT contains({bare}, ',') THEN {bare} "
              f"WHEN regexp_full_match({bare}, '-?\\d{{1,3}}(,\\d{{3}})+(\\.\\d+)?') "
              f"THEN replace({bare}, ',', '') "
              f"WHEN regexp_full_match({bare}, '-?(\\d+|\\d{{1,3}}(\\.\\d{{3}})+),\\d+') "
              f"THEN replace(replace({bare}, '.', ''), ',', '.') "
              f"ELSE {bare} END)")
    # A space elsewhere keeps the text as written, which then fails the type rule.
    return (f"(CASE WHEN contains({text}, ' ') AND NOT regexp_full_match({dollars}, {spaced}) "
            f"THEN {text} ELSE {commas} END)")


def _bound(value: float) -> str:
    """100000000 reads as 100,000,000, but a year stays 2000."""
    if value != int(value):
        return f"{value:g}"
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.0f}"


def _typed(column: IntakeColumn, text: str) -> str:
    if column.type == "string":
        return text
    number = f"TRY_CAST({_number_text(text)} AS DOUBLE)"
    if column.type == "number":
        # "inf", "NaN" and "1e400" (read as inf) are no amount: NULL, so `wrong_type`, not a
        # value that passes an unbounded column and poisons every sum it enters.
        return f"(CASE WHEN isfinite({number}) THEN {number} END)"
    if column.type == "integer":
        # An integer written the way DuckDB writes it back ("0", "2024", "-3"), the usual case,
        # is cast directly: a third of the CPU of matching a regular expression first. Anything
        # else ("05", "1,000", "2.0") takes the general path, which parses the text thrice. Past
        # the range of the record column it ends in, a whole number is no integer we can hold:
        # NULL, so `wrong_type`.
        target = typed_sql_type(column)
        direct = f"TRY_CAST({text} AS {target})"
        return (f"(CASE WHEN {direct}::VARCHAR = {text} THEN {direct} "
                f"WHEN {number} = floor({number}) THEN TRY_CAST({number} AS {target}) END)")
    return f"TRY_CAST({text} AS DATE)"


def typed_columns(schema: IntakeSchema, crosswalk: Crosswalk,
                  present: list[str]) -> tuple[str, str]:
    """The columns of `typed`: every template column, `<name>` typed and `<name>__text` as the
    partner wrote it (NULL for columns the file lacks), as two SELECT lists for `read.load_csv`:
    what is computed while parsing and stored, and what the view adds over the stored columns.

    Typing while parsing holds the file in memory once, and GX then runs its dozens of queries on
    stored values, not on casts and regular expressions redone per query. Only what differs is
    stored: a text column the crosswalk does not recode is its own `__text`, and a column the
    file lacks is a NULL constant. Stored, those took more memory than the file's real columns.
    """
    stored, exposed = [], []
    for column in schema.columns:
        name = column.name
        text = _mapped_text(name, crosswalk)
        if name not in present:
            exposed += [f"NULL::{typed_sql_type(column)} AS {name}",
                        f"NULL::VARCHAR AS {name}__text"]
        elif column.role == "person_id" and column.type == "string" and text == name:
            stored.append(f"{_person_id_text(name)} AS {name}")  # stripped, as read
            exposed += [name, f"{name} AS {name}__text"]
        elif (column.type == "string" or column.role == "period") and text == name:
            stored.append(name)
            exposed += [name, f"{name} AS {name}__text"]
        elif column.role == "period":
            stored += [f"{text} AS {name}", f"{name} AS {name}__text"]
            exposed += [name, f"{name}__text"]
        else:
            stored += [f"{_typed(column, text)} AS {name}", f"{name} AS {name}__text"]
            exposed += [name, f"{name}__text"]
    return ", ".join(stored) or "NULL AS _no_template_column", ", ".join(exposed)


# Invisible characters a person id loses at its edges, like the spaces the read stage trims:
# controls (tab, CR), zero-width space/joiners, word joiner, a stray BOM, and the Unicode spaces.
# They come from copy-paste, no partner can see them, and kept they hash to another person.
_EDGE = (r"[\x00-\x20\x7f\x{85}\x{a0}\x{1680}\x{2000}-\x{200f}\x{2028}-\x{202f}"
         r"\x{205f}-\x{2064}\x{3000}\x{feff}]")


def _person_id_text(name: str) -> str:
    """`name` without invisible edge characters (NULL if nothing else). The usual id begins and
    ends with a visible ASCII character: two code point tests, ~80 ns a row on one core (a fifth
    of hashing it); only other ids take the regular expression."""
    return (f"(CASE WHEN ascii({name}) BETWEEN 33 AND 126 AND ascii(right({name}, 1)) BETWEEN "
            f"33 AND 126 THEN {name} ELSE NULLIF(regexp_replace({name}, '^{_EDGE}+|{_EDGE}+$', "
            f"'', 'g'), '') END)")


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
            suite.add_expectation(_unexpected_rows(
                "wrong_type", name, f"{label!r} must be {kind}.",
                f"{name}__text IS NOT NULL AND {name} IS NULL", f"{name}__text"))
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
        if column.pattern:
            suite.add_expectation(_unexpected_rows(
                "bad_format", name, f"{label!r} has characters or a shape it may not have.",
                f"{name}__text IS NOT NULL AND NOT regexp_full_match({name}__text, "
                f"{gx_literal(column.pattern)})", f"{name}__text"))
        if column.role == "race_codes":
            lookup = code_lookup(crosswalk, race)  # race: the workspace's SPD 15 standard
            known = ", ".join(gx_literal(k) for k in sorted(lookup))
            separator = gx_literal(crosswalk.race_separator)
            # Codes are checked once per distinct code list (a few hundred in a file), then
            # joined back to the rows: 5x faster than splitting every row's list. A cell that is
            # a known code as a whole ("2+" under a "+" separator) is that code, not split (as
            # in standardize); a bad cell is reported as the partner wrote it, not its piece.
            suite.add_expectation(gx.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query=(
                    f"SELECT t._row, t.{name}__text AS value FROM {{batch}} t JOIN (SELECT "
                    f"DISTINCT {name} FROM (SELECT {name}, trim(unnest(string_split({name}, "
                    f"{separator}))) AS value FROM (SELECT DISTINCT {name} FROM {{batch}} WHERE "
                    f"{name} IS NOT NULL AND lower(trim({name})) NOT IN ({known}))) "
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
    detailed = (f"SELECT {group} FROM {{batch}} WHERE {race} <> 'ALL' AND {klass} <> 'ALL'")
    checks = []
    for margin, member in ((race, klass), (klass, race)):
        for measure in (num, den):
            checks.append(f"""SELECT {group} FROM {{batch}} GROUP BY {group}, {member}
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
        count = details.get("unexpected_count", details.get("observed_value", 0))
        if not isinstance(count, int):
            count = 0 if item.success else 1
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


def _failing_rows_query(config, details: dict) -> str:
    if config.type == "unexpected_rows_expectation":
        return config.kwargs["unexpected_rows_query"].format(batch=VIEW)  # as GX substitutes it
    native = details["unexpected_index_query"].strip().rstrip(";")
    # GX selects (_row, <column>); expose the second column as `value` for one insert shape.
    return f"SELECT _row, NULL::VARCHAR AS value FROM ({native})"
