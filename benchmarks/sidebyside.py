"""The engine against its state before the issue-7 rewrite, side by side.

Issue 7 asks that the engine stay as fast as it was before its rewrite (SDK operation contract,
serdes codec, journal with history, greenlet branches, time attribution): commit `REFERENCE`.
This benchmark extracts that commit's ``src/`` (``git archive``, read only) into a scratch
directory and times the same figures on both trees, each in its own process (``PYTHONPATH``
puts the reference's package first), in interleaved rounds whose order alternates. Each figure
is the CPU time of this process's work (``time.process_time``, best of a few repeats inside a
round): on a shared machine it varies far less than wall time. A round's ratio is current /
reference time; the table gives the median and the range over `ROUNDS` rounds, against the
issue's target "no worse than before" (median ratio <= 1).

Probes use only the API both trees have (``run_durable``, ``MemoryJournal``, the experiment
spec), so the reference runs them unchanged. Run from a git checkout of the project:
``python -m benchmarks side-by-side``.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.registry import Row, benchmark

AREA = "engine vs a13d1d3"
#: The last commit before the issue-7 rewrite of `durable/`.
REFERENCE = "a13d1d3"
ROUNDS = 5
ROOT = Path(__file__).resolve().parent.parent


def _best_cpu(repeats: int, func: Callable[[], None]) -> float:
    """The least CPU time (s) of `repeats` calls of `func`."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        func()
        best = min(best, time.process_time() - start)
    return best


def _sequential(event: Any, ctx: Any) -> int:
    total = 0
    for i in range(event["n"]):
        total += ctx.step(lambda _, i=i: i, name=f"s{i}")
    return total


def _sequential_then_callback(event: Any, ctx: Any) -> None:
    _sequential(event, ctx)
    ctx.create_callback(name="hold").result()


def _counter(event: Any, ctx: Any) -> int:
    from aws_durable_execution_sdk_python.config import Duration

    v = ctx.step(lambda _: 1, name="inc1")
    v = ctx.step(lambda _, v=v: v + 2, name="inc2")
    ctx.wait(Duration.from_seconds(5))
    v = ctx.step(lambda _, v=v: v, name="read")
    return int(ctx.step(lambda _, v=v: v - 1, name="dec1"))


def _probe_counter() -> float:
    from durable_sim import run_durable

    def once() -> None:
        run = run_durable(_counter, {})
        assert (run.status, run.result) == ("SUCCEEDED", 2)

    return _best_cpu(20, once)


def _probe_steps() -> float:
    from durable_sim import MemoryJournal, run_durable

    def once() -> None:
        run = run_durable(_sequential, {"n": 1000}, journal=MemoryJournal(), execution_id="b")
        assert run.status == "SUCCEEDED"

    return _best_cpu(5, once)


def _probe_replay() -> float:
    from durable_sim import MemoryJournal, run_durable

    journal = MemoryJournal()
    event = {"n": 10_000}
    first = run_durable(_sequential_then_callback, event, journal=journal, execution_id="r")
    assert first.status == "PENDING"

    def once() -> None:
        run = run_durable(_sequential_then_callback, event, journal=journal, execution_id="r")
        assert run.status == "PENDING" and run.metrics.steps_replayed == 10_000

    return _best_cpu(3, once)


def _video(runs: int, chunks: int, video_seconds: float) -> Callable[[], None]:
    from durable_sim.experiments import ExperimentSpec, run_experiment

    spec = ExperimentSpec.parse(
        {
            "workload": "video",
            "model": "durable",
            "runs": runs,
            "chunks": chunks,
            "video_seconds": video_seconds,
        }
    )

    def once() -> None:
        assert bool(run_experiment(spec).ok.all())

    return once


def _probe_video() -> float:
    return _best_cpu(2, _video(200, 10, 10)) / 200


def _probe_fanout() -> float:
    return _best_cpu(1, _video(1, 10_000, 3600))


#: figure name, unit of the printed time, scale from seconds, probe
PROBES: dict[str, tuple[str, str, float, Callable[[], float]]] = {
    "counter": ("4-step counter on sim", "ms", 1e3, _probe_counter),
    "steps": ("1k-step workflow, MemoryJournal", "ms", 1e3, _probe_steps),
    "replay": ("replay of 10k journaled steps", "ms", 1e3, _probe_replay),
    "video": ("one durable video run (10 chunks)", "ms", 1e3, _probe_video),
    "fanout": ("10,000-chunk durable run", "s", 1.0, _probe_fanout),
}


def _extract_reference(into: Path) -> Path:
    """Write `REFERENCE`'s ``src/`` under `into`; return the path to put on ``PYTHONPATH``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", REFERENCE, "src"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise RuntimeError(
            f"cannot extract the reference commit {REFERENCE} from {ROOT} "
            f"(a git checkout of the project is needed): {archive.stderr.decode().strip()}"
        )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _measure(src: Path, probe: str, module: str = "benchmarks.sidebyside", *args: str) -> float:
    """Run `probe` (with `args`) by `module`'s main in a fresh interpreter importing
    `durable_sim` from `src`; its time in s."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-m", module, probe, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"probe {probe} {list(args)} on {src} failed:\n{out.stderr}")
    return float(json.loads(out.stdout.splitlines()[-1]))


@benchmark("side-by-side")
def side_by_side() -> list[Row]:
    """Each probe on the reference and the current tree, `ROUNDS` interleaved rounds."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"reference": _extract_reference(Path(tmp)), "current": ROOT / "src"}
        for probe, (name, unit, scale, _) in PROBES.items():
            ratios: list[float] = []
            times: dict[str, list[float]] = {"reference": [], "current": []}
            for r in range(ROUNDS):
                order = ["reference", "current"] if r % 2 == 0 else ["current", "reference"]
                got = {tree: _measure(trees[tree], probe) for tree in order}
                for tree, seconds in got.items():
                    times[tree].append(seconds * scale)
                ratios.append(got["current"] / got["reference"])
            for tree in ("reference", "current"):
                t = times[tree]
                rows.append(
                    Row(
                        AREA,
                        f"{name}, {tree} (CPU, median of {min(t):.3g}-{max(t):.3g})",
                        statistics.median(t),
                        unit,
                        "-",
                        None,
                    )
                )
            median = statistics.median(ratios)
            rows.append(
                Row(
                    AREA,
                    f"{name}, current / reference (range {min(ratios):.2f}-{max(ratios):.2f})",
                    median,
                    "x",
                    "<= 1",
                    median <= 1,
                )
            )
    return rows


if __name__ == "__main__":
    print(json.dumps(PROBES[sys.argv[1]][3]()))
