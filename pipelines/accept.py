"""`backbone accept FILE`: a data lead applies a held file.

A file is held when, as a period's complete file, it would remove more than half of the partner's
rows for that period (pipelines/resubmission.py). Accepting applies it, and the files judged
together with it in the same run, in one transaction; the partner's reports get a dated note of
what changed. The numbers are published by the next `backbone run`, which sees the change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pipelines import part_changes, resubmission, resubmission_report, warehouse
from pipelines.atomic_write import replace_text
from pipelines.config import Workspace


class NotHeld(ValueError):
    """The named file is not a held submission of this workspace."""


@dataclass
class Accepted:
    initiative_id: str
    partner_id: str
    files: list[str]
    lines: list[str]  # "2023: 3,000 -> 1,000 rows (replaced)"


def _find(con, workspace: Workspace, file: Path) -> tuple:
    """The held submission `file` names: its archive path (absolute, or relative to the current
    folder or the workspace) or, when unambiguous, its archived or original file name."""
    held = con.execute("SELECT submission_id, initiative_id, partner_id, file_name, stored_path "
                       "FROM submissions WHERE status = 'held' ORDER BY submission_id").fetchall()
    paths = {str(p.resolve()) for p in (file, workspace.root / file) if p.exists()}
    matches = [h for h in held if h[4] and str(Path(h[4]).resolve()) in paths]
    if not matches:
        matches = [h for h in held if file.name in (Path(h[4] or "").name, h[3])]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        names = "; ".join(str(h[4]) for h in held) or "none"
        raise NotHeld(f"{file}: not a held file of {workspace.root}. Held files: {names}")
    raise NotHeld(f"{file}: {len(matches)} held files have this name; give the path: "
                  + "; ".join(str(h[4]) for h in matches))


def accept_file(workspace: Workspace, file: Path) -> Accepted:
    """Apply the held file (and its same-run companions); the caller holds the workspace lock."""
    if not workspace.warehouse_file.exists():
        raise NotHeld(f"{workspace.root}: no warehouse yet, so nothing is held")
    con = warehouse.connect(workspace.warehouse_file)
    try:
        submission_id, initiative_id, partner_id, _, _ = _find(con, workspace, file)
        config = workspace.load(initiative_id)
        warehouse.ensure_initiative_tables(con, config)
        group = part_changes.held_group(con, config, submission_id)
        newer = part_changes.overtaken(con, config, partner_id, group)
        if newer:
            raise NotHeld(f"{file}: newer files from {partner_id} for {', '.join(newer)} were "
                          "applied after it was held; accepting it now would undo them. If it "
                          "is still right, ask the partner to send it again.")
        run_id = f"accept-{dt.datetime.now():%Y%m%dT%H%M%S}"
        con.execute("BEGIN TRANSACTION")
        try:
            changes = resubmission.accept(con, config, partner_id, group, run_id)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        unit = resubmission.layout_for(config, partner_id).unit
        files = con.execute(f"SELECT submission_id, file_name, report_path FROM submissions "
                            f"WHERE submission_id IN ({', '.join(map(str, group))}) "
                            "ORDER BY submission_id").fetchall()
        share = config.schema_for(partner_id).complete_file_share
        for sid, _, report in files:
            mine = [c for c in changes if sid in c.submission_ids]
            _append_note(report, resubmission_report.sections(mine, "loaded", unit, share, [], ""))
    finally:
        warehouse.close(con)
    return Accepted(initiative_id, partner_id, [f[1] for f in files],
                    [f"{c.label}: {c.before:,} -> {c.after:,} {unit} ({c.decision})"
                     for c in changes])


def _append_note(report: str | None, sections: list[str]) -> None:
    """Add the acceptance to the partner's report of the file, keeping what it said before."""
    if not report or not Path(report).is_file():
        return
    path = Path(report)
    lines = ["", f"## Accepted by a data lead on {dt.datetime.now():%Y-%m-%d %H:%M}", "",
             "The held file now counts; it is in the figures from the next run on.", ""]
    lines += [line.replace("## What this file did to your earlier data", "### What changed")
              for line in sections]
    replace_text(path, path.read_text(encoding="utf-8") + "\n".join(lines))
