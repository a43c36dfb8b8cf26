"""Sensitivity: per-point means, the trend test of the durable-minus-baseline difference, its
words, the figure; on synthetic grids whose right answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_sim.analysis.prose import contradictions
from durable_sim.analysis.schema import AnalysisInputError
from durable_sim.analysis.sensitivity import (
    METRICS,
    findings_table,
    paired_differences,
    sensitivity_sentences,
    state_cost_sentence,
    summary_frame,
    trend_test,
    trends_frame,
    with_state_cost,
)
from durable_sim.rows import COST_COMPONENTS, cost_column

PROFILES = ("paper-local", "aws-lambda")


def _row(dimension: str, value: float, model: str, profile: str, run: int) -> dict[str, object]:
    """A run whose metrics follow known laws: the baseline's store calls are 3 per chunk plus
    the run index (noise that pairing by run cancels), the durable model's none."""
    n = value if dimension == "chunks" else 10.0
    base = model == "baseline"
    row: dict[str, object] = {
        "run_id": run,
        "profile": profile,
        "model": model,
        dimension: value,
        "ok": True,
        "time_ms": 100.0 + run + (5.0 * n if base else 2.0 * n),
        "store_ops": 3.0 * n + run if base else 0.0,
        "checkpoint_ops": 0.0 if base else 2.0 * n + 4,
        "checkpoint_bytes": 0.0 if base else 300.0 * n,
        "invocations": n + 1 if base else 1.0,
    }
    for component in COST_COMPONENTS:
        row[cost_column(component)] = 0.0
    if base:
        row["cost_dynamodb_writes_usd"] = 0.625e-6 * 3.0 * n
    else:
        row["cost_durable_operations_usd"] = 8e-6 * (2.0 * n + 4)
    row["cost_lambda_compute_usd"] = 1e-5 * (run + 1)
    row["cost_usd"] = sum(float(row[cost_column(c)]) for c in COST_COMPONENTS)  # type: ignore[arg-type]
    return row


def _grid(dimension: str, values: list[float], runs: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        [
            _row(dimension, v, m, p, r)
            for p in PROFILES
            for v in values
            for m in ("durable", "baseline")
            for r in range(runs)
        ]
    )


def sensitivity_grids() -> dict[str, pd.DataFrame]:
    """Small grids of every dimension (also the figure tests' input)."""
    return {
        "chunks": _grid("chunks", [1.0, 10.0, 100.0]),
        "failure_probability": _grid("failure_probability", [0.0, 0.25, 0.5]),
        "poll_interval_ms": _grid("poll_interval_ms", [25.0, 100.0]),
        "cores": _grid("cores", [1.0, 2.0, 4.0]),
    }


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    slope=st.floats(-1e4, 1e4, allow_nan=False),
    intercept=st.floats(-1e4, 1e4, allow_nan=False),
    xs=st.lists(st.floats(-5, 5), min_size=2, max_size=6, unique=True).filter(
        lambda v: max(v) - min(v) > 0.1
    ),
    runs=st.integers(2, 5),
)
def test_a_noise_free_line_gives_its_slope_and_a_zero_width_interval(
    slope: float, intercept: float, xs: list[float], runs: int
) -> None:
    samples = [np.full(runs, intercept + slope * x) for x in xs]
    result = trend_test(xs, samples, seed=1, n_resamples=200)
    assert result.slope == pytest.approx(slope, rel=1e-6, abs=1e-5)
    # zero width up to rounding: resampled fits of one exact line differ in the last bits
    assert result.high - result.low == pytest.approx(0.0, abs=1e-9 * max(1.0, abs(slope)))
    assert result.low == pytest.approx(result.slope, abs=1e-5)
    assert result.first == pytest.approx(intercept + slope * min(xs))


def test_the_interval_covers_the_true_slope_about_as_often_as_it_says() -> None:
    """Over 200 noisy data sets (8 runs at each of 4 points, true slope 2) the 95 % interval
    covers the slope in at least 85 % of them (a percentile bootstrap of 8 runs undercovers a
    little); each interval is around its own estimate and fixed by its seed."""
    rng = np.random.default_rng(7)
    xs = np.array([0.0, 1.0, 2.0, 3.0])
    covered = 0
    for i in range(200):
        samples = [2.0 * x + rng.normal(0.0, 1.0, 8) for x in xs]
        result = trend_test(xs, samples, seed=i, n_resamples=500)
        assert result.low < result.slope < result.high
        covered += result.low < 2.0 < result.high
    assert covered >= 170
    assert trend_test(xs, samples, seed=3, n_resamples=500) == trend_test(
        xs, samples, seed=3, n_resamples=500
    )


def test_float_noise_is_no_trend() -> None:
    """A constant difference computed in floating point (1e-15 off) must read as flat."""
    xs = np.log2([25.0, 100.0, 400.0])
    samples = [np.full(3, 26.0) + e for e in (0.0, 3e-15, -2e-15)]
    result = trend_test(xs, samples, seed=0, n_resamples=200)
    assert (result.slope, result.low, result.high) == (0.0, 0.0, 0.0)
    assert "zero width" in result.reason


@pytest.mark.parametrize(
    ("xs", "samples", "message"),
    [
        ([1.0], [np.ones(3)], "two or more distinct x"),
        ([1.0, 1.0], [np.ones(3), np.ones(3)], "two or more distinct x"),
        ([1.0, 2.0], [np.ones(3)], "one sample per x"),
        ([1.0, 2.0], [np.ones(3), np.array([1.0, math.nan])], "finite values"),
        ([1.0, 2.0], [np.ones(3), np.array([])], "non-empty"),
    ],
)
def test_bad_trend_inputs_get_one_clear_error(xs, samples, message) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        trend_test(xs, samples)


def test_a_single_run_per_point_gives_no_interval() -> None:
    result = trend_test([0.0, 1.0], [np.array([1.0]), np.array([3.0])], n_resamples=200)
    assert result.slope == 2.0 and math.isnan(result.low) and "fewer than 2 runs" in result.reason
    with pytest.raises(AnalysisInputError, match="n_resamples=10"):
        trend_test([0.0, 1.0], [np.ones(2), np.ones(2)], n_resamples=10)


def test_runs_are_paired_by_run_id_so_shared_noise_cancels() -> None:
    grid = _grid("chunks", [1.0, 10.0])
    values, samples = paired_differences(grid, "chunks", "paper-local", "time_ms")
    assert values.tolist() == [1.0, 10.0]
    assert [s.tolist() for s in samples] == [[-3.0] * 3, [-30.0] * 3]  # the run noise cancels
    broken = grid[~((grid["model"] == "durable") & (grid["run_id"] == 2))]
    with pytest.raises(AnalysisInputError, match="cannot be paired"):
        paired_differences(broken, "chunks", "paper-local", "time_ms")


def test_trends_find_the_laws_of_the_synthetic_grid() -> None:
    """Store calls: the difference is -3 per chunk, so per tenfold chunks over 1, 10, 100 the
    least-squares slope of (-3, -30, -300) against (0, 1, 2) is -148.5: it falls, in the durable
    model's favour; time too, and its run noise, shared by both models, cancels in the pairs;
    checkpoint writes rise (+2 per chunk); cost is compared in aws-lambda only."""
    trends = trends_frame(sensitivity_grids(), seed=0, n_resamples=500).set_index(
        ["dimension", "profile", "metric"]
    )
    store = trends.loc[("chunks", "paper-local", "store_ops")]
    assert store["slope"] == pytest.approx(-148.5)  # the run noise (mean 1) shifts no slope
    assert store["ci_low"] < -148.5 < store["ci_high"] < 0
    assert (store["trend"], store["favours"]) == ("falls", "durable")
    time = trends.loc[("chunks", "paper-local", "time_ms")]  # the same noise in both: paired
    assert time["slope"] == time["ci_low"] == time["ci_high"] == pytest.approx(-148.5)
    assert (store["diff_first"], store["diff_last"]) == pytest.approx((-4.0, -301.0))
    writes = trends.loc[("chunks", "aws-lambda", "checkpoint_ops")]
    assert writes["slope"] == pytest.approx(99.0) and writes["trend"] == "rises"
    flat = trends.loc[("failure_probability", "paper-local", "store_ops")]
    assert (flat["slope"], flat["trend"], flat["favours"]) == (
        0.0,
        "shows no clear trend",
        "neither",
    )
    costs = trends.xs("cost_usd", level="metric")
    assert set(costs.index.get_level_values("profile")) == {"aws-lambda"}
    assert METRICS["cost_usd"].unit == "µUSD"
    state = trends.loc[("chunks", "aws-lambda", "state_cost_usd")]
    # 8 µUSD x (2n + 4) durable against 0.625 µUSD x 3n baseline: per chunk 14.125 µUSD
    assert state["slope"] == pytest.approx(14.125 * 49.5)


def test_summary_means_per_point_with_the_state_cost() -> None:
    summary = summary_frame({"chunks": _grid("chunks", [1.0, 10.0])})
    point = summary[(summary["value"] == 10.0) & (summary["profile"] == "aws-lambda")]
    base = point[point["model"] == "baseline"].iloc[0]
    durable = point[point["model"] == "durable"].iloc[0]
    assert (base["runs"], base["ok_runs"], base["store_ops"]) == (3, 3, 31.0)
    assert durable["state_cost_usd"] == pytest.approx(8e-6 * 24)
    assert base["state_cost_usd"] == pytest.approx(0.625e-6 * 30)
    rows = with_state_cost(_grid("chunks", [1.0]))
    assert "state_cost_usd" in rows


@pytest.mark.parametrize(
    ("grids", "message"),
    [
        ({"colour": _grid("chunks", [1.0])}, "unknown dimension 'colour'"),
        ({"chunks": _grid("chunks", [0.0, 1.0])}, "all > 0 on a log10 axis"),
        ({"cores": _grid("chunks", [1.0])}, "lack column"),
    ],
)
def test_bad_grids_get_one_clear_error(grids, message) -> None:
    with pytest.raises(AnalysisInputError, match=message):
        summary_frame(grids)


def test_every_sentence_follows_its_numbers_and_the_state_cost_count_is_right() -> None:
    grids = sensitivity_grids()
    trends, summary = trends_frame(grids, n_resamples=200), summary_frame(grids)
    sentences = sensitivity_sentences(trends, summary)
    assert len(sentences) == len(trends) + 1
    assert all(not contradictions(s) for s in sentences)
    by_key = {s.key: s.text for s in sentences}
    assert (
        "difference falls (-4.0 to -301.0 calls; slope -148.50 calls per tenfold chunks"
        in (by_key["trend_chunks_paper-local_store_ops"])
    )
    assert "in the durable model's favour" in by_key["trend_chunks_paper-local_store_ops"]
    # durable 8 x (2n + 4) µUSD against 0.625 x 3n: dearer at every point of both sweeps
    level = state_cost_sentence(summary, ["chunks", "failure_probability"])
    assert "at every one of the 12 grid points of the chunks and failure probability" in level.text
    cheaper = summary.assign(
        state_cost_usd=np.where(summary["model"] == "durable", 0.0, summary["state_cost_usd"])
    )
    assert "at none of the 6 grid points" in state_cost_sentence(cheaper, ["chunks"]).text
    table = findings_table(sentences)
    assert table.frame["key"].tolist() == [s.key for s in sentences]


def test_a_sentence_that_contradicts_its_interval_is_refused() -> None:
    (good,) = [
        s
        for s in sensitivity_sentences(
            trends_frame({"chunks": _grid("chunks", [1.0, 10.0])}, n_resamples=200),
            summary_frame({"chunks": _grid("chunks", [1.0, 10.0])}),
        )
        if s.key == "trend_chunks_paper-local_store_ops"
    ]
    wrong = type(good)(good.key, good.text.replace("falls", "rises"), good.facts)
    with pytest.raises(AssertionError, match="contradict"):
        findings_table([wrong])
