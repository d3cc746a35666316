"""Race/ethnicity per OMB SPD 15 (2024): partner codes -> the 7 minimum categories.

A partner's local code maps to one or more minimum codes (select all that apply) or to
"not reported". Without a crosswalk entry, the SPD 15 codes, their labels and the detailed
categories (e.g. "Somali" -> black, "Lebanese" -> mena) are understood, case-insensitively.
The standard is the workspace's (`InitiativeConfig.standards.race`), passed in by the caller.
"""

from __future__ import annotations

from pipelines.config import Crosswalk
from pipelines.equity.standards import MULTI_UNSPECIFIED, RaceStandard

NOT_REPORTED = "not_reported"
__all__ = ["MULTI_UNSPECIFIED", "NOT_REPORTED", "code_lookup"]


def code_lookup(crosswalk: Crosswalk, race: RaceStandard) -> dict[str, tuple[str, ...]]:
    """lower-case local code -> SPD 15 codes; an empty tuple means explicitly not reported, and
    (MULTI_UNSPECIFIED,) "more than one race, not specified" (SPD 15): no race flag, counted as
    Multiracial and/or Multiethnic alone."""
    if race is None:  # the install's copy would silently ignore the workspace's own standard
        raise TypeError("code_lookup needs the workspace's race standard (config.standards.race)")
    lookup: dict[str, tuple[str, ...]] = {}
    for code in race.codes:
        lookup[code.lower()] = (code,)
        lookup[race.label(code).lower()] = (code,)
    for detailed, code in race.detailed_categories.items():
        lookup[detailed.lower()] = (code,)
    # The standard's own words for "no race" and "more than one race" are what a partner copying
    # the published tables writes: rejecting them set the person's whole row aside.
    for local in ("not reported", race.not_reported_label, *race.not_reported_codes):
        lookup[local.strip().lower()] = ()
    for local in (race.multiracial_label, *race.multiracial_unspecified):
        lookup[local.strip().lower()] = (MULTI_UNSPECIFIED,)
    for local, codes in crosswalk.race_codes.items():
        lookup[local.strip().lower()] = () if codes == NOT_REPORTED else tuple(codes)
    return lookup
