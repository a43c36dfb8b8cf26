"""The machine model: cores booked without preemption, concurrency slots, and the two kinds."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    JitterStrategy,
    MapConfig,
    ParallelConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy
from hypothesis import example, given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import export_history, run_durable
from durable_sim.attribution import Trace
from durable_sim.clock import Clock, VirtualClock, WallClock, current_clock, observe_clocks
from durable_sim.durable import DurableContext
from durable_sim.durable.scheduler import YIELD, Task, TaskClock
from durable_sim.latency import Dist, LatencyProfile
from durable_sim.machine import COMPUTE, QUEUEING, Calendar, Cpu, Machine, SlotsExhausted
from durable_sim.rows import TIME_COMPONENTS


def test_equal_bursts_ready_together_are_served_first_come_first_served() -> None:
    cal = Calendar(2)
    starts = [cal.book(0.0, 130.0)[0] for _ in range(10)]
    assert starts == [0, 0, 130, 130, 260, 260, 390, 390, 520, 520]


def test_a_later_burst_fills_an_earlier_gap() -> None:
    cal = Calendar(1)
    assert cal.book(1000.0, 130.0) == (1000.0, 1130.0)  # a retry, issued first
    assert cal.book(0.0, 130.0) == (0.0, 130.0)  # fits before it
    assert cal.book(0.0, 900.0) == (1130.0, 2030.0)  # the 870 ms gap is too short: after it


def test_zero_work_takes_no_core() -> None:
    cal = Calendar(1)
    cal.book(0.0, 100.0)
    assert cal.book(50.0, 0.0) == (50.0, 50.0)


@pytest.mark.parametrize(
    ("ready", "duration"), [(0.0, -1.0), (0.0, math.inf), (math.nan, 1.0), (0.0, math.nan)]
)
def test_bad_bookings_are_rejected(ready: float, duration: float) -> None:
    with pytest.raises(ValueError, match="bad booking"):
        Calendar(1).book(ready, duration)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    servers=st.integers(1, 4),
    bursts=st.lists(st.tuples(st.integers(0, 500), st.integers(0, 200)), min_size=1, max_size=25),
)
def test_bookings_never_overlap_and_start_as_early_as_possible(
    servers: int, bursts: list[tuple[int, int]]
) -> None:
    cal = Calendar(servers)
    booked: list[list[tuple[float, float]]] = [[] for _ in range(servers)]
    for ready, duration in bursts:
        # The earliest feasible start by brute force over every server's busy intervals.
        def earliest(
            busy: list[tuple[float, float]], ready: float = ready, d: int = duration
        ) -> float:
            candidates = [float(ready)] + [e for _, e in busy if e >= ready]
            return min(t for t in candidates if all(t + d <= s or t >= e for s, e in busy))

        best = min(earliest(b) for b in booked) if duration else ready  # no work, no core
        start, end = cal.book(float(ready), float(duration))
        assert start >= ready and end - start == duration
        assert start == best
        if duration:
            server = next(i for i, b in enumerate(booked) if earliest(b) == start)
            booked[server].append((start, end))
    for busy in booked:
        ordered = sorted(busy)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ordered))


def test_slots_are_held_until_released() -> None:
    cal = Calendar(2)
    assert cal.acquire(0.0) == (0, 0.0)
    assert cal.acquire(5.0) == (1, 5.0)
    with pytest.raises(SlotsExhausted, match="all 2 slots are held"):
        cal.acquire(10.0)
    cal.release(1, 50.0)
    assert cal.acquire(10.0) == (1, 50.0)  # waits for the slot to come free


def test_a_burst_cannot_be_booked_on_slots_held_for_good() -> None:
    cal = Calendar(1)
    assert cal.acquire(0.0) == (0, 0.0)
    with pytest.raises(SlotsExhausted, match="all 1 servers are held"):
        cal.book(0.0, 5.0)
    cal.release(0, 10.0)
    assert cal.book(0.0, 5.0) == (10.0, 15.0)


def test_cpu_work_waits_for_a_core_then_computes_on_the_virtual_clock() -> None:
    cpu = Cpu(1)
    first, second = VirtualClock(), VirtualClock()
    trace = Trace()
    with observe_clocks(trace):
        cpu.run(first, 100.0)
        cpu.run(second, 100.0)
    assert (first.now_ms(), second.now_ms()) == (100.0, 200.0)
    times = trace.breakdown(second, 0.0, 200.0)
    assert (times["queueing"], times["compute"]) == (100.0, 100.0)


def test_cpu_work_on_the_wall_clock_sleeps_until_its_booking_ends() -> None:
    cpu, clock = Cpu(1), WallClock()
    start = clock.now_ms()
    cpu.run(clock, 5.0)
    cpu.run(clock, 5.0)
    assert clock.now_ms() - start >= 10.0


def test_a_host_shares_its_cores_and_lambda_gives_each_invocation_its_own() -> None:
    host = Machine("host", cores=2).start()
    assert host.invocation_cpu() is host.invocation_cpu()
    assert host.invocation_cpu().cores == 2
    aws = Machine("lambda", cores=1, concurrency_limit=2).start()
    assert aws.invocation_cpu() is not aws.invocation_cpu()


def test_lambda_invocations_wait_for_a_concurrency_slot() -> None:
    state = Machine("lambda", cores=1, concurrency_limit=1).start()
    a, b = VirtualClock(), VirtualClock()
    slot = state.admit(a)
    a.charge(40.0)
    slot.release(a.now_ms())
    state.admit(b)
    assert b.now_ms() == 40.0
    assert Machine("host", cores=1).start().admit(b).calendar is None  # no limit on a host


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "vm", "cores": 1}, r"bad machine kind 'vm' \(accepted: 'host', 'lambda'\)"),
        ({"kind": "host", "cores": 0}, r"bad cores 0 \(accepted: an int in 1..1024\)"),
        ({"kind": "host", "cores": True}, r"bad cores True"),
        (
            {"kind": "host", "cores": 2, "concurrency_limit": 5},
            r"bad concurrency_limit 5 for a host",
        ),
        (
            {"kind": "lambda", "cores": 1, "concurrency_limit": 0},
            r"bad concurrency_limit 0 \(accepted: None or an int in 1..1000000\)",
        ),
    ],
)
def test_bad_machines_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Machine(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    st.integers(1, 9),
    st.lists(
        st.tuples(
            st.sampled_from(["acquire", "release", "book"]),
            st.integers(0, 50),
            st.integers(0, 20),
        ),
        max_size=60,
    ),
)
def test_acquire_takes_the_free_slot_that_starts_first_lowest_on_a_tie(
    servers: int, actions: list[tuple[str, int, int]]
) -> None:
    """Against the definition, by a scan of every slot: among the slots free for good, the one
    whose start ``max(free since, ready)`` is earliest, the lowest-numbered on a tie."""
    calendar = Calendar(servers)
    free_since: dict[int, float] = dict.fromkeys(range(servers), -math.inf)
    held: dict[int, float] = {}
    for action, ready, length in actions:
        if action == "book":
            try:
                begin, end = calendar.book(float(ready), float(length))
            except SlotsExhausted:  # only when no slot is free for good and no gap fits
                assert not free_since
                continue
            assert end - begin == length
        elif action == "acquire":
            open_since = {s: calendar._starts[s][-1] for s in free_since}
            if not free_since:
                with pytest.raises(SlotsExhausted):
                    calendar.acquire(float(ready))
                continue
            expected = min(open_since, key=lambda s: (max(open_since[s], ready), s))
            server, begin = calendar.acquire(float(ready))
            assert (server, begin) == (expected, max(open_since[expected], ready))
            del free_since[server]
            held[server] = begin
        elif held:
            server = min(held)
            end = held.pop(server) + length
            calendar.release(server, end)
            free_since[server] = end


#: Each checkpoint takes 0.5 ms: branches interleave around their bookings.
PROFILE = LatencyProfile(name="checkpoints", checkpoint=Dist(0.5))


class _TwoSleepCpu(Cpu):
    """The booking as two sleeps (a yield at the core's start, another at the work's end)."""

    def run(self, clock: Clock, ms: float) -> None:
        start, end = self.calendar.book(clock.now_ms(), ms)
        clock.sleep_until(start, label=QUEUEING)
        clock.sleep_until(end, label=COMPUTE)


def _cpu_batch(cpu: Cpu, work: list[list[float]], max_concurrency: int | None) -> Any:
    """A durable map whose items book bursts of `work` on `cpu`, one per step; each item
    returns the times its bursts ended."""

    def item(ctx: DurableContext, bursts: list[float], index: int, _: object) -> list[float]:
        def burst(ms: float) -> float:
            clock = current_clock()  # the branch's own (a step body's)
            assert isinstance(clock, TaskClock)
            cpu.run(clock, ms)
            return clock.now_ms()

        return [ctx.step(lambda _, ms=ms: burst(ms), name=f"b{n}") for n, ms in enumerate(bursts)]

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = MapConfig(max_concurrency=max_concurrency)
        return ctx.map(work, item, config=config).get_results()

    return handler


@settings(max_examples=examples(40), deadline=None, derandomize=True)
@given(
    cores=st.integers(1, 3),
    work=st.lists(
        st.lists(st.sampled_from([0.0, 1.0, 2.5, 4.0, 10.0]), min_size=1, max_size=3),
        min_size=1,
        max_size=6,
    ),
    max_concurrency=st.one_of(st.none(), st.integers(1, 3)),
)
def test_a_booking_yields_once_with_the_same_times_and_attribution_as_two_sleeps(
    cores: int, work: list[list[float]], max_concurrency: int | None
) -> None:
    """Branches of a map booking CPU work: one hand-over per booking (`Clock.sleep_through`)
    gives the same results, the same times, the same journal and the same split of the run's
    time as a hand-over at the core's start and another at the work's end."""
    seen = []
    for cpu in (Cpu(cores), _TwoSleepCpu(cores)):
        clock, trace = VirtualClock(), Trace()
        with observe_clocks(trace):
            run = run_durable(
                _cpu_batch(cpu, work, max_concurrency),
                None,
                clock=clock,
                profile=PROFILE,
                execution_id="cpu",
            )
        assert run.status == "SUCCEEDED", run.error
        branch_advances = [
            (tl.order, list(tl.starts), list(tl.ends), tl.labels)
            for tl in trace._timelines.values()
            if tl.clock is not clock
        ]
        seen.append(
            (
                run.result,
                clock.now_ms(),
                export_history(run),
                trace.breakdown(clock, 0.0, clock.now_ms()),
                branch_advances,
            )
        )
    assert seen[0] == seen[1]


#: Step retries 1 s apart, up to 3 attempts, without jitter: retried branches resume in waves.
_RETRY = create_retry_strategy(
    RetryStrategyConfig(
        max_attempts=3,
        initial_delay=Duration.from_seconds(1),
        backoff_rate=1.0,
        jitter_strategy=JitterStrategy.NONE,
    )
)


def _failing_cpu_batch(
    cpu: Cpu,
    work: list[list[float]],
    max_concurrency: int | None,
    failures: dict[tuple[int, int], int],
    completion_config: CompletionConfig | None,
    kind: str,
) -> Any:
    """A map or parallel whose items book bursts of `work` on `cpu`, one per step; the first
    `failures[item, burst]` attempts of a step raise after their burst (retried per `_RETRY`).
    Returns each item's status, result and error message."""
    attempts: dict[tuple[int, int], int] = {}

    def item(ctx: DurableContext, bursts: list[float], index: int) -> list[float]:
        def burst(n: int) -> float:
            clock = current_clock()
            cpu.run(clock, bursts[n])
            attempts[index, n] = attempts.get((index, n), 0) + 1
            if failures.get((index, n), 0) >= attempts[index, n]:
                raise ValueError(f"burst {index}.{n}, attempt {attempts[index, n]}")
            return clock.now_ms()

        config = StepConfig(retry_strategy=_RETRY)
        return [
            ctx.step(lambda _, n=n: burst(n), name=f"b{n}", config=config)
            for n in range(len(bursts))
        ]

    def handler(event: Any, ctx: DurableContext) -> Any:
        completion = completion_config or CompletionConfig()  # the SDK's default: all of them
        if kind == "map":
            config = MapConfig(max_concurrency=max_concurrency, completion_config=completion)
            result = ctx.map(work, lambda c, b, i, _: item(c, b, i), config=config)
        else:
            branches = [lambda c, b=b, i=i: item(c, b, i) for i, b in enumerate(work)]
            parallel = ParallelConfig(max_concurrency=max_concurrency, completion_config=completion)
            result = ctx.parallel(branches, config=parallel)
        return [
            (it.status.value, it.result, it.error.message if it.error else None)
            for it in result.all
        ]

    return handler


@settings(max_examples=examples(40), deadline=None, derandomize=True)
@given(
    cores=st.integers(1, 3),
    work=st.lists(
        st.lists(st.sampled_from([0.0, 0.5, 1.0, 4.0, 10.0]), min_size=1, max_size=3),
        min_size=1,
        max_size=5,
    ),
    max_concurrency=st.one_of(st.none(), st.integers(1, 3)),
    failures=st.dictionaries(
        st.tuples(st.integers(0, 4), st.integers(0, 2)), st.integers(1, 3), max_size=3
    ),
    completion=st.sampled_from(
        [
            None,
            CompletionConfig(min_successful=1),
            CompletionConfig(tolerated_failure_count=0),
            CompletionConfig(min_successful=2, tolerated_failure_count=1),
        ]
    ),
    kind=st.sampled_from(["map", "parallel"]),
)
@example(  # the failing branch completes the batch while another retries (attribution's join)
    cores=1,
    work=[[0.0, 4.0], [4.0]],
    max_concurrency=None,
    failures={(0, 1): 2, (1, 0): 3},
    completion=CompletionConfig(tolerated_failure_count=0),
    kind="map",
)
def test_a_booking_yields_once_alike_with_failures_retries_and_early_completion(
    cores: int,
    work: list[list[float]],
    max_concurrency: int | None,
    failures: dict[tuple[int, int], int],
    completion: CompletionConfig | None,
    kind: str,
) -> None:
    """As above, with steps that fail and are retried (branches resuming in waves), batches that
    complete early (orphans run on) and parallels: the same run as with two hand-overs per
    booking, and a breakdown that sums to the run's time."""
    seen = []
    for cpu in (Cpu(cores), _TwoSleepCpu(cores)):
        clock, trace = VirtualClock(), Trace()
        handler = _failing_cpu_batch(cpu, work, max_concurrency, failures, completion, kind)
        with observe_clocks(trace):
            run = run_durable(handler, None, clock=clock, profile=PROFILE, execution_id="cpu")
        assert run.status == "SUCCEEDED", run.error
        breakdown = trace.breakdown(clock, 0.0, clock.now_ms())
        assert sum(breakdown.values()) == pytest.approx(clock.now_ms())
        seen.append((run.result, clock.now_ms(), export_history(run), breakdown))
    assert seen[0] == seen[1]


def test_sleep_through_reports_two_sleeps_and_yields_once() -> None:
    trace = Trace()
    with observe_clocks(trace):
        clock = TaskClock(VirtualClock(), 0.0)

        def body(c: TaskClock) -> str:
            c.sleep_through(3.0, QUEUEING, 5.0, COMPUTE)
            c.sleep_through(2.0, QUEUEING, 8.0, COMPUTE)  # the waypoint has passed
            c.sleep_through(8.0, QUEUEING, 8.0, COMPUTE)  # nowhere to go: no hand-over
            return "done"

        task = Task(clock, body)
        assert [task.resume() for _ in range(3)] == [YIELD, YIELD, "done"]
    assert trace.breakdown(clock, 0.0, 8.0) == {
        **dict.fromkeys(TIME_COMPONENTS, 0.0),
        "queueing": 3.0,
        "compute": 5.0,
    }


def test_sleep_through_on_a_wall_clock_sleeps_until_the_later_time() -> None:
    clock = WallClock()
    start = clock.now_ms()
    clock.sleep_through(start + 5.0, QUEUEING, start + 2.0, COMPUTE)
    assert clock.now_ms() - start >= 5.0
