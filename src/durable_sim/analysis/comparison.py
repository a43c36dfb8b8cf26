"""Any workload's two models side by side: the statistics table and sentences chosen by its numbers.

For a workload of one's own (e.g. the tutorial's order saga), whatever its phase. Runs are
paired by seed: the experiment harness gives run ``i`` of every spec with the same experiment
seed the same run seed, so both models of a run index meet the same injected failures and
latency draws, and their difference is measured pair by pair (`paired_table`, from
`durable_sim.analysis.stats.compare_paired`). `compare_models` adds one sentence per metric,
its comparative words chosen by the numbers (`durable_sim.analysis.prose`): time with
Wilcoxon's signed-rank test, counts (store calls, checkpoints, invocations, dollars) as "more" or
"fewer". `paired_agreement` counts the pairs in which both models agree on a column (a final
state's digest, an outcome), and `agreement_sentence` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from durable_sim.analysis.prose import Sentence, compare_counts, compare_means, share
from durable_sim.analysis.schema import MODELS, AnalysisInputError, require_columns, select_phase
from durable_sim.analysis.stats import compare_paired
from durable_sim.analysis.tables import METRIC_UNITS, Table


@dataclass(frozen=True)
class Metric:
    """A per-run count the models are compared on: its row `column`, the `verb` that says what
    a model does with it ("makes", "writes"), its `unit` after scaling by `scale`."""

    column: str
    verb: str
    unit: str
    scale: float = 1.0


#: The counts a model comparison reads, when the rows carry them (``cost_usd`` comes with
#: priced rows, `durable_sim.cost`).
COUNT_METRICS: tuple[Metric, ...] = (
    Metric("store_ops", "makes", "store calls per run"),
    Metric("checkpoint_ops", "writes", "checkpoints per run"),
    Metric("invocations", "needs", "invocations per run"),
    Metric("cost_usd", "costs", "millionths of a dollar per run", 1e6),
)


def paired_table(
    rows: pd.DataFrame,
    phase: str,
    metrics: Sequence[str],
    *,
    seed: int = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
    name: str,
) -> Table:
    """Durable minus baseline on `phase`'s runs paired by seed, one row per metric
    (`durable_sim.analysis.stats.compare_paired`): pairs, both means, the mean difference with
    its bootstrap interval (each metric from its own child of ``SeedSequence(seed)``) and
    Wilcoxon's signed-rank p; `name` names the table's files. Raises `AnalysisInputError` for a
    phase without rows of both models, or a column the rows lack."""
    selected = select_phase(rows, phase)
    missing = [m for m in MODELS if not (selected["model"] == m).any()]
    if missing:
        raise AnalysisInputError(f"phase {phase!r} has no rows of model(s) {missing}")
    seeds = np.random.SeedSequence(seed).spawn(len(metrics))
    records = []
    for metric, child in zip(metrics, seeds, strict=True):
        c = compare_paired(
            selected,
            metric,
            seed=np.random.default_rng(child),
            n_resamples=n_resamples,
            level=level,
        )
        reasons = [r for r in (c.ci.reason, c.wilcoxon.reason) if r]
        records.append(
            {
                "phase": phase,
                "metric": metric,
                "unit": METRIC_UNITS.get(metric, ""),
                "n_pairs": c.n_pairs,
                "mean_baseline": c.mean_a,
                "mean_durable": c.mean_b,
                "diff_mean": c.diff_mean,
                "ci_low": c.ci.low,
                "ci_high": c.ci.high,
                "wilcoxon_p": c.wilcoxon.pvalue,
                "notes": "; ".join(reasons),
            }
        )
    headers = {
        "metric": "Metric",
        "unit": "Unit",
        "n_pairs": "Pairs (runs)",
        "mean_baseline": "Baseline (mean)",
        "mean_durable": "Durable (mean)",
        "diff_mean": "Durable - baseline (mean)",
        "ci_low": "CI low",
        "ci_high": "CI high",
        "wilcoxon_p": "Wilcoxon p (-)",
        "notes": "Notes",
    }
    formats = {
        "metric": "s",
        "unit": "s",
        "n_pairs": "d",
        "mean_baseline": ".1f",
        "mean_durable": ".1f",
        "diff_mean": ".1f",
        "ci_low": ".1f",
        "ci_high": ".1f",
        "wilcoxon_p": ".3g",
        "notes": "s",
    }
    caption = (
        f"{phase}: durable minus baseline over runs paired by seed (the same injected failures "
        f"and latency draws): mean difference, {level:.0%} bootstrap CI ({n_resamples} "
        f"resamples, seed {seed}), Wilcoxon signed-rank test."
    )
    return Table(name, caption, pd.DataFrame(records), headers, formats)


def compare_models(
    rows: pd.DataFrame,
    phase: str,
    *,
    counts: Sequence[str] = ("store_ops", "checkpoint_ops", "invocations"),
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = 10_000,
    name: str,
) -> tuple[Table, list[Sentence]]:
    """Durable vs baseline on `phase`'s runs, paired by seed: end-to-end time and each of
    `counts` (columns of `COUNT_METRICS`).

    Returns `paired_table` (named `name`, e.g. ``"order_saga_models"``, so that its files
    replace no other table's) and the sentences: time (``compare_means``: direction by the mean
    paired difference in ms, significance by Wilcoxon's signed-rank p at level `alpha`, in
    (0, 1)), then one ``compare_counts`` per count (means per run). Raises `AnalysisInputError`
    for a count not in `COUNT_METRICS`, a phase without rows of both models or a column the
    rows lack, and ValueError for a bad `alpha`.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"bad alpha={alpha!r} (accepted: a number in (0, 1))")
    known = {m.column: m for m in COUNT_METRICS}
    unknown = [c for c in counts if c not in known]
    if unknown:
        raise AnalysisInputError(f"unknown count(s) {unknown} (accepted: {list(known)})")
    table = paired_table(
        rows, phase, ("time_ms", *counts), seed=seed, n_resamples=n_resamples, name=name
    )
    stats = table.frame.set_index("metric")
    time = stats.loc["time_ms"]
    sentences = [
        compare_means(
            f"{name}_time_ms",
            "the durable model",
            "the baseline",
            float(time["mean_durable"]),
            float(time["mean_baseline"]),
            unit="ms",
            p=float(time["wilcoxon_p"]),
            alpha=alpha,
            test="Wilcoxon signed-rank",
            context=f"End to end over {int(time['n_pairs'])} paired runs, ",
        )
    ]
    for column in counts:
        metric, row = known[column], stats.loc[column]
        sentences.append(
            compare_counts(
                f"{name}_{column}",
                f"The durable model {metric.verb}",
                float(row["mean_durable"]) * metric.scale,
                "the baseline's",
                float(row["mean_baseline"]) * metric.scale,
                unit=metric.unit,
            )
        )
    return table, sentences


def paired_agreement(rows: pd.DataFrame, column: str, *, pair_by: str = "seed") -> tuple[int, int]:
    """``(agree, pairs)``: of the `pair_by` values with exactly one baseline and one durable
    row, how many give both the same `column` value (two empty values agree).

    Raises `AnalysisInputError` for a missing column or a `pair_by` value with more than one
    row of a model (the rows then mix experiments: select one first).
    """
    require_columns(rows, ["model", column, pair_by])
    both = rows[rows["model"].isin(MODELS)]
    repeated = both.duplicated([pair_by, "model"])
    if repeated.any():
        first = both.loc[repeated, pair_by].iloc[0]
        raise AnalysisInputError(
            f"{pair_by}={first} has several rows of one model; select one experiment's rows"
        )
    by_model = {m: both[both["model"] == m].set_index(pair_by)[column] for m in MODELS}
    common = by_model["baseline"].index.intersection(by_model["durable"].index)
    base, durable = by_model["baseline"].loc[common], by_model["durable"].loc[common]
    same = (base == durable) | (base.isna() & durable.isna())
    return int(same.sum()), len(common)


def agreement_sentence(
    key: str, rows: pd.DataFrame, column: str, *, holds: str, pair_by: str = "seed"
) -> Sentence:
    """ "In {all N | k of the N} paired runs (same seed), {holds}." for `paired_agreement`.
    Raises `AnalysisInputError` if there is no pair."""
    agree, pairs = paired_agreement(rows, column, pair_by=pair_by)
    if pairs == 0:
        raise AnalysisInputError(f"no {pair_by} has rows of both models")
    return share(key, agree, pairs, cases=f"paired runs (same {pair_by})", holds=holds)


__all__ = [
    "COUNT_METRICS",
    "Metric",
    "agreement_sentence",
    "compare_models",
    "paired_agreement",
    "paired_table",
]
