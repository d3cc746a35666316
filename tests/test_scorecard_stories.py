"""The story behind the curve, partners and strategies, and the scorecard's languages.

Stories are hostile text validated on load; translations come from the shipped catalogs, which
must cover every fixed string the scorecard shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from pipelines.config import ConfigError, Workspace
from pipelines.scorecard import render_scorecard
from pipelines.scorecard_catalog import msgids
from pipelines.scorecard_i18n import LANGUAGES, catalog_path, percent, use_language
from pipelines.scorecard_stories import load_stories, render_markdown
from tests.test_scorecard import ABSENCE, GENERATED, INITIATIVE, KINDER, published  # noqa: F401

STORY = """---
period: "2024"
date: 2025-02-11
took_part: [Parents from the Eastside family council, Pre-K teachers]
title: What we heard
---
Readiness rose, but **not for everyone**.
"""


def write_story(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ stories as data

def test_story_is_rendered_beside_the_trend_with_who_took_part(published: Path, tmp_path: Path) -> None:
    stories = tmp_path / "stories"
    write_story(stories, "kinder_ready.md", STORY)
    html = render_scorecard(published, INITIATIVE, [KINDER, ABSENCE], generated_at=GENERATED,
                            stories_dir=stories).read_text()
    kinder, absence = html.split('<section class="indicator"')[1:]
    curve = kinder.split('<div class="curve">')[1].split('<div class="grid2">')[0]
    assert "Trend over time" in curve and "The story behind the curve" in curve
    assert "From a community conversation on February 11, 2025 about the 2024 results." in curve
    assert "Who took part: Parents from the Eastside family council; Pre-K teachers." in curve
    assert "<strong>not for everyone</strong>" in curve
    assert "The story behind the curve" not in absence.split("<footer")[0]
    assert '<div class="curve nostory">' in absence


def test_latest_story_in_the_page_language_wins(published: Path, tmp_path: Path) -> None:
    stories = tmp_path / "stories"
    write_story(stories, "kinder_ready.md", STORY)
    write_story(stories, "kinder_ready.2023.md", STORY.replace('"2024"', '"2023"')
                .replace("not for everyone", "an older story"))
    write_story(stories, "kinder_ready.es.md", STORY.replace("title:", "language: es\ntitle:")
                .replace("not for everyone", "no para todos"))
    english = render_scorecard(published, INITIATIVE, [KINDER], generated_at=GENERATED,
                               stories_dir=stories).read_text()
    assert "not for everyone" in english and "an older story" not in english
    assert "no para todos" not in english
    spanish = render_scorecard(published, INITIATIVE, [KINDER], generated_at=GENERATED,
                               stories_dir=stories, language="es").read_text()
    assert "no para todos" in spanish and "not for everyone" not in spanish
    assert "De una conversación comunitaria del 11 de febrero de 2025" in spanish


def test_a_story_only_in_english_is_marked_as_english_on_a_spanish_page(published: Path,
                                                                        tmp_path: Path) -> None:
    stories = tmp_path / "stories"
    write_story(stories, "kinder_ready.md", STORY)
    spanish = render_scorecard(published, INITIATIVE, [KINDER], generated_at=GENERATED,
                               stories_dir=stories, language="es").read_text()
    # WCAG 3.1.2 (language of parts): a screen reader switches voice for the English text.
    assert re.search(r'<aside class="story"[^>]* lang="en"', spanish)


@pytest.mark.parametrize("front, message", [
    ("date: 2025-02-11\ntook_part: [a]", "period: Field required"),
    ('period: "2024"\ndate: someday\ntook_part: [a]', "date: Input should be a valid date"),
    ('period: "2024"\ndate: 2025-02-11\ntook_part: []', "took_part: "),
    ('period: "2024"\ndate: 2025-02-11\ntook_part: [a]\nlanguage: fr', "language: "),
    ('period: "2024"\ndate: 2025-02-11\ntook_part: [a]\nauthor: me', "author: Extra inputs"),
])
def test_bad_front_matter_names_the_file_and_the_key(tmp_path: Path, front: str, message: str) -> None:
    path = write_story(tmp_path, "kinder_ready.md", f"---\n{front}\n---\nText.\n")
    with pytest.raises(ConfigError) as caught:
        load_stories(tmp_path, ["kinder_ready"])
    assert f"{path}: {message}" in str(caught.value)


def test_a_front_matter_key_written_twice_is_refused_with_its_lines(tmp_path: Path) -> None:
    # YAML would keep the second date: a story dated after its data, with no word.
    write_story(tmp_path, "kinder_ready.md",
                '---\nperiod: "2024"\ndate: 2025-02-11\ntook_part: [a]\ndate: 2023-01-01\n---\nT.\n')
    with pytest.raises(ConfigError, match=r"(?s)kinder_ready.md: \(front matter\): not valid YAML: .*"
                       r"'date' is written twice \(first on line 3\).*line 5"):
        load_stories(tmp_path, ["kinder_ready"])


def test_story_file_problems_are_named(tmp_path: Path) -> None:
    write_story(tmp_path, "kinder_ready.md", "No front matter here.\n")
    with pytest.raises(ConfigError, match=r"kinder_ready.md: \(front matter\): the file must start"):
        load_stories(tmp_path, ["kinder_ready"])
    write_story(tmp_path, "kinder_ready.md", '---\nperiod: "2024"\ndate: 2025-02-11\ntook_part: [a]\n---\n')
    with pytest.raises(ConfigError, match=r"kinder_ready.md: \(text\): the story has no text"):
        load_stories(tmp_path, ["kinder_ready"])
    write_story(tmp_path, "kinder_ready.md", STORY + "word " * 300)
    with pytest.raises(ConfigError, match=r"kinder_ready.md: \(text\): \d+ characters; a story holds "
                                          r"at most 1200"):
        load_stories(tmp_path, ["kinder_ready"])
    (tmp_path / "kinder_ready.md").unlink()
    write_story(tmp_path, "kinder_readiness.md", STORY)
    with pytest.raises(ConfigError, match=r"kinder_readiness.md: \(file name\): 'kinder_readiness' "
                                          r"is not an indicator"):
        load_stories(tmp_path, ["kinder_ready"])


def test_story_markdown_is_rendered_safely() -> None:
    hostile = (
        '# Heading\n\n<script>alert(1)</script>\n\n<img src="https://evil.example/x.png">\n\n'
        '![a chart](https://evil.example/chart.png)\n\n[our site](https://example.org/a?b=<c>)\n\n'
        '[click](javascript:alert(1))\n\nText with <b onclick="x()">tags</b> & ampersands.\n')
    html = str(render_markdown(hostile))
    assert "<script" not in html and "<img" not in html and "<b " not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Raw tags come out as text; no element carries a source, a link or a handler.
    assert not re.search(r"<[a-z][^>]*\s(?:src|href|on\w+)=", html)
    assert '<span class="story-image">[a chart]</span>' in html  # alt text, no remote image
    assert '<span class="story-link">our site</span> (https://example.org/a?b=%3Cc%3E)' in html
    assert "javascript:" not in html.replace("[click](javascript:alert(1))", "")  # not a link
    assert "<h4>Heading</h4>" in html  # under the page's h2 and the story's h3
    assert "&amp; ampersands" in html


def test_the_sample_story_and_plans_load_with_the_definitions(tmp_path: Path) -> None:
    config = Workspace(tmp_path).add_definitions().load("riverbend")
    stories = load_stories(tmp_path / "indicators" / "riverbend" / "stories",
                           [i.id for i in config.indicators])
    assert {s.meta.language for s in stories["kindergarten_readiness"]} == {"en", "es"}
    plan = config.initiative.turn_the_curve["kindergarten_readiness"]
    assert plan.partners and plan.strategies


def test_a_bad_story_or_plan_makes_the_definitions_invalid(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path).add_definitions()
    stories = workspace.path("indicators", "riverbend", "stories")
    write_story(stories, "kindergarten_readiness.2024.md", "---\nperiod: 2024\n---\nText\n")
    with pytest.raises(ConfigError, match=r"kindergarten_readiness.2024.md: date: Field required"):
        workspace.load("riverbend")
    (stories / "kindergarten_readiness.2024.md").unlink()
    initiative = workspace.path("indicators", "riverbend", "initiative.yaml")
    text = initiative.read_text()
    initiative.write_text(text.replace("      - partner: bright_start", "      - partner: nobody", 1))
    with pytest.raises(ConfigError, match=r"turn_the_curve.kindergarten_readiness.partners.0."
                                          r"partner: 'nobody' is not one of partners"):
        workspace.load("riverbend")
    # Inside turn_the_curve, wherever it sits in the file (other sections may follow it).
    initiative.write_text(text.replace("turn_the_curve:\n", "turn_the_curve:\n  not_an_indicator:\n"
                                       "    strategies: [x]\n", 1))
    with pytest.raises(ConfigError, match=r"initiative.yaml: turn_the_curve.not_an_indicator: not "
                                          r"an indicator"):
        workspace.load("riverbend")


def test_partners_with_a_role_and_strategies_per_indicator(published: Path) -> None:
    plans = {"kinder_ready": {
        "partners": [{"partner": "p1", "role": {"en": "Runs pre-K", "es": "Dirige el prekínder"}},
                     {"name": "City <Library>", "role": "Saturday groups"}],
        "strategies": [{"en": "Summer bridge", "es": "Transición de verano"}]}}
    initiative = dict(INITIATIVE, turn_the_curve=plans, partner_names={"p1": "Bright Start"})
    html = render_scorecard(published, initiative, [KINDER, ABSENCE], generated_at=GENERATED).read_text()
    kinder, absence = html.split('<section class="indicator"')[1:]
    plan = kinder.split('<div class="plan">')[1]
    assert "<strong>Bright Start</strong>: Runs pre-K" in plan
    assert "<strong>City &lt;Library&gt;</strong>: Saturday groups" in plan
    assert "<li>Summer bridge</li>" in plan
    assert '<div class="plan">' not in absence
    spanish = render_scorecard(published, initiative, [KINDER], generated_at=GENERATED,
                               language="es").read_text()
    assert "Socios con un papel" in spanish and "Dirige el prekínder" in spanish
    assert "Transición de verano" in spanish


# ------------------------------------------------------------------ languages

def test_every_fixed_string_is_translated_in_every_shipped_catalog() -> None:
    wanted = msgids()
    assert len(wanted) > 100  # the extractor found the template's and the modules' strings
    for language in LANGUAGES:
        if language == "en":
            continue
        with catalog_path(language).open("rb") as handle:
            catalog = read_po(handle, locale=language)
        missing = [m for m in wanted if not catalog.get(m) or not catalog.get(m).string
                   or catalog.get(m).fuzzy]
        assert not missing, f"{catalog_path(language)}: untranslated: {missing[:5]}"
        for message in wanted:
            # A translation must fill the same placeholders, or rendering fails or loses a value.
            names = sorted(re.findall(r"%\((\w+)\)s", message))
            assert sorted(re.findall(r"%\((\w+)\)s", catalog.get(message).string)) == names, message


def test_numbers_and_dates_follow_the_locale(published: Path) -> None:
    with use_language("es"):
        assert percent(0.62) == "62,0\xa0%"
    with use_language("en"):
        assert percent(0.62) == "62.0%"
    spanish = render_scorecard(published, INITIATIVE, [KINDER, ABSENCE], generated_at=GENERATED,
                               language="es").read_text()
    assert '<html lang="es">' in spanish
    assert "Datos al 1 de marzo de 2025 a las 12:00 UTC" in spanish
    assert "62,0\xa0%" in spanish and "62.0%" not in spanish
    assert "Basado en 1.050 personas" in spanish
    assert "Sube 12,0 puntos porcentuales" in spanish and "Mejorando" in spanish
    assert "Oculto: un conteo de 1 a 10" in spanish
    assert "Más alto es mejor" in spanish and "Más bajo es mejor" in spanish
    assert "Blanco (referencia)" in spanish  # standard group names are translated
    assert "Sobre estos números" in spanish
    for english in ("Trend over time", "Hidden:", "Change since baseline", "About these numbers",
                    "Show the numbers as a table", "people"):
        assert english not in spanish.split("<body>")[1], english


def test_language_from_the_initiative_and_titles_from_the_yaml(published: Path) -> None:
    kinder = dict(KINDER, translations={"es": {"title": "Niños listos para el kínder",
                                               "description": None}})
    initiative = dict(INITIATIVE, language="es",
                      translations={"es": {"name": "Alianza Estrella del Norte"}})
    html = render_scorecard(published, initiative, [kinder], generated_at=GENERATED).read_text()
    assert '<html lang="es">' in html
    assert "<h1>Alianza Estrella del Norte</h1>" in html
    assert ">Niños listos para el kínder</h2>" in html
    assert KINDER["description"] in html  # no Spanish description: the English one stands
    english = render_scorecard(published, initiative, [kinder], generated_at=GENERATED,
                               language="en").read_text()
    assert ">Children ready for kindergarten</h2>" in english


def test_about_these_numbers_in_spanish_explains_the_methods(published: Path) -> None:
    spanish = render_scorecard(published, INITIATIVE, [KINDER], generated_at=GENERATED,
                               language="es").read_text()
    about = spanish.split("<h2>Sobre estos números</h2>")[1]
    assert "Oculto: un conteo de 1 a 10" in about and "Oculto: protege a un grupo pequeño" in about
    assert "intervalo de Wilson" in about
    assert "† (una cruz) marca las tasas basadas en menos de 30 personas" in about
    assert "su raza es cada raza que algún socio informó para ella en ese período" in about
    assert "su grupo de ingresos es el más bajo que algún socio informó" in about
