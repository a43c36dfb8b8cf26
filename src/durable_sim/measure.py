"""The measured data set: both workloads in both models, timed for real on this machine.

    python -m durable_sim.measure [--params params/measured] [--out data/measured]

Runs the counter and the video pipeline, each in the durable model on the official local runner
(``engine="aws-local"``) and in the baseline, on the wall clock with the real encoder (PyAV on
``workers`` processes), and writes ``phase1_counter.csv`` and ``phase2_video.csv`` with their
provenance sidecars into the output directory. Every row records the host's cores and its
1-minute load average at the run's start (``cores``, ``load_1m``), so a reader can see how busy
the machine was. Each spec first makes ``warmup_runs`` discarded runs (the encoder processes
start, caches fill).

The parameters are a parameter set's files of notebooks 01 and 02 (``params/measured/``:
``01_counter.yaml`` and ``02_video_pipeline.yaml``; wall clock, ``aws-local``, the real
encoder), checked by the notebooks' own models (`durable_sim.notebook`) and turned into specs by
`durable_sim.study.counter_specs` and `video_specs` exactly as the notebooks do. `make measure`
runs this after the calibration (`python -m benchmarks.calibrate`), so the data set and the
constants the model is checked with come from the same machine at the same time.

Another parameter set measures other conditions the same way: ``params/postgres/`` runs both
models with our engine on one PostgreSQL server that this command starts (``database:
postgres``: the journal and the store on the same database, see `durable_sim.storage`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from durable_sim import yamlfile
from durable_sim.experiments import ExperimentSpec, SpecError, run_experiments, save_rows
from durable_sim.latency import CALIBRATED
from durable_sim.notebook import check_parameters
from durable_sim.storage import open_storages
from durable_sim.study import counter_specs, video_specs

#: Output file -> (the notebook whose parameters it reads, the specs it holds).
FILES: dict[str, tuple[str, Callable[[Mapping[str, Any]], list[ExperimentSpec]]]] = {
    "phase1_counter.csv": ("01_counter", counter_specs),
    "phase2_video.csv": ("02_video_pipeline", video_specs),
}


def load_parameter_set(directory: str | Path) -> dict[str, dict[str, Any]]:
    """The measured files' notebook parameters from a parameter set `directory`, by notebook
    (``01_counter``, ``02_video_pipeline``), each checked by its notebook's model.

    Raises `SpecError` (a `durable_sim.notebook.ParameterError` for a bad key or value) naming
    the file; a missing file is an error, not a run with defaults.
    """
    found = {}
    for stem, _ in FILES.values():
        path = Path(directory) / f"{stem}.yaml"
        if not path.is_file():
            raise SpecError(
                f"no parameter file {str(path)!r} (accepted: a parameter set "
                f"directory with {', '.join(s + '.yaml' for s, _ in FILES.values())})"
            )
        try:
            values = yamlfile.load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SpecError(
                f"{path}: not readable as YAML ({' '.join(str(exc).split())})"
            ) from None
        if not isinstance(values, dict):
            raise SpecError(f"{path}: expected a mapping of parameter names to values")
        found[stem] = check_parameters(stem, values).values()
    return found


def measure(params: Mapping[str, Mapping[str, Any]], out: Path) -> list[Path]:
    """Run every measured spec and write one CSV (+ sidecar) per workload into `out`.

    `params` maps each notebook of `FILES` to its parameter values (`load_parameter_set`).
    All specs are validated before the first run; nothing is written until a file's runs are
    all done, and each file is published with its sidecar as a pair (`save_rows`). Raises
    `SpecError` for a missing `out` directory or a parameter the specs reject.
    """
    if not out.is_dir():
        raise SpecError(f"bad output directory {str(out)!r} (accepted: an existing directory)")
    specs = {name: build(params[stem]) for name, (stem, build) in FILES.items()}
    databases = [s.database for file_specs in specs.values() for s in file_specs]
    written = []
    with (
        tempfile.TemporaryDirectory(prefix="durable-sim-measure-") as tmp,
        open_storages(databases, Path(tmp)) as storages,  # one Postgres server for all files
    ):
        for name, file_specs in specs.items():
            start = time.perf_counter()
            rows = run_experiments(file_specs, storages=storages)
            written.append(save_rows(rows, file_specs, out / name))
            took = time.perf_counter() - start
            print(f"{name}: {len(rows)} runs in {took:.0f} s", file=sys.stderr)
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
    """The command line above, with `argv` (default: ``sys.argv[1:]``); returns 0 when the data
    set is written. A missing or bad parameter file, a bad spec or a missing output directory
    exits with status 2 and one line (argparse's usage error)."""
    parser = argparse.ArgumentParser(prog="python -m durable_sim.measure", description=__doc__)
    parser.add_argument(
        "--params", default="params/measured", help="parameter set directory (notebooks 01, 02)"
    )
    parser.add_argument("--out", default="data/measured", help="output directory (must exist)")
    args = parser.parse_args(argv)
    try:
        measure(load_parameter_set(args.params), Path(args.out))
    except SpecError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
