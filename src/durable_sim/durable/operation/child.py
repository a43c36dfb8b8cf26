"""``run_in_child_context``: a group of operations checkpointed as one result.

As in the SDK's ``child_handler``: the START is asynchronous; the result goes through the
config's serdes; a completed child returns its journaled result without running its body; a
result over the checkpoint limit (UTF-8 bytes of the serialized payload, the measure AWS
enforces; the SDK itself compares the payload's length in characters) is not stored: the child
is marked ``ReplayChildren`` with a summary as payload, and replay runs its body again with its
operations coming from the journal. A virtual child (``ChildConfig(is_virtual=True)``, FLAT
batch branches) checkpoints neither its start nor its end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.config import ChildConfig
from aws_durable_execution_sdk_python.exceptions import ChildContextError
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import OperationStatus
from aws_durable_execution_sdk_python.serdes import SerDes

from durable_sim.clock import Clock
from durable_sim.durable.codec import payload_bytes, round_trip
from durable_sim.durable.errors import CHECKPOINT_LIMIT_BYTES
from durable_sim.durable.operation.common import (
    checked,
    error_fields,
    journaled,
    raise_operation_error,
    retries_invocation,
)

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext

Summary = Callable[[Any], str]


def run_in_child(
    ctx: DurableContext,
    ident: OperationIdentifier,
    func: Callable[[DurableContext], Any],
    config: ChildConfig,
) -> Any:
    """``context.run_in_child_context`` with the config's serdes, summary and virtuality."""
    return run_child(
        ctx,
        ident,
        func,
        serdes=config.serdes,
        summary=config.summary_generator,
        is_virtual=config.is_virtual,
    )


def run_child(
    ctx: DurableContext,
    ident: OperationIdentifier,
    func: Callable[[DurableContext], Any],
    *,
    serdes: SerDes[Any] | None = None,
    summary: Summary | None = None,
    is_virtual: bool = False,
    clock: Clock | None = None,
    branch: bool = False,
) -> Any:
    """Run `func` in the child context of operation `ident` on `clock` (the context's own
    by default); raise `ChildContextError` (chained to the escaping error) if it fails.

    A map/parallel `branch` does not move the batch context's replay boundary, and starts new
    work out of replay when the journal has no record of it (the SDK's branch handling).
    """
    rec, leave = ctx._begin(ident, is_virtual=is_virtual, branch=branch)
    try:
        state = ctx.state
        arn = state.durable_execution_arn
        if rec is not None:
            if rec.status is OperationStatus.SUCCEEDED and not rec.replay_children:
                return journaled(state, rec.result, serdes, ident)
            if rec.status is OperationStatus.FAILED:
                raise_operation_error(ChildContextError, rec.error)
        clock = clock or ctx.clock
        if rec is None and not is_virtual:
            state.start(ident, clock, sync=False)
        child = ctx._child(
            ident.operation_id, clock, is_virtual=is_virtual, new=branch and rec is None
        )
        try:
            value = func(child)
            payload, result = round_trip(value, serdes, ident, arn, "result")
        except Exception as exc:
            if state.fatal is not None or retries_invocation(exc):
                raise
            fields = error_fields(exc)
            if not is_virtual:
                state.fail(ident, clock, fields)
            raise_operation_error(ChildContextError, fields)
        if is_virtual or (rec is not None and rec.replay_children):  # nothing to checkpoint
            return result
        replay_children = payload_bytes(payload) > CHECKPOINT_LIMIT_BYTES
        if replay_children:
            payload = summary(value) if summary is not None else ""
        state.succeed(ident, clock, checked(state, payload, ident), replay_children=replay_children)
        return result
    finally:
        ctx._end(leave)
