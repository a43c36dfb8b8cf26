"""``context.step``: run a function once, checkpoint its result, retry by the SDK's strategy."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.config import StepConfig, StepSemantics
from aws_durable_execution_sdk_python.exceptions import StepError, StepInterruptedError
from aws_durable_execution_sdk_python.retries import RetryDecision, RetryPresets
from aws_durable_execution_sdk_python.types import StepContext

from durable_sim.clock import active_clock
from durable_sim.durable.journal import OperationRecord
from durable_sim.durable.operation.common import error_fields, raise_operation_error
from durable_sim.durable.state import dumps
from durable_sim.faults import InjectedFault

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext


_JSON_SCALARS = frozenset({int, str, bool, type(None)})  # values a JSON round trip keeps as is


def run_step(
    ctx: DurableContext, func: Callable[[StepContext], Any], name: str | None, config: StepConfig
) -> Any:
    sub_type = config.sub_type or "Step"
    op_id, rec = ctx._begin("STEP", sub_type, name)
    state = ctx.state
    at_most_once = config.step_semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY
    if rec is not None:
        if rec.status == "SUCCEEDED":
            state.count("steps_replayed")
            return json.loads(rec.result) if rec.result is not None else None
        if rec.status == "FAILED":
            raise raise_operation_error(StepError, rec.error)
        if rec.status == "PENDING":  # retry timer not yet fired
            raise state.suspend_until(rec.due_ms)
        if rec.status == "STARTED" and at_most_once:
            interrupted = StepInterruptedError(
                f"step {op_id} ({name}) attempt {rec.attempt} was interrupted; "
                "at-most-once semantics forbid running it again silently",
                step_id=op_id,
            )
            return _after_failure(ctx, op_id, name, sub_type, config, interrupted, rec.attempt)
    attempt = rec.attempt + 1 if rec is not None and rec.status == "READY" else 1
    if rec is not None and rec.status == "STARTED":
        attempt = rec.attempt  # at-least-once: the interrupted attempt runs again
    base = OperationRecord(op_id, ctx.parent_id, "STEP", sub_type, name, "STARTED", attempt)
    if at_most_once:
        state.checkpoint(base, ctx.clock)
    state.count("steps_executed")
    ctx.clock.charge(state.sampler.draw("step", op_id, attempt))
    try:
        if state.faults.step_attempt_fails(op_id, name, attempt):
            raise InjectedFault(f"injected fault in step {op_id} ({name}) attempt {attempt}")
        with active_clock(ctx.clock):
            value = func(StepContext(logger=ctx.logger, attempt=attempt))
    except Exception as exc:
        return _after_failure(ctx, op_id, name, sub_type, config, exc, attempt)
    payload = dumps(value)
    done = OperationRecord(
        op_id, ctx.parent_id, "STEP", sub_type, name, "SUCCEEDED", attempt, result=payload
    )
    state.checkpoint(done, ctx.clock)
    return value if type(value) in _JSON_SCALARS else json.loads(payload)


def _after_failure(
    ctx: DurableContext,
    op_id: str,
    name: str | None,
    sub_type: str,
    config: StepConfig,
    exc: Exception,
    attempt: int,
) -> Any:
    """Checkpoint a retry (and suspend) or a terminal failure (and raise StepError)."""
    state = ctx.state
    strategy = config.retry_strategy or RetryPresets.default()
    decision = _decide(ctx, strategy, exc, attempt, op_id)
    record = OperationRecord(
        op_id, ctx.parent_id, "STEP", sub_type, name, "FAILED", attempt, error=error_fields(exc)
    )
    if decision.should_retry:
        due = ctx.clock.now_ms() + max(1, decision.delay_seconds) * 1000.0
        state.checkpoint(record.evolve(status="PENDING", due_ms=due), ctx.clock)
        state.count("retries")
        raise state.suspend_until(due)
    record = state.checkpoint(record, ctx.clock)
    state.count("failed_steps")
    raise raise_operation_error(StepError, record.error)


def _decide(
    ctx: DurableContext,
    strategy: Callable[[Exception, int], RetryDecision],
    exc: Exception,
    attempt: int,
    op_id: str,
) -> RetryDecision:
    """Call an SDK retry strategy with its jitter made reproducible.

    The SDK's jitter draws from the `random` module; we seed it from a keyed numpy generator
    for the call and restore the previous state afterwards, so a seed fixes every delay.
    """
    seed = int(ctx.state.sampler.rng("retry", op_id, attempt).integers(2**63))
    with ctx.state.lock:
        saved = random.getstate()
        random.seed(seed)
        try:
            return strategy(exc, attempt)
        finally:
            random.setstate(saved)
