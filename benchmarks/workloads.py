"""Benchmarks of the workloads: real encoding in parallel, virtual-clock run rate, fan-out scale,
and the calibration of the ``paper-local`` profile against the official local runner."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from benchmarks.registry import Row, benchmark
from durable_sim.experiments import ExperimentSpec, run_experiment
from durable_sim.video import (
    ChunkEncoderPool,
    assemble_step,
    encode_chunks_serial,
    encode_step,
    make_source_step,
    split_step,
    validate_step,
)

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
    """One run with 10,000 chunks on the model encoder, in each model."""
    rows = []
    for model in ("durable", "baseline"):
        spec = ExperimentSpec.parse(
            {
                "workload": "video",
                "model": model,
                "runs": 1,
                "chunks": 10_000,
                "video_seconds": 3600,
            }
        )
        start = time.perf_counter()
        result = run_experiment(spec)
        seconds = time.perf_counter() - start
        assert bool(result.ok.iloc[0]), f"the 10,000-chunk {model} run failed"
        rows.append(Row(AREA, f"10,000-chunk run, {model}", seconds, "s", "<= 5", seconds <= 5))
    return rows


@durable_execution
def _empty(event: Any, context: DurableContext) -> int:
    return 0


@durable_execution
def _fan_out(event: Any, context: DurableContext) -> int:
    result = context.map(list(range(10)), lambda c, x, i, xs: c.step(lambda _: x, name="s"))
    return sum(result.get_results())


def _local_runner_ms(handler: Any, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with DurableFunctionTestRunner(handler=handler) as runner:
            runner.run(input="{}", execution_timeout=60)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _median_ms(func: Any, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@benchmark("calibrate")
def calibrate_paper_local() -> list[Row]:
    """The measurements behind the ``paper-local`` profile (see latency.py): the official local
    runner's costs and our real encoder's stage costs on the paper's 10 s, 640x360 clip."""
    empty = _local_runner_ms(_empty)
    fan_out = _local_runner_ms(_fan_out)
    operations = 1 + 10 + 10  # the map, its 10 branches, their 10 steps
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = make_source_step(root)
        refs = split_step(root, source["key"], 10)
        parts = [encode_step(root, ref["key"])["key"] for ref in refs]
        validate = _median_ms(lambda: validate_step(root, source["key"]))
        split = _median_ms(lambda: split_step(root, source["key"], 10))
        encode = _median_ms(lambda: encode_step(root, refs[3]["key"]))
        assemble = _median_ms(lambda: assemble_step(root, parts, source["key"]))
    per_op = (fan_out - empty) / operations
    return [
        Row(AREA, "local runner, empty execution (durable_invoke)", empty, "ms", "", None),
        Row(AREA, "local runner, per checkpointed op (checkpoint)", per_op, "ms", "", None),
        Row(AREA, "real validate, 10 s clip (validate)", validate, "ms", "", None),
        Row(AREA, "real split, per s of video (split_per_s)", split / 10, "ms", "", None),
        Row(AREA, "real encode, per s of video (encode_per_s)", encode, "ms", "", None),
        Row(AREA, "real assemble, per s of video (assemble_per_s)", assemble / 10, "ms", "", None),
    ]
