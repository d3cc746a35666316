"""Per-file work: read, validate and standardize one partner file into its own staging database.

This is the unit the nightly flow maps over (one task per file). It writes only to
`data/staging/<folder>/<sha256>.duckdb`, never to the warehouse, so it can run in parallel and on
other processes (Dask); the warehouse step then loads each staged file in one transaction.

The heavy middle (parsed cells, the typed table GX queries, the standardized rows) lives in a
private in-memory DuckDB database that spills to disk only under memory pressure; the staging
file receives just the two results the warehouse step reads, `records` and `quarantine`. Writing
the typed table to disk and checkpointing it cost more than reading, typing and validating it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import threading
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pipelines.config import InitiativeConfig
from pipelines.duckdb_settings import limit_memory
from pipelines.period_intake import register_periods
from pipelines.problems import FileRejected, Problem
from pipelines.read import Malformed, load_csv, map_header, sniff, unnamed_columns
from pipelines.standardize import set_aside_broken_tables, standardize, standardize_aggregates
from pipelines import folded_rules, resubmission_listed, wide_copy
from pipelines.typed import typed_columns
from pipelines.validate import VIEW, RuleOutcome, build_suite


@dataclass
class StagedFile:
    initiative_id: str
    partner_id: str
    source_path: str
    file_name: str
    sha256: str = ""
    size_bytes: int = 0
    encoding: str = ""
    delimiter: str = ""
    status: str = "staged"  # staged | rejected | unsettled (changed while read: try next run)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    # Columns with values but no name in the header row, which are not read (read.unnamed_columns)
    unnamed_columns: list[str] = field(default_factory=list)
    # template column -> the header the partner's file uses for it ("K Readiness Met"), so
    # messages name columns in the partner's own words
    header_names: dict[str, str] = field(default_factory=dict)
    # Where the rows are, as the partner opens the file: the worksheet read (a workbook) and
    # the row of the column names, which row numbers count from (a workbook's title block).
    sheet: str = ""
    header_row: int = 1
    problems: list[dict] = field(default_factory=list)  # file-level reasons when rejected
    rules: list[dict] = field(default_factory=list)  # one outcome per GX expectation
    staged_db: str | None = None
    # The source as it was read (see source_identity): the bytes hashed, loaded and archived
    # are the same bytes only while this holds.
    source_identity: list[int] = field(default_factory=list)

    @property
    def reasons(self) -> str:
        return "; ".join(str(Problem(**p)) for p in self.problems)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)


# Files staged at once in one process. The flow's thread pool starts every file's task together,
# but DuckDB already spreads one file's big queries over all cores: on 2 cores (3 files of 100 MB)
# one at a time took 10% longer than two at a time and peaked 0.55 GB lower.
_CONCURRENCY = int(os.environ.get("BACKBONE_STAGING_CONCURRENCY") or 0)
STAGING_SLOTS = threading.BoundedSemaphore(_CONCURRENCY or max(1, (os.cpu_count() or 2) // 2))
# Small files, most nights' files, take slots of their own, one per core: their staging is
# mostly fixed costs (GX's Python, DuckDB's statements), and one file's Python runs while
# another's DuckDB work runs. Two at a time staged 40 files of 1,000-5,000 rows in 0.11 s per
# file instead of 0.18 on 2 cores; each holds a few MB, far below the memory limit.
SMALL_FILE_BYTES = 8 * 2**20  # compressed or a workbook, still well under the memory limit
SMALL_FILE_SLOTS = threading.BoundedSemaphore(_CONCURRENCY or max(1, os.cpu_count() or 2))


def slots_for(path: Path) -> threading.BoundedSemaphore:
    try:
        small = path.stat().st_size <= SMALL_FILE_BYTES
    except OSError:  # gone: stage_file answers for it
        small = True
    return SMALL_FILE_SLOTS if small else STAGING_SLOTS


def _bounded(stage):
    @functools.wraps(stage)
    def wrapper(path: Path, *args, **kwargs):
        with slots_for(path):
            return stage(path, *args, **kwargs)
    return wrapper


def identity_of(info: os.stat_result) -> list[int]:
    """Device, inode, size, mtime and ctime: any write changes mtime or ctime (a writer can set
    mtime back, never ctime), so the same identity means the same bytes."""
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def source_identity(path: Path) -> list[int]:
    return identity_of(path.stat())


def has_identity(path: Path, identity: list[int] | None) -> bool:
    """Whether `path` is still the file `identity` was taken of (False once it is gone)."""
    try:
        return source_identity(path) == identity
    except OSError:
        return False


def unchanged_since_staging(staged: StagedFile) -> bool:
    return has_identity(Path(staged.source_path), staged.source_identity)


def staging_folder(staging_dir: Path, path: Path | str) -> Path:
    """A folder per source path: identical files dropped the same night (a resend) are staged
    in parallel and must not share a database or a transcoded copy."""
    return staging_dir / hashlib.sha256(os.fsencode(path)).hexdigest()[:16]


@_bounded
def stage_file(path: Path, config: InitiativeConfig, partner_id: str, salt: str,
               staging_dir: Path) -> StagedFile:
    """Never raises for a bad file: problems come back in the StagedFile, status 'rejected'.

    A file that changed while it was read (an upload still going on) comes back 'unsettled',
    with nothing staged, for a later run.
    """
    staged = StagedFile(config.id, partner_id, str(path), path.name)
    staging_dir = staging_folder(staging_dir, path)
    try:
        staged.source_identity = source_identity(path)
    except FileNotFoundError:  # taken back by its sender since discover: nothing to answer
        staged.status = "unsettled"
        return staged
    staging_dir.mkdir(parents=True, exist_ok=True)
    try:
        sniffed = sniff(path, staging_dir, config.schema_for(partner_id),
                        config.crosswalks[partner_id])
        staged.sha256, staged.size_bytes = sniffed.sha256, sniffed.size
        staged.encoding, staged.delimiter = sniffed.encoding, sniffed.delimiter
        staged.sheet, staged.header_row = sniffed.sheet or "", sniffed.row_offset + 1
        schema = config.schema_for(partner_id)
        crosswalk = config.crosswalks[partner_id]
        header_map = map_header(sniffed.header, schema, crosswalk)
        staged.ignored_columns = header_map.ignored
        staged.header_names = {name: sniffed.header[position].strip()
                               for position, name in header_map.positions.items()}

        database = staging_dir / f"{sniffed.sha256}.duckdb"
        database.unlink(missing_ok=True)  # a rerun after a crash starts the file over
        Path(f"{database}.wal").unlink(missing_ok=True)
        # Imported here, not at module level: importing GX takes 3-4 s, and a night with
        # nothing to stage (or `ingest`, `feedback`) never needs it.
        from pipelines import gx_duckdb

        memory = f":memory:stage_{uuid.uuid4().hex}"
        con = gx_duckdb.connect(memory)
        limit_memory(con, spill=staging_dir / "spill")
        try:
            staged.unnamed_columns = unnamed_columns(con, sniffed, header_map.unnamed)
            # Thousands of columns not in the template: read as one (pipelines.wide_copy).
            sniffed, positions = wide_copy.fold(sniffed, header_map.positions)
            header_map = replace(header_map, positions=positions)
            _validate_and_standardize(con, memory, database, staged, sniffed, header_map, config,
                                      salt)
        finally:
            con.close()
        staged.staged_db = str(database)
    except FileRejected as rejection:
        staged.status = "rejected"
        staged.problems = [p.as_dict() for p in rejection.problems]
        # Keep what was staged: the partner report still lists the bad rows of a rejected file.
        database = staging_dir / f"{staged.sha256}.duckdb"
        if staged.sha256 and database.exists():
            staged.staged_db = str(database)
    except BaseException:
        # A crash (a bug, out of memory) leaves the file in intake for a rerun, and nothing in
        # its staging folder (this file's alone): the database's quarantine holds raw ids, a
        # transcoded copy the whole file.
        shutil.rmtree(staging_dir, ignore_errors=True)
        raise
    finally:
        # The folder is this source path's alone: a copy transcoded before a rejection left
        # staged.sha256 unset (a blank first line) is this file's data too.
        for copy in staging_dir.glob("*.utf8.csv"):
            copy.unlink(missing_ok=True)
        shutil.rmtree(staging_dir / "spill", ignore_errors=True)
        shutil.rmtree(staging_dir / "pieces", ignore_errors=True)
    if not unchanged_since_staging(staged):
        shutil.rmtree(staging_dir, ignore_errors=True)
        return StagedFile(config.id, partner_id, str(path), path.name, status="unsettled")
    return staged


# Compression methods left out of the staging file. The staged records are read once, by the
# warehouse step, and deleted after it; trying bitpacking on every integer and boolean segment
# was a fifth of writing them: without it, standardize costs 8-12% less CPU for a staging file
# 1.6-2.2x larger (13 -> 21-30 MB per 450k rows), which the warehouse reads in the same time
# (`benchmarks/RESULTS.md`, 2026-12-01, helper T). "" in tests: every method, to compare.
STAGED_UNCOMPRESSED = "bitpacking"


def _validate_and_standardize(con, memory: str, database: Path, staged: StagedFile, sniffed,
                              header_map, config: InitiativeConfig, salt: str) -> None:
    partner_id = staged.partner_id
    schema, crosswalk = config.schema_for(partner_id), config.crosswalks[partner_id]
    present = list(header_map.positions.values())
    # European Excel writes ';' files, with decimal commas and dotted thousands ("45.000").
    stored, exposed = typed_columns(schema, crosswalk, present,
                                    thousands_dots=sniffed.delimiter == ";")
    malformed = load_csv(con, sniffed, header_map, table=VIEW, materialize=False,
                         select=stored, expose=exposed)
    register_periods(con, schema, crosswalk, config.initiative.calendar)
    aggregate_ids = tuple(i.id for i in config.indicators if i.source == "aggregates")
    suite = _suite(schema, crosswalk, partner_id, present, aggregate_ids, staged.header_names,
                   config.standards.race)
    outcome = folded_rules.validate(con, memory, suite)
    if malformed.count:
        con.execute("INSERT INTO quarantine SELECT _row, NULL, rule, NULL, message FROM _malformed")
    staged.rules = [asdict(o) for o in outcome.outcomes]
    if schema.kind == "aggregates" and (set_aside := set_aside_broken_tables(con, schema)):
        staged.rules.append(asdict(RuleOutcome(
            "table_set_aside", "", "A table with a row set aside is set aside whole.",
            "set_aside_broken_tables", set_aside, False)))
    staged.rows_read = outcome.row_count + malformed.count
    # Rows set aside only with their table are no sign of a wrong template or export: they are
    # not counted against max_bad_row_share (rows with their own problem are).
    staged.rows_quarantined, bad = _bad_rows(con, schema)
    # The staging file gets the quarantine even when the file is then rejected (the partner
    # report lists its bad rows), and the standardized rows are written straight into it.
    con.execute("ATTACH $path AS kept", {"path": str(database)})
    # This private database's own tables live in memory, uncompressed: the setting reaches only
    # what is written into the staging file.
    con.execute("SET disabled_compression_methods = $off", {"off": STAGED_UNCOMPRESSED})
    try:
        con.execute("CREATE TABLE kept.quarantine AS FROM quarantine")
        _reject_if_unusable(staged, schema.max_bad_row_share, malformed, bad)
        staged.rows_loaded = (
            standardize_aggregates(con, schema, partner_id, out="kept.records")
            if schema.kind == "aggregates"
            else standardize(con, config, partner_id, salt, out="kept.records"))
        if schema.kind != "aggregates":  # whom its set-aside rows list (resubmission_listed)
            resubmission_listed.stage_keys(con, config, salt)
    finally:
        con.execute("DETACH kept")


def _bad_rows(con, schema) -> tuple[int, int]:
    """Rows quarantined, and those of them counted against max_bad_row_share. An aggregate
    table with a row of its own problem (a mistyped race label) no longer adds up, so its sum
    check flags its other rows too: those are set aside with their table, like `table_set_aside`
    rows, and do not count. A table flagged by its sums alone (no row of its own problem) still
    counts every row: nothing else says the export is wrong."""
    if schema.kind != "aggregates":
        return con.execute("SELECT count(DISTINCT _row), count(DISTINCT _row) FILTER (WHERE "
                           "rule <> 'table_set_aside') FROM quarantine").fetchall()[0]
    table = f"{schema.role_column('indicator_id')}, {schema.role_column('period')}"
    whole = "('table_set_aside', 'subgroups_do_not_sum')"
    return con.execute(f"""
        SELECT count(DISTINCT q._row), count(DISTINCT q._row) FILTER (
                   WHERE q.rule NOT IN {whole}
                      OR (q.rule = 'subgroups_do_not_sum' AND own.table_has_own IS NULL))
        FROM quarantine q LEFT JOIN {VIEW} v ON v._row = q._row
        LEFT JOIN (SELECT DISTINCT {table}, true AS table_has_own
                   FROM {VIEW} JOIN quarantine USING (_row) WHERE rule NOT IN {whole}) own
          USING ({table})""").fetchall()[0]


# Suites already built in this process. A night's files from one partner usually share their
# template, crosswalk and headers, so the suite is built once (GX takes 10-200 ms per suite, more
# than reading a small file). Keyed by everything build_suite reads, by value: each task loads
# its own copy of the definitions. Validation does not change a suite, and gx_duckdb runs one
# validation at a time.
_SUITES: dict[tuple, object] = {}
_SUITES_LOCK = threading.Lock()
_SUITES_KEPT = 64


def _suite(schema, crosswalk, partner_id: str, present: list[str], indicator_ids: tuple,
           headers: dict[str, str], race):
    key = (schema.model_dump_json(), crosswalk.model_dump_json(), partner_id, tuple(present),
           indicator_ids, tuple(sorted(headers.items())), race.model_dump_json() if race else None,
           dt.date.today())  # the future-period rule names today's year
    with _SUITES_LOCK:
        suite = _SUITES.get(key)
    if suite is None:
        suite = folded_rules.fold(build_suite(schema, crosswalk, partner_id, present,
                                              indicator_ids=indicator_ids, headers=headers,
                                              race=race))
        with _SUITES_LOCK:
            if len(_SUITES) >= _SUITES_KEPT:
                _SUITES.clear()
            _SUITES[key] = suite
    return suite


def _reject_if_unusable(staged: StagedFile, max_bad_share: float,
                        malformed: Malformed, bad: int) -> None:
    if staged.rows_read == 0:
        raise FileRejected(Problem("no_rows", "The file has a header row but no data rows."))
    share = bad / staged.rows_read
    if share > max_bad_share:
        failed = [r for r in staged.rules if not r["success"] and r["unexpected_count"] > 0
                  and r["rule"] != "table_set_aside"]
        if malformed.first:
            failed.append({"message": f"{malformed.first.message} (and similar)",
                           "unexpected_count": malformed.count})
        worst = sorted(failed, key=lambda r: -r["unexpected_count"])[:3]
        detail = "; ".join(f"{r['message']} ({r['unexpected_count']} rows)" for r in worst)
        raise FileRejected(Problem(
            "too_many_bad_rows", f"{bad} of {staged.rows_read} rows have "
            f"problems ({share:.0%}), so the file was not loaded: it may be the wrong template or "
            f"export. Most common: {detail}"))
