"""What counts as invisible in a partner's cell: one definition for every stage that asks.

A character no partner can see in their spreadsheet is one of the Unicode categories Cc (controls:
tab, carriage return, NUL, the C1 block), Cf (format characters: zero-width space and joiners,
word joiner, soft hyphen, bidirectional marks, a stray byte order mark) or Z (spaces, the
no-break ones included, and the line and paragraph separators). They come from copy-paste and
exports, and kept they would make a cell that looks empty count as filled, or an id hash to
another person. The read stage uses it to tell a blank row (every cell invisible) from a row; the
validate stage to strip a person id's edges. (Cf also holds a few rare marks drawn around digits,
such as U+0600 ARABIC NUMBER SIGN: no partner of ours writes one alone in a cell or at an id's
edge, and one category is easier to reason about than a hand-made list.)

The pattern is RE2 syntax, for DuckDB's regexp functions; `tests/test_hostile7_invisible.py`
checks it against Python's unicodedata over every code point.
"""

from __future__ import annotations

# One invisible character (RE2 inside DuckDB SQL; braces doubled where a caller formats it).
CLASS = r"[\p{Cc}\p{Cf}\p{Z}]"


def blank_sql(text: str) -> str:
    """SQL: whether `text` (not NULL) holds only invisible characters, or none."""
    return f"regexp_full_match({text}, '{CLASS}*')"


def strip_edges_sql(text: str) -> str:
    """SQL: `text` without invisible characters at its start and end."""
    return f"regexp_replace({text}, '^{CLASS}+|{CLASS}+$', '', 'g')"


def visible_ascii_sql(text: str) -> str:
    """SQL: whether the first character of `text` is visible ASCII (`!` to `~`): the usual cell
    answers every invisibility question with this one code point test."""
    return f"ascii({text}) BETWEEN 33 AND 126"
