"""Sensitivity: how the two models move over a sweep's grid, and whether their difference trends.

The grids (``params/sweeps/sensitivity_*.yaml``, run by `durable_sim.sweeps`) vary one
`Dimension` at a time (chunks, failure probability, poll interval, cores) in both models and both
latency scenarios (``paper-local``, ``aws-lambda``). Their rows, each carrying the grid values it
was run at (`durable_sim.sweeps.read_sweep` with ``grid_values=True``), give:

- `summary_table`: per dimension, scenario, grid value and model, the runs, the successful runs
  and the mean of each `METRICS` column (time, store calls, checkpoint writes and bytes,
  invocations, cost, state cost);
- `trends_table`: per dimension, scenario and metric, the trend test of the durable-minus-baseline
  difference (`trend_test`);
- `sensitivity_figure`, and `sensitivity_sentences` (chosen by the trend tests and the state
  costs; `findings_table` writes them).

The trend test. At each grid value the runs of the two models are paired by run (the same run
index has the same seed in both, so both meet the same injected failures and draw from the same
streams), giving one difference per run. The statistic is the least-squares slope of the mean
difference against the dimension's scaled value (`Dimension.scale`: log10 of the chunks, log2 of
the poll interval and of the cores, the failure probability itself), per `Dimension.step`. Its
confidence interval is a percentile bootstrap (`scipy.stats.bootstrap`, ``method="percentile"``
like the report's other intervals, seeded), resampling the runs at each grid value
independently (a stratified bootstrap). Every metric is a cost (lower is better), so a slope
whose interval lies below zero means the difference moves in the durable model's favour.

``cost_usd`` is compared in the ``aws-lambda`` scenario only (`Metric.profiles`): the rows of
``paper-local``, one host whose cores every invocation shares, carry it too, priced as if each
invocation were a Lambda billed for its time there, but that time includes waiting for a shared
core, which a Lambda never does.

``state_cost_usd`` is what keeping the workflow's state is billed (the paper's "storage cost"):
for the durable model the durable operations, data written and data retained; for the baseline
the DynamoDB reads and writes. S3 requests (the video's chunks, the same in both models) and
Lambda requests and compute are not state.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, NullLocator
from scipy import stats

from durable_sim.analysis.figures import DPI, MODEL_COLORS, figure_style
from durable_sim.analysis.prose import Sentence, contradictions, number, slope_trend
from durable_sim.analysis.schema import MODELS, AnalysisInputError, require_columns
from durable_sim.analysis.tables import MODEL_LABELS, Table
from durable_sim.rows import cost_column

#: The sensitivity sweeps by name (``params/sweeps/sensitivity_<name>.yaml``) and the dimension
#: each varies.
SWEEP_DIMENSIONS: dict[str, str] = {
    "chunks": "chunks",
    "failures": "failure_probability",
    "polling": "poll_interval_ms",
    "cores": "cores",
}

#: The cost components that keep a workflow's state (see the module docstring).
STATE_COST_COMPONENTS: tuple[str, ...] = (
    "durable_operations",
    "durable_written",
    "durable_retained",
    "dynamodb_reads",
    "dynamodb_writes",
)


@dataclass(frozen=True)
class Dimension:
    """A grid dimension: its row column, axis label, noun (in sentences), how its values are
    scaled for the slope, the scaled step the slope is reported per, and that step in words."""

    name: str
    label: str
    noun: str
    scale: Literal["log10", "log2", "linear"]
    step: float
    per: str

    def scaled(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """`values` on the slope's axis (log10, log2 or as they are)."""
        x = np.asarray(values, dtype=float)
        if self.scale == "log10":
            return np.log10(x)
        if self.scale == "log2":
            return np.log2(x)
        return x


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("chunks", "Chunks (fan-out)", "chunks", "log10", 1.0, "per tenfold chunks"),
        Dimension(
            "failure_probability",
            "Failure probability per attempt",
            "failure probability",
            "linear",
            0.1,
            "per 0.1 of failure probability",
        ),
        Dimension(
            "poll_interval_ms",
            "Poll interval (ms)",
            "poll interval",
            "log2",
            1.0,
            "per doubling of the interval",
        ),
        Dimension("cores", "Cores", "cores", "log2", 1.0, "per doubling of the cores"),
    )
}


@dataclass(frozen=True)
class Metric:
    """A row column compared between the models: its label, its unit, the factor from the
    column's unit to the one shown (dollars are shown in millionths), and the scenarios it is
    compared in (None: all)."""

    column: str
    label: str
    unit: str
    factor: float = 1.0
    profiles: tuple[str, ...] | None = None

    def compared_in(self, profile: str) -> bool:
        """Whether the models are compared on this metric in scenario `profile`."""
        return self.profiles is None or profile in self.profiles


METRICS: dict[str, Metric] = {
    m.column: m
    for m in (
        Metric("time_ms", "Time", "ms"),
        Metric("store_ops", "Store calls", "calls"),
        Metric("checkpoint_ops", "Checkpoint writes", "calls"),
        Metric("checkpoint_bytes", "Checkpoint bytes", "B"),
        Metric("invocations", "Invocations", ""),
        # A run's whole bill is compared only where the platform bills it: on paper-local's one
        # host the invocations share the cores, and pricing each as a Lambda would bill its
        # wait for a core, which no Lambda has (its vCPUs are its own).
        Metric("cost_usd", "Cost", "µUSD", 1e6, ("aws-lambda",)),
        Metric("state_cost_usd", "State cost", "µUSD", 1e6),
    )
}
#: The metrics drawn in `sensitivity_figure`, one column of panels each.
FIGURE_METRICS: tuple[str, ...] = ("time_ms", "store_ops", "checkpoint_ops", "cost_usd")
#: Line style of each latency scenario in the figure.
PROFILE_STYLES: dict[str, str] = {"paper-local": "-", "aws-lambda": "--"}


def with_state_cost(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with ``state_cost_usd``: the sum of their `STATE_COST_COMPONENTS` cost columns."""
    columns = [cost_column(c) for c in STATE_COST_COMPONENTS]
    require_columns(rows, columns)
    return rows.assign(state_cost_usd=rows[columns].sum(axis=1, min_count=len(columns)))


def _check_grid(rows: pd.DataFrame, dimension: str) -> Dimension:
    if dimension not in DIMENSIONS:
        raise AnalysisInputError(
            f"unknown dimension {dimension!r} (accepted: {', '.join(DIMENSIONS)})"
        )
    require_columns(rows, ["profile", "model", "run_id", "ok", dimension, *METRICS])
    values = pd.to_numeric(rows[dimension], errors="coerce")
    scale = DIMENSIONS[dimension].scale
    if values.isna().any() or (scale != "linear" and (values <= 0).any()):
        raise AnalysisInputError(
            f"{dimension} values {sorted(set(rows[dimension]))} (accepted: numbers"
            f"{', all > 0 on a ' + scale + ' axis' if scale != 'linear' else ''})"
        )
    return DIMENSIONS[dimension]


def summary_frame(grids: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per dimension (the keys of `grids`, each the rows of that dimension's sweep), scenario,
    grid value and model: ``runs``, ``ok_runs`` and the mean of each `METRICS` column (in the
    column's own unit). Raises `AnalysisInputError` for an unknown dimension or missing column.
    """
    records = []
    for dimension, raw in grids.items():
        rows = with_state_cost(raw) if "state_cost_usd" not in raw else raw
        _check_grid(rows, dimension)
        for (profile, value, model), group in rows.groupby(
            ["profile", dimension, "model"], sort=True
        ):
            records.append(
                {
                    "dimension": dimension,
                    "profile": profile,
                    "value": float(value),
                    "model": model,
                    "runs": len(group),
                    "ok_runs": int(group["ok"].astype(bool).sum()),
                    **{m: float(group[m].mean()) for m in METRICS},
                }
            )
    return pd.DataFrame(records)


def summary_table(grids: Mapping[str, pd.DataFrame]) -> Table:
    """`summary_frame` as the report's table ``sensitivity_summary``."""
    frame = summary_frame(grids)
    headers = {
        "dimension": "Dimension",
        "profile": "Scenario",
        "value": "Value",
        "model": "Model",
        "runs": "Runs",
        "ok_runs": "OK",
        **{m.column: f"{m.label} ({m.unit or 'count'})" for m in METRICS.values()},
    }
    formats = {
        "dimension": "s",
        "profile": "s",
        "value": "g",
        "model": "s",
        "runs": "d",
        "ok_runs": "d",
        "time_ms": ".1f",
        "store_ops": ".1f",
        "checkpoint_ops": ".1f",
        "checkpoint_bytes": ".0f",
        "invocations": ".1f",
        "cost_usd": ".3g",
        "state_cost_usd": ".3g",
    }
    caption = (
        "Means per run at each grid point of the sensitivity sweeps, per scenario and model "
        "(dollars per run)."
    )
    return Table("sensitivity_summary", caption, frame, headers, formats, MODEL_LABELS)


@dataclass(frozen=True)
class Trend:
    """The trend test's result: the slope of the mean difference per step, its interval (NaN with
    a `reason` when it cannot be computed), and the mean difference at the first and last grid
    values."""

    slope: float
    low: float
    high: float
    first: float
    last: float
    reason: str = ""


def trend_test(
    x: Sequence[float] | np.ndarray,
    samples: Sequence[np.ndarray],
    *,
    seed: int = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Trend:
    """Least-squares slope of the sample means against `x` (one sample per x, two or more
    distinct x), with a percentile bootstrap interval resampling each sample independently
    (`scipy.stats.bootstrap`, its generator seeded with `seed`). A sample of fewer than two
    values gives a NaN interval with the reason. Raises `AnalysisInputError` for fewer than two
    distinct x, a sample count other than ``len(x)``, non-finite values, `n_resamples` < 100 or
    a `level` outside (0, 1).
    """
    xs = np.asarray(x, dtype=float)
    data = [np.asarray(s, dtype=float) for s in samples]
    if len(data) != xs.size or np.unique(xs).size < 2:
        raise AnalysisInputError(
            f"a trend needs one sample per x and two or more distinct x (got {xs.size} x, "
            f"{len(data)} samples)"
        )
    if not np.isfinite(xs).all() or any(not np.isfinite(s).all() or s.size == 0 for s in data):
        raise AnalysisInputError("a trend needs finite x and non-empty samples of finite values")
    if not (isinstance(n_resamples, int) and n_resamples >= 100) or not 0 < level < 1:
        raise AnalysisInputError(
            f"bad n_resamples={n_resamples!r} or level={level!r} (accepted: an int >= 100, "
            "a level in (0, 1))"
        )
    weights = (xs - xs.mean()) / float(((xs - xs.mean()) ** 2).sum())

    def slope(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        means = np.stack([s.mean(axis=axis) for s in resampled])
        return np.tensordot(weights, means, axes=(0, 0))

    # Float noise (1e-15 of the data's size) must not read as a trend: snap it to zero.
    tolerance = 1e-9 * max(1.0, max(float(np.abs(s).max()) for s in data))

    def snapped(value: float) -> float:
        return 0.0 if abs(value) <= tolerance else value

    point = snapped(float(slope(*data)))
    first, last = float(data[int(np.argmin(xs))].mean()), float(data[int(np.argmax(xs))].mean())
    if min(s.size for s in data) < 2:
        return Trend(point, math.nan, math.nan, first, last, "fewer than 2 runs at a grid value")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=stats.DegenerateDataWarning)
        result = stats.bootstrap(
            data,
            slope,
            n_resamples=n_resamples,
            confidence_level=level,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
    low = snapped(float(result.confidence_interval.low))
    high = snapped(float(result.confidence_interval.high))
    reason = "no run-to-run variation: the interval has zero width" if low == high else ""
    return Trend(point, low, high, first, last, reason)


def paired_differences(
    rows: pd.DataFrame, dimension: str, profile: str, metric: str
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The grid values of `dimension` in `profile` (ascending) and, at each, the per-run
    differences durable minus baseline of `metric`, runs paired by ``run_id`` (the same seed).

    Raises `AnalysisInputError` if a grid value lacks a model or the models' run ids differ.
    """
    part = rows[rows["profile"] == profile]
    values, samples = [], []
    for value, group in part.groupby(dimension, sort=True):
        by_model = {
            m: group[group["model"] == m].set_index("run_id")[metric].sort_index() for m in MODELS
        }
        if any(s.empty for s in by_model.values()) or not by_model["durable"].index.equals(
            by_model["baseline"].index
        ):
            raise AnalysisInputError(
                f"{profile}, {dimension}={value}: the models' runs cannot be paired (run ids "
                f"{list(by_model['durable'].index)} vs {list(by_model['baseline'].index)})"
            )
        values.append(float(value))
        samples.append((by_model["durable"] - by_model["baseline"]).to_numpy(dtype=float))
    return np.asarray(values), samples


def trends_frame(
    grids: Mapping[str, pd.DataFrame],
    *,
    seed: int = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> pd.DataFrame:
    """One trend test (`trend_test`) per dimension, scenario and `METRICS` column: the slope of
    the durable-minus-baseline difference per the dimension's step, in the metric's shown unit,
    its interval, the mean difference at the first and last grid values, the ``trend`` words
    (falls, rises, shows no clear trend) and which model it ``favours``. Each test draws from its
    own generator, spawned from `seed` in table order."""
    records = []
    keys = [
        (dimension, profile, metric)
        for dimension, raw in grids.items()
        for profile in sorted(raw["profile"].unique())
        for metric in METRICS
        if METRICS[metric].compared_in(profile)
    ]
    seeds = np.random.SeedSequence(seed).spawn(len(keys))
    prepared = {d: with_state_cost(r) if "state_cost_usd" not in r else r for d, r in grids.items()}
    for (dimension, profile, metric), child in zip(keys, seeds, strict=True):
        rows = prepared[dimension]
        dim = _check_grid(rows, dimension)
        shown = METRICS[metric]
        values, samples = paired_differences(rows, dimension, profile, metric)
        result = trend_test(
            dim.scaled(values),
            [s * shown.factor for s in samples],
            seed=int(child.generate_state(1)[0]),
            n_resamples=n_resamples,
            level=level,
        )
        step = dim.step
        side = 0
        if math.isfinite(result.high) and result.high * step < 0:
            side = -1
        elif math.isfinite(result.low) and result.low * step > 0:
            side = 1
        records.append(
            {
                "dimension": dimension,
                "profile": profile,
                "metric": metric,
                "unit": shown.unit,
                "points": len(values),
                "runs": min(s.size for s in samples),
                "first_value": float(values.min()),
                "last_value": float(values.max()),
                "diff_first": result.first,
                "diff_last": result.last,
                "slope": result.slope * step,
                "ci_low": result.low * step,
                "ci_high": result.high * step,
                "per": dim.per,
                "trend": {-1: "falls", 1: "rises", 0: "shows no clear trend"}[side],
                "favours": {-1: "durable", 1: "baseline", 0: "neither"}[side],
                "level": level,
                "n_resamples": n_resamples,
                "notes": result.reason,
            }
        )
    return pd.DataFrame(records)


def trends_table(
    grids: Mapping[str, pd.DataFrame],
    *,
    seed: int = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Table:
    """`trends_frame` as the report's table ``sensitivity_trends``."""
    frame = trends_frame(grids, seed=seed, n_resamples=n_resamples, level=level)
    headers = {
        "dimension": "Dimension",
        "profile": "Scenario",
        "metric": "Metric",
        "unit": "Unit",
        "diff_first": "Diff. at first",
        "diff_last": "Diff. at last",
        "slope": "Slope",
        "ci_low": "CI low",
        "ci_high": "CI high",
        "per": "Per",
        "trend": "Difference",
        "favours": "Favours",
    }
    formats = {c: "s" for c in ("dimension", "profile", "metric", "unit", "per", "trend")}
    formats.update({c: ".4g" for c in ("diff_first", "diff_last", "slope", "ci_low", "ci_high")})
    formats["favours"] = "s"
    caption = (
        f"Trend of the durable-minus-baseline difference along each sweep: least-squares slope "
        f"of the mean per-run difference, {level:.0%} percentile bootstrap interval "
        f"({n_resamples} resamples, runs paired by seed, resampled per grid value)."
    )
    return Table("sensitivity_trends", caption, frame, headers, formats)


def _panel_values(part: pd.DataFrame, metric: str) -> np.ndarray:
    return part[metric].to_numpy(dtype=float) * METRICS[metric].factor


def sensitivity_figure(summary: pd.DataFrame) -> Figure:
    """One row of panels per dimension in `summary` (`summary_frame`), one column per
    `FIGURE_METRICS`: each model's mean against the grid value, solid for ``paper-local`` and
    dashed for ``aws-lambda`` (a metric compared in some scenarios only, `Metric.profiles`,
    shows those); x on the dimension's scale; over the chunks, whose values span decades, y on
    a log scale (a symmetric log scale where one model's values are zero)."""
    require_columns(summary, ["dimension", "profile", "value", "model", *FIGURE_METRICS])
    dims = [d for d in DIMENSIONS if (summary["dimension"] == d).any()]
    if not dims:
        raise AnalysisInputError("no sensitivity dimension in the summary")
    with figure_style():
        fig = Figure(figsize=(7.0, 1.75 * len(dims) + 0.5), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(dims), len(FIGURE_METRICS), squeeze=False)
        for row, dimension in zip(axes, dims, strict=True):
            dim = DIMENSIONS[dimension]
            part = summary[summary["dimension"] == dimension]
            values = sorted(part["value"].unique())
            for ax, metric in zip(row, FIGURE_METRICS, strict=True):
                only = METRICS[metric].profiles
                for (profile, model), group in part.groupby(["profile", "model"], sort=True):
                    if not METRICS[metric].compared_in(str(profile)):
                        continue
                    group = group.sort_values("value")
                    ax.plot(
                        group["value"],
                        _panel_values(group, metric),
                        linestyle=PROFILE_STYLES.get(str(profile), ":"),
                        marker="o",
                        markersize=2.5,
                        linewidth=1.0,
                        color=MODEL_COLORS[str(model)],
                        label=f"{MODEL_LABELS[str(model)].split(' (')[0]}, {profile}",
                    )
                if dim.scale != "linear":
                    ax.set_xscale("log", base=10 if dim.scale == "log10" else 2)
                    ticks = [v for v in values if dim.scale == "log2" or math.log10(v).is_integer()]
                    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
                    ax.xaxis.set_minor_locator(NullLocator())
                shown = _panel_values(part, metric)
                if dimension == "chunks" and (shown > 0).all():
                    ax.set_yscale("log")
                    ax.yaxis.set_minor_formatter(NullFormatter())
                elif dimension == "chunks":  # decades and zeros (the other model's calls)
                    ax.set_yscale("symlog", linthresh=1.0)
                    ax.set_ylim(bottom=0)
                else:
                    ax.set_ylim(bottom=0)
                metric_info = METRICS[metric]
                unit = f" ({metric_info.unit})" if metric_info.unit else ""
                where = f", {', '.join(only)}" if only else ""
                ax.set_title(f"{metric_info.label}{unit}{where}", fontsize=7)
                ax.tick_params(labelsize=6)
                ax.set_xlabel(dim.label, fontsize=6)
        handles, names = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=4, frameon=False, fontsize=6)
    return fig


def _trend_sentence(row: pd.Series) -> Sentence:
    metric, dim = METRICS[str(row["metric"])], DIMENSIONS[str(row["dimension"])]
    first, last = float(row["first_value"]), float(row["last_value"])
    digits = 0 if first.is_integer() and last.is_integer() else 2
    subject = (
        f"{metric.label} ({dim.noun} {number(first, digits)} to {number(last, digits)}, "
        f"{row['profile']})"
    )
    return slope_trend(
        f"trend_{row['dimension']}_{row['profile']}_{row['metric']}",
        subject,
        float(row["slope"]),
        float(row["ci_low"]),
        float(row["ci_high"]),
        first=float(row["diff_first"]),
        last=float(row["diff_last"]),
        unit=metric.unit,
        per=str(row["per"]),
        level=float(row["level"]),
    )


def state_cost_sentence(summary: pd.DataFrame, dimensions: Sequence[str]) -> Sentence:
    """How often, over the grid points of `dimensions` (both scenarios) in `summary`
    (`summary_frame`), the durable model's state cost exceeds the baseline's ("at every one",
    "at none" or "at k" of the n points), and the range of their ratio."""
    part = summary[summary["dimension"].isin(list(dimensions))]
    wide = part.pivot_table(
        index=["dimension", "profile", "value"], columns="model", values="state_cost_usd"
    )
    n = len(wide)
    higher = int((wide["durable"] > wide["baseline"]).sum())
    where = "every one" if higher == n else ("none" if higher == 0 else str(higher))
    ratio = (wide["durable"] / wide["baseline"]).replace([np.inf, -np.inf], np.nan)
    sweeps = " and ".join(DIMENSIONS[d].noun for d in dimensions)
    text = (
        f"The durable model's state charges (durable operations, data written and retained) "
        f"exceed the baseline's DynamoDB charges at {where} of the {n} grid points of the "
        f"{sweeps} sweeps; the durable model's are {number(float(ratio.min()), 1)} to "
        f"{number(float(ratio.max()), 1)} times the baseline's."
    )
    return Sentence("state_cost_levels", text, {"higher": higher, "points": n})


def sensitivity_sentences(trends: pd.DataFrame, summary: pd.DataFrame) -> list[Sentence]:
    """The section's sentences: one `slope_trend` sentence per trend test in `trends`
    (`trends_frame`), then `state_cost_sentence` over the chunks and failure sweeps present."""
    sentences = [_trend_sentence(row) for _, row in trends.iterrows()]
    claimed = [d for d in ("chunks", "failure_probability") if (summary["dimension"] == d).any()]
    if claimed:
        sentences.append(state_cost_sentence(summary, claimed))
    return sentences


def findings_table(sentences: Sequence[Sentence]) -> Table:
    """`sentences` as the table ``sensitivity_findings`` (key, text). Raises `AssertionError` if
    a sentence contradicts its own numbers (`prose.contradictions`: a defect of the rules)."""
    wrong = {s.key: contradictions(s) for s in sentences if contradictions(s)}
    if wrong:
        raise AssertionError(f"sentences contradict their numbers: {wrong}")
    frame = pd.DataFrame([{"key": s.key, "text": s.text} for s in sentences])
    return Table(
        "sensitivity_findings",
        "Sentences of the sensitivity section, each chosen by its numbers.",
        frame,
        {"key": "Key", "text": "Sentence"},
        {"key": "s", "text": "s"},
    )
