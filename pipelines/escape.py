"""Partner text made inert for every place it is shown: Markdown, logs, terminals, CSV.

A file name, a header or a cell value comes from outside: a newline in it would forge a table row
or a log line, `|` would shift table columns, `<img onerror=...>` or `[x](javascript:...)` would
become markup in the Prefect UI or a report, `=cmd|...` would run in a spreadsheet. Every helper
keeps the text readable (the partner must recognise their own value) while making it inert.
"""

from __future__ import annotations

import re

# Characters that end or reorder a line or cannot be seen: C0/C1 controls (ANSI escapes included),
# Unicode line and paragraph separators, every format character (Cf: zero-width and bidirectional
# controls, the Arabic letter mark, a soft hyphen, tag characters; pipelines/invisible.py's
# definition of invisible, spaces aside), and lone surrogates (a file name that is not UTF-8, as
# Python decodes it), which cannot even be written to a UTF-8 file. An invisible character left
# as is makes a value shown "as written" look valid ("WA" with a soft hyphen is not WA).
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Markdown/HTML punctuation that can start markup inline: emphasis, code, links and images
# (`(` and `!` are inert once `[` is escaped), raw HTML and entities, table pipes, headings,
# strikethrough, email autolinks. Only these: the report is also read as plain text.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|#~&@])")
# GFM's extended autolinks: `http://...`, `www.` (`javascript:` is never autolinked).
_AUTOLINK = re.compile(r"(?i)(:)(?=//)|\b(www)(\.)")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Where a spreadsheet may start a new cell when it splits on its own list separator (`;` in much
# of Europe) or a line break: a formula start right after one of these is a formula there.
_FORMULA_AFTER_SEPARATOR = re.compile(r"([,;|\t\r\n])(?=[=+\-@\t\r])")


def _visible(match: re.Match) -> str:
    char = match.group()
    # Past U+FFFF, `\\U` and 8 digits: `\\ue0041` would read as U+E004 then "1".
    return _NAMED.get(char) or (f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF
                                else f"\\U{ord(char):08x}")


def one_line(value: object, limit: int | None = None) -> str:
    """`value` as one line of plain text: invisible and line-breaking characters shown as escapes
    (`\\n`, `\\u202e`); cut to `limit` characters (plus an ellipsis) before that."""
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "\u2026"
    return _INVISIBLE.sub(_visible, text)


def md_text(value: object, limit: int | None = None) -> str:
    """Plain text inside Markdown (a sentence, a table cell, a heading): never markup."""
    text = _MARKDOWN.sub(r"\\\1", one_line(value, limit))
    return _AUTOLINK.sub(lambda m: "\\:" if m.group(1) else m.group(2) + "\\.", text)


def md_code(value: object, limit: int | None = None, table: bool = False) -> str:
    """`value` verbatim as a Markdown code span: a link, image or HTML inside shows as text.

    The fence is one backtick longer than the longest run inside. In a table (`table=True`) a
    `|` still splits the cell even inside code, so it is escaped (GFM removes the escape).
    """
    text = one_line(value, limit)
    if not text:
        return "*(blank)*"
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text[0] in "` " or text[-1] in "` ":
        text = f" {text} "  # CommonMark strips one space each side; a backtick needs the gap
    if table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def log_text(value: object, limit: int | None = 300) -> str:
    """A quoted, escaped form for log lines and exception messages (Python's repr of the text):
    a newline cannot forge a log line and terminal escape codes do nothing."""
    return repr("" if value is None else str(value)[:limit] if limit else str(value))


def spreadsheet_safe(value: object) -> str:
    """A CSV cell no spreadsheet runs as a formula (OWASP CSV injection), in any locale.

    A leading `= + - @`, tab or CR gets a `'`; so does a formula start right after a `,` `;` `|`
    tab or line break, where Excel in a `;` or tab locale starts a new cell (`x;=2+5;y`).
    """
    text = "" if value is None else str(value)
    text = _FORMULA_AFTER_SEPARATOR.sub(r"\1'", text)
    return "'" + text if text.startswith(FORMULA_START) else text
