"""Helpers shared by the operation kinds: error fields, their reconstruction, payload limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from aws_durable_execution_sdk_python.exceptions import DurableOperationError
from aws_durable_execution_sdk_python.lambda_service import ErrorObject

from durable_sim.durable.codec import check_size
from durable_sim.durable.errors import CHECKPOINT_LIMIT_BYTES, CheckpointTooLargeError

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier

    from durable_sim.durable.state import ExecutionState


def error_fields(exc: BaseException) -> dict[str, Any]:
    """The SDK's wire form of an exception (ErrorType, ErrorMessage, ...)."""
    return dict(ErrorObject.from_exception(exc).to_dict())


def raise_operation_error(
    kind: type[DurableOperationError], fields: dict[str, Any] | None
) -> NoReturn:
    """Raise `kind` (e.g. StepError) from journaled error fields, chained to the original type,
    through the SDK's own reconstruction: the first run and replay raise the identical error (a
    serdes failure surfaces as the SDK's SerDesError)."""
    ErrorObject.from_dict(fields or {}).raise_as_operation_error(kind)


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
