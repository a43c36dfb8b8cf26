"""Time attribution: components add up to the run's time and follow its critical path."""

from __future__ import annotations

import pytest
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    MapConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_sim import run_durable
from durable_sim.attribution import COMPONENT_OF, JOIN, AttributionError, Trace
from durable_sim.clock import VirtualClock, current_clock, note_charge, observe_clocks
from durable_sim.experiments import ExperimentSpec, run_experiment
from durable_sim.latency import PROFILES, Dist, LatencyProfile
from durable_sim.machine import Cpu
from durable_sim.rows import TIME_COLUMNS


def test_every_profile_cost_counts_towards_a_component() -> None:
    for profile in PROFILES.values():
        assert set(profile.cost_names()) <= set(COMPONENT_OF)


def test_charges_go_to_their_cost_and_sleeps_to_their_label() -> None:
    clock = VirtualClock()
    trace = Trace()
    with observe_clocks(trace):
        note_charge("durable_invoke", 100.0)
        clock.charge(100.0)
        note_charge("kv_read", 2.0)
        clock.charge(2.0)
        clock.sleep_until(1102.0, "retry_backoff")
    times = trace.breakdown(clock, 0.0, clock.now_ms())
    assert times["invocation"] == 100.0 and times["store"] == 2.0
    assert times["retry_backoff"] == 1000.0
    assert sum(times.values()) == 1102.0


def test_a_join_follows_the_branch_whose_end_ended_it() -> None:
    main = VirtualClock()
    trace = Trace()
    with observe_clocks(trace):
        fast, slow = main.fork(), main.fork()  # as a map's coordinator forks its branches
        fast.sleep_until(30.0, "compute")
        main.sleep_until(30.0, JOIN)  # the coordinator handles `fast`'s end ...
        slow.sleep_until(10.0, "queueing")
        slow.sleep_until(50.0, "compute")
        main.sleep_until(50.0, JOIN)  # ... and then `slow`'s, which completes the batch
        main.sleep_until(1050.0)  # unlabelled: a durable timer
    times = trace.breakdown(main, 0.0, 1050.0)
    assert (times["queueing"], times["compute"], times["retry_backoff"]) == (10.0, 40.0, 1000.0)
    assert sum(times.values()) == 1050.0


def test_a_join_follows_its_own_batch_not_an_earlier_batchs_orphan() -> None:
    main = VirtualClock()
    trace = Trace()
    with observe_clocks(trace):
        orphan, done = main.fork(), main.fork()  # batch 1
        done.sleep_until(20.0, "compute")
        main.sleep_until(20.0, JOIN)  # batch 1 completes; `orphan` runs on after it
        orphan.sleep_until(50.0, "queueing")
        note_charge("checkpoint", 10.0)
        main.charge(10.0)
        branch = main.fork()  # batch 2, at 30 ms
        branch.sleep_until(50.0, "compute")  # ends when the orphan does
        main.sleep_until(50.0, JOIN)
    times = trace.breakdown(main, 0.0, 50.0)
    assert (times["compute"], times["checkpoint"], times["queueing"]) == (40.0, 10.0, 0.0)


def test_a_join_follows_a_branch_that_ran_on_after_its_event_ended_the_join() -> None:
    """The branch whose event completed the batch may advance after it (an orphan runs on to
    its next checkpoint): the path goes through the event, not the branch's last advance.
    Formerly the breakdown raised AttributionError."""
    main = VirtualClock()
    trace = Trace()
    with observe_clocks(trace):
        done, failing = main.fork(), main.fork()
        done.sleep_until(10.0, "compute")
        main.sleep_until(10.0, JOIN)
        failing.sleep_until(30.0, "compute")
        main.sleep_until(30.0, JOIN)  # its failure completes the batch ...
        note_charge("checkpoint", 5.0)
        failing.charge(5.0)  # ... and it runs on to a checkpoint that is dropped
        note_charge("checkpoint", 10.0)
        main.charge(10.0)
    times = trace.breakdown(main, 0.0, 40.0)
    assert (times["compute"], times["checkpoint"]) == (30.0, 10.0)
    assert sum(times.values()) == 40.0


def test_a_map_whose_failing_branch_completes_it_while_another_retries_is_attributed() -> None:
    """A map that tolerates no failure, one branch failing its step's last attempt while
    another retries its step (found by a differential test of `Cpu.run`): every millisecond of
    the run is attributed (formerly: 'a join ends at 2013.5 ms, where none of its branches
    ends', the failing branch's FAIL checkpoint ending after the batch completed)."""
    cpu = Cpu(1)
    attempts: dict[tuple[int, int], int] = {}
    failures = {(0, 1): 2, (1, 0): 3}  # (item, step) -> attempts that fail
    retry = create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(1))
    )

    def item(ctx, bursts, index, _):  # type: ignore[no-untyped-def]
        def body(_: object, n: int) -> int:
            cpu.run(current_clock(), bursts[n])  # ms of CPU work on the one core
            attempts[index, n] = attempts.get((index, n), 0) + 1
            if failures.get((index, n), 0) >= attempts[index, n]:
                raise ValueError(f"item {index} step {n} attempt {attempts[index, n]}")
            return n

        config = StepConfig(retry_strategy=retry)
        return [
            ctx.step(lambda c, n=n: body(c, n), name=f"s{n}", config=config)
            for n in range(len(bursts))
        ]

    def handler(event, ctx):  # type: ignore[no-untyped-def]
        config = MapConfig(completion_config=CompletionConfig(tolerated_failure_count=0))
        return ctx.map([[0.0, 4.0], [4.0]], item, config=config).completion_reason.value

    clock, trace = VirtualClock(), Trace()
    with observe_clocks(trace):
        profile = LatencyProfile(name="checkpoints", checkpoint=Dist(0.5))
        run = run_durable(handler, None, clock=clock, profile=profile, seed=1)
    assert (run.status, run.result) == ("SUCCEEDED", "FAILURE_TOLERANCE_EXCEEDED")
    times = trace.breakdown(clock, 0.0, clock.now_ms())
    assert sum(times.values()) == pytest.approx(clock.now_ms())


def test_a_join_that_no_branch_ends_is_an_error() -> None:
    main = VirtualClock()
    trace = Trace()
    with observe_clocks(trace):
        main.fork().sleep_until(30.0, "compute")
        main.sleep_until(40.0, JOIN)
    with pytest.raises(AttributionError, match=r"a join ends at 40\.0 ms, where none of its"):
        trace.breakdown(main, 0.0, 40.0)


def test_a_poll_wait_is_slack_after_the_last_child_ends() -> None:
    coordinator = VirtualClock()
    trace = Trace()
    with observe_clocks(trace):
        workers = [coordinator.fork(), coordinator.fork()]
        workers[0].sleep_until(120.0, "compute")
        workers[1].sleep_until(80.0, "compute")
        coordinator.sleep_until(100.0, "poll_wait")
        coordinator.sleep_until(200.0, "poll_wait")
        note_charge("kv_query", 1.0)
        coordinator.charge(1.0)
    times = trace.breakdown(coordinator, 0.0, 201.0)
    assert times == {
        **dict.fromkeys(times, 0.0),
        "compute": 120.0,
        "polling_slack": 80.0,
        "store": 1.0,
    }


def test_a_charge_without_a_known_cost_is_an_error() -> None:
    clock = VirtualClock()
    with observe_clocks(Trace()), pytest.raises(AttributionError, match="pays no known cost"):
        clock.charge(5.0)


def test_a_label_noted_for_another_amount_does_not_label_a_charge() -> None:
    clock = VirtualClock()
    with observe_clocks(Trace()), pytest.raises(AttributionError, match="label None"):
        note_charge("checkpoint", 3.0)
        clock.charge(4.0)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    workload=st.sampled_from(["counter", "video"]),
    model=st.sampled_from(["durable", "baseline"]),
    profile=st.sampled_from(["paper-local", "aws-lambda", "zero"]),
    cores=st.integers(1, 4),
    chunks=st.integers(1, 12),
    failure_probability=st.sampled_from([0.0, 0.3]),
    poll_read=st.sampled_from(["query", "get"]),
    poll_backoff=st.sampled_from(["fixed", "exponential"]),
    fanout=st.sampled_from(["map", "sequential"]),
    max_concurrency=st.sampled_from([None, 2]),
)
def test_components_add_up_to_the_time_of_every_run(**values: object) -> None:
    workload = str(values["workload"])  # the video's fields are refused on the counter
    values = {
        name: value
        for name, value in values.items()
        if workload in ExperimentSpec.applies_to(name).get("workload", [workload])
    }
    spec = ExperimentSpec.parse({**values, "runs": 2, "seed": 3})
    rows = run_experiment(spec)
    assert rows["ok"].all() or spec.failure_probability > 0
    parts = rows[list(TIME_COLUMNS)]
    assert (parts >= 0).all().all()
    assert ((parts.sum(axis=1) - rows["time_ms"]).abs() < 1e-6).all()


def test_the_paper_local_durable_counter_is_mostly_the_invocation_floor() -> None:
    rows = run_experiment(ExperimentSpec.parse({"workload": "counter", "model": "durable"}))
    share = rows["time_invocation_ms"].sum() / rows["time_ms"].sum()
    assert share > 0.9
    assert (rows["time_store_ms"] == 0).all()


def test_charged_ms_sums_a_cost_on_every_clock_on_the_path_or_not() -> None:
    main = VirtualClock()
    trace = Trace()
    with observe_clocks(trace):
        note_charge("cold_start", 250.0)
        main.charge(250.0)
        worker = main.fork()  # a worker whose cold start is off the critical path
        note_charge("cold_start", 180.5)
        worker.charge(180.5)
        note_charge("invoke", 15.0)
        main.charge(15.0)
        main.sleep_until(300.0)  # a sleep is no charge, whatever it waits for
    assert trace.charged_ms("cold_start") == 430.5
    assert trace.charged_ms("invoke") == 15.0
    assert trace.charged_ms("kv_read") == 0.0
    with pytest.raises(AttributionError, match=r"unknown cost 'coldstart' \(accepted: \["):
        trace.charged_ms("coldstart")
