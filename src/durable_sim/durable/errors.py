"""Errors the engine raises itself (workflow failures reuse the SDK's own exception types)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from aws_durable_execution_sdk_python.exceptions import NonDeterministicExecutionError

from durable_sim.errors import DurableSimError, DurableSimInterrupt, StorageUnavailableError

if TYPE_CHECKING:
    from durable_sim.durable.journal.records import HistoryEntry
    from durable_sim.durable.lease import Lease

# AWS Lambda durable functions accept a checkpoint payload of at most 256 KiB, measured in UTF-8
# bytes of the serialized payload (the service's message: "less than or equal to 262144 bytes").
CHECKPOINT_LIMIT_BYTES = 256 * 1024
# An operation update's error object may be up to 32768 characters as JSON text (``json.dumps``
# of its wire fields): the official local runner's ``MAX_ERROR_PAYLOAD_SIZE_BYTES``
# (``checkpoint/validators/checkpoint.py``), which refuses a larger one, as the service does.
ERROR_OBJECT_LIMIT_BYTES = 32768
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


class ErrorObjectTooLargeError(DurableSimError):
    """An operation's error (a FAIL or RETRY checkpoint's ``ErrorObject``) exceeds its limit,
    `ERROR_OBJECT_LIMIT_BYTES` characters of its JSON text: a terminal error, as a payload over
    its limit is (`CheckpointTooLargeError`). The service refuses such a checkpoint with
    ``InvalidParameterValueException`` ("Error object size must be less than 32768 bytes.").
    """

    def __init__(
        self, op_id: str, label: str, size: int, limit: int = ERROR_OBJECT_LIMIT_BYTES
    ) -> None:
        super().__init__(
            f"the error of operation {op_id} ({label}) is {size} characters as JSON; an "
            f"operation's error object must be at most {limit} (the service refuses a larger "
            "one with InvalidParameterValueException). Raise an error with a shorter message "
            "(or keep the detail in a step's result)"
        )
        self.op_id = op_id
        self.size = size
        self.limit = limit


class JournalError(DurableSimError):
    """The journal itself failed, not the workflow: the invocation stops where it is and nothing
    is recorded as the execution's outcome, so the execution can be resumed once the cause is
    repaired. Workflow code cannot catch it away (the engine re-raises it to the caller)."""


class JournalCorruptError(JournalError):
    """A journal file or record cannot be read back because its bytes are wrong (the message
    names the file or operation). A resource error met while reading (`RESOURCE_ERRORS`) is no
    corruption: it is a `JournalUnavailableError`."""


#: Errors of the machine, not of the journal's bytes: memory, the operating system's I/O (EIO,
#: ENOSPC, EMFILE...) and the interpreter's stack.
RESOURCE_ERRORS: tuple[type[BaseException], ...] = (MemoryError, OSError, RecursionError)


def resource_cause(exc: BaseException) -> BaseException | None:
    """The first resource error (`RESOURCE_ERRORS`) in `exc`'s chain (`exc` itself, then its
    ``__cause__`` or ``__context__``, as the SDK's serdes wraps any error), or ``None``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RESOURCE_ERRORS):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class JournalPathError(JournalError, ValueError):
    """A journal path that cannot hold a journal file: a directory, or a file in a missing or
    unwritable directory."""


class JournalUnavailableError(JournalError, StorageUnavailableError):
    """The journal's database cannot be reached (a server restart, a lost connection, a lock
    held too long). A write in flight may or may not have committed; a later invocation reads
    which from the journal."""


class InvocationStoppedError(JournalUnavailableError):
    """An invocation stopped by a journal outage (its message is the outage's), whose end the
    journal could not take yet: `entry` (its InvocationCompleted history entry, the outage as
    its error) is to be appended under `lease` once the journal answers again, and the lease
    then given up (`durable_sim.durable.worker` does both)."""

    def __init__(self, message: str, lease: Lease, entry: HistoryEntry) -> None:
        super().__init__(message)
        self.lease = lease
        self.entry = entry


class LeaseLostError(JournalError):
    """A fenced write was refused: another owner took the execution's lease over (its epoch
    moved on), so this invocation must stop without writing anything more."""


class ExecutionBusyError(DurableSimError, RuntimeError):
    """Another owner holds a live lease on the execution; nothing was run.

    `owner` is the holder, `epoch` its lease epoch and `expires_in_s` the seconds until its
    lease lapses unless renewed (infinite for a lease held until released,
    `durable_sim.durable.lease.HeldLease`).
    """

    def __init__(self, execution_id: str, owner: str, epoch: int, expires_in_s: float) -> None:
        left = (
            f"{max(expires_in_s, 0.0):.1f} s left unless renewed"
            if expires_in_s < math.inf
            else "held until released"
        )
        super().__init__(
            f"execution {execution_id!r} is being run by {owner} (lease epoch {epoch}, "
            f"{left}); no step was run. Wait for it (LeaseConfig(on_busy='wait')) or try "
            "again after the lease ends"
        )
        self.execution_id = execution_id
        self.owner = owner
        self.epoch = epoch
        self.expires_in_s = expires_in_s


class OperationClosedError(JournalError):
    """An append would replace the terminal record of an operation (e.g. a callback answered
    twice): terminal records are never replaced, and nothing of the append was written.

    `op_ids` lists the operations that are already terminal in the journal.
    """

    def __init__(self, execution_id: str, op_ids: list[str]) -> None:
        super().__init__(
            f"execution {execution_id!r}: operation(s) {op_ids} already ended in the journal; "
            "a terminal record is never replaced, and nothing of this append was written"
        )
        self.execution_id = execution_id
        self.op_ids = op_ids


class ExecutionClosedError(JournalError):
    """An outcome was written for an execution that already has one (terminal records are never
    replaced)."""


class ExecutionInputMismatchError(DurableSimError, ValueError):
    """An existing execution id was started again with a different input event."""


class ResponderError(DurableSimError, RuntimeError):
    """The responder given to `run_durable` (the outside world's stand-in, which answers
    callbacks) raised, or returned something other than a list of `CallbackAnswer`, when asked
    about a new callback. It is no error of the workflow's: the invocation stops where it is
    and the run raises it (chained to what the responder raised), recording nothing as the
    execution's outcome, as the official runner's engine passes a failing responder's error
    to the caller (`durable_sim.engines.aws_local`). Workflow code cannot catch it away. The
    callback stays started: a run that resumes the execution asks the responder about it
    again (or answer it with ``send_callback_*``)."""


class UnprintableError(DurableSimError, RuntimeError):
    """Recorded in place of an exception that cannot be printed, when printing it raised an
    exception that cannot be printed either (`durable_sim.durable.operation.common.recordable`).
    """

    def __init__(self, error: BaseException, failure: BaseException) -> None:
        super().__init__(
            f"a {_qualified_name(error)} was raised and its str() raised a "
            f"{_qualified_name(failure)}, whose str() fails too; neither can be recorded"
        )


class PrintingAborted(DurableSimInterrupt):
    """Raised in place of a `BaseException` that is not an ``Exception`` (``KeyboardInterrupt``,
    ``SystemExit``, ...) when the ``str()`` of the workflow's exception raised it while the
    engine formatted it (`durable_sim.durable.operation.common.recordable`).

    The rule: an error raised while the engine formats the user's exception is the user's code
    failing, not an operator's interrupt. In the SDK on Lambda it escapes every ``except
    Exception`` of the SDK's error paths and the runtime dies, so the invocation fails wherever
    it was raised (a step, a child context, a map/parallel branch, a condition check, a
    callback's submitter, the handler): so it does here, an interrupt of the package's
    (`DurableSimInterrupt`, a `BaseException`) that the SDK's error paths do not catch, which
    the runtime takes as the invocation's failure with `recorded` (what ``str()`` raised, or an
    `UnprintableError` if that cannot be printed either); 5 such invocations in a row fail the
    execution. An interrupt raised anywhere else (a real Ctrl-C)
    still stops the run at once; one that lands while the engine formats an exception (a few
    microseconds per error) is taken for the user's failure, and a second Ctrl-C stops it.
    """

    def __init__(self, error: BaseException, failure: BaseException, recorded: BaseException):
        super().__init__(
            f"the str() of a {_qualified_name(error)} raised a {_qualified_name(failure)}"
        )
        self.recorded = recorded


def _qualified_name(error: BaseException) -> str:
    kind = type(error)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
