"""The DuckDB warehouse: tables, the one-transaction-per-file load, and where files end up.

Layers (dbt style): `submissions` and `quarantine` (grain: one file / one bad cell), per-initiative
`<initiative>.records` (grain: one accepted intake row, with lineage), the view
`<initiative>.records_current` (the latest file per partner and period wins), and marts built by
`measure` (`<initiative>.indicator_cells`, `<initiative>.disparities`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import duckdb

from pipelines.config import InitiativeConfig, Workspace
from pipelines.duckdb_settings import limit_memory
from pipelines.intake import StagedFile
from pipelines.standardize import AGGREGATE_COLUMNS, record_columns
from pipelines.validate import sql_literal

DDL = """
CREATE SEQUENCE IF NOT EXISTS submission_ids;
CREATE TABLE IF NOT EXISTS submissions (
    submission_id BIGINT PRIMARY KEY DEFAULT nextval('submission_ids'),
    initiative_id VARCHAR NOT NULL, partner_id VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL, sha256 VARCHAR, size_bytes BIGINT,
    encoding VARCHAR, delimiter VARCHAR,
    status VARCHAR NOT NULL CHECK (status IN ('loaded', 'rejected')),
    reason_code VARCHAR, reasons VARCHAR,
    rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
    received_at TIMESTAMP NOT NULL, run_id VARCHAR, stored_path VARCHAR, report_path VARCHAR,
    validation JSON
);
CREATE TABLE IF NOT EXISTS quarantine (
    submission_id BIGINT NOT NULL, initiative_id VARCHAR, partner_id VARCHAR,
    source_row BIGINT, column_name VARCHAR, rule VARCHAR, value VARCHAR, message VARCHAR
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, finished_at TIMESTAMP,
    files_seen INTEGER, files_loaded INTEGER, files_rejected INTEGER, published VARCHAR
);
"""


class WarehouseBusy(RuntimeError):
    pass


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseBusy(
                f"{path} is open by another process (probably a running ingest). Analysts: read "
                f"the snapshot {path.with_name('snapshot.duckdb')} or the published Parquet.") \
                from None
        raise
    if not read_only:
        limit_memory(con)
        con.execute(DDL)
    return con


def ensure_initiative_tables(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> None:
    schema = config.id
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in record_columns(config.record_schema))
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.records (submission_id BIGINT NOT NULL, "
                f"source_row BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL, {columns})")
    existing = dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = 'records'", [schema]).fetchall())
    for name, sql_type in record_columns(config.record_schema):
        if name not in existing:  # a measure added to the template later
            con.execute(f"ALTER TABLE {schema}.records ADD COLUMN {name} {sql_type}")
        elif name == "person_key" and existing[name] != sql_type:
            # Keys of the two formats never match, so counts would silently stop unduplicating.
            raise RuntimeError(
                f"{schema}.records.person_key is {existing[name]}, written by an older backbone; "
                f"this version stores {sql_type}. Rebuild the warehouse: move the files in "
                f"data/archive/{schema}/ back into intake and run again on a new warehouse.")
    aggregate = ", ".join(f"{name} {sql_type}" for name, sql_type in AGGREGATE_COLUMNS)
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.aggregate_counts (submission_id BIGINT NOT "
                f"NULL, source_row BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL, {aggregate})")
    _create_latest_file_view(con, f"{schema}.aggregate_counts", "partner_id, indicator_id, period")
    _create_latest_file_view(con, f"{schema}.records", "partner_id, period")


def _create_latest_file_view(con: duckdb.DuckDBPyConnection, table: str, grain: str) -> None:
    """`<table>_current`: the rows of the latest file (highest submission) for each `grain`.

    A semi-join on the few latest files, not a window over every row, which would partition the
    whole table on each read.
    """
    con.execute(f"""
        CREATE OR REPLACE VIEW {table}_current AS
        SELECT * FROM {table}
        WHERE ({grain}, submission_id) IN (
            SELECT ({grain}, max(submission_id)) FROM {table} GROUP BY {grain})""")


def loaded_submission(con: duckdb.DuckDBPyConnection, initiative_id: str, sha256: str):
    rows = con.execute(
        "SELECT submission_id, file_name, received_at, stored_path FROM submissions "
        "WHERE initiative_id = ? AND sha256 = ? AND status = 'loaded' ORDER BY submission_id LIMIT 1",
        [initiative_id, sha256]).fetchall()
    return rows[0] if rows else None


def safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return (cleaned or "file")[-120:]


def destination(workspace: Workspace, staged: StagedFile, status: str, now: dt.datetime) -> Path:
    folder = (workspace.archive if status == "loaded" else workspace.rejected)(
        staged.initiative_id, safe_name(staged.partner_id))
    stamp = now.strftime("%Y%m%dT%H%M%S")
    tag = f"_{staged.sha256[:8]}" if staged.sha256 else ""
    return folder / f"{stamp}{tag}_{safe_name(staged.file_name)}"


def move_file(source: Path, target: Path) -> None:
    """Move without ever overwriting; the original bytes are kept whatever happens next."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(target)
    # lstat: a symlink is moved as the link itself, even when what it points to is gone.
    os.replace(source, target) if source.lstat().st_dev == target.parent.stat().st_dev \
        else shutil.move(str(source), str(target))


def record_submission(con, staged: StagedFile, status: str, run_id: str, stored: Path,
                      reason_code: str | None = None, reasons: str | None = None) -> int:
    return con.execute(
        """INSERT INTO submissions (initiative_id, partner_id, file_name, sha256, size_bytes,
               encoding, delimiter, status, reason_code, reasons, rows_read, rows_loaded,
               rows_quarantined, received_at, run_id, stored_path, validation)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?) RETURNING submission_id""",
        [staged.initiative_id, staged.partner_id, staged.file_name, staged.sha256 or None,
         staged.size_bytes, staged.encoding, staged.delimiter, status, reason_code, reasons,
         staged.rows_read, staged.rows_loaded if status == "loaded" else 0,
         staged.rows_quarantined, run_id, str(stored), json.dumps(staged.rules)]).fetchall()[0][0]


def load_staged(con: duckdb.DuckDBPyConnection, config: InitiativeConfig, staged: StagedFile,
                run_id: str, stored: Path) -> int:
    """Insert the submission, its records and its quarantine in ONE transaction."""
    assert staged.staged_db is not None
    schema = config.id
    intake_schema = config.schema_for(staged.partner_id)
    person = intake_schema.role_column("person_id") or "\x00"
    table, columns = (("aggregate_counts", AGGREGATE_COLUMNS) if intake_schema.kind == "aggregates"
                      else ("records", record_columns(config.record_schema)))
    names = [name for name, _ in columns]
    con.execute("ATTACH ? AS staged (READ_ONLY)", [staged.staged_db])
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            submission_id = record_submission(con, staged, "loaded", run_id, stored)
            con.execute(f"INSERT INTO {schema}.{table} (submission_id, source_row, loaded_at, "
                        f"{', '.join(names)}) SELECT ?, source_row, now(), {', '.join(names)} "
                        "FROM staged.records", [submission_id])
            con.execute(
                f"""INSERT INTO quarantine SELECT ?, ?, ?, _row, column_name, rule,
                        CASE WHEN column_name LIKE '%' || {sql_literal(person)} || '%'
                             THEN '(hidden: person identifier)' ELSE left(value, 200) END, message
                    FROM staged.quarantine""",
                [submission_id, staged.initiative_id, staged.partner_id])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute("DETACH staged")
    return submission_id


def set_report_path(con, submission_id: int, report: Path) -> None:
    con.execute("UPDATE submissions SET report_path = ? WHERE submission_id = ?",
                [str(report), submission_id])
