"""Paired comparisons (`compare_paired`, `wilcoxon_signed_rank`): runs of two groups paired by
seed, their differences tested pair by pair."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from durable_sim.analysis.schema import AnalysisInputError
from durable_sim.analysis.stats import (
    bootstrap_mean_ci,
    compare_groups,
    compare_paired,
    wilcoxon_signed_rank,
)


def test_the_signed_rank_test_gives_wilcoxons_exact_p() -> None:
    # five positive differences: W- = 0 is the most extreme of 2**5 equally likely sign sets
    # under the null, on either side: p = 2 / 32
    assert wilcoxon_signed_rank([1.0, 2.0, 3.0, 4.0, 5.0]).pvalue == pytest.approx(2 / 32)
    d = np.random.default_rng(3).normal(0.5, 1.0, 30)
    expected = stats.wilcoxon(d)
    test = wilcoxon_signed_rank(d)
    assert (test.statistic, test.pvalue) == (expected.statistic, expected.pvalue)


@pytest.mark.parametrize(
    ("differences", "reason"),
    [([], "needs n >= 1 pair (n=0)"), ([0.0, 0.0, 0.0], "every paired difference is zero")],
)
def test_no_test_without_a_nonzero_difference(differences: list[float], reason: str) -> None:
    test = wilcoxon_signed_rank(differences)
    assert math.isnan(test.pvalue) and math.isnan(test.statistic) and test.reason == reason


def _rows(
    base: list[float], shifts: list[float], *, seeds: list[int] | None = None
) -> pd.DataFrame:
    seeds = seeds or list(range(len(base)))
    durable = [b + s for b, s in zip(base, shifts, strict=True)]
    return pd.concat(
        [
            pd.DataFrame({"model": "baseline", "seed": seeds, "time_ms": base}),
            pd.DataFrame({"model": "durable", "seed": seeds, "time_ms": durable}),
        ],
        ignore_index=True,
    )


def test_a_small_shift_under_large_spread_is_found_only_when_paired() -> None:
    base = list(np.random.default_rng(5).uniform(1_000.0, 900_000.0, 20))
    shifts = [300.0 + i for i in range(20)]  # distinct: no ties, so scipy's p is the exact one
    rows = _rows(base, shifts)
    paired = compare_paired(rows, "time_ms", n_resamples=2_000)
    assert paired.n_pairs == 20 and paired.diff_mean == pytest.approx(309.5)
    assert 300.0 <= paired.ci.low < 309.5 < paired.ci.high <= 319.0
    assert paired.wilcoxon.pvalue == pytest.approx(2 / 2**20)  # every sign positive
    assert compare_groups(rows, "time_ms", n_resamples=2_000).welch.pvalue > 0.9


def test_pairs_follow_the_seed_not_the_row_order() -> None:
    rows = _rows([10.0, 20.0, 30.0], [1.0, 1.0, 1.0], seeds=[7, 8, 9])
    shuffled = rows.sample(frac=1.0, random_state=1)
    unpaired = pd.DataFrame([{"model": "durable", "seed": 99, "time_ms": 5.0}])
    shuffled = pd.concat([shuffled, unpaired])
    paired = compare_paired(shuffled, "time_ms", n_resamples=500)
    assert paired.n_pairs == 3 and paired.diff_mean == pytest.approx(1.0)
    assert (paired.mean_a, paired.mean_b) == pytest.approx((20.0, 21.0))


def test_pairs_with_a_missing_value_are_dropped() -> None:
    rows = _rows([10.0, 20.0, 30.0], [2.0, 2.0, 2.0])
    rows.loc[0, "time_ms"] = math.nan
    paired = compare_paired(rows, "time_ms", n_resamples=500)
    assert paired.n_pairs == 2 and paired.mean_a == pytest.approx(25.0)


def test_a_seed_with_two_rows_of_one_group_is_refused() -> None:
    rows = _rows([10.0, 20.0], [1.0, 1.0], seeds=[4, 4])
    with pytest.raises(AnalysisInputError, match=r"seed=4 has several rows in model 'baseline'"):
        compare_paired(rows, "time_ms")


_DIFFS = [3.1, -0.4, 2.7, 5.9, 1.3, 0.8, 4.4, -1.6, 2.2, 3.8, 0.1, 6.5]


def test_the_result_names_its_metric_pairing_and_groups_and_uses_the_documented_defaults() -> None:
    """Defaults: metric ``time_ms`` paired by ``seed``, baseline vs durable, a 95 % percentile
    bootstrap interval of the mean difference from 10,000 resamples seeded 0."""
    base = [100.0 + 7.0 * i for i in range(len(_DIFFS))]
    rows = _rows(base, _DIFFS)
    paired = compare_paired(rows)
    assert (paired.metric, paired.pair_by, paired.group_a, paired.group_b) == (
        "time_ms",
        "seed",
        "baseline",
        "durable",
    )
    diffs = np.array(
        [(b + d) - b for b, d in zip(base, _DIFFS, strict=True)]
    )  # as the rows hold them
    assert paired.ci == bootstrap_mean_ci(diffs, seed=0, n_resamples=10_000, level=0.95)
    assert paired.ci != bootstrap_mean_ci(diffs, seed=1)
    chosen = compare_paired(rows, seed=3, n_resamples=500, level=0.8)
    assert chosen.ci == bootstrap_mean_ci(diffs, seed=3, n_resamples=500, level=0.8)


def test_phase_picks_the_pairs_of_one_phase() -> None:
    rows = pd.concat(
        [
            _rows([10.0, 20.0, 30.0], [1.0, 1.0, 1.0]).assign(phase="cold"),
            _rows([10.0, 20.0, 30.0], [5.0, 5.0, 5.0]).assign(phase="warm"),
        ],
        ignore_index=True,
    )
    assert compare_paired(rows, phase="warm", n_resamples=200).diff_mean == pytest.approx(5.0)
    with pytest.raises(AnalysisInputError, match=r"rows mix phases \['cold', 'warm'\]"):
        compare_paired(rows, n_resamples=200)


def test_groups_of_any_column_are_checked_against_the_labels_present() -> None:
    rows = _rows([10.0, 20.0, 30.0], [2.0, 2.0, 2.0]).rename(columns={"model": "variant"})
    paired = compare_paired(rows, group_col="variant", n_resamples=200)
    assert paired.diff_mean == pytest.approx(2.0)
    with pytest.raises(AnalysisInputError) as err:
        compare_paired(rows, group_col="variant", groups=("baseline", "tuned"))
    assert str(err.value).startswith("unknown variant 'tuned'; accepted: ")
    assert "'baseline'" in str(err.value) and "'durable'" in str(err.value)
