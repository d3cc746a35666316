"""The scorecard's jinja2 environment: built once per process and language, its template compiled
once per machine.

Compiling scorecard.html.j2 costs about as much as rendering it (~0.06 s CPU of ~0.15), and a
night renders it once per process, so the compiled code is kept on disk in jinja2's own
per-user cache folder (`FileSystemBytecodeCache`: a 0700 folder it refuses when another user
owns it). jinja2 checks each cached entry against the template's source and the Python version;
what else decides the compiled code (jinja2's version, the environment's options, autoescaping,
new-style gettext) is hashed into the file names here, so no other environment's code is ever
loaded. The cache can only save time: an entry that cannot be read is compiled again, one that
cannot be written is not kept, and a folder that cannot be used means no cache.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, select_autoescape
from markupsafe import Markup

from pipelines.scorecard_charts import group_label
from pipelines.scorecard_i18n import integer, long_date

TEMPLATE_DIR = Path(__file__).parent / "templates"
# Everything the compiled code depends on besides the source: part of every cache file's name.
OPTIONS = {"trim_blocks": True, "lstrip_blocks": True, "extensions": ["jinja2.ext.i18n"]}
COMPILED_WITH = {"jinja2": jinja2.__version__, "python": sys.version, "options": OPTIONS,
                 "autoescape": "select_autoescape(default=True, default_for_string=True)",
                 "newstyle_gettext": True, "finalize": "shown_bidi", "format": 1}
# Bidirectional controls reorder what follows them on the line: a right-to-left override in a
# name or title would show the rest of its line reversed. Shown as their escapes (`\u202e`),
# as the status page, reports and logs show them.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown_bidi(value: object) -> object:
    """Every `{{ }}` value, its bidirectional controls written as escapes (markup stays
    markup: the escapes hold no HTML)."""
    if isinstance(value, str) and _BIDI.search(value):
        shown = _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
        return Markup(shown) if isinstance(value, Markup) else shown
    return value


class SafeCache(FileSystemBytecodeCache):
    def load_bytecode(self, bucket) -> None:  # noqa: ANN001 - jinja2's Bucket
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError):  # truncated or foreign: compile
            bucket.reset()

    def dump_bytecode(self, bucket) -> None:  # noqa: ANN001
        try:
            super().dump_bytecode(bucket)
        except OSError:  # full disk, read-only /tmp: the page is rendered all the same
            pass


@lru_cache(maxsize=1)
def bytecode_cache() -> FileSystemBytecodeCache | None:
    tag = hashlib.sha256(json.dumps(COMPILED_WITH, sort_keys=True).encode()).hexdigest()[:16]
    try:
        return SafeCache(pattern=f"__backbone_scorecard_{tag}_%s.cache")
    except (OSError, RuntimeError):  # no usable temporary folder, or one another user owns
        return None


def new_environment(catalog, cache: FileSystemBytecodeCache | None) -> Environment:  # noqa: ANN001
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      bytecode_cache=cache, finalize=shown_bidi, **OPTIONS)
    # newstyle: `_("... %(n)s", n=x)` escapes the values it fills in under autoescape.
    env.install_gettext_translations(catalog, newstyle=True)
    env.filters["integer"] = integer
    env.globals["group_label"] = group_label
    env.globals["format_date"] = long_date
    return env


@lru_cache(maxsize=None)
def environment(language: str, catalog) -> Environment:  # noqa: ANN001 - gettext
    """One environment per language and catalog for the life of the process (its templates
    compiled once; jinja2 reloads one whose file changed)."""
    return new_environment(catalog, bytecode_cache())
