"""The baseline's key-value store: DynamoDB-shaped calls, three backends, one accounting layer."""

from durable_sim.baseline.store.backend import Backend, StoreUnavailableError
from durable_sim.baseline.store.kvstore import (
    DEFAULT_PURPOSE,
    KVStore,
    StoreCounters,
    check_purpose,
    open_store,
)
from durable_sim.baseline.store.memory import MemoryBackend
from durable_sim.baseline.store.model import ABSENT, ConditionalCheckFailed, Item, Key
from durable_sim.baseline.store.postgres import PostgresBackend
from durable_sim.baseline.store.sqlite import SQLiteBackend

__all__ = [
    "ABSENT",
    "DEFAULT_PURPOSE",
    "Backend",
    "ConditionalCheckFailed",
    "Item",
    "KVStore",
    "Key",
    "MemoryBackend",
    "PostgresBackend",
    "SQLiteBackend",
    "StoreCounters",
    "StoreUnavailableError",
    "check_purpose",
    "open_store",
]
