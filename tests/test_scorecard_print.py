"""The sample initiative's scorecard as printed posters and as checked by axe-core, in English and
Spanish, from the numbers the real nightly flow published.

Page rule: the PDF has a cover page, one poster page per indicator, then one "About these
numbers" page: pages == indicators + 2. A chart cut across pages would add a page, and each poster
page must carry its indicator's title and all three charts' axes (trend, race bars, income bars).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config import REPO_ROOT
from pipelines.scorecard_print import chromium_command, find_chromium, render_published
from tests.test_scorecard import (ABSENCE, GENERATED, INITIATIVE, KINDER,  # noqa: F401
                                  published)

AXE_VERSION = "4.14.1"
# .ci/run installs axe-core here; a test run without it installs into a temporary folder.
AXE_PREFIX = REPO_ROOT / ".ci" / "axe"
POPPLER_INSTALL = "apt-get install -y poppler-utils"
# WCAG 2.0, 2.1 and 2.2 level A and AA rules: what the scorecard promises.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
ABOUT = {"en": "About these numbers", "es": "Sobre estos números"}
TREND = {"en": "Trend over time", "es": "Tendencia en el tiempo"}
STORY = {"en": "The story behind the curve", "es": "La historia detrás de la curva"}
PREVIEW = {"en": "Partnership preview (not public)", "es": "Vista previa para la alianza (no pública)"}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is required to check the printed scorecard; install it with: "
                    f"{POPPLER_INSTALL}")
    return found


def _pages_text(pdf: Path) -> list[str]:
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))
    return [" ".join(subprocess.run(
        [_tool("pdftotext"), "-f", str(n), "-l", str(n), "-layout", str(pdf), "-"],
        capture_output=True, text=True, check=True).stdout.split()) for n in range(1, pages + 1)]


@pytest.fixture(scope="module")
def sample(demo_run, tmp_path_factory):
    """The sample's partnership scorecard in both languages, as HTML and PDF."""
    workspace, _summaries, _hashes = demo_run
    config = workspace.load("riverbend")
    out = tmp_path_factory.mktemp("scorecards")
    files = {lang: render_published(workspace, config, "partnership", lang, out, pdf=True)
             for lang in ("en", "es")}
    return workspace, config, files


@pytest.mark.parametrize("lang", ["en", "es"])
def test_one_poster_page_per_indicator(sample, lang: str, tmp_path: Path) -> None:
    workspace, config, files = sample
    html, pdf = files[lang]
    assert html.name == f"riverbend-partnership-{lang}.html" and pdf.suffix == ".pdf"
    pages = _pages_text(pdf)
    titles = [(i.translations[lang].title if lang in i.translations else None) or i.title
              for i in config.indicators]
    assert len(pages) == len(titles) + 2, [p[:80] for p in pages]
    name = config.initiative.translations[lang].name if lang in config.initiative.translations \
        else config.initiative.name
    assert name in pages[0]
    # The first and last period each indicator's trend axis names, in its own period type.
    spans = {"year": ("2022", "2025"), "quarter": ("2024 Q1", "2025 Q4")}
    for indicator, title, page in zip(config.indicators, titles, pages[1:-1]):
        assert title in page
        assert PREVIEW[lang] in page  # a poster on a wall says it is not the public release
        assert TREND[lang] in page
        # Each chart's axis (its last line) is on the poster: trend's top tick and periods, and
        # the 100% tick under both bar charts.
        assert len(re.findall(r"\b100\s?%", page)) >= 3, page
        first, last = spans[indicator.period_type]
        assert first in page and last in page, (indicator.id, page)
    kinder = pages[1 + [i.id for i in config.indicators].index("kindergarten_readiness")]
    assert STORY[lang] in kinder  # the story is on the poster, whole
    assert ("Readiness has risen since 2022" if lang == "en"
            else "La preparación ha subido desde 2022") in kinder
    assert ("open 40 more pre-K seats" if lang == "en" else "abrir 40 plazas más") in kinder
    assert ABOUT[lang] in pages[-1]
    # Look at the pages as images: every poster is drawn, none is a blank spill-over page.
    subprocess.run([_tool("pdftoppm"), "-r", "30", "-png", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == len(pages)
    from PIL import Image

    for image in images[1:-1]:
        grey = Image.open(image).convert("L")
        inked = sum(1 for v in grey.getdata() if v < 200) / (grey.width * grey.height)
        assert inked > 0.03, f"{image.name}: almost blank ({inked:.3f})"


def test_notices_stay_on_the_cover(published: Path, tmp_path: Path) -> None:  # noqa: F811
    from pipelines.scorecard import render_scorecard
    from pipelines.scorecard_print import print_pdf

    (published / "disparities.parquet").unlink()  # adds the "not published yet" notice
    initiative = dict(INITIATIVE, audience="partnership", guideline_notes=[
        {"period": "2026", "guideline_year": 2025, "beyond_latest": True}])
    page = render_scorecard(published, initiative, [KINDER, ABSENCE], generated_at=GENERATED)
    pages = _pages_text(print_pdf(page, tmp_path / "notices.pdf"))
    assert len(pages) == 2 + 2, [p[:80] for p in pages]
    assert "Partnership preview, not the public scorecard." in pages[0]
    assert "use the 2025 HHS poverty guidelines" in pages[0]
    assert "Disparity comparisons have not been published" in pages[0]
    assert KINDER["title"] in pages[1] and ABSENCE["title"] in pages[2]


# ------------------------------------------------------------------ accessibility

@pytest.fixture(scope="session")
def axe_script(tmp_path_factory) -> str:
    installed = AXE_PREFIX / "node_modules" / "axe-core" / "axe.min.js"
    if not installed.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("the accessibility check needs axe-core from npm; install Node.js and npm")
        prefix = tmp_path_factory.mktemp("axe")
        proc = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                               f"axe-core@{AXE_VERSION}"], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        installed = prefix / "node_modules" / "axe-core" / "axe.min.js"
    return installed.read_text(encoding="utf-8")


def axe_violations(page: Path, axe: str, tmp: Path) -> list[dict]:
    """Run axe-core in headless Chromium on a copy of `page` (the page itself stays script-free)."""
    runner = """
    document.querySelectorAll('details').forEach(d => { d.open = true; });  // check tables too
    axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations']})
      .then(r => { const out = document.createElement('pre'); out.id = 'axe-results';
        out.textContent = JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact,
          help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' +
          n.failureSummary)})));
        document.body.appendChild(out); })
      .catch(e => { const out = document.createElement('pre'); out.id = 'axe-results';
        out.textContent = JSON.stringify([{id: 'axe-error', help: String(e)}]);
        document.body.appendChild(out); });
    """ % json.dumps(WCAG_TAGS)
    html = page.read_text(encoding="utf-8")
    checked = tmp / f"axe-{page.name}"
    checked.write_text(html.replace("</body>", f"<script>{axe}</script><script>{runner}</script>"
                                                "</body>"), encoding="utf-8")
    cmd = chromium_command(find_chromium(), tmp / f"profile-{page.stem}") + [
        "--virtual-time-budget=60000", "--window-size=1280,1000", "--dump-dom",
        checked.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="axe-results">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"axe did not report (exit {proc.returncode}): {proc.stderr[-2000:]}"
    import html as html_lib

    return json.loads(html_lib.unescape(found.group(1)))


@pytest.mark.parametrize("lang", ["en", "es"])
def test_sample_scorecard_has_no_accessibility_violations(sample, axe_script: str, lang: str,
                                                          tmp_path: Path) -> None:
    _workspace, _config, files = sample
    assert axe_violations(files[lang][0], axe_script, tmp_path) == []


def test_hidden_cells_and_low_reliability_page_has_no_violations(published: Path,  # noqa: F811
                                                                 axe_script: str,
                                                                 tmp_path: Path) -> None:
    from pipelines.scorecard import render_scorecard

    page = render_scorecard(published, dict(INITIATIVE, audience="partnership"), [KINDER, ABSENCE],
                            generated_at=GENERATED)
    assert axe_violations(page, axe_script, tmp_path) == []


def test_axe_finds_a_planted_violation(published: Path, axe_script: str,  # noqa: F811
                                      tmp_path: Path) -> None:
    # The check can fail: a chart with no text alternative and grey-on-grey text are reported.
    from pipelines.scorecard import render_scorecard

    page = render_scorecard(published, INITIATIVE, [KINDER], generated_at=GENERATED)
    broken = tmp_path / "broken.html"
    unnamed = re.sub(r'aria-labelledby="ind0-trend-t">\s*<title id="ind0-trend-t">[^<]*</title>',
                     ">", page.read_text(), count=1)
    broken.write_text(unnamed.replace('<p class="lede">', '<p class="lede" style="color:#bbb">', 1))
    found = {v["id"] for v in axe_violations(broken, axe_script, tmp_path)}
    assert {"svg-img-alt", "color-contrast"} <= found, found


def test_charts_have_text_alternatives_and_colour_is_not_the_only_cue(published: Path) -> None:  # noqa: F811
    from pipelines.scorecard import render_scorecard

    html = render_scorecard(published, INITIATIVE, [KINDER, ABSENCE], generated_at=GENERATED).read_text()
    # Every chart is an image with a name and a captioned table of the same numbers.
    charts = re.findall(r'<svg [^>]*role="img" aria-labelledby="([^"]+)"', html)
    assert charts and all(f'<title id="{c}">' in html for c in charts)
    assert html.count("<caption>Data for the") == len(charts)
    # Hidden cells say "Hidden" in words, not only with grey stripes; the reference group says so.
    assert ">Hidden: a count of 1 to 10</text>" in html
    assert ">White (reference)</text>" in html
    assert "“(reference)” after a group's name, in bold, marks the group others are compared with." in html
    # Tables are reachable from the keyboard (summary) and show a visible focus ring.
    assert "<summary>Show the numbers as a table</summary>" in html
    assert "summary:focus-visible" in html


# ------------------------------------------------------------------ the command

def test_backbone_scorecard_command_writes_html_and_pdf(demo_run, tmp_path: Path) -> None:
    workspace, _summaries, _hashes = demo_run
    runner = CliRunner()
    result = runner.invoke(app, ["scorecard", "--home", str(workspace.root), "--lang", "es",
                                 "--pdf", "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    html = tmp_path / "riverbend-partnership-es.html"
    assert html.is_file() and (tmp_path / "riverbend-partnership-es.pdf").is_file()
    assert '<html lang="es">' in html.read_text()
    # Published versions stay as published: nothing was written into them.
    assert not list(workspace.path("data", "published").rglob("*-es.html"))

    public = runner.invoke(app, ["scorecard", "--home", str(workspace.root), "--audience",
                                 "public", "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert public.exit_code == 1
    assert "nothing is published for the public audience" in public.output
    assert "backbone release riverbend" in public.output
    unknown = runner.invoke(app, ["scorecard", "--home", str(workspace.root), "--lang", "fr"])
    assert unknown.exit_code == 2


def test_no_chromium_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import scorecard_print

    monkeypatch.setattr(scorecard_print, "CHROMIUM_CANDIDATES", ("no-such-browser-here",))
    with pytest.raises(scorecard_print.ScorecardError, match="apt-get install -y chromium"):
        scorecard_print.find_chromium()


def test_publish_renders_the_initiative_language(demo_run) -> None:
    workspace, _summaries, _hashes = demo_run
    page = (workspace.published("riverbend") / "partnership" / "scorecard.html").read_text()
    assert '<html lang="en">' in page
    assert "The story behind the curve" in page and "Partners with a role" in page
    assert os.path.getsize(workspace.published("riverbend") / "partnership" / "scorecard.html") > 0


@pytest.mark.parametrize("audience", ["public", "partnership"])
def test_a_page_is_not_printed_with_definitions_its_numbers_were_not_published_with(
        workspace, audience: str, tmp_path: Path) -> None:
    """Audit 11 (A): after the threshold went from 5 to 10, `backbone scorecard --audience
    public` printed "a group of 1 to 10 people ... is hidden" beside the release's "8 of 21"."""
    from pipelines.scorecard_print import ScorecardError
    from pipelines.versions import audience_dir

    config = workspace.load("riverbend")
    folder = audience_dir(workspace, "riverbend", audience)
    folder.mkdir(parents=True)
    (folder / "indicator_results.parquet").write_bytes(b"")
    (folder / "manifest.json").write_text(json.dumps(
        {"definitions_fingerprint": "0" * 16, "release_id": "20260101T000000-abcdef"}))
    with pytest.raises(ScorecardError, match="definitions of riverbend changed since its "
                                             f"{audience} numbers were published"):
        render_published(workspace, config, audience, "en", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(app, ["scorecard", "--home", str(workspace.root), "--audience",
                                      audience, "--out", str(tmp_path / "out")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "backbone run" in result.output, result.output
