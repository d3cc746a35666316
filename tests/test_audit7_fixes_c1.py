"""Audit 7, cosmetic C1: the release note's count line says "26 new cells", not "26 new cell"."""

from __future__ import annotations

import datetime as dt


def _cell(change: str, i: int) -> dict:
    return {"indicator_id": "kinder_ready", "period": "2024", "race_tabulation": "alone",
            "race": f"R{i}", "class": "ALL", "change": change, "old_numerator": 1,
            "old_denominator": 20, "old_suppressed": False, "new_numerator": 2,
            "new_denominator": 20,
            "new_suppressed": change == "now hidden"}


def test_the_count_line_names_new_cells_in_the_plural(tmp_path, config):
    from pipelines.release_note import write_release_note

    note = tmp_path / "note.md"
    changed = [_cell("new", i) for i in range(26)] + [_cell("now hidden", 99)]
    write_release_note(note, config, "r2", dt.datetime(2026, 12, 1), {"run_id": "x"},
                       {"release_id": "r1", "released_at": "2026-11-01"}, changed)
    text = note.read_text()
    assert "27 public cells changed: 26 new cells, 1 now hidden (privacy)." in text, text
    write_release_note(note, config, "r3", dt.datetime(2026, 12, 1), {"run_id": "x"},
                       {"release_id": "r2", "released_at": "2026-11-01"}, [_cell("new", 0)])
    assert ": 1 new cell." in note.read_text()
