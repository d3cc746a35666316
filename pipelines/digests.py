"""Short, stable digests of JSON-able values: what a manifest records to tell later whether a
definition changed, without repeating the definition."""

from __future__ import annotations

import hashlib
import json


def json_digest(value: object, length: int = 12) -> str:
    """The first `length` hex digits of sha256 over `value` as canonical JSON (keys sorted;
    dates and other non-JSON values as their str())."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
