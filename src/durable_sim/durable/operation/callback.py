"""Callbacks: ``create_callback``, ``wait_for_callback``, and the external system's side.

As in the SDK: a callback's result is returned as the raw payload string unless the config has a
``serdes``; a failed callback raises ``CallbackExternalError`` and one that timed out (its
``timeout`` or its ``heartbeat_timeout`` passed) ``CallbackTimeoutError``, both from
``result()``; ``wait_for_callback`` is a child context holding the callback
(``"<name> create callback id"``) and the submitter step (``"<name> submitter"``).

The external system answers through `send_callback_success`, `send_callback_failure` and
`send_callback_heartbeat` (AWS's ``SendDurableExecutionCallback*`` APIs) on the journal, or
through a responder given to `run_durable` that answers each callback at a virtual time.
"""

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
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType
from aws_durable_execution_sdk_python.serdes import PassThroughSerDes, SerDes
from aws_durable_execution_sdk_python.types import StepContext, WaitForCallbackContext

from durable_sim.durable.codec import decode
from durable_sim.durable.errors import ExecutionClosedError, OperationClosedError
from durable_sim.durable.journal import Journal
from durable_sim.durable.operation.child import run_child
from durable_sim.durable.operation.common import error_fields
from durable_sim.durable.state import CallbackAnswer, ExecutionState, Suspend, answer_callback

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext

_PASS_THROUGH: SerDes[Any] = PassThroughSerDes()


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
    """The future `create_callback` returns (the SDK's ``Callback``): its `callback_id` goes to
    the outside world, `result()` returns the answer or suspends until there is one."""

    def __init__(
        self,
        ident: OperationIdentifier,
        callback_id: str,
        state: ExecutionState,
        serdes: SerDes[Any] | None,
    ) -> None:
        self.callback_id = callback_id
        self.operation_id = ident.operation_id
        self._ident = ident
        self._state = state
        self._serdes = serdes

    def result(self) -> Any:
        rec = self._state.get(self.operation_id)
        if rec is None:
            raise CallbackError(message="Callback operation must exist")
        if rec.status is OperationStatus.SUCCEEDED:
            return decode(
                rec.result,
                self._serdes if self._serdes is not None else _PASS_THROUGH,
                self._ident,
                self._state.durable_execution_arn,
            )
        if rec.terminal:
            timed_out = rec.status is OperationStatus.TIMED_OUT
            kind = CallbackTimeoutError if timed_out else CallbackExternalError
            error = rec.error or {}
            raise kind(
                message=error.get("ErrorMessage")
                or ("Callback timed out" if timed_out else "Callback failed"),
                data=error.get("ErrorData"),
                stack_trace=error.get("StackTrace"),
            )
        with self._state.lock:
            self._state.waiting_callbacks.add(self.callback_id)
        raise Suspend(None)


def create_callback(
    ctx: DurableContext, ident: OperationIdentifier, config: CallbackConfig
) -> SimCallback:
    rec, leave = ctx._begin(ident)
    try:
        state = ctx.state
        if rec is None:
            timeout_s = config.timeout_seconds
            heartbeat_s = config.heartbeat_timeout_seconds
            rec = state.start(
                ident,
                ctx.clock,
                callback_id=encode_callback_id(state.execution_id, ident.operation_id),
                heartbeat_timeout_s=heartbeat_s,
                due_in_s=timeout_s or None,
                heartbeat_in_s=heartbeat_s or None,
                details={"Timeout": timeout_s, "HeartbeatTimeout": heartbeat_s},
            )
            state.schedule_answers(rec)
        assert rec.callback_id is not None, "a callback's record carries its id"
        return SimCallback(ident, rec.callback_id, state, config.serdes)
    finally:
        ctx._end(leave)


def wait_for_callback(
    ctx: DurableContext,
    ident: OperationIdentifier,
    submitter: Callable[[str, WaitForCallbackContext], None],
    name: str | None,
    config: WaitForCallbackConfig | None,
) -> Any:
    """A child context that creates a callback, runs the submitter as a step, and waits."""
    prefix = f"{name} " if name else ""
    step_config = (
        StepConfig(retry_strategy=config.retry_strategy, serdes=config.serdes) if config else None
    )

    def body(child: DurableContext) -> Any:
        cb = child.create_callback(name=f"{prefix}create callback id", config=config)

        def submit(step_ctx: StepContext) -> None:
            submitter(cb.callback_id, WaitForCallbackContext(logger=step_ctx.logger))

        child.step(submit, name=f"{prefix}submitter", config=step_config)
        return cb.result()

    try:
        return run_child(ctx, ident, body)
    except ChildContextError as exc:
        inner = exc.__cause__
        if isinstance(inner, CallbackError):
            raise inner from None
        if isinstance(inner, StepError):
            raise CallbackSubmitterError(
                inner.message or "Callback submitter failed",
                data=inner.data,
                stack_trace=inner.stack_trace,
            ) from inner
        raise


def _started_callback(journal: Journal, callback_id: str) -> tuple[str, Any]:
    execution_id, op_id = decode_callback_id(callback_id)
    rec = journal.get_operation(execution_id, op_id)
    if rec is None or rec.type is not OperationType.CALLBACK:
        raise ValueError(f"no callback {callback_id!r} in this journal")
    if rec.terminal:
        raise ValueError(f"callback {callback_id!r} is already {rec.status.value}")
    return execution_id, rec


def _answer(journal: Journal, callback_id: str, answer: CallbackAnswer) -> None:
    """Append the outside world's `answer` (not fenced: no lease; it wakes the execution). A
    callback that ended meanwhile, or whose execution ended, is refused with ValueError."""
    execution_id, rec = _started_callback(journal, callback_id)
    history = journal.read_history(execution_id)
    at = max(entry.at_ms for entry in history)  # the time the execution stopped at
    try:
        journal.append(execution_id, [answer_callback(rec, at, answer)])
    except (OperationClosedError, ExecutionClosedError) as exc:
        raise ValueError(f"callback {callback_id!r} is closed already: {exc}") from None


def send_callback_success(
    journal: Journal, callback_id: str, result: str | bytes | None = None
) -> None:
    """AWS's ``SendDurableExecutionCallbackSuccess``: the callback succeeds with `result`
    (the raw payload; ``bytes`` are decoded as UTF-8). Raises ValueError for an unknown or
    already completed callback."""
    payload = result.decode("utf-8") if isinstance(result, bytes) else result
    _answer(journal, callback_id, CallbackAnswer("success", result=payload))


def send_callback_failure(
    journal: Journal, callback_id: str, error: BaseException | dict[str, Any]
) -> None:
    """AWS's ``SendDurableExecutionCallbackFailure``: `error` is an exception or the SDK's
    ``ErrorObject`` fields (``ErrorType``, ``ErrorMessage``, ...)."""
    fields = error if isinstance(error, dict) else error_fields(error)
    _answer(journal, callback_id, CallbackAnswer("failure", error=fields))


def send_callback_heartbeat(journal: Journal, callback_id: str) -> None:
    """AWS's ``SendDurableExecutionCallbackHeartbeat``: restart the heartbeat timeout."""
    _answer(journal, callback_id, CallbackAnswer("heartbeat"))
