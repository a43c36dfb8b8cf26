"""The traditional serverless baseline: stateless functions that keep state in a key-value store.

Functions (`FunctionRuntime`) keep no state between invocations; they read and write a
DynamoDB-shaped store (`KVStore`) whose every call is counted by kind and purpose and charged
its latency, learn that fanned-out work finished by polling (`poll_until`), and retry failures
by hand (`retry_call`) with compare-and-swap (`KVStore.update(..., condition=...)`) for safety.
"""

from durable_sim.baseline.functions import (
    AsyncInvocation,
    FunctionRuntime,
    Handler,
    InvocationContext,
    InvocationCounters,
)
from durable_sim.baseline.polling import PollResult, PollTimeout, poll_until
from durable_sim.baseline.retry import (
    RetriesExhausted,
    RetryCounters,
    RetryStrategy,
    retry_call,
)
from durable_sim.baseline.store import (
    ABSENT,
    DEFAULT_PURPOSE,
    Backend,
    ConditionalCheckFailed,
    Item,
    Key,
    KVStore,
    MemoryBackend,
    PostgresBackend,
    SQLiteBackend,
    StoreCounters,
    StoreUnavailableError,
    check_purpose,
    open_store,
)

__all__ = [
    "ABSENT",
    "DEFAULT_PURPOSE",
    "AsyncInvocation",
    "Backend",
    "ConditionalCheckFailed",
    "FunctionRuntime",
    "Handler",
    "InvocationContext",
    "InvocationCounters",
    "Item",
    "KVStore",
    "Key",
    "MemoryBackend",
    "PollResult",
    "PollTimeout",
    "PostgresBackend",
    "RetriesExhausted",
    "RetryCounters",
    "RetryStrategy",
    "SQLiteBackend",
    "StoreCounters",
    "StoreUnavailableError",
    "check_purpose",
    "open_store",
    "poll_until",
    "retry_call",
]
