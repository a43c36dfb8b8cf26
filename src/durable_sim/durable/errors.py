"""Errors the engine raises itself (workflow failures reuse the SDK's own exception types)."""

from __future__ import annotations

from aws_durable_execution_sdk_python.exceptions import NonDeterministicExecutionError

from durable_sim.errors import DurableSimError

# AWS Lambda durable functions accept a checkpoint payload of at most 256 KiB, measured in UTF-8
# bytes of the serialized payload (the service's message: "less than or equal to 262144 bytes").
CHECKPOINT_LIMIT_BYTES = 256 * 1024
# A chained invoke's input and its result may each be up to 1 MiB (the official runner's
# validator, which mirrors the service: "must be less than or equal to 1048576 bytes").
CHAINED_INVOKE_LIMIT_BYTES = 1024 * 1024


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
    """A checkpoint payload exceeds its limit: a terminal error, as on AWS.

    `size` and `limit` are UTF-8 bytes of the serialized payload; a payload of exactly `limit`
    bytes passes.
    """

    def __init__(
        self, op_id: str, label: str, size: int, limit: int = CHECKPOINT_LIMIT_BYTES
    ) -> None:
        super().__init__(
            f"checkpoint payload of operation {op_id} ({label}) is {size} bytes; a payload must "
            f"be less than or equal to {limit} bytes (UTF-8 of the serialized value). "
            "Return a reference (e.g. a blob key) instead of the data"
        )
        self.op_id = op_id
        self.size = size
        self.limit = limit


class JournalCorruptError(DurableSimError):
    """A journal file or record cannot be read back."""


class ExecutionInputMismatchError(DurableSimError, ValueError):
    """An existing execution id was started again with a different input event."""


class UnknownFunctionError(DurableSimError, LookupError):
    """``context.invoke`` named a function that is not in the run's function registry."""
