"""The baseline's polling design space: store calls per strategy, against the paper's 62.6.

A strategy is what the coordinator reads each poll round (``query``: one query of the job's
chunk records; ``get``: one get per chunk record) and how its wait grows (``fixed`` or
``exponential``). The paper reports a mean of 62.6 store calls over its 20 baseline runs and no
spread. A strategy is *consistent* with it when a mean of 20 runs drawn from the strategy's runs
(bootstrap, seeded) falls on the paper's value, to its published precision, inside the central
`level` interval: could the paper's 20-run mean have come from this strategy?
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from durable_sim.analysis.paper_values import PAPER_VALUES
from durable_sim.analysis.scenarios import ordered_scenarios, with_scenario
from durable_sim.analysis.schema import AnalysisInputError, numeric_column, require_columns
from durable_sim.analysis.tables import Table

#: The paper's mean baseline store calls per video run and its number of runs.
PAPER_STORE_OPS = next(
    v.value
    for v in PAPER_VALUES
    if (v.phase, v.model, v.metric) == ("video", "baseline", "store_ops")
)
PAPER_RUNS = int(
    next(
        v.value
        for v in PAPER_VALUES
        if (v.phase, v.model, v.metric) == ("video", "baseline", "runs")
    )
)
#: Half the last published digit: 62.6 stands for any mean in [62.55, 62.65).
PAPER_PRECISION = 0.05


def mean_interval(
    values: np.ndarray, *, n: int, seed: int, n_resamples: int, level: float
) -> tuple[float, float]:
    """The central `level` interval of the mean of `n` runs resampled from `values`.

    `values`: a non-empty 1-D array (one value per run); `n` >= 1 runs per resampled mean,
    drawn with replacement, `n_resamples` means from a generator seeded with `seed`; `level`
    in (0, 1). Returns ``(low, high)`` in the unit of `values`.
    """
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, n))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def polling_design_table(
    rows: pd.DataFrame,
    *,
    paper_value: float = PAPER_STORE_OPS,
    paper_runs: int = PAPER_RUNS,
    seed: int = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Table:
    """One row per scenario and polling strategy (``poll_read`` x ``poll_backoff`` x first
    wait) of the baseline video rows.

    Columns: the scenario (see `scenarios.scenario_of`), the strategy, its first wait (ms),
    runs, mean/SD/min/max store calls per run, the `level` interval of a `paper_runs`-run mean,
    and whether `paper_value` is consistent with it. Raises `AnalysisInputError` for missing
    columns or no baseline video rows.
    """
    require_columns(rows, ["phase", "model", "poll_read", "poll_backoff", "poll_interval_ms"])
    base = with_scenario(rows[(rows["phase"] == "video") & (rows["model"] == "baseline")])
    if base.empty:
        raise AnalysisInputError("no baseline video rows to compare polling strategies on")
    records = []
    keys = ["scenario", "poll_read", "poll_backoff", "poll_interval_ms"]
    groups = base.groupby(keys, sort=True)
    ordered = sorted(
        groups, key=lambda kv: (ordered_scenarios(base["scenario"]).index(kv[0][0]), kv[0][1:])
    )
    for i, ((scenario, read, backoff, interval), group) in enumerate(ordered):
        ops = numeric_column(group, "store_ops").to_numpy()
        low, high = mean_interval(
            ops, n=paper_runs, seed=seed + i, n_resamples=n_resamples, level=level
        )
        records.append(
            {
                "scenario": scenario,
                "poll_read": read,
                "poll_backoff": backoff,
                "poll_interval_ms": float(interval),
                "runs": len(group),
                "mean_store_ops": float(ops.mean()),
                "sd_store_ops": float(ops.std(ddof=1)) if ops.size > 1 else float("nan"),
                "min_store_ops": float(ops.min()),
                "max_store_ops": float(ops.max()),
                "mean_low": low,
                "mean_high": high,
                "consistent": bool(low - PAPER_PRECISION <= paper_value <= high + PAPER_PRECISION),
            }
        )
    headers = {
        "scenario": "Scenario",
        "poll_read": "Read per round",
        "poll_backoff": "Wait",
        "poll_interval_ms": "First wait (ms)",
        "runs": "Runs",
        "mean_store_ops": "Store ops (calls/run)",
        "sd_store_ops": "SD (calls/run)",
        "min_store_ops": "Min (calls/run)",
        "max_store_ops": "Max (calls/run)",
        "mean_low": f"{paper_runs}-run mean low (calls/run)",
        "mean_high": f"{paper_runs}-run mean high (calls/run)",
        "consistent": f"Consistent with {paper_value:g}",
    }
    formats = {
        "scenario": "s",
        "poll_read": "s",
        "poll_backoff": "s",
        "poll_interval_ms": ".0f",
        "runs": "d",
        "mean_store_ops": ".1f",
        "sd_store_ops": ".1f",
        "min_store_ops": ".0f",
        "max_store_ops": ".0f",
        "mean_low": ".1f",
        "mean_high": ".1f",
        "consistent": "s",
    }
    caption = (
        f"Baseline polling strategies: store calls per video run, the {level:.0%} interval of a "
        f"{paper_runs}-run mean (bootstrap, {n_resamples} resamples, seed {seed}), and whether "
        f"the paper's {paper_value:g} lies in it."
    )
    return Table("polling_design", caption, pd.DataFrame(records), headers, formats)


def poll_sweep_table(rows: pd.DataFrame) -> Table:
    """Baseline video runs per poll interval: runs, store calls, polls and time (means).

    Raises `AnalysisInputError` for a missing column or no baseline video rows.
    """
    require_columns(rows, ["phase", "model", "poll_interval_ms", "store_ops", "store_ops_poll"])
    base = rows[(rows["phase"] == "video") & (rows["model"] == "baseline")]
    if base.empty:
        raise AnalysisInputError("no baseline video rows to sweep the poll interval on")
    frame = (
        base.groupby("poll_interval_ms", sort=True)
        .agg(
            runs=("run_id", "size"),
            mean_store_ops=("store_ops", "mean"),
            mean_polls=("store_ops_poll", "mean"),
            mean_time_ms=("time_ms", "mean"),
        )
        .reset_index()
    )
    return Table(
        "poll_sweep",
        "Baseline video runs: store operations and time against the poll interval.",
        frame,
        {
            "poll_interval_ms": "Poll interval (ms)",
            "runs": "Runs",
            "mean_store_ops": "Store ops (calls/run)",
            "mean_polls": "Polls (queries/run)",
            "mean_time_ms": "Mean time (ms)",
        },
        {
            "poll_interval_ms": ".0f",
            "runs": "d",
            "mean_store_ops": ".1f",
            "mean_polls": ".1f",
            "mean_time_ms": ".1f",
        },
    )


def fanout_table(rows: pd.DataFrame) -> Table:
    """Durable video runs per fan-out (``map``, ``sequential``): runs, time, checkpoints.

    Raises `AnalysisInputError` for a missing column or no durable video rows.
    """
    require_columns(rows, ["phase", "model", "fanout", "time_ms", "checkpoint_ops"])
    durable = rows[(rows["phase"] == "video") & (rows["model"] == "durable")]
    if durable.empty:
        raise AnalysisInputError("no durable video rows to compare fan-outs on")
    frame = (
        durable.groupby("fanout", sort=True)
        .agg(
            runs=("run_id", "size"),
            mean_time_ms=("time_ms", "mean"),
            mean_checkpoint_ops=("checkpoint_ops", "mean"),
        )
        .reset_index()
    )
    return Table(
        "fanout",
        "Durable video runs: end-to-end time for the two fan-out variants.",
        frame,
        {
            "fanout": "Fan-out",
            "runs": "Runs",
            "mean_time_ms": "Mean time (ms)",
            "mean_checkpoint_ops": "Checkpoints (writes/run)",
        },
        {"fanout": "s", "runs": "d", "mean_time_ms": ".1f", "mean_checkpoint_ops": ".1f"},
    )
