"""`backbone release`: copy the current partnership results to the public folder, on purpose.

Public figures change only here, never on a nightly run: comparing two nightly releases told an
outsider one added child's race and outcome. A release takes the initiative-wide rows
(partner_id 'ALL') of the latest partnership version as they are (same suppression, so the two
audiences never show different cells that could be played off against each other), and writes a
release note of every public cell that changed since the previous release.

Reads only the published Parquet, never the warehouse, so it does not wait for analysts.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.config import InitiativeConfig, Workspace
from pipelines.datapackage import write_datapackage
from pipelines.dictionary import parquet_kv_metadata
from pipelines.publish import (DISPARITY_ORDER, RESULT_ORDER, guideline_notes, indicator_views,
                               initiative_view, write_manifest)
from pipelines.release_note import (CELL_KEY, indicator_definitions, revisions,
                                    write_release_note)
from pipelines.scorecard import render_scorecard
from pipelines.scorecard_owed import owed_view, status_in
from pipelines.sql import sql_literal
from pipelines.versions import PARTNERSHIP, PUBLIC, current_version, finish_version, start_version

PUBLIC_SOURCE_FIELDS = ("submission_id", "partner_id", "sha256", "received_at", "kind")


class ReleaseError(RuntimeError):
    """Nothing can be released (yet): the message says what to do."""


@dataclass
class Released:
    release_id: str | None  # None: nothing was revised, the previous release stands
    folder: Path
    changes: dict[str, int]
    previous: str | None
    # Revised cells whose people, outcome or non-outcome count moved by 1..threshold: comparing
    # this release with the previous one shows those few people's group and outcome.
    small_changes: int = 0


def release(workspace: Workspace, config: InitiativeConfig, *, release_id: str | None = None,
            force: bool = False) -> Released:
    """Publish the initiative-wide rows of the current partnership version as a public release."""
    now = dt.datetime.now(dt.timezone.utc)
    release_id = release_id or f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    source = current_version(workspace, config.id, PARTNERSHIP)
    if source is None or not (source / "manifest.json").is_file():
        raise ReleaseError(f"{config.id}: nothing has been published yet; run `backbone run` "
                           "first, check the partnership scorecard, then release.")
    built = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    if built.get("definitions_fingerprint") != config.fingerprint:
        raise ReleaseError(f"{config.id}: the definitions changed since the last run "
                           f"({built.get('run_id')}); run `backbone run` so the results match "
                           "them, then release.")
    previous = current_version(workspace, config.id, PUBLIC)
    previous_manifest = (json.loads((previous / "manifest.json").read_text(encoding="utf-8"))
                         if previous and (previous / "manifest.json").is_file() else None)

    staging = start_version(workspace, config.id, PUBLIC, release_id)
    try:
        con = duckdb.connect()
        try:
            for name, order in (("indicator_results", RESULT_ORDER),
                                ("disparities", DISPARITY_ORDER)):
                con.execute(f"COPY (SELECT * FROM read_parquet(?) WHERE partner_id = 'ALL' "
                            f"ORDER BY {order}) TO {sql_literal(str(staging / name) + '.parquet')} "
                            "(FORMAT parquet, COMPRESSION zstd, "
                            f"{parquet_kv_metadata(config, name)})",
                            [str(source / f"{name}.parquet")])
            changed = revisions(con, previous / "indicator_results.parquet" if previous else None,
                                staging / "indicator_results.parquet")
        finally:
            con.close()
        counts = {kind: sum(1 for c in changed if c["change"] == kind)
                  for kind in sorted({c["change"] for c in changed})}
        same_definitions = (previous_manifest or {}).get("definitions_fingerprint") == \
            config.fingerprint
        if previous_manifest and not changed and same_definitions and not force:
            shutil.rmtree(staging)
            return Released(None, workspace.published(config.id) / PUBLIC, {},
                            previous_manifest.get("release_id"))
        _write_release(staging, config, built, previous_manifest, changed, counts, release_id,
                       now, source)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    folder = finish_version(workspace, config.id, PUBLIC, staging, release_id)
    return Released(release_id, folder, counts,
                    previous_manifest.get("release_id") if previous_manifest else None,
                    small_changes(changed, config.initiative.suppression.threshold))


def small_changes(changed: list[dict], threshold: int) -> int:
    """How many revised cells moved by a count of 1..threshold (a differencing risk)."""
    def small(c: dict) -> bool:
        if c["change"] != "revised":
            return False
        old = (c["old_denominator"], c["old_numerator"], c["old_denominator"] - c["old_numerator"])
        new = (c["new_denominator"], c["new_numerator"], c["new_denominator"] - c["new_numerator"])
        return any(0 < abs(a - b) <= threshold for a, b in zip(old, new))
    return sum(small(c) for c in changed)


def _write_release(staging: Path, config: InitiativeConfig, built: dict,
                   previous: dict | None, changed: list[dict], counts: dict[str, int],
                   release_id: str, now: dt.datetime, source: Path | None = None) -> None:
    created = now.isoformat(timespec="seconds")
    sources = [{k: s.get(k) for k in PUBLIC_SOURCE_FIELDS} for s in built.get("source_files", [])]
    guidelines = built.get("poverty_guideline_years", [])
    write_release_note(staging / "release_note.md", config, release_id, now, built, previous,
                       changed)
    write_datapackage(staging, config, public=True, version=release_id, created=created,
                      partner_ids=sorted({s["partner_id"] for s in sources}))
    # Who still owes what is the partnership's status: the public page gets how many partners
    # owe each headline period (as of the partnership version released), never which.
    still_owed = (owed_view(config, status_in(source), named=False, salt=release_id)
                  if source is not None else None)
    render_scorecard(staging, initiative_view(config, guidelines, PUBLIC, still_owed),
                     indicator_views(config), staging / "scorecard.html", generated_at=now)
    write_manifest(staging, {
        "initiative_id": config.id, "audience": PUBLIC, "release_id": release_id,
        # run_id names the folder a reader resolved, as in the partnership manifest.
        "run_id": release_id, "released_at": created,
        "from_partnership_run": built.get("run_id"), "data_generated_at": built.get("generated_at"),
        "definitions_fingerprint": config.fingerprint, "data_version": built.get("data_version"),
        "settings_fingerprint": config.settings_fingerprint,
        "suppression_threshold": config.initiative.suppression.threshold,
        "previous_release": previous.get("release_id") if previous else None,
        "revisions": counts, "revised_cell_key": list(CELL_KEY),
        "indicator_definitions": indicator_definitions(config),
        "poverty_guideline_years": guidelines, "notes": guideline_notes(guidelines),
        "indicator_periods": built.get("indicator_periods", []),
        # For `backbone scorecard --audience public`: the release's own "not final" notes.
        "still_owed": still_owed, "source_files": sources})
