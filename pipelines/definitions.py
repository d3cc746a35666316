"""Initiatives, partners and indicators: what is measured, for whom, and what may be published."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pipelines.curve_plan import CurvePlan, IndicatorText, InitiativeText, ScorecardLanguage
from pipelines.equity.poverty import US_STATES
from pipelines.periods import DEFAULT_CALENDAR, PERIOD_TYPES, Calendar, parse_label
from pipelines.reporting import Reporting, check_reporting
from pipelines.quality import Quality
from pipelines.yaml_models import IDENTIFIER, _not_an_sql_keyword, _Strict

# --- initiatives and indicators ---------------------------------------------------------------

Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null"]


class Condition(_Strict):
    column: str = Field(pattern=IDENTIFIER)
    op: Op = "="
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op in ("is_null", "not_null"):
            if self.value is not None:
                raise ValueError(f"op {self.op!r} takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, (list, tuple)) or not self.value:
                raise ValueError(f"op {self.op!r} needs a non-empty list value")
        elif not isinstance(self.value, (int, float, str)) or isinstance(self.value, bool):
            raise ValueError(f"op {self.op!r} needs a number or text value")
        return self


_EXAMPLES = {"year": "2027", "school_year": "2026-27", "fiscal_year": "FY2027",
             "quarter": "2026Q4", "month": "2026-12"}


class Milestone(_Strict):
    # Every indicator is a percent, stored as a share: 52% is written 0.52.
    value: float = Field(allow_inf_nan=False)
    # The indicator's period_type, set by Indicator._milestones_in_its_type so that `period` is
    # read as a label of that type (and a mistake is reported at target.period).
    period_type: str = Field(default="year", exclude=True, repr=False)
    period: str

    @field_validator("value")
    @classmethod
    def _a_share(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError(f"{value!r} is not a share between 0 and 1: indicators are percents "
                             f"written as shares (52% is 0.52)")
        return value

    @field_validator("period", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # YAML reads an unquoted 2027 as a number, which is what a user means. The label is
        # read in the indicator's period type (Indicator._milestones_in_its_type).
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return value

    @field_validator("period")
    @classmethod
    def _canonical(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("period_type", "year")
        if kind not in PERIOD_TYPES:
            return value  # the indicator's period_type error says it
        period = parse_label(value, DEFAULT_CALENDAR, kind)
        if period.type != kind:
            raise ValueError(f"{value!r} is a {period.type.replace('_', ' ')}, but the "
                             f"indicator's period_type is {kind}: write a {kind.replace('_', ' ')} "
                             f"label, e.g. {_EXAMPLES[kind]}")
        return period.label


class Indicator(_Strict):
    id: str = Field(pattern=IDENTIFIER)
    title: str
    description: str = ""
    unit: Literal["percent"] = "percent"
    # Who one count is: the scorecard says "families" for a housing indicator, not "people".
    counted: Literal["people", "families", "households"] = "people"
    direction: Literal["higher_is_better", "lower_is_better"]
    # The grain results are published at; baseline/target periods are labels of this type.
    period_type: Literal["year", "school_year", "fiscal_year", "quarter", "month"] = "year"
    # "aggregates": measured only from partners' aggregate submissions (no conditions needed).
    source: Literal["records", "aggregates"] = "records"
    denominator: tuple[Condition, ...] = ()
    numerator: tuple[Condition, ...] = ()
    target: Milestone | None = None
    baseline: Milestone | None = None
    disaggregations: tuple[Literal["race", "class", "race_x_class", "partner"], ...] = (
        "race", "class", "race_x_class", "partner")
    # The scorecard's words in other languages: {es: {title: ..., description: ...}}.
    translations: dict[ScorecardLanguage, IndicatorText] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _conditions_for_records(self) -> Indicator:
        if self.source == "records" and not (self.numerator and self.denominator):
            # `source` is the one key that says where the counts come from: an aggregate
            # partner's indicator written without it lands here, so the message names it.
            raise ValueError("an indicator measured from records needs numerator and denominator "
                             "conditions; one counted from partners' aggregate files (a partner "
                             "with `submits: aggregates`) says `source: aggregates` instead")
        return self

    @field_validator("baseline")
    @classmethod
    def _baseline_before_target(cls, baseline: Milestone | None,
                                info: ValidationInfo) -> Milestone | None:
        # Swapped periods (or a target copied from the baseline) are no plan: the scorecard
        # would draw the goal at or before its starting point.
        target = info.data.get("target")
        if baseline is None or target is None:
            return baseline
        starts = [parse_label(m.period, DEFAULT_CALENDAR, m.period_type).start
                  for m in (baseline, target)]
        if starts[0] >= starts[1]:
            raise ValueError(f"period {baseline.period!r} is not before the target's period "
                             f"{target.period!r}: the baseline is where the curve starts, the "
                             "target where it should be later")
        return baseline

    @model_validator(mode="before")
    @classmethod
    def _milestones_in_its_type(cls, data: Any) -> Any:
        """Baseline and target periods are labels of the indicator's period type ("2026 Q4" ->
        "2026Q4"; a bare 2027 is the year, or school or fiscal year, ending in 2027)."""
        if isinstance(data, dict):
            kind = data.get("period_type", "year")
            data = {**data, **{key: {**data[key], "period_type": kind}
                               for key in ("baseline", "target")
                               if isinstance(data.get(key), dict)}}
        return data


class Partner(_Strict):
    name: str
    submits: Literal["records", "aggregates"] = "records"
    # A file name under schemas/crosswalks/<initiative>/, never a path out of it.
    crosswalk: str | None = Field(default=None, pattern=r"^[^/\\]+$")


class Suppression(_Strict):
    # 0 would suppress nothing while the scorecard promises small counts are hidden.
    threshold: int = Field(default=10, ge=1, strict=True)  # `true` is not a count


class Initiative(_Strict):
    id: str = Field(pattern=IDENTIFIER)
    name: str
    description: str = ""
    state: str = Field(default="", pattern=r"^([A-Z]{2})?$")
    record_schema: str
    aggregate_schema: str = "aggregate_counts_v1"
    suppression: Suppression = Suppression()
    # The open-data licence written into the public datapackage.json.
    license: Literal["CC-BY-4.0", "ODC-BY-1.0", "ODC-PDDL-1.0", "CC0-1.0"] = "CC-BY-4.0"
    reference_groups: dict[Literal["race", "class"], str] = Field(
        default_factory=lambda: {"race": "White", "class": "400%+ FPG"})
    partners: dict[str, Partner]
    # When school and fiscal years start (pipelines/periods.py).
    calendar: Calendar = Calendar()
    # The scorecard's language unless `backbone scorecard --lang` says otherwise.
    language: ScorecardLanguage = "en"
    translations: dict[ScorecardLanguage, InitiativeText] = Field(default_factory=dict)
    # Per indicator id: partners with a role and strategies, shown on the scorecard.
    turn_the_curve: dict[str, CurvePlan] = Field(default_factory=dict)
    # What each partner owes and when (pipelines/reporting.py; `backbone status`).
    reporting: Reporting = Field(default_factory=dict)
    # What looks far from a partner's own history (pipelines/quality.py).
    quality: Quality = Quality()

    @field_validator("state")
    @classmethod
    def _state_has_a_guideline(cls, state: str) -> str:
        if state and state not in US_STATES:
            raise ValueError(f"{state!r} is not the code of a US state or DC: households sent "
                             "without a state would be priced with the 48-state poverty guideline")
        return state

    @model_validator(mode="after")
    def _reporting_partners_exist(self) -> Initiative:
        check_reporting(self)
        return self

    @model_validator(mode="after")
    def _plan_partners_exist(self) -> Initiative:
        for indicator_id, plan in self.turn_the_curve.items():
            for i, role in enumerate(plan.partners):
                if role.partner is not None and role.partner not in self.partners:
                    raise ValueError(f"turn_the_curve.{indicator_id}.partners.{i}.partner: "
                                     f"{role.partner!r} is not one of partners: "
                                     f"{sorted(self.partners)}")
        return self

    @field_validator("id")
    @classmethod
    def _id_not_reserved(cls, value: str) -> str:
        return _not_an_sql_keyword(value)  # the initiative's DuckDB schema is named after it

    @field_validator("partners")
    @classmethod
    def _partner_ids(cls, value: dict[str, Partner]) -> dict[str, Partner]:
        for partner_id in value:
            if not re.match(IDENTIFIER, partner_id):
                raise ValueError(f"partner id {partner_id!r} must be lowercase letters, digits, _")
        return value
