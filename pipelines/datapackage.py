"""A Frictionless Data Package (`datapackage.json`) describing one published folder.

Open-data portals and the `frictionless` library read a release from it as it is: each Parquet
file is a resource with a typed schema whose field descriptions come from the indicator YAML,
plus the licence and the partners whose submissions fed it. Spec: https://datapackage.org
(v1 keys, which v2 readers accept).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.config import InitiativeConfig

PARQUET_MEDIATYPE = "application/vnd.apache.parquet"
LICENSES = {
    "CC-BY-4.0": ("Creative Commons Attribution 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "ODC-BY-1.0": ("Open Data Commons Attribution License 1.0",
                   "https://opendatacommons.org/licenses/by/1-0/"),
    "ODC-PDDL-1.0": ("Open Data Commons Public Domain Dedication and License 1.0",
                     "https://opendatacommons.org/licenses/pddl/1-0/"),
    "CC0-1.0": ("Creative Commons Zero 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
}
DEFAULT_LICENSE = "CC-BY-4.0"
# What one row is: declared so readers can join on it and frictionless checks it; publish.py
# writes the rows in this order (by `period_start`, which the period label determines).
PRIMARY_KEYS = {
    "indicator_results": ["indicator_id", "period", "partner_id", "race_tabulation", "race",
                          "class"],
    "disparities": ["indicator_id", "period", "partner_id", "dimension", "group_label"],
}
PARTNERSHIP_TERMS = {"name": "other-closed", "title": "Data-sharing agreement: partnership members "
                     "only; not for publication (partner-level rows)"}


def _field(name: str, type_: str, description: str, enum: list | None = None) -> dict:
    field = {"name": name, "type": type_, "description": description}
    if enum:
        field["constraints"] = {"enum": enum}
    return field


def _counted(config: InitiativeConfig) -> str:
    """What a count is across the package's indicators ("People or households"): a households
    indicator's numerator is households, which "People (or families)" misnamed."""
    counted = {getattr(i, "counted", "people") for i in config.indicators}
    words = [w for w in ("people", "families", "households") if w in counted] or ["people"]
    text = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
    return text[:1].upper() + text[1:]


def _indicator_description(config: InitiativeConfig) -> str:
    lines = ["Which indicator the row measures:"]
    for indicator in config.indicators:
        counted = getattr(indicator, "counted", "people")
        how = ("sum of counts reported by partners" if indicator.source == "aggregates"
               else f"{counted} counted once across partners")
        lines.append(f"{indicator.id}: {indicator.title}. {indicator.description} "
                     f"({indicator.unit}, {indicator.direction.replace('_', ' ')}; {how}; "
                     f"published by {', '.join(indicator.disaggregations) or 'total only'})")
    return "\n".join(line.strip() for line in lines)


PERIOD_TYPES_TEXT = ("'year' (calendar year, e.g. 2024), 'school_year' (e.g. 2023-24), "
                     "'fiscal_year' (FY2024, named by the year it ends in), 'quarter' (2024Q1) or "
                     "'month' (2024-03)")


def period_fields(config: InitiativeConfig) -> list[dict]:
    """The indicator period of a row: its label, type and first and last day."""
    calendar = config.initiative.calendar
    months = (f" School years start in month {calendar.school_year_start_month}, fiscal years "
              f"in month {calendar.fiscal_year_start_month}.")
    types = sorted({i.period_type for i in config.indicators})
    return [
        _field("period", "string", "The indicator's period, labelled in its period type "
               "(period_type). People are counted once per period over all their records "
               "within it (monthly or dated rows included); sort by period_start, not by this "
               "label."),
        _field("period_type", "string", f"The indicator's period type: {PERIOD_TYPES_TEXT}."
               + months, types),
        _field("period_start", "date", "First day of the period."),
        _field("period_end", "date", "Last day of the period (inclusive)."),
    ]


def result_fields(config: InitiativeConfig, public: bool) -> list[dict]:
    threshold = config.initiative.suppression.threshold
    partner = ("Always 'ALL': all partners combined." if public else
               "'ALL' = all partners combined (each person counted once for indicators measured "
               "from records; partners' counts summed for aggregate indicators); otherwise the "
               "partner whose records the row counts.")
    return [
        _field("initiative_id", "string", f"The initiative ({config.initiative.name})."),
        _field("indicator_id", "string", _indicator_description(config),
               [i.id for i in config.indicators]),
        *period_fields(config),
        _field("partner_id", "string", partner),
        _field("race_tabulation", "string", "'total' = everyone (race 'ALL'); 'alone' = each "
               "person in one race group, people reporting several in 'Multiracial and/or "
               "Multiethnic'; 'alone_or_in_combination' = each person in every group they "
               "reported (groups add up to more than the total).",
               ["total", "alone", "alone_or_in_combination"]),
        _field("race", "string", "Race and ethnicity group (OMB SPD 15), or 'ALL'. A person's "
               "race in a period is the union of every race any partner reported for them."),
        _field("class", "string", "Household income as a share of the HHS poverty guidelines "
               "(FPG), a '(proxy)' band where only program eligibility was reported, or 'ALL'. "
               "A person's class in a period is the lowest any partner reported, income-based "
               "before proxy."),
        _field("numerator", "integer", f"{_counted(config)} with the outcome; empty when "
               "suppressed."),
        _field("denominator", "integer", f"{_counted(config)} measured; empty when suppressed."),
        _field("value", "number", "numerator / denominator (a proportion 0..1); empty when "
               "suppressed or the denominator is 0."),
        _field("ci_lower", "number", "Lower end of the 95% Wilson score interval for value; "
               "empty when suppressed."),
        _field("ci_upper", "number", "Upper end of the 95% Wilson score interval for value; "
               "empty when suppressed."),
        _field("low_reliability", "boolean", "True when the denominator is under 30: shown, but "
               "it can change a lot by chance (the scorecard's † mark); empty when suppressed."),
        _field("suppressed", "boolean", f"True when the cell is hidden to protect privacy: any of "
               f"its counts (people, with the outcome, without it) is 1 to {threshold} "
               "(primary), or it is hidden so such a count cannot be worked out by subtraction "
               "(complementary)."),
        _field("suppression_reason", "string", "'primary' or 'complementary' (see suppressed).",
               ["primary", "complementary"]),
        _field("source", "string", "'records' (person-level, unduplicated) or 'aggregates' "
               "(counts partners reported).", ["records", "aggregates"]),
    ]


def disparity_fields(config: InitiativeConfig, public: bool) -> list[dict]:
    refs = ", ".join(f"{d}: {g}" for d, g in config.initiative.reference_groups.items())
    return [
        _field("initiative_id", "string", f"The initiative ({config.initiative.name})."),
        _field("indicator_id", "string", _indicator_description(config),
               [i.id for i in config.indicators]),
        *period_fields(config),
        _field("partner_id", "string", "Always 'ALL': all partners combined." if public else
               "'ALL' = all partners combined; otherwise one partner."),
        _field("dimension", "string", "What groups are compared: 'race' (race alone, class ALL) "
               "or 'class' (race ALL).", ["race", "class"]),
        _field("group_label", "string", "The compared group."),
        _field("reference_group", "string", f"The group compared with ({refs})."),
        _field("group_rate", "number", "The group's value (published, not suppressed)."),
        _field("reference_rate", "number", "The reference group's value."),
        _field("rate_ratio", "number", "group_rate / reference_rate (1 = no gap)."),
        _field("rate_difference", "number", "group_rate - reference_rate."),
        _field("index_of_disparity", "number", "Mean absolute difference from the reference over "
               "the compared groups, as a percentage of the reference group's adverse rate (its rate, "
               "or 1 - its rate for a higher_is_better indicator; Pearcy & Keppel IDisp)."),
        _field("groups_compared", "integer", "How many groups the index averages over."),
    ]


def write_datapackage(folder: Path, config: InitiativeConfig, *, public: bool, version: str,
                      created: str, partner_ids: list[str]) -> Path:
    """Write `folder/datapackage.json` for the Parquet files already in `folder`."""
    initiative = config.initiative
    license_id = getattr(initiative, "license", None) or DEFAULT_LICENSE
    title, url = LICENSES.get(license_id, (license_id, ""))
    resources = []
    for name, fields, what in (
            ("indicator_results", result_fields(config, public),
             "One row per indicator, period, partner, race and class cell."),
            ("disparities", disparity_fields(config, public),
             "Gaps between each group and the reference group, for published cells only.")):
        # No bytes/hash here: frictionless cannot count a Parquet file's bytes and fails a
        # declared count; manifest.json carries both. NULL reaches frictionless's Parquet reader
        # (pandas) as NaN, so "nan" is a missing value like "".
        resources.append({
            "name": name, "path": f"{name}.parquet", "profile": "tabular-data-resource",
            "format": "parquet", "mediatype": PARQUET_MEDIATYPE, "description": what,
            "schema": {"fields": fields, "primaryKey": PRIMARY_KEYS[name],
                       "missingValues": ["", "nan"]},
        })
    audience = "public" if public else "partnership"
    package = {
        "profile": "tabular-data-package",
        "name": f"{initiative.id}-{audience}".replace("_", "-"),
        "title": f"{initiative.name} — {'open data' if public else 'partnership data (restricted)'}",
        "description": (initiative.description or initiative.name).strip().rstrip(".") + "." + (
            " Initiative-wide results only; small groups are suppressed." if public else
            " Includes partner-level rows: for partners and analysts under the data-sharing "
            "agreement only."),
        "version": version, "created": created,
        "licenses": [{"name": license_id, "title": title, "path": url}] if public
        else [PARTNERSHIP_TERMS],
        "sources": [{"title": initiative.partners[p].name if p in initiative.partners else p}
                    for p in partner_ids],
        "resources": resources,
        "indicators": [{
            "id": i.id, "title": i.title, "description": i.description, "unit": i.unit,
            "direction": i.direction, "counted": getattr(i, "counted", "people"),
            "source": i.source, "disaggregations": list(i.disaggregations),
            "period_type": i.period_type,
        } for i in config.indicators],
    }
    out = folder / "datapackage.json"
    out.write_text(json.dumps(package, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out
