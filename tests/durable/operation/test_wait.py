"""``context.wait`` on the sim engine: suspends, advances virtual time, validates duration."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.exceptions import ValidationError

from durable_sim import run_durable


def test_wait_suspends_and_advances_virtual_time_only() -> None:
    def handler(event: Any, ctx: DurableContext) -> float:
        ctx.wait(Duration.from_hours(2), name="nap")
        ctx.wait(Duration.from_seconds(30))
        return ctx.step(lambda _: "after", name="after")

    started = time.perf_counter()
    run = run_durable(handler, None)
    assert time.perf_counter() - started < 2.0  # two hours of virtual time, no real sleep
    assert (run.status, run.result) == ("SUCCEEDED", "after")
    assert run.metrics.elapsed_ms == 2 * 3600_000.0 + 30_000.0
    assert run.metrics.invocations == 3  # each wait ends an invocation
    assert run.metrics.replays == 2
    nap = run.operation("nap")
    assert (nap.type, nap.status) == ("WAIT", "SUCCEEDED")


@pytest.mark.parametrize("seconds", [0, 0.5])
def test_wait_under_one_second_is_a_validation_error(seconds: float) -> None:
    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.wait(Duration(seconds=seconds))  # type: ignore[arg-type]

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert isinstance(run.error, ValidationError)
    assert "from 1 to 31,622,400" in str(run.error)


def test_wait_inside_child_context_resumes_there() -> None:
    def handler(event: Any, ctx: DurableContext) -> list[int]:
        def child(c: DurableContext) -> int:
            c.wait(Duration.from_seconds(10))
            return c.step(lambda _: 1, name="inner")

        return [ctx.run_in_child_context(child, name="c"), ctx.step(lambda _: 2, name="outer")]

    run = run_durable(handler, None)
    assert (run.result, run.metrics.elapsed_ms) == ([1, 2], 10_000.0)
    assert [op.id for op in run.operations] == ["1", "1.1", "1.2", "2"]


@pytest.mark.parametrize("clock", ["virtual", "wall"])
@pytest.mark.parametrize("seconds", [31_622_401, 1e20])
def test_a_wait_longer_than_aws_accepts_fails_the_execution_on_both_clocks(
    clock: str, seconds: float
) -> None:
    """AWS accepts waits of 1 to 31,622,400 s (366 days); a longer one is a validation error,
    not an endless or overflowing wait that every resumption would repeat."""
    from durable_sim.clock import VirtualClock, WallClock

    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.wait(Duration(seconds=seconds))  # type: ignore[arg-type]

    run = run_durable(handler, None, clock=VirtualClock() if clock == "virtual" else WallClock())
    assert run.status == "FAILED" and isinstance(run.error, ValidationError)
    assert "from 1 to 31,622,400 (366 days)" in str(run.error)
    longest = run_durable(
        lambda e, ctx: ctx.wait(Duration(seconds=31_622_400)), None, clock=VirtualClock()
    )
    assert longest.status == "SUCCEEDED" and longest.metrics.elapsed_ms == 31_622_400_000.0
