"""Audit (session 11, helper F): a value or file name shown "as written" (partner reports, the
Prefect summary, logs, `check`, the status page) shows every character a reader cannot see.

A soft hyphen pasted from a web page (`WA\u00ad`) or a tag character fails the State rule, but
was shown as plain `WA`: the partner could not see what to fix. The Arabic letter mark, a
bidirectional control the scorecard already escapes, reached the status page raw."""

from __future__ import annotations

import sys
import unicodedata

from pipelines.escape import log_text, md_code, md_text, one_line

# What pipelines/invisible.py calls invisible (Cc, Cf), plus what breaks a line (Zl, Zp) and lone
# surrogates; spaces (Zs) stay spaces.
SHOWN_AS_ESCAPES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def test_every_control_format_character_and_separator_is_shown_as_an_escape():
    missed = [hex(cp) for cp in range(sys.maxunicode + 1)
              if unicodedata.category(chr(cp)) in SHOWN_AS_ESCAPES
              and chr(cp) in one_line(f"a{chr(cp)}b")]
    assert missed == []


def test_a_soft_hyphen_a_tag_character_and_the_arabic_letter_mark_are_visible_in_each_form():
    assert one_line("WA\u00ad") == "WA\\u00ad"
    assert md_code("WA\u00ad", table=True) == "`WA\\u00ad`"
    assert md_text("report\u061c.csv") == "report\\\\u061c.csv"
    assert "\u061c" not in log_text("report\u061c.csv")
    # Past U+FFFF the escape has 8 digits: `\ue0041` would read as U+E004 and a "1".
    assert one_line("W\U000e0041A") == "W\\U000e0041A"


def test_visible_text_is_unchanged():
    text = "Niños | São Paulo — 東京 مرحبا 2024\u00a0Q1 ½"
    assert one_line(text) == text
