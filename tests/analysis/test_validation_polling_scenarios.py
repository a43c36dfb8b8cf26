"""Validation against measurement, the polling design space, scenarios side by side, breakdown."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from durable_sim.analysis.breakdown import breakdown_table
from durable_sim.analysis.figures import breakdown_figure, figure_bytes
from durable_sim.analysis.polling import polling_design_table
from durable_sim.analysis.scenarios import scenario_of, scenarios_table
from durable_sim.analysis.schema import AnalysisInputError
from durable_sim.analysis.validation import relative_error, validation_table


def test_relative_error_is_predicted_minus_measured_over_measured() -> None:
    assert relative_error(100.0, 85.0) == pytest.approx(-0.15)
    assert relative_error(0.0, 0.0) == 0.0
    assert math.isnan(relative_error(0.0, 1.0))


def test_validation_rows_per_workload_model_and_metric(rows: pd.DataFrame) -> None:
    measured = rows.assign(clock="wall", cores=2, load_1m=0.5)
    predicted = rows.assign(time_ms=rows["time_ms"] * 1.1)
    frame = validation_table(measured, predicted).frame
    assert len(frame) == 2 * 2 * 2
    times = frame[frame["metric"] == "time_ms"]
    assert np.allclose(times["rel_error"], 0.1) and times["within_target"].all()
    assert (frame[frame["metric"] == "store_ops"]["rel_error"] == 0).all()
    with pytest.raises(AnalysisInputError, match="tolerance"):
        validation_table(measured, predicted, tolerance=0)


def _baseline_runs(ops: list[int], read: str = "query") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "phase": "video",
            "model": "baseline",
            "clock": "virtual",
            "profile": "paper-local",
            "poll_read": read,
            "poll_backoff": "fixed",
            "poll_interval_ms": 100.0,
            "store_ops": ops,
        }
    )


def test_a_strategy_is_consistent_when_a_20_run_mean_can_be_the_papers() -> None:
    mixed = _baseline_runs([62] * 14 + [64] * 6)  # mean 62.6 exactly
    far = _baseline_runs([38] * 20, read="get")
    frame = polling_design_table(pd.concat([mixed, far]), n_resamples=2000).frame
    assert (frame["scenario"] == "paper-local").all()
    frame = frame.set_index("poll_read")
    assert bool(frame.loc["query", "consistent"]) is True
    assert bool(frame.loc["get", "consistent"]) is False
    assert frame.loc["get", "mean_low"] == frame.loc["get", "mean_high"] == 38.0


def test_scenarios_are_profiles_on_the_virtual_clock_and_measured_on_the_wall_clock(
    rows: pd.DataFrame,
) -> None:
    measured = rows.assign(clock="wall")
    both = pd.concat([rows, measured], ignore_index=True)
    assert set(scenario_of(both)) == {"paper-local", "measured"}
    frame = scenarios_table(both).frame
    assert list(frame["scenario"].drop_duplicates()) == ["paper", "paper-local", "measured"]
    paper = frame[(frame["scenario"] == "paper") & (frame["phase"] == "video")]
    assert paper.set_index("model").loc["baseline", "mean_store_ops"] == 62.6


def test_the_breakdown_figure_is_byte_stable(rows: pd.DataFrame) -> None:
    table = breakdown_table(rows).frame
    assert (table["largest"] == "compute").any()
    first = figure_bytes(breakdown_figure(table), "svg")
    assert first == figure_bytes(breakdown_figure(table), "svg")
