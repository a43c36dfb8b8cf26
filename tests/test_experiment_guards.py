"""Guards against one-line bugs in the experiment harness (issue 12, item 6).

Bugs caught: counter rows always ``ok=True`` (or an oracle that shares a bug with the
workflows); the experiment seed ignored (every spec's runs
spawned from ``SeedSequence(0)``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from durable_sim.analysis import PAPER_VALUES
from durable_sim.experiments import ExperimentSpec, RunFailedError, run_experiment, run_seeds
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


def test_a_baseline_counter_with_a_wrong_final_value_fails_the_experiment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    right = run_experiment(_spec(runs=2))
    assert list(right["ok"]) == [True, True] and list(right["final_value"]) == [2, 2]
    real = counter.run_baseline_counter

    def off_by_two(*args: Any, **kwargs: Any) -> counter.BaselineCounterResult:
        result = real(*args, **kwargs)
        return replace(result, value=result.value + 2)

    monkeypatch.setattr(counter, "run_baseline_counter", off_by_two)
    # No failure is injected, so a run that is not ok stops the experiment (no row says ok=False).
    with pytest.raises(RunFailedError, match="final value 4, expected 2"):
        run_experiment(_spec(runs=2))


def test_the_counters_oracle_is_table_1s_final_value() -> None:
    """`ok` compares with `expected_value`, which folds the same `apply` the workflows use: pinned
    to the paper's published final value, a bug in `apply` cannot pass as a right answer."""
    table1 = {(v.phase, v.model, v.metric): v.value for v in PAPER_VALUES}
    for model in ("durable", "baseline"):
        assert counter.expected_value() == table1[("counter", model, "final_value")] == 2
