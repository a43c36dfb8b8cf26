"""YAML as every hand-written file of the project is read: safe, and no key given twice.

PyYAML's loaders keep the last of two equal keys in a mapping (``grid:`` written twice, a
price listed twice), so a typo silently replaces what the file says first. `load` refuses
that with a `yaml.YAMLError` naming the key and both lines; callers turn it into their own
one-line error as for any other YAML error. libyaml's loader is used where PyYAML was built
with it (much faster on the price table and the sweep files), else PyYAML's own.
"""

from __future__ import annotations

from typing import Any

import yaml

from durable_sim.errors import DurableSimError

_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DuplicateKeyError(DurableSimError, yaml.constructor.ConstructorError):
    """A mapping gives one key twice; the message names the key and both lines (1-based).

    A `yaml.YAMLError` too, so a caller's handling of unreadable YAML covers it."""


class _StrictLoader(_BASE):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML's own error follows
                continue
            seen[key] = line
            if first is not None:
                raise DuplicateKeyError(
                    None,
                    None,
                    f"key {key!r} given twice (lines {first} and {line}; accepted: each key once)",
                    key_node.start_mark,
                )
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def load(text: str) -> Any:
    """The document in `text` (None for an empty one).

    Raises `yaml.YAMLError` for text that is not YAML, and `DuplicateKeyError` (a
    `yaml.YAMLError`) for a mapping that gives one key twice.
    """
    return yaml.load(text, Loader=_StrictLoader)
