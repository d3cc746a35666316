"""Warehouse schema versions: migrating each released layout in place, refusing newer ones.

The old warehouses are written by tests/warehouse_versions.py from the sample (today's pipeline
loads it; the script rewrites the result in each released layout), not kept as binary files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines import migrations, part_changes, warehouse
from pipelines.config import Workspace
from pipelines.intake import stage_file
from pipelines.rebuild import publish_now

import warehouse_versions as versions
from warehouse_versions import assert_same_rows

TABLES = ("submissions", "quarantine", "runs", "riverbend.records", "riverbend.aggregate_counts")
# Columns version 3 added; `rows` compares older layouts by the columns they share (and the
# period as text: an INTEGER year before version 3, its label after).
NEW_IN_3 = versions.NOT_IN_VERSION_2


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Today's warehouse from the sample (with a complete resend), published, and the same data
    written in version 2, 1 and 0 layouts; plus a version 1 warehouse whose last file is a lone
    late row, which version 1 and today's rule treat differently."""
    root = tmp_path_factory.mktemp("versions")
    current = Workspace(root / "current").add_definitions()
    versions.build_current(current)
    con = warehouse.connect(current.warehouse_file)
    try:
        publish_now(con, current, current.load("riverbend"), "reference")
    finally:
        con.close()
    versions.as_version_2(current.warehouse_file, root / "version_2.duckdb")
    versions.as_version_1(root / "version_2.duckdb", root / "version_1.duckdb")
    versions.as_version_0(root / "version_1.duckdb", root / "version_0.duckdb")
    late = Workspace(root / "late").add_definitions()
    shutil.copytree(current.path("data", "warehouse", "salts"),
                    late.path("data", "warehouse", "salts"))
    versions.night(late, [versions.late_row()])
    versions.as_version_1(root / "version_2.duckdb", root / "version_1_late.duckdb",
                          [late.warehouse_file])
    return {"current": current, "root": root}


def workspace_with(tmp_path: Path, built, name: str) -> Workspace:
    workspace = Workspace(tmp_path / "ws").add_definitions()
    workspace.warehouse_file.parent.mkdir(parents=True)
    shutil.copyfile(built["root"] / name, workspace.warehouse_file)
    shutil.copytree(built["current"].path("data", "warehouse", "salts"),
                    workspace.path("data", "warehouse", "salts"))
    return workspace


def rows(con: duckdb.DuckDBPyConnection, relation: str,
         leave_out=("class_proxy_value",) + NEW_IN_3) -> list:
    # By name: a migration adds columns at the end, today's DDL puts them where they belong.
    columns = sorted(r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall()
                     if r[0] not in leave_out)
    picked = ", ".join("period::VARCHAR AS period" if c == "period" else c for c in columns)
    return con.execute(f"SELECT {picked} FROM {relation} ORDER BY ALL").fetchall()


def read_only(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True)


def test_a_version_1_warehouse_is_migrated_in_place_after_a_copy_and_every_row_survives(
        tmp_path, built):
    workspace = workspace_with(tmp_path, built, "version_1.duckdb")
    path = workspace.warehouse_file
    original = path.read_bytes()
    before = read_only(path)
    try:
        assert migrations.version_of(before) == 1
        kept = {t: rows(before, t) for t in TABLES + ("riverbend.records_current",
                                                      "riverbend.aggregate_counts_current")}
    finally:
        before.close()

    warehouse.connect(path).close()

    backup = path.with_name("backbone.duckdb.1.bak")
    assert backup.read_bytes() == original
    after = read_only(path)
    try:
        assert migrations.version_of(after) == migrations.CURRENT_VERSION == 3
        for table, expected in kept.items():
            assert rows(after, table) == expected, table
        assert after.execute("SELECT count(*) FROM riverbend.records WHERE class_proxy_value "
                             "IS NOT NULL").fetchall() == [(0,)]
        # The earlier 2024 file is set aside as replaced, exactly what version 1 showed.
        assert after.execute("SELECT DISTINCT reason, period FROM riverbend.records_set_aside"
                             ).fetchall() == [("replaced", "2024")]
        sql = after.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'submissions'"
                            ).fetchall()[0][0]
        assert "'held'" in sql and "'duplicate'" in sql
    finally:
        after.close()
    # Opening it again changes nothing and copies nothing.
    warehouse.connect(path).close()
    assert sorted(p.name for p in path.parent.glob("*.bak")) == ["backbone.duckdb.1.bak"]


def columns_of(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    return dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE "
                            "schema_name = ? AND table_name = ?", [schema, name]).fetchall())


def test_a_version_2_warehouse_gets_year_labels_and_keeps_every_row_key_and_number(tmp_path,
                                                                                 built):
    workspace = workspace_with(tmp_path, built, "version_2.duckdb")
    path = workspace.warehouse_file
    relations = TABLES + ("riverbend.records_current", "riverbend.aggregate_counts_current",
                          "riverbend.records_set_aside", "riverbend.records_superseded")
    key = ("SELECT count(*), count(DISTINCT (partner_id, person_key, period)) "
           "FROM riverbend.records_current")
    cells = ("SELECT indicator_id, period::VARCHAR, partner_id, race_tabulation, race, class, "
             "numerator, denominator FROM riverbend.indicator_cells ORDER BY ALL")
    before = read_only(path)
    try:
        assert migrations.version_of(before) == 2
        assert columns_of(before, "riverbend.records")["period"] == "INTEGER"
        assert columns_of(before, "riverbend.records_set_aside")["period"] == "INTEGER"
        kept = {t: rows(before, t) for t in relations}
        keys = before.execute(key).fetchall()
        measured = before.execute(cells).fetchall()
    finally:
        before.close()
    assert keys[0][0] == keys[0][1] > 0

    warehouse.connect(path).close()

    assert path.with_name("backbone.duckdb.2.bak").exists()
    after = read_only(path)
    try:
        assert migrations.version_of(after) == 3
        for table, expected in kept.items():
            assert rows(after, table) == expected, table
        assert after.execute(key).fetchall() == keys
        for table in ("riverbend.records", "riverbend.aggregate_counts"):
            types = columns_of(after, table)
            assert (types["period"], types["period_type"], types["period_start"],
                    types["period_end"]) == ("VARCHAR", "VARCHAR", "DATE", "DATE"), table
            assert after.execute(
                f"SELECT count(*) FROM {table} WHERE period_type <> 'year' OR period_start <> "
                f"make_date(period::INTEGER, 1, 1) OR period_end <> make_date(period::INTEGER, "
                "12, 31) OR period_type IS NULL").fetchall() == [(0,)], table
        assert columns_of(after, "riverbend.records_set_aside")["period"] == "VARCHAR"
        assert columns_of(after, "riverbend.aggregate_counts_set_aside")["period"] == "VARCHAR"
        assert after.execute("SELECT DISTINCT race_multi_unspecified FROM riverbend.records"
                             ).fetchall() == [(False,)]
        # Migrated rows are exactly what today's staging writes for the same yearly files.
        current = read_only(built["current"].warehouse_file)
        try:
            for table in ("riverbend.records", "riverbend.aggregate_counts",
                          "riverbend.records_set_aside"):
                assert rows(after, table, ()) == rows(current, table, ()), table
        finally:
            current.close()
        # The marts gain their period columns at the next measure, even on a night without files.
        assert after.execute("SELECT count(*) FROM riverbend.part_changes WHERE NOT published"
                             ).fetchall() == [(1,)]
    finally:
        after.close()

    config = workspace.load("riverbend")
    con = warehouse.connect(path)
    try:
        assert part_changes.unpublished(con, config)
        warehouse.ensure_initiative_tables(con, config)
        folder = publish_now(con, workspace, config, "after-migration-3")
        assert con.execute(cells).fetchall() == measured
        assert con.execute("SELECT DISTINCT period_type FROM riverbend.indicator_cells"
                           ).fetchall() == [("year",)]
        assert not part_changes.unpublished(con, config)
    finally:
        con.close()
    reference = built["current"].published("riverbend") / "partnership"
    for name in ("indicator_results.parquet", "disparities.parquet"):
        migrated, expected = pq.read_table(folder / name), pq.read_table(reference / name)
        assert migrated.num_rows > 0
        assert_same_rows(migrated, expected)


def test_every_published_number_survives_the_migration(tmp_path, built):
    workspace = workspace_with(tmp_path, built, "version_1.duckdb")
    config = workspace.load("riverbend")
    con = warehouse.connect(workspace.warehouse_file)
    try:
        warehouse.ensure_initiative_tables(con, config)
        folder = publish_now(con, workspace, config, "after-migration")
    finally:
        con.close()
    reference = built["current"].published("riverbend") / "partnership"
    for name in ("indicator_results.parquet", "disparities.parquet"):
        migrated, expected = pq.read_table(folder / name), pq.read_table(reference / name)
        assert migrated.num_rows > 0
        assert_same_rows(migrated, expected)


def test_a_lone_late_row_that_version_1_made_the_whole_period_stays_so(tmp_path, built):
    """Version 1 showed the latest file per period; the migration keeps that view, and files
    arriving after it are judged by today's rule (an update, not a replacement)."""
    workspace = workspace_with(tmp_path, built, "version_1_late.duckdb")
    before = read_only(workspace.warehouse_file)
    try:
        shown = rows(before, "riverbend.records_current")
        assert before.execute("SELECT count(*) FROM riverbend.records_current WHERE partner_id = "
                              "'riverbend_schools' AND period = 2023").fetchall() == [(1,)]
    finally:
        before.close()
    con = warehouse.connect(workspace.warehouse_file)
    try:
        assert rows(con, "riverbend.records_current") == shown
        last = con.execute("SELECT max(submission_id) FROM submissions").fetchall()[0][0]
        before_2022 = con.execute("SELECT count(*) FROM riverbend.records_current WHERE "
                                  "partner_id = 'riverbend_schools' AND period = '2022'"
                                  ).fetchall()[0][0]
    finally:
        con.close()

    header = (versions.SAMPLES / "riverbend_schools" / "RUSD_outcomes_2022.csv").read_text(
        encoding="utf-8-sig").splitlines()[0]
    settled = versions.night(workspace, [("riverbend_schools", "RUSD_late_2022.csv",
                                          f"{header}\nRB999999,2022,300,F,Y,,Hillcrest\n"
                                          .encode())])
    assert settled["RUSD_late_2022.csv"].status == "loaded"
    after = read_only(workspace.warehouse_file)
    try:
        # Version 1 would have made this one row the whole of 2022; today it adds one child.
        assert after.execute("SELECT count(*) FROM riverbend.records_current WHERE partner_id = "
                             "'riverbend_schools' AND period = '2022'").fetchall() == \
            [(before_2022 + 1,)]
        # The sequence continues after the migrated ids.
        assert after.execute("SELECT max(submission_id) FROM submissions").fetchall() == \
            [(last + 1,)]
    finally:
        after.close()


def test_version_0_text_person_keys_become_the_same_integers(tmp_path, built):
    workspace = workspace_with(tmp_path, built, "version_0.duckdb")
    assert migrations.version_of(read_only_closed(workspace.warehouse_file)) == 0
    warehouse.connect(workspace.warehouse_file).close()
    assert workspace.path("data", "warehouse", "backbone.duckdb.0.bak").exists()
    migrated, expected = read_only(workspace.warehouse_file), read_only(
        built["root"] / "version_1.duckdb")
    try:
        assert migrations.version_of(migrated) == 3
        for table in TABLES + ("riverbend.records_current",):
            assert rows(migrated, table) == rows(expected, table), table
    finally:
        migrated.close()
        expected.close()


def read_only_closed(path: Path):
    """A connection for one question (closed by the garbage collector right after)."""
    return duckdb.connect(str(path), read_only=True)


def test_version_0_keys_are_the_first_128_bits_of_todays_digest(workspace, config):
    """Why version 0 converts exactly: today's key for an id is the first 32 hex digits of the
    version-0 text key (sha256 of salt, ':' and the id), read as an integer."""
    salt = "version-zero-salt"
    folder = workspace.intake / "riverbend" / "riverbend_schools"
    folder.mkdir(parents=True)
    (folder / "f.csv").write_text("person_id,period,kinder_ready\nS-001,2023,1\nS-002,2023,0\n")
    staged = stage_file(folder / "f.csv", config, "riverbend_schools", salt, workspace.staging)
    con = duckdb.connect(staged.staged_db, read_only=True)
    try:
        today = dict(con.execute("SELECT source_row, person_key FROM records").fetchall())
    finally:
        con.close()
    version_0 = duckdb.connect()
    keys = [version_0.execute(f"SELECT ('0x' || left(sha256('{salt}' || ':' || ?), 32))"
                              "::UHUGEINT", [pid]).fetchall()[0][0] for pid in ("S-001", "S-002")]
    assert sorted(today.values()) == sorted(keys)


def test_a_text_key_backbone_did_not_write_stops_the_migration_and_changes_nothing(
        tmp_path, built):
    workspace = workspace_with(tmp_path, built, "version_0.duckdb")
    path = workspace.warehouse_file
    con = duckdb.connect(str(path))
    con.execute("UPDATE riverbend.records SET person_key = 'not-a-key' WHERE source_row = "
                "(SELECT min(source_row) FROM riverbend.records WHERE submission_id = 3) "
                "AND submission_id = 3")
    con.close()
    with pytest.raises(migrations.MigrationFailed) as failure:
        warehouse.connect(path)
    message = str(failure.value)
    assert "from schema version 0 to 3" in message and "backbone rebuild" in message
    assert "submission 3" in message and "person_key" in message
    assert "backbone.duckdb.0.bak" in message
    after = read_only(path)
    try:
        assert migrations.version_of(after) == 0
        assert after.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                             "'backbone_schema'").fetchall() == [(0,)]
    finally:
        after.close()


def test_a_warehouse_written_between_releases_without_a_version_keeps_every_row(tmp_path,
                                                                               built):
    """Unreleased code between versions 1 and 2 wrote today's layout without `backbone_schema`:
    it is taken for version 1, and the step adds only what is missing (nothing here)."""
    workspace = Workspace(tmp_path / "ws").add_definitions()
    shutil.copytree(built["current"].path("data", "warehouse"), workspace.path("data", "warehouse"))
    con = duckdb.connect(str(workspace.warehouse_file))
    con.execute("DROP TABLE backbone_schema")
    expected = {t: rows(con, t, ()) for t in TABLES + ("riverbend.records_current",
                                                        "riverbend.records_set_aside")}
    con.close()
    warehouse.connect(workspace.warehouse_file).close()
    after = read_only(workspace.warehouse_file)
    try:
        assert migrations.version_of(after) == 3
        for table, kept in expected.items():
            assert rows(after, table, ()) == kept, table
    finally:
        after.close()


def test_a_warehouse_newer_than_this_backbone_is_refused_naming_both_versions(tmp_path, built):
    workspace = workspace_with(tmp_path, built, "version_1.duckdb")
    warehouse.connect(workspace.warehouse_file).close()
    con = duckdb.connect(str(workspace.warehouse_file))
    con.execute("INSERT INTO backbone_schema VALUES (7, now(), 'a future backbone')")
    con.close()
    with pytest.raises(migrations.WarehouseTooNew,
                       match=r"schema version 7.*versions up to 3"):
        warehouse.connect(workspace.warehouse_file)


def test_a_new_warehouse_is_stamped_with_the_current_version(tmp_path):
    path = tmp_path / "new.duckdb"
    warehouse.connect(path).close()
    con = read_only(path)
    try:
        assert con.execute("SELECT version, how FROM backbone_schema").fetchall() == [
            (migrations.CURRENT_VERSION, "created")]
    finally:
        con.close()
    assert not list(tmp_path.glob("*.bak"))


def test_every_step_is_numbered_and_reaches_the_current_version():
    assert sorted(migrations.STEPS) == list(range(migrations.CURRENT_VERSION))
    for version in migrations.STEPS:
        assert callable(migrations.step(version).migrate)
        assert migrations.STEPS[version].startswith(f"m{version + 1:04d}_")


def test_backbone_run_migrates_a_version_1_warehouse_and_publishes(tmp_path, built,
                                                                   prefect_harness):
    from pipelines.flows import nightly

    workspace = workspace_with(tmp_path, built, "version_1.duckdb")
    workspace.intake.mkdir(parents=True, exist_ok=True)
    summaries = nightly(home=str(workspace.root), initiative="riverbend")
    assert "error" not in summaries[0]
    assert workspace.path("data", "warehouse", "backbone.duckdb.1.bak").exists()
    reference = built["current"].published("riverbend") / "partnership"
    published = Path(summaries[0]["published"])
    for name in ("indicator_results.parquet", "disparities.parquet"):
        assert_same_rows(pq.read_table(published / name), pq.read_table(reference / name))


def test_raw_quarantine_values_of_version_1_are_masked_by_the_migration(tmp_path, built):
    workspace = workspace_with(tmp_path, built, "version_1.duckdb")
    con = duckdb.connect(str(workspace.warehouse_file))
    try:
        con.execute("INSERT INTO quarantine VALUES (1, 'riverbend', 'riverbend_schools', 7, "
                    "'period', 'wrong_type', '1987-04-02', 'not a year'), (1, 'riverbend', "
                    "'riverbend_schools', 8, 'person_id', 'pattern', "
                    "'(hidden: person identifier)', 'bad id')")
        already = con.execute("SELECT value FROM quarantine WHERE source_row NOT IN (7, 8) "
                              "ORDER BY ALL").fetchall()
    finally:
        con.close()
    warehouse.connect(workspace.warehouse_file).close()
    con = read_only(workspace.warehouse_file)
    try:
        values = dict(con.execute("SELECT source_row, value FROM quarantine WHERE source_row IN "
                                  "(7, 8)").fetchall())
        assert values == {7: "1… (10 characters)", 8: "(hidden: person identifier)"}
        # Values a version-2 load already masked are left as they are.
        assert con.execute("SELECT value FROM quarantine WHERE source_row NOT IN (7, 8) "
                           "ORDER BY ALL").fetchall() == already
    finally:
        con.close()
