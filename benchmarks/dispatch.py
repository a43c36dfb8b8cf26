"""Benchmark of `--jobs`: an experiment on 2 processes against the same experiment serially.

Short virtual-clock runs (the counter, about 0.2 ms each, and the video pipeline with the model
encoder, about 1.5 ms each), 200 and 3,000 of them. The two contenders alternate within each
round in this one process; each figure is the median over the rounds, with the range. Wall
time depends on what else the machine runs; CPU time (this process and its workers) shows
what sharing costs whatever the load.

    python -m benchmarks jobs
"""

from __future__ import annotations

import resource
import time
from statistics import median

from benchmarks.registry import Row, benchmark
from durable_sim.dispatch import SERIAL_BELOW_S
from durable_sim.experiments import ExperimentSpec, run_experiment

AREA = "dispatch"
ROUNDS = 5
CASES = (
    ("counter", "durable", 200),
    ("counter", "durable", 3000),
    ("video", "baseline", 200),
    ("video", "baseline", 3000),
)


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended (the workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _measure(spec: ExperimentSpec, jobs: int) -> tuple[float, float]:
    """Wall and CPU seconds of one experiment."""
    start, cpu = time.perf_counter(), _cpu_s()
    run_experiment(spec, jobs=jobs)
    return time.perf_counter() - start, _cpu_s() - cpu


def _span(values: list[float]) -> str:
    return f"median of {ROUNDS}; range {min(values) * 1e3:,.0f}-{max(values) * 1e3:,.0f} ms"


def _compare(workload: str, model: str, runs: int) -> list[Row]:
    spec = ExperimentSpec.parse({"workload": workload, "model": model, "runs": runs})
    wall: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(ROUNDS):
        for jobs in (1, 2) if round_ % 2 == 0 else (2, 1):  # alternate who goes first
            seconds, cpu_seconds = _measure(spec, jobs)
            wall[jobs].append(seconds)
            cpu[jobs].append(cpu_seconds)
    rows = []
    for jobs in (1, 2):
        label = f"{runs:,} {workload} runs ({model}), jobs={jobs}"
        rows.append(
            Row(AREA, f"{label}, wall", median(wall[jobs]) * 1e3, "ms", _span(wall[jobs]), None)
        )
        rows.append(
            Row(AREA, f"{label}, CPU", median(cpu[jobs]) * 1e3, "ms", _span(cpu[jobs]), None)
        )
    ratio = median(wall[1]) / median(wall[2])
    if median(cpu[1]) < SERIAL_BELOW_S:  # the dispatcher stays serial: it must not cost more
        target, passed = ">= 0.9 (serial chosen)", ratio >= 0.9
    else:
        target, passed = "> 1 (shared)", ratio > 1
    rows.append(
        Row(AREA, f"{runs:,} {workload} runs: serial / jobs=2 wall", ratio, "x", target, passed)
    )
    return rows


@benchmark("jobs")
def jobs_against_serial() -> list[Row]:
    """Serial against jobs=2 for 200 and 3,000 short runs, interleaved rounds."""
    return [row for case in CASES for row in _compare(*case)]
