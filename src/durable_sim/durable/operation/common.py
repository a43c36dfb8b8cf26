"""Helpers shared by the operation kinds: error fields and their reconstruction."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python.exceptions import DurableOperationError
from aws_durable_execution_sdk_python.lambda_service import ErrorObject


def error_fields(exc: BaseException) -> dict[str, Any]:
    """The SDK's wire form of an exception (ErrorType, ErrorMessage, ...)."""
    return dict(ErrorObject.from_exception(exc).to_dict())


def error_object(fields: dict[str, Any] | None) -> ErrorObject:
    return ErrorObject.from_dict(fields or {})


def raise_operation_error(
    kind: type[DurableOperationError], fields: dict[str, Any] | None
) -> DurableOperationError:
    """Build `kind` (e.g. StepError) from journaled error fields, chained to the original type.

    The same path serves the first run and replay, so both raise the identical error.
    """
    obj = error_object(fields)
    cause = DurableOperationError.from_error_fields(
        obj.type, obj.message, obj.data, obj.stack_trace
    )
    error = kind(obj.message, obj.type, obj.data, obj.stack_trace)
    error.__cause__ = cause
    return error
