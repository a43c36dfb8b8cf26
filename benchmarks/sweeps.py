"""Benchmarks of sweeps: one 1,000-point sweep on each executor, in interleaved rounds.

Contenders: serial; a local pool of 2 processes; a 2-worker Dask LocalCluster started by the
sweep (as ``durable-sim sweep --executor dask`` does); and a running 2-worker LocalCluster made
the same way (`durable_sim.sweeps.local_cluster`) and passed as ``--scheduler``, with the default
guided batches and with one point per task. Each round runs them all, in a rotated order, into
fresh directories, and checks that they wrote the same files; the running cluster is started
before its two contenders and closed after them, untimed. Times are end to end, so a pool's or a
cluster's start-up and shutdown count; the running cluster shows the sweep without them (the
difference is the LocalCluster's start-up and close), and one point per task shows the
scheduler's cost per task. The verdicts are those of the sweep that starts its own cluster: what
a user of ``--executor dask`` waits for. A LocalCluster forks its workers from this process's
fork server (`durable_sim.sweeps.local_cluster`), which outlives the cluster; it is stopped
before each sweep that starts a cluster, so that each pays the fork server's start and imports,
as ``durable-sim sweep`` does in a new process.

Besides points per second, each contender's CPU time per point is measured (this process, the
children it reaped, and the live descendants with the children they reaped: pool and cluster
workers and the fork server included), and the part of it spent in this process (the sweep's
client; for a LocalCluster also its scheduler and nannies). Wall time on this shared machine
depends on the other processes' load; CPU time per point much less so, and 2 cores / CPU time
per point bounds what 2 workers can reach: the "bound" rows divide that by serial's 1 core /
CPU time per point, round by round. The last bound adds the LocalCluster's start-up and close
(wall) to the running cluster's CPU per point spread over 2 cores: what a sweep that starts its
own cluster could reach if its workers never waited, against serial's wall time.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import forkserver
from pathlib import Path
from types import MappingProxyType
from typing import Any
from unittest import mock

import psutil

from benchmarks.registry import Row, benchmark
from durable_sim import sweeps
from durable_sim.sweeps import DASK_CONFIG, Sweep, local_cluster, parse_sweep, run_sweep

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
#: The running cluster's two contenders run in a row, on one cluster started before them and
#: closed after them (untimed); a round runs each of `UNITS` in turn.
RUNNING_UNIT = (RUNNING, RUNNING_1)
UNITS: list[tuple[str, ...]] = [(SERIAL,), (POOL,), (DASK,), RUNNING_UNIT]


def _cpu_seconds() -> tuple[float, float]:
    """CPU time (s) of this process, and of its descendants: the children it reaped and the
    live ones, each with the children it reaped (a fork server's exited workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    descendants = reaped.ru_utime + reaped.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        descendants += times.user + times.system + times.children_user + times.children_system
    return own.ru_utime + own.ru_stime, descendants


def _fresh_fork_server() -> None:
    """Stop this process's fork server if it runs, so that the next cluster starts its own.
    `multiprocessing.forkserver` keeps its server until the process ends and offers only its
    tests a way to stop it (``_stop``); it waits for the server's children, the workers of the
    clusters closed before."""
    forkserver._forkserver._stop()  # no public way: see the docstring


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if not p.name.startswith(".")}


def _measure(sweep: Sweep, name: str, out: Path, scheduler: str | None) -> tuple[float, ...]:
    """(points per second, CPU ms per point, of which in this process) of one contender."""
    arguments = dict(CONTENDERS[name])
    if scheduler is not None:
        arguments["scheduler"] = scheduler
    own, descendants = _cpu_seconds()
    start = time.perf_counter()
    run_sweep(sweep, out, progress=False, **arguments)
    seconds = time.perf_counter() - start
    own_after, descendants_after = _cpu_seconds()
    own, descendants = own_after - own, descendants_after - descendants
    per_point = 1000 / len(sweep.points)
    return len(sweep.points) / seconds, (own + descendants) * per_point, own * per_point


def _directory(root: Path, name: str) -> Path:
    return root / name.replace(" ", "-").replace(",", "")


def _round(sweep: Sweep, units: list[tuple[str, ...]], root: Path) -> dict[str, tuple[float, ...]]:
    """`_measure` of each contender of `units` in turn; checks that they all wrote the same
    files."""
    measured: dict[str, tuple[float, ...]] = {}
    for unit in units:
        if unit == RUNNING_UNIT:
            with local_cluster(WORKERS) as cluster:
                for name in unit:
                    out = _directory(root, name)
                    measured[name] = _measure(sweep, name, out, cluster.scheduler_address)
            continue
        (name,) = unit
        if name == DASK:
            _fresh_fork_server()
        measured[name] = _measure(sweep, name, _directory(root, name), None)
    written = [_files(_directory(root, name)) for name in measured]
    assert all(files == written[0] for files in written), "executors wrote different files"
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
    own_ms: dict[str, list[float]] = {name: [] for name in names}
    loads = []
    for i in range(ROUNDS):
        units = UNITS[i % len(UNITS) :] + UNITS[: i % len(UNITS)]
        with tempfile.TemporaryDirectory(prefix="durable-sim-bench-sweep-") as tmp:
            measured = _round(sweep, units, Path(tmp))
        loads.append(os.getloadavg()[1])
        for name, (rate, cpu, own) in measured.items():
            rates[name].append(rate)
            cpu_ms[name].append(cpu)
            own_ms[name].append(own)
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
        rows.append(
            Row(
                AREA,
                f"{name}: of which in this process ({_range(own_ms[name])})",
                statistics.median(own_ms[name]),
                "ms",
                "",
                None,
            )
        )
    overhead = [
        (len(sweep.points) / a - len(sweep.points) / b) * 1000 / len(sweep.points)
        for a, b in zip(rates[RUNNING_1], rates[RUNNING], strict=True)
    ]
    n = len(sweep.points)
    start_up = [n / a - n / b for a, b in zip(rates[DASK], rates[RUNNING], strict=True)]
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
        _ratio(
            f"dask / serial, bound from the running cluster's CPU per point on {WORKERS} cores "
            "after the LocalCluster's start-up",
            [
                1 / (up + n * c / 1000 / WORKERS)
                for up, c in zip(start_up, cpu_ms[RUNNING], strict=True)
            ],
            [1 / (n / r) for r in rates[SERIAL]],
        ),
        _ratio("dask / serial throughput", rates[DASK], rates[SERIAL], 1.6),
        _ratio("dask / process pool throughput", rates[DASK], rates[POOL], 1.0),
    ]
    return rows


IDLE_SECONDS = 10.0
TICK = "distributed.admin.tick.interval"


def _idle_cpu() -> tuple[float, float]:
    """CPU ms per second of wall an idle `local_cluster` of `WORKERS` uses: in this process
    (its scheduler and nannies) and in each worker (mean), over `IDLE_SECONDS` after start-up."""
    from distributed import Client

    with local_cluster(WORKERS) as cluster, Client(cluster, set_as_default=False) as client:
        workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
        time.sleep(1.0)  # start-up settles
        processes = [psutil.Process(), *workers]
        before = [sum(p.cpu_times()[:2]) for p in processes]
        start = time.perf_counter()
        time.sleep(IDLE_SECONDS)
        seconds = time.perf_counter() - start
        used = [sum(p.cpu_times()[:2]) - b for p, b in zip(processes, before, strict=True)]
    return used[0] * 1000 / seconds, sum(used[1:]) * 1000 / seconds / WORKERS


@benchmark("dask-idle")
def dask_idle() -> list[Row]:
    """CPU an idle 2-worker `local_cluster` uses per second, with its settings (`DASK_CONFIG`)
    and with distributed's default event-loop tick (20 ms), in interleaved rounds: the cost of
    a cluster's own housekeeping, paid for every second a sweep runs."""
    ours = dict(DASK_CONFIG)
    default_tick = {key: value for key, value in ours.items() if key != TICK}
    settings = {"DASK_CONFIG": ours, "DASK_CONFIG with distributed's default tick": default_tick}
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in settings}
    loads = []
    for i in range(ROUNDS):
        for name in list(settings)[i % 2 :] + list(settings)[: i % 2]:
            with mock.patch.object(sweeps, "DASK_CONFIG", MappingProxyType(settings[name])):
                measured[name].append(_idle_cpu())
        loads.append(os.getloadavg()[0])
    rows = [
        Row(
            AREA,
            f"machine load, 1-min average after each round ({_range(loads)})",
            statistics.median(loads),
            "runnable",
            "",
            None,
        )
    ]
    for name, values in measured.items():
        for part, label in ((0, "this process (scheduler, nannies)"), (1, "each worker")):
            series = [v[part] for v in values]
            rows.append(
                Row(
                    AREA,
                    f"idle cluster, {name}: {label} ({_range(series)})",
                    statistics.median(series),
                    "ms CPU/s",
                    "",
                    None,
                )
            )
    return rows


START_ROUNDS = 5


def _start_and_close(fresh: bool) -> tuple[float, float, float]:
    """(start s, close s, fork server CPU s) of a `local_cluster` of `WORKERS`: its start with a
    new fork server (as a new durable-sim process has) or with the one already running, and
    the CPU the fork server had used once the workers had started (its imports, if new)."""
    if fresh:
        _fresh_fork_server()
    start = time.perf_counter()
    cluster = local_cluster(WORKERS)
    started = time.perf_counter()
    server = psutil.Process(forkserver._forkserver._forkserver_pid)  # no public way either
    server_cpu = sum(server.cpu_times()[:2])
    closing = time.perf_counter()
    cluster.close()
    return started - start, time.perf_counter() - closing, server_cpu


def _fresh_import() -> float:
    """Wall seconds of a new interpreter that imports `FORKSERVER_PRELOAD` and exits."""
    code = "; ".join(f"import {name}" for name in sweeps.FORKSERVER_PRELOAD)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


@benchmark("dask-start")
def dask_start() -> list[Row]:
    """A `local_cluster`'s start-up and close, in interleaved rounds: started with a new fork
    server (as by ``durable-sim sweep --executor dask``) and with a running one, whose
    difference is the new fork server's interpreter start and imports (`FORKSERVER_PRELOAD`),
    beside a new interpreter importing them on its own; the rest of a start is the scheduler,
    the nannies, the workers' fork, start and registration, and the nannies' notice of it."""
    series: dict[str, list[float]] = {}
    loads = []
    for i in range(START_ROUNDS):
        measured: dict[str, float] = {}
        for fresh in (True, False) if i % 2 == 0 else (False, True):
            up, down, server_cpu = _start_and_close(fresh)
            kind = "new fork server" if fresh else "fork server running"
            measured[f"start, {kind}"] = up
            measured[f"close, {kind}"] = down
            if fresh:
                measured["new fork server's CPU by the time the workers had started"] = server_cpu
        measured["start, difference (the new fork server's start and imports)"] = (
            measured["start, new fork server"] - measured["start, fork server running"]
        )
        measured["a new interpreter importing FORKSERVER_PRELOAD"] = _fresh_import()
        for name, value in measured.items():
            series.setdefault(name, []).append(value)
        loads.append(os.getloadavg()[0])
    rows = [
        Row(
            AREA,
            f"machine load, 1-min average after each round ({_range(loads)})",
            statistics.median(loads),
            "runnable",
            "",
            None,
        )
    ]
    for name, values in series.items():
        rows.append(
            Row(
                AREA,
                f"{WORKERS}-worker LocalCluster: {name} ({_range(values)})",
                statistics.median(values),
                "s",
                "",
                None,
            )
        )
    return rows
