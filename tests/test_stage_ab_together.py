"""benchmarks/stage_ab.py's flow-like mode: every file's staging started at once, as the flow's
thread pool starts its tasks, stages what one file after another stages."""

from __future__ import annotations


def test_stage_ab_stages_together_what_it_stages_one_after_another(tmp_path, monkeypatch):
    """The benchmark's flow-like mode (every file started at once): same files, same answers."""
    from benchmarks import generate, stage_ab

    monkeypatch.setenv("BACKBONE_SETTLE_SECONDS", "0")
    source = tmp_path / "ws"
    written = generate.generate(source, megabytes=1, verbose=False)
    alone = stage_ab.child(source)
    together = stage_ab.child(source, together=True)
    assert len(together["files"]) == len(written) and together["wall"] > 0
    for one, other in zip(alone["files"], together["files"]):
        assert (one["file"], one["status"], one["digest"], one["answer"]) == (
            other["file"], other["status"], other["digest"], other["answer"])
    text = stage_ab.report({"before": [alone], "after": [together]}, 1.0, 1.0)
    assert text.count("| yes |") == len(written) and "| NO |" not in text
