"""`backbone rebuild`: a new warehouse from data/archive/, in the original order of receipt.

When a warehouse cannot be migrated (or a data lead wants today's rules applied to all of
history), every file the warehouse loaded or held is staged again, straight from its archived
path (nothing is moved, copied into intake or hard-linked), with the initiative's same salt, and
loaded by the same code a nightly run uses, one original night and partner at a time, in the
order of the `submissions` table. Each file gets back its original submission id, name, run,
time of receipt and report path, so the data version, the manifests' source files and every
partner report stay valid; no partner report is written or rewritten.

- rejected files are not re-ingested: their submission rows and quarantine lines are copied as
  they were; duplicates stay duplicates (copied as they were);
- held files are judged again by the rule and return to held; a file a data lead accepted is
  accepted again at once (what `backbone accept` did, in the same order);
- with `--initiative X` only X is re-ingested; other initiatives' tables are copied as they are.

The new warehouse is written next to the live one and swapped in with one rename after the live
file is linked aside as `backbone.duckdb.<time>.before-rebuild.bak`; then each rebuilt initiative
is measured and published (a new partnership version) and the analyst snapshot refreshed.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import duckdb

from pipelines import ingest, resubmission, warehouse
from pipelines.config import ConfigError, InitiativeConfig, Workspace
from pipelines.intake import stage_file
from pipelines.lock import workspace_lock
from pipelines.standardize import read_salt

REINGESTED = ("loaded", "held")


class RebuildError(RuntimeError):
    """The rebuild stopped; the live warehouse is untouched."""


@dataclass
class RebuildOutcome:
    initiatives: list[str]
    files: int = 0
    copied: int = 0  # rejected and duplicate submissions, and other initiatives' files
    backup: Path | None = None
    published: dict[str, str] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)


def rebuild(workspace: Workspace, initiative: str | None = None) -> RebuildOutcome:
    with workspace_lock(workspace, purpose="rebuild"):
        return _rebuild(workspace, initiative)


def publish_now(con: duckdb.DuckDBPyConnection, workspace: Workspace, config: InitiativeConfig,
                run_id: str) -> Path:
    """Measure, suppress and publish one initiative, as the nightly warehouse step does."""
    from pipelines.refresh import measure_and_publish

    return measure_and_publish(con, workspace, config, run_id).published


def _rebuild(workspace: Workspace, initiative: str | None) -> RebuildOutcome:
    live = workspace.warehouse_file
    if not live.exists():
        raise RebuildError(f"{live}: no warehouse to rebuild")
    warehouse.connect(live).close()  # an older warehouse is migrated (and copied aside) first
    ids = [initiative] if initiative else workspace.initiative_ids()
    configs = {i: workspace.load(i) for i in ids}
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    outcome = RebuildOutcome(sorted(configs))
    target = live.with_name(live.name + ".rebuilding")
    scratch = workspace.staging / f".rebuild-{stamp}"
    for stale in (target, target.with_name(target.name + ".wal")):
        stale.unlink(missing_ok=True)
    try:
        con = warehouse.connect(target)
        try:
            _fill(con, live, workspace, configs, scratch, outcome)
        finally:
            con.close()
        outcome.backup = live.with_name(f"{live.name}.{stamp}.before-rebuild.bak")
        _swap(live, target, outcome.backup)
    except BaseException:
        target.unlink(missing_ok=True)
        target.with_name(target.name + ".wal").unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    con = warehouse.connect(live)
    try:
        for config in configs.values():
            warehouse.ensure_initiative_tables(con, config)
            try:
                outcome.published[config.id] = str(publish_now(con, workspace, config,
                                                               f"rebuild-{stamp}"))
            except ConfigError as exc:
                raise RebuildError(
                    f"the rebuilt warehouse is in place (the previous one is {outcome.backup}), "
                    f"but {config.id} was not measured or published: {exc}") from exc
    finally:
        con.close()
    from pipelines.snapshot import snapshot_warehouse

    snapshot_warehouse(workspace)
    return outcome


def archived(workspace: Workspace, stored: str) -> Path:
    """The archived file a submission names, in this workspace's data/archive/. Paths are
    recorded absolute; a workspace moved, restored or copied elsewhere reads its own archive,
    never the one at the recorded place (a copy's rebuild must not read the original's files)."""
    path = Path(stored)
    parts = path.parts
    for at in range(len(parts) - 2, -1, -1):
        if parts[at:at + 2] == ("data", "archive"):
            return workspace.root.joinpath(*parts[at:])
    return path


def _swap(live: Path, rebuilt: Path, backup: Path) -> None:
    """The live name points at the rebuilt file in one rename; the old file stays as `backup`."""
    try:
        os.link(live, backup)
    except OSError:  # a file system without hard links
        shutil.copyfile(live, backup)
    os.replace(rebuilt, live)


def _fill(con: duckdb.DuckDBPyConnection, live: Path, workspace: Workspace,
          configs: dict[str, InitiativeConfig], scratch: Path, outcome: RebuildOutcome) -> None:
    con.execute("ATTACH ? AS live (READ_ONLY)", [str(live)])
    try:
        for config in configs.values():
            warehouse.ensure_initiative_tables(con, config)
        rows = con.execute("SELECT submission_id, initiative_id, partner_id, status, run_id, "
                           "stored_path FROM live.submissions ORDER BY submission_id").fetchall()
        again = [r for r in rows if r[1] in configs and r[3] in REINGESTED]
        groups = [list(g) for _, g in groupby(
            sorted(again, key=lambda r: (r[4] or "", r[1], r[2], r[0])),
            key=lambda r: (r[4], r[1], r[2]))]
        groups.sort(key=lambda g: g[0][0])
        for group in groups:
            _load_group(con, workspace, configs[group[0][1]], group, scratch, outcome)
        _copy_the_rest(con, configs)
        outcome.copied = len(rows) - len(again)
        last = rows[-1][0] if rows else 0
        _advance_sequence(con, last)
    finally:
        con.execute("DETACH live")


def _advance_sequence(con: duckdb.DuckDBPyConnection, last_used: int) -> None:
    """Make the next submission id `last_used + 1` (ids skipped by the copy are used up)."""
    try:
        ahead = con.execute("SELECT currval('submission_ids')").fetchall()[0][0]
    except duckdb.Error:  # never used yet
        ahead = 0
    if last_used > ahead:
        con.execute("SELECT max(nextval('submission_ids')) FROM range(?)", [last_used - ahead])


def _load_group(con: duckdb.DuckDBPyConnection, workspace: Workspace, config: InitiativeConfig,
                group: list[tuple], scratch: Path, outcome: RebuildOutcome) -> None:
    """One partner's files of one original night, loaded together as that night loaded them."""
    original = [r[0] for r in group]
    _advance_sequence(con, original[0] - 1)
    partner_id, run_id = group[0][2], group[0][4]
    salt = read_salt(workspace, config.id)
    received = dict(con.execute(f"SELECT submission_id, sha256 FROM live.submissions WHERE "
                                f"submission_id IN ({', '.join(map(str, original))})").fetchall())
    staged = []
    try:
        for submission_id, _, _, _, _, stored in group:
            path = archived(workspace, stored)
            if not path.is_file():
                raise RebuildError(
                    f"{path}: submission {submission_id} of {partner_id} is missing from the "
                    "archive; restore the archived file and rebuild again. The live warehouse "
                    "is unchanged.")
            item = stage_file(path, config, partner_id, salt, scratch)
            staged.append(item)
            if item.status == "staged" and received.get(submission_id) and \
                    item.sha256 != received[submission_id]:
                raise RebuildError(
                    f"{path}: submission {submission_id} of {partner_id} is not the file that "
                    f"was received (sha256 {received[submission_id][:12]}..., now "
                    f"{item.sha256[:12]}...): it was changed after it was archived. Restore the "
                    "received file and rebuild again. The live warehouse is unchanged.")
            if item.status != "staged":
                raise RebuildError(
                    f"{stored}: submission {submission_id} of {partner_id} no longer stages "
                    f"({item.status}: {item.problems[:1]}); fix the definitions, or restore the "
                    "archived file, and rebuild again. The live warehouse is unchanged.")
        ids, night = warehouse.load_night(con, config, staged, run_id,
                                          [Path(r[5]) for r in group])
    finally:
        for item in staged:
            ingest.drop_staging(item)
    if ids != original:
        raise RebuildError(f"submissions {original} came back as {ids}: the original ids could "
                           "not be reproduced, so reports and manifests would no longer match. "
                           "The live warehouse is unchanged.")
    con.execute(f"""UPDATE submissions SET file_name = o.file_name, received_at = o.received_at,
                       report_path = o.report_path
                   FROM live.submissions o
                   WHERE o.submission_id = submissions.submission_id
                     AND o.submission_id IN ({', '.join(map(str, ids))})""")
    outcome.files += len(ids)
    was = dict(con.execute(f"SELECT submission_id, status FROM live.submissions WHERE "
                           f"submission_id IN ({', '.join(map(str, ids))})").fetchall())
    # Accepted: a data lead ran `backbone accept` on it (its part_changes say so). A file held
    # today that was simply loaded then (a setting such as complete_extracts changed since) was
    # never accepted by anyone: it stays held, and the rebuild says so.
    by_lead = _accepted_in_live(con, config)
    accepted = [s for s in ids if night.status[s] == "held" and was[s] == "loaded"
                and s in by_lead]
    if accepted:  # a data lead accepted them: do it again, before any later file
        con.execute("BEGIN TRANSACTION")
        try:
            resubmission.accept(con, config, partner_id, accepted, run_id)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    for s in ids:
        if night.status[s] == "held" and was[s] == "loaded" and s not in by_lead:
            outcome.differences.append(
                f"submission {s} ({partner_id}) was loaded and is now held: today's "
                "resubmission settings hold it, so it does not count until a data lead runs "
                "`backbone accept` on it")
        if night.status[s] == "loaded" and was[s] == "held":
            outcome.differences.append(
                f"submission {s} ({partner_id}) was held and is now loaded: today's "
                "resubmission settings no longer hold it")


def _accepted_in_live(con: duckdb.DuckDBPyConnection, config: InitiativeConfig) -> set[int]:
    """Submissions a data lead accepted in the live warehouse (`backbone accept`)."""
    try:
        return {s for (s,) in con.execute(
            f"SELECT DISTINCT unnest(submission_ids) FROM live.{config.id}.part_changes "
            "WHERE how = 'accepted by a data lead'").fetchall()}
    except duckdb.CatalogException:  # before held files existed: nothing was ever accepted
        return set()


def _copy_the_rest(con: duckdb.DuckDBPyConnection, configs: dict[str, InitiativeConfig]) -> None:
    """Submissions not re-ingested, their quarantine lines, the runs, and the tables of
    initiatives not being rebuilt, as they are."""
    chosen = ", ".join(f"'{i}'" for i in configs)
    kept = f"(status NOT IN ('loaded', 'held') OR initiative_id NOT IN ({chosen}))"
    con.execute(f"INSERT INTO submissions SELECT * FROM live.submissions WHERE {kept}")
    con.execute(f"INSERT INTO quarantine SELECT * FROM live.quarantine WHERE submission_id IN "
                f"(SELECT submission_id FROM live.submissions WHERE {kept})")
    con.execute("INSERT INTO runs SELECT * FROM live.runs")
    others = [r[0] for r in con.execute(
        f"SELECT DISTINCT schema_name FROM duckdb_tables() WHERE database_name = 'live' "
        f"AND schema_name NOT IN ('main', {chosen})").fetchall()]
    for schema in others:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name "
                                    "= 'live' AND schema_name = ?", [schema]).fetchall():
            con.execute(f"CREATE TABLE {schema}.{table} AS FROM live.{schema}.{table}")
        for (sql,) in con.execute("SELECT sql FROM duckdb_views() WHERE database_name = 'live' "
                                  "AND schema_name = ?", [schema]).fetchall():
            con.execute(sql)
