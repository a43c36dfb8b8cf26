"""Guards against one-line bugs in the experiment harness (issue 12, item 6).

Bugs caught: counter rows always ``ok=True``; the experiment seed ignored (every spec's runs
spawned from ``SeedSequence(0)``).
"""

from __future__ import annotations

import numpy as np
import pytest

from durable_sim.experiments import ExperimentSpec, run_experiment, run_seeds
from durable_sim.workloads import counter


def _spec(**values: object) -> ExperimentSpec:
    return ExperimentSpec.parse({"workload": "counter", "model": "baseline", "runs": 3, **values})


def test_the_seed_decides_the_runs() -> None:
    assert run_seeds(1, 4) != run_seeds(2, 4)
    expected = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(5).spawn(4)]
    assert run_seeds(5, 4) == expected
    for model in ("baseline", "durable"):
        one = run_experiment(_spec(model=model, seed=1))
        two = run_experiment(_spec(model=model, seed=2))
        assert list(one["seed"]) == run_seeds(1, 3)
        assert set(one["seed"]).isdisjoint(two["seed"])
        assert list(one["time_ms"]) != list(two["time_ms"])  # paper-local latencies are drawn


def test_a_baseline_counter_with_a_wrong_final_value_is_not_ok(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    right = run_experiment(_spec(runs=2))
    assert list(right["ok"]) == [True, True] and list(right["final_value"]) == [2, 2]
    monkeypatch.setattr(counter, "apply", lambda value, op, amount: value + amount)  # no minus
    wrong = run_experiment(_spec(runs=2))
    assert list(wrong["final_value"]) == [4, 4]
    assert list(wrong["ok"]) == [False, False]


def test_a_failed_durable_counter_is_not_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(value: int, op: str, amount: int) -> int:
        raise RuntimeError("counter store unavailable")

    monkeypatch.setattr(counter, "apply", broken)
    rows = run_experiment(_spec(model="durable", runs=1))
    assert list(rows["ok"]) == [False]
