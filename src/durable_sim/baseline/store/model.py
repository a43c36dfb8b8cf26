"""The store's data model: keys, items, conditions and the pure rules shared by every backend.

Keys follow DynamoDB's composite primary key. A key is either a partition string ``"job-1"``
(an item with no sort key) or a ``(partition, sort)`` pair of strings ``("job-1", "chunk-03")``.
Both shapes live in one partition: ``query(table, "job-1")`` returns the plain ``"job-1"`` item
first, then the ``("job-1", sort)`` items in lexicographic sort-key order (zero-pad numbers).

Items are JSON objects (``dict[str, JSON]``). Every backend stores the JSON text, so all
backends give back equal values (tuples come back as lists, for instance) and reject the same
non-JSON values. The update and atomic-add rules are written here once and applied by each
backend inside its own transaction.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from durable_sim.errors import DurableSimError

Key = str | tuple[str, str]
Item = dict[str, Any]

NO_SORT: Final = ""
"""Sort part stored for a plain partition-string key (never a valid user sort key)."""


class _Absent(Enum):
    """Type of `ABSENT`."""

    ABSENT = "ABSENT"

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent.ABSENT
"""Expected value in a condition: "the attribute must not exist" (``attribute_not_exists``)."""


class ConditionalCheckFailed(DurableSimError):
    """A conditional update found values other than the expected ones (nothing was written)."""

    def __init__(self, table: str, key: Key, mismatches: dict[str, tuple[object, object]]) -> None:
        self.table = table
        self.key = key
        self.mismatches = mismatches
        detail = ", ".join(
            f"{attr}: expected {exp!r}, found {found!r}"
            for attr, (exp, found) in sorted(mismatches.items())
        )
        super().__init__(f"conditional check failed on {table}[{key!r}]: {detail}")


_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,255}")


def check_table(table: object) -> str:
    """Validate a table name (DynamoDB's character set and length)."""
    if not isinstance(table, str) or not _NAME.fullmatch(table):
        raise ValueError(
            f"bad table name {table!r} (accepted: 1-255 characters from A-Z a-z 0-9 _ . -)"
        )
    return table


def _is_utf8(value: str) -> bool:
    """True unless `value` holds a lone surrogate, which has no UTF-8 encoding."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_key_part(value: object, what: str, key: object) -> str:
    if not isinstance(value, str) or value == "" or not _is_utf8(value):
        raise ValueError(
            f"bad key {key!r}: the {what} must be a non-empty string of Unicode characters "
            f"(UTF-8, as DynamoDB's strings; no lone surrogates), got {value!r} "
            "(accepted keys: 'partition' or ('partition', 'sort'))"
        )
    return value


def split_key(key: object) -> tuple[str, str]:
    """Validate a key and return its ``(partition, sort)`` parts (sort is `NO_SORT` if none)."""
    if isinstance(key, str):
        return _check_key_part(key, "partition", key), NO_SORT
    if isinstance(key, tuple) and len(key) == 2:
        return _check_key_part(key[0], "partition", key), _check_key_part(key[1], "sort", key)
    raise ValueError(
        f"bad key {key!r} (accepted keys: 'partition' or ('partition', 'sort'), strings)"
    )


def check_partition(partition: object) -> str:
    """Validate the partition string a query names."""
    if not isinstance(partition, str) or partition == "" or not _is_utf8(partition):
        raise ValueError(
            f"bad partition {partition!r} (accepted: a non-empty string, UTF-8 encodable)"
        )
    return partition


def encode_item(item: object) -> str:
    """JSON text of an item; the one serialization every backend stores."""
    if not isinstance(item, Mapping) or not all(isinstance(k, str) for k in item):
        raise ValueError(f"bad item {item!r} (accepted: a mapping with string attribute names)")
    try:
        return json.dumps(dict(item), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"bad item {item!r}: {exc} (accepted values: JSON types, finite numbers)"
        ) from None


#: DynamoDB's request-unit sizes: a read unit covers 4 KB, a write unit 1 KB (on-demand mode).
READ_UNIT_BYTES: Final = 4096
WRITE_UNIT_BYTES: Final = 1024


def item_size(pk: str, sk: str, item: Mapping[str, object]) -> int:
    """Bytes of an item as request units count them: its key parts plus its JSON text.

    DynamoDB sums attribute names and values; the JSON text adds a few bytes of punctuation,
    so this errs slightly high (it matters only at the 1 KB and 4 KB unit boundaries).
    """
    return len(pk.encode()) + len(sk.encode()) + len(encode_item(item).encode())


def read_units(size: int) -> int:
    """Read request units of a strongly consistent read of `size` bytes (at least one)."""
    return max(1, -(-size // READ_UNIT_BYTES))


def write_units(size: int) -> int:
    """Write request units of a standard write of an item of `size` bytes (at least one)."""
    return max(1, -(-size // WRITE_UNIT_BYTES))


def decode_item(text: str) -> Item:
    """Inverse of `encode_item`."""
    item: Item = json.loads(text)
    return item


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(found: object, expected: object) -> bool:
    """Equality as a JSON store sees it: ``True`` is not ``1`` (Python's ``==`` says it is)."""
    return isinstance(found, bool) == isinstance(expected, bool) and found == expected


def check_delta(delta: object) -> float | int:
    """Validate the delta of an atomic add."""
    if not _is_number(delta) or not math.isfinite(delta):  # type: ignore[arg-type]
        raise ValueError(f"bad delta {delta!r} for add (accepted: a finite int or float)")
    return delta  # type: ignore[return-value]


def check_attr(attr: object) -> str:
    """Validate an attribute name."""
    if not isinstance(attr, str) or attr == "":
        raise ValueError(f"bad attribute name {attr!r} (accepted: a non-empty string)")
    return attr


def check_condition(condition: object) -> dict[str, object]:
    """Validate a condition: attribute names mapped to expected JSON values or `ABSENT`."""
    if condition is None:
        return {}
    if not isinstance(condition, Mapping):
        raise ValueError(
            f"bad condition {condition!r} (accepted: None or a mapping attribute -> expected value)"
        )
    for attr, expected in condition.items():
        check_attr(attr)
        if expected is not ABSENT:
            encode_item({attr: expected})
    return dict(condition)


def apply_update(
    table: str, key: Key, current: Item | None, changes: Item, condition: dict[str, object]
) -> Item:
    """The item after setting `changes`, if every expected value in `condition` holds.

    A missing item has no attributes, so only `ABSENT` expectations hold for it; with the
    condition met, updating a missing item creates it (DynamoDB's ``UpdateItem`` upsert).
    """
    base = current or {}
    mismatches = {
        attr: (expected, base.get(attr, ABSENT))
        for attr, expected in condition.items()
        if not _same(base.get(attr, ABSENT), expected)
    }
    if mismatches:
        raise ConditionalCheckFailed(table, key, mismatches)
    return {**base, **changes}


def apply_add(table: str, key: Key, current: Item | None, attr: str, delta: float) -> Item:
    """The item after adding `delta` to the number `attr` (a missing attribute counts as 0)."""
    base = current or {}
    old = base.get(attr, 0)
    if not _is_number(old):
        raise TypeError(f"cannot add to {table}[{key!r}].{attr}: it holds {old!r}, not a number")
    return {**base, attr: old + delta}
