"""Guards against one-line bugs in the bootstrap (issue 12, item 6).

Bug caught: the percentile interval's tail divided by 4 instead of 2, so a 95% interval is really
a 97.5% one. Checked without reading the implementation: for a large normal sample the bootstrap
distribution of the mean is close to normal, so a level-L percentile interval is close to
mean +- z((1+L)/2) * s / sqrt(n), and the widths at two levels are in the ratio of their z.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from durable_sim.analysis import bootstrap_diff_ci, bootstrap_mean_ci

N = 400
RESAMPLES = 20_000


def _normal_width(sd: float, n: int, level: float) -> float:
    return 2 * stats.norm.ppf((1 + level) / 2) * sd / np.sqrt(n)


@pytest.mark.parametrize("level", [0.80, 0.95])
def test_mean_interval_has_the_stated_level(level: float) -> None:
    x = np.random.default_rng(7).normal(100.0, 15.0, N)
    ci = bootstrap_mean_ci(x, seed=1, n_resamples=RESAMPLES, level=level)
    width = ci.high - ci.low
    # The bootstrap sd of the mean is s * sqrt((n-1)/n) / sqrt(n) (plug-in variance).
    expected = _normal_width(x.std(ddof=0), N, level)
    assert width == pytest.approx(expected, rel=0.05)  # /4 would be 14% (95%) or 28% too wide
    assert (ci.low + ci.high) / 2 == pytest.approx(x.mean(), abs=0.05 * width)


def test_width_ratio_between_levels_is_the_normal_quantile_ratio() -> None:
    x = np.random.default_rng(8).exponential(50.0, N)
    y = np.random.default_rng(9).exponential(60.0, N)
    widths = {}
    for level in (0.80, 0.95):
        ci = bootstrap_diff_ci(x, y, seed=2, n_resamples=RESAMPLES, level=level)
        widths[level] = ci.high - ci.low
    expected = stats.norm.ppf(0.975) / stats.norm.ppf(0.90)  # 1.529; with /4: 1.363
    assert widths[0.95] / widths[0.80] == pytest.approx(expected, rel=0.04)
