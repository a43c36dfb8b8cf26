"""What every runner reports: the durable run's billed invocations and operations."""

import math

import pytest

from durable_sim import VirtualClock, run_durable
from durable_sim.durable import DurableRun
from durable_sim.latency import get_profile
from durable_sim.workloads.base import durable_values, invocation_durations_ms
from durable_sim.workloads.counter import durable_counter


def _completed(start, end):
    return {
        "EventType": "InvocationCompleted",
        "InvocationCompletedDetails": {"StartTimestamp": start, "EndTimestamp": end},
    }


def test_invocation_durations_read_the_runner_s_iso_timestamps():
    """The official runner's history carries ISO-8601 text; the durations are the same ms."""
    events = [
        {"EventType": "ExecutionStarted"},
        _completed("2026-11-29T21:34:10.880707+00:00", "2026-11-29T21:34:10.995340+00:00"),
        _completed("2026-11-29T21:34:12.000000+00:00", "2026-11-29T21:34:12.000500+00:00"),
    ]
    run = DurableRun("x", "aws-local", "SUCCEEDED", events=events)
    assert invocation_durations_ms(run) == pytest.approx([114.633, 0.5], abs=1e-6)


def test_a_run_without_history_is_refused():
    with pytest.raises(ValueError, match="carries no history"):
        invocation_durations_ms(DurableRun("x", "sim", "SUCCEEDED"))


def test_durable_values_bill_each_invocation_rounded_up_and_each_operation_once():
    profile = get_profile("aws-lambda")
    run = run_durable(durable_counter, {}, clock=VirtualClock(), profile=profile, seed=3)
    values = durable_values(run)
    (duration,) = invocation_durations_ms(run)
    history = run.journal.read_history(run.execution_id)
    (done,) = [e for e in history if e.event_type == "InvocationCompleted"]
    assert duration == done.details["EndTimestamp"] - done.details["StartTimestamp"] > 4 * 20
    assert values["billed_ms"] == math.ceil(duration)
    assert values["durable_operations"] == len(run.operations) == 4
