"""Small warehouses in each released schema layout, built from the sample by this script.

`build_current` loads sample files with today's pipeline (real staging, GX, DuckDB); the
`as_version_*` functions write a warehouse in an older layout from it: the DDL text of that
release and its rows, minus what the release did not have (version 2 from today's, version 1
from version 2, version 0 from version 1). Nothing binary is kept in the repo.

    python tests/warehouse_versions.py OUT_DIR   # writes version_0/1/2.duckdb
"""

from __future__ import annotations

import itertools
import math
import shutil
import sys
from pathlib import Path

import duckdb

from pipelines import ingest, warehouse
from pipelines.config import REPO_ROOT, Workspace
from pipelines.intake import stage_file
from pipelines.migrations.m0001_person_keys_as_integers import _latest_file_views
from pipelines.migrations.m0002_resubmission_rule import _resubmission_tables
from pipelines.standardize import ensure_salt, read_salt

SAMPLES = REPO_ROOT / "data" / "samples" / "riverbend"
_runs = itertools.count(1)

# The text of 318c782's warehouse.DDL (schema version 1; version 0 had the same).
VERSION_1_DDL = """
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
NOT_IN_VERSION_1 = {"class_proxy_value"}
# Version 3 (pipelines/migrations/m0003_period_grains.py): period labels of any grain.
NOT_IN_VERSION_2 = ("period_type", "period_start", "period_end", "race_multi_unspecified")


def night(workspace: Workspace, files: list[tuple[str, str, bytes]],
          yearly_only: bool = False) -> dict:
    """One run's warehouse step over (partner, name, bytes) dropped into intake.

    `yearly_only`: leave out files with rows of another grain than a calendar year (dated or
    monthly rows), which no released layout before version 3 could hold."""
    config = workspace.load("riverbend")
    ensure_salt(workspace, "riverbend")
    salt = read_salt(workspace, "riverbend")
    staged = []
    for partner, name, content in files:
        path = workspace.intake / "riverbend" / partner / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        item = stage_file(path, config, partner, salt, workspace.staging)
        if yearly_only and not _yearly(item):
            ingest.drop_staging(item)
            path.unlink()
            continue
        staged.append(item)
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        settled = ingest.settle_all(con, workspace, config, staged, [], f"run-{next(_runs)}")
    finally:
        con.close()
    return {s.file_name: s for s in settled}


def _yearly(staged) -> bool:
    if staged.status != "staged" or not staged.staged_db:
        return True
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        return con.execute("SELECT count(*) FROM records WHERE period_type IS DISTINCT FROM "
                           "'year'").fetchall() == [(0,)]
    finally:
        con.close()


def sample_files() -> list[tuple[str, str, bytes]]:
    return [(p.parent.name, p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*/*"))]


def complete_resend() -> tuple[str, str, bytes]:
    """RUSD's 2024 file again, 90% of its rows in another order: a complete replacement under
    version 1's rule (latest file per period) and today's alike."""
    lines = (SAMPLES / "riverbend_schools" / "RUSD_outcomes_2024.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    kept = rows[: len(rows) * 9 // 10]
    return ("riverbend_schools", "RUSD_outcomes_2024_corrected.csv",
            ("\n".join([header] + kept[::-1]) + "\n").encode())


def late_row() -> tuple[str, str, bytes]:
    """One 2023 row sent alone: version 1 made it the whole of 2023 (latest file per period);
    today it would be an update of one person."""
    lines = (SAMPLES / "riverbend_schools" / "RUSD_outcomes_2023.csv").read_text().splitlines()
    return ("riverbend_schools", "RUSD_late_2023.csv", f"{lines[0]}\n{lines[1]}\n".encode())


def build_current(workspace: Workspace, resend: bool = True) -> None:
    """Today's warehouse from the sample: one night with every yearly file (what the released
    layouts could hold), then a complete resend."""
    night(workspace, sample_files(), yearly_only=True)
    if resend:
        night(workspace, [complete_resend()])


def as_version_2(source: Path, target: Path) -> None:
    """Write `target` in version 2's layout from today's warehouse `source`: every period an
    INTEGER year (`build_current` loads only yearly files), no period type or dates, no "2+"
    flag; the marts measure last wrote keep their version-2 columns (the migration leaves them
    to measure).
    """
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    con = duckdb.connect(str(target))
    try:
        grains = {g for (g,) in con.execute(
            "SELECT period_type FROM riverbend.records UNION "
            "SELECT period_type FROM riverbend.aggregate_counts").fetchall()}
        assert grains <= {"year"}, grains
        for table, part in (("records", ("period",)),
                            ("aggregate_counts", ("indicator_id", "period"))):
            con.execute(f"DROP VIEW riverbend.{table}_current")
            _drop_columns(con, f"riverbend.{table}", NOT_IN_VERSION_2)
            for name in (table, f"{table}_set_aside"):
                con.execute(f"ALTER TABLE riverbend.{name} ALTER period SET DATA TYPE INTEGER "
                            "USING period::INTEGER")
            _resubmission_tables(con, f"riverbend.{table}",
                                 tuple((c, "INTEGER" if c == "period" else "VARCHAR")
                                       for c in part), adopt=False)
        for mart in ("indicator_cells", "disparities"):
            _drop_columns(con, f"riverbend.{mart}", NOT_IN_VERSION_2)
        con.execute("DROP TABLE IF EXISTS riverbend.indicator_grains")
        con.execute("DELETE FROM backbone_schema")
        con.execute("INSERT INTO backbone_schema VALUES (2, now(), 'created')")
    finally:
        con.close()


def _drop_columns(con: duckdb.DuckDBPyConnection, table: str, names) -> None:
    schema, name = table.split(".")
    present = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND "
        "schema_name = ? AND table_name = ?", [schema, name]).fetchall()}
    for column in names:
        if column in present:
            con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def as_version_1(source: Path, target: Path, extra_files: list[Path] = ()) -> None:
    """Write `target` in version 1's layout with version-2 `source`'s rows (loaded/rejected only).

    `extra_files`: warehouses holding later nights loaded by today's code whose submissions and
    rows are appended too (their ids follow; periods as years), to make files version 1 would
    treat differently."""
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        con.execute(VERSION_1_DDL)
        con.execute("ATTACH ? AS src (READ_ONLY)", [str(source)])
        statuses = con.execute("SELECT DISTINCT status FROM src.submissions").fetchall()
        assert {s for (s,) in statuses} <= {"loaded", "rejected"}, statuses
        con.execute("INSERT INTO submissions SELECT * FROM src.submissions")
        con.execute("INSERT INTO quarantine SELECT * FROM src.quarantine")
        con.execute("INSERT INTO runs SELECT * FROM src.runs")
        con.execute("CREATE SCHEMA riverbend")
        for table in ("records", "aggregate_counts"):
            columns = [(n, t) for n, t in con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'src' "
                "AND schema_name = 'riverbend' AND table_name = ? ORDER BY column_index",
                [table]).fetchall() if n not in NOT_IN_VERSION_1]
            con.execute(f"CREATE TABLE riverbend.{table} ("
                        + ", ".join(f"{n} {t}" for n, t in columns) + ")")
            names = ", ".join(n for n, _ in columns)
            con.execute(f"INSERT INTO riverbend.{table} SELECT {names} FROM src.riverbend.{table}")
        con.execute("DETACH src")
        for extra in extra_files:
            _append(con, extra)
        _latest_file_views(con, "riverbend")
        # A version-1 warehouse had drawn every id it holds from its sequence.
        con.execute("SELECT max(nextval('submission_ids')) FROM range((SELECT max(submission_id) "
                    "FROM submissions))")
    finally:
        con.close()


def _append(con: duckdb.DuckDBPyConnection, extra: Path) -> None:
    con.execute("ATTACH ? AS more (READ_ONLY)", [str(extra)])
    try:
        shift = con.execute("SELECT max(submission_id) FROM submissions").fetchall()[0][0]
        columns = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = 'submissions' ORDER BY column_index"
        ).fetchall()]
        con.execute(f"INSERT INTO submissions SELECT submission_id + {shift} AS submission_id, "
                    f"{', '.join(c for c in columns if c != 'submission_id')} "
                    "FROM more.submissions WHERE status IN ('loaded', 'rejected')")
        names = ", ".join(r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'riverbend' AND table_name = 'records' AND column_name <> "
            "'submission_id' ORDER BY column_index").fetchall())
        picked = ", ".join("period::INTEGER AS period" if n == "period" else n
                           for n in names.split(", "))
        con.execute(f"INSERT INTO riverbend.records (submission_id, {names}) "
                    f"SELECT submission_id + {shift}, {picked} FROM more.riverbend.records")
    finally:
        con.execute("DETACH more")


def as_version_0(version_1: Path, target: Path) -> None:
    """Version 0 from a version-1 file: person keys as the 64-hex sha256 text. Only the first 32
    digits survive in version 1; the last 32 are filled with other hex digits (version 1 never
    read them either)."""
    shutil.copyfile(version_1, target)
    con = duckdb.connect(str(target))
    try:
        con.execute("ALTER TABLE riverbend.records ALTER person_key SET DATA TYPE VARCHAR USING "
                    "lpad(lower(to_hex(person_key)), 32, '0') || "
                    "left(sha256(person_key::VARCHAR), 32)")
        for table, grain in (("aggregate_counts", "partner_id, indicator_id, period"),
                             ("records", "partner_id, period")):
            # Version 0's view text (QUALIFY over a window), as released before 123412a.
            con.execute(f"CREATE OR REPLACE VIEW riverbend.{table}_current AS SELECT * FROM "
                        f"riverbend.{table} QUALIFY submission_id = max(submission_id) OVER "
                        f"(PARTITION BY {grain})")
    finally:
        con.close()


def assert_same_rows(table, expected) -> None:
    """Row for row, the same values. Doubles to 1e-12 relative: DuckDB's parallel avg() over the
    groups of a disparity index sums in whatever order its threads finish (last-digit noise that
    two runs on the same warehouse show too)."""
    assert table.schema.names == expected.schema.names
    got, want = table.to_pylist(), expected.to_pylist()
    assert len(got) == len(want)
    for row, other in zip(got, want):
        assert row.keys() == other.keys()
        for key, value in row.items():
            if isinstance(value, float) and isinstance(other[key], float):
                assert math.isclose(value, other[key], rel_tol=1e-12) or (
                    math.isnan(value) and math.isnan(other[key])), (key, row, other)
            else:
                assert value == other[key], (key, row, other)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    home = Workspace(out / "workspace").add_definitions()
    build_current(home)
    as_version_2(home.warehouse_file, out / "version_2.duckdb")
    as_version_1(out / "version_2.duckdb", out / "version_1.duckdb")
    as_version_0(out / "version_1.duckdb", out / "version_0.duckdb")
    print(f"wrote {out}/version_2.duckdb, version_1.duckdb and version_0.duckdb")
