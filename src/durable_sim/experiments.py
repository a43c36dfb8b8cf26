"""Experiments: a validated spec in, one tidy row per run out, saved as CSV with provenance.

Each run gets its own seed spawned from the spec's seed, so a run's row depends only on the
spec and its index: the same spec gives the same rows whether runs go one by one or are spread
over processes. On the virtual clock the CSV is byte-identical from one execution to the next.

The harness is generic: a workload (`durable_sim.workloads.WORKLOADS`) brings its runners, its
store-call purposes and its row labels; the harness builds each run's clock, latency profile,
machine and seed, traces the virtual clocks to split the run's time by component
(`durable_sim.attribution`) and turns the values into a row (`durable_sim.rows`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from durable_sim.attribution import traced
from durable_sim.clock import Clock, VirtualClock, WallClock
from durable_sim.files import write_all_atomic
from durable_sim.latency import (
    CALIBRATED,
    PROFILES,
    LatencyProfile,
    Sampler,
    get_profile,
    with_calibration,
)
from durable_sim.machine import Machine
from durable_sim.rows import REQUIRED_COLUMNS, STORE_OPS_PREFIX, TIME_COLUMNS, TIME_COMPONENTS
from durable_sim.workloads import WORKLOADS, RunEnv, RunValues, Workload


class SpecError(ValueError):
    """A bad experiment spec; the message is one line naming the value and the accepted range."""


class ExperimentSpec(BaseModel):
    """What to run: workload, model, engine, clock, scenario (profile and machine), encoder,
    baseline polling, run count and seed.

    `cores` overrides the profile's machine cores (a host's cores, a Lambda's vCPUs) and
    `concurrency_limit` a Lambda machine's limit on concurrent invocations; `costs` overrides
    calibrated costs of the profile (`durable_sim.latency.with_calibration`: a cost's median in
    ms, or its spread as ``"<cost>_sigma"``), e.g. with a calibration taken on the machine that
    measured a data set. `warmup_runs` runs are made first and discarded (for wall-clock
    measurements: warm caches and worker pools).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    workload: str
    model: Literal["durable", "baseline"]
    engine: Literal["sim", "aws-local"] = "sim"
    clock: Literal["virtual", "wall"] = "virtual"
    profile: str = "paper-local"
    cores: int | None = Field(None, ge=1, le=1024)
    concurrency_limit: int | None = Field(None, ge=1, le=1_000_000)
    costs: dict[str, float] = Field(default_factory=dict)
    encoder: Literal["model", "real"] = "model"
    runs: int = Field(10, ge=1, le=1_000_000)
    warmup_runs: int = Field(0, ge=0, le=100)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    chunks: int = Field(10, ge=1, le=1_000_000)
    video_seconds: int = Field(10, ge=1, le=3600)
    width: int = Field(640, ge=16, le=3840)
    height: int = Field(360, ge=16, le=2160)
    failure_probability: float = Field(0.0, ge=0.0, lt=1.0)
    poll_interval_ms: float = Field(100.0, gt=0.0, le=3_600_000.0)
    poll_read: Literal["query", "get"] = "query"
    poll_backoff: Literal["fixed", "exponential"] = "fixed"
    fanout: Literal["map", "sequential"] = "map"
    max_concurrency: int | None = Field(None, ge=1)
    workers: int = Field(1, ge=1, le=64)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if self.workload not in WORKLOADS:
            raise ValueError(
                f"workload {self.workload!r} is unknown (accepted: {sorted(WORKLOADS)})"
            )
        workload = WORKLOADS[self.workload]
        if self.model not in workload.models:
            raise ValueError(
                f"workload {self.workload!r} has no model {self.model!r} "
                f"(accepted: {list(workload.models)})"
            )
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is unknown (accepted: {sorted(PROFILES)})")
        if self.engine == "aws-local" and self.clock != "wall":
            raise ValueError("engine 'aws-local' runs on the wall clock (set clock='wall')")
        unknown = sorted(
            set(self.costs) - set(CALIBRATED) - {f"{c}_sigma" for c in CALIBRATED} - {"cores"}
        )
        if unknown or "cores" in self.costs:
            raise ValueError(
                f"costs has unknown cost name(s) {unknown or ['cores']} (accepted: "
                f"{list(CALIBRATED[1:])} and their '_sigma' spreads; cores is its own field)"
            )
        self.latency_profile()
        self.machine()
        workload.check(self)
        return self

    @classmethod
    def parse(cls, values: dict[str, Any]) -> ExperimentSpec:
        """Validate `values`; a bad one raises `SpecError` with a single clear line."""
        try:
            return cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if where:
                message = f"{where}={err['input']!r}: {message}"
            raise SpecError(f"bad experiment spec: {message}") from None

    @property
    def row_engine(self) -> str:
        return self.engine if self.model == "durable" else "baseline"

    def latency_profile(self) -> LatencyProfile:
        """The named profile with this spec's `costs` applied."""
        profile = get_profile(self.profile)
        return with_calibration(profile, self.costs) if self.costs else profile

    def machine(self) -> Machine:
        """The profile's machine with this spec's `cores` and `concurrency_limit` applied."""
        machine = get_profile(self.profile).machine
        if self.cores is not None:
            machine = replace(machine, cores=self.cores)
        if self.concurrency_limit is not None:
            machine = replace(machine, concurrency_limit=self.concurrency_limit)
        return machine


def run_seeds(seed: int, runs: int) -> list[int]:
    """One independent 32-bit seed per run, spawned from the experiment's seed."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(runs)]


def model_twin(
    spec: ExperimentSpec, *, cores: int, costs: dict[str, float] | None = None
) -> ExperimentSpec:
    """The model's prediction of a measured spec: the same workload, model, sizes, runs and
    seed on the virtual clock with our engine and the model encoder, on `cores` cores, with the
    calibrated `costs` (see `ExperimentSpec`). Raises `SpecError` for bad `cores` or `costs`."""
    return ExperimentSpec.parse(
        {
            **spec.model_dump(),
            "clock": "virtual",
            "engine": "sim",
            "encoder": "model",
            "cores": cores,
            "costs": costs or {},
            "warmup_runs": 0,
        }
    )


def _make_clock(spec: ExperimentSpec) -> Clock:
    return VirtualClock() if spec.clock == "virtual" else WallClock()


def host_cores() -> int:
    """The cores this process may run on (its CPU affinity), as the OS reports them."""
    return len(os.sched_getaffinity(0))


def _row(
    spec: ExperimentSpec,
    workload: Workload,
    run_id: int,
    seed: int,
    values: RunValues,
    times: dict[str, float],
    load: float,
) -> dict[str, Any]:
    machine = spec.machine()
    row: dict[str, Any] = {
        "run_id": run_id,
        "phase": workload.phase,
        "model": spec.model,
        "engine": spec.row_engine,
        "clock": spec.clock,
        "profile": spec.profile,
        "machine": machine.kind if spec.clock == "virtual" else "host",
        "cores": machine.cores if spec.clock == "virtual" else host_cores(),
        "load_1m": load,
        "seed": seed,
        **workload.labels(spec),
    }
    by_purpose = values.pop("by_purpose", {})
    unknown = sorted(set(by_purpose) - set(workload.store_purposes))
    if unknown:
        raise ValueError(
            f"workload {workload.name!r} counted store calls under undeclared purposes {unknown} "
            f"(declared: {list(workload.store_purposes)})"
        )
    row["time_ms"] = values.pop("time_ms")
    row["store_ops"] = sum(by_purpose.values())
    for purpose in workload.store_purposes:
        row[f"{STORE_OPS_PREFIX}{purpose}"] = by_purpose.get(purpose, 0)
    defaults = {"final_value": None, "output_digest": None}
    for column in REQUIRED_COLUMNS:  # the rest of the row schema the analysis reads, in order
        if column not in row and column not in TIME_COLUMNS:
            row[column] = values.get(column, defaults.get(column, 0))
    for component, column in zip(TIME_COMPONENTS, TIME_COLUMNS, strict=True):
        row[column] = times.get(component, math.nan)
    return row


def run_one(spec: ExperimentSpec, run_id: int, seed: int, session: Any = None) -> dict[str, Any]:
    """One run of `spec` as a row (`session`: the workload's open session, see `Workload`)."""
    workload = WORKLOADS[spec.workload]
    clock = _make_clock(spec)
    profile = spec.latency_profile()
    env = RunEnv(
        run_id=run_id,
        seed=seed,
        clock=clock,
        profile=profile,
        sampler=Sampler(profile, seed),
        machine=spec.machine().start(),
        session=session,
    )
    load = math.nan if clock.virtual else os.getloadavg()[0]
    with traced(clock) as trace:
        values = workload.run(spec, env)
    times: dict[str, float] = {}
    if trace is not None:
        end = clock.now_ms()
        times = trace.breakdown(clock, end - values["time_ms"], end)
    return _row(spec, workload, run_id, seed, values, times, load)


def _warm_up(spec: ExperimentSpec, session: Any) -> None:
    """Make the spec's warm-up runs (seeds after the runs' own) and discard their rows."""
    seeds = run_seeds(spec.seed, spec.runs + spec.warmup_runs)[spec.runs :]
    for index, seed in enumerate(seeds):
        run_one(spec, -1 - index, seed, session)


def _run_batch(args: tuple[ExperimentSpec, list[tuple[int, int]], str]) -> list[dict[str, Any]]:
    """Rows of some runs of `spec`, in one session, after the spec's warm-up runs."""
    spec, items, scratch = args
    with WORKLOADS[spec.workload].session(spec, Path(scratch)) as session:
        _warm_up(spec, session)
        return [run_one(spec, run_id, seed, session) for run_id, seed in items]


def run_experiment(
    spec: ExperimentSpec,
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    blob_root: str | Path | None = None,
) -> pd.DataFrame:
    """Run every run of `spec`; one row per run, ordered by run id.

    `jobs` > 1 spreads runs over spawned processes; rows do not depend on it. `progress` is
    called with the number of runs just finished. `blob_root` is the workload's scratch
    directory (a temporary one by default).
    """
    if not isinstance(jobs, int) or not 1 <= jobs <= 256:
        raise SpecError(f"bad jobs={jobs!r} (accepted: an int in 1..256)")
    items = list(enumerate(run_seeds(spec.seed, spec.runs)))
    with tempfile.TemporaryDirectory(prefix="durable-sim-blobs-") as tmp:
        root = str(blob_root or tmp)
        rows: list[dict[str, Any]] = []
        if jobs == 1:
            with WORKLOADS[spec.workload].session(spec, Path(root)) as session:
                _warm_up(spec, session)
                for run_id, seed in items:
                    rows.append(run_one(spec, run_id, seed, session))
                    if progress:
                        progress(1)
        else:
            batches = [(spec, items[i::jobs], root) for i in range(jobs)]
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
                for batch_rows in pool.map(_run_batch, batches):
                    rows.extend(batch_rows)
                    if progress:
                        progress(len(batch_rows))
    frame = pd.DataFrame(rows).sort_values("run_id", kind="stable").reset_index(drop=True)
    return frame


def run_experiments(specs: Iterable[ExperimentSpec], *, jobs: int = 1) -> pd.DataFrame:
    """Several specs' rows stacked, with run ids renumbered to stay unique."""
    frames = []
    offset = 0
    for spec in specs:
        frame = run_experiment(spec, jobs=jobs)
        frame["run_id"] += offset
        offset += len(frame)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def code_digest() -> str:
    """sha256 over the package's source files: which code produced a data file.

    Used instead of the git revision, which a committed data file cannot name for the commit
    that contains it; the digest is stable from a file's generation to its commit.
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def provenance(specs: Iterable[ExperimentSpec]) -> dict[str, Any]:
    """What produced a data file: specs, seeds, package versions, code digest."""
    packages = [
        "durable-sim",
        "aws-durable-execution-sdk-python",
        "aws-durable-execution-sdk-python-testing",
        "av",
        "numpy",
        "pandas",
        "scipy",
        "pydantic",
    ]
    return {
        "specs": [spec.model_dump() for spec in specs],
        "python": ".".join(map(str, sys.version_info[:3])),
        "packages": {name: metadata.version(name) for name in packages},
        "code_sha256": code_digest(),
    }


def save_rows(rows: pd.DataFrame, specs: Iterable[ExperimentSpec], path: str | Path) -> Path:
    """Write `rows` as CSV (stable float format) and a ``.meta.json`` sidecar, atomically."""
    path = Path(path)
    if path.suffix != ".csv":
        raise SpecError(f"bad output path {str(path)!r} (accepted: a file name ending in .csv)")
    csv = rows.to_csv(index=False, float_format="%.6f", lineterminator="\n").encode()
    meta = json.dumps(provenance(specs), indent=2, sort_keys=True).encode() + b"\n"
    write_all_atomic({path: csv, path.with_suffix(".meta.json"): meta})
    return path
