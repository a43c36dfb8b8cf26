"""Two-group comparisons of a per-run metric, and the store-ops/time correlation.

Direction: every difference and effect size is ``b - a`` with ``a`` the first group (default
baseline) and ``b`` the second (default durable); a positive value means the second group is larger.
Degenerate inputs (n < 2, zero variance, all values tied) give NaN with a reason instead of a
warning or a misleading number. Resampling uses a seeded `numpy.random.Generator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from durable_sim.analysis.schema import (
    AnalysisInputError,
    accepted_labels,
    finite_values,
    numeric_column,
    require_columns,
    require_label,
)

#: Upper bound on elements drawn per bootstrap batch, so memory stays flat for large samples.
_BATCH_ELEMENTS = 4_000_000

Seed = int | np.random.Generator
Sample = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class SignificanceTest:
    """A test statistic and its two-sided p-value; `reason` says why they are NaN."""

    statistic: float
    pvalue: float
    df: float = float("nan")
    reason: str = ""


@dataclass(frozen=True)
class Effect:
    """An effect size; `reason` says why it is NaN."""

    value: float
    reason: str = ""


@dataclass(frozen=True)
class Interval:
    """A bootstrap percentile interval; `reason` says why it is NaN or degenerate."""

    low: float
    high: float
    level: float
    n_resamples: int
    reason: str = ""


@dataclass(frozen=True)
class Comparison:
    """Everything we report about one metric between two groups."""

    metric: str
    group_col: str
    group_a: str
    group_b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    sd_a: float
    sd_b: float
    diff_mean: float
    ci: Interval
    welch: SignificanceTest
    mann_whitney: SignificanceTest
    hedges_g: Effect
    cliffs_delta: Effect
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Correlation:
    """Spearman rank correlation of `x` and `y` within one group."""

    x: str
    y: str
    group_col: str
    group: str
    n: int
    rho: float
    pvalue: float
    reason: str = ""


def _as_array(values: Sample) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).ravel()


def _constant(x: np.ndarray) -> bool:
    return x.size > 0 and bool(np.all(x == x[0]))


def _var(x: np.ndarray) -> float:
    """Sample variance (ddof=1), exactly 0 for constant samples (no rounding residue)."""
    return 0.0 if _constant(x) else float(np.var(x, ddof=1))


def _too_small(a: np.ndarray, b: np.ndarray, minimum: int) -> str:
    if a.size >= minimum and b.size >= minimum:
        return ""
    return f"needs n >= {minimum} in each group (n_a={a.size}, n_b={b.size})"


def welch_test(a: Sample, b: Sample) -> SignificanceTest:
    """Welch's unequal-variance t-test of mean(b) - mean(a), two-sided."""
    x, y = _as_array(a), _as_array(b)
    nan = float("nan")
    if reason := _too_small(x, y, 2):
        return SignificanceTest(nan, nan, nan, reason)
    va, vb = _var(x) / x.size, _var(y) / y.size
    if va + vb == 0.0:
        return SignificanceTest(nan, nan, nan, "zero variance in both groups")
    t = (float(y.mean()) - float(x.mean())) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    p = 2.0 * float(sps.t.sf(abs(t), df))
    return SignificanceTest(float(t), min(p, 1.0), float(df))


def mann_whitney(a: Sample, b: Sample) -> SignificanceTest:
    """Mann-Whitney U test, two-sided; the statistic is U of `b` (counts b > a)."""
    x, y = _as_array(a), _as_array(b)
    nan = float("nan")
    if reason := _too_small(x, y, 1):
        return SignificanceTest(nan, nan, reason=reason)
    if _constant(np.concatenate([x, y])):
        return SignificanceTest(x.size * y.size / 2.0, nan, reason="all values tied")
    result = sps.mannwhitneyu(y, x, alternative="two-sided", method="auto")
    return SignificanceTest(float(result.statistic), float(result.pvalue))


def spread_test(a: Sample, b: Sample) -> SignificanceTest:
    """Brown-Forsythe test of equal spread (Levene's test centred on the medians), two-sided.

    Robust to the skewed, non-normal run times of a workload; the statistic is Levene's W.
    """
    x, y = _as_array(a), _as_array(b)
    nan = float("nan")
    if reason := _too_small(x, y, 2):
        return SignificanceTest(nan, nan, reason=reason)
    if _constant(x - np.median(x)) and _constant(y - np.median(y)):
        return SignificanceTest(nan, nan, reason="zero spread in both groups")
    result = sps.levene(x, y, center="median")
    return SignificanceTest(float(result.statistic), float(result.pvalue))


def hedges_g(a: Sample, b: Sample) -> Effect:
    """Standardized mean difference (b - a) / pooled sd, with the exact small-sample correction."""
    x, y = _as_array(a), _as_array(b)
    if reason := _too_small(x, y, 2):
        return Effect(float("nan"), reason)
    df = x.size + y.size - 2
    pooled = ((x.size - 1) * _var(x) + (y.size - 1) * _var(y)) / df
    if pooled == 0.0:
        return Effect(float("nan"), "zero variance in both groups")
    correction = np.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / np.sqrt(df / 2)
    return Effect(float((y.mean() - x.mean()) / np.sqrt(pooled) * correction))


def cliffs_delta(a: Sample, b: Sample) -> Effect:
    """P(b > a) - P(b < a) over all pairs, in O(n log n) via sorting."""
    x, y = _as_array(a), _as_array(b)
    if reason := _too_small(x, y, 1):
        return Effect(float("nan"), reason)
    xs = np.sort(x)
    below = np.searchsorted(xs, y, side="left").sum()
    above = (x.size - np.searchsorted(xs, y, side="right")).sum()
    return Effect(float((below - above) / (x.size * y.size)))


def _resampled_means(x: np.ndarray, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
    """Means of `n_resamples` bootstrap resamples of `x`, drawn in memory-bounded batches."""
    batch = max(1, _BATCH_ELEMENTS // x.size)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, batch):
        stop = min(start + batch, n_resamples)
        means[start:stop] = x[rng.integers(0, x.size, size=(stop - start, x.size))].mean(axis=1)
    return means


def _check_bootstrap_args(n_resamples: int, level: float) -> None:
    if not (isinstance(n_resamples, int | np.integer) and n_resamples >= 1):
        raise AnalysisInputError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    if not 0.0 < level < 1.0:
        raise AnalysisInputError(f"level must lie strictly between 0 and 1, got {level!r}")


def _percentiles(draws: np.ndarray, level: float, n_resamples: int, reason: str) -> Interval:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return Interval(float(low), float(high), level, n_resamples, reason)


def bootstrap_mean_ci(
    values: Sample,
    *,
    seed: Seed = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Interval:
    """Percentile bootstrap interval of one sample's mean (used for figure error bars)."""
    _check_bootstrap_args(n_resamples, level)
    x = _as_array(values)
    if x.size < 2:
        return Interval(
            float("nan"), float("nan"), level, n_resamples, f"needs n >= 2 (n={x.size})"
        )
    reason = "zero variance: interval has zero width" if _constant(x) else ""
    draws = _resampled_means(x, np.random.default_rng(seed), n_resamples)
    return _percentiles(draws, level, n_resamples, reason)


def bootstrap_diff_ci(
    a: Sample,
    b: Sample,
    *,
    seed: Seed = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Interval:
    """Percentile bootstrap interval of mean(b) - mean(a), resampling each group independently."""
    _check_bootstrap_args(n_resamples, level)
    x, y = _as_array(a), _as_array(b)
    if reason := _too_small(x, y, 2):
        return Interval(float("nan"), float("nan"), level, n_resamples, reason)
    rng = np.random.default_rng(seed)
    draws = _resampled_means(y, rng, n_resamples) - _resampled_means(x, rng, n_resamples)
    degenerate = _constant(x) and _constant(y)
    reason = "zero variance in both groups: interval has zero width" if degenerate else ""
    return _percentiles(draws, level, n_resamples, reason)


def _sd(x: np.ndarray) -> float:
    return float(np.sqrt(_var(x))) if x.size >= 2 else float("nan")


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else float("nan")


def _phase_rows(rows: pd.DataFrame, phase: str | None) -> pd.DataFrame:
    """Rows of `phase`; without one, refuse to pool rows of different phases."""
    if "phase" not in rows.columns:
        if phase is not None:
            require_columns(rows, ["phase"])
        return rows
    if phase is not None:
        require_label(phase, accepted_labels(rows, "phase"), column="phase")
        return rows[rows["phase"] == phase]
    phases = sorted(str(p) for p in rows["phase"].dropna().unique())
    if len(phases) > 1:
        raise AnalysisInputError(f"rows mix phases {phases}; pass phase= to pick one")
    return rows


def group_values(
    rows: pd.DataFrame, metric: str, group_col: str, group: str
) -> tuple[np.ndarray, str]:
    """Finite values of `metric` in one group, with a note when NaN entries were dropped."""
    require_columns(rows, [metric, group_col])
    require_label(group, accepted_labels(rows, group_col), column=group_col)
    values, dropped = finite_values(rows[rows[group_col] == group], metric)
    note = f"{group}: dropped {dropped} non-finite {metric} value(s)" if dropped else ""
    return values, note


def compare_groups(
    rows: pd.DataFrame,
    metric: str = "time_ms",
    *,
    group_col: str = "model",
    groups: tuple[str, str] = ("baseline", "durable"),
    phase: str | None = None,
    seed: Seed = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Comparison:
    """Compare `metric` between two groups: Welch, Mann-Whitney, bootstrap CI, g and delta."""
    require_columns(rows, [metric, group_col])
    selected = _phase_rows(rows, phase)
    group_a, group_b = groups
    x, note_a = group_values(selected, metric, group_col, group_a)
    y, note_b = group_values(selected, metric, group_col, group_b)
    return Comparison(
        metric=metric,
        group_col=group_col,
        group_a=group_a,
        group_b=group_b,
        n_a=int(x.size),
        n_b=int(y.size),
        mean_a=_mean(x),
        mean_b=_mean(y),
        sd_a=_sd(x),
        sd_b=_sd(y),
        diff_mean=_mean(y) - _mean(x),
        ci=bootstrap_diff_ci(x, y, seed=seed, n_resamples=n_resamples, level=level),
        welch=welch_test(x, y),
        mann_whitney=mann_whitney(x, y),
        hedges_g=hedges_g(x, y),
        cliffs_delta=cliffs_delta(x, y),
        notes=tuple(n for n in (note_a, note_b) if n),
    )


def spearman(
    rows: pd.DataFrame,
    group: str = "baseline",
    *,
    x: str = "store_ops",
    y: str = "time_ms",
    group_col: str = "model",
    phase: str | None = None,
) -> Correlation:
    """Spearman correlation of `x` and `y` across the runs of one group (pairs with NaN dropped)."""
    require_columns(rows, [x, y, group_col])
    selected = _phase_rows(rows, phase)
    require_label(group, accepted_labels(selected, group_col), column=group_col)
    in_group = selected[selected[group_col] == group]
    pairs = np.column_stack([numeric_column(in_group, x), numeric_column(in_group, y)])
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    n = int(pairs.shape[0])
    nan = float("nan")
    if n < 3:
        return Correlation(x, y, group_col, group, n, nan, nan, f"needs n >= 3 (n={n})")
    for name, column in ((x, pairs[:, 0]), (y, pairs[:, 1])):
        if _constant(column):
            return Correlation(x, y, group_col, group, n, nan, nan, f"{name} is constant")
    result = sps.spearmanr(pairs[:, 0], pairs[:, 1])
    return Correlation(x, y, group_col, group, n, float(result.statistic), float(result.pvalue))


def comparison_record(c: Comparison) -> dict[str, object]:
    """One flat row for a comparison; every NaN's reason is gathered into `notes`."""
    reasons = [
        f"{label}: {reason}"
        for label, reason in (
            ("ci", c.ci.reason),
            ("welch", c.welch.reason),
            ("mann_whitney", c.mann_whitney.reason),
            ("hedges_g", c.hedges_g.reason),
            ("cliffs_delta", c.cliffs_delta.reason),
        )
        if reason
    ]
    return {
        "metric": c.metric,
        "group_a": c.group_a,
        "group_b": c.group_b,
        "n_a": c.n_a,
        "n_b": c.n_b,
        "mean_a": c.mean_a,
        "mean_b": c.mean_b,
        "sd_a": c.sd_a,
        "sd_b": c.sd_b,
        "diff_mean": c.diff_mean,
        "ci_low": c.ci.low,
        "ci_high": c.ci.high,
        "ci_level": c.ci.level,
        "n_resamples": c.ci.n_resamples,
        "welch_t": c.welch.statistic,
        "welch_df": c.welch.df,
        "welch_p": c.welch.pvalue,
        "mwu_u": c.mann_whitney.statistic,
        "mwu_p": c.mann_whitney.pvalue,
        "hedges_g": c.hedges_g.value,
        "cliffs_delta": c.cliffs_delta.value,
        "notes": "; ".join([*c.notes, *reasons]),
    }


def comparisons_frame(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """A tidy frame, one row per comparison (see `comparison_record` for the columns)."""
    return pd.DataFrame([comparison_record(c) for c in comparisons])


def correlations_frame(correlations: Sequence[Correlation]) -> pd.DataFrame:
    """A tidy frame, one row per correlation."""
    return pd.DataFrame(
        [
            {
                "group": c.group,
                "x": c.x,
                "y": c.y,
                "n": c.n,
                "rho": c.rho,
                "pvalue": c.pvalue,
                "notes": c.reason,
            }
            for c in correlations
        ]
    )
