"""The measured data set: both workloads in both models, timed for real on this machine.

    python -m durable_sim.measure [--params params/measured.yaml] [--out data/measured]

Runs the counter and the video pipeline, each in the durable model on the official local runner
(``engine="aws-local"``) and in the baseline, on the wall clock with the real encoder (PyAV on
``workers`` processes), and writes ``phase1_counter.csv`` and ``phase2_video.csv`` with their
provenance sidecars into the output directory. Every row records the host's cores and its
1-minute load average at the run's start (``cores``, ``load_1m``), so a reader can see how busy
the machine was. Each spec first makes ``warmup_runs`` discarded runs (the encoder processes
start, caches fill).

The parameter file is flat YAML, read by `durable_sim.study.counter_specs` and `video_specs`
exactly as the notebooks read theirs (``params/measured.yaml``: wall clock, ``aws-local``, the
real encoder; other keys are for the notebooks). `make measure` runs this after the calibration
(`python -m benchmarks.calibrate`), so the data set and the constants the model is checked with
come from the same machine at the same time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from durable_sim.experiments import ExperimentSpec, SpecError, run_experiments, save_rows
from durable_sim.latency import CALIBRATED
from durable_sim.study import counter_specs, video_specs

#: Output file -> the specs it holds, from the parameter file.
FILES: dict[str, Callable[[Mapping[str, Any]], list[ExperimentSpec]]] = {
    "phase1_counter.csv": counter_specs,
    "phase2_video.csv": video_specs,
}


def measure(params: Mapping[str, Any], out: Path) -> list[Path]:
    """Run every measured spec and write one CSV (+ sidecar) per workload into `out`.

    All specs are validated before the first run; nothing is written until a file's runs are
    all done, and each file is written atomically.
    """
    if not out.is_dir():
        raise SpecError(f"bad output directory {str(out)!r} (accepted: an existing directory)")
    specs = {name: build(params) for name, build in FILES.items()}
    written = []
    for name, file_specs in specs.items():
        start = time.perf_counter()
        rows = run_experiments(file_specs)
        written.append(save_rows(rows, file_specs, out / name))
        print(f"{name}: {len(rows)} runs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return written


def load_specs(csv_path: str | Path) -> list[ExperimentSpec]:
    """The specs recorded in the provenance sidecar of a data file (``<name>.meta.json``).

    Raises `SpecError` if the sidecar is missing or holds a spec that no longer validates.
    """
    meta = Path(csv_path).with_suffix(".meta.json")
    if not meta.is_file():
        raise SpecError(f"no provenance sidecar {str(meta)!r} for {str(csv_path)!r}")
    return [ExperimentSpec.parse(spec) for spec in json.loads(meta.read_text())["specs"]]


def load_calibration(path: str | Path) -> dict[str, float]:
    """The calibrated profile costs (median ms, and ``<cost>_sigma`` spreads) of a calibration
    CSV written by ``python -m benchmarks.calibrate``; the core count and informational
    figures are left out (the measured rows record the host's cores)."""
    frame = pd.read_csv(path)
    wanted = {c for c in CALIBRATED if c != "cores"}
    wanted |= {f"{c}_sigma" for c in wanted}
    return {str(r.cost): float(r.value) for r in frame.itertuples() if r.cost in wanted}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m durable_sim.measure", description=__doc__)
    parser.add_argument("--params", default="params/measured.yaml", help="flat YAML parameters")
    parser.add_argument("--out", default="data/measured", help="output directory (must exist)")
    args = parser.parse_args(argv)
    params = yaml.safe_load(Path(args.params).read_text(encoding="utf-8")) or {}
    if not isinstance(params, dict):
        parser.error(f"{args.params}: expected a mapping of parameter names to values")
    try:
        measure(params, Path(args.out))
    except SpecError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
