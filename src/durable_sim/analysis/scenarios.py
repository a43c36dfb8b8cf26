"""Scenarios side by side: the same workloads under each latency scenario and measured.

A row's scenario is its latency profile when it ran on the virtual clock (``paper-local``,
``aws-lambda``), and ``measured`` when it ran on the wall clock (real time on this machine).
"""

from __future__ import annotations

import pandas as pd

from durable_sim.analysis.paper_values import PAPER_VALUES
from durable_sim.analysis.schema import (
    MODELS,
    PHASES,
    AnalysisInputError,
    ordered_phases,
    require_columns,
)
from durable_sim.analysis.tables import MODEL_LABELS, Table

#: Scenarios in report order; others (e.g. ``zero``) follow alphabetically.
SCENARIO_ORDER: tuple[str, ...] = ("paper-local", "aws-lambda", "measured")
#: The paper's own numbers as a pseudo-scenario in side-by-side tables.
PAPER = "paper"


def scenario_of(rows: pd.DataFrame) -> pd.Series:
    """Each row's scenario: ``"measured"`` for wall-clock rows, else the profile's name."""
    require_columns(rows, ["clock", "profile"])
    return rows["profile"].where(rows["clock"] != "wall", "measured").astype(str)


def with_scenario(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with a ``scenario`` column (see `scenario_of`)."""
    return rows.assign(scenario=scenario_of(rows))


def ordered_scenarios(names: list[str] | pd.Series) -> list[str]:
    """Distinct scenario names in report order."""
    present = sorted(set(names))
    return [s for s in SCENARIO_ORDER if s in present] + [
        s for s in present if s not in SCENARIO_ORDER
    ]


def scenarios_table(rows: pd.DataFrame) -> Table:
    """Per scenario, phase and model: the machine (kind, cores: a host's cores or a Lambda's
    vCPUs), runs, mean and SD of time, store calls, checkpoints; the paper's published means
    first (scenario ``paper``, for the paper's phases; machine, SD and checkpoints not
    published). Every phase present is tabulated, the paper's first.

    Raises `AnalysisInputError` if `rows` lack a needed column or hold no row to tabulate.
    """
    require_columns(
        rows,
        [
            "clock",
            "profile",
            "machine",
            "cores",
            "phase",
            "model",
            "time_ms",
            "store_ops",
            "checkpoint_ops",
        ],
    )
    rows = with_scenario(rows)
    records: list[dict[str, object]] = []
    published = {(v.phase, v.model, v.metric): v.value for v in PAPER_VALUES}
    for phase in PHASES:
        for model in MODELS:
            if (phase, model, "runs") in published:
                records.append(
                    {
                        "scenario": PAPER,
                        "machine": "",
                        "cores": 0,
                        "phase": phase,
                        "model": model,
                        "runs": int(published[(phase, model, "runs")]),
                        "mean_time_ms": published.get((phase, model, "time_ms"), float("nan")),
                        "sd_time_ms": float("nan"),
                        "mean_store_ops": published[(phase, model, "store_ops")],
                        "mean_checkpoint_ops": float("nan"),
                    }
                )
    for scenario in ordered_scenarios(rows["scenario"]):
        for phase in ordered_phases(rows["phase"]):
            for model in MODELS:
                group = rows[
                    (rows["scenario"] == scenario)
                    & (rows["phase"] == phase)
                    & (rows["model"] == model)
                ]
                if group.empty:
                    continue
                records.append(
                    {
                        "scenario": scenario,
                        "machine": str(group["machine"].iloc[0]),
                        "cores": int(group["cores"].iloc[0]),
                        "phase": phase,
                        "model": model,
                        "runs": len(group),
                        "mean_time_ms": float(group["time_ms"].mean()),
                        "sd_time_ms": float(group["time_ms"].std(ddof=1)),
                        "mean_store_ops": float(group["store_ops"].mean()),
                        "mean_checkpoint_ops": float(
                            pd.to_numeric(group["checkpoint_ops"], errors="coerce").mean()
                        ),
                    }
                )
    if not any(r["scenario"] != PAPER for r in records):
        raise AnalysisInputError("no rows to tabulate (no row has a phase and a known model)")
    headers = {
        "scenario": "Scenario",
        "cores": "Cores (per machine)",
        "phase": "Phase",
        "model": "Model",
        "runs": "Runs",
        "mean_time_ms": "Mean time (ms)",
        "sd_time_ms": "SD time (ms)",
        "mean_store_ops": "Store ops (calls/run)",
        "mean_checkpoint_ops": "Checkpoints (writes/run)",
    }
    formats = {
        "scenario": "s",
        "cores": "d",
        "phase": "s",
        "model": "s",
        "runs": "d",
        "mean_time_ms": ".1f",
        "sd_time_ms": ".1f",
        "mean_store_ops": ".1f",
        "mean_checkpoint_ops": ".1f",
    }
    caption = (
        "Both workloads per scenario: the paper's published means, our latency scenarios on the "
        "virtual clock, and our wall-clock measurement (means per run)."
    )
    return Table("scenarios", caption, pd.DataFrame(records), headers, formats, MODEL_LABELS)
