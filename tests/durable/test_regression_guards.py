"""Guards against one-line engine bugs the rest of the suite let through (issue 12, item 6).

Each test names the bug it catches; each was checked to fail with that bug applied by hand:
replay not comparing an operation's sub-type, the checkpoint limit's ``>`` turned into ``>=``,
a failed child context re-running its body on replay, and the too-many-invocations stop. The
wall-clock tests cover map/parallel's threaded path: peak concurrency, order and completion.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    MapConfig,
    ParallelConfig,
)
from aws_durable_execution_sdk_python.exceptions import ChildContextError

from durable_sim import (
    CheckpointTooLargeError,
    MemoryJournal,
    NonDeterminismError,
    WallClock,
    run_durable,
)
from durable_sim.durable import CHECKPOINT_LIMIT_BYTES, runtime


def _double(ctx: DurableContext, item: int, index: int, items: Any) -> int:
    return item * 2


def test_replay_compares_the_sub_type_map_replaced_by_parallel() -> None:
    """Bug: replay compares type and name only, so a `map` named "fan" replays as a `parallel`
    of the same name (both CONTEXT operations) and the workflow silently changes shape."""
    journal = MemoryJournal()

    def first(event: Any, ctx: DurableContext) -> None:
        ctx.map([1, 2], _double, name="fan")
        ctx.wait(Duration.from_seconds(1))
        raise KeyboardInterrupt  # stop at the replay after the wait, like a deploy in between

    with pytest.raises(KeyboardInterrupt):
        run_durable(first, None, journal=journal, execution_id="shape")

    def second(event: Any, ctx: DurableContext) -> list[int]:
        batch = ctx.parallel([lambda c: 2, lambda c: 4], name="fan")
        return list(batch.get_results())

    run = run_durable(second, None, journal=journal, execution_id="shape")
    assert run.status == "FAILED"
    assert isinstance(run.error, NonDeterminismError)
    assert "Map" in run.error.journaled and "Parallel" in run.error.new


def _step_run(size: int) -> Any:
    return run_durable(lambda e, ctx: ctx.step(lambda _: "x" * size, name="blob") and None, None)


def test_checkpoint_limit_is_inclusive_and_the_first_failure_is_one_byte_over() -> None:
    """Bug: `size > limit` became `size >= limit`. Whatever the engine measures, the smallest
    payload that fails must measure exactly limit + 1 bytes (AWS: 256 KB passes)."""
    low, high = 0, CHECKPOINT_LIMIT_BYTES + 4096  # low passes, high fails
    assert _step_run(low).status == "SUCCEEDED"
    assert isinstance(_step_run(high).error, CheckpointTooLargeError)
    while high - low > 1:
        mid = (low + high) // 2
        if isinstance(_step_run(mid).error, CheckpointTooLargeError):
            high = mid
        else:
            low = mid
    error = _step_run(high).error
    assert isinstance(error, CheckpointTooLargeError)
    assert error.size == CHECKPOINT_LIMIT_BYTES + 1
    assert _step_run(low).status == "SUCCEEDED"


def test_a_failed_child_context_is_replayed_without_running_its_body() -> None:
    """Bug: replay of a FAILED child context runs its body again (side effects twice)."""
    calls: Counter[str] = Counter()

    def bad(c: DurableContext) -> None:
        calls["body"] += 1
        raise LookupError("nothing here")

    def handler(event: Any, ctx: DurableContext) -> list[str]:
        seen = []
        try:
            ctx.run_in_child_context(bad, name="bad")
        except ChildContextError as exc:
            seen.append(exc.error_type)
        ctx.wait(Duration.from_seconds(1))  # the second invocation replays the failed child
        return seen

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", ["LookupError"])
    assert run.metrics.invocations == 2
    assert calls["body"] == 1
    assert run.operation("bad").status == "FAILED"


def test_too_many_invocations_stops_a_workflow_that_never_finishes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "MAX_INVOCATIONS", 5)

    def forever(event: Any, ctx: DurableContext) -> None:
        while True:
            ctx.wait(Duration.from_seconds(1))

    run = run_durable(forever, None, execution_id="loop")
    assert run.status == "FAILED"
    assert isinstance(run.error, runtime.TooManyInvocationsError)
    assert "'loop' suspended 5 times without finishing" in str(run.error)
    assert run.metrics.invocations == 6


class _Gauge:
    """Counts branches running at once, from inside step bodies on worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.started: list[int] = []

    def work(self, index: int, seconds: float = 0.05) -> int:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.started.append(index)
        time.sleep(seconds)
        with self.lock:
            self.active -= 1
        return index * 10


def test_map_on_the_wall_clock_runs_branches_on_threads_up_to_max_concurrency() -> None:
    gauge = _Gauge()

    def item(ctx: DurableContext, value: int, index: int, items: Any) -> int:
        return ctx.step(lambda _: gauge.work(value), name=f"work-{index}")

    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        batch = ctx.map(list(range(8)), item, name="fan", config=MapConfig(max_concurrency=3))
        return {"results": batch.get_results(), "reason": batch.completion_reason.value}

    run = run_durable(handler, None, clock=WallClock())
    assert run.status == "SUCCEEDED"
    assert run.result == {"results": [i * 10 for i in range(8)], "reason": "ALL_COMPLETED"}
    assert gauge.peak == 3  # reached, never exceeded
    assert sorted(gauge.started) == list(range(8))
    assert run.metrics.elapsed_ms >= 3 * 50  # 8 branches of 50 ms on 3 threads: 3 rounds


def test_parallel_on_the_wall_clock_keeps_input_order() -> None:
    gauge = _Gauge()
    delays = [0.08, 0.01, 0.05, 0.02, 0.03]

    def branch(i: int) -> Any:
        return lambda c: c.step(lambda _: gauge.work(i, delays[i]), name=f"b{i}")

    def handler(event: Any, ctx: DurableContext) -> list[int]:
        batch = ctx.parallel(
            [branch(i) for i in range(5)], config=ParallelConfig(max_concurrency=2)
        )
        return list(batch.get_results())

    run = run_durable(handler, None, clock=WallClock())
    assert run.result == [0, 10, 20, 30, 40]  # input order, not finishing order
    assert gauge.peak == 2


def test_min_successful_on_the_wall_clock_stops_starting_branches() -> None:
    gauge = _Gauge()

    def item(ctx: DurableContext, value: int, index: int, items: Any) -> int:
        return ctx.step(lambda _: gauge.work(value), name=f"work-{index}")

    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        config = MapConfig(max_concurrency=2, completion_config=CompletionConfig(min_successful=2))
        batch = ctx.map(list(range(10)), item, name="fan", config=config)
        return {"succeeded": len(batch.succeeded()), "reason": batch.completion_reason.value}

    run = run_durable(handler, None, clock=WallClock())
    assert run.status == "SUCCEEDED"
    assert run.result["reason"] == "MIN_SUCCESSFUL_REACHED"
    assert run.result["succeeded"] >= 2
    # Once two have succeeded no new branch starts: at most the two slots' next pair ran too.
    assert 2 <= len(gauge.started) <= 4 < 10
