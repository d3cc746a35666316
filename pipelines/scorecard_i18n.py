"""The scorecard's languages: fixed strings from gettext catalogs, numbers and dates from Babel.

Catalogs are the .po files under pipelines/locale/<lang>/LC_MESSAGES/scorecard.po, read with
Babel's pure-Python reader when first used in a process: no compile step to forget. Babel is
imported only when a page is rendered: loading the definitions (`backbone check`) stays fast.
English is the source language (msgids), so it needs no catalog. A new language: add it to
LANGUAGES and write its .po from `python -m pipelines.scorecard_catalog` (a .pot of every msgid).

The language is set for one render with `use_language`; `_` and the formatters read it from a
context variable, so the Python that builds the charts and the template share one choice.
"""

from __future__ import annotations

import contextvars
import gettext
import re
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Iterator

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "scorecard"
SOURCE_LANGUAGE = "en"
LANGUAGES = ("en", "es")

_language: contextvars.ContextVar[str] = contextvars.ContextVar("scorecard_language",
                                                                default=SOURCE_LANGUAGE)


class UnknownLanguage(ValueError):
    pass


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    if language not in LANGUAGES:
        raise UnknownLanguage(f"no scorecard translation for language {language!r}; shipped: "
                              f"{', '.join(LANGUAGES)}")
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = BytesIO()
    # Fuzzy entries are a translator's unchecked guess: English is better than a wrong claim.
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@contextmanager
def use_language(language: str) -> Iterator[gettext.NullTranslations]:
    found = translations(language)
    token = _language.set(language)
    try:
        yield found
    finally:
        _language.reset(token)


def current_language() -> str:
    return _language.get()


def _(message: str, **values: object) -> str:
    """Translate, then fill %(name)s placeholders (the same style jinja's newstyle gettext uses)."""
    text = translations(current_language()).gettext(message)
    return text % values if values else text


# ---------------------------------------------------------------- numbers and dates

@lru_cache(maxsize=None)
def _percent_pattern(language: str, decimals: int) -> str:
    # The locale's own pattern ("#,##0%" in English, "#,##0 %" in Spanish), with fixed decimals.
    from babel import Locale

    pattern = Locale.parse(language).percent_formats[None].pattern
    return re.sub(r"0(?=[^0#,.]*$)", "0." + "0" * decimals if decimals else "0", pattern, count=1)


def percent(value: float, decimals: int = 1) -> str:
    from babel.numbers import format_percent

    language = current_language()
    return format_percent(value, _percent_pattern(language, decimals), locale=language)


def decimal(value: float, decimals: int = 1) -> str:
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, pattern, locale=current_language())


def integer(value: int) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value, locale=current_language())


def long_date(moment: datetime) -> str:
    from babel.dates import format_date

    return format_date(moment, "long", locale=current_language())


def date_and_time(moment: datetime) -> str:
    """e.g. "March 1, 2025 at 12:00 UTC" / "1 de marzo de 2025 a las 12:00 UTC"."""
    time = f"{moment:%H:%M %Z}".strip()
    return _("%(date)s at %(time)s", date=long_date(moment), time=time)


def pick(text: str | dict | None, fallback: str = "") -> str:
    """A config text given either as one string or as {language: text}."""
    if text is None:
        return fallback
    if isinstance(text, str):
        return text
    language = current_language()
    return text.get(language) or text.get(SOURCE_LANGUAGE) or next(iter(text.values()), fallback)
