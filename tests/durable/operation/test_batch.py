"""``map`` and ``parallel``: the SDK's concurrency rules on the virtual clock (and on threads),
order, completion decided at the moment it fires, FLAT nesting, large results."""

from __future__ import annotations

import gc
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, StepContext
from aws_durable_execution_sdk_python.config import (
    ChildConfig,
    CompletionConfig,
    CompletionDecision,
    CompletionOutcome,
    CompletionStatus,
    Duration,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    complete_batch,
    continue_batch,
)
from aws_durable_execution_sdk_python.exceptions import (
    ChildContextError,
    DurableOperationError,
    OrphanedChildException,
    RetryableSerDesError,
    ValidationError,
)
from aws_durable_execution_sdk_python.lambda_service import OperationStatus
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES, SerDes, SerDesContext

from durable_sim import MemoryJournal, SimulatedCrash, SqliteJournal, WallClock, run_durable
from durable_sim.attribution import Trace
from durable_sim.clock import VirtualClock, current_clock, observe_clocks
from durable_sim.durable.history import export_history
from durable_sim.durable.journal.records import encode_json
from durable_sim.durable.runtime import MAX_FAILED_INVOCATIONS
from durable_sim.latency import ZERO, Dist, LatencyProfile
from durable_sim.machine import Cpu

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


# -- completion decided at the moment its criterion fires (fault kind 1) ----------------------


def test_min_successful_reports_min_successful_reached_for_map_and_parallel() -> None:
    first = CompletionConfig(min_successful=1)

    def handler(event: Any, ctx: DurableContext) -> list[str]:
        mapped = ctx.map(
            [0, 1, 2], lambda ctx, x, i, xs: x, config=MapConfig(completion_config=first)
        )
        par = ctx.parallel(
            [lambda c: 0, lambda c: 1, lambda c: 2], config=ParallelConfig(completion_config=first)
        )
        return [mapped.completion_reason.value, par.completion_reason.value]

    run = run_durable(handler, None)
    assert run.result == ["MIN_SUCCESSFUL_REACHED", "MIN_SUCCESSFUL_REACHED"]


def test_a_suspended_branch_keeps_its_concurrency_slot() -> None:
    starts: dict[int, float] = {}

    def handler(event: Any, ctx: DurableContext) -> list[int]:
        def item(c: DurableContext, x: int, i: int, xs: Sequence[int]) -> int:
            c.step(lambda _: starts.setdefault(x, c.clock.now_ms()), name="start")
            if x == 0:
                c.wait(Duration.from_seconds(10))
            return x

        return ctx.map([0, 1], item, config=MapConfig(max_concurrency=1)).get_results()

    run = run_durable(handler, None)
    assert run.result == [0, 1]
    # Item 1 starts only once item 0, waiting 10 s, has finished and freed the only slot.
    assert starts == {0: 0.0, 1: 10_000.0}
    assert run.metrics.invocations == 2  # every branch in flight waited: the batch suspended


def test_branches_resume_in_the_same_invocation_while_others_run() -> None:
    def handler(event: Any, ctx: DurableContext) -> list[str]:
        def waits(c: DurableContext) -> str:
            c.wait(Duration.from_seconds(2))
            return "waited"

        def works(c: DurableContext) -> str:
            for i in range(5):
                c.step(lambda _, i=i: i, name=f"w{i}")  # 5 x 1 s of work
            return "worked"

        return ctx.parallel([waits, works]).get_results()

    profile = STEP_ONLY.__class__(name="step-1s", step=STEP_ONLY.step.scaled(10))
    run = run_durable(handler, None, profile=profile)
    assert run.result == ["waited", "worked"]
    assert run.metrics.invocations == 1  # the wait ended while "works" still ran
    assert run.metrics.elapsed_ms == 5_000.0


def test_a_custom_check_sees_every_item_and_is_consulted_before_any_branch_starts() -> None:
    snapshots: list[list[str | None]] = []

    def should_complete(status: CompletionStatus) -> CompletionDecision:
        snapshots.append([i.status.value if i.status else None for i in status.items])
        if status.success_count >= 2:
            return complete_batch()
        return continue_batch()

    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        config = MapConfig(
            max_concurrency=1, completion_config=CompletionConfig(should_complete=should_complete)
        )
        result = ctx.map([10, 20, 30, 40], lambda c, x, i, xs: x, config=config)
        return {"reason": result.completion_reason.value, "items": len(result.all)}

    run = run_durable(handler, None)
    assert run.result == {"reason": "CUSTOM_COMPLETION_SUCCEEDED", "items": 2}
    assert snapshots[0] == [None, None, None, None]  # before the first branch starts
    assert snapshots[-1] == ["SUCCEEDED", "SUCCEEDED", None, None]

    def never_start(status: CompletionStatus) -> CompletionDecision:
        return complete_batch(CompletionOutcome.FAILED)

    def nothing(event: Any, ctx: DurableContext) -> list[Any]:
        config = ParallelConfig(completion_config=CompletionConfig(should_complete=never_start))
        result = ctx.parallel([lambda c: 1], config=config)
        return [result.completion_reason.value, len(result.all), result.status.value]

    assert run_durable(nothing, None).result == ["CUSTOM_COMPLETION_FAILED", 0, "FAILED"]


def test_failure_tolerance_is_exceeded_at_the_failure() -> None:
    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        def item(c: DurableContext, x: int, i: int, xs: Sequence[int]) -> int:
            c.step(lambda _: x, name="v")
            if x == 1:
                raise ValueError("bad item")
            return x

        config = MapConfig(completion_config=CompletionConfig(tolerated_failure_count=0))
        result = ctx.map([0, 1, 2, 3], item, config=config)
        return {
            "reason": result.completion_reason.value,
            "statuses": [i.status.value for i in result.all],
        }

    steps = {i: STEP_MS * (i + 1) for i in range(4)}  # item i takes (i + 1) steps' time
    profile = STEP_ONLY

    def slow(event: Any, ctx: DurableContext) -> dict[str, Any]:
        def item(c: DurableContext, x: int, i: int, xs: Sequence[int]) -> int:
            for k in range(x + 1):
                c.step(lambda _, k=k: k, name=f"v{k}")
            if x == 1:
                raise ValueError("bad item")
            return x

        config = MapConfig(completion_config=CompletionConfig(tolerated_failure_count=0))
        result = ctx.map([0, 1, 2, 3], item, config=config)
        return {
            "reason": result.completion_reason.value,
            "statuses": [i.status.value for i in result.all],
        }

    run = run_durable(slow, None, profile=profile)
    # Item 0 ends at 100 ms, item 1 fails at 200 ms: the batch completes then; items 2 and 3
    # (due at 300 and 400 ms) are still running and reported STARTED.
    assert run.result == {
        "reason": "FAILURE_TOLERANCE_EXCEEDED",
        "statuses": ["SUCCEEDED", "FAILED", "STARTED", "STARTED"],
    }
    assert run.metrics.elapsed_ms == steps[1]
    # The orphaned items' later checkpoints were dropped: no end record for them.
    ops = {op.id: op.status for op in run.operations}
    assert (ops["1.3"], ops["1.4"]) == ("STARTED", "STARTED")
    assert run_durable(handler, None).result["reason"] == "FAILURE_TOLERANCE_EXCEEDED"


def test_flat_nesting_journals_no_item_contexts_and_keeps_the_results(calls: Counter[str]) -> None:
    def handler(event: Any, ctx: DurableContext) -> list[int]:
        def item(c: DurableContext, x: int, i: int, xs: Sequence[int]) -> int:
            calls[f"item{x}"] += 1
            v = c.step(lambda _: x * 10, name="v")
            c.wait(Duration.from_seconds(1))
            return v + 1

        nesting = NestingType[event]
        return ctx.map([1, 2], item, config=MapConfig(nesting_type=nesting)).get_results()

    flat = run_durable(handler, "FLAT")
    nested = run_durable(handler, "NESTED")
    assert flat.result == nested.result == [11, 21]
    assert [op.type for op in flat.operations] == ["CONTEXT", "STEP", "WAIT", "STEP", "WAIT"]
    assert {op.parent_id for op in flat.operations if op.type != "CONTEXT"} == {"1"}
    assert [op.sub_type for op in nested.operations].count("MapIteration") == 2
    assert calls == {"item1": 4, "item2": 4}  # each replayed once per run, in both modes


def test_a_large_batch_result_is_rebuilt_from_its_recorded_completion_decision() -> None:
    chunk = "x" * 100_000

    def handler(event: Any, ctx: DurableContext) -> list[Any]:
        def item(c: DurableContext, x: int, i: int, xs: Sequence[int]) -> str:
            return c.step(lambda _: chunk + str(x), name="part")

        config = MapConfig(max_concurrency=1, completion_config=CompletionConfig(min_successful=3))
        result = ctx.map([0, 1, 2, 3, 4], item, config=config)
        ctx.wait(Duration.from_seconds(1))  # the next invocation replays the map
        return [
            result.completion_reason.value,
            [len(r) for r in result.get_results()],
            len(result.all),
        ]

    run = run_durable(handler, None)
    assert run.result == ["MIN_SUCCESSFUL_REACHED", [100_001] * 3, 3]
    batch = next(op for op in run.operations if op.sub_type == "Map")
    envelope = json.loads(batch.result_json or "")
    assert (envelope["completionReason"], envelope["totalCount"]) == ("MIN_SUCCESSFUL_REACHED", 3)
    assert envelope["type"] == "MapResult"  # the SDK's envelope names the result's kind
    assert batch.status == "SUCCEEDED" and run.metrics.invocations == 2


def test_wall_clock_branches_run_on_threads_within_max_concurrency() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        def item(c: DurableContext, x: int, i: int, xs: Sequence[int]) -> int:
            def work(_: Any) -> int:
                nonlocal active, peak
                with lock:
                    active += 1
                    peak = max(peak, active)
                time.sleep(0.03)
                with lock:
                    active -= 1
                return x * x

            return c.step(work, name="sq")

        config = MapConfig(max_concurrency=3)
        everything = ctx.map(list(range(7)), item, config=config)
        first = ctx.map(
            list(range(4)),
            item,
            config=MapConfig(
                max_concurrency=2, completion_config=CompletionConfig(min_successful=1)
            ),
        )
        return {
            "results": everything.get_results(),
            "reason": first.completion_reason.value,
            "first": first.succeeded()[0].result in {0, 1},
            "started": len(first.all),  # two in flight when the first success completed it
        }

    run = run_durable(handler, None, clock=WallClock())
    assert run.status == "SUCCEEDED", run.error
    assert run.result == {
        "results": [0, 1, 4, 9, 16, 25, 36],
        "reason": "MIN_SUCCESSFUL_REACHED",
        "first": True,
        "started": 2,
    }
    assert peak == 3


# -- time: branches' CPU work on the machine's cores, and where a branch's time goes ----------

CHECKPOINT_MS = 5.0
CHECKPOINT_ONLY = LatencyProfile(name="test-checkpoint-only", checkpoint=Dist(CHECKPOINT_MS))


def cpu_step(c: DurableContext, cpu: Cpu, ms: float, name: str) -> float:
    """A step doing `ms` of CPU work on `cpu`; returns the time it ended."""

    def work(_: Any) -> float:
        cpu.run(current_clock(), ms)
        return current_clock().now_ms()

    return c.step(work, name=name)


def traced_run(handler: Any, profile: LatencyProfile = ZERO) -> tuple[Any, dict[str, float]]:
    """Run `handler` on a traced virtual clock; the run and its time split by component."""
    clock, trace = VirtualClock(), Trace()
    with observe_clocks(trace):
        run = run_durable(handler, None, clock=clock, profile=profile)
    end = clock.now_ms()
    times = trace.breakdown(clock, end - run.metrics.elapsed_ms, end)
    assert sum(times.values()) == pytest.approx(run.metrics.elapsed_ms, abs=1e-9)
    return run, times


@pytest.mark.parametrize(
    ("cores", "ends", "queueing"),
    [(1, [100, 200, 300, 400], 300), (2, [100, 100, 200, 200], 100), (4, [100] * 4, 0)],
)
def test_cpu_work_of_concurrent_branches_contends_for_the_cores(
    cores: int, ends: list[float], queueing: float
) -> None:
    cpu = Cpu(cores)

    def handler(event: Any, ctx: DurableContext) -> list[float]:
        items = [0, 1, 2, 3]
        return ctx.map(items, lambda c, x, i, xs: cpu_step(c, cpu, 100.0, f"w{x}")).get_results()

    run, times = traced_run(handler)
    assert run.result == ends  # first come, first served on the cores, in index order
    assert run.metrics.elapsed_ms == max(ends)
    assert (times["compute"], times["queueing"]) == (100.0, queueing)


def test_a_branch_waiting_for_a_max_concurrency_slot_is_queueing() -> None:
    cpu = Cpu(4)

    def handler(event: Any, ctx: DurableContext) -> list[float]:
        config = MapConfig(max_concurrency=1)
        body = lambda c, x, i, xs: cpu_step(c, cpu, 100.0, f"w{x}")  # noqa: E731
        return ctx.map([0, 1, 2], body, config=config).get_results()

    run, times = traced_run(handler)
    assert run.result == [100.0, 200.0, 300.0]
    assert (times["compute"], times["queueing"]) == (100.0, 200.0)


def test_a_branch_retried_in_process_waits_its_timer_then_the_refresh_call() -> None:
    cpu = Cpu(2)
    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=2,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
        )
    )

    def flaky(sc: Any) -> float:
        cpu.run(current_clock(), 100.0 if sc.attempt == 1 else 2000.0)
        if sc.attempt == 1:
            raise RuntimeError("first attempt fails")
        return current_clock().now_ms()

    def handler(event: Any, ctx: DurableContext) -> list[float]:
        def item(c: DurableContext, x: int, i: int, xs: Any) -> float:
            if x == 0:
                return c.step(flaky, name="flaky", config=StepConfig(retry_strategy=retry))
            return cpu_step(c, cpu, 1500.0, "steady")  # still running when the retry is due

        return ctx.map([0, 1], item).get_results()

    run, times = traced_run(handler, CHECKPOINT_ONLY)
    assert run.metrics.invocations == 1 and run.metrics.retries == 1  # resumed in process
    # Item 0's path: 100 ms of work, its RETRY checkpoint, the 1 s timer, the refresh call
    # that resumed it, 2,000 ms of work, its step's and its branch's SUCCEED; then the map's.
    assert (times["compute"], times["retry_backoff"]) == (2100.0, 1000.0)
    assert times["checkpoint"] == 5 * CHECKPOINT_MS
    assert times["queueing"] == 0.0
    assert run.metrics.elapsed_ms == 3100.0 + 5 * CHECKPOINT_MS


def test_nested_batches_book_the_cores_in_virtual_time_order() -> None:
    cpu = Cpu(2)

    def handler(event: Any, ctx: DurableContext) -> list[Any]:
        def inner(c: DurableContext) -> list[float]:
            body = lambda c2, x, i, xs: cpu_step(c2, cpu, 100.0, f"w{x}")  # noqa: E731
            return c.map([0, 1], body).get_results()

        def single(c: DurableContext) -> float:
            return cpu_step(c, cpu, 150.0, "single")

        return ctx.parallel([inner, single]).get_results()

    run, times = traced_run(handler)
    # The inner map's two items take both cores at 0; the sibling waits for one until 100.
    assert run.result == [[100.0, 100.0], 250.0]
    assert (times["compute"], times["queueing"]) == (150.0, 100.0)


def test_a_virtual_batch_pauses_the_collector_only_while_it_runs() -> None:
    seen: list[bool] = []

    def item(ctx: Any, x: int, i: int, xs: Any) -> int:
        seen.append(gc.isenabled())
        return ctx.step(lambda _: x * 2, name="double")

    def handler(event: Any, ctx: Any) -> list[int]:
        seen.append(gc.isenabled())
        return ctx.map([1, 2, 3], item).get_results()

    assert gc.isenabled()
    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", [2, 4, 6])
    assert seen == [True, False, False, False]
    assert gc.isenabled()


def _snapshot(result: Any) -> list[Any]:
    """A BatchResult's items as plain values: status, result size, error fields."""
    items = []
    for item in result.all:
        error = item.error
        items.append(
            [
                item.index,
                item.status.value,
                len(item.result) if isinstance(item.result, str) else item.result,
                None
                if error is None
                else [error.type, error.message, error.data, error.stack_trace],
            ]
        )
    return [result.completion_reason.value, items]


@pytest.mark.parametrize("summary", [False, True])
def test_a_large_batch_result_replays_its_failed_and_started_branches_as_recorded(
    summary: bool,
) -> None:
    """Rebuilt on replay (the SDK's ``ConcurrentExecutor.replay``), a result too large to store
    has the first run's items: succeeded branches' values, a failed branch's error fields, a
    branch still running at completion as STARTED; with the config's own summary generator
    too (its summary is stored beside the recorded decision)."""
    chunk = "x" * 150_000  # two of them are over the 256 KiB limit
    snapshots: list[list[Any]] = []

    def big(c: DurableContext) -> str:
        return c.step(lambda _: chunk, name="part")

    def broken(c: DurableContext) -> str:
        raise DurableOperationError("bad", data="d", stack_trace=["t"])

    def slow(c: DurableContext) -> str:
        c.wait(Duration.from_seconds(60))
        return "late"

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(
            completion_config=CompletionConfig(min_successful=2, tolerated_failure_count=1),
            summary_generator=(lambda result: "summary") if summary else None,
        )
        result = ctx.parallel([big, broken, slow, big], config=config)
        snapshots.append(_snapshot(result))
        ctx.wait(Duration.from_seconds(1))  # the next invocation replays the parallel
        return "done"

    run = run_durable(handler, None)
    assert run.result == "done" and run.metrics.invocations == 2
    batch = next(op for op in run.operations if op.sub_type == "Parallel")
    envelope = json.loads(batch.result_json or "")  # the completion decision, not the result
    assert envelope["type"] == "ParallelResult"
    assert (envelope["startedIndexes"], envelope.get("summary")) == (
        [2],
        "summary" if summary else None,
    )
    failed = [
        "aws_durable_execution_sdk_python.exceptions.DurableOperationError",
        "bad",
        "d",
        ["t"],
    ]
    assert snapshots[0] == snapshots[1]
    assert snapshots[0] == [
        "MIN_SUCCESSFUL_REACHED",
        [
            [0, "SUCCEEDED", 150_000, None],
            [1, "FAILED", None, failed],
            [2, "STARTED", None, None],
            [3, "SUCCEEDED", 150_000, None],
        ],
    ]


def _invocations(history: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Each invocation's (start, end) from an exported history, in order."""
    return [
        (e["InvocationCompletedDetails"]["StartTimestamp"], e["EventTimestamp"])
        for e in history
        if e["EventType"] == "InvocationCompleted"
    ]


def _events(history: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The events of type `kind`, by operation id."""
    return {e["Id"]: e for e in history if e["EventType"] == kind}


@pytest.mark.slow  # 2 s of real waits
def test_wall_clock_branches_resume_in_process_at_their_time_and_suspend_together() -> None:
    """On threads as on the virtual timeline: a branch waiting 1 s resumes in the same
    invocation while another still works (its step blocks until the waiting branch has run
    on), at its time; when every branch in flight waits, the batch suspends until the
    earliest wait is due, and the next invocation resumes every branch due by its start.

    It formerly slept 1.5 s in the working step and counted on the waiting branch to come
    first, and counted on both waits (started a thread switch apart) being due when the
    second invocation started: on a loaded host either slipped (7 failures in 30 runs beside
    three busy loops). Now the order is forced by an event, and what is timed is read from the
    run's own history, so the assertions hold at any load."""
    waited = threading.Event()

    def waiting(c: DurableContext) -> str:
        c.wait(Duration.from_seconds(1))
        c.step(lambda _: waited.set(), name="after")
        return "waited"

    def working(c: DurableContext) -> str:
        # Ends only once the waiting branch ran on in this invocation (a minute at most: the
        # run then fails below instead of hanging).
        c.step(lambda _: waited.wait(60), name="work")
        return "worked"

    def handler(event: Any, ctx: DurableContext) -> Any:
        branches = [waiting, working] if event == "mixed" else [waiting, waiting]
        return ctx.parallel(branches, config=ParallelConfig(max_concurrency=2)).get_results()

    mixed = run_durable(handler, "mixed", clock=WallClock())
    assert (mixed.status, mixed.result) == ("SUCCEEDED", ["waited", "worked"]), mixed.error
    assert mixed.metrics.invocations == 1  # resumed in process while the other worked
    history = export_history(mixed)
    (wait,) = _events(history, "WaitStarted").values()
    after = next(e for e in _events(history, "StepStarted").values() if e["Name"] == "after")
    assert after["EventTimestamp"] >= wait["WaitStartedDetails"]["ScheduledEndTimestamp"]
    work = next(e for e in _events(history, "StepSucceeded").values() if e["Name"] == "work")
    assert work["EventTimestamp"] >= after["EventTimestamp"]  # the wait came back first

    both = run_durable(handler, "waits", clock=WallClock())
    assert (both.status, both.result) == ("SUCCEEDED", ["waited", "waited"]), both.error
    history = export_history(both)
    invocations = _invocations(history)
    due = {
        e["ParentId"]: e["WaitStartedDetails"]["ScheduledEndTimestamp"]
        for e in _events(history, "WaitStarted").values()
    }
    started = {e["ParentId"]: e["EventTimestamp"] for e in _events(history, "StepStarted").values()}
    first_end, (second_start, second_end) = invocations[0][1], invocations[1]
    assert len(due) == len(started) == 2
    assert all(at > first_end for at in started.values())  # both suspended in the first
    assert second_start >= min(due.values())  # ... until the earliest was due
    for branch, at in due.items():  # ... and the second resumed each branch due by its start
        if at <= second_start:
            assert second_start <= started[branch] <= second_end
    if max(due.values()) <= second_start:
        assert len(invocations) == 2
    else:  # the later wait began a thread switch after the other, and was not yet due
        assert len(invocations) in (2, 3)


def test_a_failed_branch_item_carries_the_escaping_errors_type_and_message() -> None:
    """The SDK records a failed branch's own error (``ErrorObject.from_exception``): its
    type, unqualified for builtins, and its message."""

    def broken(c: DurableContext) -> str:
        raise ValueError("v")

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(completion_config=CompletionConfig(tolerated_failure_count=1))
        result = ctx.parallel([steps_branch(1, "ok"), broken], config=config)
        return [(item.index, item.error.type, item.error.message) for item in result.failed()]

    assert run_durable(handler, None).result == [[1, "ValueError", "v"]]


def test_a_max_concurrency_below_one_is_refused_naming_the_value() -> None:
    """The SDK's config refuses it when built; the engine refuses it too when a config's field
    was forced past that check (the frozen dataclass set directly)."""
    with pytest.raises(ValidationError, match="max_concurrency must be at least 1, got: 0"):
        MapConfig(max_concurrency=0)
    config = MapConfig()
    object.__setattr__(config, "max_concurrency", 0)

    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.map([1, 2], lambda c, x, i, xs: x, config=config)

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert str(run.error) == "max_concurrency must be at least 1 (or None for no limit), got 0"


def _too_large(c: DurableContext) -> str:
    return c.step(lambda _: "x" * 300_000, name="huge")  # over the 256 KiB checkpoint limit


@pytest.mark.parametrize("clock", ["virtual", "wall"])
def test_an_error_that_ends_the_execution_stops_the_batch_at_once(clock: str) -> None:
    """A branch's checkpoint over AWS's limit fails the execution: the batch stops there and the
    error itself comes out of the map/parallel call, not a batch result with a failed item."""
    ran: list[int] = []
    seen: list[str] = []

    def later(c: DurableContext) -> int:
        for i in range(3):
            c.step(lambda _, i=i: ran.append(i), name=f"s{i}")
        return 1

    def handler(event: Any, ctx: DurableContext) -> Any:
        try:
            return ctx.parallel([_too_large, later]).get_results()
        except Exception as exc:
            seen.append(type(exc).__name__)
            raise

    on = {"virtual": {"profile": STEP_ONLY}, "wall": {"clock": WallClock()}}[clock]
    run = run_durable(handler, None, **on)  # type: ignore[arg-type]
    assert run.status == "FAILED"
    assert type(run.error).__name__ == "CheckpointTooLargeError"
    assert seen == ["CheckpointTooLargeError"]
    if clock == "virtual":  # both first steps end at 100 ms; index 0 reports first
        assert ran == []


def _crashes(c: DurableContext) -> str:
    return c.step(lambda _: _raise(SimulatedCrash("process died in a branch")), name="dies")


def _raise(exc: BaseException) -> Any:
    raise exc


@pytest.mark.parametrize("when", ["at the decision", "after the decision"])
def test_a_crash_in_a_branch_that_outlives_the_decision_crashes_the_invocation(when: str) -> None:
    """A process crash kills the invocation wherever it happens: in a branch that ended at the
    instant the batch completed (its outcome is kept), or in an orphan running on to its next
    checkpoint."""

    def later(c: DurableContext) -> str:
        c.step(lambda _: 1, name="first")  # 100 ms: the batch completes meanwhile
        return _crashes(c)

    crashing = _crashes if when == "at the decision" else later

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(completion_config=CompletionConfig(min_successful=1))
        return ctx.parallel([steps_branch(1, "ok"), crashing], config=config).get_results()

    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, profile=STEP_ONLY)


def _big(c: DurableContext) -> str:
    return c.step(lambda _: "x" * 150_000, name="part")  # two of them are over 256 KiB


def _broken(c: DurableContext) -> str:
    raise DurableOperationError("bad", data="d", stack_trace=["t"])


def _waits_for_answer(c: DurableContext) -> str:
    return c.create_callback(name="never").result()  # no timer: it stays STARTED


def _waits_a_minute(c: DurableContext) -> str:
    c.wait(Duration.from_seconds(60))
    return "late"


def _recorded_batch(
    last: Any, snapshots: list[list[Any]], first: Any = _big, nesting: str = "NESTED"
) -> Any:
    """A parallel whose result is too large to store, then a callback the test never answers:
    each invocation after the first rebuilds the parallel from its summary."""

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(
            completion_config=CompletionConfig(min_successful=2, tolerated_failure_count=1),
            nesting_type=NestingType[nesting],
        )
        result = ctx.parallel([first, _broken, last, _big], config=config)
        snapshots.append(_snapshot(result))
        return ctx.create_callback(name="go").result()

    return handler


FIRST_RUN = [
    "MIN_SUCCESSFUL_REACHED",
    [
        [0, "SUCCEEDED", 150_000, None],
        [
            1,
            "FAILED",
            None,
            [f"{DurableOperationError.__module__}.DurableOperationError", "bad", "d", ["t"]],
        ],
        [2, "STARTED", None, None],
        [3, "SUCCEEDED", 150_000, None],
    ],
]


def _strip_decision(path: Any, journal: SqliteJournal) -> None:
    """Rewrite the batch's summary as an SDK that predates the recorded completion decision
    wrote it: the envelope's view fields, no ``completionReason`` nor index set."""
    rec = journal.get_operation("e", "1")
    assert rec is not None and rec.replay_children
    envelope = json.loads(rec.result or "")
    legacy = {
        k: v
        for k, v in envelope.items()
        if k not in {"completionReason", "startedIndexes", "completedIndexes"}
    }
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE operations SET record=? WHERE op_id=?",
            (encode_json(rec.evolve(result=json.dumps(legacy)).to_dict()), "1"),
        )


def test_a_large_batch_result_without_a_recorded_decision_is_derived_from_its_branches(
    tmp_path: Any,
) -> None:
    """A summary with no completion decision (written before the SDK recorded one) replays as
    the SDK's ``_replay_from_checkpoints``: every branch from its own checkpoint (a branch
    still waiting stays STARTED), the reason inferred from the items and the batch's
    completion config (``BatchResult.from_items``)."""
    snapshots: list[list[Any]] = []
    handler = _recorded_batch(_waits_for_answer, snapshots)
    path = tmp_path / "journal.db"
    with SqliteJournal(path) as journal:
        assert run_durable(handler, None, journal=journal, execution_id="e").status == "PENDING"
        _strip_decision(path, journal)
        assert run_durable(handler, None, journal=journal, execution_id="e").status == "PENDING"
    assert snapshots == [FIRST_RUN, FIRST_RUN]


def test_a_branch_started_at_the_decision_stays_started_in_a_replay_without_a_record(
    tmp_path: Any,
) -> None:
    """Formerly a summary without a recorded decision re-ran every branch: the 60 s wait had
    come due, so item 2 became SUCCEEDED and the reason ALL_COMPLETED. The SDK's
    ``_replay_from_checkpoints`` derives each branch from its own checkpoint, and a STARTED one
    stays STARTED without running."""
    snapshots: list[list[Any]] = []
    handler = _recorded_batch(_waits_a_minute, snapshots)
    path = tmp_path / "journal.db"
    with SqliteJournal(path) as journal:
        assert run_durable(handler, None, journal=journal, execution_id="e").status == "PENDING"
        _strip_decision(path, journal)
        assert run_durable(handler, None, journal=journal, execution_id="e").status == "PENDING"
    assert snapshots[-1] == FIRST_RUN


def test_a_branch_recorded_started_stays_started_although_its_timer_has_fired() -> None:
    """The recorded decision is obeyed as the SDK's replay does: a branch recorded STARTED is
    reported STARTED without running it, even when its wait has come due (at 60 s the timer
    re-invokes the execution)."""
    snapshots: list[list[Any]] = []
    run = run_durable(_recorded_batch(_waits_a_minute, snapshots), None)
    assert run.status == "PENDING" and run.metrics.invocations == 2
    assert snapshots == [FIRST_RUN, FIRST_RUN]
    assert run.operation("parallel-branch-2").status == "STARTED"  # never run to its end


def test_a_crash_while_a_large_batch_result_is_rebuilt_crashes_the_invocation() -> None:
    """FLAT branches journal no context of their own: rebuilding the result runs their bodies
    again over their inner checkpoints, and a crash there kills the invocation."""
    calls: list[int] = []

    def big_once(c: DurableContext) -> str:
        calls.append(len(calls))
        if len(calls) > 1:  # the process dies while the next invocation replays the branch
            raise SimulatedCrash("process died in a replayed branch")
        return _big(c)

    snapshots: list[list[Any]] = []
    with pytest.raises(SimulatedCrash):
        run_durable(_recorded_batch(_waits_a_minute, snapshots, big_once, "FLAT"), None)
    assert snapshots == [FIRST_RUN] and calls == [0, 1]


def test_a_custom_check_is_consulted_at_each_branch_event_with_every_items_state() -> None:
    """The SDK's coordinator asks `should_complete` before the first branch starts and after
    each branch event (a start, an end, a suspension), with each item's index, name and
    status (a suspended branch is STARTED); never twice for one event."""
    calls: list[tuple[int, int, list[tuple[int, str | None, str | None]]]] = []

    def check(status: CompletionStatus) -> CompletionDecision:
        items = [(i.index, i.name, i.status.value if i.status else None) for i in status.items]
        calls.append((status.success_count, status.failure_count, items))
        return complete_batch() if status.success_count >= 2 else continue_batch()

    def waits(c: DurableContext) -> str:
        c.wait(Duration.from_seconds(1))
        return "c"

    def handler(event: Any, ctx: DurableContext) -> Any:
        branches = [
            ParallelBranch(steps_branch(1, "a"), name="a"),
            ParallelBranch(steps_branch(2, "b"), name="b"),
            ParallelBranch(waits, name="c"),
        ]
        config = ParallelConfig(
            max_concurrency=2, completion_config=CompletionConfig(should_complete=check)
        )
        result = ctx.parallel(branches, config=config)
        return [result.completion_reason.value, [i.status.value for i in result.all]]

    run = run_durable(handler, None, profile=STEP_ONLY)
    assert run.result == ["CUSTOM_COMPLETION_SUCCEEDED", ["SUCCEEDED", "SUCCEEDED", "STARTED"]]
    S, R = "SUCCEEDED", "STARTED"
    assert calls == [
        (0, 0, [(0, "a", None), (1, "b", None), (2, "c", None)]),  # before any branch starts
        (0, 0, [(0, "a", R), (1, "b", R), (2, "c", None)]),  # a and b started
        (1, 0, [(0, "a", S), (1, "b", R), (2, "c", None)]),  # a ended at 100 ms
        (1, 0, [(0, "a", S), (1, "b", R), (2, "c", R)]),  # c took a's slot
        (1, 0, [(0, "a", S), (1, "b", R), (2, "c", R)]),  # c suspended in its wait
        (2, 0, [(0, "a", S), (1, "b", S), (2, "c", R)]),  # b ended at 200 ms: complete
    ]
    assert run.metrics.elapsed_ms == 2 * STEP_MS


def test_an_orphan_runs_on_to_its_next_checkpoint_which_is_dropped() -> None:
    """A branch still running when the batch completes runs on (its own time no longer
    holds up anyone) until its next checkpoint, which the service never gets: it stays STARTED,
    its step's SUCCEED is not in the journal."""
    ran: list[str] = []

    def slow(c: DurableContext) -> str:
        def body(_: Any) -> str:
            current_clock().charge(250.0)  # work inside the step, past the decision
            current_clock().charge(250.0)
            ran.append("slow body")
            return "slow"

        return c.step(body, name="slow step")

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(completion_config=CompletionConfig(min_successful=1))
        result = ctx.parallel([steps_branch(1, "quick"), slow], config=config)
        return [result.completion_reason.value, [i.status.value for i in result.all]]

    run = run_durable(handler, None, profile=STEP_ONLY)
    assert run.result == ["MIN_SUCCESSFUL_REACHED", ["SUCCEEDED", "STARTED"]]
    assert ran == ["slow body"]
    assert run.operation("slow step").status == "STARTED"  # its SUCCEED was dropped
    assert run.metrics.elapsed_ms == STEP_MS


def test_a_branch_failing_at_the_instant_of_the_decision_keeps_its_failure() -> None:
    """Branches ending at the moment the batch completes keep their outcome (a failure too),
    without changing the completion reason of that moment."""

    def fails(c: DurableContext) -> str:
        c.step(lambda _: 1, name="work")  # ends at 100 ms, as the quick branch does
        raise ValueError("late failure")

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(completion_config=CompletionConfig(min_successful=1))
        result = ctx.parallel([steps_branch(1, "quick"), fails, fails], config=config)
        return [
            result.completion_reason.value,
            [i.status.value for i in result.all],
            [(i.index, i.error.message) for i in result.failed() if i.error],
        ]

    run = run_durable(handler, None, profile=STEP_ONLY)
    assert run.result == [
        "MIN_SUCCESSFUL_REACHED",
        ["SUCCEEDED", "FAILED", "FAILED"],
        [[1, "late failure"], [2, "late failure"]],
    ]


def test_at_one_instant_a_branch_that_ended_earlier_reports_before_new_work() -> None:
    """In the invocation that resumes a batch, a branch that ended in an earlier invocation
    only replays (no call to the service), so at one instant it reports before branches that
    do new work, which report in index order. Here that decides the reason: the replayed
    success and branch 0's success reach min_successful before branch 1's failure."""

    def after_wait(fail: bool) -> Any:
        def branch(c: DurableContext) -> str:
            c.wait(Duration.from_seconds(1))
            if fail:
                raise ValueError("fails after its wait")
            return "waited"

        return branch

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(
            completion_config=CompletionConfig(min_successful=2, tolerated_failure_count=0)
        )
        result = ctx.parallel([after_wait(False), after_wait(True), lambda c: "now"], config=config)
        return [result.completion_reason.value, [i.status.value for i in result.all]]

    run = run_durable(handler, None)
    assert run.metrics.invocations == 2
    assert run.result == ["MIN_SUCCESSFUL_REACHED", ["SUCCEEDED", "FAILED", "SUCCEEDED"]]


def test_a_nested_batch_suspended_until_a_time_resumes_in_process() -> None:
    """An inner batch whose branches all wait suspends until the earliest of their times; the
    outer batch resumes it then, in the same invocation, while its other branch works."""
    resumed: list[float] = []

    def inner(c: DurableContext) -> Any:
        def waits(cc: DurableContext) -> str:
            cc.wait(Duration.from_seconds(1))
            cc.step(lambda _: resumed.append(current_clock().now_ms()), name="after")
            return "waited"

        return c.parallel([waits]).get_results()

    def works(c: DurableContext) -> str:
        for i in range(5):
            c.step(lambda _, i=i: i, name=f"w{i}")  # 5 x 1 s of work
        return "worked"

    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.parallel([inner, works]).get_results()

    profile = LatencyProfile(name="step-1s", step=Dist(1000.0))
    run = run_durable(handler, None, profile=profile)
    assert run.result == [["waited"], "worked"]
    assert run.metrics.invocations == 1
    assert resumed == [2000.0]  # its wait ended at 1 s, then its step took 1 s


def test_a_branch_step_found_waiting_for_its_retry_resumes_in_process_at_that_time() -> None:
    """A step whose retry is pending when its branch replays suspends until its journaled
    retry time, and the batch resumes it then while another branch works."""
    attempts: list[tuple[int, float]] = []

    def flaky(c: DurableContext) -> str:
        def body(step_ctx: StepContext) -> str:
            attempts.append((step_ctx.attempt, current_clock().now_ms()))
            if step_ctx.attempt == 1:
                raise LookupError("down")
            return "ok"

        retry = create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=2,
                initial_delay=Duration.from_seconds(3),
                jitter_strategy=JitterStrategy.NONE,
            )
        )
        return c.step(body, name="flaky", config=StepConfig(retry_strategy=retry))

    def works(c: DurableContext) -> str:
        c.wait(Duration.from_seconds(1))  # both wait: the first invocation ends
        c.step(lambda _: current_clock().charge(10_000.0), name="long")  # 1 s .. 11 s
        return "worked"

    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.parallel([flaky, works]).get_results()

    run = run_durable(handler, None)
    assert run.result == ["ok", "worked"]
    assert attempts == [(1, 0.0), (2, 3000.0)]
    assert run.metrics.invocations == 2


class _Tagged(SerDes[Any]):
    """The SDK's extended-type serdes, noting each operation id it encodes for."""

    def __init__(self, tag: str, seen: list[tuple[str, str]]) -> None:
        self.tag, self.seen = tag, seen

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        self.seen.append((self.tag, serdes_context.operation_id))
        return EXTENDED_TYPES_SERDES.serialize(value, serdes_context)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return EXTENDED_TYPES_SERDES.deserialize(data, serdes_context)


@pytest.mark.parametrize("items_too", [False, True])
def test_the_batch_serdes_encodes_the_batch_result_and_the_items_unless_they_have_their_own(
    items_too: bool,
) -> None:
    """The SDK's rule: ``item_serdes`` encodes each branch's result, else ``serdes`` does;
    ``serdes`` always encodes the batch's own result."""
    seen: list[tuple[str, str]] = []

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = MapConfig(
            serdes=_Tagged("batch", seen),
            item_serdes=_Tagged("item", seen) if items_too else None,
        )
        return ctx.map([1, 2], lambda c, x, i, xs: x * 10, config=config).get_results()

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", [10, 20])
    item = "item" if items_too else "batch"
    assert sorted(seen) == sorted([(item, "1.1"), (item, "1.2"), ("batch", "1")])


def test_an_empty_batch_completes_with_nothing_succeeded() -> None:
    counts: list[tuple[int, int, int]] = []

    def check(status: CompletionStatus) -> CompletionDecision:
        counts.append((status.success_count, status.failure_count, status.total_count))
        return complete_batch() if status.success_count >= 1 else continue_batch()

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = MapConfig(completion_config=CompletionConfig(should_complete=check))
        result = ctx.map([], lambda c, x, i, xs: x, config=config)
        return [result.completion_reason.value, len(result.all)]

    assert run_durable(handler, None).result == ["ALL_COMPLETED", 0]
    assert counts == [(0, 0, 0)]


def test_on_threads_a_custom_check_sees_each_branch_event_one_slot_at_a_time() -> None:
    """The thread-pool coordinator follows the same rules: the check before any branch starts
    and after each branch's event; one slot runs the branches one after another; when the only
    branch in flight waits for a callback, the batch suspends (the execution is PENDING)."""
    calls: list[list[str | None]] = []

    def check(status: CompletionStatus) -> CompletionDecision:
        calls.append([i.status.value if i.status else None for i in status.items])
        return continue_batch()

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(
            max_concurrency=1, completion_config=CompletionConfig(should_complete=check)
        )
        return ctx.parallel([lambda c: 0, lambda c: 1, _waits_for_answer], config=config)

    run = run_durable(handler, None, clock=WallClock())
    assert run.status == "PENDING", run.error
    S, R = "SUCCEEDED", "STARTED"
    assert calls == [
        [None, None, None],
        [S, None, None],
        [S, S, None],
        [S, S, R],
    ]


def test_on_threads_the_batch_returns_without_waiting_for_its_orphans() -> None:
    """A branch still running when the batch completes is left running (an orphan): the
    map/parallel returns at the decision, not when the orphan's thread ends (the invocation
    lets its threads end before it returns, as a Lambda invocation's process would)."""
    started, gate = threading.Event(), threading.Event()
    finished: list[str] = []

    def quick(c: DurableContext) -> str:
        started.wait(timeout=10.0)  # the other branch is inside its body
        return "quick"

    def held(c: DurableContext) -> str:
        started.set()
        gate.wait(timeout=10.0)
        finished.append("orphan")
        return "late"

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(completion_config=CompletionConfig(min_successful=1))
        try:
            result = ctx.parallel([quick, held], config=config)
            when_returned = list(finished)
        finally:
            gate.set()
        return [when_returned, result.completion_reason.value, [i.status.value for i in result.all]]

    run = run_durable(handler, None, clock=WallClock())
    assert run.result == [[], "MIN_SUCCESSFUL_REACHED", ["SUCCEEDED", "STARTED"]]


def test_each_in_process_resumption_waits_for_its_own_refresh_call() -> None:
    """A branch resumed in-process waits from its timer for the coordinator's refresh call (a
    checkpoint call of the profile's cost); two waves make two calls, each its own draw."""
    profile = LatencyProfile(name="random-checkpoint", checkpoint=Dist(10.0, 0.5))
    resumed: dict[str, float] = {}

    def waits(name: str, seconds: int) -> Any:
        def branch(c: DurableContext) -> str:
            c.wait(Duration.from_seconds(seconds))
            c.step(lambda _: resumed.setdefault(name, current_clock().now_ms()), name=name)
            return name

        return branch

    def works(c: DurableContext) -> str:
        c.step(lambda _: current_clock().charge(5000.0), name="work")
        return "worked"

    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.parallel([waits("a", 1), waits("b", 2), works]).get_results()

    run = run_durable(handler, None, profile=profile, seed=1)
    assert (run.result, run.metrics.invocations) == (["a", "b", "worked"], 1)
    assert run.journal is not None
    due = {
        entry.operation.id: entry.operation.due_ms
        for entry in run.journal.read_history(run.execution_id)
        if entry.operation is not None and entry.event_type == "WaitStarted"
    }
    refresh_a = resumed["a"] - (due["1.1.1"] or 0.0)
    refresh_b = resumed["b"] - (due["1.2.1"] or 0.0)
    assert refresh_a > 0 and refresh_b > 0
    assert refresh_a != pytest.approx(refresh_b)


def test_on_threads_an_orphans_next_checkpoint_is_refused() -> None:
    """A branch still running when the batch completes is an orphan: its next checkpoint is
    refused with the SDK's `OrphanedChildException`, so it never reaches the journal."""
    started, gate, ended = threading.Event(), threading.Event(), threading.Event()
    outcome: list[str] = []

    def quick(c: DurableContext) -> str:
        started.wait(timeout=10.0)  # the other branch is inside its body
        return "quick"

    def held(c: DurableContext) -> str:
        started.set()
        gate.wait(timeout=10.0)
        try:
            c.step(lambda _: 1, name="after the decision")
        except OrphanedChildException:
            outcome.append("refused")
            raise
        else:
            outcome.append("written")
        finally:
            ended.set()
        return "late"

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(completion_config=CompletionConfig(min_successful=1))
        try:
            return ctx.parallel([quick, held], config=config).completion_reason.value
        finally:
            gate.set()  # the orphan goes on to its next checkpoint

    run = run_durable(handler, None, clock=WallClock())
    assert ended.wait(timeout=10.0)
    assert (run.result, outcome) == ("MIN_SUCCESSFUL_REACHED", ["refused"])


def test_on_threads_a_nested_batch_resumes_in_process_then_suspends_with_its_parent() -> None:
    """On threads as on the virtual timeline: an inner batch whose only branch waits 1 s
    suspends until then, and its parent resumes it in-process at that time (after one refresh
    call) while its other branch still works; when the inner branch waits again (2 s) and the
    other branch has ended, nothing is in flight, so the execution suspends until then."""
    profile = LatencyProfile(name="checkpoint-1ms", checkpoint=Dist(1.0))
    resumed: list[int] = []

    def twice(c: DurableContext) -> str:
        c.wait(Duration.from_seconds(1))
        c.step(lambda _: resumed.append(1), name="between")
        c.wait(Duration.from_seconds(2))
        return "waited"

    def inner(c: DurableContext) -> Any:
        return c.parallel([twice]).get_results()

    def works(c: DurableContext) -> str:
        c.step(lambda _: time.sleep(1.5), name="work")  # 1.5 s of real work
        return "worked"

    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.parallel([inner, works]).get_results()

    run = run_durable(handler, None, clock=WallClock(), profile=profile)
    assert (run.status, run.result) == ("SUCCEEDED", [["waited"], "worked"]), run.error
    assert run.metrics.invocations == 2  # in-process at 1 s; suspended at 1.5 s until 3 s
    assert resumed == [1]


def _statuses(status: CompletionStatus) -> tuple[str | None, ...]:
    return tuple(i.status.value if i.status else None for i in status.items)


def test_on_threads_a_custom_check_is_asked_once_per_change_not_per_turn() -> None:
    """The SDK evaluates a ``should_complete`` check "at most once per state change": before
    the first branch starts and after each branch event, not again on the coordinator's turns
    that change nothing (a timer's wake-up, the in-process resumption of a waiting branch)."""
    calls: list[tuple[str | None, ...]] = []

    def check(status: CompletionStatus) -> CompletionDecision:
        calls.append(_statuses(status))
        return continue_batch()

    def waits(c: DurableContext) -> str:
        c.wait(Duration.from_seconds(1))
        return "waited"

    def works(c: DurableContext) -> str:
        c.step(lambda _: time.sleep(1.5), name="work")  # 1.5 s of real work
        return "worked"

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(completion_config=CompletionConfig(should_complete=check))
        return ctx.parallel([waits, works], config=config).get_results()

    run = run_durable(handler, None, clock=WallClock())
    assert (run.status, run.result, run.metrics.invocations) == (
        "SUCCEEDED",
        ["waited", "worked"],
        1,
    ), run.error
    # before any branch, then one per event: the wait's suspension and the two completions
    assert len(calls) == 4 and calls[0] == (None, None)
    assert calls[-1] == ("SUCCEEDED", "SUCCEEDED")


def test_on_threads_a_custom_check_sees_a_branch_started_in_a_freed_slot() -> None:
    """A branch started in a freed slot changes the state: the check is asked again before the
    coordinator's next turn even when that turn brings no branch event (here the timer of the
    branch that waits, due while the new branch still works)."""
    calls: list[tuple[str | None, ...]] = []
    waiting = threading.Event()

    def check(status: CompletionStatus) -> CompletionDecision:
        calls.append(_statuses(status))
        return continue_batch()

    def waits(c: DurableContext) -> str:
        waiting.set()
        c.wait(Duration.from_seconds(1))
        return "waited"

    def quick(c: DurableContext) -> str:
        assert waiting.wait(10.0)
        time.sleep(0.2)  # the other branch's suspension reaches the coordinator first
        return "quick"

    def works(c: DurableContext) -> str:
        c.step(lambda _: time.sleep(1.5), name="work")
        return "worked"

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(
            max_concurrency=2, completion_config=CompletionConfig(should_complete=check)
        )
        return ctx.parallel([waits, quick, works], config=config).get_results()

    run = run_durable(handler, None, clock=WallClock())
    assert (run.status, run.result) == ("SUCCEEDED", ["waited", "quick", "worked"]), run.error
    S, R = "SUCCEEDED", "STARTED"
    assert calls == [
        (None, None, None),
        (R, R, None),  # the first branch suspended
        (R, S, None),  # the second one completed: its slot goes to the third
        (R, S, R),  # the third one started (the timer of the first comes due next)
        (S, S, R),
        (S, S, S),
    ]


class _Draws:
    """A clock observer that keeps the costs the samplers of this thread draw."""

    def __init__(self) -> None:
        self.drawn: list[tuple[str, float]] = []

    def advanced(self, *args: Any, **kwargs: Any) -> None:
        pass

    def forked(self, *args: Any, **kwargs: Any) -> None:
        pass

    def note_charge(self, label: str, ms: float) -> None:
        self.drawn.append((label, ms))

    def take_charge_label(self, ms: float) -> str | None:
        return None


def test_on_threads_each_in_process_resumption_is_its_own_refresh_call() -> None:
    """Two waves (timers due at 1 s and 2 s while a branch still works) make two refresh
    calls, each its own draw of the profile's checkpoint cost, as on the virtual clock."""
    profile = LatencyProfile(name="random-checkpoint", checkpoint=Dist(2.0, 0.5))

    def waits(seconds: int) -> Any:
        def branch(c: DurableContext) -> int:
            c.wait(Duration.from_seconds(seconds))
            return seconds

        return branch

    def works(c: DurableContext) -> str:
        c.step(lambda _: time.sleep(2.5), name="work")
        return "worked"

    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.parallel([waits(1), waits(2), works]).get_results()

    with observe_clocks(_Draws()) as draws:  # the coordinator's thread: its calls, not branches'
        run = run_durable(handler, None, clock=WallClock(), profile=profile, seed=1)
    assert (run.result, run.metrics.invocations) == ([1, 2, "worked"], 1), run.error
    checkpoints = [ms for label, ms in draws.drawn if label == "checkpoint"]
    assert len(checkpoints) >= 2 and len(set(checkpoints)) == len(checkpoints)


def test_on_threads_a_branch_that_ended_as_the_batch_completed_keeps_its_outcome() -> None:
    """A branch whose completion reaches the coordinator while it decides (here: the check,
    asked after the first branch's completion, waits until the second's is written) is not
    reported STARTED: it keeps its outcome, and the decision its reason."""
    execution = "raced"
    journal = MemoryJournal()
    release = threading.Event()

    def check(status: CompletionStatus) -> CompletionDecision:
        if status.success_count == 0:
            return continue_batch()
        release.set()
        deadline = time.monotonic() + 10.0
        while (rec := journal.get_operation(execution, "1.2")) is None or (
            rec.status is not OperationStatus.SUCCEEDED
        ):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.2)  # its thread hands the completion to the coordinator meanwhile
        return complete_batch()

    def first(c: DurableContext) -> str:
        return "first"

    def second(c: DurableContext) -> str:
        assert release.wait(10.0)
        return "second"

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(completion_config=CompletionConfig(should_complete=check))
        result = ctx.parallel([first, second], config=config)
        return [[i.status.value for i in result.all], result.get_results()]

    run = run_durable(handler, None, clock=WallClock(), journal=journal, execution_id=execution)
    assert run.result == [["SUCCEEDED", "SUCCEEDED"], ["first", "second"]], run.error


class _StoreDown(SerDes[Any]):
    """An item serdes whose store is down for its first `failures` writes: the SDK's
    retryable serdes failure."""

    def __init__(self, failures: int = 10**6) -> None:
        self.failures = failures

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        if self.failures <= 0:
            return json.dumps(value)
        self.failures -= 1
        raise RetryableSerDesError("the payload store is briefly down")

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)


def _batch_over_a_store(kind: str, store: _StoreDown, returned: list[Any]) -> Any:
    tolerant = CompletionConfig(tolerated_failure_count=2)

    def handler(event: Any, ctx: DurableContext) -> Any:
        if kind == "map":
            config = MapConfig(item_serdes=store, completion_config=tolerant)
            returned.append(ctx.map([1, 2], lambda c, item, i, items: item, config=config))
        else:
            branches = [lambda c: 1, lambda c: 2]
            pconfig = ParallelConfig(item_serdes=store, completion_config=tolerant)
            returned.append(ctx.parallel(branches, config=pconfig))
        return "returned"

    return handler


@pytest.mark.parametrize("kind", ["map", "parallel"])
def test_a_retryable_serdes_error_in_a_branch_escapes_the_batch(kind: str) -> None:
    """The SDK's `RetryableSerDesError`: "In a map or parallel branch it escapes the batch
    rather than becoming a failed item, so the invocation still fails and retries", even when
    the batch's completion config tolerates failed items; no branch records a FAIL, and the
    fifth failed invocation in a row fails the execution (`MAX_FAILED_INVOCATIONS`)."""
    returned: list[Any] = []
    run = run_durable(_batch_over_a_store(kind, _StoreDown(), returned), None)
    assert returned == [] and run.status == "FAILED"
    assert run.error is not None and "briefly down" in str(run.error)
    assert all(op.status != "FAILED" for op in run.operations)
    assert run.metrics.invocations == MAX_FAILED_INVOCATIONS


@pytest.mark.parametrize("wall", [False, True], ids=["virtual", "wall"])
def test_a_batch_whose_store_comes_back_succeeds_in_the_next_invocation(wall: bool) -> None:
    """The invocation the escaping error failed is run again 5 s later (on the wall clock
    too), and its batch completes with every item."""
    returned: list[Any] = []
    run = run_durable(
        _batch_over_a_store("map", _StoreDown(failures=1), returned),
        None,
        clock=WallClock() if wall else None,
    )
    assert (run.status, run.result, run.metrics.invocations) == ("SUCCEEDED", "returned", 2)
    assert returned[-1].get_results() == [1, 2]


def test_a_retryable_serdes_error_escapes_a_child_context_without_a_fail_checkpoint() -> None:
    """The SDK's child context re-raises a retryable `InvocationError` with no FAIL checkpoint
    (``operation/child.py``): the context stays STARTED, and the invocation fails."""
    run = run_durable(
        lambda e, ctx: ctx.run_in_child_context(
            lambda c: 1, name="c", config=ChildConfig(serdes=_StoreDown())
        ),
        None,
    )
    assert (run.status, [(op.id, op.status) for op in run.operations]) == (
        "FAILED",
        [("1", "STARTED")],
    )
    assert run.error is not None and "briefly down" in str(run.error)
