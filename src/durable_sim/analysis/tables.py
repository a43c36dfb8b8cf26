"""The paper's tables (and ours) built from run rows.

A `Table` keeps the machine-readable frame (written to CSV in full) apart from its presentation:
the displayed columns and their headers, a fixed format per column, and display labels for values.
Keeping formats fixed is what makes the rendered bytes stable from run to run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from durable_sim.analysis.paper_values import PAPER_VALUES
from durable_sim.analysis.schema import (
    MODELS,
    AnalysisInputError,
    numeric_column,
    ordered_phases,
    require_columns,
    require_known_labels,
    select_phase,
    store_op_kinds,
)
from durable_sim.analysis.stats import (
    compare_groups,
    comparison_record,
    correlations_frame,
    spearman,
)

#: How the paper names the two models in its tables.
MODEL_LABELS: dict[str, str] = {
    "baseline": "Baseline (explicit state)",
    "durable": "Durable execution",
}


@dataclass(frozen=True, eq=False)
class Table:
    """A table: `frame` holds the data; `headers` picks, orders and names displayed columns.

    `formats` gives a format spec per displayed column ("d", ".1f", ".3g", "s");
    `value_labels` replaces display values (e.g. model names) in LaTeX and Markdown.
    """

    name: str
    caption: str
    frame: pd.DataFrame
    headers: Mapping[str, str]
    formats: Mapping[str, str]
    value_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in self.headers if c not in self.frame.columns]
        if missing:
            raise AnalysisInputError(f"table {self.name!r}: headers name absent columns {missing}")
        unformatted = [c for c in self.headers if c not in self.formats]
        if unformatted:
            raise AnalysisInputError(f"table {self.name!r}: no format for columns {unformatted}")


def _per_model(rows: pd.DataFrame, columns: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    """One row per model present (paper order): runs, ok runs and `name -> (column, agg)`."""
    require_columns(rows, ["ok", *(source for source, _ in columns.values())])
    records = []
    for model in MODELS:
        group = rows[rows["model"] == model]
        if group.empty:
            continue
        record: dict[str, object] = {
            "model": model,
            "runs": len(group),
            "ok_runs": int(group["ok"].astype(bool).sum()),
        }
        for name, (source, agg) in columns.items():
            values = numeric_column(group, source)
            record[name] = float(values.mean() if agg == "mean" else values.std(ddof=1))
        records.append(record)
    return pd.DataFrame(records)


_COUNT_HEADERS = {"model": "Model", "runs": "Runs", "ok_runs": "OK runs"}
#: The unit of each metric a comparison can be made on.
METRIC_UNITS: dict[str, str] = {
    "time_ms": "ms",
    "store_ops": "calls/run",
    "steps": "steps/run",
    "final_value": "counter",
    "retries": "retries/run",
    "runs": "runs",
}
_COUNT_FORMATS = {"model": "s", "runs": "d", "ok_runs": "d"}


def table1(rows: pd.DataFrame) -> Table:
    """Table 1 (counter): store ops, ops executed, final value; plus checkpoint ops and time.

    The paper's table: it reads the ``counter`` phase only (other phases are ignored)."""
    frame = _per_model(
        select_phase(rows, "counter"),
        {
            "mean_store_ops": ("store_ops", "mean"),
            "mean_steps": ("steps", "mean"),
            "mean_final_value": ("final_value", "mean"),
            "mean_checkpoint_ops": ("checkpoint_ops", "mean"),
            "mean_time_ms": ("time_ms", "mean"),
            "sd_time_ms": ("time_ms", "sd"),
        },
    )
    headers = {
        **_COUNT_HEADERS,
        "mean_store_ops": "Store ops (calls/run)",
        "mean_steps": "Ops executed (steps/run)",
        "mean_final_value": "Final value (counter)",
        "mean_checkpoint_ops": "Checkpoints (writes/run)",
        "mean_time_ms": "Mean time (ms)",
        "sd_time_ms": "SD time (ms)",
    }
    formats = {**_COUNT_FORMATS, **{c: ".1f" for c in headers if c not in _COUNT_FORMATS}}
    return Table(
        "table1_counter",
        "Phase 1 counter results (mean values per run).",
        frame,
        headers,
        formats,
        MODEL_LABELS,
    )


def table2(rows: pd.DataFrame) -> Table:
    """Table 2 (video): mean time, store ops and retries; plus checkpoint ops and time spread.

    The paper's table: it reads the ``video`` phase only (other phases are ignored)."""
    frame = _per_model(
        select_phase(rows, "video"),
        {
            "mean_time_ms": ("time_ms", "mean"),
            "mean_store_ops": ("store_ops", "mean"),
            "mean_retries": ("retries", "mean"),
            "mean_checkpoint_ops": ("checkpoint_ops", "mean"),
            "sd_time_ms": ("time_ms", "sd"),
        },
    )
    headers = {
        **_COUNT_HEADERS,
        "mean_time_ms": "Mean time (ms)",
        "mean_store_ops": "Store ops (calls/run)",
        "mean_retries": "Retries (per run)",
        "mean_checkpoint_ops": "Checkpoints (writes/run)",
        "sd_time_ms": "SD time (ms)",
    }
    formats = {**_COUNT_FORMATS, **{c: ".1f" for c in headers if c not in _COUNT_FORMATS}}
    return Table(
        "table2_video",
        "Phase 2 video pipeline results (mean values per run).",
        frame,
        headers,
        formats,
        MODEL_LABELS,
    )


def _phases_present(rows: pd.DataFrame) -> list[str]:
    """Every phase with rows (the paper's first, see `ordered_phases`); fails on no rows."""
    require_columns(rows, ["phase", "model"])
    require_known_labels(rows, "model")
    present = ordered_phases(rows["phase"])
    if not present:
        raise AnalysisInputError("no rows to analyse (no row has a phase)")
    return present


def statistics_table(
    rows: pd.DataFrame,
    metrics: Sequence[str] = ("time_ms", "store_ops"),
    *,
    seed: int = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Table:
    """Baseline vs durable for each phase present (any workload's; the paper's first) and each
    metric (see `stats.compare_groups`).

    Each comparison draws from its own child of `SeedSequence(seed)`, in table order.
    """
    tasks = [(phase, metric) for phase in _phases_present(rows) for metric in metrics]
    seeds = np.random.SeedSequence(seed).spawn(len(tasks))
    records = [
        {
            "phase": phase,
            "unit": METRIC_UNITS.get(metric, ""),
            **comparison_record(
                compare_groups(
                    rows,
                    metric,
                    phase=phase,
                    seed=np.random.default_rng(child),
                    n_resamples=n_resamples,
                    level=level,
                )
            ),
        }
        for (phase, metric), child in zip(tasks, seeds, strict=True)
    ]
    headers = {
        "phase": "Phase",
        "metric": "Metric",
        "unit": "Unit",
        "n_a": "n (baseline runs)",
        "n_b": "n (durable runs)",
        "diff_mean": "Diff. of means (unit)",
        "ci_low": "CI low (unit)",
        "ci_high": "CI high (unit)",
        "welch_p": "Welch p (-)",
        "mwu_p": "Mann-Whitney p (-)",
        "hedges_g": "Hedges g (-)",
        "cliffs_delta": "Cliff's delta (-)",
        "notes": "Notes",
    }
    formats = {
        "phase": "s",
        "metric": "s",
        "unit": "s",
        "n_a": "d",
        "n_b": "d",
        "diff_mean": ".1f",
        "ci_low": ".1f",
        "ci_high": ".1f",
        "welch_p": ".3g",
        "mwu_p": ".3g",
        "hedges_g": ".2f",
        "cliffs_delta": ".2f",
        "notes": "s",
    }
    caption = (
        f"Durable minus baseline, per phase and metric: Welch and Mann-Whitney tests, "
        f"{level:.0%} bootstrap CI ({n_resamples} resamples, seed {seed}), effect sizes."
    )
    return Table("statistics", caption, pd.DataFrame(records), headers, formats)


def correlation_table(rows: pd.DataFrame, x: str = "store_ops", y: str = "time_ms") -> Table:
    """Spearman correlation of `x` and `y` within each model of each phase present (any
    workload's; the paper's first)."""
    pieces = []
    for phase in _phases_present(rows):
        present = [m for m in MODELS if ((rows["phase"] == phase) & (rows["model"] == m)).any()]
        frame = correlations_frame([spearman(rows, m, x=x, y=y, phase=phase) for m in present])
        pieces.append(frame.assign(phase=phase))
    frame = pd.concat(pieces, ignore_index=True)
    headers = {
        "phase": "Phase",
        "group": "Model",
        "n": "n (runs)",
        "rho": "Spearman rho (-)",
        "pvalue": "p (-)",
        "notes": "Notes",
    }
    formats = {"phase": "s", "group": "s", "n": "d", "rho": ".2f", "pvalue": ".3g", "notes": "s"}
    caption = f"Spearman rank correlation of {x} and {y} across runs, per model."
    return Table("correlation", caption, frame, headers, formats, MODEL_LABELS)


def _our_value(rows: pd.DataFrame, phase: str, model: str, metric: str) -> float:
    group = rows[(rows["phase"] == phase) & (rows["model"] == model)]
    if group.empty:
        return float("nan")
    if metric == "runs":
        return float(len(group))
    return float(numeric_column(group, metric).mean())


def paper_comparison_table(rows: pd.DataFrame) -> Table:
    """Each number the paper publishes beside ours, with their differences: only the paper's
    phases (rows of other phases are ignored).

    `abs_diff` is ours minus the paper's, in the metric's units; `rel_diff` divides it by the
    paper's magnitude and is NaN (with a note) where the paper reports 0.
    """
    _phases_present(rows)
    require_columns(rows, sorted({v.metric for v in PAPER_VALUES} - {"runs"}))
    records = []
    for v in PAPER_VALUES:
        ours = _our_value(rows, v.phase, v.model, v.metric)
        diff = ours - v.value
        notes = [] if np.isfinite(ours) else [f"no {v.phase} rows for {v.model}"]
        if v.value == 0:
            notes.append("paper value is 0: relative difference undefined")
        records.append(
            {
                "source": v.source,
                "phase": v.phase,
                "model": v.model,
                "metric": v.metric,
                "unit": METRIC_UNITS.get(v.metric, ""),
                "paper": float(v.value),
                "ours": ours,
                "abs_diff": diff,
                "rel_diff": diff / abs(v.value) if v.value != 0 else float("nan"),
                "notes": "; ".join(notes),
            }
        )
    headers = {
        "source": "Source",
        "model": "Model",
        "metric": "Metric",
        "unit": "Unit",
        "paper": "Paper (unit)",
        "ours": "Ours (unit)",
        "abs_diff": "Abs. diff. (unit)",
        "rel_diff": "Rel. diff. (%)",
    }
    formats = {
        "source": "s",
        "model": "s",
        "metric": "s",
        "unit": "s",
        "paper": ".1f",
        "ours": ".1f",
        "abs_diff": ".1f",
        "rel_diff": ".1%",
    }
    caption = "Published values (paper) beside this reproduction (ours)."
    return Table("paper_vs_ours", caption, pd.DataFrame(records), headers, formats, MODEL_LABELS)


def store_ops_table(rows: pd.DataFrame, phase: str = "video") -> Table:
    """Mean store operations per run split by kind (`store_ops_*` columns), per model."""
    selected = select_phase(rows, phase)
    kinds = [k for k in store_op_kinds(selected) if selected[k].notna().any()]
    if not kinds:
        raise AnalysisInputError("rows have no per-kind store-op columns (named 'store_ops_*')")
    frame = _per_model(selected, {k: (k, "mean") for k in ["store_ops", *kinds]})
    headers = {
        **_COUNT_HEADERS,
        "store_ops": "Total (calls/run)",
        **{k: k.removeprefix("store_ops_").replace("_", " ") + " (calls/run)" for k in kinds},
    }
    formats = {**_COUNT_FORMATS, **{c: ".1f" for c in headers if c not in _COUNT_FORMATS}}
    caption = f"Mean store operations per {phase} run, by kind."
    return Table(f"store_ops_{phase}", caption, frame, headers, formats, MODEL_LABELS)
