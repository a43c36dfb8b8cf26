"""``context.wait_for_condition``: poll a check, checkpointing its state, until the config's
wait strategy stops polling.

As in the SDK: the operation is a STEP with subtype ``WaitForCondition``; each poll is an
attempt; a poll that keeps waiting is a RETRY carrying the state (no error) and suspends for the
strategy's delay (at least 1 s); the final state is the SUCCEED payload; a check that raises,
a strategy that runs out of attempts, raises or returns no decision, fails the operation with
``WaitForConditionError``, except that an error of the strategy's that the SDK cannot print
escapes the operation as what its ``str()`` raised, recording nothing (the SDK's own
``from_exception`` call raises there). The state goes through the config's ``serdes`` (the
initial state too, before the first check).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.exceptions import RetryableSerDesError, WaitForConditionError
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import OperationStatus
from aws_durable_execution_sdk_python.types import WaitForConditionCheckContext
from aws_durable_execution_sdk_python.waits import WaitForConditionConfig

from durable_sim.clock import Clock, active_clock
from durable_sim.durable.codec import decode, describe, round_trip
from durable_sim.durable.operation.common import (
    checked,
    error_fields,
    journaled,
    raise_operation_error,
    recordable,
)
from durable_sim.durable.operation.step import operation_logger, seeded_call
from durable_sim.durable.state import Suspend, check_seconds

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python.logger import Logger

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
            new_state = _checked_state(check, current, clock, logger, attempt)
            payload, polled = round_trip(new_state, serdes, ident, arn, "state")
            decision = seeded_call(
                ctx,
                "wait",
                ident.operation_id,
                attempt,
                lambda: config.wait_strategy(polled, attempt),
            )
            stop = not decision.should_continue  # a decision that is none raises here
            delay_s = 0 if stop else decision.delay_seconds
        except RetryableSerDesError:
            raise
        except Exception as exc:
            if state.fatal is not None:
                raise
            recorded = recordable(exc)
            if recorded is not exc:
                raise recorded from exc  # the SDK's from_exception raised: nothing recorded
            fields = error_fields(exc)
            state.fail(ident, clock, fields)
            raise_operation_error(WaitForConditionError, fields)
        if stop:
            state.succeed(ident, clock, checked(state, payload, ident))
            return decode(payload, serdes, ident, arn)
        delay = check_seconds(delay_s, f"{describe(ident)}: polling delay")
        rec = state.retry(ident, clock, max(1, delay), payload=checked(state, payload, ident))
        raise Suspend(rec.due_ms)
    finally:
        ctx._end(leave)


def _checked_state(
    check: Callable[[Any, WaitForConditionCheckContext], Any],
    current: Any,
    clock: Clock,
    logger: Logger,
    attempt: int,
) -> Any:
    """The state `check` returns. The check is a user function the SDK wraps
    (``ExecutionState.wrap_user_function``), which builds the ``ErrorObject`` of what it raises:
    an error it cannot print is replaced there by what ``str()`` raised (`recordable`), and that
    one fails the condition."""
    try:
        with active_clock(clock):
            return check(current, WaitForConditionCheckContext(logger=logger, attempt=attempt))
    except Exception as exc:
        recorded = recordable(exc)
        if recorded is exc:
            raise
        raise recorded from exc
