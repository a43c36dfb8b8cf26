"""Helpers shared by the operation kinds: error fields, their reconstruction, payload limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from aws_durable_execution_sdk_python.exceptions import (
    DurableOperationError,
    InvocationError,
    RetryableSerDesError,
)
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python.serdes import SerDes

from durable_sim.durable.codec import check_size, decode, describe
from durable_sim.durable.errors import (
    CHECKPOINT_LIMIT_BYTES,
    CheckpointTooLargeError,
    JournalCorruptError,
    JournalError,
    JournalUnavailableError,
    resource_cause,
)

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier

    from durable_sim.durable.state import ExecutionState


def error_fields(exc: BaseException) -> dict[str, Any]:
    """The SDK's wire form of an exception (ErrorType, ErrorMessage, ...)."""
    return dict(ErrorObject.from_exception(exc).to_dict())


def retries_invocation(exc: BaseException) -> bool:
    """Whether `exc` fails the whole invocation, for the service to run it again, instead of
    failing the operation it escaped: the SDK's retryable `InvocationError` (its
    `RetryableSerDesError`, say). A child context re-raises it without a FAIL checkpoint, and a
    map or parallel records the branch as failed, then re-raises it once the batch has
    completed (the SDK's ``operation/child.py`` and ``concurrency/executor.py``)."""
    return isinstance(exc, InvocationError) and exc.is_retryable()


def raise_operation_error(
    kind: type[DurableOperationError], fields: dict[str, Any] | None
) -> NoReturn:
    """Raise `kind` (e.g. StepError) from journaled error fields, chained to the original type,
    through the SDK's own reconstruction: the first run and replay raise the identical error (a
    serdes failure surfaces as the SDK's SerDesError)."""
    ErrorObject.from_dict(fields or {}).raise_as_operation_error(kind)


def journaled(
    state: ExecutionState,
    payload: str | None,
    serdes: SerDes[Any] | None,
    ident: OperationIdentifier,
) -> Any:
    """Decode a payload the engine encoded and decoded back before journaling it (a step's or
    child context's result, a condition's state). If it no longer decodes, the journal's record
    changed under it (or the serdes did): `JournalCorruptError` naming the operation stops the
    invocation and leaves the execution as it was, to be resumed once the record is repaired.
    A resource error while decoding (out of memory, an I/O error: `resource_cause`) says nothing
    of the record: `JournalUnavailableError`, which stops the invocation the same way."""
    try:
        return decode(payload, serdes, ident, state.durable_execution_arn)
    except RetryableSerDesError:
        raise
    except Exception as exc:
        cause = resource_cause(exc)
        error: JournalError
        if cause is not None:
            error = JournalUnavailableError(
                f"execution {state.execution_id!r}: the journaled result of {describe(ident)} "
                f"cannot be decoded now ({type(cause).__name__}: {cause}), a resource error, "
                "not a corrupt record; the execution is left as it was: resume it"
            )
        else:
            error = JournalCorruptError(
                f"execution {state.execution_id!r}: the journaled result of {describe(ident)} "
                f"cannot be decoded ({exc}); the execution is left as it was: repair the record "
                "(or restore the serdes that wrote it) and resume"
            )
        raise state.fail_execution(error) from exc


def checked(
    state: ExecutionState,
    payload: str | None,
    ident: OperationIdentifier,
    limit: int = CHECKPOINT_LIMIT_BYTES,
) -> str | None:
    """`payload`, if it fits AWS's limit; otherwise a terminal `CheckpointTooLargeError`."""
    try:
        check_size(payload, ident, limit)
    except CheckpointTooLargeError as exc:
        raise state.fail_execution(exc) from None
    return payload
