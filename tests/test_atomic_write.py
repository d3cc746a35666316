"""The two ways a file others read is replaced (pipelines/atomic_write.py): whole or not at all."""

from __future__ import annotations

import pytest

from pipelines.atomic_write import replace_text, write_atomically


def test_a_page_is_written_whole_readable_by_all_and_leaves_nothing_beside_it(tmp_path):
    page = tmp_path / "new" / "folder" / "status.html"
    write_atomically(page, "<p>one</p>")
    write_atomically(page, "<p>two</p>")
    assert page.read_text(encoding="utf-8") == "<p>two</p>"
    assert page.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in page.parent.iterdir()] == ["status.html"]


def test_a_page_that_cannot_be_written_keeps_the_old_one(tmp_path):
    page = tmp_path / "scorecard.html"
    write_atomically(page, "old")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(page, "half \ud800 written")  # a lone surrogate: not UTF-8
    assert page.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["scorecard.html"]


def test_a_report_is_replaced_through_its_tmp_name(tmp_path):
    report = tmp_path / "rusd.csv.report.md"
    report.write_text("before", encoding="utf-8")
    replace_text(report, "after: café")
    assert report.read_bytes() == "after: café".encode()
    assert [p.name for p in tmp_path.iterdir()] == ["rusd.csv.report.md"]
    with pytest.raises(UnicodeEncodeError):
        replace_text(report, "\ud800")
    assert report.read_text(encoding="utf-8") == "after: café"
