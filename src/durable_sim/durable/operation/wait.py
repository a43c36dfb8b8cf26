"""``context.wait``: end the invocation; the runtime resumes the execution after the duration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.exceptions import ValidationError

from durable_sim.durable.journal import OperationRecord

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext


def run_wait(ctx: DurableContext, duration: Duration, name: str | None) -> None:
    seconds = duration.to_seconds()
    if seconds < 1:
        raise ValidationError(f"wait duration must be at least 1 second, got {seconds} s")
    op_id, rec = ctx._begin("WAIT", "Wait", name)
    if rec is not None:
        if rec.status == "SUCCEEDED":
            return
        raise ctx.state.suspend_until(rec.due_ms)
    due = ctx.clock.now_ms() + seconds * 1000.0
    record = OperationRecord(op_id, ctx.parent_id, "WAIT", "Wait", name, "STARTED", due_ms=due)
    ctx.state.checkpoint(record, ctx.clock)
    raise ctx.state.suspend_until(due)
