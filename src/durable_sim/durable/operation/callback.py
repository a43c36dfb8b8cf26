"""Callbacks: ``create_callback``, ``wait_for_callback`` and their completion from outside."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.exceptions import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    StepError,
)
from aws_durable_execution_sdk_python.types import WaitForCallbackContext

from durable_sim.durable.journal import Journal, OperationRecord
from durable_sim.durable.operation.child import run_child
from durable_sim.durable.operation.common import error_fields, raise_operation_error
from durable_sim.durable.state import ExecutionState, dumps

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext


def encode_callback_id(execution_id: str, op_id: str) -> str:
    raw = json.dumps([execution_id, op_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_callback_id(callback_id: str) -> tuple[str, str]:
    try:
        padded = callback_id + "=" * (-len(callback_id) % 4)
        execution_id, op_id = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{callback_id!r} is not a callback id issued by this engine") from exc
    return str(execution_id), str(op_id)


class SimCallback:
    """The future `create_callback` returns: its id goes to the outside world, `result()` waits."""

    def __init__(self, callback_id: str, operation_id: str, state: ExecutionState) -> None:
        self.callback_id = callback_id
        self.operation_id = operation_id
        self._state = state

    def result(self) -> Any:
        rec = self._state.get(self.operation_id)
        assert rec is not None, "a callback's record is written when it is created"
        if rec.status == "SUCCEEDED":
            return json.loads(rec.result) if rec.result is not None else None
        if rec.status == "FAILED":
            raise raise_operation_error(CallbackExternalError, rec.error)
        if rec.status == "TIMED_OUT":
            raise raise_operation_error(CallbackTimeoutError, rec.error)
        self._state.waiting_callbacks.add(self.callback_id)
        raise self._state.suspend_until(rec.due_ms)


def create_callback(ctx: DurableContext, name: str | None, config: CallbackConfig) -> SimCallback:
    sub_type = config.sub_type or "Callback"
    op_id, rec = ctx._begin("CALLBACK", sub_type, name)
    if rec is None:
        timeout = config.timeout_seconds
        rec = OperationRecord(
            op_id,
            ctx.parent_id,
            "CALLBACK",
            sub_type,
            name,
            "STARTED",
            callback_id=encode_callback_id(ctx.state.execution_id, op_id),
            due_ms=ctx.clock.now_ms() + timeout * 1000.0 if timeout > 0 else None,
        )
        rec = ctx.state.checkpoint(rec, ctx.clock)
    assert rec.callback_id is not None
    return SimCallback(rec.callback_id, op_id, ctx.state)


def wait_for_callback(
    ctx: DurableContext,
    submitter: Callable[[str, WaitForCallbackContext], None],
    name: str | None,
    config: WaitForCallbackConfig | None,
) -> Any:
    """A child context that creates a callback, runs the submitter as a step, and waits."""
    config = config or WaitForCallbackConfig()

    def body(child: DurableContext) -> Any:
        callback = child.create_callback(config=config)
        child.step(
            lambda step_ctx: submitter(
                callback.callback_id, WaitForCallbackContext(logger=step_ctx.logger)
            ),
            name="submitter",
            config=StepConfig(retry_strategy=config.retry_strategy),
        )
        return callback.result()

    try:
        return run_child(ctx, body, name, "WaitForCallback")
    except ChildContextError as exc:
        inner = exc.__cause__
        if isinstance(inner, CallbackError):
            raise inner from None
        if isinstance(inner, StepError):
            raise CallbackSubmitterError(
                inner.message or "callback submitter failed", data=inner.data
            ) from inner
        raise


def complete_callback(
    journal: Journal,
    callback_id: str,
    *,
    result: Any = None,
    error: BaseException | None = None,
    timed_out: bool = False,
) -> None:
    """Complete a callback from outside the workflow (success, failure or timeout)."""
    execution_id, op_id = decode_callback_id(callback_id)
    rec = journal.get_operation(execution_id, op_id)
    if rec is None or rec.type != "CALLBACK":
        raise ValueError(f"no callback {callback_id!r} in this journal")
    if rec.terminal:
        raise ValueError(f"callback {callback_id!r} is already {rec.status}")
    if timed_out:
        done = rec.evolve(status="TIMED_OUT", error={"ErrorMessage": "callback timed out"})
    elif error is not None:
        done = rec.evolve(status="FAILED", error=error_fields(error))
    else:
        done = rec.evolve(status="SUCCEEDED", result=dumps(result))
    journal.save_operation(execution_id, done)
