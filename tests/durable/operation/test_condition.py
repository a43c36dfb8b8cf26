"""``wait_for_condition``: polls as attempts of one STEP, state carried in the checkpoints."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.exceptions import WaitForConditionError
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

from durable_sim import export_history, run_durable


def until(threshold: int, delay_s: int = 5) -> Any:
    def strategy(state: dict[str, int], attempt: int) -> WaitForConditionDecision:
        if state["n"] >= threshold:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(delay_s))

    return strategy


def test_polls_until_the_strategy_stops_threading_the_state() -> None:
    checks: list[tuple[int, int]] = []

    def handler(event: Any, ctx: DurableContext) -> dict[str, int]:
        def check(state: dict[str, int], check_ctx: Any) -> dict[str, int]:
            checks.append((state["n"], check_ctx.attempt))
            return {"n": state["n"] + 1}

        config = WaitForConditionConfig(wait_strategy=until(3), initial_state={"n": 0})
        return ctx.wait_for_condition(check, config, name="poll")

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", {"n": 3})
    assert checks == [(0, 1), (1, 2), (2, 3)]  # each check runs once, in its own invocation
    assert run.metrics.invocations == 3
    assert run.metrics.elapsed_ms == 10_000.0  # two 5 s waits between the polls
    op = run.operation("poll")
    assert (op.type, op.sub_type, op.attempts, op.result) == (
        "STEP",
        "WaitForCondition",
        3,
        {"n": 3},
    )
    kinds = [
        (e["EventType"], e.get("StepSucceededDetails", {}).get("RetryDetails"))
        for e in export_history(run)
        if e.get("Id") == op.id
    ]
    assert kinds == [
        ("StepStarted", None),
        ("StepSucceeded", {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 5}),
        ("StepStarted", None),
        ("StepSucceeded", {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 5}),
        ("StepStarted", None),
        ("StepSucceeded", {"CurrentAttempt": 3}),
    ]


def test_a_condition_met_at_once_takes_one_check() -> None:
    def handler(event: Any, ctx: DurableContext) -> dict[str, int]:
        config = WaitForConditionConfig(wait_strategy=until(0), initial_state={"n": 7})
        return ctx.wait_for_condition(lambda s, c: s, config)

    run = run_durable(handler, None)
    assert (run.result, run.metrics.invocations, run.operations[0].name) == ({"n": 7}, 1, None)


def test_max_attempts_and_a_failing_check_raise_wait_for_condition_error() -> None:
    def exhausted(event: Any, ctx: DurableContext) -> str:
        strategy = create_wait_strategy(
            WaitStrategyConfig(
                should_continue_polling=lambda s: True,
                max_attempts=3,
                initial_delay=Duration.from_seconds(1),
            )
        )
        config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
        try:
            ctx.wait_for_condition(lambda s, c: s + 1, config)
        except WaitForConditionError as exc:
            return str(exc.message)
        return "no error"

    run = run_durable(exhausted, None, seed=3)
    assert run.result == "wait_for_condition exhausted 3 attempts before the condition was met"
    assert run.operations[0].attempts == 3 and run.operations[0].status == "FAILED"
    # The SDK's full jitter draws its delays: a seed fixes them.
    assert run_durable(exhausted, None, seed=3).metrics.elapsed_ms == run.metrics.elapsed_ms

    def broken(event: Any, ctx: DurableContext) -> None:
        def check(state: int, c: Any) -> int:
            raise LookupError("no such job")

        ctx.wait_for_condition(
            check, WaitForConditionConfig(wait_strategy=until(1), initial_state=0)
        )

    failed = run_durable(broken, None)
    assert isinstance(failed.error, WaitForConditionError)
    assert failed.error.message == "no such job"
