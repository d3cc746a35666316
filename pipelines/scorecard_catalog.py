"""Which fixed strings the scorecard shows, found the way a translator's tools find them.

`python -m pipelines.scorecard_catalog` prints a .pot template of every msgid in the scorecard's
Python modules and template (Babel's extractors), so a new language starts from a complete list;
tests check each shipped catalog translates all of them.
"""

from __future__ import annotations

import sys
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import write_po

PACKAGE = Path(__file__).parent
PYTHON_SOURCES = ("scorecard.py", "scorecard_charts.py", "scorecard_text.py", "scorecard_i18n.py",
                  "scorecard_periods.py", "scorecard_owed.py")
TEMPLATE = PACKAGE / "templates" / "scorecard.html.j2"
KEYWORDS = {"_": None, "N_": None}


def msgids() -> dict[str, str]:
    """Every msgid -> where it was first found ("file:line")."""
    found: dict[str, str] = {}
    for name in PYTHON_SOURCES:
        with (PACKAGE / name).open("rb") as handle:
            for line, message, _comments, _context in extract("python", handle, KEYWORDS):
                found.setdefault(message, f"{name}:{line}")
    with TEMPLATE.open("rb") as handle:
        options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
        for line, message, _comments, _context in extract("jinja2.ext:babel_extract", handle,
                                                           KEYWORDS, options=options):
            found.setdefault(message, f"{TEMPLATE.name}:{line}")
    return found


def template_catalog() -> bytes:
    catalog = Catalog(project="backbone scorecard", charset="utf-8")
    for message, where in msgids().items():
        path, line = where.rsplit(":", 1)
        catalog.add(message, locations=[(path, int(line))],
                    flags=["python-format"] if "%(" in message or "%%" in message else [])
    buffer = BytesIO()
    write_po(buffer, catalog, width=100)
    return buffer.getvalue()


if __name__ == "__main__":
    sys.stdout.buffer.write(template_catalog())
