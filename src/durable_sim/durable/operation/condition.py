"""``context.wait_for_condition``: poll a check, checkpointing its state, until the config's
wait strategy stops polling.

As in the SDK: the operation is a STEP with subtype ``WaitForCondition``; each poll is an
attempt; a poll that keeps waiting is a RETRY carrying the state (no error) and suspends for the
strategy's delay (at least 1 s); the final state is the SUCCEED payload; a check that raises,
or a strategy that runs out of attempts, fails the operation with ``WaitForConditionError``. The
state goes through the config's ``serdes`` (the initial state too, before the first check).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.exceptions import RetryableSerDesError, WaitForConditionError
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import OperationStatus
from aws_durable_execution_sdk_python.types import WaitForConditionCheckContext
from aws_durable_execution_sdk_python.waits import WaitForConditionConfig

from durable_sim.clock import active_clock
from durable_sim.durable.codec import decode, describe, round_trip
from durable_sim.durable.operation.common import (
    checked,
    error_fields,
    journaled,
    raise_operation_error,
)
from durable_sim.durable.operation.step import operation_logger, seeded_call
from durable_sim.durable.state import Suspend, check_seconds

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext


def run_wait_for_condition(
    ctx: DurableContext,
    ident: OperationIdentifier,
    check: Callable[[Any, WaitForConditionCheckContext], Any],
    config: WaitForConditionConfig[Any],
) -> Any:
    rec, leave = ctx._begin(ident)
    try:
        state = ctx.state
        arn = state.durable_execution_arn
        serdes = config.serdes
        if rec is not None:
            if rec.status is OperationStatus.SUCCEEDED:
                return journaled(state, rec.result, serdes, ident)
            if rec.status is OperationStatus.FAILED:
                raise_operation_error(WaitForConditionError, rec.error)
            if rec.status is OperationStatus.PENDING:
                raise Suspend(rec.due_ms)
        clock = ctx.clock
        attempt = rec.attempt + 1 if rec is not None and rec.status is OperationStatus.READY else 1
        if rec is not None and rec.status is OperationStatus.STARTED:
            attempt = rec.attempt
        else:
            state.start(ident, clock, sync=False, attempt=attempt)
        state.check_lease()
        state.count_step(replayed=False)
        state.charge(clock, "step", ident.operation_id, attempt)
        logger = operation_logger(ctx, ident, attempt)
        try:
            if rec is not None and rec.result is not None:
                current = journaled(state, rec.result, serdes, ident)
            else:
                _, current = round_trip(config.initial_state, serdes, ident, arn, "initial state")
            with active_clock(clock):
                new_state = check(
                    current, WaitForConditionCheckContext(logger=logger, attempt=attempt)
                )
            payload, polled = round_trip(new_state, serdes, ident, arn, "state")
            decision = seeded_call(
                ctx,
                "wait",
                ident.operation_id,
                attempt,
                lambda: config.wait_strategy(polled, attempt),
            )
        except RetryableSerDesError:
            raise
        except Exception as exc:
            if state.fatal is not None:
                raise
            fields = error_fields(exc)
            state.fail(ident, clock, fields)
            raise_operation_error(WaitForConditionError, fields)
        if not decision.should_continue:
            state.succeed(ident, clock, checked(state, payload, ident))
            return decode(payload, serdes, ident, arn)
        delay = check_seconds(decision.delay_seconds, f"{describe(ident)}: polling delay")
        rec = state.retry(ident, clock, max(1, delay), payload=checked(state, payload, ident))
        raise Suspend(rec.due_ms)
    finally:
        ctx._end(leave)
