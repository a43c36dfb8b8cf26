"""Calibration of the ``paper-local`` scenario: the measurements behind its constants.

Every constant of `durable_sim.latency.PAPER_LOCAL` marked "calibrate" is a median printed here,
measured on this machine: the official local runner (aws-durable-execution-sdk-python-testing)
per invocation and per checkpointed operation (wall time: mostly waiting, not computing), our
real encoder's stages (PyAV, libx264 ``veryfast``, ``threads=1``) on the paper's 10 s 640x360
clip, an in-process store call and a local function call, and the host's core count (its CPU
affinity). The video stages are CPU work that the machine model books on cores, so they are
measured as this process's CPU time (`time.process_time`): the work's demand for a core, which
other load on the host does not inflate (its wall time does; the load average is reported).

    python -m benchmarks calibrate                 # the table, with the other benchmarks' format
    python -m benchmarks.calibrate --out FILE.csv  # the same figures as CSV (`make measure`)

The CSV has one row per figure: ``cost`` (a profile cost name, ``cores``, or an informational
figure), ``value``, ``unit``, ``what``. Validation (`durable_sim.analysis.validation`) applies the
profile costs of a calibration taken with a measured data set to the model's predictions, so
the model is checked against measurements it was not fitted to.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from benchmarks.registry import Row, benchmark
from durable_sim.baseline import FunctionRuntime, open_store
from durable_sim.clock import WallClock
from durable_sim.files import write_all_atomic
from durable_sim.latency import ZERO, Sampler
from durable_sim.video import (
    assemble_step,
    encode_step,
    make_source_step,
    split_step,
    validate_step,
)

AREA = "calibrate"
#: Operations the fan-out execution checkpoints beyond the empty one: the map, 10 branches,
#: their 10 steps.
FAN_OUT_OPERATIONS = 1 + 10 + 10


@durable_execution
def _empty(event: Any, context: DurableContext) -> int:
    return 0


@durable_execution
def _fan_out(event: Any, context: DurableContext) -> int:
    result = context.map(list(range(10)), lambda c, x, i, xs: c.step(lambda _: x, name="s"))
    return sum(result.get_results())


def _cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000.0


def _local_runner(handler: Any, repeats: int = 7) -> tuple[float, float]:
    """Median wall ms and median CPU ms of one execution on the official local runner."""
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), _cpu_ms()
        with DurableFunctionTestRunner(handler=handler) as runner:
            runner.run(input="{}", execution_timeout=60)
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append(_cpu_ms() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _median_ms(
    func: Callable[[], object],
    repeats: int = 5,
    per: int = 1,
    timer: Callable[[], float] = time.perf_counter,
) -> float:
    """Median ms of `func` by `timer` over `repeats` timings, divided by `per` calls each."""
    times = []
    for _ in range(repeats):
        start = timer()
        func()
        times.append((timer() - start) * 1000 / per)
    return statistics.median(times)


def _cpu_ms_each(func: Callable[[], object], repeats: int = 5) -> list[float]:
    """CPU ms (this process, all threads) of each of `repeats` calls of `func`."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        func()
        times.append((time.process_time() - start) * 1000)
    return times


def _log_sd(values: list[float]) -> float:
    """The standard deviation of ln(values): a log-normal `Dist`'s sigma."""
    return statistics.stdev(math.log(v) for v in values)


def _store_calls(calls: int = 2000) -> dict[str, float]:
    """Median ms of one in-process store call (get, put, query) on the memory backend."""
    store = open_store("memory", clock=WallClock(), sampler=Sampler(ZERO, 0))
    for i in range(10):
        store.put("t", ("job", f"{i:06d}"), {"status": "PENDING", "n": i})

    def gets() -> None:
        for _ in range(calls):
            store.get("t", ("job", "000003"))

    def puts() -> None:
        for i in range(calls):
            store.put("u", f"k{i % 50}", {"status": "DONE", "n": i})

    def queries() -> None:
        for _ in range(calls):
            store.query("t", "job")

    return {
        "kv_read": _median_ms(gets, per=calls),
        "kv_write": _median_ms(puts, per=calls),
        "kv_query": _median_ms(queries, per=calls),
    }


def _function_call(calls: int = 2000) -> float:
    """Median ms of one synchronous local function invocation through the baseline runtime."""
    with FunctionRuntime(WallClock(), Sampler(ZERO, 0)) as runtime:
        runtime.register("noop", lambda event, ctx: None)

        def invoke() -> None:
            for _ in range(calls):
                runtime.invoke("noop", {})

        return _median_ms(invoke, per=calls)


def measure() -> list[tuple[str, float, str, str]]:
    """Every calibration figure as ``(cost, value, unit, what)``, profile costs first."""
    empty_ms, empty_cpu = _local_runner(_empty)
    fan_ms, _ = _local_runner(_fan_out)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = make_source_step(root)
        refs = split_step(root, source["key"], 10)
        parts = [encode_step(root, ref["key"])["key"] for ref in refs]
        validate = _cpu_ms_each(lambda: validate_step(root, source["key"]))
        split = _cpu_ms_each(lambda: split_step(root, source["key"], 10))
        # Every chunk (the clip's content differs from chunk to chunk), three times over.
        encode = [
            t for ref in refs for t in _cpu_ms_each(lambda r=ref: encode_step(root, r["key"]), 3)
        ]
        assemble = _cpu_ms_each(lambda: assemble_step(root, parts, source["key"]))
    seconds = source["duration_s"]
    chunk_seconds = seconds / len(refs)
    return [
        ("cores", float(len(os.sched_getaffinity(0))), "cores", "host cores (CPU affinity)"),
        ("durable_invoke", empty_ms, "ms", "local runner, empty execution"),
        ("checkpoint", (fan_ms - empty_ms) / FAN_OUT_OPERATIONS, "ms", "local runner, per op"),
        ("invoke", _function_call(), "ms", "local function call (baseline runtime)"),
        *((cost, ms, "ms", "in-process store call") for cost, ms in _store_calls().items()),
        ("validate", statistics.median(validate), "ms", "real validate of the 10 s clip, CPU"),
        ("split_per_s", statistics.median(split) / seconds, "ms", "real split, CPU per s"),
        (
            "encode_per_s",
            statistics.median(encode) / chunk_seconds,
            "ms",
            "real encode of each 1 s chunk x3, CPU per s",
        ),
        ("assemble_per_s", statistics.median(assemble) / seconds, "ms", "real assemble, CPU per s"),
        ("validate_sigma", _log_sd(validate), "", "spread of ln(validate CPU), 5 repeats"),
        ("split_per_s_sigma", _log_sd(split), "", "spread of ln(split CPU), 5 repeats"),
        ("encode_per_s_sigma", _log_sd(encode), "", "spread of ln(encode CPU), 10 chunks x3"),
        ("assemble_per_s_sigma", _log_sd(assemble), "", "spread of ln(assemble CPU), 5 repeats"),
        ("durable_invoke_cpu", empty_cpu, "ms", "CPU time of the empty execution"),
        ("load_1m", os.getloadavg()[0], "", "host load average (1 min) after calibrating"),
    ]


def to_csv(figures: list[tuple[str, float, str, str]]) -> str:
    """The figures as CSV text (header ``cost,value,unit,what``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["cost", "value", "unit", "what"])
    writer.writerows((cost, f"{value:.6f}", unit, what) for cost, value, unit, what in figures)
    return out.getvalue()


@benchmark("calibrate")
def calibrate_paper_local() -> list[Row]:
    """The measurements behind the ``paper-local`` profile (see latency.py)."""
    return [
        Row(AREA, f"{what} ({cost})", value, unit, "", None)
        for cost, value, unit, what in measure()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibrate", description=__doc__)
    parser.add_argument("--out", required=True, help="CSV file to write (its directory must exist)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".csv" or not out.parent.is_dir():
        parser.error(f"bad --out {args.out!r} (accepted: a .csv file in an existing directory)")
    write_all_atomic({out: to_csv(measure()).encode()})
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
