"""The GX-on-DuckDB shim: in-database validation works, and breaks loudly if GX moves internals."""

from __future__ import annotations

import duckdb
import great_expectations as gx
from great_expectations.execution_engine import sqlalchemy_execution_engine

from pipelines import gx_duckdb


def test_shim_registers_duckdb_as_a_persisted_connection_dialect():
    gx_duckdb.install_persisted_connection_shim()
    gx_duckdb.install_persisted_connection_shim()  # idempotent
    names = [str(getattr(d, "value", d)) for d in
             sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS]
    assert names.count("duckdb") == 1
    assert sqlalchemy_execution_engine._dialect_requires_persisted_connection(
        connection_string="duckdb:///x.duckdb")


def test_in_database_validation_and_the_file_is_released(tmp_path):
    database = tmp_path / "t.duckdb"
    con = gx_duckdb.connect(database)
    con.execute("CREATE TABLE t AS SELECT range AS _row, CASE WHEN range % 4 = 0 THEN NULL "
                "ELSE range END AS y, (range % 3)::VARCHAR AS code FROM range(100)")
    gx_duckdb.context()
    suite = gx.ExpectationSuite(name="probe")
    suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="y"))
    suite.add_expectation(gx.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query="SELECT * FROM {batch} WHERE NOT regexp_full_match(code, '[01]')"))
    result = gx_duckdb.validate(database, "t", suite, {
        "result_format": "SUMMARY", "unexpected_index_column_names": ["_row"],
        "return_unexpected_index_query": True})
    not_null, regex = result.results
    assert not_null.result["unexpected_count"] == 25
    assert regex.result["observed_value"] == 33
    # GX's own query for the failing rows runs in DuckDB and finds the same rows.
    query = not_null.result["unexpected_index_query"].rstrip().rstrip(";")
    assert len(con.execute(query).fetchall()) == 25
    con.close()
    # Nothing of GX's still holds the file: a plain connection (other configuration) opens it.
    duckdb.connect(str(database)).close()


def test_validation_leaves_no_sqlalchemy_dialect_alive(tmp_path):
    """SQLAlchemy's method-level lru_caches kept every validation's dialect, with the DuckDB
    column types of its results, alive until exit (and DuckDB then reported them leaked)."""
    import gc

    import duckdb_engine

    database = tmp_path / "t.duckdb"
    con = gx_duckdb.connect(database)
    con.execute("CREATE TABLE t AS SELECT range AS _row, range AS y FROM range(10)")
    con.close()
    gx_duckdb.context()
    suite = gx.ExpectationSuite(name="dialects")
    suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="y"))
    for _ in range(3):
        assert gx_duckdb.validate(database, "t", suite, {"result_format": "SUMMARY"}).success
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, duckdb_engine.Dialect)]


def test_the_ephemeral_context_does_not_serialize_its_configuration(tmp_path):
    """GX wrote its whole configuration as YAML on every data-source change of an ephemeral
    context (nothing reads it): a GX upgrade that renames the hook must fail here."""
    from great_expectations.data_context.data_context.abstract_data_context import (
        AbstractDataContext)

    assert "_save_project_config" in vars(AbstractDataContext)
    context = gx_duckdb.context()
    assert context._save_project_config is gx_duckdb._not_saved
    database = tmp_path / "t.duckdb"
    con = gx_duckdb.connect(database)
    con.execute("CREATE TABLE t AS SELECT range AS x FROM range(3)")
    con.close()
    suite = gx.ExpectationSuite(name="saved")
    suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="x"))
    before = len(context.data_sources.all())
    assert gx_duckdb.validate(database, "t", suite, {"result_format": "BASIC"}).success
    assert len(context.data_sources.all()) == before  # added and deleted all the same
