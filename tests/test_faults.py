"""Fault plans: validation, step failures by name or id, keyed probabilities, crashes."""

from __future__ import annotations

from typing import Any

import pytest

from durable_sim.faults import NO_FAULTS, FaultPlan, SimulatedCrash


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_probability": 1.0}, r"failure_probability must be in \[0, 1\), got 1.0"),
        ({"failure_probability": -0.1}, r"failure_probability must be in \[0, 1\), got -0.1"),
        ({"crash_after_checkpoint": 0}, "crash_after_checkpoint must be >= 1, got 0"),
        ({"crash_mode": "explode"}, "crash_mode must be 'kill' or 'raise', got 'explode'"),
        ({"step_failures": {"s": {0, 2}}}, r"step_failures\['s'\] has attempts \[0\]"),
    ],
)
def test_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPlan(**kwargs)


def test_step_failures_by_name_or_op_id() -> None:
    plan = FaultPlan(step_failures={"charge": {1, 2}, "3.1": (1,)})
    assert plan.step_attempt_fails("7", "charge", 2)
    assert not plan.step_attempt_fails("7", "charge", 3)
    assert plan.step_attempt_fails("3.1", None, 1)
    assert not plan.step_attempt_fails("3.2", None, 1)
    assert not NO_FAULTS.step_attempt_fails("1", "charge", 1)


def test_keyed_probability_is_deterministic_and_order_independent() -> None:
    keys = [(f"{i}", a) for i in range(300) for a in (1, 2)]
    plan = FaultPlan(seed=5, failure_probability=0.3)
    forward = [plan.step_attempt_fails(op, None, a) for op, a in keys]
    backward = [plan.step_attempt_fails(op, None, a) for op, a in reversed(keys)][::-1]
    assert forward == backward
    assert 0.22 < sum(forward) / len(forward) < 0.38
    other = FaultPlan(seed=6, failure_probability=0.3)
    assert forward != [other.step_attempt_fails(op, None, a) for op, a in keys]


def test_crash_after_checkpoint_raise_mode() -> None:
    plan = FaultPlan(crash_after_checkpoint=3, crash_mode="raise")
    plan.after_checkpoint(1)
    plan.after_checkpoint(2)
    with pytest.raises(SimulatedCrash, match="after checkpoint 3"):
        plan.after_checkpoint(3)
    plan.after_checkpoint(4)
    assert not issubclass(SimulatedCrash, Exception)  # workflow code cannot swallow it
