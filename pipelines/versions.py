"""Published folders by audience, each an atomically swapped symlink to an immutable version.

    data/published/<initiative>/partnership -> ../.versions/<initiative>/partnership/<run_id>
    data/published/<initiative>/public      -> ../.versions/<initiative>/public/<release_id>

A version is written complete under a hidden `.partial` name, renamed into place, and only then
does the audience link move, with one rename: a reader sees the old set of files or the new one,
never a mix. Partner rows live only under `partnership/` (data-sharing agreement holders);
`public/` changes only when a data lead runs `backbone release`.

A night with no new data publishes no results, but the submission status moves with the
calendar (a due date passes): it makes a status-only partnership version (derive_version, used
by refresh.refresh_status) whose other files are hard links to the current version's.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
from pathlib import Path

from pipelines.config import Workspace

PARTNERSHIP, PUBLIC = "partnership", "public"
AUDIENCES = (PARTNERSHIP, PUBLIC)
KEEP_VERSIONS = 5


def audience_dir(workspace: Workspace, initiative_id: str, audience: str) -> Path:
    """The folder readers open: `data/published/<initiative>/<audience>/` (a symlink)."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}; expected one of {AUDIENCES}")
    return workspace.published(initiative_id) / audience


def versions_dir(workspace: Workspace, initiative_id: str, audience: str) -> Path:
    return workspace.path("data", "published", ".versions", initiative_id, audience)


def start_version(workspace: Workspace, initiative_id: str, audience: str,
                  version_id: str) -> Path:
    """An empty hidden folder to write a new version into."""
    staging = versions_dir(workspace, initiative_id, audience) / f".{version_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def finish_version(workspace: Workspace, initiative_id: str, audience: str, staging: Path,
                   version_id: str) -> Path:
    """Seal `staging` as version `version_id`, point the audience link at it, prune old ones."""
    _world_readable(staging)
    target = staging.with_name(version_id)
    os.replace(staging, target)
    _ensure_initiative_folder(workspace, initiative_id)
    _point(audience_dir(workspace, initiative_id, audience), target)
    _prune(versions_dir(workspace, initiative_id, audience), keep=target)
    return audience_dir(workspace, initiative_id, audience)


def derive_version(workspace: Workspace, initiative_id: str, audience: str, version_id: str,
                   leave_out: tuple[str, ...]) -> tuple[Path, Path]:
    """(staging, current): a new version started from the current one, every file but
    `leave_out` (and the manifest) carried over unchanged, for a run that rewrites only those.

    Files are hard links where the filesystem allows (else copies): no bytes are written twice,
    and a version is never changed in place (every writer makes new files and renames them),
    so the shared files stay what both versions' manifests say. Pruning the older version
    removes its names only; the data stays as long as a kept version links it."""
    current = current_version(workspace, initiative_id, audience)
    if current is None:
        raise FileNotFoundError(f"{audience_dir(workspace, initiative_id, audience)}: nothing "
                                "published yet to start a version from")
    staging = start_version(workspace, initiative_id, audience, version_id)
    try:
        for path in sorted(current.iterdir()):
            if path.name in leave_out or path.name == "manifest.json" or not path.is_file():
                continue
            try:
                os.link(path, staging / path.name)
            except OSError:  # another device, or links not allowed: the same bytes, copied
                shutil.copy2(path, staging / path.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging, current


def discard_version(staging: Path) -> None:
    """Drop a version being built (an error before finish_version)."""
    shutil.rmtree(staging, ignore_errors=True)


def current_version(workspace: Workspace, initiative_id: str, audience: str) -> Path | None:
    """The version folder an audience link points at now, or None before the first one."""
    link = audience_dir(workspace, initiative_id, audience)
    return Path(os.path.realpath(link)) if link.is_dir() else None


def _world_readable(folder: Path) -> None:
    # Published files are for sharing: a web server or sync job running as another user must
    # read them, whatever umask (or mkstemp's 0600) they were written with.
    folder.chmod(0o755)
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(path.stat().st_mode & ~stat.S_IWOTH | 0o644)


def _ensure_initiative_folder(workspace: Workspace, initiative_id: str) -> None:
    base = workspace.published(initiative_id)
    if base.is_symlink():
        # The layout before audiences: one link to a version with partner rows. Drop it (and
        # those versions), so partner rows never stay reachable at a path that looks public.
        base.unlink()
        old = base.parent / ".versions" / initiative_id
        if old.is_dir():
            for path in old.iterdir():
                if path.name not in AUDIENCES:
                    shutil.rmtree(path, ignore_errors=True)
    elif base.exists() and not base.is_dir():
        raise FileExistsError(f"{base}: expected a folder of published outputs")
    elif base.is_dir() and any((base / name).is_file() for name in ("manifest.json",)):
        # A real folder from an older layout: keep it, aside, rather than delete anything.
        base.rename(base.with_name(f"{base.name}.pre-audiences-{dt.datetime.now():%Y%m%d%H%M%S}"))
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)


def _point(link: Path, target: Path) -> None:
    temporary = link.with_name(f".{link.name}.link")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(os.path.relpath(target, link.parent))
    os.replace(temporary, link)


def _prune(versions: Path, keep: Path) -> None:
    # Versions left half-written by a run that died or failed mid-publish (the workspace lock
    # means none is being written now): each is a whole version's size, and no later run has
    # their name to reuse.
    for stale in versions.glob(".*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    done = sorted((p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)
    for old in done[:-KEEP_VERSIONS]:
        # Names need not sort by age (`rebuild-...`): the linked version must never go.
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
