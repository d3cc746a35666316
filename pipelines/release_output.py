"""What `backbone release` (and `backbone demo`) print after a release: its id and what changed,
where the release note and both scorecards are, and a note when comparing releases could show a
few people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from pipelines.config import InitiativeConfig, Workspace
    from pipelines.release import Released


def show_release(console: Console, workspace: Workspace, config: InitiativeConfig,
                 initiative: str, outcome: Released) -> None:
    """`outcome` of releasing `initiative` (`config`), in words."""
    if outcome.release_id is None:
        console.print(f"{initiative}: no public number changed since release "
                      f"{outcome.previous}; it stands (use --force to release anyway).")
    else:
        changed = ", ".join(f"{n} {kind}" for kind, n in outcome.changes.items()) or "no cells"
        console.print(f"{initiative}: public release {outcome.release_id} "
                      f"({'first release' if outcome.previous is None else changed})")
        console.print(f"Release note: {outcome.folder / 'release_note.md'}")
        if outcome.small_changes:
            console.print(f"[yellow]Note:[/] {outcome.small_changes} public cell(s) moved by 1 to "
                          f"{config.initiative.suppression.threshold} people since the previous "
                          "release: comparing the two releases can show those few people's group "
                          "and outcome. Releasing less often, once more data has arrived, lowers "
                          "that risk.")
    console.print(f"Public scorecard: {outcome.folder / 'scorecard.html'}")
    console.print(f"Partnership scorecard (partners only): "
                  f"{workspace.published(initiative) / 'partnership' / 'scorecard.html'}")
