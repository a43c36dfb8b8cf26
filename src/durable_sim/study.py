"""The study's experiments: which specs each part of the report runs, from flat parameters.

Every function takes a notebook's parameter values as a flat mapping (a
``params/<set>/<notebook>.yaml`` checked by `durable_sim.notebook`, whose ``values()`` the
notebooks pass) and returns validated specs, so the notebooks, `durable_sim.measure` and the
tests build exactly the same experiments. Keys a function reads are listed in its docstring; a
missing key raises `SpecError` naming it, a bad value `SpecError` naming the value and its range.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_sim.experiments import ExperimentSpec, SpecError, model_twin

Params = Mapping[str, Any]
#: The baseline polling strategies of the design space: (read per round, wait schedule).
POLL_STRATEGIES: tuple[tuple[str, str], ...] = (
    ("query", "fixed"),
    ("query", "exponential"),
    ("get", "fixed"),
    ("get", "exponential"),
)


def _get(p: Params, *keys: str) -> dict[str, Any]:
    missing = [k for k in keys if k not in p]
    if missing:
        raise SpecError(f"missing parameter(s) {missing} (accepted: a mapping with {list(keys)})")
    return {k: p[k] for k in keys}


def _common(p: Params, profile: str | None) -> dict[str, Any]:
    values = _get(p, "profile", "clock", "engine", "seed")
    if profile is not None:
        values["profile"] = profile
    values["warmup_runs"] = p.get("warmup_runs", 0)
    values["database"] = p.get("database", "memory")
    return values


def counter_specs(p: Params, *, profile: str | None = None) -> list[ExperimentSpec]:
    """Phase 1: the counter, durable then baseline (keys: counter_runs, profile, clock, engine,
    seed; optional warmup_runs, database). `profile` overrides the file's."""
    common = {**_common(p, profile), **_get(p, "counter_runs")}
    runs = common.pop("counter_runs")
    return [
        ExperimentSpec.parse(
            {
                **common,
                "workload": "counter",
                "model": model,
                "runs": runs,
                "engine": common["engine"] if model == "durable" else "sim",
            }
        )
        for model in ("durable", "baseline")
    ]


def _video_common(p: Params, profile: str | None) -> dict[str, Any]:
    return {
        **_common(p, profile),
        **_get(p, "chunks", "encoder", "failure_probability"),
        "workers": p.get("workers", 1),
        "workload": "video",
    }


def video_specs(p: Params, *, profile: str | None = None) -> list[ExperimentSpec]:
    """Phase 2: the video pipeline, durable then baseline (keys: runs_durable, runs_baseline,
    chunks, encoder, failure_probability, fanout, poll_interval_ms and the common ones;
    optional workers, warmup_runs, database)."""
    common = _video_common(p, profile)
    sizes = _get(p, "runs_durable", "runs_baseline", "fanout", "poll_interval_ms")
    engine = common.pop("engine")
    return [
        ExperimentSpec.parse(
            {
                **common,
                "model": "durable",
                "engine": engine,
                "runs": sizes["runs_durable"],
                "fanout": sizes["fanout"],
            }
        ),
        ExperimentSpec.parse(
            {
                **common,
                "model": "baseline",
                "runs": sizes["runs_baseline"],
                "poll_interval_ms": sizes["poll_interval_ms"],
            }
        ),
    ]


def failure_specs(p: Params) -> list[ExperimentSpec]:
    """Both models with injected encode failures (keys: failure_sweep, failure_runs, and those
    of `video_specs`)."""
    extra = _get(p, "failure_sweep", "failure_runs")
    varied = {**p, "failure_probability": extra["failure_sweep"]}
    return [s.model_copy(update={"runs": extra["failure_runs"]}) for s in video_specs(varied)]


def polling_specs(p: Params) -> list[ExperimentSpec]:
    """The baseline under every polling strategy (`POLL_STRATEGIES`), with the paper's run
    count (keys: those of `video_specs`)."""
    base = video_specs(p)[1]
    return [base.derive(poll_read=read, poll_backoff=backoff) for read, backoff in POLL_STRATEGIES]


def sweep_specs(p: Params) -> list[ExperimentSpec]:
    """The baseline at each swept poll interval (keys: poll_sweep_ms, sweep_runs, and those of
    `video_specs`)."""
    extra = _get(p, "poll_sweep_ms", "sweep_runs")
    sweep = extra["poll_sweep_ms"]
    if not isinstance(sweep, list) or not sweep:
        raise SpecError(
            f"bad poll_sweep_ms={sweep!r} (accepted: a non-empty list of intervals in ms)"
        )
    base = video_specs(p)[1]
    return [base.derive(runs=extra["sweep_runs"], poll_interval_ms=interval) for interval in sweep]


def fanout_variant_spec(p: Params) -> ExperimentSpec:
    """The durable pipeline with the other fan-out (keys: sweep_runs, and those of
    `video_specs`)."""
    durable = video_specs(p)[0]
    other = "sequential" if durable.fanout == "map" else "map"
    return durable.derive(fanout=other, runs=_get(p, "sweep_runs")["sweep_runs"])


def twin_specs(
    measured: list[ExperimentSpec], *, host_cores: int, costs: Mapping[str, float]
) -> list[ExperimentSpec]:
    """The model's prediction of each measured spec (`experiments.model_twin`) on the
    measuring host's cores, with the calibration `costs` taken with the measurement.

    The real encoder encodes on `workers` processes, so a measured spec with fewer workers
    than cores encodes at most `workers` chunks at a time: its twin gets that many cores.
    """
    return [
        model_twin(
            s,
            cores=min(host_cores, s.workers) if s.encoder == "real" else host_cores,
            costs=dict(costs),
        )
        for s in measured
    ]
