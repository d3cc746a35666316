"""Review: a file rejected while being read leaves no copy of its data in staging."""

from __future__ import annotations

from pipelines.intake import stage_file

from conftest import drop


def test_a_transcoded_file_rejected_for_its_header_leaves_no_copy(workspace, config):
    content = "\r\nperson_id,period,kinder_ready\r\nJos\xe9 Garc\xeda,2023,1\r\n".encode("utf-16")
    path = drop(workspace, "riverbend_schools", "blank_first_line.csv", content)
    staged = stage_file(path, config, "riverbend_schools", "salt", workspace.staging)
    assert staged.status == "rejected"
    left = [p for p in workspace.staging.rglob("*") if p.is_file()]
    assert left == [], f"the partner's data stayed in staging: {left}"
