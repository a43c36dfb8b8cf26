"""Where the time goes: each run's ``time_ms`` split by component, averaged per group.

The split comes with the rows (``time_<component>_ms``, see `durable_sim.rows`): the harness
walks each virtual-clock run's critical path. Wall-clock rows carry no split and are skipped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from durable_sim.analysis.scenarios import ordered_scenarios, with_scenario
from durable_sim.analysis.schema import MODELS, AnalysisInputError, ordered_phases, require_columns
from durable_sim.analysis.tables import MODEL_LABELS, Table
from durable_sim.rows import TIME_COLUMNS, TIME_COMPONENTS

#: How each component is named in tables and figures.
COMPONENT_LABELS: dict[str, str] = {
    "invocation": "invocation floor",
    "checkpoint": "checkpoint writes",
    "replay": "replay",
    "store": "store calls",
    "polling_slack": "polling slack",
    "compute": "compute",
    "queueing": "waiting for a core",
    "retry_backoff": "retry back-off",
}


def _split_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[np.isfinite(rows[list(TIME_COLUMNS)].to_numpy(dtype=float)).all(axis=1)]


def has_time_split(rows: pd.DataFrame) -> bool:
    """Whether any row carries a time split (virtual-clock rows do, wall-clock rows do not)."""
    require_columns(rows, TIME_COLUMNS)
    return not _split_rows(rows).empty


def breakdown_table(rows: pd.DataFrame) -> Table:
    """Mean ms per component for each scenario, phase (any workload's; the paper's first) and
    model with a time split.

    Columns: ``scenario, phase, model, runs, time_ms`` and one column per component (named as
    in the rows), plus ``largest`` (the component with the largest mean). Raises
    `AnalysisInputError` if no row carries a split.
    """
    require_columns(rows, ["clock", "profile", "phase", "model", "time_ms", *TIME_COLUMNS])
    rows = with_scenario(rows)
    split = _split_rows(rows)
    if split.empty:
        raise AnalysisInputError("no row carries a time split (only virtual-clock runs do)")
    records = []
    for scenario in ordered_scenarios(split["scenario"]):
        for phase in ordered_phases(split["phase"]):
            for model in MODELS:
                group = split[
                    (split["scenario"] == scenario)
                    & (split["phase"] == phase)
                    & (split["model"] == model)
                ]
                if group.empty:
                    continue
                means = {c: float(group[c].mean()) for c in TIME_COLUMNS}
                largest = max(TIME_COMPONENTS, key=lambda c: means[f"time_{c}_ms"])
                records.append(
                    {
                        "scenario": scenario,
                        "phase": phase,
                        "model": model,
                        "runs": len(group),
                        "time_ms": float(group["time_ms"].mean()),
                        **means,
                        "largest": largest,
                    }
                )
    headers = {
        "scenario": "Scenario",
        "phase": "Phase",
        "model": "Model",
        "runs": "Runs",
        "time_ms": "Time (ms)",
        **{f"time_{c}_ms": f"{COMPONENT_LABELS[c].capitalize()} (ms)" for c in TIME_COMPONENTS},
    }
    formats = {
        "scenario": "s",
        "phase": "s",
        "model": "s",
        "runs": "d",
        "time_ms": ".1f",
        **{c: ".1f" for c in TIME_COLUMNS},
    }
    caption = (
        "Mean time per run split by component along each run's critical path (ms); the "
        "components add up to the time."
    )
    return Table("time_breakdown", caption, pd.DataFrame(records), headers, formats, MODEL_LABELS)
