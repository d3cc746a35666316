"""The snapshot a night replaced, kept as a spare and brought up to date in place the next night
(issue 14: copying yesterday's 612 MB snapshot before updating it was most of the update's cost).

Just before the rename that publishes a new snapshot, the file it replaces gets a second name,
`.snapshot.duckdb.spare`: the same inode, so its marks (extended attributes) stay with it. The
next night, instead of copying the snapshot in place, the spare (then two nights behind) is
renamed to the temporary name and brought up to date in place, from its own mark, like a copy.
That is safe only when no one can be reading it: an analyst who opened it while it was the
live snapshot may still be. Every DuckDB client (the 1.x CLI and the Python package alike)
holds an fcntl read lock on a database file it has open, for as long as it has it open, so:

- the spare is used only when an open-file-description write lock on it can be taken, which
  fails while any other process holds any lock on it, and this process has it open nowhere;
- and only when it has no other name (a hard link someone made) and is not the snapshot in
  place (a crash between the link and the rename), and has no WAL.

Anything else (no spare, no mark, a lock, a DuckDB error while updating) is the copy path or a
fresh build, as before. Cost: two snapshot-sized files on disk between nights instead of one
(while a snapshot is made, two as before: the spare is removed before a copy is made).

Being two nights behind, the spare must also take in the rows of the night it missed: about as
much DuckDB work as that night's own update (~0.6 CPU s for a 20 MB file), where the copy it
saves is a kernel copy (of 612 MB: ~0.2 CPU s and ~0.3-0.5 s wall from the page cache, ~1.1
CPU s and ~2.5 s wall from disk). So it is kept, and used, only when that night grew the
snapshot by at most MAX_CATCH_UP of its size: a large snapshot and a night of small files.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

# Linux's open-file-description locks: unlike classic fcntl locks they conflict with locks this
# same process holds (a DuckDB connection of the caller's own), not only other processes'.
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
# The share of the snapshot's size by which the night the spare missed may have grown it.
# Measured at 1 GB: DuckDB's insert costs ~50 ms CPU per MB the file grows; copying costs 0.28
# ms per MB of file from the page cache, 1.8 ms from disk: break-even at a growth of ~0.6% to
# ~3.6% of the file. Only the cost depends on it; the contents are the same either way.
MAX_CATCH_UP = 0.01


def spare_of(target: Path) -> Path:
    return target.with_name(f".{target.name}.spare")


def candidate(target: Path) -> Path | None:
    """The spare, when it may be brought up to date in place (short of the lock, which `claim`
    takes), else None."""
    spare = spare_of(target)
    try:
        info = spare.stat()
        if info.st_nlink != 1 or os.path.samefile(spare, target):
            return None
    except OSError:  # no spare, or no snapshot in place
        return None
    if spare.with_name(spare.name + ".wal").exists() or \
            not _small(target.stat().st_size - info.st_size, target):
        return None
    return spare


def _small(growth: int, snapshot: Path) -> bool:
    return growth <= MAX_CATCH_UP * snapshot.stat().st_size


def claim(spare: Path, temporary: Path) -> bool:
    """Move the spare to `temporary`, writable, if no process holds it open through DuckDB;
    else (or on any error) remove it and return False."""
    try:
        os.rename(spare, temporary)  # from here a crash leaves it where the next run removes it
        os.chmod(temporary, 0o644)
        if _open_here(temporary) or not _unlocked(temporary):
            raise OSError("a reader has it open")
        return True
    except OSError:
        for path in (spare, temporary):
            path.unlink(missing_ok=True)  # the reader keeps its inode; the name goes
        return False


def _open_here(database: Path) -> bool:
    """Whether this process has the file open. Its own DuckDB readers' locks cannot be relied
    on: closing any descriptor of a file (a copy of it, the probe below) drops all of a
    process's classic fcntl locks on it."""
    info = database.stat()
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:  # no /proc: no way to know
        return True
    for descriptor in descriptors:
        try:
            found = os.stat(f"/proc/self/fd/{descriptor}")
        except OSError:  # closed meanwhile (the listing's own)
            continue
        if (found.st_dev, found.st_ino) == (info.st_dev, info.st_ino):
            return True
    return False


def _unlocked(database: Path) -> bool:
    descriptor = os.open(database, os.O_RDWR)
    try:
        # struct flock: l_type, l_whence, l_start, l_len (0: the whole file), l_pid (0 for OFD).
        fcntl.fcntl(descriptor, F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
        return True
    except OSError:
        return False
    finally:
        os.close(descriptor)  # and with it the probe's lock, before DuckDB takes its own


def keep(target: Path, new: Path) -> None:
    """Give the snapshot about to be replaced by `new` its spare name (called just before the
    rename), when the next night would use it: `new` grew it little."""
    spare = spare_of(target)
    remove(spare)
    try:
        if _small(new.stat().st_size - target.stat().st_size, new):
            os.link(target, spare)
    except OSError:  # no snapshot yet, or no hard links here: the next night copies
        pass


def remove(spare: Path) -> None:
    for path in (spare, spare.with_name(spare.name + ".wal")):
        path.unlink(missing_ok=True)
