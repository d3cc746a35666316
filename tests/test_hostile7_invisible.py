"""Session 7, helper B: one definition of an invisible character (pipelines.invisible), used by
the read stage (blank rows) and the validate stage (person id edges).

Before, the read stage used the Unicode categories Cc/Cf/Z and the person id a hand-made list
that left out the C1 controls, the soft hyphen and the bidirectional isolates: an id typed with
one at its edge hashed to another person, while a row of them counted as blank.
"""

from __future__ import annotations

import unicodedata

import duckdb

import test_audit6_staging_fixes as s
from pipelines.invisible import CLASS, blank_sql, strip_edges_sql


def test_the_pattern_is_exactly_the_unicode_categories():
    """DuckDB's RE2 may know newer Unicode than this Python: it may add code points this
    Python calls unassigned, nothing else."""
    con = duckdb.connect()
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]  # no surrogates
    matched = {cp for (cp,) in con.execute(
        f"SELECT cp FROM (SELECT unnest($points) AS cp) "
        f"WHERE regexp_full_match(chr(cp::INTEGER), '{CLASS}')", {"points": points}).fetchall()}
    wanted = {cp for cp in points
              if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Zs", "Zl", "Zp")}
    assert wanted <= matched
    assert all(unicodedata.category(chr(cp)) == "Cn" for cp in matched - wanted)


def test_blank_and_stripped_agree_on_every_invisible_character():
    con = duckdb.connect()
    samples = ["\u00ad", "\u2066", "\u0085", "\u0090", "\u200b", "\ufeff", "\t", "\u00a0",
               "\u3000", "\u2029"]
    for char in samples:
        blank, stripped = con.execute(
            f"SELECT {blank_sql('$v')}, {strip_edges_sql('$w')}",
            {"v": char * 3, "w": f"{char}A1{char}"}).fetchall()[0]
        assert (blank, stripped) == (True, "A1"), repr(char)
    assert con.execute(f"SELECT {blank_sql('$v')}", {"v": "\u00ad x"}).fetchall()[0][0] is False


def test_a_person_id_loses_the_invisible_edges_a_blank_row_is_made_of(tmp_path):
    """The soft hyphen and a bidirectional isolate (copy-paste from a web page or a PDF) around
    an id: the same person as the bare id, and a row of only such characters is blank."""
    rows = [s.GOOD[0], "\u2066G0\u2069,2024-04-02,W,20000,2,OR,1,Y",
            "\u00adG0,2024-04-03,W,20000,2,OR,1,Y", "\u00ad,\u2066,,,,,,", s.GOOD[1]]
    staged, bad = s._stage(tmp_path, "\n".join([s.HEADER, *rows]) + "\n")
    assert (staged.status, staged.rows_read, staged.rows_loaded, bad) == ("staged", 4, 4, [])
    keys = s._records(staged, "person_key")
    assert keys[2] == keys[3] == keys[4] != keys[6]
    assert 5 not in keys  # the blank row keeps its number and is not read
