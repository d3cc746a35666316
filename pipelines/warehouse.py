"""The DuckDB warehouse: tables, the one-transaction-per-file load, and where files end up.

Layers (dbt style): `submissions` and `quarantine` (grain: one file / one bad cell), per-initiative
`<initiative>.records` (grain: one accepted intake row, with lineage; its `period` is the canonical
label at the grain the partner reported, with `period_type`, `period_start`, `period_end`), the view
`<initiative>.records_current` (what resubmissions left current: see pipelines/resubmission.py),
and marts built by `measure` (`<initiative>.indicator_cells`, `<initiative>.disparities`).

Submission statuses: `loaded`, `rejected`, `duplicate` (byte-identical re-drop from the same
partner: "already received"), `held` (a replacement kept aside until `backbone accept`).

The layout's version is in `backbone_schema`; `connect` for writing migrates an older warehouse
(after copying it aside) and refuses a newer one: see pipelines/migrations/.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

import duckdb

from pipelines import migrations, resubmission, resubmission_listed, snapshot_ledger
from pipelines.config import InitiativeConfig, Workspace
from pipelines.duckdb_settings import limit_memory
from pipelines.intake import StagedFile, has_identity
from pipelines.standardize import AGGREGATE_COLUMNS, record_columns
from pipelines.sql import sql_literal

DDL = """
CREATE SEQUENCE IF NOT EXISTS submission_ids;
CREATE TABLE IF NOT EXISTS submissions (
    submission_id BIGINT PRIMARY KEY DEFAULT nextval('submission_ids'),
    initiative_id VARCHAR NOT NULL, partner_id VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL, sha256 VARCHAR, size_bytes BIGINT,
    encoding VARCHAR, delimiter VARCHAR,
    status VARCHAR NOT NULL CHECK (status IN ('loaded', 'rejected', 'duplicate', 'held')),
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
""" + snapshot_ledger.DDL


class WarehouseBusy(RuntimeError):
    pass


# Write connections that began from a sealed warehouse (snapshot_ledger): id -> (connection,
# path, seal). The connection is held so that its id is not reused by another.
_SESSIONS: dict[int, tuple[duckdb.DuckDBPyConnection, Path, dict]] = {}


def night_wait_seconds() -> float:
    """How long a night waits for the warehouse: `backbone status` (or a monitoring script
    calling it) reads the live warehouse for a second or two, and a night starting then would
    otherwise fail and leave every file in intake for a day."""
    return float(os.environ.get("BACKBONE_WAREHOUSE_WAIT_SECONDS") or 30)


def connect(path: Path, read_only: bool = False, wait_seconds: float = 0
            ) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse at `path`; one for writing ends with `close`. Held by
    another process, it is retried for `wait_seconds` before `WarehouseBusy`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        before = None if read_only else snapshot_ledger.file_state(path)
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() < deadline:
                time.sleep(0.25)
                continue
            raise WarehouseBusy(
                f"{path} is open by another process (probably a running ingest). Analysts: read "
                f"the snapshot {path.with_name('snapshot.duckdb')} or the published Parquet.") \
                from None
    if not read_only:
        # Sealed, and unchanged between the seal and this process taking DuckDB's lock: all
        # that changed the file since was the pipeline's, which keeps the ledger.
        seal = snapshot_ledger.seal_applies(path, before)
        if seal is not None and snapshot_ledger.file_state(path) != before:
            seal = None
        limit_memory(con)
        con, migrated = _bring_up_to_date(con, path)
        keep_row_groups(con)
        con.execute(DDL)
        if seal is not None and not migrated:  # a migration rewrites rows without the ledger
            _SESSIONS[id(con)] = (con, path, seal)
    return con


def close(con: duckdb.DuckDBPyConnection) -> None:
    """Close a connection from `connect`; a session that began sealed seals the file it leaves
    (checkpointed while this process still holds the lock, so the state sealed is its own)."""
    session = _SESSIONS.pop(id(con), None)
    state = None
    if session is not None and session[0] is con:
        try:
            con.execute("CHECKPOINT")
            state = snapshot_ledger.file_state(session[1])
        except duckdb.Error:  # another transaction open: no seal, the next snapshot hashes
            state = None
    con.close()
    if state is not None:
        snapshot_ledger.write_seal(session[1], state, session[2]["offsets"])


def _sealed_session(con: duckdb.DuckDBPyConnection) -> bool:
    session = _SESSIONS.get(id(con))
    return session is not None and session[0] is con


def keep_row_groups(con: duckdb.DuckDBPyConnection) -> None:
    """No merging of neighbouring part-filled row groups at checkpoints. A file's records are
    inserted in parallel, one row group per row group of its staging database, some part-filled;
    DuckDB's checkpoint then merged runs of neighbours whose rows fit in fewer groups, reading,
    compressing and writing those rows again at the night's close: 1.5 CPU s on a 200 MB
    night (a quarter of the load), 0.34 s when one 20 MB file joins the 1 GB warehouse, and the
    freed blocks stayed in the file (163 MB instead of 117). The rows, their order and rowids are
    the same either way (`records` is append-only), and the blocks in use and scans the same
    (benchmarks/RESULTS.md). The setting holds for the database instance, so for its checkpoint
    at close too."""
    con.execute("SET max_vacuum_tasks = 0")


def _bring_up_to_date(con: duckdb.DuckDBPyConnection, path: Path
                      ) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """Stamp a new warehouse with the current schema version; migrate an older one in place after
    copying it aside (pipelines/migrations); refuse one newer than this code. True: migrated."""
    version = migrations.version_of(con)
    if version is None:
        con.execute(DDL)
        migrations.stamp(con, migrations.CURRENT_VERSION, "created")
        return con, False
    if version > migrations.CURRENT_VERSION:
        con.close()
        raise migrations.WarehouseTooNew(migrations.too_new_message(path, version))
    if version == migrations.CURRENT_VERSION:
        return con, False
    # The copy is taken of the closed file: checkpointed, so it holds everything (no WAL).
    con.execute("CHECKPOINT")
    con.close()
    migrations.back_up(path, version)
    con = duckdb.connect(str(path))
    limit_memory(con)
    try:
        migrations.migrate(con, path, version)
    except BaseException:
        con.close()
        raise
    return con, True


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
        elif name in ("person_key", "period") and existing[name] != sql_type:
            # Keys of the two formats never match, so counts would silently stop unduplicating
            # (an INTEGER year never equals a period label either).
            raise RuntimeError(
                f"{schema}.records.{name} is {existing[name]}; this version stores "
                f"{sql_type} and the migrations (pipelines/migrations) did not convert it. "
                f"Rebuild the warehouse from data/archive/{schema}/: `backbone rebuild`.")
    aggregate = ", ".join(f"{name} {sql_type}" for name, sql_type in AGGREGATE_COLUMNS)
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.aggregate_counts (submission_id BIGINT NOT "
                f"NULL, source_row BIGINT NOT NULL, loaded_at TIMESTAMP NOT NULL, {aggregate})")
    resubmission.ensure_tables(con, config)


def earlier_submissions(con: duckdb.DuckDBPyConnection, initiative_id: str, partner_id: str,
                        sha256: str) -> list[tuple]:
    """This partner's earlier loaded, held or duplicate submissions of the same bytes, oldest
    first. Per partner: nothing about another partner's files is ever told to this one."""
    return con.execute(
        "SELECT submission_id, status, file_name, received_at, stored_path, report_path "
        "FROM submissions WHERE initiative_id = ? AND partner_id = ? AND sha256 = ? "
        "AND status IN ('loaded', 'held', 'duplicate') ORDER BY submission_id",
        [initiative_id, partner_id, sha256]).fetchall()


def safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return (cleaned or "file")[-120:]


def destination(workspace: Workspace, staged: StagedFile, status: str, now: dt.datetime,
                taken: set[Path] | None = None) -> Path:
    """Where a file goes: archive/ (loaded or held), archive/.../duplicates/, or rejected/.

    Unique even when two names clean up to the same safe name (`RUSD 2023.csv`, `RUSD_2023.csv`)
    in the same second: a name already used on disk, by a report, or reserved in `taken` (paths
    chosen this run but not yet moved to) gets a counter.
    """
    partner = safe_name(staged.partner_id)
    folder = (workspace.rejected if status == "rejected" else workspace.archive)(
        staged.initiative_id, partner)
    if status == "duplicate":
        folder = folder / "duplicates"
    stamp = now.strftime("%Y%m%dT%H%M%S")
    tag = f"_{staged.sha256[:8]}" if staged.sha256 else ""
    reports = workspace.reports(staged.initiative_id, partner)
    taken = set() if taken is None else taken
    for counter in range(1, 10_000):
        suffix = f"-{counter}" if counter > 1 else ""
        target = folder / f"{stamp}{tag}{suffix}_{safe_name(staged.file_name)}"
        if target not in taken and not (target.exists() or target.is_symlink()
                                        or target.with_name(target.name + ".reason.md").exists()
                                        or (reports / f"{target.name}.report.md").exists()):
            taken.add(target)
            return target
    raise FileExistsError(f"{folder}: no free name for {staged.file_name!r}")


def move_file(source: Path, target: Path, identity: list[int] | None = None,
              kept: int | None = None, sha256: str | None = None) -> bool:
    """Move without ever overwriting; the original bytes are kept whatever happens next.

    `identity` (intake.source_identity of the file as it was read): only that file is moved.
    The partner's folder is theirs to write at any time, so the name may meanwhile be gone or
    hold a newer upload (written beside it and renamed over it, as rsync and SFTP clients do):
    the newer file stays in intake for the next run, never archived unread under the earlier
    file's submission. The bytes read are then archived from `kept`, a descriptor opened on
    them before the load (it keeps them after their name is gone), when they still hash to
    `sha256` (a rewrite in place changes them under every name). False: nothing was moved."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(target)
    if identity is not None and not has_identity(source, identity):
        if kept is not None and sha256:
            return _copy_kept(kept, target, sha256)
        return False
    # lstat: a symlink is moved as the link itself, even when what it points to is gone.
    if _same_device(source, target.parent):
        os.replace(source, target)
    else:
        _copy_across(source, target)
    return True


def _same_device(source: Path, folder: Path) -> bool:
    return source.lstat().st_dev == folder.stat().st_dev


def _copy_across(source: Path, target: Path) -> None:
    """Move to another file system (an intake mounted apart): copied under a hidden name and
    renamed into place before the source goes. Copied straight to `target` (shutil.move), a
    crash mid-copy left a truncated file at the recorded place: the rerun took it for archived,
    filed the intake copy as a duplicate, and the archive kept the torn bytes."""
    partial = target.with_name(f".{target.name}.partial")
    if partial.is_dir() and not partial.is_symlink():
        shutil.rmtree(partial)
    else:
        partial.unlink(missing_ok=True)
    if source.is_symlink():
        os.symlink(os.readlink(source), partial)
    elif source.is_dir():
        shutil.copytree(source, partial, symlinks=True)
    else:
        shutil.copy2(source, partial)
    os.replace(partial, target)
    if source.is_dir() and not source.is_symlink():
        shutil.rmtree(source)
    else:
        source.unlink()


def _copy_kept(kept: int, target: Path, sha256: str) -> bool:
    """Archive the bytes behind the open descriptor `kept` as `target`, if they are still the
    bytes loaded (their sha256); written under a hidden name first, so `target` is whole."""
    partial = target.with_name(f".{target.name}.partial")
    digest = hashlib.sha256()
    os.lseek(kept, 0, os.SEEK_SET)
    try:
        with open(partial, "wb") as out:
            while chunk := os.read(kept, 1 << 20):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            return False
        try:
            os.link(partial, target)  # never over an existing name
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links; the name was checked free above
            os.replace(partial, target)
        return True
    finally:
        partial.unlink(missing_ok=True)


def record_submission(con, staged: StagedFile, status: str, run_id: str, stored: Path,
                      reason_code: str | None = None, reasons: str | None = None) -> int:
    return con.execute(
        """INSERT INTO submissions (initiative_id, partner_id, file_name, sha256, size_bytes,
               encoding, delimiter, status, reason_code, reasons, rows_read, rows_loaded,
               rows_quarantined, received_at, run_id, stored_path, validation)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?) RETURNING submission_id""",
        [staged.initiative_id, staged.partner_id, staged.file_name, staged.sha256 or None,
         staged.size_bytes, staged.encoding, staged.delimiter, status, reason_code, reasons,
         # A duplicate was counted when it first arrived: it carries no counts of its own.
         0 if status == "duplicate" else staged.rows_read,
         staged.rows_loaded if status in ("loaded", "held") else 0,
         0 if status == "duplicate" else staged.rows_quarantined, run_id, str(stored),
         json.dumps([] if status == "duplicate" else staged.rules)]).fetchall()[0][0]


# What a data lead needs to fix a file without the warehouse (and the snapshot copied from it)
# keeping the value: its first character and length. A date of birth or a name typed into the
# wrong column stays in the partner's own bad_rows.csv, written from the staging database.
MASKED_VALUE = """CASE WHEN value IS NULL THEN NULL
    WHEN column_name LIKE '%' || {person} || '%' THEN '(hidden: person identifier)'
    ELSE left(value, 1) || CASE WHEN length(value) > 1 THEN '…' ELSE '' END
         || ' (' || length(value) || CASE WHEN length(value) = 1 THEN ' character)'
                                          ELSE ' characters)' END END"""


def load_night(con: duckdb.DuckDBPyConnection, config: InitiativeConfig,
               files: list[StagedFile], run_id: str, stored: list[Path]
               ) -> tuple[list[int], resubmission.NightOutcome]:
    """Insert one partner's staged files of this run, their records and quarantine, and apply
    what they mean for the partner's earlier data, all in ONE transaction."""
    partner_id = files[0].partner_id
    assert all(f.partner_id == partner_id and f.staged_db for f in files)
    intake_schema = config.schema_for(partner_id)
    person = intake_schema.role_column("person_id") or "\x00"
    table, columns = (("aggregate_counts", AGGREGATE_COLUMNS) if intake_schema.kind == "aggregates"
                      else ("records", record_columns(config.record_schema)))
    names = ", ".join(name for name, _ in columns)
    aliases = [f"staged_{index}" for index in range(len(files))]
    attached = []
    try:
        for alias, staged in zip(aliases, files):
            con.execute(f"ATTACH ? AS {alias} (READ_ONLY)", [staged.staged_db])
            attached.append(alias)
        con.execute("BEGIN TRANSACTION")
        try:
            ids = []
            for alias, staged, target in zip(aliases, files, stored):
                submission_id = record_submission(con, staged, "loaded", run_id, target)
                con.execute(f"INSERT INTO {config.id}.{table} (submission_id, source_row, "
                            f"loaded_at, {names}) SELECT ?, source_row, now(), {names} "
                            f"FROM {alias}.records", [submission_id])
                con.execute(f"INSERT INTO quarantine SELECT ?, ?, ?, _row, column_name, rule, "
                            f"{MASKED_VALUE.format(person=sql_literal(person))}, message "
                            f"FROM {alias}.quarantine",
                            [submission_id, staged.initiative_id, staged.partner_id])
                resubmission_listed.load(con, config, alias, submission_id)
                # The snapshot's proof that older rows are unchanged (snapshot_ledger); after
                # a session not begun sealed the snapshot hashes every row anyway.
                if _sealed_session(con):
                    snapshot_ledger.add(con, config.id, table, submission_id)
                    snapshot_ledger.add(con, "main", "quarantine", submission_id)
                ids.append(submission_id)
            outcome = resubmission.settle_night(con, config, partner_id, ids, run_id)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        for alias in attached:
            con.execute(f"DETACH {alias}")
    return ids, outcome


def set_report_path(con, submission_id: int, report: Path) -> None:
    con.execute("UPDATE submissions SET report_path = ? WHERE submission_id = ?",
                [str(report), submission_id])
