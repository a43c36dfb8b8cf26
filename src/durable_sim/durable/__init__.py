"""Our checkpoint-and-replay engine (the ``sim`` engine)."""

from durable_sim.durable.context import DurableContext
from durable_sim.durable.errors import (
    CHECKPOINT_LIMIT_BYTES,
    CheckpointTooLargeError,
    ExecutionBusyError,
    ExecutionClosedError,
    ExecutionInputMismatchError,
    JournalCorruptError,
    JournalError,
    JournalPathError,
    JournalUnavailableError,
    LeaseLostError,
    NonDeterminismError,
    OperationClosedError,
    ResponderError,
)
from durable_sim.durable.history import export_history, export_history_from_journal
from durable_sim.durable.journal import (
    HistoryEntry,
    Journal,
    MemoryJournal,
    OperationRecord,
    PostgresJournal,
    SqliteJournal,
    open_journal,
)
from durable_sim.durable.lease import Lease, LeaseConfig
from durable_sim.durable.operation.callback import (
    send_callback_failure,
    send_callback_heartbeat,
    send_callback_success,
)
from durable_sim.durable.registry import FunctionRegistry, unwrap_handler
from durable_sim.durable.result import DurableRun, OperationView, RunMetrics
from durable_sim.durable.runtime import TooManyInvocationsError, execute
from durable_sim.durable.state import CallbackAnswer, Responder

__all__ = [
    "CHECKPOINT_LIMIT_BYTES",
    "CallbackAnswer",
    "CheckpointTooLargeError",
    "DurableContext",
    "DurableRun",
    "ExecutionBusyError",
    "ExecutionClosedError",
    "ExecutionInputMismatchError",
    "FunctionRegistry",
    "HistoryEntry",
    "Journal",
    "JournalCorruptError",
    "JournalError",
    "JournalPathError",
    "JournalUnavailableError",
    "Lease",
    "LeaseConfig",
    "LeaseLostError",
    "MemoryJournal",
    "NonDeterminismError",
    "OperationClosedError",
    "OperationRecord",
    "OperationView",
    "PostgresJournal",
    "Responder",
    "ResponderError",
    "RunMetrics",
    "SqliteJournal",
    "TooManyInvocationsError",
    "execute",
    "export_history",
    "export_history_from_journal",
    "open_journal",
    "send_callback_failure",
    "send_callback_heartbeat",
    "send_callback_success",
    "unwrap_handler",
]
