"""Files others read while we write them: written whole beside the target, then renamed over it,
so a reader sees the old file or the new one, never half of one.

Two strengths: pages published for readers outside backbone (the scorecard, the status page) are
synced to disk and made readable by all; partner reports, each written by one command at a time,
go through a fixed `<name>.tmp` (a crash leaves at most that one file, and the next rewrite
replaces it).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(out_path: Path, text: str) -> None:
    # Readers (web servers, sync jobs) must never see a half-written page.
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; a published page is for everyone who can read the folder.
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_text(path: Path, text: str) -> None:
    """`text` (UTF-8) as the whole of `path`, through `<name>.tmp` renamed over it."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
