"""A template's id pattern in a partner's words.

A pattern of character classes ("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}") reads as "may hold only
letters, digits, '_', '.' and '-', start with a letter or digit and be 1 to 64 characters long":
"has characters or a shape it may not have" alone, beside a hidden id, named nothing to look for.
"""

from __future__ import annotations

import re

_CLASS_ATOM = re.compile(r"\[([^\]^\\]+)\](?:\{(\d+)(?:(,)(\d*))?\}|([+*?]))?")


def _class_words(members: str) -> list[tuple[str, str]]:
    """(plural, singular) words for a character class's members."""
    upper, lower = "A-Z" in members, "a-z" in members
    words = ([("letters", "letter")] if upper and lower
             else [("capital letters", "capital letter")] if upper
             else [("lower-case letters", "lower-case letter")] if lower else [])
    if "0-9" in members:
        words.append(("digits", "digit"))
    rest = members.replace("A-Z", "").replace("a-z", "").replace("0-9", "")
    return words + [(repr(c), repr(c)) for c in dict.fromkeys(rest)]


def _listed(words: list[str], joiner: str = "and") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {joiner} {words[-1]}"


def pattern_in_words(pattern: str | None) -> str | None:
    """A template pattern of character classes ("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}") in a
    partner's words ("may hold only letters, digits, '_', '.' and '-', start with a letter or
    digit..."): "has characters or a shape it may not have" alone, beside a hidden id, named
    nothing to look for. None for any other pattern: the plain message stands."""
    if not pattern or not re.fullmatch(f"(?:{_CLASS_ATOM.pattern})+", pattern):
        return None
    atoms = []
    for found in _CLASS_ATOM.finditer(pattern):
        members, low, comma, high, mark = found.groups()
        if "-" in members.strip("-").replace("A-Z", "").replace("a-z", "").replace("0-9", ""):
            return None  # another range: not put in words
        if mark:
            low, high = {"+": (1, None), "*": (0, None), "?": (0, 1)}[mark]
        elif low is None:
            low = high = 1
        else:
            low, high = int(low), (int(high) if high else None) if comma else int(low)
        atoms.append((_class_words(members), low, high))
    allowed = list(dict.fromkeys(plural for words, _, _ in atoms for plural, _ in words))
    shortest = sum(low for _, low, _ in atoms)
    longest = None if any(high is None for _, _, high in atoms) else sum(h for _, _, h in atoms)
    length = (f"exactly {shortest}" if longest == shortest else
              f"at least {shortest}" if longest is None else f"{shortest} to {longest}")
    said = f"may hold only {_listed(allowed)}"
    first, low, high = atoms[0]
    if len(atoms) > 1 and low == high == 1 and [p for p, _ in first] != allowed:
        said += f", start with a {_listed([one for _, one in first], 'or')}"
    unit = "character" if (longest or shortest) == 1 else "characters"
    return f"{said} and be {length} {unit} long"
