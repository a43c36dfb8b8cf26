"""Our checkpoint-and-replay engine (the ``sim`` engine)."""

from durable_sim.durable.context import DurableContext
from durable_sim.durable.errors import (
    CHECKPOINT_LIMIT_BYTES,
    CheckpointTooLargeError,
    ExecutionInputMismatchError,
    JournalCorruptError,
    NonDeterminismError,
)
from durable_sim.durable.journal import Journal, MemoryJournal, OperationRecord, SqliteJournal
from durable_sim.durable.operation.callback import complete_callback
from durable_sim.durable.result import DurableRun, OperationView, RunMetrics
from durable_sim.durable.runtime import TooManyInvocationsError, execute

__all__ = [
    "CHECKPOINT_LIMIT_BYTES",
    "CheckpointTooLargeError",
    "DurableContext",
    "DurableRun",
    "ExecutionInputMismatchError",
    "Journal",
    "JournalCorruptError",
    "MemoryJournal",
    "NonDeterminismError",
    "OperationRecord",
    "OperationView",
    "RunMetrics",
    "SqliteJournal",
    "TooManyInvocationsError",
    "complete_callback",
    "execute",
]
