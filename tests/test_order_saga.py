"""The tutorial's order saga (`examples/order_saga.py`) in both models: completion, each
compensation path, the same final state in both models, and over any failure plan: compensation
runs exactly when a step failed, in reverse order, each compensation once."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_sim import dispatch, run_durable
from durable_sim.baseline import FunctionRuntime, open_store
from durable_sim.cli import main
from durable_sim.clock import VirtualClock
from durable_sim.durable import MemoryJournal
from durable_sim.errors import SpecError
from durable_sim.experiments import ExperimentSpec, load_rows, run_experiment
from durable_sim.faults import FaultPlan, SimulatedCrash
from durable_sim.latency import PAPER_LOCAL, Sampler
from durable_sim.notebook import ParameterError, TutorialParameters
from durable_sim.registry import UnknownNameError
from durable_sim.workloads import WORKLOADS, Platform

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saga() -> Iterator[types.ModuleType]:
    """The user's module, imported from this checkout (registering ``order-saga``), and
    forgotten afterwards so that other tests see only their own registrations."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import examples.order_saga as module

    yield module
    with contextlib.suppress(UnknownNameError):
        WORKLOADS.unregister("order-saga")
    sys.modules.pop("examples.order_saga", None)


def triple(expected: Any) -> tuple[str, str, tuple[str, ...]]:
    """An `Expected`'s outcome, failed step and compensations."""
    return expected.outcome, expected.failed_step, expected.compensations


def plan(saga: Any, *, declined: bool = False, rejected: bool = False, **transient: int) -> Any:
    counts = {call: transient.get(call, 0) for call in saga.RETRIED_CALLS}
    return saga.FailurePlan(counts, declined=declined, rejected=rejected, max_attempts=3)


def run_both(saga: Any, failures: Any, *, seed: int = 0) -> dict[str, dict[str, Any]]:
    """One order under `failures` in each model, on the virtual clock with ``paper-local``:
    the services afterwards and what the model reported."""
    options = saga.SagaOptions(max_attempts=failures.max_attempts)
    order = saga.Order("order-0")
    durable_world = saga.Services(failures, Sampler(PAPER_LOCAL, seed))
    run = run_durable(
        saga.order_saga_handler(durable_world, options),
        asdict(order),
        profile=PAPER_LOCAL,
        seed=seed,
        responder=saga.warehouse_responder(durable_world, order, options),
    )
    baseline_world = saga.Services(failures, Sampler(PAPER_LOCAL, seed))
    clock = VirtualClock()
    sampler = Sampler(PAPER_LOCAL, seed)
    store = open_store("memory", clock=clock, sampler=sampler)
    with FunctionRuntime(clock, sampler) as runtime:
        result = saga.run_baseline_order_saga(
            Platform(runtime, store), baseline_world, order, options, seed=seed
        )
    return {
        "durable": {"world": durable_world, "run": run, "retries": run.metrics.retries},
        "baseline": {"world": baseline_world, "result": result, "retries": result.retries},
    }


def test_a_saga_without_failures_completes_in_both_models(saga: Any) -> None:
    both = run_both(saga, plan(saga))
    for model, ran in both.items():
        world = ran["world"]
        assert world.effects == ["reserve", "charge", "ship"], model
        assert world.observed(saga.Order("order-0")) == ("completed", "", ())
        assert world.final_state(saga.Order("order-0")) == {
            "stock": saga.STOCK - 2,
            "reserved": 2,
            "charged_cents": 3_000,
            "shipment": "shipped",
        }
    run = both["durable"]["run"]
    assert run.status == "SUCCEEDED"
    assert run.result == {"outcome": "completed", "failed_step": "", "tracking": "track-order-0"}
    assert both["baseline"]["result"].status == "SHIPPED"
    kinds = [(op.type, op.name) for op in run.operations if op.parent_id is None]
    assert kinds == [
        ("STEP", "reserve"),
        ("STEP", "charge"),
        ("WAIT", "cooling-off"),
        ("CONTEXT", "ship"),
    ]


#: Each way an order fails, and what must happen then (the saga's definition: undo the
#: completed steps in reverse order, refund before release).
PATHS = [
    ({"declined": True}, "compensated", "charge", ("release",)),
    ({"rejected": True}, "compensated", "ship", ("refund", "release")),
    ({"reserve": 3}, "compensated", "reserve", ()),
    ({"charge": 3}, "compensated", "charge", ("release",)),
    ({"rejected": True, "refund": 3}, "stuck", "ship", ()),
    ({"rejected": True, "release": 3}, "stuck", "ship", ("refund",)),
    ({"declined": True, "release": 2, "charge": 1}, "compensated", "charge", ("release",)),
]


@pytest.mark.parametrize(("failures", "outcome", "failed", "compensations"), PATHS)
def test_each_failure_is_compensated_in_reverse_order_in_both_models(
    saga: Any, failures: dict[str, Any], outcome: str, failed: str, compensations: tuple[str, ...]
) -> None:
    failure_plan = plan(saga, **failures)
    assert triple(failure_plan.expected()) == (outcome, failed, compensations)
    both = run_both(saga, failure_plan)
    order = saga.Order("order-0")
    states = set()
    for ran in both.values():
        assert ran["world"].observed(order) == (outcome, failed, compensations)
        states.add(saga.state_digest(ran["world"].final_state(order)))
        assert ran["retries"] == failure_plan.expected().retries
    assert len(states) == 1  # the same final state in both models
    run = both["durable"]["run"]
    assert run.status == ("FAILED" if outcome == "stuck" else "SUCCEEDED")
    if outcome == "compensated":
        assert run.result == {"outcome": "compensated", "failed_step": failed}
    status = {"compensated": "COMPENSATED", "stuck": "STUCK"}[outcome]
    assert both["baseline"]["result"].status == status


failure_plans = st.builds(
    lambda counts, declined, rejected, attempts: (counts, declined, rejected, attempts),
    st.lists(st.integers(0, 4), min_size=4, max_size=4),
    st.booleans(),
    st.booleans(),
    st.integers(1, 4),
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(drawn=failure_plans, seed=st.integers(0, 2**32 - 1))
def test_compensation_runs_iff_a_step_failed_in_reverse_order_once_each(
    saga: Any, drawn: tuple[list[int], bool, bool, int], seed: int
) -> None:
    counts, declined, rejected, attempts = drawn
    transient = {c: min(n, attempts) for c, n in zip(saga.RETRIED_CALLS, counts, strict=True)}
    failure_plan = saga.FailurePlan(transient, declined, rejected, attempts)
    expected = failure_plan.expected()
    order = saga.Order("order-0")
    undo_of = {"reserve": "release", "charge": "refund"}
    digests = set()
    for ran in run_both(saga, failure_plan, seed=seed).values():
        world = ran["world"]
        outcome, failed, _ = world.observed(order)
        forward = [e for e in world.effects if e in undo_of]
        undone = [e for e in world.effects if e in undo_of.values()]
        owed = [undo_of[step] for step in reversed(forward)]
        assert (failed == "") == (world.shipments.get("order-0") == "shipped")
        if not failed:
            assert undone == []  # nothing failed: nothing is undone
        else:  # the owed compensations in reverse order, each once, until one gives up
            assert undone == owed[: len(undone)]
            assert (outcome == "stuck") == (len(undone) < len(owed))
        assert (outcome, failed, tuple(undone)) == triple(expected)
        assert ran["retries"] == expected.retries
        digests.add(saga.state_digest(world.final_state(order)))
    assert len(digests) == 1


def test_a_crash_after_any_checkpoint_resumes_without_repeating_an_effect(saga: Any) -> None:
    failure_plan = plan(saga, rejected=True, refund=1)
    options = saga.SagaOptions()
    order = saga.Order("order-0")
    reference = run_both(saga, failure_plan)["durable"]["world"].effects
    for k in range(1, 40):
        world = saga.Services(failure_plan, Sampler(PAPER_LOCAL, 0))
        journal, clock = MemoryJournal(), VirtualClock()
        kwargs: dict[str, Any] = {
            "journal": journal,
            "clock": clock,
            "profile": PAPER_LOCAL,
            "execution_id": "order-0",
            "responder": saga.warehouse_responder(world, order, options),
        }
        handler = saga.order_saga_handler(world, options)
        try:
            run_durable(
                handler, asdict(order), faults=FaultPlan(crash_after_checkpoint=k), **kwargs
            )
        except SimulatedCrash:
            run = run_durable(handler, asdict(order), **kwargs)
        else:
            assert k > 1, "the saga writes checkpoints"
            break
        assert run.status == "SUCCEEDED" and world.effects == reference, k
    assert reference == ["reserve", "charge", "ship", "refund", "release"]


def test_the_plan_is_drawn_from_the_seed_alone(saga: Any) -> None:
    options = saga.SagaOptions(decline_probability=0.5, reject_probability=0.5)
    plans = [saga.FailurePlan.draw(seed, options) for seed in range(400)]
    assert plans == [saga.FailurePlan.draw(seed, options) for seed in range(400)]
    declined = sum(p.declined for p in plans)
    assert 160 <= declined <= 240  # binomial(400, 0.5): 4 standard deviations either side
    never = saga.SagaOptions(decline_probability=0.0, reject_probability=0.0)
    always = saga.SagaOptions(decline_probability=1.0, reject_probability=1.0)
    assert not any(saga.FailurePlan.draw(s, never).declined for s in range(50))
    assert all(saga.FailurePlan.draw(s, always).rejected for s in range(50))


def test_the_harness_runs_it_in_both_models_and_workers(
    saga: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = {
        m: ExperimentSpec.parse({"workload": "order-saga", "model": m, "runs": 12, "seed": 4})
        for m in ("durable", "baseline")
    }
    rows = {m: run_experiment(spec) for m, spec in specs.items()}
    for frame in rows.values():
        assert frame["ok"].all()
        assert saga.expected_outcomes(frame)["matches"].all()
        assert set(frame["phase"]) == {"order-saga"}
    assert list(rows["durable"]["output_digest"]) == list(rows["baseline"]["output_digest"])
    assert list(rows["durable"]["outcome"]) == list(rows["baseline"]["outcome"])
    assert rows["durable"]["store_ops"].sum() == 0
    assert (rows["baseline"]["checkpoint_ops"] == 0).all()
    monkeypatch.setattr(dispatch, "SERIAL_BELOW_S", 0.0)  # really share the runs out
    assert run_experiment(specs["baseline"], jobs=2).equals(rows["baseline"])


def test_the_command_line_runs_it_with_options(saga: Any, tmp_path: Path) -> None:
    out = tmp_path / "saga.csv"
    args = ["--import", "examples.order_saga", "run", "order-saga", "--model", "baseline"]
    args += ["--runs", "3", "-q", "--out", str(out), "--options", "reject_probability=1"]
    assert main([*args, "--options", "decline_probability=0"]) == 0
    rows = load_rows(out)
    assert list(rows["outcome"]) == ["compensated"] * 3
    assert set(rows["failed_step"]) == {"ship"}
    assert set(rows["compensations"]) == {"refund>release"}
    assert list(rows["reject_probability"]) == [1.0] * 3


def test_the_baseline_needs_the_virtual_clock(saga: Any) -> None:
    with pytest.raises(SpecError, match="the baseline order saga runs on the virtual clock only"):
        ExperimentSpec.parse({"workload": "order-saga", "model": "baseline", "clock": "wall"})


@pytest.mark.parametrize("rejected", [False, True])
def test_the_durable_handler_runs_unchanged_on_the_official_local_runner(
    saga: Any, rejected: bool
) -> None:
    failure_plan = plan(saga, rejected=rejected)
    options, order = saga.SagaOptions(), saga.Order("order-0")
    world = saga.Services(failure_plan, Sampler(PAPER_LOCAL, 0))
    run = run_durable(
        saga.order_saga_handler(world, options),
        asdict(order),
        engine="aws-local",
        responder=saga.warehouse_responder(world, order, options),
    )
    assert run.status == "SUCCEEDED"
    assert world.observed(order) == triple(failure_plan.expected())


def test_the_tutorial_notebook_accepts_exactly_the_options_the_saga_accepts(saga: Any) -> None:
    """The notebook's probabilities (`TutorialParameters`) are the saga's options: the same
    defaults and the same bounds, so the reproduce driver refuses a bad one before running."""
    for name in ("decline_probability", "reject_probability", "transient_probability"):
        option = saga.SagaOptions.model_fields[name]
        assert TutorialParameters.model_fields[name].default == option.default, name
        low = next(m.ge for m in option.metadata if hasattr(m, "ge"))
        high = next(m.le for m in option.metadata if hasattr(m, "le"))
        for inside, outside in ((low, low - 0.01), (high, high + 0.01)):
            assert getattr(TutorialParameters.check({name: inside}), name) == inside
            assert getattr(saga.SagaOptions(**{name: inside}), name) == inside
            with pytest.raises(ParameterError, match=f"bad parameter {name}="):
                TutorialParameters.check({name: outside})
            with pytest.raises(ValueError, match=name):
                saga.SagaOptions(**{name: outside})
