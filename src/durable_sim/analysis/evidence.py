"""Every table the report rests on, built in one place from the run rows.

`evidence_tables` turns the rows of all scenarios (canonical, other latency scenarios, the
measured data) plus the optional extra experiments (failures, polling strategies, the model's
predictions of the measurement) into named `Table` objects; `load_rows` reads those rows from
the committed CSVs, each verified against its sidecar. The report's sentences (`report`) and the
claims table (`claims`) are computed from the tables' frames (`outputs.report_outputs`), so every
sentence and verdict follows from a written table.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from durable_sim.analysis.breakdown import breakdown_table, has_time_split
from durable_sim.analysis.polling import fanout_table, poll_sweep_table, polling_design_table
from durable_sim.analysis.scenarios import ordered_scenarios, scenarios_table, with_scenario
from durable_sim.analysis.schema import (
    MODELS,
    AnalysisInputError,
    MissingInputError,
    ordered_phases,
)
from durable_sim.analysis.stats import spread_test
from durable_sim.analysis.tables import (
    MODEL_LABELS,
    Table,
    correlation_table,
    paper_comparison_table,
    statistics_table,
    store_ops_table,
    table1,
    table2,
)
from durable_sim.analysis.validation import TOLERANCE, validation_table
from durable_sim.files import read_pair, sidecar_path


def _stacked(tables: list[tuple[str, Table]], name: str, caption: str) -> Table:
    """Tables of the same shape, one per scenario, stacked with a leading ``scenario`` column."""
    first = tables[0][1]
    frame = pd.concat([t.frame.assign(scenario=s) for s, t in tables], ignore_index=True)
    frame = frame[["scenario", *[c for c in frame.columns if c != "scenario"]]]
    return Table(
        name,
        caption,
        frame,
        {"scenario": "Scenario", **first.headers},
        {"scenario": "s", **first.formats},
        first.value_labels,
    )


def spread_table(rows: pd.DataFrame) -> Table:
    """Per scenario and phase (any workload's; the paper's first): SD of time per model and the
    Brown-Forsythe test of equal spread.

    ``sd_diff`` is the durable SD minus the baseline SD (ms).
    """
    rows = with_scenario(rows)
    records = []
    for scenario in ordered_scenarios(rows["scenario"]):
        for phase in ordered_phases(rows["phase"]):
            part = rows[(rows["scenario"] == scenario) & (rows["phase"] == phase)]
            groups = [part[part["model"] == m]["time_ms"].to_numpy(float) for m in MODELS]
            if any(g.size == 0 for g in groups):
                continue
            base, durable = groups
            test = spread_test(base, durable)
            sd_base = float(base.std(ddof=1)) if base.size > 1 else float("nan")
            sd_durable = float(durable.std(ddof=1)) if durable.size > 1 else float("nan")
            records.append(
                {
                    "scenario": scenario,
                    "phase": phase,
                    "sd_baseline_ms": sd_base,
                    "sd_durable_ms": sd_durable,
                    "sd_diff": sd_durable - sd_base,
                    "bf_statistic": test.statistic,
                    "bf_p": test.pvalue,
                    "notes": test.reason,
                }
            )
    headers = {
        "scenario": "Scenario",
        "phase": "Phase",
        "sd_baseline_ms": "SD baseline (ms)",
        "sd_durable_ms": "SD durable (ms)",
        "sd_diff": "Durable - baseline (ms)",
        "bf_p": "Brown-Forsythe p (-)",
    }
    formats = {
        "scenario": "s",
        "phase": "s",
        "sd_baseline_ms": ".1f",
        "sd_durable_ms": ".1f",
        "sd_diff": ".1f",
        "bf_p": ".3g",
    }
    caption = (
        "Run-to-run spread of the time per model, and the Brown-Forsythe test of equal spread."
    )
    return Table("spread", caption, pd.DataFrame(records), headers, formats)


def failures_table(rows: pd.DataFrame) -> Table:
    """The failure scenario per model: runs, successful runs, retries, store calls, time, and
    the number of distinct outputs across both models' successful runs."""
    records = []
    outputs = rows.loc[rows["ok"].astype(bool), "output_digest"].nunique()
    for model in MODELS:
        group = rows[rows["model"] == model]
        if group.empty:
            continue
        records.append(
            {
                "model": model,
                "failure_probability": float(group["failure_probability"].iloc[0]),
                "runs": len(group),
                "ok_runs": int(group["ok"].astype(bool).sum()),
                "mean_retries": float(group["retries"].mean()),
                "mean_store_ops": float(group["store_ops"].mean()),
                "mean_time_ms": float(group["time_ms"].mean()),
                "distinct_outputs": int(outputs),
            }
        )
    headers = {
        "model": "Model",
        "runs": "Runs",
        "ok_runs": "OK runs",
        "mean_retries": "Retries (per run)",
        "mean_store_ops": "Store ops (calls/run)",
        "mean_time_ms": "Mean time (ms)",
    }
    formats = {
        "model": "s",
        "runs": "d",
        "ok_runs": "d",
        "mean_retries": ".2f",
        "mean_store_ops": ".1f",
        "mean_time_ms": ".1f",
    }
    caption = "Video runs with injected encode failures: both models meet the same failures."
    return Table("failures", caption, pd.DataFrame(records), headers, formats, MODEL_LABELS)


def evidence_tables(
    rows: pd.DataFrame,
    *,
    canonical: str,
    failures: pd.DataFrame | None = None,
    polling: pd.DataFrame | None = None,
    sensitivity: pd.DataFrame | None = None,
    predicted: pd.DataFrame | None = None,
    seed: int = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
    tolerance: float = TOLERANCE,
) -> dict[str, Table]:
    """The report's tables, by name.

    `rows`: the counter and video rows of every scenario (see `scenarios.scenario_of`);
    `canonical`: the scenario of the paper's Tables 1-2; `failures`: the failure scenario's
    rows; `polling`: baseline video rows of several polling strategies (the measured baseline
    rows join them as their own scenario); `sensitivity`: baseline
    video rows over several poll intervals and durable rows of the other fan-out; `predicted`:
    the model's twins of the measured rows. Optional inputs that are ``None`` leave their
    tables out. Raises `AnalysisInputError` when `canonical` has no rows.
    """
    rows = with_scenario(rows)
    scenarios = ordered_scenarios(rows["scenario"])
    if canonical not in scenarios:
        raise AnalysisInputError(f"no rows of canonical scenario {canonical!r}; have {scenarios}")
    main = rows[rows["scenario"] == canonical]
    per_scenario = {s: rows[rows["scenario"] == s] for s in scenarios}
    tables = {
        "table1_counter": table1(main),
        "table2_video": table2(main),
        "paper_vs_ours": paper_comparison_table(main),
        "store_ops_video": store_ops_table(main),
        "scenarios": scenarios_table(rows),
        "statistics": _stacked(
            [
                (s, statistics_table(r, seed=seed, n_resamples=n_resamples, level=level))
                for s, r in per_scenario.items()
            ],
            "statistics",
            f"Durable minus baseline per scenario, phase and metric: Welch and Mann-Whitney "
            f"tests, {level:.0%} bootstrap CI ({n_resamples} resamples, seed {seed}), effects.",
        ),
        "correlation": _stacked(
            [(s, correlation_table(r)) for s, r in per_scenario.items()],
            "correlation",
            "Spearman rank correlation of store_ops and time_ms across runs, per scenario.",
        ),
        "spread": spread_table(rows),
    }
    if has_time_split(rows):
        tables["time_breakdown"] = breakdown_table(rows)
    if failures is not None:
        corr = correlation_table(failures)
        tables["correlation_failures"] = Table(
            "correlation_failures",
            "Spearman rank correlation of store_ops and time_ms, video runs with injected "
            "failures.",
            corr.frame,
            corr.headers,
            corr.formats,
            corr.value_labels,
        )
        tables["failures"] = failures_table(failures)
    if polling is not None:
        measured_base = rows[
            (rows["scenario"] == "measured")
            & (rows["phase"] == "video")
            & (rows["model"] == "baseline")
        ]
        tables["polling_design"] = polling_design_table(
            pd.concat([polling, measured_base.drop(columns="scenario")], ignore_index=True),
            seed=seed,
            n_resamples=n_resamples,
            level=level,
        )
    if sensitivity is not None:
        tables["poll_sweep"] = poll_sweep_table(sensitivity)
        durable = main[(main["phase"] == "video") & (main["model"] == "durable")]
        tables["fanout"] = fanout_table(pd.concat([durable, sensitivity], ignore_index=True))
    measured = per_scenario.get("measured")
    if predicted is not None and measured is not None:
        tables["model_validation"] = validation_table(measured, predicted, tolerance=tolerance)
    return tables


#: The row files (``<name>.csv`` with their sidecars) of the two phases of one scenario.
PHASE_FILES: tuple[str, ...] = ("phase1_counter", "phase2_video")
#: The row files of the extra experiments, by role (see `evidence_tables`).
EXTRA_FILES: dict[str, str] = {
    "failures": "phase2_failures",
    "polling": "phase2_polling",
    "sensitivity": "phase2_sensitivity",
}


#: Tables written to ``paper/generated/`` by the notebooks before the report's, whose frames the
#: claims read (`claims.CLAIMS`): notebook 03's actor tables, notebook 04's sensitivity tables.
CLAIM_EVIDENCE: tuple[str, ...] = (
    "actor_mapping",
    "actor_results",
    "sensitivity_summary",
    "sensitivity_trends",
)


def load_claim_evidence(tables_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The `CLAIM_EVIDENCE` tables present in `tables_dir` (``<name>.csv``), by name; an absent
    one leaves the claims that need it ``not testable here``."""
    tables = Path(tables_dir)
    return {
        name: pd.read_csv(tables / f"{name}.csv")
        for name in CLAIM_EVIDENCE
        if (tables / f"{name}.csv").is_file()
    }


def read_rows(path: str | Path) -> pd.DataFrame | None:
    """The rows of a published CSV pair (`durable_sim.files.publish_pair`), verified against
    its sidecar's sha256 and size; ``None`` if neither the CSV nor its sidecar exists.

    Raises `SidecarMismatchError` if one exists without the other or they do not match.
    """
    path = Path(path)
    if not path.exists() and not sidecar_path(path).exists():
        return None
    data, _ = read_pair(path)
    return pd.read_csv(io.BytesIO(data))


def scenario_files(data_dir: str | Path, profile: str) -> list[Path]:
    """The row files of both phases (`PHASE_FILES`) of latency scenario `profile` in `data_dir`:
    ``<phase>_<profile>.csv`` (as notebooks 01 and 02 name a further scenario's), else the
    canonical ``<phase>.csv`` when its rows are that scenario's. Raises `AnalysisInputError`
    naming the files looked for when neither is there."""
    data = Path(data_dir)
    named = [data / f"{p}_{profile}.csv" for p in PHASE_FILES]
    if all(path.is_file() for path in named):
        return named
    canonical = [data / f"{p}.csv" for p in PHASE_FILES]
    frames = [read_rows(path) for path in canonical]
    if all(f is not None and set(f["profile"]) == {profile} for f in frames):
        return canonical
    raise AnalysisInputError(
        f"no rows of scenario {profile!r} in {str(data)!r} (looked for "
        f"{[p.name for p in named]}, or {[p.name for p in canonical]} of that profile; "
        "run notebooks 01 and 02 with it among their profiles)"
    )


def load_rows(
    data_dir: str | Path, measured_dir: str | Path | None, other_profiles: Sequence[str]
) -> dict[str, pd.DataFrame | None]:
    """The study's rows from the experiment CSVs, by role (``None`` for an absent file), each
    verified against its sidecar (`read_rows`).

    ``rows``: both phases (`PHASE_FILES`) of the canonical run, of each profile in
    `other_profiles` (``<phase>_<profile>.csv``) and of the measured data set (the same names in
    `measured_dir`); ``failures``, ``polling``, ``sensitivity`` (`EXTRA_FILES`): the failure
    scenario, the polling strategies, the poll-interval and fan-out sensitivity runs;
    ``predicted``: the model's twins of the measurement (``<phase>_predicted.csv``). Raises
    `MissingInputError` (an `AnalysisInputError`) if a canonical file is missing and
    `SidecarMismatchError` if a file does not match its sidecar.
    """
    data = Path(data_dir)
    canonical = [read_rows(data / f"{p}.csv") for p in PHASE_FILES]
    if any(frame is None for frame in canonical):
        missing = [f"{p}.csv" for p, f in zip(PHASE_FILES, canonical, strict=True) if f is None]
        raise MissingInputError(
            f"missing {missing} in {str(data)!r} (run notebooks 01 and 02 first)"
        )
    pieces = canonical + [
        read_rows(data / f"{p}_{prof}.csv") for prof in other_profiles for p in PHASE_FILES
    ]
    if measured_dir is not None:
        pieces += [read_rows(Path(measured_dir) / f"{p}.csv") for p in PHASE_FILES]
    predicted = [read_rows(data / f"{p}_predicted.csv") for p in PHASE_FILES]
    return {
        "rows": pd.concat([f for f in pieces if f is not None], ignore_index=True),
        **{role: read_rows(data / f"{name}.csv") for role, name in EXTRA_FILES.items()},
        "predicted": (
            pd.concat([f for f in predicted if f is not None], ignore_index=True)
            if any(f is not None for f in predicted)
            else None
        ),
    }
