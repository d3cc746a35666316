"""One visible text, one form: partner text is compared with definition text in Unicode NFC.

The same "Sí" can be two byte sequences: composed (NFC, "S" + U+00ED), as Windows, Excel and most
exports write it, or decomposed (NFD, "S" + "i" + U+0301), as macOS tools, PDF copy-paste and
some databases write it. A partner sees one text; compared byte by byte, the two never match,
so a decomposed "Sí" was refused against a crosswalk's "Sí", and a decomposed "Niño ID" header
was "missing". Text is therefore compared in one form, NFC:

- definitions (templates, crosswalks, indicators, the equity standards) are NFC from the moment
  their YAML is read (`nfc_tree`, in yaml_models and equity.standards): a crosswalk saved on a
  Mac matches like any other;
- headers are matched in NFKC (`header_form`, in read.normalize_name), which also folds what
  copy-paste leaves in a column name ("ﬁ" ligatures from PDFs, full-width letters);
- cells are brought to NFC in SQL only where they meet a definition, and mostly only when they
  did not already match (`nfc_sql`): value maps, allowed values, class-proxy codes, person ids
  (pipelines.typed), race codes once per distinct list (validate, standardize), period labels
  once per distinct value (period_forms.squeeze), a stored class-proxy value (measure).

The partner's own text (`<column>__text`) is kept as sent, so a message quotes what they wrote.
A person id is the exception: it is hashed in NFC (the same child whichever form the id came
in), and its text is the id as hashed.
"""

from __future__ import annotations

import unicodedata
from typing import Any


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def header_form(name: str) -> str:
    """A header as matched against the template's names and aliases."""
    return unicodedata.normalize("NFKC", name)


def nfc_tree(data: Any, where: str = "") -> Any:
    """`data` as read from YAML, every text (keys too) in NFC. Raises ValueError when two keys of
    one mapping are the same text in two forms with different values: no file could tell them
    apart."""
    if isinstance(data, str):
        return nfc(data)
    if isinstance(data, list):
        return [nfc_tree(item, f"{where}[{i}]") for i, item in enumerate(data)]
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        spelled: dict[Any, Any] = {}
        for key, value in data.items():
            name = nfc(key) if isinstance(key, str) else key
            value = nfc_tree(value, f"{where}.{name}" if where else str(name))
            if name in out and out[name] != value:
                raise ValueError(f"{where or '(top level)'}: keys {spelled[name]!r} and {key!r} "
                                 "are the same text (one with accents written as separate "
                                 "marks, as macOS may save them) but have different values; "
                                 "keep one of them")
            out[name] = value
            spelled.setdefault(name, key)
        return out
    return data


def nfc_sql(text: str) -> str:
    """SQL: `text` in NFC. DuckDB returns an ASCII text as it is after one byte scan; other
    text is rebuilt, a few hundred ns each: callers apply it to values that did not match."""
    return f"nfc_normalize({text})"


def nfc_unless_sql(text: str, matched: str) -> str:
    """SQL: `text` as it is where `matched` (a test of it against definition text) holds, else
    in NFC: the usual cell, already a definition's spelling, is not rebuilt."""
    return f"(CASE WHEN {matched} THEN {text} ELSE {nfc_sql(text)} END)"
