"""The model checked against measurement: predicted and measured means side by side.

Measured rows come from the wall clock (real encoder, official local runner, this machine);
predicted rows from the model's twin of each measured spec (virtual clock, model encoder, the
measuring host's cores, the calibration taken with the measurement). ``rel_error`` is
``(predicted - measured) / measured``; it is 0 where both are 0 and undefined (NaN) where only
the measurement is 0. A row is within target when ``|rel_error| <= tolerance``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from durable_sim.analysis.schema import MODELS, AnalysisInputError, ordered_phases, require_columns
from durable_sim.analysis.tables import MODEL_LABELS, Table

#: The target of the model: every validated mean within 15 % of the measurement.
TOLERANCE = 0.15
#: Metrics validated by default, with their units.
METRICS: dict[str, str] = {"time_ms": "ms", "store_ops": "calls/run"}


def relative_error(measured: float, predicted: float) -> float:
    """``(predicted - measured) / |measured|``; 0 if both are 0, NaN if only `measured` is."""
    if measured == 0:
        return 0.0 if predicted == 0 else math.nan
    return (predicted - measured) / abs(measured)


def validation_table(
    measured: pd.DataFrame,
    predicted: pd.DataFrame,
    *,
    metrics: Sequence[str] = tuple(METRICS),
    tolerance: float = TOLERANCE,
) -> Table:
    """One row per workload (phase), model and metric present in both frames.

    Columns: ``workload, model, metric, unit, measured, predicted, rel_error, within_target,
    runs_measured, runs_predicted, host_cores, mean_load_1m`` (the host's cores and its mean
    1-minute load average during the measured runs). Raises `AnalysisInputError` if a frame
    lacks a column, `tolerance` is not in (0, 1], or no workload and model is in both.
    """
    if not 0 < tolerance <= 1:
        raise AnalysisInputError(f"tolerance must lie in (0, 1], got {tolerance!r}")
    needed = ["phase", "model", *metrics]
    require_columns(measured, [*needed, "cores", "load_1m"])
    require_columns(predicted, needed)
    records = []
    for phase in ordered_phases(measured["phase"]):
        for model in MODELS:
            m = measured[(measured["phase"] == phase) & (measured["model"] == model)]
            p = predicted[(predicted["phase"] == phase) & (predicted["model"] == model)]
            if m.empty or p.empty:
                continue
            for metric in metrics:
                mv, pv = float(m[metric].mean()), float(p[metric].mean())
                rel = relative_error(mv, pv)
                records.append(
                    {
                        "workload": phase,
                        "model": model,
                        "metric": metric,
                        "unit": METRICS.get(metric, ""),
                        "measured": mv,
                        "predicted": pv,
                        "rel_error": rel,
                        "within_target": bool(abs(rel) <= tolerance) if rel == rel else False,
                        "runs_measured": len(m),
                        "runs_predicted": len(p),
                        "host_cores": int(m["cores"].iloc[0]),
                        "mean_load_1m": float(m["load_1m"].mean()),
                    }
                )
    if not records:
        raise AnalysisInputError("no workload and model is both measured and predicted")
    headers = {
        "workload": "Workload",
        "model": "Model",
        "metric": "Metric",
        "unit": "Unit",
        "measured": "Measured (mean)",
        "predicted": "Predicted (mean)",
        "rel_error": "Rel. error (%)",
        "mean_load_1m": "Host load (1-min avg.)",
    }
    formats = {
        "workload": "s",
        "model": "s",
        "metric": "s",
        "unit": "s",
        "measured": ".2f",
        "predicted": ".2f",
        "rel_error": ".1%",
        "mean_load_1m": ".1f",
    }
    caption = (
        f"The model's predictions against the measurement (target: |rel. error| <= "
        f"{tolerance:.0%}); rel. error = (predicted - measured) / measured."
    )
    return Table("model_validation", caption, pd.DataFrame(records), headers, formats, MODEL_LABELS)
