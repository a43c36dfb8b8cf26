"""The same SDK-decorated handlers on our engine and on AWS's local runner agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from aws_durable_execution_sdk_python import (
    DurableContext,
    StepContext,
    durable_execution,
    durable_step,
)
from aws_durable_execution_sdk_python.config import (
    Duration,
    MapConfig,
    ParallelConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryStrategyConfig,
    create_retry_strategy,
)

from durable_sim import DurableRun, run_durable

RETRY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)


@durable_step
def flaky_double(step_ctx: StepContext, x: int) -> int:
    if step_ctx.attempt == 1:
        raise ConnectionError(f"first attempt for {x}")
    return 2 * x


@durable_step
def add(step_ctx: StepContext, a: int, b: int) -> int:
    return a + b


@durable_execution
def steps_and_retries(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    a = context.step(add(event["x"], 1))
    b = context.step(flaky_double(a), config=RETRY)
    context.wait(Duration.from_seconds(10))
    c = context.step(add(b, 100), name="final")
    return {"a": a, "b": b, "c": c}


@durable_execution
def children_and_waits(event: dict[str, Any], context: DurableContext) -> list[int]:
    def inner(ctx: DurableContext) -> int:
        v = ctx.step(add(1, 2))
        ctx.wait(Duration.from_seconds(2))
        return ctx.step(add(v, 10), name="inner-final")

    def outer(ctx: DurableContext) -> int:
        return ctx.run_in_child_context(inner, name="inner") * 2

    return [context.run_in_child_context(outer, name="outer"), context.step(add(0, 7))]


@durable_execution
def map_and_parallel(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    def item(ctx: DurableContext, x: int, index: int, items: Sequence[int]) -> int:
        return ctx.step(flaky_double(x), config=RETRY)

    mapped = context.map(event["items"], item, name="doubles", config=MapConfig(max_concurrency=2))

    def left(ctx: DurableContext) -> str:
        return ctx.step(lambda _: "L", name="left-step")

    def right(ctx: DurableContext) -> str:
        ctx.wait(Duration.from_seconds(1))
        return ctx.step(lambda _: "R", name="right-step")

    par = context.parallel([left, right], name="pair", config=ParallelConfig(max_concurrency=1))
    return {"mapped": mapped.get_results(), "parallel": par.get_results()}


@durable_execution
def fails_after_retries(event: dict[str, Any], context: DurableContext) -> None:
    def always(step_ctx: StepContext) -> None:
        raise ValueError(f"broken on attempt {step_ctx.attempt}")

    context.step(always, name="always", config=RETRY)


CASES = {
    "steps_and_retries": (steps_and_retries, {"x": 4}),
    "children_and_waits": (children_and_waits, {}),
    "map_and_parallel": (map_and_parallel, {"items": [1, 2, 3]}),
    "fails_after_retries": (fails_after_retries, {}),
}


def _steps(run: DurableRun) -> list[tuple[str | None, str, int]]:
    return sorted((op.name, op.status, op.attempts) for op in run.operations if op.type == "STEP")


def _shape(run: DurableRun) -> list[tuple[str, str | None, str]]:
    return sorted((op.type, op.name, op.status) for op in run.operations)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sim_and_aws_local_agree(case: str) -> None:
    handler, event = CASES[case]
    sim = run_durable(handler, event, engine="sim")
    aws = run_durable(handler, event, engine="aws-local")
    assert (sim.status, sim.result) == (aws.status, aws.result)
    assert _steps(sim) == _steps(aws)
    assert _shape(sim) == _shape(aws)
    assert sim.metrics.retries == aws.metrics.retries
    assert sim.metrics.failed_steps == aws.metrics.failed_steps
    if sim.status == "FAILED":
        assert sim.error is not None and aws.error is not None
        assert "broken on attempt 3" in str(sim.error)
        assert "broken on attempt 3" in str(aws.error)


def test_expected_values_on_sim() -> None:
    """The agreed values are the right ones (so agreement cannot hide a shared mistake)."""
    runs = {case: run_durable(h, e) for case, (h, e) in CASES.items()}
    assert runs["steps_and_retries"].result == {"a": 5, "b": 10, "c": 110}
    assert _steps(runs["steps_and_retries"]) == [
        ("add", "SUCCEEDED", 1),
        ("final", "SUCCEEDED", 1),
        ("flaky_double", "SUCCEEDED", 2),
    ]
    assert runs["children_and_waits"].result == [26, 7]
    assert runs["map_and_parallel"].result == {"mapped": [2, 4, 6], "parallel": ["L", "R"]}
    assert runs["map_and_parallel"].metrics.retries == 3
    assert runs["fails_after_retries"].status == "FAILED"
    assert _steps(runs["fails_after_retries"]) == [("always", "FAILED", 3)]
