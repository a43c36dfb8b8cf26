"""``context.wait``: end the invocation; the service completes the wait at its scheduled end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import OperationStatus

from durable_sim.durable.state import Suspend

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext


def run_wait(ctx: DurableContext, ident: OperationIdentifier, seconds: int) -> None:
    """Start (or find) the wait; return once it has succeeded, else suspend until its end."""
    rec, leave = ctx._begin(ident)
    try:
        if rec is None:
            rec = ctx.state.start(ident, ctx.clock, due_in_s=seconds, details={"Duration": seconds})
        if rec.status is OperationStatus.SUCCEEDED:
            return
        raise Suspend(rec.due_ms)
    finally:
        ctx._end(leave)
