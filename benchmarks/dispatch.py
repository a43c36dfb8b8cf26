"""Benchmark of `--jobs`: an experiment on 2 processes against the same experiment serially.

Short virtual-clock runs (the counter, about 0.2 ms each, and the video pipeline with the model
encoder, about 1.5 ms each), 200 and 3,000 of them. The two contenders alternate within each
round in this one process; each figure is the median over the rounds, with the range.

    python -m benchmarks jobs
"""

from __future__ import annotations

import statistics
import time

from benchmarks.registry import Row, benchmark
from durable_sim.experiments import ExperimentSpec, run_experiment

AREA = "dispatch"
ROUNDS = 5
CASES = (("counter", "durable", 200), ("counter", "durable", 3000), ("video", "baseline", 200))
CASES_LONG = (("video", "baseline", 3000),)


def _seconds(spec: ExperimentSpec, jobs: int) -> float:
    start = time.perf_counter()
    run_experiment(spec, jobs=jobs)
    return time.perf_counter() - start


def _compare(workload: str, model: str, runs: int) -> list[Row]:
    spec = ExperimentSpec.parse({"workload": workload, "model": model, "runs": runs})
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(ROUNDS):
        for jobs in (1, 2) if len(times[1]) % 2 == 0 else (2, 1):  # alternate who goes first
            times[jobs].append(_seconds(spec, jobs))
    rows = []
    for jobs, values in times.items():
        label = f"{runs:,} {workload} runs ({model}), jobs={jobs}"
        spread = f"median of {ROUNDS}; range {min(values) * 1e3:,.0f}-{max(values) * 1e3:,.0f} ms"
        rows.append(Row(AREA, label, statistics.median(values) * 1e3, "ms", spread, None))
    ratio = statistics.median(times[1]) / statistics.median(times[2])
    serial_ms = statistics.median(times[1]) * 1e3
    if serial_ms < 1000:  # shorter than a worker's start-up: jobs=2 must not cost more
        target, passed = ">= 0.9 (not slower than serial)", ratio >= 0.9
    else:
        target, passed = "> 1 (faster than serial)", ratio > 1
    rows.append(Row(AREA, f"{runs:,} {workload} runs: serial / jobs=2", ratio, "x", target, passed))
    return rows


@benchmark("jobs")
def jobs_against_serial() -> list[Row]:
    """Serial against jobs=2 for 200 and 3,000 short runs, interleaved rounds."""
    return [row for case in (*CASES, *CASES_LONG) for row in _compare(*case)]
