"""Benchmarks of the workloads: real encoding in parallel, virtual-clock run rate, fan-out scale.

(The calibration of the ``paper-local`` profile is `benchmarks.calibrate`.)"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.registry import Row, benchmark
from durable_sim.experiments import ExperimentSpec, run_experiment
from durable_sim.video import ChunkEncoderPool, encode_chunks_serial, make_source_step, split_step

AREA = "workloads"


@benchmark("real-encode")
def real_encode_parallel() -> list[Row]:
    """The paper's 10 one-second 640x360 chunks, encoded serially and on 2 spawned processes."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = make_source_step(root)
        keys = [ref["key"] for ref in split_step(root, source["key"], 10)]
        start = time.perf_counter()
        encode_chunks_serial(root, keys)
        serial = time.perf_counter() - start
        with ChunkEncoderPool(2) as pool:
            pool.encode(root, keys[:2])  # start both workers before timing
            start = time.perf_counter()
            pool.encode(root, keys)
            parallel = time.perf_counter() - start
    ratio = serial / parallel
    return [
        Row(AREA, "real encode, 10 chunks, serial", serial * 1000, "ms", "", None),
        Row(AREA, "real encode, 10 chunks, 2 processes", parallel * 1000, "ms", "", None),
        Row(
            AREA, "real encode speed-up, 2 processes", ratio, "x", ">= 1.5 (limit 2)", ratio >= 1.5
        ),
    ]


def _runs_per_second(model: str, runs: int) -> float:
    spec = ExperimentSpec.parse({"workload": "video", "model": model, "runs": runs})
    start = time.perf_counter()
    run_experiment(spec)
    return runs / (time.perf_counter() - start)


@benchmark("video-rate")
def video_runs_per_second() -> list[Row]:
    """Virtual-clock video runs (model encoder, paper-local, 10 chunks) per second."""
    rows = []
    for model in ("durable", "baseline"):
        rate = max(_runs_per_second(model, 200) for _ in range(2))
        rows.append(
            Row(AREA, f"virtual video runs/s, {model}", rate, "runs/s", ">= 500", rate >= 500)
        )
    return rows


@benchmark("fanout-10k")
def ten_thousand_chunks() -> list[Row]:
    """One run with 10,000 chunks of an hour of video on the model encoder, in each model.

    On the paper-local host (2 cores) the encode phase lasts about 150 s of virtual time. A
    baseline polling every 100 ms would query all 10,000 chunk records about 1,500 times, and
    the memory store decodes every record of every query (about 10 us each), so that run costs
    minutes of simulator time; this benchmark's baseline polls with the exponential schedule
    (the SDK's polling formula), which a coordinator of 10,000 workers would use.
    """
    rows = []
    for model in ("durable", "baseline"):
        spec = ExperimentSpec.parse(
            {
                "workload": "video",
                "model": model,
                "runs": 1,
                "chunks": 10_000,
                "video_seconds": 3600,
                "poll_backoff": "exponential",
            }
        )
        start = time.perf_counter()
        result = run_experiment(spec)
        seconds = time.perf_counter() - start
        assert bool(result.ok.iloc[0]), f"the 10,000-chunk {model} run failed"
        rows.append(Row(AREA, f"10,000-chunk run, {model}", seconds, "s", "<= 5", seconds <= 5))
    return rows
