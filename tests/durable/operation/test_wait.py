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
    assert "at least 1 second" in str(run.error)


def test_wait_inside_child_context_resumes_there() -> None:
    def handler(event: Any, ctx: DurableContext) -> list[int]:
        def child(c: DurableContext) -> int:
            c.wait(Duration.from_seconds(10))
            return c.step(lambda _: 1, name="inner")

        return [ctx.run_in_child_context(child, name="c"), ctx.step(lambda _: 2, name="outer")]

    run = run_durable(handler, None)
    assert (run.result, run.metrics.elapsed_ms) == ([1, 2], 10_000.0)
    assert [op.id for op in run.operations] == ["1", "1.1", "1.2", "2"]
