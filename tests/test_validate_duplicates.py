"""The duplicate-key rule (repeated keys grouped, then joined back) finds the rows a window
counting each key's rows finds: NULL keys, day periods, labels written two ways."""

from __future__ import annotations

import duckdb

from pipelines.validate import build_suite

PERIODS = [("2024", "2024", "year"), ("2024-25", "2024-25", "school_year"),
           ("SY2025", "2024-25", "school_year"), ("2024-03-15", "2024-03-15", "day"),
           ("bad", None, None)]


def _duplicate_rule(suite) -> str:
    rule = next(e for e in suite.expectations if e.meta["rule"] == "duplicate_key")
    return rule.unexpected_rows_query.format(batch="typed")


def _rows(con, sql: str) -> list:
    return con.execute(sql).fetchall()


def _by_window(keys: list[str], period: str, events: str) -> str:
    partition = ", ".join(f"coalesce(p.label, b.{k})" if k == period else f"b.{k}" for k in keys)
    return (f"SELECT _row, NULL FROM typed WHERE _row IN (SELECT b._row FROM typed b LEFT JOIN "
            f"_periods p ON p.text = b.{period} WHERE b.{keys[0]} IS NOT NULL {events} "
            f"QUALIFY count(*) OVER (PARTITION BY {partition}) > 1)")


def _typed(con, columns: list[str], rows: list[tuple]) -> None:
    con.execute("CREATE TABLE _periods (text VARCHAR, label VARCHAR, period_type VARCHAR)")
    con.executemany("INSERT INTO _periods VALUES (?, ?, ?)", PERIODS)
    con.execute(f"CREATE TABLE typed (_row BIGINT, {', '.join(c + ' VARCHAR' for c in columns)}, "
                f"{', '.join(c + '__text VARCHAR' for c in columns)})")
    con.executemany(f"INSERT INTO typed VALUES (?, {', '.join('?' for _ in columns)}, "
                    f"{', '.join('?' for _ in columns)})",
                    [(i, *row, *row) for i, row in enumerate(rows, start=2)])


def test_person_rows(config):
    schema = config.record_schema
    ids = ["A", "B", "C", None, "a", "D'1", "E"]
    periods = ["2024", "2024-25", "SY2025", "2024-03-15", "bad", None]
    rows = [(i, p) for i in ids for p in periods] + [(i, p) for i in ids for p in periods[::2]]
    rows += [("F", None), ("F", None), ("G", "bad"), ("G", "bad"), ("H", "2024-03-15")] * 2
    con = duckdb.connect()
    _typed(con, ["person_id", "period"], rows)
    suite = build_suite(schema, config.crosswalks["riverbend_schools"], "riverbend_schools",
                        ["person_id", "period"], race=config.standards.race)
    found = _rows(con, f"SELECT _row, NULL FROM ({_duplicate_rule(suite)}) ORDER BY ALL")
    expected = _rows(con, _by_window(["person_id", "period"], "period",
                                     "AND p.period_type IS DISTINCT FROM 'day'")
                     + " ORDER BY ALL")
    assert found == expected
    assert len(found) > 40


def test_aggregate_cells(config):
    schema = config.aggregate_schema
    keys = list(schema.unique)  # indicator, period, race, class
    period = schema.role_column("period")
    choices = {period: ["2024", "SY2025", "2024-25", None]}
    rows = []
    for n in range(60):  # NULLs in every key but the first, which must be there to count
        rows.append(tuple(["i1", "i2", None][n % 3] if not i else
                          choices.get(k, ["x", "y", None])[(n // (i + 1)) % len(choices.get(
                              k, "xyz"))] for i, k in enumerate(keys)))
    con = duckdb.connect()
    _typed(con, keys, rows + rows[:10])
    suite = build_suite(schema, config.crosswalks["riverbend_housing"], "riverbend_housing",
                        keys, race=config.standards.race)
    found = _rows(con, f"SELECT _row, NULL FROM ({_duplicate_rule(suite)}) ORDER BY ALL")
    assert found == _rows(con, _by_window(keys, period, "") + " ORDER BY ALL")
    assert len(found) > 20
