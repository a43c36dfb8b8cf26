"""Benchmarks of sweeps: one 1,000-point sweep on each executor, in interleaved rounds.

Contenders: serial; a local pool of 2 processes; a 2-worker Dask LocalCluster started by the
sweep (as ``durable-sim sweep --executor dask`` does); and a running 2-worker LocalCluster made
the same way (`durable_sim.sweeps.local_cluster`) and passed as ``--scheduler``, with the default
guided batches and with one point per task. Each round runs
them all, in a rotated order, into fresh directories, and checks that they wrote the same files.
Times are end to end, so a pool's or a cluster's start-up and shutdown count; the running cluster
shows the sweep without them (the difference is the LocalCluster's start-up and close), and one
point per task shows the scheduler's cost per task. The verdicts are those of the sweep that
starts its own cluster: what a user of ``--executor dask`` waits for.

Besides points per second, each contender's CPU time per point is measured (this process, the
children it reaped, and the live ones: pool and cluster workers included). Wall time on this
shared machine depends on the other processes' load; CPU time per point much less so, and
2 cores / CPU time per point bounds what 2 workers can reach: the "bound" rows divide that by
serial's 1 core / CPU time per point, round by round.
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.registry import Row, benchmark
from durable_sim.sweeps import Sweep, local_cluster, parse_sweep, run_sweep

AREA = "sweeps"
ROUNDS = 3
WORKERS = 2

#: 2 models x 5 fan-outs x 5 failure probabilities x 20 seeds = 1,000 points of one small run
#: each (model encoder, virtual clock, paper-local).
SWEEP: dict[str, Any] = {
    "base": {"workload": "video", "encoder": "model", "clock": "virtual", "runs": 1},
    "grid": {
        "model": ["durable", "baseline"],
        "chunks": [1, 2, 5, 10, 20],
        "failure_probability": [0.0, 0.05, 0.1, 0.2, 0.3],
        "seed": list(range(20)),
    },
}

SERIAL, POOL, DASK = "serial", "process pool", "dask LocalCluster"
RUNNING, RUNNING_1 = "dask running cluster", "dask running cluster, 1 point per task"
CONTENDERS: dict[str, dict[str, Any]] = {
    SERIAL: {"executor": "local", "workers": 1},
    POOL: {"executor": "local", "workers": WORKERS},
    DASK: {"executor": "dask", "workers": WORKERS},
    RUNNING: {"executor": "dask"},  # and the running cluster's scheduler address
    RUNNING_1: {"executor": "dask", "batch_size": 1},
}


def _cpu_seconds() -> float:
    """CPU time of this process, of the children it has reaped, and of its live descendants."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if not p.name.startswith(".")}


def _round(
    sweep: Sweep, order: list[str], root: Path, scheduler: str
) -> dict[str, tuple[float, float]]:
    """(points per second, CPU ms per point) of each contender in `order`; checks that they all
    wrote the same files."""
    measured: dict[str, tuple[float, float]] = {}
    written: dict[str, dict[str, bytes]] = {}
    for name in order:
        out = root / name.replace(" ", "-").replace(",", "")
        arguments = dict(CONTENDERS[name])
        if name in (RUNNING, RUNNING_1):
            arguments["scheduler"] = scheduler
        cpu = _cpu_seconds()
        start = time.perf_counter()
        run_sweep(sweep, out, progress=False, **arguments)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu
        measured[name] = (len(sweep.points) / seconds, cpu * 1000 / len(sweep.points))
        written[name] = _files(out)
    first = written[order[0]]
    assert all(files == first for files in written.values()), "executors wrote different files"
    return measured


def _range(values: list[float]) -> str:
    return f"median of {len(values)}; range {min(values):,.2f}-{max(values):,.2f}"


def _ratio(name: str, top: list[float], bottom: list[float], target: float | None = None) -> Row:
    ratios = [a / b for a, b in zip(top, bottom, strict=True)]
    value = statistics.median(ratios)
    passed = None if target is None else value >= target
    return Row(
        AREA, f"{name} ({_range(ratios)})", value, "x", f">= {target}" if target else "", passed
    )


@benchmark("sweep-1000")
def sweep_throughput() -> list[Row]:
    """Points per second and CPU ms per point of a 1,000-point sweep on each executor, and
    Dask's throughput ratios to the others (per round: each compares runs made side by side)."""
    sweep = parse_sweep(SWEEP, source="benchmarks.sweeps.SWEEP")
    names = list(CONTENDERS)
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu_ms: dict[str, list[float]] = {name: [] for name in names}
    loads = []
    with local_cluster(WORKERS) as cluster:
        for i in range(ROUNDS):
            order = names[i % len(names) :] + names[: i % len(names)]
            with tempfile.TemporaryDirectory(prefix="durable-sim-bench-sweep-") as tmp:
                measured = _round(sweep, order, Path(tmp), cluster.scheduler_address)
            loads.append(os.getloadavg()[1])
            for name, (rate, cpu) in measured.items():
                rates[name].append(rate)
                cpu_ms[name].append(cpu)
    rows = []
    for name in names:
        rows.append(
            Row(
                AREA,
                f"{name}: throughput ({_range(rates[name])})",
                statistics.median(rates[name]),
                "points/s",
                "",
                None,
            )
        )
        rows.append(
            Row(
                AREA,
                f"{name}: CPU per point ({_range(cpu_ms[name])})",
                statistics.median(cpu_ms[name]),
                "ms",
                "",
                None,
            )
        )
    overhead = [
        (len(sweep.points) / a - len(sweep.points) / b) * 1000 / len(sweep.points)
        for a, b in zip(rates[RUNNING_1], rates[RUNNING], strict=True)
    ]
    start_up = [
        len(sweep.points) / a - len(sweep.points) / b
        for a, b in zip(rates[DASK], rates[RUNNING], strict=True)
    ]
    rows += [
        Row(
            AREA,
            f"machine load, 5-min average after each round ({_range(loads)})",
            statistics.median(loads),
            "runnable",
            "",
            None,
        ),
        Row(
            AREA,
            f"dask: extra wall per point, 1 point per task vs guided ({_range(overhead)})",
            statistics.median(overhead),
            "ms",
            "",
            None,
        ),
        Row(
            AREA,
            f"dask: LocalCluster start-up and close, wall vs running cluster ({_range(start_up)})",
            statistics.median(start_up),
            "s",
            "",
            None,
        ),
        _ratio("dask running cluster / serial throughput", rates[RUNNING], rates[SERIAL]),
        _ratio("dask running cluster / process pool throughput", rates[RUNNING], rates[POOL]),
        _ratio(
            f"dask running cluster / serial, {WORKERS}-core bound from CPU per point",
            [WORKERS / c for c in cpu_ms[RUNNING]],
            [1 / c for c in cpu_ms[SERIAL]],
        ),
        _ratio(
            f"dask / serial, {WORKERS}-core bound from CPU per point",
            [WORKERS / c for c in cpu_ms[DASK]],
            [1 / c for c in cpu_ms[SERIAL]],
        ),
        _ratio("dask / serial throughput", rates[DASK], rates[SERIAL], 1.6),
        _ratio("dask / process pool throughput", rates[DASK], rates[POOL], 1.0),
    ]
    return rows
