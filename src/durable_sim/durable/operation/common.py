"""Helpers shared by the operation kinds: error fields, their reconstruction, payload limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn, overload

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
    PrintingAborted,
    UnprintableError,
    resource_cause,
)

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier

    from durable_sim.durable.state import ExecutionState


@overload
def recordable(exc: Exception) -> Exception: ...


@overload
def recordable(exc: BaseException) -> BaseException: ...


def recordable(exc: BaseException) -> BaseException:
    """The exception recorded for `exc`: `exc` itself, unless the SDK cannot build its
    ``ErrorObject`` (``ErrorObject.from_exception`` calls ``str(exc)``, which raises when the
    exception's ``__str__`` does, or when an argument's ``__str__`` or ``__repr__`` does). Then
    the exception that ``str()`` raised takes its place from there on, as it does in the SDK,
    whose ``from_exception`` call sits in each error path: a step retries and fails with it, a
    child context or a map/parallel branch fails with it, and escaping the handler it fails the
    invocation (`durable_sim.durable.runtime`). When that one cannot be printed either, an
    `UnprintableError` naming both types (there the official runner's own ``from_exception``
    call raises, and the execution never ends). When ``str()`` raises a `BaseException` that is
    no ``Exception`` (``KeyboardInterrupt``, ``SystemExit``), `PrintingAborted` is raised: the
    user's code failed, and the invocation fails (see there)."""
    try:
        ErrorObject.from_exception(exc)
    except Exception as failure:
        try:
            ErrorObject.from_exception(failure)
        except BaseException:
            return UnprintableError(exc, failure)
        return failure
    except PrintingAborted:
        raise
    except BaseException as failure:
        try:
            ErrorObject.from_exception(failure)
        except BaseException:
            raise PrintingAborted(exc, failure, UnprintableError(exc, failure)) from None
        raise PrintingAborted(exc, failure, failure) from None
    return exc


def error_fields(exc: BaseException) -> dict[str, Any]:
    """The SDK's wire form (ErrorType, ErrorMessage, ...) of `exc`, or of the exception
    recorded in its place (`recordable`). Its strings are made encodable as UTF-8: a lone
    surrogate (``"\\ud800"``, which ``str.encode`` refuses and so no journal can store) is
    written as its escape sequence, in the same way on the first run and in the journal."""
    fields = ErrorObject.from_exception(recordable(exc)).to_dict()
    return {key: _encodable(value) for key, value in fields.items()}


#: The fields of the SDK's ``ErrorObject`` on the wire, and whether each is a list of strings
#: (``StackTrace``) rather than a string (``lambda_service.ErrorObject``: message, type, data,
#: stack_trace).
ERROR_FIELDS = {"ErrorMessage": False, "ErrorType": False, "ErrorData": False, "StackTrace": True}


def check_error_fields(fields: object, what: str) -> dict[str, Any]:
    """`fields` if they are an ``ErrorObject``'s wire fields (`ERROR_FIELDS`): a dict of those
    keys only, each a string (``StackTrace`` a list of strings) encodable as UTF-8, as every
    journal stores it. Raises ValueError naming `what` and the first bad key or value."""
    accepted = "a dict of ErrorMessage, ErrorType, ErrorData (strings) and StackTrace (strings)"
    if not isinstance(fields, dict):
        raise ValueError(f"{what}: a {type(fields).__name__} is not {accepted}")
    for key, value in fields.items():
        if key not in ERROR_FIELDS:
            shown = repr(key)[:80] if isinstance(key, str) else f"a {type(key).__name__}"
            raise ValueError(f"{what}: unknown error field {shown} (accepted: {accepted})")
        strings = value if ERROR_FIELDS[key] and isinstance(value, list) else [value]
        for text in strings:
            if not isinstance(text, str):
                problem = f"holds a {type(text).__name__}"
            elif _encodable(text) != text:
                problem = "holds a lone surrogate, which UTF-8 cannot encode"
            else:
                continue
            raise ValueError(f"{what}: error field {key} {problem} (accepted: {accepted})")
    return fields


def _encodable(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    return value


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
