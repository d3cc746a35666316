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

import yaml

_RESOLVED = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
             "tag:yaml.org,2002:null"}
_TEXT = "tag:yaml.org,2002:str"

# libyaml's parser when installed: the same documents, 8x less time than pure Python (a night
# loads the definitions three times: 0.7 s of a quiet night).
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TextKeyLoader(_BASE):  # type: ignore[misc, valid-type]
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                # Plain keys only: a quoted '01' is text already.
                if (isinstance(key_node, yaml.ScalarNode) and not key_node.style
                        and key_node.tag in _RESOLVED and key_node.value != ""):
                    key_node.tag = _TEXT
        return super().construct_mapping(node, deep=deep)


def load(handle) -> object:
    return yaml.load(handle, Loader=TextKeyLoader)
