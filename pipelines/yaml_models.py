"""What every definition model shares: strict pydantic models read from YAML, errors naming the file
and the dotted key, and names that become unquoted SQL identifiers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipelines import definition_checks, yaml_text_keys
from pipelines.errors import ConfigError
from pipelines.unicode_forms import nfc_tree

IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _not_an_sql_keyword(name: str) -> str:
    """Column and initiative names become SQL identifiers, unquoted in generated queries."""
    if name in definition_checks.reserved_sql_words():
        raise ValueError(f"{name!r} is a reserved SQL word; choose another name (e.g. "
                         f"{name}_flag)")
    return name


def _read_yaml(path: Path) -> Any:
    try:
        # keys as written: `01` stays "01"
        data = yaml_text_keys.load_file(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        # Text in one Unicode form (NFC), whatever the editor saved: see pipelines.unicode_forms.
        return nfc_tree(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _quote_hint(error: dict) -> str:
    """YAML reads unquoted 01, 1.5, Yes, on or off as numbers or true/false: say so."""
    value = error.get("input")
    if error["type"] != "string_type" or not isinstance(value, (bool, int, float)):
        return ""
    return (f" (YAML read this value as {'true/false' if isinstance(value, bool) else 'a number'}"
            f" {value!r}: put the text in quotes as you mean it, e.g. '01' or 'Yes')")


def parse_model(model: type[BaseModel], path: Path, data: Any | None = None) -> Any:
    """Validate YAML content against a model; the error names the file and the dotted key."""
    data = _read_yaml(path) if data is None else data
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            problems.append(f"{path}: {key}: {error['msg']}{_quote_hint(error)}")
        raise ConfigError("\n".join(problems)) from None
