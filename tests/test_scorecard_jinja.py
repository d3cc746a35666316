"""The scorecard's compiled template kept on disk (pipelines/scorecard_jinja.py): a page rendered
from cached code, from a cache entry that was damaged, or with a cache that cannot be written is
byte for byte the page compiled from the template source."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_scorecard import ABSENCE, GENERATED, INITIATIVE, KINDER, published  # noqa: F401

from pipelines import scorecard, scorecard_jinja
from pipelines.scorecard import render_scorecard
from pipelines.scorecard_jinja import SafeCache, new_environment


def _render(folder: Path, monkeypatch, cache, language: str) -> str:  # noqa: ANN001
    """The page, through an environment with `cache` (None: compiled from the source)."""
    monkeypatch.setattr(scorecard, "environment",
                        lambda _language, catalog: new_environment(catalog, cache))
    out = folder.parent / f"scorecard-{language}.html"
    render_scorecard(folder, INITIATIVE, [KINDER, ABSENCE], out, generated_at=GENERATED,
                     language=language)
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("language", ["en", "es"])
def test_cached_code_renders_the_same_page_as_the_source(published, tmp_path, monkeypatch,  # noqa: F811
                                                         language):
    general = _render(published, monkeypatch, None, language)
    folder = tmp_path / "cache"
    folder.mkdir()
    cold = _render(published, monkeypatch, SafeCache(str(folder)), language)
    entries = list(folder.iterdir())
    assert len(entries) == 1  # compiled and kept
    kept = entries[0].read_bytes()
    warm = _render(published, monkeypatch, SafeCache(str(folder)), language)
    assert entries[0].read_bytes() == kept  # read, not compiled and written again
    entries[0].write_bytes(kept[: len(kept) // 3])  # a truncated entry: compiled again
    damaged = _render(published, monkeypatch, SafeCache(str(folder)), language)
    entries[0].write_bytes(b"not jinja bytecode")
    foreign = _render(published, monkeypatch, SafeCache(str(folder)), language)
    assert general == cold == warm == damaged == foreign
    assert entries[0].read_bytes() == kept  # the damaged entry was replaced by a good one


def test_a_cache_that_cannot_be_written_costs_nothing_but_time(published, tmp_path,  # noqa: F811
                                                               monkeypatch):
    general = _render(published, monkeypatch, None, "en")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert _render(published, monkeypatch, SafeCache(str(not_a_folder)), "en") == general


def test_cache_entries_are_named_by_what_compiles_them(monkeypatch):
    """Another jinja2, Python or environment option never reads this one's compiled code."""
    scorecard_jinja.bytecode_cache.cache_clear()
    try:
        first = scorecard_jinja.bytecode_cache()
        monkeypatch.setitem(scorecard_jinja.COMPILED_WITH, "options",
                            {**scorecard_jinja.OPTIONS, "trim_blocks": False})
        scorecard_jinja.bytecode_cache.cache_clear()
        second = scorecard_jinja.bytecode_cache()
        assert first is not None and second is not None
        assert first.pattern != second.pattern and first.pattern.endswith("_%s.cache")
    finally:
        scorecard_jinja.bytecode_cache.cache_clear()
