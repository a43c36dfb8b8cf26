"""Experiments: a validated spec in, one tidy row per run out, saved as CSV with provenance.

Each run gets its own seed spawned from the spec's seed, so a run's row depends only on the
spec and its index: the same spec gives the same rows whether runs go one by one or are spread
over processes. On the virtual clock the CSV is byte-identical from one execution to the next.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from durable_sim.baseline import FunctionRuntime, open_store
from durable_sim.clock import Clock, VirtualClock, WallClock
from durable_sim.durable import DurableRun
from durable_sim.engines import run_durable
from durable_sim.files import write_all_atomic
from durable_sim.latency import PROFILES, Sampler, get_profile
from durable_sim.rows import REQUIRED_COLUMNS
from durable_sim.video import SourceSpec
from durable_sim.workloads import counter, video
from durable_sim.workloads.encoders import make_encoder

STORE_PURPOSES = {
    "counter": ("counter_create", "counter_update", "counter_read"),
    "video": ("job_creation", "chunk_insert", "status_update", "poll"),
}


class SpecError(ValueError):
    """A bad experiment spec; the message is one line naming the value and the accepted range."""


class ExperimentSpec(BaseModel):
    """What to run: workload, model, engine, clock, profile, encoder, run count and seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workload: Literal["counter", "video"]
    model: Literal["durable", "baseline"]
    engine: Literal["sim", "aws-local"] = "sim"
    clock: Literal["virtual", "wall"] = "virtual"
    profile: str = "paper-local"
    encoder: Literal["model", "real"] = "model"
    runs: int = Field(10, ge=1, le=1_000_000)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    chunks: int = Field(10, ge=1, le=1_000_000)
    video_seconds: int = Field(10, ge=1, le=3600)
    width: int = Field(640, ge=16, le=3840)
    height: int = Field(360, ge=16, le=2160)
    failure_probability: float = Field(0.0, ge=0.0, lt=1.0)
    poll_interval_ms: float = Field(100.0, gt=0.0, le=3_600_000.0)
    fanout: Literal["map", "sequential"] = "map"
    max_concurrency: int | None = Field(None, ge=1)
    workers: int = Field(1, ge=1, le=64)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is unknown (accepted: {sorted(PROFILES)})")
        if self.engine == "aws-local" and self.clock != "wall":
            raise ValueError("engine 'aws-local' runs on the wall clock (set clock='wall')")
        if self.workload == "video" and self.chunks > self.video_seconds * 30:
            raise ValueError(
                f"chunks={self.chunks} exceeds the frames of the video "
                f"(accepted: 1..{self.video_seconds * 30} for {self.video_seconds} s at 30 fps)"
            )
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


def run_seeds(seed: int, runs: int) -> list[int]:
    """One independent 32-bit seed per run, spawned from the experiment's seed."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(runs)]


def _make_clock(spec: ExperimentSpec) -> Clock:
    return VirtualClock() if spec.clock == "virtual" else WallClock()


def _row(spec: ExperimentSpec, run_id: int, seed: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run_id,
        "phase": spec.workload,
        "model": spec.model,
        "engine": spec.row_engine,
        "clock": spec.clock,
        "profile": spec.profile,
        "encoder": spec.encoder if spec.workload == "video" else "",
        "seed": seed,
        "chunks": spec.chunks if spec.workload == "video" else 0,
        "failure_probability": spec.failure_probability,
        "poll_interval_ms": spec.poll_interval_ms if spec.model == "baseline" else 0.0,
    }
    by_purpose = values.pop("by_purpose", {})
    row["time_ms"] = values.pop("time_ms")
    row["store_ops"] = sum(by_purpose.values())
    for purpose in STORE_PURPOSES[spec.workload]:
        row[f"store_ops_{purpose}"] = by_purpose.get(purpose, 0)
    defaults = {"final_value": None, "output_digest": None}
    for column in REQUIRED_COLUMNS:  # the rest of the row schema the analysis reads, in order
        if column not in row:
            row[column] = values.get(column, defaults.get(column, 0))
    return row


def _durable_values(run: DurableRun) -> dict[str, Any]:
    """The row values every durable run reports, whatever its workload."""
    m = run.metrics
    return {
        "time_ms": m.elapsed_ms,
        "checkpoint_ops": m.checkpoint_ops,
        "checkpoint_bytes": m.checkpoint_bytes,
        "invocations": m.invocations,
        "replays": m.replays,
        "steps": sum(op.type == "STEP" for op in run.operations),
        "retries": m.retries,
        "failed_steps": m.failed_steps,
        "ok": run.status == "SUCCEEDED",
    }


def _counter_run(spec: ExperimentSpec, run_id: int, seed: int) -> dict[str, Any]:
    profile = get_profile(spec.profile)
    if spec.model == "durable":
        clock = _make_clock(spec)
        if spec.engine == "sim":
            run = run_durable(counter.durable_counter, {}, clock=clock, profile=profile, seed=seed)
        else:
            run = run_durable(counter.durable_counter, {}, engine="aws-local")
        value = run.result["value"] if run.result else None
        return _row(spec, run_id, seed, **_durable_values(run), final_value=value)
    clock = _make_clock(spec)
    sampler = Sampler(profile, seed)
    store = open_store("memory", clock=clock, sampler=sampler)
    with FunctionRuntime(clock, sampler) as runtime:
        start = clock.now_ms()
        result = counter.run_baseline_counter(runtime, store, counter_id=f"counter-{run_id}")
        elapsed = clock.now_ms() - start
        invocations = runtime.counters.total
    return _row(
        spec,
        run_id,
        seed,
        time_ms=elapsed,
        by_purpose=store.counters.by_purpose,
        invocations=invocations,
        steps=result.ops,
        final_value=result.value,
        ok=result.value == 2,
    )


def _video_run(spec: ExperimentSpec, run_id: int, seed: int, blob_root: Path) -> dict[str, Any]:
    profile = get_profile(spec.profile)
    sampler = Sampler(profile, seed)
    source_spec = SourceSpec(spec.video_seconds, 30, spec.width, spec.height, 30)
    encoder = make_encoder(
        spec.encoder,
        spec=source_spec,
        sampler=sampler,
        failure_probability=spec.failure_probability,
        store_root=blob_root,
        workers=spec.workers,
    )
    try:
        source = encoder.source()
        clock = _make_clock(spec)
        if spec.model == "durable":
            handler = video.durable_video_handler(encoder, fanout=spec.fanout)
            event = {"source": source, "chunks": spec.chunks}
            if spec.max_concurrency:
                event["max_concurrency"] = spec.max_concurrency
            if spec.engine == "sim":
                run = run_durable(handler, event, clock=clock, profile=profile, seed=seed)
            else:
                run = run_durable(handler, event, engine="aws-local")
            digest = run.result["key"] if run.result else None
            return _row(spec, run_id, seed, **_durable_values(run), output_digest=digest)
        store = open_store("memory", clock=clock, sampler=sampler)
        with FunctionRuntime(clock, sampler, max_workers=min(spec.chunks, 1024)) as runtime:
            start = clock.now_ms()
            result = video.run_baseline_video(
                runtime,
                store,
                encoder,
                job_id=f"job-{run_id}",
                source=source,
                chunks=spec.chunks,
                poll_interval_ms=spec.poll_interval_ms,
                seed=seed,
            )
            elapsed = clock.now_ms() - start
            invocations = runtime.counters.total
        return _row(
            spec,
            run_id,
            seed,
            time_ms=elapsed,
            by_purpose=store.counters.by_purpose,
            invocations=invocations,
            steps=3 + spec.chunks,
            retries=result.retries,
            failed_steps=result.failed_chunks,
            output_digest=result.output["key"] if result.output else None,
            ok=result.ok,
        )
    finally:
        close = getattr(encoder, "close", None)
        if close is not None:
            close()


def run_one(spec: ExperimentSpec, run_id: int, seed: int, blob_root: Path) -> dict[str, Any]:
    """One run of `spec` as a row."""
    if spec.workload == "counter":
        return _counter_run(spec, run_id, seed)
    return _video_run(spec, run_id, seed, blob_root)


def _run_chunk(args: tuple[ExperimentSpec, list[tuple[int, int]], str]) -> list[dict[str, Any]]:
    spec, items, blob_root = args
    return [run_one(spec, run_id, seed, Path(blob_root)) for run_id, seed in items]


def run_experiment(
    spec: ExperimentSpec,
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    blob_root: str | Path | None = None,
) -> pd.DataFrame:
    """Run every run of `spec`; one row per run, ordered by run id.

    `jobs` > 1 spreads runs over spawned processes; rows do not depend on it. `progress` is
    called with the number of runs just finished.
    """
    if not isinstance(jobs, int) or not 1 <= jobs <= 256:
        raise SpecError(f"bad jobs={jobs!r} (accepted: an int in 1..256)")
    items = list(enumerate(run_seeds(spec.seed, spec.runs)))
    with tempfile.TemporaryDirectory(prefix="durable-sim-blobs-") as tmp:
        root = str(blob_root or tmp)
        rows: list[dict[str, Any]] = []
        if jobs == 1:
            for run_id, seed in items:
                rows.append(run_one(spec, run_id, seed, Path(root)))
                if progress:
                    progress(1)
        else:
            batches = [(spec, items[i::jobs], root) for i in range(jobs)]
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
                for batch_rows in pool.map(_run_chunk, batches):
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
    """What produced a data file: specs, seeds, package versions, code digest, Python x.y.

    The full interpreter version and every installed package are in the reproduce driver's run
    log (``logs/reproduce.json``, not committed).
    """
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
        # major.minor only: the lock installs on every 3.11.x and the outputs do not depend on
        # the patch release, so recording it would make committed files differ between them.
        "python": ".".join(map(str, sys.version_info[:2])),
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
