"""Errors the engine raises itself (workflow failures reuse the SDK's own exception types)."""

from __future__ import annotations

from aws_durable_execution_sdk_python.exceptions import NonDeterministicExecutionError

from durable_sim.errors import DurableSimError

CHECKPOINT_LIMIT_BYTES = 256 * 1024  # AWS Lambda durable functions: 256 KB per checkpoint


class NonDeterminismError(NonDeterministicExecutionError, DurableSimError):
    """Replay met an operation that differs from the one journaled at the same position."""

    def __init__(self, op_id: str, journaled: str, new: str) -> None:
        parent, _, position = op_id.rpartition(".")
        where = f"position {position} of child context {parent}" if parent else f"position {op_id}"
        message = (
            f"non-deterministic replay at operation {op_id} ({where}): "
            f"the journal has {journaled}, "
            f"the code now calls {new}. Workflow code must issue the same operations in the same "
            "order on every replay; move non-deterministic logic into steps."
        )
        super().__init__(message, step_id=op_id)
        self.op_id = op_id
        self.journaled = journaled
        self.new = new


class CheckpointTooLargeError(DurableSimError):
    """A checkpoint payload exceeds the 256 KB limit: a terminal error, as on AWS."""

    def __init__(self, op_id: str, name: str | None, size: int) -> None:
        label = f"{op_id} ({name})" if name else op_id
        super().__init__(
            f"checkpoint of operation {label} is {size} bytes, over the limit of "
            f"{CHECKPOINT_LIMIT_BYTES} bytes (256 KB); return a reference (e.g. a blob key) "
            "instead of the data"
        )
        self.op_id = op_id
        self.size = size


class JournalCorruptError(DurableSimError):
    """A journal file or record cannot be read back."""


class ExecutionInputMismatchError(DurableSimError, ValueError):
    """An existing execution id was started again with a different input event."""
