"""AWS's ``step`` requirements (1-N), each with our own handler written from its description."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_step
from aws_durable_execution_sdk_python.config import Duration, StepConfig, StepSemantics
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

from durable_sim.faults import SimulatedCrash

from .harness import Case, assert_conforms, parameters
from .known import (
    RUNNER_DROPS_CRASHED_INVOCATION,
    RUNNER_NO_RETRY_DETAILS_ON_SUCCESS,
)


class TransientError(Exception):
    """The custom error kind 1-15 and 1-16 retry on (or not)."""


def no_retry() -> StepConfig:
    return StepConfig(retry_strategy=RetryPresets.none())


def fixed_retries(max_attempts: int, delay_s: int = 1, backoff: float = 1.0) -> StepConfig:
    return StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=max_attempts,
                initial_delay=Duration.from_seconds(delay_s),
                backoff_rate=backoff,
                jitter_strategy=JitterStrategy.NONE,
            )
        )
    )


@durable_step
def greet(step_ctx: StepContext, name: str) -> str:
    return f"Hello, {name}!"


def step_basic(event: str, context: DurableContext) -> str:
    return context.step(greet(event))


def step_named(event: str, context: DurableContext) -> str:
    return context.step(lambda _: f"Hello, {event}!", name="custom_step_name")


def step_sequential(event: Any, context: DurableContext) -> str:
    first = context.step(lambda _: "first", name="step_one")
    return context.step(lambda _: f"{first}_second", name="step_two")


@durable_step
def build_response(step_ctx: StepContext, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": {"name": event["name"], "tags": list(event["tags"])},
        "count": len(event["tags"]),
    }


def step_complex_object(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    return context.step(build_response(event))


def step_null(event: Any, context: DurableContext) -> None:
    return context.step(lambda _: None, name="do_nothing")


class UppercaseSerDes(SerDes[str]):
    """Serializes a string as the JSON of its upper-cased value."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return json.dumps(value.upper())

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return str(json.loads(data))


def step_custom_serdes(event: str, context: DurableContext) -> str:
    return context.step(
        lambda _: event, name="return_input", config=StepConfig(serdes=UppercaseSerDes())
    )


def step_logger(event: str, context: DurableContext) -> str:
    def greet_logged(step_ctx: StepContext) -> str:
        step_ctx.logger.info(f"Greeting step started for: {event}")
        greeting = f"Hello, {event}!"
        step_ctx.logger.info(f"Greeting step completed with: {greeting}")
        return greeting

    return context.step(greet_logged, name="greet")


def step_then_wait(event: Any, context: DurableContext) -> str:
    value = context.step(lambda _: "computed", name="compute")
    context.wait(Duration.from_seconds(2))
    return value


def replay_skips_succeeded_step(event: Any, context: DurableContext) -> str:
    def run(step_ctx: StepContext) -> str:
        step_ctx.logger.info("step executed")
        return "cached_value"

    value = context.step(run, name="cached")
    context.wait(Duration.from_seconds(1))
    return value


def replay_rethrows_failed_step(event: Any, context: DurableContext) -> str:
    def run(step_ctx: StepContext) -> str:
        step_ctx.logger.info("step executed")
        raise ValueError("permanent failure")

    try:
        context.step(run, name="fails", config=no_retry())
    except Exception as exc:
        caught = type(exc).__name__
    context.wait(Duration.from_seconds(1))
    return caught


def retry_then_succeed(event: Any, context: DurableContext) -> str:
    def unreliable(step_ctx: StepContext) -> str:
        if step_ctx.attempt == 1:
            raise ConnectionError("first attempt fails")
        return "Operation succeeded"

    return context.step(unreliable, name="unreliable", config=fixed_retries(3))


def retry_exhaustion(event: Any, context: DurableContext) -> None:
    def always_fail(step_ctx: StepContext) -> None:
        raise ConnectionError(f"attempt {step_ctx.attempt} fails")

    context.step(always_fail, name="always_fail", config=fixed_retries(4))


def default_retry_strategy(event: Any, context: DurableContext) -> str:
    def unreliable(step_ctx: StepContext) -> str:
        if step_ctx.attempt <= 2:
            raise ConnectionError(f"attempt {step_ctx.attempt} fails")
        return "third time"

    return context.step(unreliable, name="unreliable")


def custom_backoff(event: Any, context: DurableContext) -> str:
    def unreliable(step_ctx: StepContext) -> str:
        if step_ctx.attempt <= 2:
            raise ConnectionError(f"attempt {step_ctx.attempt} fails")
        return "third time"

    return context.step(
        unreliable, name="unreliable", config=fixed_retries(5, delay_s=2, backoff=3.0)
    )


def retry_specific_exception(event: Any, context: DurableContext) -> str:
    def run(step_ctx: StepContext) -> str:
        if step_ctx.attempt == 1:
            raise TransientError("temporarily unavailable")
        return "recovered"

    retry_on_transient = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
            retryable_error_types=[TransientError],
        )
    )
    return context.step(run, name="transient", config=StepConfig(retry_strategy=retry_on_transient))


def no_retry_on_transient_error(error: Exception, attempts_made: int) -> RetryDecision:
    if isinstance(error, TransientError) or attempts_made >= 3:
        return RetryDecision.no_retry()
    return RetryDecision.retry(Duration.from_seconds(1))


def non_retryable_exception(event: Any, context: DurableContext) -> str:
    def run(step_ctx: StepContext) -> str:
        raise TransientError("temporarily unavailable")

    return context.step(
        run, name="transient", config=StepConfig(retry_strategy=no_retry_on_transient_error)
    )


def at_most_once_crash(event: str, context: DurableContext) -> str:
    def flaky(step_ctx: StepContext) -> str:
        step_ctx.logger.info(f"running with {event}")
        raise SimulatedCrash("the Lambda process exits inside the step")

    return context.step(
        flaky,
        name="at_most_once_flaky_step",
        config=StepConfig(
            retry_strategy=RetryPresets.none(),
            step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        ),
    )


def at_most_once_crash_then_retry(event: str, context: DurableContext) -> str:
    def flaky(step_ctx: StepContext) -> str:
        step_ctx.logger.info(f"running with {event}")
        if step_ctx.attempt == 1:
            raise SimulatedCrash("the Lambda process exits inside the step")
        return "succeeded on second attempt"

    config = fixed_retries(2)
    return context.step(
        flaky,
        name="at_most_once_flaky_step",
        config=StepConfig(
            retry_strategy=config.retry_strategy,
            step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        ),
    )


def fails_permanently(event: Any, context: DurableContext) -> None:
    def failing(step_ctx: StepContext) -> None:
        raise RuntimeError("this step always fails")

    context.step(failing, name="failing_func", config=no_retry())


def error_caught(event: Any, context: DurableContext) -> str:
    def failing(step_ctx: StepContext) -> str:
        raise RuntimeError("this step always fails")

    try:
        return context.step(failing, name="failing_func", config=no_retry())
    except Exception:
        return context.step(lambda _: "fallback_result", name="fallback")


CASES: dict[str, Case] = {
    "1-1": Case(step_basic),
    "1-2": Case(step_named),
    "1-3": Case(step_sequential),
    "1-4": Case(step_complex_object),
    "1-5": Case(step_null),
    "1-6": Case(step_custom_serdes),
    "1-7": Case(step_logger),
    "1-8": Case(step_then_wait),
    "1-9": Case(replay_skips_succeeded_step),
    "1-10": Case(replay_rethrows_failed_step),
    "1-11": Case(retry_then_succeed, known={"aws-local": RUNNER_NO_RETRY_DETAILS_ON_SUCCESS}),
    "1-12": Case(retry_exhaustion),
    "1-13": Case(default_retry_strategy, known={"aws-local": RUNNER_NO_RETRY_DETAILS_ON_SUCCESS}),
    "1-14": Case(custom_backoff, known={"aws-local": RUNNER_NO_RETRY_DETAILS_ON_SUCCESS}),
    "1-15": Case(retry_specific_exception, known={"aws-local": RUNNER_NO_RETRY_DETAILS_ON_SUCCESS}),
    "1-16": Case(non_retryable_exception),
    "1-17": Case(
        at_most_once_crash,
        known={"aws-local": RUNNER_DROPS_CRASHED_INVOCATION},
    ),
    "1-18": Case(
        at_most_once_crash_then_retry,
        known={"aws-local": RUNNER_DROPS_CRASHED_INVOCATION},
    ),
    "1-19": Case(fails_permanently),
    "1-20": Case(error_caught),
}


@pytest.mark.parametrize(("req_id", "engine"), parameters("step", CASES))
def test_step_requirement(req_id: str, engine: str) -> None:
    assert_conforms(req_id, CASES[req_id], engine)
