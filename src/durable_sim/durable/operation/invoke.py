"""``context.invoke``: a chained invoke of another durable function.

As on AWS: the caller checkpoints the invoke's START (with the payload, through
``InvokeConfig.serdes_payload``, JSON by default) and suspends; the invoked function runs as its
own execution; the caller is re-invoked once it has ended and gets its result (through
``serdes_result``, JSON by default) or an ``InvokeError``. Our runtime runs the invoked execution
from the run's function registry (`durable_sim.durable.registry`); a name it does not hold fails
the operation with ``ResourceNotFoundException``, as the Lambda API does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.config import InvokeConfig
from aws_durable_execution_sdk_python.exceptions import InvokeError
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import OperationStatus
from aws_durable_execution_sdk_python.serdes import DEFAULT_JSON_SERDES

from durable_sim.durable.codec import decode, encode
from durable_sim.durable.errors import CHAINED_INVOKE_LIMIT_BYTES
from durable_sim.durable.operation.common import checked, raise_operation_error
from durable_sim.durable.state import Suspend

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext

_INVOKE = "/invoke-"
_OP_ID = re.compile(r"[0-9]+(?:\.[0-9]+)*")  # the SDK's operation ids: "1", "2.1", ...


def child_execution_id(execution_id: str, op_id: str) -> str:
    """The id of the execution a chained invoke starts (one per caller and operation)."""
    return f"{execution_id}{_INVOKE}{op_id}"


def invoked_by(execution_id: str) -> tuple[str, str] | None:
    """The caller's execution id and the operation id of the chained invoke whose
    `child_execution_id` `execution_id` has that form, else None (the caller's journal says
    whether it is one: its record of that operation names this child)."""
    caller, sep, op_id = execution_id.rpartition(_INVOKE)
    if not sep or not caller or not _OP_ID.fullmatch(op_id):
        return None
    return caller, op_id


def run_invoke(
    ctx: DurableContext,
    ident: OperationIdentifier,
    function_name: str,
    payload: Any,
    config: InvokeConfig[Any, Any],
) -> Any:
    rec, leave = ctx._begin(ident)
    try:
        state = ctx.state
        arn = state.durable_execution_arn
        if rec is not None:
            if rec.status is OperationStatus.SUCCEEDED:
                return decode(rec.result, config.serdes_result or DEFAULT_JSON_SERDES, ident, arn)
            if rec.terminal:
                raise_operation_error(InvokeError, rec.error)
            raise Suspend(None)  # the invoked execution has not ended yet
        serdes = config.serdes_payload or DEFAULT_JSON_SERDES
        input_payload = checked(
            state, encode(payload, serdes, ident, arn, "payload"), ident, CHAINED_INVOKE_LIMIT_BYTES
        )
        details: dict[str, Any] = {"FunctionName": function_name, "Input": input_payload}
        if config.tenant_id is not None:
            details["TenantId"] = config.tenant_id
        state.start(
            ident,
            ctx.clock,
            function_name=function_name,
            child_execution_id=child_execution_id(state.execution_id, ident.operation_id),
            input_payload=input_payload,
            details=details,
        )
        raise Suspend(None)
    finally:
        ctx._end(leave)
