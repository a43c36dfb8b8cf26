"""AWS's ``child`` context requirements (3-N), each with our own handler written from its
description.

Where a requirement's history names a child context ``${NAME1}`` it asks for a name to be present,
so those handlers name their child contexts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, StepContext
from aws_durable_execution_sdk_python.config import (
    ChildConfig,
    Duration,
    JitterStrategy,
    StepConfig,
)
from aws_durable_execution_sdk_python.retries import (
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

from durable_sim.clock import current_clock
from durable_sim.faults import SimulatedCrash

from .harness import Case, assert_conforms, parameters
from .known import (
    RUNNER_DROPS_CRASHED_INVOCATION,
    RUNNER_NO_RETRY_DETAILS_ON_SUCCESS,
)

LARGE_BYTES = 300 * 1024  # over AWS's 256 KiB checkpoint limit


def retries(max_attempts: int) -> StepConfig:
    return StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=max_attempts,
                initial_delay=Duration.from_seconds(1),
                jitter_strategy=JitterStrategy.NONE,
            )
        )
    )


def echo_step(ctx: DurableContext, value: Any, name: str = "echo") -> Any:
    return ctx.step(lambda _: value, name=name)


def child_basic(event: str, context: DurableContext) -> str:
    return context.run_in_child_context(lambda child: echo_step(child, event))


def child_named(event: dict[str, str], context: DurableContext) -> str:
    return context.run_in_child_context(
        lambda child: echo_step(child, event["value"]), name=event["name"]
    )


def child_sequential_steps(event: str, context: DurableContext) -> str:
    def body(child: DurableContext) -> str:
        first = echo_step(child, event, "first")
        return echo_step(child, first, "second")

    return context.run_in_child_context(body, name="sequential")


def failing_step(ctx: DurableContext) -> Any:
    def fail(_: StepContext) -> Any:
        raise RuntimeError("the step inside the child fails")

    return ctx.step(fail, name="failing", config=StepConfig(retry_strategy=RetryPresets.none()))


def child_error(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(failing_step, name="failing-child")


def child_error_caught(event: str, context: DurableContext) -> str:
    with contextlib.suppress(Exception):
        context.run_in_child_context(failing_step, name="failing-child")
    return echo_step(context, event, "recovery")


def nested_children(event: str, context: DurableContext) -> str:
    def inner(child: DurableContext) -> str:
        return echo_step(child, event, "inner-step")

    def outer(child: DurableContext) -> str:
        echo_step(child, event, "outer-step")
        return child.run_in_child_context(inner, name="inner")

    return context.run_in_child_context(outer, name="outer")


def child_step_retry(event: str, context: DurableContext) -> str:
    def body(child: DurableContext) -> str:
        def flaky(step_ctx: StepContext) -> str:
            if step_ctx.attempt == 1:
                raise ConnectionError("first attempt fails")
            return event

        return child.step(flaky, name="flaky", config=retries(3))

    return context.run_in_child_context(body, name="retrying")


def child_retry_exhaustion(event: Any, context: DurableContext) -> None:
    def body(child: DurableContext) -> None:
        def always_fail(step_ctx: StepContext) -> None:
            raise ConnectionError(f"attempt {step_ctx.attempt} fails")

        child.step(always_fail, name="always_fail", config=retries(2))

    context.run_in_child_context(body, name="exhausted")


def child_then_wait(event: str, context: DurableContext) -> str:
    value = context.run_in_child_context(lambda child: echo_step(child, event), name="cached")
    context.wait(Duration.from_seconds(1))
    return value


def child_step_and_wait(event: str, context: DurableContext) -> str:
    def body(child: DurableContext) -> str:
        value = echo_step(child, event)
        child.wait(Duration.from_seconds(1))
        return value

    return context.run_in_child_context(body, name="step-and-wait")


def child_large_result(event: str, context: DurableContext) -> int:
    def body(child: DurableContext) -> str:
        child.logger.with_is_replaying(lambda: False).info(f"child body runs for {event}")
        small = echo_step(child, event)
        return small * (LARGE_BYTES // len(small) + 1)

    large = context.run_in_child_context(body, name="large")
    context.wait(Duration.from_seconds(1))
    return len(large)


def child_interrupted() -> Callable[[str, DurableContext], str]:
    """A fresh handler per run: its step's first execution takes the process down with it."""
    crashed: list[bool] = []

    def handler(event: str, context: DurableContext) -> str:
        def body(child: DurableContext) -> str:
            def crash_once(_: StepContext) -> str:
                if not crashed:
                    crashed.append(True)
                    # The requirement's crash comes after both STARTs are checkpointed: let the
                    # step run longer than the checkpoint batcher holds an asynchronous START.
                    clock = current_clock()
                    clock.sleep_until(clock.now_ms() + 1_000.0)
                    raise SimulatedCrash("the Lambda process exits inside the step")
                return event

            return child.step(crash_once, name="crash-once")

        return context.run_in_child_context(body, name="interrupted")

    return handler


def child_only_wait_then_step(event: str, context: DurableContext) -> str:
    def body(child: DurableContext) -> str:
        child.wait(Duration.from_seconds(1))
        return event

    context.run_in_child_context(body, name="waiting")
    return echo_step(context, event, "after")


class UppercaseRawSerDes(SerDes[str]):
    """Writes a string upper-cased and as it is (not JSON); reads the text back unchanged."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return value.upper()

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data


def child_custom_serdes(event: str, context: DurableContext) -> str:
    return context.run_in_child_context(
        lambda child: echo_step(child, event),
        name="uppercase",
        config=ChildConfig(serdes=UppercaseRawSerDes()),
    )


def child_raises_directly(event: Any, context: DurableContext) -> Any:
    def body(child: DurableContext) -> Any:
        raise ValueError("the child body raises without a durable operation")

    return context.run_in_child_context(body, name="raising")


def child_returns_none(event: Any, context: DurableContext) -> None:
    return context.run_in_child_context(lambda child: None, name="empty")


def child_logger_only(event: str, context: DurableContext) -> str:
    def body(child: DurableContext) -> str:
        child.logger.with_is_replaying(lambda: False).info(f"child body runs for {event}")
        return event

    value = context.run_in_child_context(body, name="logging")
    context.wait(Duration.from_seconds(1))
    return value


def child_and_top_level_mix(event: str, context: DurableContext) -> str:
    def body(child: DurableContext) -> str:
        value = echo_step(child, event, "inner-step")
        child.wait(Duration.from_seconds(1))
        return value

    inner = context.run_in_child_context(body, name="mixed")
    outer = echo_step(context, inner, "outer-step")
    context.wait(Duration.from_seconds(1))
    return outer


CASES: dict[str, Case] = {
    "3-1": Case(child_basic),
    "3-2": Case(child_named),
    "3-3": Case(child_sequential_steps),
    "3-4": Case(child_error),
    "3-5": Case(child_error_caught),
    "3-6": Case(nested_children),
    "3-7": Case(child_step_retry, known={"aws-local": RUNNER_NO_RETRY_DETAILS_ON_SUCCESS}),
    "3-8": Case(child_retry_exhaustion),
    "3-9": Case(child_then_wait),
    "3-10": Case(child_step_and_wait),
    "3-11": Case(child_large_result),
    "3-12": Case(
        child_interrupted,
        per_run=True,
        known={"aws-local": RUNNER_DROPS_CRASHED_INVOCATION},
    ),
    "3-13": Case(child_only_wait_then_step),
    "3-14": Case(child_custom_serdes),
    "3-15": Case(child_raises_directly),
    "3-16": Case(child_returns_none),
    "3-17": Case(child_logger_only),
    "3-18": Case(child_and_top_level_mix),
}


@pytest.mark.parametrize(("req_id", "engine"), parameters("child", CASES))
def test_child_requirement(req_id: str, engine: str) -> None:
    assert_conforms(req_id, CASES[req_id], engine)
