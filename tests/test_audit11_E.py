"""What analysts read about the published tables: the data package declares each table's key
(so frictionless catches a repeated cell), and the column texts say what the data holds for
aggregate indicators' ALL rows, suppressed cells and the indicator unit."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
from frictionless import validate

from pipelines.datapackage import disparity_fields, result_fields, write_datapackage
from pipelines.dictionary import column_descriptions, parquet_kv_metadata

ARROW = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(),
         "boolean": pa.bool_(), "date": pa.date32()}


def _row(fields: list[dict], n: int) -> dict:
    """A row that satisfies every field's type and enum, distinct per `n` in its free text."""
    sample = {"string": f"g{n}", "integer": 10 + n, "number": 0.5, "boolean": False,
              "date": dt.date(2024, 1, 1)}
    row = {}
    for f in fields:
        enum = f.get("constraints", {}).get("enum")
        row[f["name"]] = enum[0] if enum else sample[f["type"]]
    return row


def _write(folder, name: str, fields: list[dict], rows: list[dict]) -> None:
    schema = pa.schema([(f["name"], ARROW[f["type"]]) for f in fields])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"{name}.parquet")


def _package(folder, config, duplicate: bool) -> dict:
    for name, fields in (("indicator_results", result_fields(config, public=False)),
                         ("disparities", disparity_fields(config, public=False))):
        rows = [_row(fields, 1), _row(fields, 2)]
        if duplicate:  # the same cell twice, with other numbers
            rows.append({**rows[0], **{f["name"]: 99 for f in fields if f["type"] == "integer"}})
        _write(folder, name, fields, rows)
    write_datapackage(folder, config, public=False, version="v", created="2026-01-01T00:00:00Z",
                      partner_ids=[])
    return json.loads((folder / "datapackage.json").read_text())


def test_datapackage_declares_each_tables_key_and_frictionless_checks_it(tmp_path, config):
    package = _package(tmp_path, config, duplicate=False)
    keys = {r["name"]: r["schema"].get("primaryKey") for r in package["resources"]}
    assert keys == {"indicator_results": ["indicator_id", "period", "partner_id",
                                          "race_tabulation", "race", "class"],
                    "disparities": ["indicator_id", "period", "partner_id", "dimension",
                                    "group_label"]}
    report = validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]

    repeated = tmp_path / "repeated"
    repeated.mkdir()
    _package(repeated, config, duplicate=True)
    report = validate(str(repeated / "datapackage.json"))
    errors = {e[0] for e in report.flatten(["type"])}
    assert not report.valid and "primary-key" in errors, errors


def test_partner_all_says_aggregate_rows_are_sums(config):
    for table in ("indicator_results", "indicator_cells", "disparities"):
        text = column_descriptions(config, table)["partner_id"]
        assert "sum" in text and "count twice" in text, (table, text)
    assert "may count twice" in parquet_kv_metadata(config, "indicator_results")


def test_texts_say_which_result_columns_are_empty_when_suppressed(config):
    results = column_descriptions(config, "indicator_results")
    assert "empty when suppressed" in results["low_reliability"]
    assert "denominator is 0" in results["value"]
    fields = {f["name"]: f["description"] for f in result_fields(config, public=True)}
    for name in ("ci_lower", "ci_upper", "low_reliability"):
        assert "empty when suppressed" in fields[name], name
    unit = column_descriptions(config, "indicators")["unit"]
    assert "0 to 1" in unit and "percent" in unit


def test_validation_json_counts_no_failing_rows_for_a_file_that_has_rows(workspace, config):
    """`submissions.validation` (in the analysts' snapshot) says per rule how many rows broke
    it; "the file has rows" held, so none did (GX's observed value is the row count)."""
    from pipelines.intake import stage_file

    from conftest import drop

    content = ("Student Number,School Year,Ethnicity/Race Codes,Lunch Status,K Readiness Met\n"
               + "".join(f"S{i},2024,200,R,N\n" for i in range(14)))
    path = drop(workspace, "riverbend_schools", "f.csv", content)
    staged = stage_file(path, config, "riverbend_schools", "salt", workspace.staging)
    assert staged.status == "staged" and staged.rows_read == 14, staged.problems
    no_rows = [r for r in staged.rules if r["rule"] == "no_rows"]
    assert no_rows and all(r["success"] and r["unexpected_count"] == 0 for r in no_rows)
    assert all(r["unexpected_count"] == 0 for r in staged.rules if r["success"])


def test_every_column_of_submissions_parquet_is_described():
    """README: the published Parquet files carry a description of every column."""
    from pipelines.status_page import COLUMN_MEANINGS
    from pipelines.submission_status import COLUMNS

    assert set(COLUMNS) - set(COLUMN_MEANINGS) == set()


def test_snapshot_tables_carry_no_keys_that_duckdb_1_0_cannot_read(workspace):
    """DuckDB 2 writes a PRIMARY KEY's index in a form DuckDB 1.0 refuses, even in 1.0's storage
    format: the whole snapshot failed to open ("Failed to deserialize ... field id: 103").
    Checked by hand with the duckdb 1.0.0 wheel; here: the snapshot holds no key."""
    import duckdb

    from pipelines import warehouse
    from pipelines.snapshot import snapshot_warehouse

    con = warehouse.connect(workspace.warehouse_file)
    con.execute("INSERT INTO runs (run_id, started_at) VALUES ('r1', now())")
    warehouse.close(con)
    with duckdb.connect(str(workspace.warehouse_file), read_only=True) as live:
        assert live.execute("SELECT count(*) FROM duckdb_constraints() WHERE constraint_type "
                            "= 'PRIMARY KEY'").fetchall()[0][0] > 0  # the live file keeps them
    snapshot = snapshot_warehouse(workspace, fresh=True)
    with duckdb.connect(str(snapshot), read_only=True) as snap:
        keys = snap.execute("SELECT table_name, constraint_type FROM duckdb_constraints() WHERE "
                            "constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')"
                            ).fetchall()
        assert keys == []
        assert snap.execute("SELECT run_id FROM runs").fetchall() == [("r1",)]
        assert snap.execute("SELECT comment FROM duckdb_tables() WHERE table_name = "
                            "'submissions'").fetchall()[0][0]


def test_submission_view_text_says_held_files_have_periods(config):
    """A held file's rows are in records (set aside), so the view gives it its periods with
    rows_current 0 (tests/test_snapshot.py::test_submission_view_follows_every_status); the
    comment listed held files among those with an empty period."""
    columns = column_descriptions(config, "submissions_by_partner_period")
    empty_for = columns["period"].split("empty for")[1].split(")")[0]
    assert "held" not in empty_for and "held" in columns["rows_current"]
