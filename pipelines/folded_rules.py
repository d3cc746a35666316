"""A suite's row rules validated as one Great Expectations row query instead of one expectation
each.

GX's own Python costs 5 to 9 ms per expectation and validation, whatever the file's size: 0.28 s
of `backbone check` on the sample's 1,000 rows (25 rules), 0.63 s on a template of 38 columns (77
rules), and most of staging a small file (`benchmarks/RESULTS.md`, 2026-11-30). Every row rule
names a set of failing rows, so `fold` writes each as SQL, tagged with the rule's place in the
suite, and joins them into one `UnexpectedRowsExpectation` that GX validates (rules that are one
condition on a row share one scan, see `_scan_once`; the others are UNION branches):

- an `UnexpectedRowsExpectation` contributes its own query;
- GX's column-map expectations contribute the condition GX itself renders for DuckDB
  (`column_values.nonnull`, `column_values.in_set`, `column_values.between`, inclusive): the
  NULL cells for not-null, the non-NULL cells outside the set or the bounds for the others.

Any other expectation, or one with options not translated here (`mostly`, strict bounds, a row
condition), stays a GX expectation of its own. `record_failures` then splits the failing rows by
rule into the quarantine, and returns one outcome per rule of the original suite, in the order
GX reports them, with the rule, column, message, expectation type, count and success the rule has when GX
validates it alone (tests/test_folded_rules.py compares both on the bad-file corpus). Should the
folded query fail, the file is validated again with the unfolded suite.

The folded query runs once per file, into `_folded_failures`, and GX validates the batch joined
to those rows. Given the folded query itself, GX ran it twice (a count, then up to 200 rows) and
`record_failures` a third time to split the cells by rule, each time 0.25-0.3 s CPU on a 450k-row
file: more than the unfolded suite cost on large files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.validate import (VIEW, RuleOutcome, ValidationOutcome, failing_count,
                                gx_literal, run_suite)

FOLDED = "folded_row_rules"
PLACE = "folded_place"  # meta key of an expectation validated alone: its place among them
# The folded query's rows (_row, value, _rule). Not TEMP: GX reads it on its own connection.
FAILED = "_folded_failures"
# What GX validates for the folded rules: the batch's rows that the folded query found failing.
# The JOIN makes GX substitute `{batch}` as it stands, under the alias given here.
READ_FAILED = f"SELECT f._row, f.value, f._rule FROM {{batch}} b JOIN {FAILED} f USING (_row)"
_COLUMN_MAP = {"expect_column_values_to_not_be_null", "expect_column_values_to_be_in_set",
               "expect_column_values_to_be_between"}


@dataclass(frozen=True)
class _Rule:
    type: str
    meta: dict
    tag: int | None  # its number in the folded query; None: validated as an expectation alone
    place: int | None  # its number among the expectations validated alone


def _in_gx_order(rules: list[_Rule], columns: list[object]) -> tuple[_Rule, ...]:
    """The order GX reports results in (`Validator.process_expectations_for_validation`): grouped
    by the `column` argument, groups in order of first appearance, expectations without one
    together. The outcomes keep it, so a file's rules are listed as they were unfolded."""
    groups: dict[object, list[_Rule]] = {}
    for rule, column in zip(rules, columns):
        groups.setdefault(column if isinstance(column, str) else None, []).append(rule)
    return tuple(rule for group in groups.values() for rule in group)


@dataclass(frozen=True)
class FoldedSuite:
    original: object  # the suite as built (validated instead if the folded query fails)
    suite: object  # the expectations GX validates: the unfolded ones, then READ_FAILED
    rules: tuple[_Rule, ...]  # every expectation of `original`, in the order GX reports them
    query: str | None = None  # the folded row query (`{batch}` for the table), run into FAILED


def _literal(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None  # GX binds these its own way: left to GX
    return gx_literal(value)


def failing_rows_sql(kind: str, kwargs: dict) -> str | None:
    """`SELECT _row, value FROM {batch} ...`: the rows the expectation finds unexpected, or
    None when it is not translated."""
    if kind == "unexpected_rows_expectation":
        extra = set(kwargs) - {"unexpected_rows_query", "description"}
        return None if extra else kwargs["unexpected_rows_query"]
    if kind not in _COLUMN_MAP or set(kwargs) - {"column", "value_set", "min_value",
                                                 "max_value"}:
        return None
    column = kwargs.get("column")
    if not isinstance(column, str) or not column.isidentifier():
        return None
    if kind == "expect_column_values_to_not_be_null":
        where = f"{column} IS NULL"
    elif kind == "expect_column_values_to_be_in_set":
        values = kwargs.get("value_set")
        if values is None:
            return None  # vacuously true in GX: nothing to fold
        literals = [_literal(v) for v in values]
        if None in literals:
            return None
        # GX: an empty set accepts no value
        where = f"{column} IS NOT NULL" + (f" AND NOT ({column} IN ({', '.join(literals)}))"
                                          if literals else "")
    else:
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bounds = [(f"{column} >= {_literal(low)}", low), (f"{column} <= {_literal(high)}", high)]
        if any(v is not None and (isinstance(v, (bool, str)) or _literal(v) is None)
               for _, v in bounds) or (low is None and high is None):
            return None
        kept = " AND ".join(condition for condition, v in bounds if v is not None)
        where = f"{column} IS NOT NULL AND NOT ({kept})"
    return f"SELECT _row, NULL AS value FROM {{batch}} WHERE {where}"


_SIMPLE = re.compile(r"SELECT _row, (?P<value>.+?) AS value FROM \{batch\} WHERE (?P<where>.+)",
                     re.S)


def _one_scan(sql: str) -> tuple[str, str] | None:
    """(value, condition) of a rule that is one condition on each row alone, else None."""
    found = _SIMPLE.fullmatch(sql.strip())
    if found is None or re.search(r"\bselect\b|\{batch\}|\bover\b",
                                  f"{found['value']} {found['where']}", re.I):
        return None
    return found["value"], found["where"]


def _scan_once(rules: list[tuple[int, str, str]]) -> str:
    """The failing cells of every one-condition rule in one scan of the batch.

    As UNION branches, DuckDB binds the whole `typed` view (two columns per template column)
    once per branch: planning 70 branches took 0.3 s on a 1,000-row file, running them one scan
    each a few ms. Here the rows that fail any rule are kept first; only they build the list of
    their (value, rule) pairs, unnested to one row per failing cell.

    The list is `list_value(...)`, not `[...]`: when GX ran this query itself, it looked for JOIN
    in it (to decide how to substitute `{batch}`) after masking what it takes for quoted names,
    and `[...]` is one in SQL Server: the query failed on every person-level file."""
    cells = ", ".join(f"CASE WHEN {where} THEN struct_pack(value := CAST({value} AS VARCHAR), "
                      f"_rule := {tag}) END" for tag, value, where in rules)
    failing = " OR ".join(f"({where})" for _, _, where in rules)
    return (f"SELECT _row, cell.value AS value, cell._rule AS _rule FROM (SELECT _row, "
            f"unnest(list_value({cells})) AS cell FROM {{batch}} WHERE {failing}) "
            "WHERE cell IS NOT NULL")


def fold(suite) -> FoldedSuite:
    import great_expectations as gx

    from pipelines import gx_duckdb

    gx_duckdb.context()  # GX requires an active context even to assemble a suite
    alone, parts, rules, columns, scanned = [], [], [], [], []
    for expectation in suite.expectations:
        config = expectation.configuration
        columns.append(config.kwargs.get("column"))
        sql = failing_rows_sql(config.type, dict(config.kwargs))
        if sql is None:
            rules.append(_Rule(config.type, dict(config.meta or {}), None, len(alone)))
            alone.append(config)
            continue
        tag = len(rules)
        shape = _one_scan(sql)
        if shape is None:
            parts.append(f"SELECT _row, value::VARCHAR AS value, {tag} AS _rule FROM ({sql})")
        else:
            scanned.append((tag, *shape))
        rules.append(_Rule(config.type, dict(config.meta or {}), tag, None))
    if scanned:
        parts.insert(0, _scan_once(scanned))
    folded = gx.ExpectationSuite(name=f"{suite.name}.folded")
    for place, config in enumerate(alone):
        copy = config.to_domain_obj()
        copy.meta = {**(config.meta or {}), PLACE: place}  # finds its result again
        folded.add_expectation(copy)
    if parts:
        folded.add_expectation(gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=READ_FAILED, meta={"rule": FOLDED}))
    return FoldedSuite(suite, folded, _in_gx_order(rules, columns),
                       " UNION ALL ".join(parts) if parts else None)


def validate(con: duckdb.DuckDBPyConnection, database: Path | str, folded: FoldedSuite,
             quarantine: str = "quarantine") -> ValidationOutcome:
    """Run the folded suite on `typed` in `database` and fill `quarantine` as
    `validate.record_failures` does for the unfolded one."""
    failed = not run_folded_query(con, folded)
    if not failed:
        result = run_suite(database, folded.suite)
        mine = [item for item in result.results
                if (item.expectation_config.meta or {}).get("rule") == FOLDED]
        failed = bool(mine) and _raised(mine[0].exception_info)
    if failed:
        from pipelines import validate as unfolded

        con.execute(f"DROP TABLE IF EXISTS {FAILED}")
        return unfolded.record_failures(con, run_suite(database, folded.original), quarantine)
    return record_failures(con, result, quarantine, folded)


def run_folded_query(con: duckdb.DuckDBPyConnection, folded: FoldedSuite) -> bool:
    """The folded rules' failing cells into FAILED; False if the query fails (GX reported
    that as the expectation's error when it ran the query: the suite as built is validated)."""
    if folded.query is None:
        return True
    try:
        con.execute(f"CREATE OR REPLACE TABLE {FAILED} AS "
                    f"{folded.query.format(batch=VIEW)}")  # as GX substitutes it
    except duckdb.Error:
        return False
    return True


def _raised(info) -> bool:
    """GX files an exception under `raised_exception`, per metric when several were computed."""
    if not isinstance(info, dict):
        return False
    return bool(info.get("raised_exception")) or any(_raised(v) for v in info.values())


def record_failures(con: duckdb.DuckDBPyConnection, result, quarantine: str,
                    folded: FoldedSuite) -> ValidationOutcome:
    from pipelines.validate import _failing_rows_query

    con.execute(f"CREATE TABLE IF NOT EXISTS {quarantine} (_row BIGINT, column_name VARCHAR, "
                "rule VARCHAR, value VARCHAR, message VARCHAR)")
    row_count = con.execute(f"SELECT count(*) FROM {VIEW}").fetchall()[0][0]
    own = {item.expectation_config.meta[PLACE]: item for item in result.results
           if PLACE in (item.expectation_config.meta or {})}
    mine = next((item for item in result.results
                 if (item.expectation_config.meta or {}).get("rule") == FOLDED), None)
    counts: dict[int, int] = {}
    if mine is not None and not mine.success:  # else GX counted no failing cell
        counts = dict(con.execute(f"SELECT _rule, count(*) FROM {FAILED} GROUP BY _rule")
                      .fetchall())
        counted = (mine.result or {}).get("observed_value")
        if counted != sum(counts.values()):  # the rows GX counted are the rows set aside
            raise RuntimeError(f"GX counted {counted} failing cells of the folded rules, "
                               f"{FAILED} holds {sum(counts.values())}")
    outcomes = []
    for rule in folded.rules:
        meta = rule.meta
        column = meta.get("column", "")
        value = f"t.{column}__text" if column and "+" not in column else "NULL"
        params = {"column": column, "rule": meta.get("rule"), "message": meta.get("message")}
        if rule.tag is None:
            item = own[rule.place]
            details = item.result or {}
            count = failing_count(item)
            success = item.success
            if not success and meta.get("rule") != "no_rows":
                failing = _failing_rows_query(item.expectation_config, details)
                con.execute(f"INSERT INTO {quarantine} SELECT t._row, $column, $rule, "
                            f"coalesce(f.value::VARCHAR, {value}), $message FROM {VIEW} t "
                            f"JOIN ({failing}) f USING (_row)", params)
        else:
            count = counts.get(rule.tag, 0)
            success = count == 0
            if not success:
                con.execute(f"INSERT INTO {quarantine} SELECT t._row, $column, $rule, "
                            f"coalesce(f.value, {value}), $message FROM {VIEW} t "
                            f"JOIN {FAILED} f USING (_row) WHERE f._rule = {rule.tag}", params)
        outcomes.append(RuleOutcome(meta.get("rule", rule.type), column, meta.get("message", ""),
                                    rule.type, count, success))
    con.execute(f"DROP TABLE IF EXISTS {FAILED}")
    passed = sum(o.success for o in outcomes)
    statistics = {"evaluated_expectations": len(outcomes), "successful_expectations": passed,
                  "unsuccessful_expectations": len(outcomes) - passed,
                  "success_percent": 100 * passed / len(outcomes) if outcomes else None}
    return ValidationOutcome(all(o.success for o in outcomes), row_count, outcomes, statistics)
