"""Discover stage: which files are waiting in `data/intake/<initiative>/<partner>/`.

Only regular files directly inside a registered partner's folder are taken. Files still being
written (editor/upload temp names, dotfiles) are left for the next run; anything else that cannot
be a partner CSV (links, subfolders, other extensions, unknown partners) is still answered: it is
listed with a problem and gets rejected with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.config import InitiativeConfig, Workspace
from pipelines.problems import Problem

ACCEPTED_SUFFIXES = {".csv", ".txt", ".tsv"}
IN_PROGRESS_SUFFIXES = {".part", ".tmp", ".crdownload", ".partial"}


@dataclass(frozen=True)
class IntakeFile:
    path: Path
    partner_id: str
    problem: Problem | None = None  # set when the file is refused without being read


def _in_progress(path: Path) -> bool:
    return path.name.startswith((".", "~$")) or path.suffix.lower() in IN_PROGRESS_SUFFIXES


def discover(workspace: Workspace, config: InitiativeConfig) -> list[IntakeFile]:
    base = workspace.intake / config.id
    found: list[IntakeFile] = []
    if not base.is_dir():
        return found
    for folder in sorted(base.iterdir()):
        if not folder.is_dir() or folder.is_symlink():
            continue
        partner_id = folder.name
        known = partner_id in config.initiative.partners
        for path in sorted(folder.iterdir()):
            if _in_progress(path):
                continue
            found.append(IntakeFile(path, partner_id, _refusal(path, known, partner_id)))
    return found


def _refusal(path: Path, known_partner: bool, partner_id: str) -> Problem | None:
    if not known_partner:
        return Problem("unknown_partner", f"The folder {partner_id!r} is not a partner of this "
                       "initiative, so the file cannot be attributed. Ask the backbone team to "
                       "register the partner, or move the file to your own folder.")
    if path.is_symlink():
        return Problem("symlink", "This is a link to another file, not a file. Place the CSV file "
                       "itself in your folder.")
    if path.is_dir():
        # Skipping it would leave its files unanswered forever; it is moved aside whole instead.
        return Problem("subfolder", "This is a folder inside your folder; files in subfolders are "
                       f"not read. Put each CSV file directly in your folder ({partner_id}/).")
    if not path.is_file():
        return Problem("not_a_file", "This is not a regular file.")
    if path.suffix.lower() not in ACCEPTED_SUFFIXES:
        return Problem("not_a_csv", f"Files ending in {path.suffix or '(no extension)'!r} are not "
                       "accepted; please send a CSV file (.csv).")
    return None
