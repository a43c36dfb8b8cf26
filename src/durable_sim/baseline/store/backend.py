"""What a raw storage backend provides: plain keyed storage with an atomic read-modify-write.

Backends neither count nor charge latency: `KVStore` wraps any backend once and does both,
so the accounting is identical whichever backend holds the data. Keys arrive already split
into ``(partition, sort)`` parts and validated; items arrive already validated. A backend whose
storage cannot be used now (its server out of reach or silent, a full disk, a lock held too
long) raises `StoreUnavailableError`, as DynamoDB answers such a call with a service error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from durable_sim.baseline.store.model import Item
from durable_sim.errors import StorageUnavailableError


class StoreUnavailableError(StorageUnavailableError):
    """The store's database cannot be used now: the message names it (a DSN without its
    secrets, `durable_sim.dsn.redact`, or a file's path), what the call was doing and why. A
    write in flight may or may not have taken effect, as after a DynamoDB call that timed out."""


class Backend(Protocol):
    """Raw item storage. Every method is one atomic, thread-safe operation."""

    def get(self, table: str, pk: str, sk: str) -> Item | None:
        """The item at the key, or None."""

    def put(self, table: str, pk: str, sk: str, text: str) -> None:
        """Store an item, given as its `encode_item` text (validated by the caller), at the key,
        replacing any previous item."""

    def modify(self, table: str, pk: str, sk: str, change: Callable[[Item | None], Item]) -> Item:
        """Atomically replace the item with ``change(current)`` and return it.

        If `change` raises, nothing is written and the error propagates.
        """

    def delete(self, table: str, pk: str, sk: str) -> None:
        """Remove the item at the key (no error if there is none)."""

    def query(self, table: str, pk: str) -> list[tuple[str, Item]]:
        """``(sort key, item)`` pairs of the partition `pk`, in sort-key order."""

    def close(self) -> None:
        """Release the backend's resources."""
