"""A workspace's equity standards, loaded once with the initiative's definitions.

Every stage that classes or labels people (intake, standardize, measure, the crosswalk checks)
takes them from here, never from the install's copies: a data lead who adds a guideline year or
changes a band in their workspace gets exactly that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipelines.equity.poverty import PovertyGuideline, load_poverty_guidelines
from pipelines.equity.standards import (CLASS_BANDS_FILE, POVERTY_GUIDELINES_FILE,
                                        RACE_STANDARD_FILE, ClassBands, RaceStandard,
                                        load_class_bands, load_race_standard)
from pipelines.errors import ConfigError


@dataclass(frozen=True)
class EquityStandards:
    folder: Path
    race: RaceStandard
    class_bands: ClassBands
    poverty_guidelines: tuple[PovertyGuideline, ...]

    @classmethod
    def load(cls, folder: Path) -> EquityStandards:
        folder = Path(folder)
        if not folder.is_dir():
            raise ConfigError(f"{folder}: (folder): not found; a workspace needs its own equity "
                              "standards (copy schemas/equity/ from the backbone install)")
        return cls(folder, load_race_standard(folder / RACE_STANDARD_FILE),
                   load_class_bands(folder / CLASS_BANDS_FILE),
                   load_poverty_guidelines(folder / POVERTY_GUIDELINES_FILE))

    @property
    def poverty_guidelines_file(self) -> Path:
        return self.folder / POVERTY_GUIDELINES_FILE

    @property
    def first_guideline_year(self) -> int:
        return min(g.year for g in self.poverty_guidelines)

    @property
    def latest_guideline_year(self) -> int:
        return max(g.year for g in self.poverty_guidelines)

    @property
    def digest(self) -> str:
        """Changes whenever what the files say changes (not their comments or layout)."""
        # not_reported_codes (session 12) is left out while empty: a workspace's standard without
        # it keeps its fingerprint, so the upgrade re-measures nothing.
        race = self.race.model_dump_json(
            exclude=None if self.race.not_reported_codes else {"not_reported_codes"})
        parts = [race, self.class_bands.model_dump_json()]
        parts += [g.model_dump_json(exclude={"source"}) for g in self.poverty_guidelines]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
