"""Answering a run's callbacks from outside: what a responder is shown and how its answer is sent.

A *responder* stands in for the external system a callback's id is handed to. An engine calls it
once for every callback the execution creates, in the order the callbacks were created, as soon as
the invocation that created it has ended (AWS accepts an answer only then). The responder

- returns a value: the callback succeeds with ``json.dumps(value)`` as its payload (what
  ``SendDurableExecutionCallbackSuccess`` callers such as AWS's own conformance runner send);
  ``None`` sends no payload at all;
- raises an exception: the callback fails with ``ErrorType`` = the exception's ``error_type``
  attribute if it has one, else its class name, ``ErrorMessage`` = its message and ``ErrorData``
  = its ``data`` attribute (as ``SendDurableExecutionCallbackFailure`` carries them);
- returns `NO_REPLY`: the callback stays open; it then times out if it has a timeout, otherwise
  the run ends PENDING with the callback's id in ``DurableRun.pending_callbacks``.

Before answering, a responder may call `CallbackRequest.heartbeat` (``SendDurableExecution
CallbackHeartbeat``), which restarts the callback's heartbeat timeout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aws_durable_execution_sdk_python.lambda_service import ErrorObject


class _NoReply:
    """The type of `NO_REPLY`."""

    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY: Final = _NoReply()
"""Returned by a responder to leave a callback unanswered."""


@dataclass(frozen=True)
class CallbackRequest:
    """One callback as the external system sees it (the fields of its ``CallbackStarted`` event).

    ``timeout_s`` and ``heartbeat_timeout_s`` are in seconds, 0 when the callback has none.
    """

    callback_id: str
    operation_id: str
    name: str | None
    parent_id: str | None
    timeout_s: int = 0
    heartbeat_timeout_s: int = 0
    send_heartbeat: Callable[[], None] = field(repr=False, compare=False, default=lambda: None)

    def heartbeat(self) -> None:
        """Send a heartbeat for this callback (restarts its heartbeat timeout)."""
        self.send_heartbeat()


Responder = Callable[[CallbackRequest], Any]
"""Given each callback, return its result, raise its failure, or return `NO_REPLY`."""


@dataclass(frozen=True)
class Success:
    """A callback answered with a payload (``None``: no payload)."""

    payload: str | None


@dataclass(frozen=True)
class Failure:
    """A callback answered with an error."""

    error: ErrorObject


Reply = Success | Failure | None
"""What a responder's answer means on the wire; ``None`` for `NO_REPLY`."""


def ask(responder: Responder, request: CallbackRequest) -> Reply:
    """Call `responder` for `request` and translate its answer into what is sent.

    Raises `TypeError` naming the callback and the value's type if the returned value is not
    JSON-serializable (the callback is then left as it was).
    """
    try:
        value = responder(request)
    except Exception as exc:
        error_type = getattr(exc, "error_type", None) or type(exc).__name__
        message = getattr(exc, "message", None) or str(exc)
        data = getattr(exc, "data", None)
        return Failure(
            ErrorObject(
                message=message,
                type=str(error_type),
                data=data if isinstance(data, str) else None,
                stack_trace=None,
            )
        )
    if value is NO_REPLY:
        return None
    if value is None:
        return Success(None)
    try:
        return Success(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"responder answered callback {request.callback_id!r} ({request.name!r}) with a "
            f"{type(value).__name__}, which is not JSON-serializable: {exc}"
        ) from exc
