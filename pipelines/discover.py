"""Discover stage: which files are waiting in `data/intake/<initiative>/<partner>/`.

Only regular files directly inside a registered partner's folder are taken, once they have not
been written to for a while (BACKBONE_SETTLE_SECONDS): a file still being uploaded is left for a
later run, whatever its name. Names that are plainly temporary (editor/upload temp names,
dotfiles) are always left. Everything else is answered: anything that cannot be a partner CSV
(links, hard links, subfolders, other extensions, loose files outside any partner folder, files of
unregistered or linked folders) is listed with a problem and gets rejected with a reason.

What cannot be attributed to a registered partner is filed under `_unregistered...`, a name no
partner id can have (ids start with a letter), so it never lands in a real partner's folders.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import InitiativeConfig, Workspace
from pipelines.problems import Problem

ACCEPTED_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xls"}
IN_PROGRESS_SUFFIXES = {".part", ".tmp", ".crdownload", ".partial"}
UNREGISTERED = "_unregistered"
# A file is taken once it has not changed for this long. Uploads that stall for longer than this
# are taken half-written (and answered: usually a malformed last row), so it is generous.
DEFAULT_SETTLE_SECONDS = 300.0


@dataclass(frozen=True)
class IntakeFile:
    path: Path
    partner_id: str
    problem: Problem | None = None  # set when the file is refused without being read


def settle_seconds() -> float:
    return float(os.environ.get("BACKBONE_SETTLE_SECONDS") or DEFAULT_SETTLE_SECONDS)


def is_in_progress(path: Path) -> bool:
    return path.name.startswith((".", "~$")) or path.suffix.lower() in IN_PROGRESS_SUFFIXES


def unregistered(folder_name: str = "") -> str:
    return f"{UNREGISTERED}/{folder_name}" if folder_name else UNREGISTERED


def discover(workspace: Workspace, config: InitiativeConfig,
             unreadable: list[tuple[str, str, str]] | None = None) -> list[IntakeFile]:
    """The files waiting; `unreadable` gets (partner id, folder, error) for each folder that
    cannot be listed (its permissions changed, say by an upload client that sets them): its
    files wait in intake, and the night goes on for every other folder."""
    base = workspace.intake / config.id
    found: list[IntakeFile] = []
    if not base.is_dir():
        return found
    now, settle = time.time(), settle_seconds()
    for entry in _listed(base, UNREGISTERED, unreadable):
        folder = entry.is_dir() and not entry.is_symlink()
        # A partner folder is not waited for as a whole (each of its files is, below), unless it
        # is about to be renamed.
        wait = not folder or not _is_text(entry.name)
        if is_in_progress(entry) or (wait and not is_settled(entry, now, settle)):
            continue
        try:
            entry = _readable_name(entry)
        except OSError:  # not ours to rename: looked at again next run
            continue
        if not folder:
            found.append(IntakeFile(entry, unregistered(entry.name), _LINKED_FOLDER)
                         if entry.is_dir() else IntakeFile(entry, UNREGISTERED, _LOOSE))
            continue
        known = entry.name in config.initiative.partners
        partner_id = entry.name if known else unregistered(entry.name)
        # In order of arrival: the night numbers its files in this order, and where two files
        # list the same person and period the higher number (the later file) counts.
        for path in sorted(_listed(entry, partner_id, unreadable),
                           key=lambda p: _arrival(p, now)):
            if is_in_progress(path) or not is_settled(path, now, settle):
                continue
            try:
                path = _readable_name(path)
                found.append(IntakeFile(path, partner_id, _refusal(path, known, entry.name)))
            except OSError:  # gone, or not ours to rename, meanwhile: looked at again next run
                continue
    return found


def arriving(workspace: Workspace, config: InitiativeConfig, found: list[IntakeFile]) -> list[str]:
    """What `discover` left for a later run because it is still being written (changed within the
    settle time, or named as an upload in progress), as "partner/file": a run that takes
    nothing must not say that nothing was there. Dotfiles and Office lock files are not files
    sent, so they are not listed."""
    base = workspace.intake / config.id
    taken = {f.path for f in found}
    left: list[str] = []
    if not base.is_dir():
        return left
    for entry in _listed(base, UNREGISTERED, None):
        inside = _listed(entry, "", None) if entry.is_dir() and not entry.is_symlink() \
            else [entry]
        for path in inside:
            if path not in taken and not path.name.startswith((".", "~$")):
                left.append(os.fsdecode(path.relative_to(base)).encode("utf-8", "replace")
                            .decode("utf-8"))
    return left


def _listed(folder: Path, partner_id: str, unreadable: list | None) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        if unreadable is not None and os.path.lexists(folder):  # gone meanwhile: nothing waits
            unreadable.append((partner_id, f"{os.fsdecode(folder.name)}/",
                               f"the folder cannot be read ({type(exc).__name__}: "
                               f"{exc.strerror}); its files stay in intake until it can be"))
        return []


def _arrival(path: Path, now: float) -> tuple[float, str]:
    """When a file was last written (as `is_settled` reads it), then its name: a correction
    dropped after the file it corrects sorts after it whatever its name ("2023-24
    corrected.csv" sorts before "2023-24.csv" by name)."""
    try:
        info = path.lstat()
    except OSError:  # gone meanwhile: skipped below
        return (float("inf"), path.name)
    return (info.st_mtime if info.st_mtime <= now else info.st_ctime, path.name)


def is_settled(path: Path, now: float, settle: float) -> bool:
    """Nothing at or under `path` written for `settle` seconds.

    Every write sets mtime to now; an mtime in the future (the sender's clock, kept by the
    upload) says nothing, so the time the file arrived here (ctime) counts instead.
    """
    if settle <= 0:
        return True
    newest = 0.0
    entries = [path] if not path.is_dir() or path.is_symlink() else \
        [path, *(Path(root, name) for root, dirs, files in os.walk(path) for name in dirs + files)]
    for entry in entries:
        try:
            info = entry.lstat()
        except OSError:  # gone meanwhile: it will be looked at again next run
            return False
        newest = max(newest, info.st_mtime if info.st_mtime <= now else info.st_ctime)
    return now - newest >= settle


def _is_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept by Python as surrogates
        return False
    return True


def _readable_name(path: Path) -> Path:
    """`path`, renamed in place to text if its name is not valid UTF-8 (b'caf\\xe9.csv').

    Such a name cannot go into a database, a report, a log or Prefect's API, so the file (or
    folder) takes the name the partner's program most likely meant: the bytes read as UTF-8, and
    Windows-1252 where they are not ('café.csv'), never replacing another entry.
    """
    if _is_text(path.name):
        return path
    raw = os.fsencode(path.name)
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:  # a byte Windows-1252 does not define either
        text = raw.decode("utf-8", errors="replace").replace("\ufffd", "_")
    stem, suffix = os.path.splitext(text)
    target, copy = path.with_name(text), 1
    while os.path.lexists(target):
        copy += 1
        target = path.with_name(f"{stem} ({copy}){suffix}")
    os.rename(path, target)
    return target


_LOOSE = Problem(
    "no_partner_folder", "This file was put directly in the initiative's intake folder, not in a "
    "partner's folder, so it cannot be attributed to a partner and was not read. Put it in your "
    "own partner folder and send it again.")
_LINKED_FOLDER = Problem(
    "symlink", "This partner folder is a link to another folder, not a folder: files are only "
    "taken from real folders in the intake, so none of the files it shows were read. The link was "
    "moved aside; put the files in a real partner folder and send them again.")


def _refusal(path: Path, known_partner: bool, folder: str) -> Problem | None:
    if not known_partner:
        return Problem("unknown_partner", f"The folder {folder!r} is not a partner of this "
                       "initiative, so the file cannot be attributed. Ask the backbone team to "
                       "register the partner, or move the file to your own folder.")
    if path.is_symlink():
        return Problem("symlink", "This is a link to another file, not a file. Place the CSV file "
                       "itself in your folder.")
    if path.is_dir():
        # Skipping it would leave its files unanswered forever; it is moved aside whole instead.
        return Problem("subfolder", "This is a folder inside your folder; files in subfolders are "
                       f"not read. Put each CSV file directly in your folder ({folder}/).")
    if not path.is_file():
        return Problem("not_a_file", "This is not a regular file.")
    if path.stat().st_nlink > 1:
        # Another name for the same bytes (a file elsewhere on the server) could change them
        # after they were read, and archiving would keep a file still shared with its owner.
        return Problem("hard_link", "This file is a second name (a hard link) for a file kept "
                       "elsewhere on the server, not a file sent to this folder, so it was not "
                       "read. Copy the file itself into your folder.")
    if path.suffix.lower() not in ACCEPTED_SUFFIXES:
        return Problem("not_a_csv", f"Files ending in {path.suffix or '(no extension)'!r} are not "
                       "accepted; please send a CSV file (.csv) or an Excel workbook (.xlsx).")
    return None
