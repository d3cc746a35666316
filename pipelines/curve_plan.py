"""Turn-the-curve plans in initiative.yaml: partners with a role and strategies, per indicator.

    turn_the_curve:
      kindergarten_readiness:
        partners:
          - {partner: bright_start, role: "Runs the pre-K classrooms"}   # a data partner
          - {name: Riverbend Public Library, role: {en: "...", es: "..."}}  # or anyone else
        strategies:
          - "Summer bridge weeks for children with no pre-K"

Any text may be one string or {language: text}; the scorecard picks its language's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Localized = str | dict[Literal["en", "es"], str]


class PartnerRole(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A partner id from `partners:`, or the name of an organisation that submits no data.
    partner: str | None = None
    name: Localized | None = None
    role: Localized

    @model_validator(mode="after")
    def _one_of_partner_or_name(self) -> PartnerRole:
        if (self.partner is None) == (self.name is None):
            raise ValueError("give either partner (a partner id) or name, not both")
        return self


class CurvePlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partners: tuple[PartnerRole, ...] = ()
    strategies: tuple[Localized, ...] = Field(default=())


class IndicatorText(BaseModel):
    """An indicator's words in another language (`translations: {es: {title: ...}}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    description: str | None = None


class InitiativeText(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    description: str | None = None


ScorecardLanguage = Literal["en", "es"]


def check_plans_and_stories(folder: Path, initiative: Any, indicator_ids: list[str],
                            initiative_file: Path) -> None:
    """Checked with the other definitions, so a bad story is caught by `check`, not at publish."""
    from pipelines.errors import ConfigError

    for indicator_id in initiative.turn_the_curve:
        if indicator_id not in indicator_ids:
            raise ConfigError(f"{initiative_file}: turn_the_curve.{indicator_id}: not an "
                              f"indicator of this initiative ({', '.join(sorted(indicator_ids))})")
    stories = folder / "stories"
    if stories.is_dir():
        from pipelines.scorecard_stories import load_stories

        load_stories(stories, indicator_ids)
