"""``map`` and ``parallel``: list scheduling on the virtual clock, order, completion configs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
)
from aws_durable_execution_sdk_python.exceptions import ChildContextError

from durable_sim import run_durable

from ..conftest import STEP_MS, STEP_ONLY


def steps_branch(n_steps: int, value: Any) -> Any:
    def branch(c: DurableContext) -> Any:
        for i in range(n_steps):
            c.step(lambda _, i=i: i, name=f"s{i}")
        return value

    return branch


@pytest.mark.parametrize(
    ("max_concurrency", "units"), [(None, 1), (1, 4), (2, 2), (3, 2), (4, 1), (8, 1)]
)
def test_parallel_elapsed_time_follows_max_concurrency(
    max_concurrency: int | None, units: int
) -> None:
    def handler(event: Any, ctx: DurableContext) -> list[str]:
        branches = [steps_branch(1, f"b{i}") for i in range(4)]
        config = ParallelConfig(max_concurrency=max_concurrency)
        return ctx.parallel(branches, config=config).get_results()

    run = run_durable(handler, None, profile=STEP_ONLY)
    assert run.result == ["b0", "b1", "b2", "b3"]
    assert run.metrics.elapsed_ms == units * STEP_MS


def test_map_list_schedules_uneven_branches_on_free_slots() -> None:
    # Costs 3,1,1,1 steps on 2 slots: b0 [0,300], b1 [0,100], b2 [100,200], b3 [200,300].
    def handler(event: Any, ctx: DurableContext) -> list[int]:
        def item(c: DurableContext, n: int, index: int, items: Sequence[int]) -> int:
            return steps_branch(n, index * 10)(c)

        return ctx.map([3, 1, 1, 1], item, config=MapConfig(max_concurrency=2)).get_results()

    run = run_durable(handler, None, profile=STEP_ONLY)
    assert run.result == [0, 10, 20, 30]
    assert run.metrics.elapsed_ms == 3 * STEP_MS


def test_map_results_in_input_order_with_item_names() -> None:
    def handler(event: Any, ctx: DurableContext) -> list[int]:
        def square(c: DurableContext, x: int, i: int, xs: Sequence[int]) -> int:
            return c.step(lambda _: x * x, name="sq")

        config = MapConfig(max_concurrency=2, item_namer=lambda item, i: f"item-{item}")
        return ctx.map([5, 3, 9, 1], square, name="squares", config=config).get_results()

    run = run_durable(handler, None, profile=STEP_ONLY)
    assert run.result == [25, 9, 81, 1]
    ops = {op.id: op for op in run.operations}
    assert (ops["1"].sub_type, ops["1"].name) == ("Map", "squares")
    assert [ops[f"1.{i}"].name for i in range(1, 5)] == ["item-5", "item-3", "item-9", "item-1"]
    assert {ops[f"1.{i}"].sub_type for i in range(1, 5)} == {"MapIteration"}


def _failing(c: DurableContext) -> None:
    raise RuntimeError("branch broke")


def test_default_completion_is_fail_fast() -> None:
    ran: Counter[str] = Counter()

    def mark(tag: str) -> Any:
        def branch(c: DurableContext) -> str:
            ran[tag] += 1
            return tag

        return branch

    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        result = ctx.parallel(
            [mark("a"), _failing, mark("c"), mark("d")], config=ParallelConfig(max_concurrency=1)
        )
        return {
            "reason": result.completion_reason.value,
            "ok": [i.index for i in result.succeeded()],
            "failed": [i.index for i in result.failed()],
            "total": result.total_count,
        }

    run = run_durable(handler, None)
    assert run.result == {
        "reason": "FAILURE_TOLERANCE_EXCEEDED",
        "ok": [0],
        "failed": [1],
        "total": 2,
    }
    assert ran == {"a": 1}  # c and d were never started


def test_throw_if_error_raises_child_context_error_with_original_type() -> None:
    def handler(event: Any, ctx: DurableContext) -> str:
        result = ctx.parallel([steps_branch(0, 1), _failing])
        try:
            result.throw_if_error()
        except ChildContextError as exc:
            return f"{exc.error_type}: {exc.message}"
        return "no error"

    run = run_durable(handler, None)
    assert run.result == "RuntimeError: branch broke"


def test_min_successful_stops_starting_branches() -> None:
    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        def item(c: DurableContext, x: int, i: int, xs: Sequence[int]) -> int:
            return c.step(lambda _: x, name="v")

        config = MapConfig(max_concurrency=2, completion_config=CompletionConfig(min_successful=2))
        result = ctx.map([1, 2, 3, 4, 5], item, config=config)
        return {
            "reason": result.completion_reason.value,
            "results": result.get_results(),
            "started": [i.index for i in result.started()],
        }

    run = run_durable(handler, None, profile=STEP_ONLY)
    # Items 0 and 1 end at 100 ms; item 2 takes the slot item 0 freed and is still running
    # when item 1's success completes the batch; items 3 and 4 never start.
    assert run.result == {"reason": "MIN_SUCCESSFUL_REACHED", "results": [1, 2], "started": [2]}
    assert run.metrics.steps_executed == 3
    assert run.metrics.elapsed_ms == STEP_MS


def test_tolerated_failure_count() -> None:
    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        def item(c: DurableContext, x: int, i: int, xs: Sequence[int]) -> int:
            if x < 0:
                raise ValueError(f"negative {x}")
            return x

        def go(values: list[int]) -> dict[str, Any]:
            config = MapConfig(
                max_concurrency=1,
                completion_config=CompletionConfig(tolerated_failure_count=1),
            )
            result = ctx.map(values, item, config=config)
            return {
                "reason": result.completion_reason.value,
                "results": result.get_results(),
                "errors": [e.message if e else None for e in result.get_errors()],
            }

        return {"one": go([1, -2, 3]), "two": go([-1, -2, 3, 4])}

    run = run_durable(handler, None)
    assert run.result == {
        "one": {"reason": "ALL_COMPLETED", "results": [1, 3], "errors": ["negative -2"]},
        "two": {
            "reason": "FAILURE_TOLERANCE_EXCEEDED",
            "results": [],
            "errors": ["negative -1", "negative -2"],
        },
    }


def test_parallel_branch_names_and_replay_after_wait(calls: Counter[str]) -> None:
    def a(c: DurableContext) -> int:
        calls["a"] += 1
        return c.step(lambda _: calls.update(["step-a"]) or 1, name="sa")

    def b(c: DurableContext) -> int:
        c.wait(Duration.from_seconds(5))
        return c.step(lambda _: calls.update(["step-b"]) or 2, name="sb")

    def handler(event: Any, ctx: DurableContext) -> list[int]:
        return ctx.parallel([ParallelBranch(a, name="A"), b], name="fan").get_results()

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", [1, 2])
    assert calls["step-a"] == 1 and calls["step-b"] == 1
    assert calls["a"] == 1  # branch A completed before the wait, so it is not re-run
    names = {op.id: op.name for op in run.operations}
    assert (names["1"], names["1.1"], names["1.2"]) == ("fan", "A", "parallel-branch-1")
    assert run.metrics.elapsed_ms == 5000.0


def test_batch_result_is_replayed_identically() -> None:
    seen: list[Any] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        result = ctx.parallel(
            [steps_branch(1, "x"), _failing],
            config=ParallelConfig(completion_config=CompletionConfig(tolerated_failure_count=1)),
        )
        seen.append((result.completion_reason.value, result.get_results(), len(result.failed())))
        ctx.wait(Duration.from_seconds(1))

    run = run_durable(handler, None)
    assert run.status == "SUCCEEDED"
    assert seen == [("ALL_COMPLETED", ["x"], 1)] * 2


def test_min_successful_without_a_limit_starts_every_branch_at_once() -> None:
    """With no max_concurrency all branches launch together, even at zero cost."""

    def handler(event: Any, ctx: DurableContext) -> list[int]:
        config = MapConfig(completion_config=CompletionConfig(min_successful=1))
        result = ctx.map(
            [1, 2, 3], lambda c, x, i, xs: c.step(lambda _: x, name="v"), config=config
        )
        return result.get_results()

    run = run_durable(handler, None)
    assert run.result == [1, 2, 3]
