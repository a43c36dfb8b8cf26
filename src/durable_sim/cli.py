"""``durable-sim``: run experiments from a terminal, with a progress bar.

    durable-sim run counter --model baseline --runs 10 --out data/experiments/c.csv
    durable-sim sweep params/sweeps/example.yaml --out data/sweeps/example --executor dask

A bad spec exits with status 2 and one line on stderr naming the bad value.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tqdm import tqdm

from durable_sim.experiments import ExperimentSpec, SpecError, run_experiment, save_rows
from durable_sim.sweeps import EXECUTORS, run_sweep

_OPTIONS: tuple[tuple[str, type], ...] = (
    ("model", str),
    ("engine", str),
    ("clock", str),
    ("profile", str),
    ("encoder", str),
    ("runs", int),
    ("seed", int),
    ("chunks", int),
    ("video_seconds", int),
    ("failure_probability", float),
    ("poll_interval_ms", float),
    ("fanout", str),
    ("max_concurrency", int),
    ("workers", int),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="durable-sim", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one experiment and write its rows as CSV")
    run.add_argument("workload", help="counter or video")
    for name, kind in _OPTIONS:
        run.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None)
    run.add_argument("--jobs", type=int, default=1, help="processes to spread runs over")
    run.add_argument("--out", default=None, help="CSV path (default: print the rows)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep = commands.add_parser("sweep", help="run a sweep file's grid: one CSV per point + index")
    sweep.add_argument("file", help="sweep file (params/sweeps/*.yaml)")
    sweep.add_argument("--out", required=True, help="output directory")
    sweep.add_argument("--executor", choices=EXECUTORS, default="local")
    sweep.add_argument("--workers", type=int, default=None, help="processes (dask: per core)")
    sweep.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _sweep(args: argparse.Namespace) -> int:
    result = run_sweep(
        args.file,
        args.out,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.quiet,
    )
    print(f"{result.ran} points run, {result.skipped} already present: {result.out}/index.csv")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "sweep":
        try:
            return _sweep(args)
        except SpecError as exc:
            print(f"durable-sim: {exc}", file=sys.stderr)
            return 2
    values = {"workload": args.workload}
    values.update(
        {name: getattr(args, name) for name, _ in _OPTIONS if getattr(args, name) is not None}
    )
    try:
        spec = ExperimentSpec.parse(values)
        with tqdm(total=spec.runs, unit="run", disable=args.quiet, file=sys.stderr) as bar:
            rows = run_experiment(spec, jobs=args.jobs, progress=bar.update)
        if args.out:
            save_rows(rows, [spec], args.out)
        else:
            sys.stdout.write(rows.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    except SpecError as exc:
        print(f"durable-sim: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
