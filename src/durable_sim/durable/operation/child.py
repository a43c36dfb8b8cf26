"""``run_in_child_context``: a group of operations checkpointed as one result."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.exceptions import ChildContextError

from durable_sim.clock import Clock
from durable_sim.durable.errors import CHECKPOINT_LIMIT_BYTES
from durable_sim.durable.journal import OperationRecord
from durable_sim.durable.operation.common import error_fields, raise_operation_error
from durable_sim.durable.state import Suspend, dumps

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext

Encoder = Callable[[Any], Any]


def run_child(
    ctx: DurableContext,
    func: Callable[[DurableContext], Any],
    name: str | None,
    sub_type: str,
    *,
    op_id: str | None = None,
    clock: Clock | None = None,
    encode: Encoder = lambda value: value,
    decode: Encoder = lambda data: data,
) -> Any:
    """Run `func` in a child context whose id is `op_id` (the next position by default).

    A completed child returns its journaled result without running its body. A result too
    large for one checkpoint is not stored: the child is marked ``replay_children`` and replay
    runs the body again, its operations coming back from the journal (as AWS does).
    `encode`/`decode` map the value to and from JSON data (e.g. for a BatchResult).
    """
    op_id, rec = ctx._begin("CONTEXT", sub_type, name, op_id=op_id)
    state = ctx.state
    if rec is not None and rec.status == "SUCCEEDED" and not rec.replay_children:
        return decode(json.loads(rec.result)) if rec.result is not None else None
    if rec is not None and rec.status == "FAILED":
        raise raise_operation_error(ChildContextError, rec.error)
    clock = clock or ctx.clock
    base = OperationRecord(op_id, ctx.parent_id, "CONTEXT", sub_type, name, "STARTED")
    if rec is None:
        state.checkpoint(base, clock)
    child = ctx._child(op_id, clock)
    try:
        value = func(child)
    except Suspend:
        raise
    except Exception as exc:
        if state.fatal is not None:
            raise
        record = state.checkpoint(base.evolve(status="FAILED", error=error_fields(exc)), clock)
        error = raise_operation_error(ChildContextError, record.error)
        raise error from error.__cause__  # the journaled cause, as on replay
    payload = dumps(encode(value))
    if rec is None or not rec.replay_children:
        done = base.evolve(status="SUCCEEDED", result=payload)
        if len(done.to_json().encode()) > CHECKPOINT_LIMIT_BYTES:
            done = base.evolve(status="SUCCEEDED", replay_children=True)
        state.checkpoint(done, clock)
    return decode(json.loads(payload))
