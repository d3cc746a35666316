"""Audit (session 5) of the scorecard's process-wide jinja2 environment and on-disk bytecode cache:
a template edited between two renders of one process, a cache folder another user owns, a
cache entry replaced by another template's code."""

from __future__ import annotations

import os
import shutil
import tempfile

from jinja2.bccache import Bucket

from test_scorecard import ABSENCE, GENERATED, INITIATIVE, KINDER, published  # noqa: F401

from pipelines import scorecard_jinja
from pipelines.scorecard import render_scorecard


def _page(folder, out, language="en") -> str:
    render_scorecard(folder, INITIATIVE, [KINDER, ABSENCE], out, generated_at=GENERATED,
                     language=language)
    return out.read_text(encoding="utf-8")


def _fresh_process_state(monkeypatch, tmp_path):
    """As a new process: no environment built yet, jinja2's cache folder under `tmp_path`."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    scorecard_jinja.environment.cache_clear()
    scorecard_jinja.bytecode_cache.cache_clear()


def test_a_template_edited_between_two_renders_of_one_process_is_used(
        published, tmp_path, monkeypatch):  # noqa: F811
    templates = tmp_path / "templates"
    shutil.copytree(scorecard_jinja.TEMPLATE_DIR, templates)
    monkeypatch.setattr(scorecard_jinja, "TEMPLATE_DIR", templates)
    _fresh_process_state(monkeypatch, tmp_path)
    try:
        first = _page(published, tmp_path / "one.html")
        source = templates / "scorecard.html.j2"
        source.write_text(source.read_text(encoding="utf-8").replace(
            "</body>", "<!-- edited -->\n</body>", 1), encoding="utf-8")
        second = _page(published, tmp_path / "two.html")
        assert "<!-- edited -->" not in first and "<!-- edited -->" in second
        # and a process started after the edit reads the edited code from the cache
        scorecard_jinja.environment.cache_clear()
        assert _page(published, tmp_path / "three.html") == second
    finally:
        scorecard_jinja.environment.cache_clear()
        scorecard_jinja.bytecode_cache.cache_clear()


def test_a_cache_folder_another_user_owns_is_not_used(
        published, tmp_path, monkeypatch):  # noqa: F811
    general = _page(published, tmp_path / "general.html")
    _fresh_process_state(monkeypatch, tmp_path)
    try:
        planted = tmp_path / "tmp" / f"_jinja2-cache-{os.getuid()}"
        planted.mkdir(mode=0o700)
        if os.getuid() == 0:
            os.chown(planted, 4242, 4242)
        else:
            planted.chmod(0o777)  # not 0700: refused as well
        assert scorecard_jinja.bytecode_cache() is None
        assert _page(published, tmp_path / "page.html") == general
        assert list(planted.iterdir()) == []
    finally:
        scorecard_jinja.environment.cache_clear()
        scorecard_jinja.bytecode_cache.cache_clear()


def test_a_cache_entry_holding_other_code_is_compiled_again(
        published, tmp_path, monkeypatch):  # noqa: F811
    """An entry whose code is valid jinja2 bytecode for another source (copied from another
    machine's cache, say) carries that source's checksum: it is not run."""
    general = _page(published, tmp_path / "general.html")
    _fresh_process_state(monkeypatch, tmp_path)
    try:
        _page(published, tmp_path / "cold.html")
        folder = tmp_path / "tmp" / f"_jinja2-cache-{os.getuid()}"
        [entry] = list(folder.iterdir())
        # Valid bytecode of another source, under the scorecard's entry name.
        scorecard_jinja.environment.cache_clear()
        bucket = Bucket(None, entry.name, "checksum of another source")
        bucket.code = compile("x = 1", "<other>", "exec")
        with open(entry, "wb") as file:
            bucket.write_bytecode(file)
        assert _page(published, tmp_path / "page.html") == general
    finally:
        scorecard_jinja.environment.cache_clear()
        scorecard_jinja.bytecode_cache.cache_clear()
