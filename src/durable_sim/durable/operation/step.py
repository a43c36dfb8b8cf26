"""``context.step``: run a function once, checkpoint its result, retry by the SDK's strategy.

As in the SDK: a step's START is checkpointed asynchronously (batched with its end) under
at-least-once semantics and synchronously under at-most-once; the result goes through the
step's serdes and back before the SUCCEED checkpoint, so the first run returns what replay
returns; a value the serdes cannot encode fails the step with the SDK's ``SerDesError``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from aws_durable_execution_sdk_python.config import StepConfig, StepSemantics
from aws_durable_execution_sdk_python.exceptions import (
    RetryableSerDesError,
    SerDesError,
    StepError,
    StepInterruptedError,
)
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import OperationStatus
from aws_durable_execution_sdk_python.logger import Logger
from aws_durable_execution_sdk_python.retries import RetryPresets
from aws_durable_execution_sdk_python.types import StepContext

from durable_sim.clock import active_clock
from durable_sim.durable.codec import describe, round_trip
from durable_sim.durable.journal import OperationRecord
from durable_sim.durable.operation.common import (
    checked,
    error_fields,
    journaled,
    raise_operation_error,
    recordable,
)
from durable_sim.durable.state import Suspend, check_seconds
from durable_sim.faults import InjectedFault

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext

T = TypeVar("T")


def run_step(
    ctx: DurableContext,
    ident: OperationIdentifier,
    func: Callable[[StepContext], Any],
    config: StepConfig,
) -> Any:
    rec, leave = ctx._begin(ident)
    try:
        return _step(ctx, ident, func, config, rec)
    finally:
        ctx._end(leave)


def _step(
    ctx: DurableContext,
    ident: OperationIdentifier,
    func: Callable[[StepContext], Any],
    config: StepConfig,
    rec: OperationRecord | None,
) -> Any:
    state = ctx.state
    arn = state.durable_execution_arn
    at_most_once = config.step_semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY
    attempt = 1
    if rec is not None:
        status = rec.status
        if status is OperationStatus.SUCCEEDED:
            state.count_step(replayed=True)
            return journaled(state, rec.result, config.serdes, ident)
        if status is OperationStatus.FAILED:
            raise_operation_error(StepError, rec.error)
        if status is OperationStatus.PENDING:  # retry timer not yet fired
            raise Suspend(rec.due_ms)
        if status is OperationStatus.STARTED:
            if at_most_once:
                interrupted = StepInterruptedError(
                    f"step {ident.operation_id} ({ident.name}) attempt {rec.attempt} was "
                    "interrupted; at-most-once semantics forbid running it again silently",
                    step_id=ident.operation_id,
                )
                _after_failure(ctx, ident, config, interrupted, rec.attempt)
            attempt = rec.attempt  # at-least-once: the interrupted attempt runs again
        else:  # READY: the next attempt
            attempt = rec.attempt + 1
    clock = ctx.clock
    if rec is None or rec.status is OperationStatus.READY:
        state.start(ident, clock, sync=at_most_once, attempt=attempt)
    state.check_lease()
    state.count_step(replayed=False)
    state.charge(clock, "step", ident.operation_id, attempt)
    try:
        if state.faults.step_attempt_fails(ident.operation_id, ident.name, attempt):
            raise InjectedFault(
                f"injected fault in step {ident.operation_id} ({ident.name}) attempt {attempt}"
            )
        with active_clock(clock):
            value = func(StepContext(logger=_StepLogger(ctx, ident, attempt), attempt=attempt))
        payload, value = round_trip(value, config.serdes, ident, arn, "result")
    except RetryableSerDesError:
        raise
    except SerDesError as exc:  # permanent: the step fails without its retry strategy
        fields = error_fields(exc)
        state.fail(ident, clock, fields)
        state.count("failed_steps")
        raise_operation_error(StepError, fields)
    except Exception as exc:
        if state.fatal is not None:
            raise
        _after_failure(ctx, ident, config, recordable(exc), attempt)
    state.succeed(ident, clock, checked(state, payload, ident))
    return value


def operation_logger(ctx: DurableContext, ident: OperationIdentifier, attempt: int) -> Logger:
    """The logger a step body gets: the context's, with the operation's fields added (the
    SDK's ``LogInfo.from_operation_identifier``), silent while the context replays."""
    extra: dict[str, object] = {"executionArn": ctx.state.durable_execution_arn}
    if ident.parent_id:
        extra["parentId"] = ident.parent_id
    if ident.name:
        extra["operationName"] = ident.name
    extra["attempt"] = attempt
    extra["operationId"] = ident.operation_id
    return Logger(ctx._underlying_logger(), extra, ctx.is_replaying)


class _StepLogger:
    """`operation_logger`, built on first use: most step bodies never log."""

    __slots__ = ("_args", "_logger")

    def __init__(self, ctx: DurableContext, ident: OperationIdentifier, attempt: int) -> None:
        self._args = (ctx, ident, attempt)
        self._logger: Logger | None = None

    def _get(self) -> Logger:
        if self._logger is None:
            self._logger = operation_logger(*self._args)
        return self._logger

    def __getattr__(self, name: str) -> Any:  # debug, info, ..., with_log_info, get_logger
        return getattr(self._get(), name)


def _after_failure(
    ctx: DurableContext,
    ident: OperationIdentifier,
    config: StepConfig,
    exc: Exception,
    attempt: int,
) -> NoReturn:
    """Checkpoint a retry (and suspend) or a terminal failure (and raise StepError)."""
    state = ctx.state
    strategy = config.retry_strategy or RetryPresets.default()
    decision = seeded_call(
        ctx, "retry", ident.operation_id, attempt, lambda: strategy(exc, attempt)
    )
    fields = error_fields(exc)
    if decision.should_retry:
        delay = check_seconds(decision.delay_seconds, f"{describe(ident)}: retry delay")
        rec = state.retry(ident, ctx.clock, max(1, delay), error=fields)
        state.count("retries")
        raise Suspend(rec.due_ms)
    state.fail(ident, ctx.clock, fields)
    state.count("failed_steps")
    raise_operation_error(StepError, fields)


def seeded_call(
    ctx: DurableContext, purpose: str, op_id: str, attempt: int, call: Callable[[], T]
) -> T:
    """Call an SDK strategy (retry or wait) with its jitter made reproducible.

    The SDK's jitter draws from the `random` module; we seed it from a keyed numpy generator
    for the call and restore the previous state afterwards, so a seed fixes every delay.
    """
    seed = int(ctx.state.sampler.rng(purpose, op_id, attempt).integers(2**63))
    with ctx.state.lock:
        saved = random.getstate()
        random.seed(seed)
        try:
            return call()
        finally:
            random.setstate(saved)
