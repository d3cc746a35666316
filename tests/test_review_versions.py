"""Review: pruning old versions must never delete the version an audience link points at."""

from __future__ import annotations

from pipelines.config import Workspace
from pipelines.versions import (KEEP_VERSIONS, PARTNERSHIP, audience_dir, finish_version,
                                start_version)


def _publish(workspace: Workspace, version_id: str) -> None:
    staging = start_version(workspace, "riverbend", PARTNERSHIP, version_id)
    (staging / "manifest.json").write_text(f'{{"run_id": "{version_id}"}}')
    finish_version(workspace, "riverbend", PARTNERSHIP, staging, version_id)


def test_the_current_version_survives_pruning_whatever_its_name_sorts_as(tmp_path):
    workspace = Workspace(tmp_path)
    # `backbone rebuild` versions, then a nightly run: a name sorting before all of them.
    for i in range(KEEP_VERSIONS):
        _publish(workspace, f"rebuild-20261130T00000{i}")
    _publish(workspace, "20261201T000000-abcdef")
    manifest = audience_dir(workspace, "riverbend", PARTNERSHIP) / "manifest.json"
    assert manifest.is_file()
    assert "20261201T000000-abcdef" in manifest.read_text()
