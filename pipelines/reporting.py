"""The reporting calendar: what each partner owes, declared in initiative.yaml under `reporting:`.

```yaml
reporting:
  northside_clinic:
    - every: quarter                 # a period type (pipelines/periods.py)
      due_days: 30                   # due 30 days after the period ends
      first_period: 2024Q1           # the first period owed, in `every`'s type
      template: person_outcomes_v1   # optional: the partner's own template by default
      measures: [well_child_visit]   # optional: only rows carrying these count
```

A partner may owe several obligations (a yearly file of one measure and a monthly file of
another). Partners with no entry owe nothing and are not tracked. The model checks what one
obligation says on its own; `check_reporting` checks it against the partners and templates, and
`check_measures` against the templates' columns (both name initiative.yaml and the key).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.errors import ConfigError
from pipelines.periods import PERIOD_TYPES, parse_label
from pipelines.yaml_models import IDENTIFIER, _Strict

if TYPE_CHECKING:
    from pathlib import Path

    from pipelines.definitions import Initiative
    from pipelines.intake_schema import IntakeSchema

PeriodType = Literal[PERIOD_TYPES]  # type: ignore[valid-type]


class Obligation(_Strict):
    every: PeriodType
    # A report can be due the day a period ends (0); ten years is a typo, not a calendar.
    due_days: int = Field(ge=0, le=3660, strict=True)
    first_period: str
    template: str | None = Field(default=None, pattern=IDENTIFIER)
    measures: tuple[str, ...] = ()

    @field_validator("first_period", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # YAML reads an unquoted 2024 as a number, which is what a user means by it.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("measures")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"measures repeat: {sorted({m for m in value if value.count(m) > 1})}")
        return value

    @model_validator(mode="after")
    def _canonical_first_period(self) -> Obligation:
        # The label is stored canonical ("Q1 2024" -> "2024Q1"); its dates depend on the
        # initiative's calendar and are worked out where the calendar is known (status).
        try:
            period = parse_label(self.first_period, default_type=self.every)
        except ValueError as exc:
            raise ValueError(f"first_period: {exc}") from None
        if period.type != self.every:
            raise ValueError(f"first_period: {self.first_period[:60]!r} is a {period.type}, not "
                             f"a {self.every}: write the first {self.every} owed, e.g. "
                             f"{_EXAMPLE[self.every]}")
        object.__setattr__(self, "first_period", period.label)
        return self

    def describe(self) -> str:
        """One line for tables and reports: "quarter (dev_screening), due in 30 days"."""
        what = f" ({', '.join(self.measures)})" if self.measures else ""
        return f"{self.every}{what}, due in {self.due_days} days"


_EXAMPLE = {"year": "2024", "school_year": "2023-24", "fiscal_year": "FY2024",
            "quarter": "2024Q1", "month": "2024-03"}

Reporting = dict[str, tuple[Obligation, ...]]


def check_reporting(initiative: Initiative) -> None:
    """Partners named under `reporting:` exist, and an obligation's template is the one the
    partner submits (a partner fills one template: records or aggregates)."""
    for partner_id, obligations in initiative.reporting.items():
        partner = initiative.partners.get(partner_id)
        if partner is None:
            raise ValueError(f"reporting.{partner_id}: {partner_id!r} is not one of partners: "
                             f"{sorted(initiative.partners)}")
        own = (initiative.aggregate_schema if partner.submits == "aggregates"
               else initiative.record_schema)
        for index, obligation in enumerate(obligations):
            if obligation.template is not None and obligation.template != own:
                raise ValueError(f"reporting.{partner_id}.{index}.template: "
                                 f"{obligation.template!r} is not the template {partner_id} "
                                 f"submits ({own!r})")


def check_measures(initiative: Initiative, record_schema: IntakeSchema,
                   aggregate_schema: IntakeSchema | None, indicator_ids: list[str],
                   initiative_file: Path) -> None:
    """Each obligation's `measures` are measure columns of the partner's template, or, for a
    partner sending aggregates, indicator ids of the initiative (aggregate rows name one)."""
    for partner_id, obligations in initiative.reporting.items():
        aggregates = initiative.partners[partner_id].submits == "aggregates"
        schema = aggregate_schema if aggregates else record_schema
        if schema is None:
            continue
        if aggregates:
            known, what = sorted(indicator_ids), "indicator ids"
        else:
            known, what = sorted(c.name for c in schema.by_role("measure")), \
                f"measure columns of {schema.id}"
        for index, obligation in enumerate(obligations):
            for position, measure in enumerate(obligation.measures):
                if measure not in known:
                    raise ConfigError(f"{initiative_file}: reporting.{partner_id}.{index}."
                                      f"measures.{position}: {measure!r} is not one of the "
                                      f"{what}: {known}")
