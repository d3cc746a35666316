"""Load and validate two equity standards, SPD 15 race and class bands; render bands as SQL.

The files are read from a workspace's `schemas/equity/` (see `pipelines.equity.workspace`); the
copies under the install's `schemas/equity/` are only what a new workspace starts from. HHS
poverty guidelines live in `pipelines.equity.poverty`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from pipelines import yaml_text_keys
from pipelines.errors import ConfigError
from pipelines.sql import sql_literal
from pipelines.unicode_forms import nfc_tree

# File names inside a workspace's schemas/equity/.
RACE_STANDARD_FILE = "race_spd15.yaml"
CLASS_BANDS_FILE = "class_bands.yaml"
POVERTY_GUIDELINES_FILE = "poverty_guidelines.csv"

HMIS_RACE_NONE = "RaceNone"
# SPD 15 "more than one race, not specified": what a crosswalk maps such a local code to.
MULTI_UNSPECIFIED = "multiracial_unspecified"


class _KeyedError(ValueError):
    """Raised inside validators so the ConfigError can name the exact key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


def _norm(name: str) -> str:
    # Partner write-ins vary in case and spacing ("puerto  rican", "Puerto Rican ").
    return " ".join(name.split()).casefold()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class RaceCategory(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z_]*$")
    label: str = Field(min_length=1)
    definition: str = Field(min_length=1)


class RaceStandard(_Strict):
    standard: str = Field(min_length=1)
    categories: list[RaceCategory] = Field(min_length=1)
    multiracial_label: str = Field(min_length=1)
    not_reported_label: str = Field(min_length=1)
    hmis_fy2024_columns: dict[str, Any]
    detailed_categories: dict[str, str]
    # Local codes meaning "more than one race, not specified" understood without a crosswalk.
    multiracial_unspecified: list[str] = Field(default_factory=list)
    # Local codes meaning no race was given (HMIS "Data not collected", "Unknown", "Declined"),
    # understood without a crosswalk entry: not reported, rather than the row set aside.
    not_reported_codes: list[str] = Field(default_factory=list)
    _lookup: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("categories")
    @classmethod
    def _unique_categories(cls, cats: list[RaceCategory]) -> list[RaceCategory]:
        for attr in ("code", "label"):
            seen: set[str] = set()
            for i, cat in enumerate(cats):
                value = getattr(cat, attr)
                if value in seen:
                    raise _KeyedError(f"categories.{i}.{attr}", f"duplicate {attr} {value!r}")
                seen.add(value)
        return cats

    @model_validator(mode="after")
    def _cross_checks(self) -> RaceStandard:
        codes = set(self.codes)
        labels = {c.label for c in self.categories}
        for key in ("multiracial_label", "not_reported_label"):
            if getattr(self, key) in labels:
                raise _KeyedError(key, f"{getattr(self, key)!r} collides with a category label")
        if self.multiracial_label == self.not_reported_label:
            raise _KeyedError("not_reported_label", "must differ from multiracial_label")
        unspecified = {_norm(c) for c in (self.multiracial_label, *self.multiracial_unspecified)}
        for i, local in enumerate(self.not_reported_codes):
            if _norm(local) in unspecified:
                raise _KeyedError(f"not_reported_codes.{i}", f"{local!r} also means more than "
                                  "one race (multiracial_unspecified or multiracial_label)")

        mapped: dict[str, str] = {}
        for column, value in self.hmis_fy2024_columns.items():
            key = f"hmis_fy2024_columns.{column}"
            if column == HMIS_RACE_NONE:
                if not isinstance(value, list) or not value or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value
                ):
                    raise _KeyedError(key, "must be a non-empty list of integer codes")
                continue
            # `White: [white]` (a list, as RaceNone and crosswalk codes take) is no set member:
            # `in codes` raised TypeError, which stopped the night instead of naming the key.
            if not isinstance(value, str) or value not in codes:
                raise _KeyedError(key, f"unknown race code {value!r} (write one of "
                                       f"{', '.join(sorted(codes))})")
            if value in mapped.values():
                raise _KeyedError(key, f"code {value!r} is already mapped by another column")
            mapped[column] = value
        if HMIS_RACE_NONE not in self.hmis_fy2024_columns:
            raise _KeyedError(f"hmis_fy2024_columns.{HMIS_RACE_NONE}", "missing")
        if missing := codes - set(mapped.values()):
            raise _KeyedError("hmis_fy2024_columns", f"no column for codes {sorted(missing)}")

        seen: dict[str, str] = {}
        for name, code in self.detailed_categories.items():
            key = f"detailed_categories.{name}"
            if code not in codes:
                raise _KeyedError(key, f"unknown race code {code!r}")
            if _norm(name) in seen and seen[_norm(name)] != code:
                raise _KeyedError(key, "same name (ignoring case) maps to two codes")
            seen[_norm(name)] = code
        return self

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.categories]

    @property
    def labels(self) -> list[str]:
        """The minimum-category labels, in standard order ("X alone" rows)."""
        return [c.label for c in self.categories]

    @property
    def tabulation_labels(self) -> list[str]:
        """Every race label an "alone" tabulation can carry, in publication order."""
        return [*self.labels, self.multiracial_label, self.not_reported_label]

    def label(self, code: str) -> str:
        for cat in self.categories:
            if cat.code == code:
                return cat.label
        raise KeyError(f"unknown race code {code!r}; known: {self.codes}")

    @property
    def hmis_columns(self) -> dict[str, str]:
        """HMIS 0/1 column name -> race code (RaceNone excluded)."""
        return {k: v for k, v in self.hmis_fy2024_columns.items() if k != HMIS_RACE_NONE}

    @property
    def hmis_race_none_values(self) -> tuple[int, ...]:
        return tuple(self.hmis_fy2024_columns[HMIS_RACE_NONE])

    def detailed_to_code(self, name: str | None) -> str | None:
        """Roll a detailed write-in (or a minimum label/code) up to its code; None if unknown."""
        return None if name is None else self._lookup.get(_norm(name))

    def model_post_init(self, context: Any, /) -> None:
        lookup = {_norm(n): c for n, c in self.detailed_categories.items()}
        for cat in self.categories:
            lookup.setdefault(_norm(cat.label), cat.code)
            lookup.setdefault(_norm(cat.code), cat.code)
        self._lookup = lookup


class IncomeBand(_Strict):
    label: str = Field(min_length=1)
    lower: float = Field(ge=0, allow_inf_nan=False)
    upper: float

    @field_validator("upper", mode="before")
    @classmethod
    def _open_upper(cls, value: Any) -> Any:
        return math.inf if value is None else value


class ProxyLabels(_Strict):
    low_income: str = Field(min_length=1)
    not_low_income: str = Field(min_length=1)


class ClassBands(_Strict):
    ratio_of: str = Field(min_length=1)
    bands: list[IncomeBand] = Field(min_length=1)
    proxy_labels: ProxyLabels
    not_reported_label: str = Field(min_length=1)

    @field_validator("bands")
    @classmethod
    def _contiguous(cls, bands: list[IncomeBand]) -> list[IncomeBand]:
        if bands[0].lower != 0:
            raise _KeyedError("bands.0.lower", "first band must start at 0")
        for i, band in enumerate(bands):
            if math.isnan(band.upper) or band.upper <= band.lower:
                raise _KeyedError(f"bands.{i}.upper", "must be greater than lower")
            if i + 1 < len(bands) and bands[i + 1].lower != band.upper:
                raise _KeyedError(
                    f"bands.{i + 1}.lower",
                    f"must equal previous upper {band.upper} (bands contiguous, non-overlapping)",
                )
        if not math.isinf(bands[-1].upper):
            raise _KeyedError(f"bands.{len(bands) - 1}.upper", "last band must be open-ended (.inf)")
        return bands

    @model_validator(mode="after")
    def _unique_labels(self) -> ClassBands:
        seen: set[str] = set()
        for label in self.labels:
            if label in seen:
                raise _KeyedError("bands", f"duplicate class label {label!r}")
            seen.add(label)
        return self

    @property
    def band_labels(self) -> list[str]:
        return [b.label for b in self.bands]

    @property
    def labels(self) -> list[str]:
        """Full class vocabulary in publication order."""
        return [
            *self.band_labels,
            self.proxy_labels.low_income,
            self.proxy_labels.not_low_income,
            self.not_reported_label,
        ]

    def band_for(self, ratio: float | None) -> str | None:
        """Python twin of class_band_sql, for small frames and tests."""
        if ratio is None or math.isnan(ratio):
            return None
        for band in self.bands:
            if ratio < band.upper:
                return band.label
        return self.bands[-1].label


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: Any, path: Path, key_prefix: str = "") -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, _KeyedError):
                key, problem = cause.key, cause.problem
            else:
                key = ".".join(str(p) for p in err["loc"]) or "(root)"
                problem = err["msg"]
            lines.append(f"{path}: {key_prefix}{key}: {problem}")
        raise ConfigError("\n".join(lines)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml_text_keys.load_file(path)  # keys as written
    except FileNotFoundError:
        raise ConfigError(f"{path}: (file): not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: (yaml): {exc}") from None
    try:
        data = nfc_tree(data)  # one Unicode form (NFC): see pipelines.unicode_forms
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (root): expected a mapping, got {type(data).__name__}")
    return data


def load_race_standard(path: Path) -> RaceStandard:
    path = Path(path)
    return _validate(RaceStandard, _read_yaml(path), path)


def load_class_bands(path: Path) -> ClassBands:
    path = Path(path)
    return _validate(ClassBands, _read_yaml(path), path)



def class_band_sql(ratio_expr: str, bands: ClassBands) -> str:
    """SQL CASE mapping a poverty ratio to its band label; NULL/NaN ratio -> NULL.

    Negative ratios (business losses) land in the lowest band, as in Census poverty.
    """
    r = f"({ratio_expr})"
    parts = [f"WHEN {r} IS NULL OR isnan(CAST({r} AS DOUBLE)) THEN NULL"]
    for band in bands.bands[:-1]:
        parts.append(f"WHEN {r} < {band.upper!r} THEN {sql_literal(band.label)}")
    parts.append(f"ELSE {sql_literal(bands.bands[-1].label)}")
    return "CASE " + " ".join(parts) + " END"
