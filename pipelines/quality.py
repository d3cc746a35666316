"""Data quality over time: flag for review (never reject) what looks off against a partner's own
history.

Every check compares one partner-period with the same partner's previous periods of the same
period type (ordered by period_start; the last `max_history` of them, and only when there are at
least `min_history`):

- `row_count`: rows in records_current per partner and reported period (dated rows by month);
- `indicator_value`: the partner's rate per indicator (indicator_cells, race ALL, class ALL);
  both are flagged when the modified z-score (Iglewicz & Hoaglin) is beyond `z_threshold` AND
  the change is large enough to matter (`row_count_min_change`, `indicator_min_change`);
- `group_share`, `group_vanished`, `group_appeared`: each race-alone group's share (Not reported
  included) and class Not reported's share of the partner-period's denominator, per indicator,
  against the median share of the history (only periods with `min_denominator` people);
- `measure_missing`: rows came but none with a value in a template measure column the partner
  filled in every previous period.

When MAD is 0 the mean absolute deviation scales the score instead; when that is 0 too (every
previous period the same) the score is empty and any change of at least the minimum is flagged.
A period with no rows at all is not a quality flag: `backbone status` shows it as missing.

Flags land in `<initiative>.quality_flags`, rebuilt after every measure. A flag built from a
suppressed cell (`involves_suppressed`) is told to the partner (its own data) and to staff, but
is left out of the published quality_flags.parquet, which other partners read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import duckdb
from pydantic import Field, model_validator

from pipelines.periods import end_sql, label_sql, start_sql
from pipelines.sql import has_table, sql_literal
from pipelines.yaml_models import _Strict

if TYPE_CHECKING:
    from pipelines.config import InitiativeConfig

CHECKS = ("row_count", "indicator_value", "group_share", "measure_missing")
# Iglewicz & Hoaglin's constants: z = 0.6745 (x - median) / MAD makes a normal sample's score
# a standard deviation; when MAD is 0 (over half the history identical) the mean absolute
# deviation stands in, scaled by sqrt(2/pi) = 0.7979 for the same reason.
MAD_SCALE, MEAN_AD_SCALE = 0.6745, 0.7979


class Quality(_Strict):
    """`quality:` in initiative.yaml: what counts as far from a partner's own history."""

    checks: tuple[Literal["row_count", "indicator_value", "group_share", "measure_missing"],
                  ...] = CHECKS
    min_history: int = Field(default=4, ge=2, strict=True)
    max_history: int = Field(default=12, ge=2, strict=True)
    z_threshold: float = Field(default=3.5, gt=0, allow_inf_nan=False)
    # A z-score alone flags 1,010 rows after a history of exactly 1,000: a change must also be
    # this large, relative to the median (row counts) or in share points (indicator values).
    row_count_min_change: float = Field(default=0.10, ge=0, allow_inf_nan=False)
    indicator_min_change: float = Field(default=0.05, ge=0, le=1, allow_inf_nan=False)
    share_jump: float = Field(default=0.20, gt=0, le=1, allow_inf_nan=False)
    vanish_share: float = Field(default=0.05, gt=0, le=1, allow_inf_nan=False)
    # Group shares of fewer people move by chance: with 20, one person is 5 share points.
    min_denominator: int = Field(default=50, ge=1, strict=True)

    @model_validator(mode="after")
    def _window_holds_minimum(self) -> Quality:
        if self.max_history < self.min_history:
            raise ValueError(f"max_history ({self.max_history}) must be at least min_history "
                             f"({self.min_history})")
        return self


FLAG_COLUMNS = (
    ("partner_id", "VARCHAR", "The partner whose data looks different."),
    ("period", "VARCHAR", "The period flagged: the partner's reported period (row_count, "
     "measure_missing; dated rows by month) or the indicator's period."),
    ("period_type", "VARCHAR", "year, school_year, fiscal_year, quarter or month."),
    ("period_start", "DATE", "First day of the period (order by this, not by the label)."),
    ("period_end", "DATE", "Last day of the period (inclusive)."),
    ("check_name", "VARCHAR", "row_count, indicator_value, group_share, group_vanished, "
     "group_appeared or measure_missing."),
    ("indicator_id", "VARCHAR", "The indicator (indicator_value and group checks), else empty."),
    ("subject", "VARCHAR", "What was compared: 'rows', the indicator id, 'race: <group>' or "
     "'class: <group>', or the measure column."),
    ("value", "DOUBLE", "This period's value: rows, rate, share of the denominator, or rows "
     "with the measure (0)."),
    ("expected", "DOUBLE", "The median of the same value over the partner's previous periods."),
    ("score", "DOUBLE", "Modified z-score (row_count, indicator_value; empty when every previous "
     "period had the same value), or the change in share (group checks)."),
    ("history_periods", "INTEGER", "How many previous periods the comparison used."),
    ("message", "VARCHAR", "The flag in plain language."),
    ("involves_suppressed", "BOOLEAN", "True when a count behind the flag is suppressed in "
     "published results: such flags are not in quality_flags.parquet."),
)
FLAGS_TABLE = ("One row per partner-period value that looks different from the partner's own "
               "history (pipelines/quality.py): flagged for review, nothing rejected. Rebuilt "
               "after every measure.", {name: text for name, _, text in FLAG_COLUMNS})
FLAGS_DDL = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in FLAG_COLUMNS)
PUBLISHED = [name for name, _, _ in FLAG_COLUMNS if name != "involves_suppressed"]
SERIES, HISTORY, COUNTS = "_quality_series", "_quality_history", "_quality_counts"
KEYS = ("check_name", "partner_id", "indicator_id", "subject", "period_type", "period_start")


def _reported_periods_sql(source: str) -> str:
    """`source` (records_current, or its parts) with the period each row is compared in: its
    own, or its month when the row is dated (a day has too few rows to have a history)."""
    day = "period_type = 'day'"
    return (f"SELECT *, CASE WHEN {day} THEN 'month' ELSE period_type END AS q_type, "
            f"CASE WHEN {day} THEN {label_sql('period_start', 'month')} ELSE period END "
            f"AS q_period, "
            f"CASE WHEN {day} THEN {start_sql('period_start', 'month')} ELSE period_start END "
            f"AS q_start, CASE WHEN {day} THEN {end_sql('period_start', 'month')} "
            f"ELSE period_end END AS q_end FROM {source}")


def _record_series(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                   parts: str | None) -> None:
    checks = config.initiative.quality.checks
    measures = [c.name for c in config.record_schema.by_role("measure")
                ] if "measure_missing" in checks else []
    if "row_count" not in checks and not measures:
        return
    keys = "partner_id, q_period, q_type, q_start, q_end"
    if parts is None:
        # One pass over the records counts rows and each measure's values per partner-period.
        counts = "".join(f", count({m})::DOUBLE AS {m}" for m in measures)
        records = _reported_periods_sql(f"{config.id}.records_current")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {COUNTS} AS SELECT {keys}, count(*)::DOUBLE "
                    f"AS _rows{counts} FROM ({records}) GROUP BY {keys}")
    else:
        # The same counts, summed from measure's per-part counts of the same records.
        counts = "".join(f", sum(with_{m})::DOUBLE AS {m}" for m in measures)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {COUNTS} AS SELECT {keys}, sum(n)::DOUBLE "
                    f"AS _rows{counts} FROM ({_reported_periods_sql(parts)}) GROUP BY {keys}")
    if "row_count" in checks:
        con.execute(f"INSERT INTO {SERIES} SELECT 'row_count', partner_id, '', 'rows', q_period, "
                    f"q_type, q_start, q_end, _rows, false FROM {COUNTS}")
    if measures:
        con.execute(f"""
            INSERT INTO {SERIES}
            SELECT 'measure_missing', partner_id, '', subject, q_period, q_type, q_start, q_end,
                   x, false
            FROM (UNPIVOT (SELECT {keys}, {', '.join(measures)} FROM {COUNTS})
                  ON {', '.join(measures)} INTO NAME subject VALUE x)""")


def _cell_series(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> None:
    settings = config.initiative.quality
    checks = settings.checks
    cells = f"{config.id}.indicator_cells"
    hidden = "coalesce(suppressed, false)" if _has_column(con, config.id, "indicator_cells",
                                                          "suppressed") else "false"
    totals = (f"SELECT partner_id, indicator_id, period, period_type, period_start, period_end, "
              f"numerator, denominator, {hidden} AS hidden FROM {cells} WHERE partner_id <> 'ALL' "
              f"AND race_tabulation = 'total' AND class = 'ALL' AND denominator > 0")
    if "indicator_value" in checks:
        con.execute(f"INSERT INTO {SERIES} SELECT 'indicator_value', partner_id, indicator_id, "
                    f"indicator_id, period, period_type, period_start, period_end, "
                    f"numerator / denominator, hidden FROM ({totals})")
    if "group_share" in checks:
        not_reported = sql_literal(config.standards.class_bands.not_reported_label)
        # A group missing from a period is a known zero: every period of the partner's
        # indicator is compared for every group it ever had.
        con.execute(f"""
            INSERT INTO {SERIES}
            WITH totals AS ({totals}),
            groups AS (
                SELECT partner_id, indicator_id, period_start, 'race: ' || race AS subject,
                       denominator, {hidden} AS hidden
                FROM {cells} WHERE partner_id <> 'ALL' AND race_tabulation = 'alone'
                  AND class = 'ALL'
                UNION ALL
                SELECT partner_id, indicator_id, period_start, 'class: ' || class, denominator,
                       {hidden}
                FROM {cells} WHERE partner_id <> 'ALL' AND race_tabulation = 'total'
                  AND class = {not_reported}),
            subjects AS (SELECT DISTINCT partner_id, indicator_id, subject FROM groups)
            SELECT 'group_share', t.partner_id, t.indicator_id, s.subject, t.period,
                   t.period_type, t.period_start, t.period_end,
                   coalesce(g.denominator, 0) / t.denominator,
                   t.hidden OR coalesce(g.hidden, false)
            FROM totals t JOIN subjects s USING (partner_id, indicator_id)
            LEFT JOIN groups g USING (partner_id, indicator_id, period_start, subject)
            WHERE t.denominator >= {settings.min_denominator}""")


def _has_column(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_columns() WHERE database_name = "
                            "current_database() AND schema_name = ? AND table_name = ? AND "
                            "column_name = ?", [schema, table, column]).fetchall()[0][0])


def _history_sql(settings: Quality) -> str:
    """Each series point with its history's median, MAD, mean absolute deviation and minimum."""
    keys = ", ".join(KEYS)
    on = " AND ".join(f"h.{k} = s.{k}" for k in KEYS if k != "period_start")
    return f"""
    WITH pairs AS (
        SELECT {', '.join(f's.{k}' for k in KEYS)}, h.x AS hx, h.hidden AS h_hidden,
               row_number() OVER (PARTITION BY {', '.join(f's.{k}' for k in KEYS)}
                                  ORDER BY h.period_start DESC) AS back
        FROM {SERIES} s JOIN {SERIES} h ON {on} AND h.period_start < s.period_start
    ),
    recent AS (SELECT * FROM pairs WHERE back <= {settings.max_history}),
    centre AS (SELECT {keys}, count(*)::INTEGER AS n, median(hx) AS m, min(hx) AS low,
                      bool_or(h_hidden) AS h_hidden
               FROM recent GROUP BY {keys}),
    spread AS (SELECT {keys}, median(abs(hx - m)) AS mad, avg(abs(hx - m)) AS mean_ad
               FROM recent JOIN centre USING ({keys}) GROUP BY {keys})
    SELECT s.*, n, m, low, mad, mean_ad, s.hidden OR c.h_hidden AS involves_suppressed,
           CASE WHEN mad > 0 THEN {MAD_SCALE} * (x - m) / mad
                WHEN mean_ad > 0 THEN {MEAN_AD_SCALE} * (x - m) / mean_ad END AS z
    FROM {SERIES} s JOIN centre c USING ({keys}) JOIN spread USING ({keys})
    WHERE n >= {settings.min_history}"""


def _flagged_sql(settings: Quality) -> str:
    """The flagged points, with the check each one fails (round(): 0.25 - 0.05 is 0.2 in
    share points, not 0.19999999999999998)."""
    change = "round(abs(x - m), 9)"
    vanished = f"m >= {settings.vanish_share} AND x = 0"
    appeared = f"m = 0 AND x >= {settings.vanish_share}"
    far = f"(z IS NULL OR abs(z) > {settings.z_threshold}) AND {change} > 0"
    return f"""
    SELECT * REPLACE (CASE WHEN check_name <> 'group_share' THEN check_name
                           WHEN {vanished} THEN 'group_vanished'
                           WHEN {appeared} THEN 'group_appeared'
                           ELSE 'group_share' END AS check_name),
           CASE WHEN check_name = 'group_share' THEN x - m
                WHEN check_name <> 'measure_missing' THEN z END AS score
    FROM (SELECT * FROM {HISTORY} WHERE CASE check_name
        WHEN 'row_count' THEN {far} AND {change} >= {settings.row_count_min_change} * abs(m)
        WHEN 'indicator_value' THEN {far} AND {change} >= {settings.indicator_min_change}
        WHEN 'group_share' THEN ({vanished}) OR ({appeared}) OR {change} >= {settings.share_jump}
        WHEN 'measure_missing' THEN x = 0 AND low > 0
    END)"""


def build_flags(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                parts: str | None = None) -> int:
    """(Re)build `<initiative>.quality_flags` from records_current and indicator_cells (after
    measure and suppression); returns how many flags there are. `parts`: measure's count of
    the current records per part (`measure_reuse.count_parts`), when it is at hand: the rows
    per partner-period are summed from it instead of counted again."""
    from pipelines.quality_text import message  # which imports this module

    settings = config.initiative.quality
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SERIES} (check_name VARCHAR, partner_id VARCHAR, "
                "indicator_id VARCHAR, subject VARCHAR, period VARCHAR, period_type VARCHAR, "
                "period_start DATE, period_end DATE, x DOUBLE, hidden BOOLEAN)")
    try:
        if has_table(con, config.id, "records_current") or _has_view(con, config.id,
                                                                     "records_current"):
            _record_series(con, config, parts)
        if has_table(con, config.id, "indicator_cells"):
            _cell_series(con, config)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {HISTORY} AS {_history_sql(settings)}")
        cursor = con.execute(f"{_flagged_sql(settings)} ORDER BY partner_id, period_start, "
                             "check_name, indicator_id, subject")
        names = [d[0] for d in cursor.description]
        found = [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        for temporary in (HISTORY, SERIES, COUNTS):
            con.execute(f"DROP TABLE IF EXISTS temp.{temporary}")
    rows = [(f["partner_id"], f["period"], f["period_type"], f["period_start"], f["period_end"],
             f["check_name"], f["indicator_id"] or None, f["subject"], f["x"], f["m"], f["score"],
             f["n"], message(config, f), bool(f["involves_suppressed"])) for f in found]
    table = f"{config.id}.quality_flags"
    con.execute(f"CREATE OR REPLACE TABLE {table} ({FLAGS_DDL})")
    if rows:
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in FLAG_COLUMNS)})",
                        rows)
    return len(rows)


def _has_view(con: duckdb.DuckDBPyConnection, schema: str, view: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE database_name = "
                            "current_database() AND schema_name = ? AND view_name = ?",
                            [schema, view]).fetchall()[0][0])


def flags_for(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
              partner_id: str | None = None) -> list[dict]:
    """The current flags (all partners, or one), by partner and period start, as dicts keyed by
    the quality_flags columns; [] before the first measure built the table."""
    if not has_table(con, config.id, "quality_flags"):
        return []
    where, params = ("WHERE partner_id = ?", [partner_id]) if partner_id else ("", [])
    cursor = con.execute(f"SELECT * FROM {config.id}.quality_flags {where} ORDER BY partner_id, "
                         "period_start, check_name, indicator_id, subject", params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def flag_periods(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
                 partner_id: str | None = None):  # noqa: ANN201 - pyarrow.Table
    """(partner_id, period_start) of the current flags as Arrow, straight from DuckDB: the
    nightly status counts them, and Arrow built from Python rows would import pandas (0.4 s)."""
    where = (f"WHERE partner_id = {sql_literal(partner_id)}" if partner_id else "")
    source = (f"SELECT partner_id, period_start FROM {config.id}.quality_flags {where}"
              if has_table(con, config.id, "quality_flags") else
              "SELECT NULL::VARCHAR AS partner_id, NULL::DATE AS period_start WHERE false")
    return con.sql(source).to_arrow_table()


def publish_flags(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, folder: Path) -> None:
    """`quality_flags.parquet` in a partnership version: every flag but those resting on a
    suppressed cell (a share and its denominator would give the hidden count back)."""
    if not has_table(con, config.id, "quality_flags"):
        return
    description, columns = FLAGS_TABLE
    metadata = {"description": description}
    metadata.update({f"description:{name}": columns[name] for name in PUBLISHED})
    pairs = ", ".join(f"{sql_literal(k)}: {sql_literal(v)}" for k, v in metadata.items())
    con.execute(f"COPY (SELECT {', '.join(PUBLISHED)} FROM {config.id}.quality_flags WHERE NOT "
                f"involves_suppressed ORDER BY period_start, partner_id, check_name, "
                f"indicator_id, subject) TO {sql_literal(str(folder / 'quality_flags.parquet'))} "
                f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{pairs}}})")
