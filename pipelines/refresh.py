"""Measure, suppress, compare and publish one initiative: the marts step every writer shares.

The nightly warehouse step and `backbone rebuild` both end here, so a rebuilt warehouse publishes
with exactly the rules a night does (the workspace's own race and class labels included).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines import quality, quality_text, resubmission
from pipelines.config import InitiativeConfig, Workspace
from pipelines.disparities import compute_disparities
from pipelines.measure import build_indicator_cells
from pipelines.publish import publish
from pipelines.suppress import suppress_cells


@dataclass(frozen=True)
class Refreshed:
    cells: int
    suppressed: dict[str, int]
    published: Path


def not_reported_labels(config: InitiativeConfig) -> tuple[str, ...]:
    """Missing data is not a group to compare: the workspace's own labels for it."""
    return tuple(sorted({config.standards.race.not_reported_label,
                         config.standards.class_bands.not_reported_label}))


def measure_and_publish(con: duckdb.DuckDBPyConnection, workspace: Workspace,
                        config: InitiativeConfig, run_id: str) -> Refreshed:
    """Rebuild the marts from `records_current` and publish the partnership version.

    Raises ConfigError (from measure) when the definitions cannot class the data, e.g. a period
    before the first poverty-guideline year; nothing is published then.
    """
    cells = build_indicator_cells(con, config)
    race = config.standards.race
    counts = suppress_cells(con, f"{config.id}.indicator_cells",
                            config.initiative.suppression.threshold,
                            multiracial_label=race.multiracial_label,
                            not_reported_label=race.not_reported_label)
    compute_disparities(con, f"{config.id}.indicator_cells", f"{config.id}.disparities",
                        dict(config.initiative.reference_groups),
                        exclude_groups=not_reported_labels(config))
    quality.build_flags(con, config)
    published = publish(con, workspace, config, run_id)
    resubmission.mark_published(con, config)
    quality_text.add_to_reports(con, config, run_id)  # written at load, before these flags
    return Refreshed(cells, counts, published)
