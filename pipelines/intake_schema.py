"""Intake schemas (the shared templates partners fill) and partner crosswalks onto them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.equity.standards import MULTI_UNSPECIFIED
from pipelines.errors import ConfigError
from pipelines.periods import parse_label
from pipelines.yaml_models import IDENTIFIER, _not_an_sql_keyword, _Strict, parse_model

if TYPE_CHECKING:
    from pipelines.config import Workspace
    from pipelines.equity.workspace import EquityStandards

# --- intake schemas -------------------------------------------------------------------------


def _folded(name: str) -> str:
    """A header name as files are matched against it (pipelines.read.normalize_name)."""
    from pipelines.read import normalize_name

    return normalize_name(name)

# "period": a year, a period label in any accepted form or a date (pipelines/periods.py).
ColumnType = Literal["string", "integer", "number", "date", "period"]
PeriodType = Literal["year", "school_year", "fiscal_year", "quarter", "month"]
ColumnRole = Literal[
    "person_id", "period", "race_codes", "race_flag", "race_none", "household_income",
    "household_size", "state", "class_proxy", "partner_id", "measure", "attribute",
    # aggregate templates
    "indicator_id", "race_group", "class_group", "numerator", "denominator",
]
ROLES_REQUIRED = {
    "records": ("person_id", "period"),
    "aggregates": ("indicator_id", "period", "race_group", "class_group", "numerator",
                   "denominator"),
}
# The key of a row within a partner, as the resubmission rule applies it.
ROW_KEY_ROLES = {"records": ("person_id", "period"),
                 "aggregates": ("indicator_id", "period", "race_group", "class_group")}


class IntakeColumn(_Strict):
    name: str = Field(pattern=IDENTIFIER)
    type: ColumnType = "string"
    role: ColumnRole = "attribute"
    required: bool = False
    description: str = ""
    aliases: tuple[str, ...] = ()
    allowed: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    # A period starting after the day of the run is rejected as in the future.
    max_is_current_year: bool = False
    # The period column: what a bare year means (a crosswalk's `period.type` overrides it).
    period_type: PeriodType = "year"
    pattern: str | None = None
    race_code: str | None = None  # for role race_flag: which SPD 15 code the 0/1 column marks

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        return _not_an_sql_keyword(value)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value

    @model_validator(mode="after")
    def _race_flag_has_code(self) -> IntakeColumn:
        if self.role == "race_flag" and not self.race_code:
            raise ValueError("a race_flag column needs race_code (one of the SPD 15 codes)")
        return self

    @model_validator(mode="after")
    def _bounds_agree(self) -> IntakeColumn:
        # Bounds no value can meet set aside every partner's rows, each partner told its own
        # values are wrong (and a file past max_bad_row_share rejected) for a typo of ours.
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.name}: min {self.min:g} is above max {self.max:g}: no value "
                             "could pass")
        if self.allowed and self.type in ("integer", "number"):
            outside = [v for v in self.allowed if isinstance(v, (int, float))
                       and not isinstance(v, bool)
                       and ((self.min is not None and v < self.min)
                            or (self.max is not None and v > self.max))]
            if outside:
                low = "-" if self.min is None else f"{self.min:g}"
                high = "-" if self.max is None else f"{self.max:g}"
                raise ValueError(f"{self.name}: allowed value(s) {', '.join(map(str, outside))} "
                                 f"are outside min/max ({low} to {high}): rows with them would "
                                 "be set aside")
        return self

    @model_validator(mode="after")
    def _period_column(self) -> IntakeColumn:
        # The period column is always read as a period; `integer` (templates from before period
        # types) means the same, a bare year meaning `period_type`.
        if self.role == "period" and self.type not in ("period", "integer"):
            raise ValueError(f"the period column's type must be period, not {self.type}")
        if self.type == "period" and self.role != "period":
            raise ValueError("type period is for the column with role period")
        return self


class IntakeSchema(_Strict):
    id: str = Field(pattern=IDENTIFIER)
    kind: Literal["records", "aggregates"] = "records"
    title: str
    grain: str
    columns: tuple[IntakeColumn, ...]
    unique: tuple[str, ...] = ()
    # A file whose share of bad rows exceeds this is rejected whole: it is probably the wrong template.
    max_bad_row_share: float = Field(default=0.5, ge=0, le=1)
    # Resubmissions (pipelines/resubmission.py): a night's files replace a whole period when they
    # carry at least this share of its current rows; a replacement dropping more than
    # max_shrink_share of them is held for a data lead (`backbone accept`).
    complete_file_share: float = Field(default=0.5, gt=0, le=1)
    max_shrink_share: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> IntakeSchema:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"column names repeat: {sorted({n for n in names if names.count(n) > 1})}")
        for key in self.unique:
            if key not in names:
                raise ValueError(f"unique key {key!r} is not a column")
        # A header is matched by its name folded (case, spaces, punctuation): a name or alias
        # two columns share would send the partner's column to one of them without a word.
        owner: dict[str, str] = {}
        for column in self.columns:
            for alias in dict.fromkeys(_folded(a) for a in (column.name, *column.aliases)):
                if owner.setdefault(alias, column.name) != column.name:
                    raise ValueError(f"columns {owner[alias]!r} and {column.name!r} both take "
                                     f"the header {alias!r} (a name or alias, whatever its "
                                     "case and punctuation): give it to one of them")
        for role in ROLES_REQUIRED[self.kind]:
            if [c.role for c in self.columns].count(role) != 1:
                raise ValueError(f"a {self.kind} schema needs exactly one column with role {role!r}")
        # The warehouse keeps one current row per partner and this key (pipelines/resubmission.py
        # layouts): rows repeating it must be quarantined by the duplicate_key rule, not
        # silently superseded, so the rule always runs on exactly this key. Dated person rows
        # (one per event) are the exception: all of a file's events of a person-day load.
        key = tuple(self.role_column(role) for role in ROW_KEY_ROLES[self.kind])
        if not self.unique:
            object.__setattr__(self, "unique", key)
        elif set(self.unique) != set(key):
            raise ValueError(f"unique must be [{', '.join(key)}]: the warehouse keeps one row per "
                             f"partner and {' + '.join(key)}, so a file may not repeat it "
                             f"(got [{', '.join(self.unique)}])")
        return self

    def column(self, name: str) -> IntakeColumn:
        return next(c for c in self.columns if c.name == name)

    def by_role(self, role: str) -> list[IntakeColumn]:
        return [c for c in self.columns if c.role == role]

    def role_column(self, role: str) -> str | None:
        found = self.by_role(role)
        return found[0].name if found else None

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


# --- partner crosswalks -----------------------------------------------------------------------

class CrosswalkPeriod(_Strict):
    """How a partner writes periods: what their bare year (or "2023-24") means, and their own
    labels ("Fall 2023": "2023Q4"), each mapped to a label in any accepted form."""

    type: PeriodType | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_text(cls, value: Any) -> Any:
        # YAML reads `2024: SY2024` with a number key; the partner wrote text.
        if isinstance(value, dict):
            return {str(k): (str(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                             else v) for k, v in value.items()}
        return value


class Crosswalk(_Strict):
    """How one partner's local file maps onto the shared template."""

    header_aliases: dict[str, str] = Field(default_factory=dict)
    # local race code -> SPD 15 codes; "not_reported" marks an explicit refusal/unknown.
    race_codes: dict[str, tuple[str, ...] | Literal["not_reported"]] = Field(default_factory=dict)
    race_separator: str = ";"
    class_proxy: dict[str, str] = Field(default_factory=dict)
    # column -> {local value -> shared value}, applied before validation
    # A local word mapped to null (`{"U": null}`, an EHR's "unknown" in a Y/N column) is a blank
    # cell, as `NA` is: the row loads without that answer instead of being set aside.
    values: dict[str, dict[str, str | int | float | None]] = Field(default_factory=dict)
    # True: every file is a complete extract of each period it carries, so it replaces them
    # (people it does not list are dropped), however few rows it has.
    complete_extracts: bool = False
    # Excel workbooks: the sheet to read (else the first visible one).
    sheet: str | None = None
    # What the partner's household income covers: HMIS and many intake forms keep monthly
    # income, which read as annual puts a household 12 times lower against the guideline.
    # "month" is made annual (x 12) as the file is loaded; records keep the annual amount.
    household_income_per: Literal["year", "month"] = "year"
    period: CrosswalkPeriod = CrosswalkPeriod()

    @field_validator("race_codes", mode="before")
    @classmethod
    def _single_code_to_list(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): ([v] if isinstance(v, str) and v != "not_reported" else v)
                    for k, v in value.items()}
        return value

    @field_validator("race_separator")
    @classmethod
    def _separator_is_one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("race_separator must be a single character")
        return value


def load_schema(workspace: Workspace, schema_id: str, referenced_from: Path) -> IntakeSchema:
    path = workspace.path("schemas", "intake", f"{schema_id}.yaml")
    if not path.is_file():
        raise ConfigError(f"{referenced_from}: schema {schema_id!r}: no file {path}")
    schema: IntakeSchema = parse_model(IntakeSchema, path)
    return schema


def _unfit(target: Any, column) -> str | None:
    """Why a value map's `target` is no value `column` can hold, or None."""
    text = str(target).strip()
    if column.allowed is not None:
        def same(value: Any) -> Any:  # 1, "1" and 1.0 are one number; text in any case
            try:
                return float(str(value)) if column.type in ("integer", "number") else \
                    str(value).lower()
            except ValueError:
                return str(value).lower()
        if same(text) not in {same(a) for a in column.allowed}:
            return (f"{target!r} is not one of the values column {column.name!r} allows "
                    f"({', '.join(repr(a) for a in column.allowed)})")
        return None
    kinds = {"integer": int, "number": float}
    if column.type in kinds:
        try:
            kinds[column.type](text)
        except ValueError:
            return f"{target!r} is not a{'n' if column.type == 'integer' else ''} {column.type}"
    return None


def _distinct_when_folded(codes: dict[str, Any], key: str, meaning: str, path: Path) -> None:
    """Refuse two codes that differ only in case or edge spaces but mean different things."""
    folded: dict[str, str] = {}
    for local, value in codes.items():
        first = folded.setdefault(local.strip().lower(), local)
        if codes[first] != value:
            raise ConfigError(f"{path}: {key}: {first!r} and {local!r} differ only in case or "
                              "spaces, so a partner's file cannot tell them apart, but they "
                              f"name different {meaning}")


def _check_crosswalk(crosswalk: Crosswalk, schema: IntakeSchema, path: Path,
                     standards: EquityStandards) -> None:
    names = {c.name for c in schema.columns}
    for local, canonical in crosswalk.header_aliases.items():
        if canonical not in names:
            raise ConfigError(f"{path}: header_aliases.{local}: {canonical!r} is not a column of "
                              f"intake schema {schema.id!r}")
    income = schema.role_column("household_income")
    # "Monthly Income", "Income per month"; not "Income (past 12 months)" or "Annual ...".
    monthly = [local for local, canonical in crosswalk.header_aliases.items()
               if canonical == income and "annual" not in (folded := _folded(local))
               and re.search(r"monthly|(?<![0-9])month", folded)]  # folded: "12months"
    if monthly and crosswalk.household_income_per != "month":
        raise ConfigError(f"{path}: header_aliases.{monthly[0]}: a monthly income read as "
                          f"{income!r}, which is annual, puts every household 12 times lower "
                          "against the poverty guideline: add `household_income_per: month` "
                          "(it is made annual as files load), or map an annual column")
    proxies = standards.class_bands.proxy_labels
    for local, label in crosswalk.class_proxy.items():
        if label not in (proxies.low_income, proxies.not_low_income):
            raise ConfigError(f"{path}: class_proxy.{local}: {label!r} is not a proxy class label "
                              f"({proxies.low_income!r} or {proxies.not_low_income!r})")
    # Codes are matched whatever their case (pipelines.typed._proxy_code, standardize's race
    # lookup), and in NFC, as the crosswalk loads (pipelines.unicode_forms.nfc_tree).
    _distinct_when_folded(crosswalk.class_proxy, "class_proxy", "classes", path)
    known = [*standards.race.codes, MULTI_UNSPECIFIED]
    _distinct_when_folded(crosswalk.race_codes, "race_codes", "races", path)
    for local, codes in crosswalk.race_codes.items():
        for code in () if codes == "not_reported" else codes:
            if code not in known:
                raise ConfigError(f"{path}: race_codes.{local}: {code!r} is not an SPD 15 code "
                                  f"({', '.join(known)}) or not_reported")
    for column in crosswalk.values:
        if column not in names:
            raise ConfigError(f"{path}: values.{column}: not a column of intake schema "
                              f"{schema.id!r}")
        for local, target in crosswalk.values[column].items():
            if target is None:
                if schema.column(column).required:
                    raise ConfigError(f"{path}: values.{column}.{local}: null (a blank cell) in "
                                      f"a required column: every such row would be refused")
                continue
            problem = _unfit(target, schema.column(column))
            if problem:  # every such row would be refused, quoting the partner's own value
                raise ConfigError(f"{path}: values.{column}.{local}: {problem}")
    period_type = crosswalk.period.type or next(
        (c.period_type for c in schema.columns if c.role == "period"), "year")
    for local, label in crosswalk.period.labels.items():
        try:
            parse_label(label, default_type=period_type)
        except ValueError as exc:
            raise ConfigError(f"{path}: period.labels.{local}: {exc}") from None
