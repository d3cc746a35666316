"""A YAML loader that keeps a mapping's plain keys as the text the author wrote.

YAML 1.1 (PyYAML) resolves plain scalars: `01` is the integer 1, `010` is octal 8, `Yes` and `on`
are true, `1.0` is a float. In a definition every key is a name or a code, and codes are what
partners write: a crosswalk written as state race codes usually are (`race_codes: {01: white,
010: aian}`) would otherwise hold `1` and `8`, and every partner row with `01` would be refused,
or worse, `010` would mean code `8`. `class_proxy: {Yes: ...}` would be `True`. No definition
model has a key that is a number, so a plain key is kept as written; values are resolved as
usual (a threshold of `10` is still the number 10), and a value YAML turned into a number where
text belongs is refused by the model with a hint to quote it (`yaml_models.parse_model`).
"""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from pipelines.errors import ConfigError

_RESOLVED = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
             "tag:yaml.org,2002:null"}
_TEXT = "tag:yaml.org,2002:str"

# libyaml's parser when installed: the same documents, 8x less time than pure Python (a night
# loads the definitions three times: 0.7 s of a quiet night).
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TextKeyLoader(_BASE):  # type: ignore[misc, valid-type]
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _refuse_repeated_keys(node)
            for key_node, _ in node.value:
                # Plain keys only: a quoted '01' is text already.
                if (isinstance(key_node, yaml.ScalarNode) and not key_node.style
                        and key_node.tag in _RESOLVED and key_node.value != ""):
                    key_node.tag = _TEXT
        return super().construct_mapping(node, deep=deep)


def _refuse_repeated_keys(node: yaml.MappingNode) -> None:
    """PyYAML keeps the last of two equal keys without a word: a crosswalk's `"700": white` then
    `"700": black` would code every 700 as Black, a partner pasted twice would lose its first
    entry. Keys a `<<:` merge brings in may be overridden, as YAML means them to be."""
    seen: dict[str, yaml.Node] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if key_node.value in seen:
            first = seen[key_node.value].start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"the key {key_node.value!r} is written twice (first on line {first}); YAML "
                "would keep only the last one: keep one", key_node.start_mark)
        seen[key_node.value] = key_node


def definition_text(path: Path) -> str:
    """A definition file's text, or a ConfigError naming the file and line if it is not UTF-8
    (Notepad's "ANSI", Excel's "Unicode text"): a UnicodeDecodeError would not be a definition
    error, and would stop the whole night instead of skipping this initiative."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        raise ConfigError(
            f"{path}: (file): line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}"
            f"{', the file is UTF-16' if utf16 else ''}); save the file as UTF-8") from None


def load(handle) -> object:
    return yaml.load(handle, Loader=TextKeyLoader)


def load_file(path: Path) -> object:
    """A definition file's YAML; a syntax error's position names the file, not a string."""
    stream = io.StringIO(definition_text(path))
    stream.name = str(path)
    return load(stream)
