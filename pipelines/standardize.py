"""Standardize stage: validated rows -> the shared record shape, in one set-based query.

- person_id is replaced by `person_key`: the first 128 bits of sha256(salt || ':' || id), as a
  UHUGEINT. The raw id never leaves the staging step. 128 bits make a collision among even a
  billion people vanishingly unlikely, and a fixed-width integer key counts distinct people
  several times faster than a 64-character hex string.
- race/ethnicity becomes seven SPD 15 flags from local codes and/or HMIS 0/1 columns;
  "not reported" stays explicit (all flags false, `race_reported` false), never dropped. SPD 15's
  "more than one race, not specified" ("2+") sets `race_multi_unspecified` and no flag: counted as
  Multiracial and/or Multiethnic alone, never in an "alone or in combination" group.
- period: the partner's value (a year, a label in any accepted form, a date) as the canonical
  label at the grain they reported, its type, start and end (pipelines/periods.py), read once per
  distinct value into `_periods` (pipelines/period_intake.py) and joined back.
- class: household income as a ratio of the HHS poverty guideline of the year the period starts
  in, household size and state, banded; otherwise the partner's proxy (free/reduced lunch,
  Medicaid) via crosswalk. What class is computed from (income, size, state, period, the
  partner's proxy value as sent) is kept in the record, and `measure` re-derives class from it
  with the workspace's current guidelines, bands and crosswalks. The `poverty_ratio` and `class`
  stored here are as classed on the day of loading, for the partner's report and for audit;
  published numbers never read them.
- Standards (race, bands, guidelines) are the workspace's, from `config.standards`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import duckdb

from pipelines.config import Crosswalk, InitiativeConfig, IntakeSchema, Workspace
from pipelines.equity.poverty import (period_years_sql, ratio_sql, region_sql,
                                     register_poverty_guidelines)
from pipelines.equity.race import MULTI_UNSPECIFIED, code_lookup
from pipelines.equity.standards import RaceStandard, class_band_sql
from pipelines.sql import sql_literal
from pipelines.unicode_forms import nfc_sql
from pipelines.period_intake import PERIODS
from pipelines.typed import SQL_TYPES
from pipelines.validate import VIEW

RACE_CODES = ("aian", "asian", "black", "hispanic", "mena", "nhpi", "white")
# The mask bit of SPD 15 "more than one race, not specified" (after the seven codes' bits).
MULTI_BIT = 1 << len(RACE_CODES)
# The period as the partner reported it (canonical label at their grain) and its dates.
PERIOD_COLUMNS = [("period", "VARCHAR"), ("period_type", "VARCHAR"), ("period_start", "DATE"),
                  ("period_end", "DATE")]


def salt_file(workspace: Workspace, initiative_id: str) -> Path:
    return workspace.path("data", "warehouse", "salts", f"{initiative_id}.salt")


class SaltMissing(RuntimeError):
    """The salt is gone or changed while files hashed with it are kept: every person sent from
    then on would be someone new."""


def _write_private(path: Path, text: str) -> None:
    """Written whole, then renamed: a crash must never leave an empty salt behind, which would
    then hash every id unsalted from that night on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def ensure_salt(workspace: Workspace, initiative_id: str) -> None:
    """Create the initiative's secret salt once. Losing or changing it makes new ids unlinkable
    to old ones, so once files of the initiative were taken (`data/archive/<initiative>/`) a
    missing salt is an error (SaltMissing), never replaced; and the salt in use (the file's or
    BACKBONE_SALT_<X>'s) must be the one of earlier nights (`<initiative>.salt.check` keeps a
    hash of it)."""
    variable = f"BACKBONE_SALT_{initiative_id.upper()}"
    path = salt_file(workspace, initiative_id)
    archive = workspace.path("data", "archive", initiative_id)
    restore = (f"restore the salt from backup (or set {variable} to it). A new salt would make "
               "every person sent from now on someone new, counted twice.")
    if not os.environ.get(variable) and not path.exists():
        if archive.is_dir() and any(p.is_file() for p in archive.rglob("*")):
            raise SaltMissing(f"{path} is missing, but files of '{initiative_id}' were already "
                              f"taken ({archive}): {restore}")
        _write_private(path, secrets.token_hex(32))
    check = path.with_name(f"{initiative_id}.salt.check")
    fingerprint = hashlib.sha256(f"backbone salt check:{read_salt(workspace, initiative_id)}"
                                 .encode()).hexdigest()
    if not check.exists():
        _write_private(check, fingerprint)
    elif check.read_text().strip() != fingerprint:
        source = variable if os.environ.get(variable) else str(path)
        raise SaltMissing(f"the salt in {source} is not the one '{initiative_id}' used before "
                          f"(checked against {check}): {restore}")


def read_salt(workspace: Workspace, initiative_id: str) -> str:
    from_env = os.environ.get(f"BACKBONE_SALT_{initiative_id.upper()}")
    if from_env:
        return from_env
    path = salt_file(workspace, initiative_id)
    if not path.exists():
        raise RuntimeError(f"{path}: the initiative's salt is missing; run ensure_salt first")
    salt = path.read_text().strip()
    if len(salt) < 32:
        raise RuntimeError(f"{path}: the initiative's salt is empty or too short; restore it from "
                           "backup (a new one would make new ids unlinkable to earlier ones)")
    return salt


def record_columns(schema: IntakeSchema) -> list[tuple[str, str]]:
    """(name, type) of the standardized record table, lineage columns excluded."""
    columns = [("partner_id", "VARCHAR"), ("person_key", "UHUGEINT"), *PERIOD_COLUMNS]
    columns += [(f"race_{code}", "BOOLEAN") for code in RACE_CODES]
    columns += [("race_multi_unspecified", "BOOLEAN"), ("race_reported", "BOOLEAN"),
                ("household_income", "DOUBLE"),
                ("household_size", "INTEGER"), ("state", "VARCHAR"), ("poverty_ratio", "DOUBLE"),
                ("class", "VARCHAR"), ("class_proxy_value", "VARCHAR")]
    columns += [(c.name, SQL_TYPES[c.type]) for c in schema.by_role("measure")]
    return columns


def _race_flags_sql(schema: IntakeSchema, crosswalk: Crosswalk,
                    race: RaceStandard) -> tuple[str, list[str]]:
    """`typed` with each row's race codes as a bit mask (`_race_mask`), and SELECT expressions
    for the seven race flags from that mask (`t._race_mask`) and/or HMIS 0/1 columns.

    Each local code maps to its SPD 15 codes' bits through one MAP lookup, and a row's codes
    (select all that apply) are OR-ed together: no unnest, regroup or join back per row. A file
    holds a few hundred distinct code lists at most, so the mask is computed once per distinct
    list and joined back: 4x faster than per row on 2.5 M rows.
    """
    code_col = next((c.name for c in schema.by_role("race_codes")), None)
    flag_cols = {c.race_code: c.name for c in schema.by_role("race_flag")}
    with_mask = f"(SELECT *, 0 AS _race_mask FROM {VIEW})"
    if code_col:
        bits = {local: sum(MULTI_BIT if code == MULTI_UNSPECIFIED else 1 << RACE_CODES.index(code)
                           for code in codes)
                for local, codes in code_lookup(crosswalk, race).items()}
        lookup = "MAP {" + ", ".join(f"{sql_literal(k)}: {v}" for k, v in bits.items()) + "}"
        separator = sql_literal(crosswalk.race_separator)
        # A cell that is a known code as a whole ("2+" under a "+" separator) is not split.
        whole = f"{lookup}[lower(trim({code_col}))]"
        mask = (f"coalesce(CASE WHEN contains({code_col}, {separator}) AND {whole} IS NULL "
                f"THEN list_aggregate("
                f"list_transform(string_split({code_col}, {separator}), "
                f"lambda c: coalesce({lookup}[lower(trim(c))], 0)), 'bit_or') "
                f"ELSE {whole} END, 0)")
        # Each distinct list read in NFC (pipelines.unicode_forms): a decomposed code matches.
        distinct = (f"SELECT {code_col} AS _as_sent, {nfc_sql(code_col)} AS {code_col} FROM "
                    f"(SELECT DISTINCT {code_col} FROM {VIEW} WHERE {code_col} IS NOT NULL)")
        with_mask = (f"(SELECT v.*, coalesce(m._race_mask, 0) AS _race_mask FROM {VIEW} v "
                     f"LEFT JOIN (SELECT _as_sent AS {code_col}, {mask} AS _race_mask FROM "
                     f"({distinct})) m USING ({code_col}))")
    flags = []
    for bit, code in enumerate(RACE_CODES):
        sources = [f"(t._race_mask & {1 << bit}) <> 0"]
        if code in flag_cols:
            sources.append(f"coalesce(t.{flag_cols[code]} = 1, false)")
        flags.append(f"({' OR '.join(sources)}) AS race_{code}")
    flags.append(f"(t._race_mask & {MULTI_BIT}) <> 0 AS race_multi_unspecified")
    return with_mask, flags


def person_key_sql(salt: str, person: str) -> str:
    """The person key of id `person`. Never change it: warehouses hold these keys."""
    return f"('0x' || left(sha256({sql_literal(salt)} || ':' || {person}), 32))::UHUGEINT"


def ids_repeat(con: duckdb.DuckDBPyConnection, person: str) -> bool:
    """Whether `typed` holds each person id on two rows or more on average (dated and monthly
    files): then each distinct id is hashed once and joined back. When ids are distinct (one
    row per person and period), the DISTINCT and the join cost a third more than hashing every
    row; this estimate costs 4% of hashing them."""
    return con.execute(f"SELECT 2 * approx_count_distinct({person}) <= count({person}) "
                       f"FROM {VIEW}").fetchall()[0][0] or False


def standardize(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, partner_id: str,
                salt: str, quarantine: str = "quarantine", out: str = "records",
                hash_each_id_once: bool | None = None) -> int:
    """Create `out` from the `typed` view minus quarantined rows; returns rows written.

    `hash_each_id_once`: hash each distinct person id once rather than every row (the same
    keys); by default when `ids_repeat`."""
    schema = config.record_schema
    crosswalk = config.crosswalks[partner_id]
    register_poverty_guidelines(con, config.standards.poverty_guidelines)
    bands = config.standards.class_bands
    with_race_mask, race_flags = _race_flags_sql(schema, crosswalk, config.standards.race)
    person = schema.by_role("person_id")[0].name
    period = schema.by_role("period")[0].name

    def role(name: str, fallback: str = "NULL") -> str:
        found = schema.by_role(name)
        return f"t.{found[0].name}" if found else fallback

    # A blank state is stored blank: it means the initiative's `state`, which measure applies
    # each run (profiles._amount_sql), so a corrected `state:` reprices those households too.
    sent_state = f"upper({role('state')})"
    region = region_sql(f"coalesce({sent_state}, {sql_literal(config.initiative.state or 'XX')})")
    proxy_cases = " ".join(f"WHEN {role('class_proxy')} = {sql_literal(k)} THEN {sql_literal(v)}"
                           for k, v in crosswalk.class_proxy.items())
    proxy = f"(CASE {proxy_cases} END)" if proxy_cases else "NULL"
    per_year = " * 12" if crosswalk.household_income_per == "month" else ""
    measures = [c.name for c in schema.by_role("measure")]
    flag_names = [f"race_{c}" for c in RACE_CODES]
    if hash_each_id_once is None:
        hash_each_id_once = ids_repeat(con, person)
    if hash_each_id_once:
        person_key, keys = "h.person_key", (
            f"LEFT JOIN (SELECT {person}, {person_key_sql(salt, person)} AS person_key FROM "
            f"(SELECT DISTINCT {person} FROM {VIEW} WHERE {person} IS NOT NULL)) h "
            f"ON h.{person} = t.{person}")
    else:
        person_key, keys = person_key_sql(salt, f"t.{person}"), ""

    con.execute(f"""
        CREATE OR REPLACE TABLE {out} AS
        WITH base AS (
            SELECT t._row, p.label AS period, p.period_type, p.period_start, p.period_end,
                   {sent_state} AS state, {region} AS region,
                   {role('household_income')}::DOUBLE{per_year} AS household_income,
                   {role('household_size')}::INTEGER AS household_size,
                   {person_key} AS person_key,
                   {proxy} AS proxy_class, {role('class_proxy')}::VARCHAR AS class_proxy_value,
                   {', '.join(race_flags)},
                   {', '.join('t.' + m for m in measures)}
            FROM {with_race_mask} t
            LEFT JOIN {PERIODS} p ON p.text = t.{period}
            {keys}
            WHERE t._row NOT IN (SELECT _row FROM {quarantine})
        ),
        guideline_year AS (
            -- The periods come from `_periods`, not `base`, so that `base` is read once and
            -- streams instead of being materialized (about 9x the file's size in memory). The
            -- guideline year is that of the period's start (a school year 2023-24 takes 2023's),
            -- never the label's digits. A period before the first guideline year gets no ratio
            -- here; measure reports it.
            {period_years_sql(f"SELECT DISTINCT year(period_start) AS period FROM {PERIODS} "
                              "WHERE period_start IS NOT NULL")}
        ),
        rated AS (
            SELECT base.*, {ratio_sql('base.household_income', 'base.household_size')}
                       AS poverty_ratio
            FROM base
            LEFT JOIN guideline_year y ON y.period = year(base.period_start)
            LEFT JOIN poverty_guidelines g ON g.region = base.region AND g.year = y.guideline_year
        )
        SELECT _row AS source_row, {sql_literal(partner_id)} AS partner_id, person_key, period,
               period_type, period_start, period_end, {', '.join(flag_names)},
               race_multi_unspecified,
               ({' OR '.join(flag_names)} OR race_multi_unspecified) AS race_reported,
               household_income, household_size, state, poverty_ratio,
               coalesce({class_band_sql('poverty_ratio', bands)}, proxy_class,
                        {sql_literal(bands.not_reported_label)}) AS class, class_proxy_value
               {''.join(', ' + m for m in measures)}
        FROM rated
    """)
    return con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0]


AGGREGATE_COLUMNS = [("partner_id", "VARCHAR"), ("indicator_id", "VARCHAR"), *PERIOD_COLUMNS,
                     ("race", "VARCHAR"), ("class", "VARCHAR"), ("numerator", "BIGINT"),
                     ("denominator", "BIGINT")]


def standardize_aggregates(con: duckdb.DuckDBPyConnection, schema: IntakeSchema, partner_id: str,
                           quarantine: str = "quarantine", out: str = "records") -> int:
    """Aggregate rows keep their grain; only names and types are made uniform."""
    column = schema.role_column
    con.execute(f"""
        CREATE OR REPLACE TABLE {out} AS
        SELECT _row AS source_row, {sql_literal(partner_id)} AS partner_id,
               {column('indicator_id')} AS indicator_id, p.label AS period, p.period_type,
               p.period_start, p.period_end,
               {column('race_group')} AS race, {column('class_group')} AS class,
               {column('numerator')}::BIGINT AS numerator,
               {column('denominator')}::BIGINT AS denominator
        FROM {VIEW} t LEFT JOIN {PERIODS} p ON p.text = t.{column('period')}
        WHERE _row NOT IN (SELECT _row FROM {quarantine}) ORDER BY _row""")
    return con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0]


def set_aside_broken_tables(con: duckdb.DuckDBPyConnection, schema: IntakeSchema,
                            quarantine: str = "quarantine") -> int:
    """Quarantine every row of an aggregate table (indicator x period, as written) that has a
    quarantined row; returns the rows added. A table only means something whole: without its
    impossible cell (13 of 12) its total, which still counts that cell, would be published
    with subgroups that no longer add up to it. The sum check sets an unbalanced table aside
    the same way. One join over the quarantined rows' tables: nothing to do in a clean file."""
    indicator, period = schema.role_column("indicator_id"), schema.role_column("period")
    before = con.execute(f"SELECT count(*) FROM {quarantine}").fetchall()[0][0]
    con.execute(f"""
        INSERT INTO {quarantine}
        SELECT t._row, '{indicator}+{period}', 'table_set_aside',
               concat_ws(' / ', t.{indicator}__text, t.{period}__text),
               'The table of ' || t.{indicator} || ' for ' || t.{period} || ' is set aside '
               || 'whole: its row ' || b.first_row || ' has a problem (' || b.rule || '), and a '
               || 'table only counts whole (its rows must add up to its totals). Fix that row and '
               || 'send the whole table again.'
        FROM {VIEW} t JOIN (
            SELECT v.{indicator}, v.{period}, min(q._row) AS first_row,
                   arg_min(q.rule, q._row) AS rule
            FROM {VIEW} v JOIN {quarantine} q ON q._row = v._row GROUP BY ALL) b
          USING ({indicator}, {period})
        WHERE t._row NOT IN (SELECT _row FROM {quarantine}) ORDER BY t._row""")
    return con.execute(f"SELECT count(*) FROM {quarantine}").fetchall()[0][0] - before
