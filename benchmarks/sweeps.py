"""Benchmarks of sweeps: a 1,000-point sweep run serially, on a local pool of 2 processes, on a
2-worker Dask LocalCluster started by the sweep (as ``durable-sim sweep --executor dask`` does)
and on a running 2-worker LocalCluster (``--scheduler``), in interleaved rounds: each round runs
them all, in a rotated order, into fresh directories. Times are end to end, so a pool's or a
cluster's start-up and shutdown count; the running cluster shows the sweep without them."""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from distributed import LocalCluster

from benchmarks.registry import Row, benchmark
from durable_sim.sweeps import Sweep, parse_sweep, run_sweep

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

CONTENDERS: dict[str, dict[str, Any]] = {
    "serial": {"executor": "local", "workers": 1},
    "process pool": {"executor": "local", "workers": WORKERS},
    "dask LocalCluster": {"executor": "dask", "workers": WORKERS},
    "dask running cluster": {"executor": "dask"},  # + scheduler: the address of a running one
}


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if not p.name.startswith(".")}


def _round(sweep: Sweep, order: list[str], root: Path, scheduler: str) -> dict[str, float]:
    """Points per second of each contender in `order`; checks they wrote the same files."""
    rates: dict[str, float] = {}
    written: dict[str, dict[str, bytes]] = {}
    for name in order:
        out = root / name.replace(" ", "-")
        arguments = dict(CONTENDERS[name])
        if name == "dask running cluster":
            arguments["scheduler"] = scheduler
        start = time.perf_counter()
        run_sweep(sweep, out, progress=False, **arguments)
        rates[name] = len(sweep.points) / (time.perf_counter() - start)
        written[name] = _files(out)
    first = written[order[0]]
    assert all(files == first for files in written.values()), "executors wrote different files"
    return rates


def _summary(values: list[float]) -> str:
    return f"median of {len(values)} rounds; range {min(values):,.2f}-{max(values):,.2f}"


@benchmark("sweep-1000")
def sweep_throughput() -> list[Row]:
    """Points per second of a 1,000-point sweep on each executor, and Dask's ratios to the
    others (per round, so each ratio compares runs made side by side)."""
    sweep = parse_sweep(SWEEP, source="benchmarks.sweeps.SWEEP")
    names = list(CONTENDERS)
    rates: dict[str, list[float]] = {name: [] for name in names}
    with LocalCluster(
        n_workers=WORKERS,
        threads_per_worker=1,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster:
        for i in range(ROUNDS):
            order = names[i % len(names) :] + names[: i % len(names)]
            with tempfile.TemporaryDirectory(prefix="durable-sim-bench-sweep-") as tmp:
                rates_now = _round(sweep, order, Path(tmp), cluster.scheduler_address)
            for name, rate in rates_now.items():
                rates[name].append(rate)
    dask = rates["dask LocalCluster"]
    vs_serial = [d / s for d, s in zip(dask, rates["serial"], strict=True)]
    vs_pool = [d / p for d, p in zip(dask, rates["process pool"], strict=True)]
    running = [r / s for r, s in zip(rates["dask running cluster"], rates["serial"], strict=True)]
    rows = [
        Row(
            AREA,
            f"1,000-point sweep, {name} ({_summary(values)})",
            statistics.median(values),
            "points/s",
            "",
            None,
        )
        for name, values in rates.items()
    ]
    rows.append(
        Row(
            AREA,
            f"dask / serial throughput ({_summary(vs_serial)})",
            statistics.median(vs_serial),
            "x",
            ">= 1.6",
            statistics.median(vs_serial) >= 1.6,
        )
    )
    rows.append(
        Row(
            AREA,
            f"dask running cluster / serial throughput ({_summary(running)})",
            statistics.median(running),
            "x",
            "",
            None,
        )
    )
    rows.append(
        Row(
            AREA,
            f"dask / process pool throughput ({_summary(vs_pool)})",
            statistics.median(vs_pool),
            "x",
            ">= 1.0",
            statistics.median(vs_pool) >= 1.0,
        )
    )
    return rows
