"""Property: map/parallel follow the SDK's concurrency rules, event by event, on the virtual clock.

Random batches (branches of steps and waits that succeed or fail, ``max_concurrency``, every kind
of completion config, NESTED or FLAT) run on the engine and on a reference model of the SDK's
coordinator (``concurrency/executor.py``) written here as a plain event list: branches start in
index order whenever fewer than ``max_concurrency`` are in flight, a branch holds its slot until
it ends (waits included), the completion check runs after every branch end, and the batch
completes at that moment with that moment's reason; branches ending at the same instant keep
their outcome, later ones are STARTED, unstarted ones are left out. Only steps cost time (1 s a
unit) and every other cost is zero, so a wait that ends an invocation and one that resumes in
process take the same time, and the reference needs no notion of invocations. The run's time
also splits into components along its critical path (`durable_sim.attribution`), through the
branches' own clocks.

The completion checks are monotone in the counts (as min-successful and the tolerances are), so
re-running completed branches on replay cannot fire them early; a non-monotone custom check can
(on AWS too), and is out of scope here.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.concurrency.models import CompletionPolicy
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    CompletionStatus,
    Duration,
    MapConfig,
    NestingType,
    ParallelConfig,
    complete_batch,
    continue_batch,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import export_history, run_durable
from durable_sim.attribution import Trace
from durable_sim.clock import VirtualClock, observe_clocks
from durable_sim.latency import Dist, LatencyProfile

UNIT_MS = 1000.0
PROFILE = LatencyProfile(name="steps-only-1s", step=Dist(UNIT_MS))

PROPERTY = settings(
    max_examples=examples(150),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Spec:
    kind: str  # "map" or "parallel"
    branches: tuple[tuple[tuple[tuple[str, int], ...], bool], ...]  # (segments, fails)
    max_concurrency: int | None
    completion: tuple[str, int, int]
    nesting: str

    def duration_ms(self, index: int) -> float:
        segments, _ = self.branches[index]
        return sum(n * UNIT_MS for _, n in segments)

    def config(self) -> CompletionConfig | None:
        name, a, b = self.completion
        if name == "default":
            return None
        if name == "min_successful":
            return CompletionConfig(min_successful=a)
        if name == "tolerated_count":
            return CompletionConfig(tolerated_failure_count=a)
        if name == "tolerated_percentage":
            return CompletionConfig(tolerated_failure_percentage=a)
        if name == "min_and_count":
            return CompletionConfig(min_successful=a, tolerated_failure_count=b)

        def check(status: CompletionStatus) -> Any:
            fired = status.success_count >= a or status.failure_count >= b
            return complete_batch() if fired else continue_batch()

        return CompletionConfig(should_complete=check)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    n = draw(st.integers(0, 6))
    segment = st.tuples(st.sampled_from(["step", "wait"]), st.integers(1, 3))
    branches = tuple(
        (tuple(draw(st.lists(segment, max_size=3))), draw(st.booleans())) for _ in range(n)
    )
    count = st.integers(0, max(n, 1))
    completion = draw(
        st.one_of(
            st.just(("default", 0, 0)),
            st.tuples(st.just("min_successful"), st.integers(1, max(n, 1)), st.just(0)),
            st.tuples(st.just("tolerated_count"), count, st.just(0)),
            st.tuples(st.just("tolerated_percentage"), st.integers(0, 100), st.just(0)),
            st.tuples(st.just("min_and_count"), st.integers(1, max(n, 1)), count),
            st.tuples(st.just("custom"), st.integers(1, 4), st.integers(1, 4)),
        )
    )
    if completion[0] in {"min_successful", "min_and_count"} and n == 0:
        completion = ("default", 0, 0)
    return Spec(
        kind=draw(st.sampled_from(["map", "parallel"])),
        branches=branches,
        max_concurrency=draw(st.one_of(st.none(), st.integers(1, 4))),
        completion=completion,
        nesting=draw(st.sampled_from(["NESTED", "FLAT"])),
    )


def expected(spec: Spec) -> dict[str, Any]:
    """The SDK coordinator's outcome, from branch durations alone."""
    n = len(spec.branches)
    policy = CompletionPolicy.from_config(n, spec.config())
    limit = spec.max_concurrency or max(n, 1)
    status: dict[int, str] = {}
    pending = list(range(n))
    ends: list[tuple[float, int]] = []
    succeeded = failed = in_flight = 0
    now = 0.0
    while True:
        decision = policy.evaluate(succeeded, failed)
        if policy.is_complete(succeeded, failed, (), decision) or not policy.should_continue(
            failed
        ):
            break
        while pending and in_flight < limit and policy.should_continue(failed):
            index = pending.pop(0)
            status[index] = "STARTED"
            heapq.heappush(ends, (now + spec.duration_ms(index), index))
            in_flight += 1
        now, index = heapq.heappop(ends)
        in_flight -= 1
        fails = spec.branches[index][1]
        status[index] = "FAILED" if fails else "SUCCEEDED"
        failed += fails
        succeeded += not fails
    reason = policy.reason(succeeded, failed, (), policy.evaluate(succeeded, failed))
    while ends and ends[0][0] <= now:  # ended at the same instant: outcome kept
        _, index = heapq.heappop(ends)
        status[index] = "FAILED" if spec.branches[index][1] else "SUCCEEDED"
    return {
        "reason": reason.value,
        "statuses": [status[i] for i in sorted(status)],
        "results": [i * 10 for i in sorted(status) if status[i] == "SUCCEEDED"],
        "elapsed_ms": now,
    }


def workflow(spec: Spec) -> Any:
    def branch_body(index: int) -> Any:
        segments, fails = spec.branches[index]

        def run(c: DurableContext) -> int:
            for k, (kind, units) in enumerate(segments):
                if kind == "step":
                    for u in range(units):
                        c.step(lambda _, u=u: u, name=f"s{k}.{u}")
                else:
                    c.wait(Duration.from_seconds(units), name=f"w{k}")
            if fails:
                raise ValueError(f"branch {index} fails")
            return index * 10

        return run

    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        completion = spec.config() or CompletionConfig()
        nesting = NestingType[spec.nesting]
        bodies = [branch_body(i) for i in range(len(spec.branches))]
        if spec.kind == "map":
            config = MapConfig(
                max_concurrency=spec.max_concurrency,
                completion_config=completion,
                nesting_type=nesting,
            )
            result = ctx.map(
                list(range(len(bodies))), lambda c, x, i, xs: bodies[x](c), config=config
            )
        else:
            pconfig = ParallelConfig(
                max_concurrency=spec.max_concurrency,
                completion_config=completion,
                nesting_type=nesting,
            )
            result = ctx.parallel(bodies, config=pconfig)
        return {
            "reason": result.completion_reason.value,
            "statuses": [item.status.value for item in result.all],
            "results": result.get_results(),
        }

    return handler


def peak_concurrency(events: list[dict[str, Any]], sub_type: str, end_s: float) -> int:
    """The most item contexts open at once in the history (an item that never ended counts
    as open until the batch completed)."""
    edges: list[tuple[float, int]] = []
    open_items: dict[str, float] = {}
    for event in events:
        if event.get("SubType") != sub_type:
            continue
        if event["EventType"] == "ContextStarted":
            open_items[event["Id"]] = event["EventTimestamp"]
        elif event["Id"] in open_items:
            edges += [(open_items.pop(event["Id"]), 1), (event["EventTimestamp"], -1)]
    for start in open_items.values():
        edges += [(start, 1), (end_s, -1)]
    peak = level = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    return peak


@PROPERTY
@given(specs())
def test_batches_follow_the_sdks_coordinator(spec: Spec) -> None:
    clock, trace = VirtualClock(), Trace()
    with observe_clocks(trace):
        run = run_durable(workflow(spec), None, clock=clock, profile=PROFILE, execution_id="p")
    assert run.status == "SUCCEEDED", run.error
    want = expected(spec)
    assert run.result == {k: want[k] for k in ("reason", "statuses", "results")}
    assert run.metrics.elapsed_ms == want["elapsed_ms"]
    # The time splits along the critical path: steps (checkpoint overhead), waits (durable
    # timers) and waits for a max_concurrency slot, and nothing else.
    times = trace.breakdown(clock, 0.0, clock.now_ms())
    assert sum(times.values()) == want["elapsed_ms"]
    others = set(times) - {"checkpoint", "retry_backoff", "queueing"}
    assert all(times[name] == 0 for name in others) and min(times.values()) >= 0

    events = export_history(run)
    again = export_history(run_durable(workflow(spec), None, profile=PROFILE, execution_id="p"))
    assert events == again  # deterministic, event for event
    if spec.nesting == "NESTED" and spec.branches:
        item = "MapIteration" if spec.kind == "map" else "ParallelBranch"
        limit = spec.max_concurrency or len(spec.branches)
        assert peak_concurrency(events, item, want["elapsed_ms"] / 1000.0) <= limit
