"""Property: a branch that keeps its turn (runs on without yielding, because the coordinator would
resume it next at once) changes nothing a run reports.

`TaskClock.keeps_turn` lets a map/parallel branch whose time moved carry on without the two
greenlet switches to its coordinator and back, when it is the coordinator's next turn anyway
(`durable_sim.durable.operation.batch`). Every run here is made twice: as the engine runs it, and
with every branch yielding at each advance (the scheduler without the shortcut). Result, status,
operations, history (with its timestamps), metrics and the time split along the critical path
(`durable_sim.attribution`) must be the same, for random batches of steps and waits (some nested,
some with ``max_concurrency``) under a profile whose costs are drawn per occurrence, and for the
video workload, whose branches also contend for the machine's cores.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration, MapConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import export_history, run_durable
from durable_sim.attribution import Trace
from durable_sim.clock import VirtualClock, observe_clocks
from durable_sim.durable import scheduler
from durable_sim.experiments import ExperimentSpec, run_experiment
from durable_sim.latency import PAPER_LOCAL, Dist, LatencyProfile

PROPERTY = settings(
    max_examples=examples(60),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: The paper's local costs, with steps long enough (about 0.4 s, spread) that a branch's wait
#: often ends while others still run (it then resumes in the same invocation, in a wave).
SPREAD = dataclasses.replace(PAPER_LOCAL, name="turns", step=Dist(400.0, 0.3))
#: Constant costs: branches doing the same work meet at the same instants (ties in time).
CONSTANT = LatencyProfile(name="turns-constant", step=Dist(400.0), checkpoint=Dist(0.5))

#: A branch: its segments, each ("step", how many) or ("wait", seconds) or ("map", items).
Branch = tuple[tuple[str, int], ...]


def _always_yield(self: scheduler.TaskClock) -> None:
    """The scheduler without kept turns: every advance of a branch yields to its coordinator."""
    if not self.free:
        self._coordinator.switch(scheduler.YIELD)


def _workflow(branches: tuple[Branch, ...], max_concurrency: int | None) -> Any:
    def item(ctx: DurableContext, segments: Branch, index: int, _: Any) -> int:
        total = index
        for kind, n in segments:
            if kind == "step":
                for k in range(n):
                    total += ctx.step(lambda _, k=k: k, name=f"s{k}")
            elif kind == "wait":
                ctx.wait(Duration.from_seconds(n))
            else:
                inner = ctx.map(list(range(n)), lambda c, x, i, xs: c.step(lambda _: x), name="m")
                total += sum(inner.get_results())
        return total

    def handler(event: Any, context: DurableContext) -> list[int]:
        config = MapConfig(max_concurrency=max_concurrency)
        return context.map(list(branches), item, name="batch", config=config).get_results()

    return handler


def _observed(run: Any) -> Any:
    """What a run reports, for comparison (the journal object itself aside)."""
    return (run.status, run.result, run.operations, run.metrics, export_history(run))


def _run(
    branches: tuple[Branch, ...], max_concurrency: int | None, profile: LatencyProfile, seed: int
) -> Any:
    clock, trace = VirtualClock(), Trace()
    with observe_clocks(trace):
        run = run_durable(
            _workflow(branches, max_concurrency),
            None,
            clock=clock,
            profile=profile,
            seed=seed,
            execution_id="turns",
        )
    return _observed(run), trace.breakdown(clock, 0.0, clock.now_ms())


SEGMENT = st.one_of(
    st.tuples(st.just("step"), st.integers(1, 3)),
    st.tuples(st.just("wait"), st.integers(1, 3)),
    st.tuples(st.just("map"), st.integers(1, 3)),
)


@PROPERTY
@given(
    branches=st.lists(st.lists(SEGMENT, max_size=3).map(tuple), min_size=1, max_size=6).map(tuple),
    max_concurrency=st.one_of(st.none(), st.integers(1, 3)),
    profile=st.sampled_from([SPREAD, CONSTANT]),
    seed=st.integers(0, 2**16),
)
def test_kept_turns_change_nothing_a_run_reports(
    monkeypatch: pytest.MonkeyPatch,
    branches: tuple[Branch, ...],
    max_concurrency: int | None,
    profile: LatencyProfile,
    seed: int,
) -> None:
    kept = _run(branches, max_concurrency, profile, seed)
    with monkeypatch.context() as patch:
        patch.setattr(scheduler.TaskClock, "_moved", _always_yield)
        yielded = _run(branches, max_concurrency, profile, seed)
    assert kept == yielded


@pytest.mark.parametrize(
    ("chunks", "profile"), [(10, "paper-local"), (7, "aws-lambda"), (40, "paper-local")]
)
def test_video_rows_are_the_same_with_and_without_kept_turns(
    monkeypatch: pytest.MonkeyPatch, chunks: int, profile: str
) -> None:
    spec = ExperimentSpec.parse(
        {
            "workload": "video",
            "model": "durable",
            "runs": 3,
            "chunks": chunks,
            "video_seconds": 10,
            "profile": profile,
        }
    )
    kept = run_experiment(spec)
    with monkeypatch.context() as patch:
        patch.setattr(scheduler.TaskClock, "_moved", _always_yield)
        yielded = run_experiment(spec)
    assert kept.to_csv(index=False) == yielded.to_csv(index=False)


def test_a_branch_that_is_the_next_turn_keeps_it() -> None:
    """Branches that are alone in flight never hand control back while they run."""
    kept: list[float] = []
    original = scheduler.TaskClock._moved

    def counting(self: scheduler.TaskClock) -> None:
        turn = self.keeps_turn
        if turn is None:
            original(self)
            return

        def asked(now: float) -> bool:
            keeps = turn(now)
            if keeps:
                kept.append(now)
            return keeps

        self.keeps_turn = asked
        try:
            original(self)
        finally:
            self.keeps_turn = turn

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scheduler.TaskClock, "_moved", counting)
        run = run_durable(_workflow(((("step", 3),), (("step", 3),)), 1), None, profile=PAPER_LOCAL)
    assert run.status == "SUCCEEDED"
    assert len(kept) >= 6  # each branch's checkpoints, one branch in flight at a time
