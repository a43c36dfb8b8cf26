"""Two-group statistics: agreement with scipy and brute force, seeding, degenerate inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from durable_sim.analysis import (
    AnalysisInputError,
    bootstrap_diff_ci,
    bootstrap_mean_ci,
    cliffs_delta,
    compare_groups,
    comparisons_frame,
    hedges_g,
    mann_whitney,
    spearman,
    welch_test,
)

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture
def samples() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.normal(200.0, 15.0, 20), rng.normal(530.0, 5.0, 10)


def test_welch_matches_scipy(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = samples
    ours = welch_test(a, b)
    ref = sps.ttest_ind(b, a, equal_var=False)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert ours.df == pytest.approx(ref.df, rel=1e-12)
    assert ours.reason == ""


def test_mann_whitney_matches_scipy_and_counts_b_over_a() -> None:
    a, b = np.array([1.0, 2.0, 2.0, 5.0]), np.array([2.0, 6.0, 7.0])
    ours = mann_whitney(a, b)
    ref = sps.mannwhitneyu(b, a, alternative="two-sided")
    assert (ours.statistic, ours.pvalue) == (float(ref.statistic), float(ref.pvalue))
    assert mann_whitney([1.0, 2.0], [3.0, 4.0]).statistic == 4.0


def test_cliffs_delta_equals_brute_force_with_ties() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 6, 40).astype(float), rng.integers(2, 8, 25).astype(float)
    brute = np.sign(b[:, None] - a[None, :]).mean()
    assert cliffs_delta(a, b).value == pytest.approx(brute, abs=1e-15)
    assert cliffs_delta([1.0, 2.0], [3.0, 4.0]).value == 1.0
    assert cliffs_delta([3.0, 4.0], [1.0, 2.0]).value == -1.0


def test_hedges_g_applies_small_sample_correction() -> None:
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0, 5.0, 6.0])
    d = 2.0 / np.sqrt(np.var(a, ddof=1))  # equal variances, so pooled sd = sd
    approx = d * (1 - 3 / (4 * 6 - 1))  # Hedges' approximation of the exact factor
    g = hedges_g(a, b).value
    assert g < d
    assert g == pytest.approx(approx, rel=5e-3)
    assert hedges_g(b, a).value == pytest.approx(-g)


def test_bootstrap_is_seeded_and_covers_the_difference(
    samples: tuple[np.ndarray, np.ndarray],
) -> None:
    a, b = samples
    first = bootstrap_diff_ci(a, b, seed=5, n_resamples=4000)
    again = bootstrap_diff_ci(a, b, seed=np.random.default_rng(5), n_resamples=4000)
    other = bootstrap_diff_ci(a, b, seed=6, n_resamples=4000)
    assert first == again
    assert first != other
    assert first.low < b.mean() - a.mean() < first.high
    assert (first.level, first.n_resamples) == (0.95, 4000)
    narrow = bootstrap_diff_ci(a, b, seed=5, n_resamples=4000, level=0.5)
    assert first.low < narrow.low < narrow.high < first.high


def test_bootstrap_mean_ci_handles_large_samples_in_batches() -> None:
    x = np.random.default_rng(0).exponential(10.0, 50_000)
    ci = bootstrap_mean_ci(x, seed=1, n_resamples=200)
    assert ci.low < x.mean() < ci.high
    assert ci.high - ci.low < 1.0


@pytest.mark.parametrize(
    ("a", "b", "fragment"),
    [([1.0], [2.0, 3.0], "n >= 2"), ([], [1.0, 2.0], "n >= 2"), ([5.0, 5.0], [5.0, 5.0], "zero")],
)
def test_degenerate_inputs_give_nan_with_reason(
    a: list[float], b: list[float], fragment: str
) -> None:
    for result in (welch_test(a, b), hedges_g(a, b)):
        value = getattr(result, "statistic", getattr(result, "value", None))
        assert value is not None and math.isnan(value)
        assert fragment in result.reason


def test_identical_constant_groups() -> None:
    mwu = mann_whitney([3.0, 3.0], [3.0, 3.0, 3.0])
    assert math.isnan(mwu.pvalue) and mwu.reason == "all values tied"
    assert cliffs_delta([3.0, 3.0], [3.0, 3.0]).value == 0.0
    ci = bootstrap_diff_ci([3.0, 3.0], [3.0, 3.0])
    assert (ci.low, ci.high) == (0.0, 0.0) and "zero width" in ci.reason


def test_one_constant_group_is_still_testable() -> None:
    result = welch_test([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    assert result.reason == "" and result.df == pytest.approx(2.0)
    empty = mann_whitney([], [1.0])
    assert math.isnan(empty.statistic) and empty.reason.startswith("needs n >= 1")


def test_compare_groups_on_rows(rows: pd.DataFrame) -> None:
    c = compare_groups(rows, phase="video", seed=1, n_resamples=1000)
    assert (c.group_a, c.group_b, c.n_a, c.n_b) == ("baseline", "durable", 20, 10)
    video = rows[rows["phase"] == "video"]
    assert c.mean_a == pytest.approx(video.loc[video["model"] == "baseline", "time_ms"].mean())
    assert c.diff_mean == pytest.approx(c.mean_b - c.mean_a)
    assert c.ci.low < c.diff_mean < c.ci.high
    assert c.welch.pvalue < 1e-6 and c.cliffs_delta.value == 1.0
    assert c == compare_groups(rows, phase="video", seed=1, n_resamples=1000)


def test_compare_groups_store_ops_zero_variance_is_reported(rows: pd.DataFrame) -> None:
    frame = comparisons_frame([compare_groups(rows, "store_ops", phase="counter")])
    assert math.isnan(frame.loc[0, "welch_p"]) and math.isnan(frame.loc[0, "hedges_g"])
    assert "welch: zero variance in both groups" in frame.loc[0, "notes"]


def test_compare_groups_drops_nan_with_a_note(rows: pd.DataFrame) -> None:
    rows = rows.copy()
    rows.loc[rows.index[0], "time_ms"] = np.nan
    c = compare_groups(rows, phase="counter", n_resamples=100)
    assert c.n_a == 9 and c.notes == ("baseline: dropped 1 non-finite time_ms value(s)",)


def test_compare_groups_rejects_mixed_phases(rows: pd.DataFrame) -> None:
    with pytest.raises(AnalysisInputError, match=r"mix phases \['counter', 'video'\]"):
        compare_groups(rows)


def test_errors_name_the_bad_value_and_the_accepted_ones(rows: pd.DataFrame) -> None:
    with pytest.raises(AnalysisInputError, match=r"unknown model 'Durable'; accepted: 'baseline'"):
        compare_groups(rows, phase="video", groups=("baseline", "Durable"))
    with pytest.raises(AnalysisInputError, match=r"lack column\(s\) 'latency'; columns present"):
        compare_groups(rows, "latency", phase="video")
    with pytest.raises(AnalysisInputError, match=r"unknown phase 'vidoe'; accepted: 'counter'"):
        compare_groups(rows, phase="vidoe")
    with pytest.raises(AnalysisInputError, match="must be numeric"):
        compare_groups(rows, "output_digest", phase="video")
    with pytest.raises(AnalysisInputError, match="n_resamples"):
        bootstrap_diff_ci([1.0, 2.0], [3.0, 4.0], n_resamples=0)
    with pytest.raises(AnalysisInputError, match="level"):
        bootstrap_mean_ci([1.0, 2.0], level=95)


def test_spearman_finds_the_baseline_correlation(rows: pd.DataFrame) -> None:
    corr = spearman(rows, "baseline", phase="video")
    ref = sps.spearmanr(
        *(
            rows.query("phase == 'video' and model == 'baseline'")[c]
            for c in ("store_ops", "time_ms")
        )
    )
    assert corr.rho == pytest.approx(ref.statistic) and corr.rho > 0.8
    assert corr.n == 20 and corr.reason == ""


def test_spearman_degenerate_cases(rows: pd.DataFrame) -> None:
    durable = spearman(rows, "durable", phase="video")
    assert math.isnan(durable.rho) and durable.reason == "store_ops is constant"
    few = spearman(rows.head(2), "baseline", phase="counter")
    assert math.isnan(few.rho) and few.reason == "needs n >= 3 (n=2)"
