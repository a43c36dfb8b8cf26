"""In-memory backend: a dict of JSON texts behind a lock.

Items are kept as JSON text, not as live dicts, so a caller can never mutate stored state
through a returned item, and values round-trip exactly as they do through SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from durable_sim.baseline.store.backend import Backend
from durable_sim.baseline.store.model import Item, decode_item, encode_item


class MemoryBackend(Backend):
    """Raw storage in process memory (lost when the object is dropped)."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[tuple[str, str], str]] = {}
        self._lock = threading.Lock()

    def _table(self, table: str) -> dict[tuple[str, str], str]:
        return self._tables.setdefault(table, {})

    def get(self, table: str, pk: str, sk: str) -> Item | None:
        with self._lock:
            text = self._table(table).get((pk, sk))
        return None if text is None else decode_item(text)

    def put(self, table: str, pk: str, sk: str, text: str) -> None:
        with self._lock:
            self._table(table)[(pk, sk)] = text

    def modify(self, table: str, pk: str, sk: str, change: Callable[[Item | None], Item]) -> Item:
        with self._lock:
            rows = self._table(table)
            text = rows.get((pk, sk))
            new = change(None if text is None else decode_item(text))
            rows[(pk, sk)] = encode_item(new)
        return new  # a fresh dict: the stored item is its encoded copy

    def delete(self, table: str, pk: str, sk: str) -> None:
        with self._lock:
            self._table(table).pop((pk, sk), None)

    def query(self, table: str, pk: str) -> list[Item]:
        with self._lock:
            texts = sorted((sk, text) for (p, sk), text in self._table(table).items() if p == pk)
        return [decode_item(text) for _, text in texts]

    def close(self) -> None:
        """Nothing to release; present for the `Backend` protocol."""
