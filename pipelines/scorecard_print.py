"""`backbone scorecard`: render a published audience's scorecard in a language, as HTML and PDF.

Reads the current published version (data/published/<initiative>/<audience>/), never the
warehouse, so it shows exactly the numbers that audience has; writes under
data/scorecards/<initiative>/ (published versions are immutable and checksummed, so extra
languages and PDFs live beside them, not in them). The PDF is printed by headless Chromium with
the page's print stylesheet: a cover, one poster page per indicator, then "About these numbers".
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pipelines.config import InitiativeConfig, Workspace
from pipelines.publish import indicator_views, initiative_view
from pipelines.scorecard import render_scorecard
from pipelines.scorecard_owed import owed_view, status_in
from pipelines.versions import AUDIENCES, PARTNERSHIP, audience_dir

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")
CHROMIUM_INSTALL = "apt-get install -y chromium"
PRINT_TIMEOUT_S = 180


class ScorecardError(RuntimeError):
    pass


def find_chromium() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK)
                                       else None)
        if found:
            return found
    raise ScorecardError(f"printing the scorecard needs headless Chromium; install it with: "
                         f"{CHROMIUM_INSTALL}")


def chromium_command(chromium: str, profile: Path) -> list[str]:
    # No network, no first-run work: the page is self-contained and must print the same offline.
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", f"--user-data-dir={profile}"]


def print_pdf(html: Path, pdf: Path) -> Path:
    """Print `html` to `pdf` with the page's print stylesheet (letter size, no browser header)."""
    chromium = find_chromium()
    pdf = Path(pdf)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="backbone-print-") as scratch:
        tmp = Path(scratch) / "out.pdf"
        cmd = chromium_command(chromium, Path(scratch) / "profile") + [
            "--no-pdf-header-footer", f"--print-to-pdf={tmp}", Path(html).resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S)
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            raise ScorecardError(f"Chromium could not print {html} (exit {proc.returncode}): "
                                 f"{proc.stderr.strip()[-1000:]}")
        os.chmod(tmp, 0o644)
        shutil.move(tmp, pdf)
    return pdf


def render_published(workspace: Workspace, config: InitiativeConfig, audience: str,
                     language: str | None = None, out_dir: Path | None = None,
                     pdf: bool = False) -> list[Path]:
    """Write <initiative>-<audience>-<lang>.html (and .pdf); returns the paths written."""
    if audience not in AUDIENCES:
        raise ScorecardError(f"audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")
    folder = audience_dir(workspace, config.id, audience)
    if not (folder / "indicator_results.parquet").is_file():
        how = "`backbone run`" if audience == "partnership" else f"`backbone release {config.id}`"
        raise ScorecardError(f"nothing is published for the {audience} audience of {config.id} "
                             f"yet ({folder}); {how} publishes it")
    folder = folder.resolve()  # one version throughout, even if a run swaps the link meanwhile
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8")) \
        if (folder / "manifest.json").is_file() else {}
    # The page's words (titles, targets, baselines, reference groups, "a count of 1 to T") come
    # from today's definitions and its numbers from the published version: after an edit, a
    # public poster would describe the last release's numbers with definitions never released
    # (a threshold of 10 beside a shown "8 of 21"). `backbone release` refuses the same way.
    published_with = manifest.get("definitions_fingerprint")
    if published_with and published_with != config.fingerprint:
        how = ("`backbone run`" if audience == "partnership" else
               f"`backbone run`, then `backbone release {config.id}`")
        version = manifest.get("release_id") or manifest.get("run_id") or folder.name
        raise ScorecardError(
            f"the definitions of {config.id} changed since its {audience} numbers were "
            f"published ({version}): a page printed now would show those numbers with other "
            f"titles, targets, reference groups or suppression threshold; {how} first")
    guidelines = manifest.get("poverty_guideline_years") or []
    stamp = manifest.get("released_at") or manifest.get("generated_at")
    generated_at = dt.datetime.fromisoformat(stamp) if stamp else None
    # The notes that version was published with: the partnership's status names partners, a
    # release kept its own (counts only) in its manifest.
    still_owed = (owed_view(config, status_in(folder), named=True) if audience == PARTNERSHIP
                  else manifest.get("still_owed"))
    view = initiative_view(config, guidelines, audience, still_owed)
    language = language or view.get("language") or "en"
    out_dir = Path(out_dir) if out_dir else workspace.path("data", "scorecards", config.id)
    html = out_dir / f"{config.id}-{audience}-{language}.html"
    render_scorecard(folder, view, indicator_views(config), html, generated_at=generated_at,
                     language=language)
    written = [html]
    if pdf:
        written.append(print_pdf(html, html.with_suffix(".pdf")))
    return written
