"""``durable-sim``: run experiments from a terminal, with a progress bar; run durable workers.

    durable-sim run counter --model baseline --runs 10 --out data/experiments/c.csv
    durable-sim worker --journal postgresql://host/db --functions my.module:FUNCTIONS

A bad spec exits with status 2 and one line on stderr naming the bad value. A worker runs the
executions submitted to a shared journal (`durable_sim.durable.worker`) until SIGTERM/SIGINT,
``--max-runs`` or ``--idle-exit-s``; it waits for a database that cannot be reached yet. A bad
option (or journal path or DSN) exits with status 2, a corrupt journal with status 1, each with
one line on stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from tqdm import tqdm

from durable_sim.experiments import ExperimentSpec, SpecError, run_experiment, save_rows

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
    worker = commands.add_parser("worker", help="run the executions of a shared journal")
    worker.add_argument("--journal", required=True, help="SQLite path or postgresql:// DSN")
    worker.add_argument(
        "--functions", required=True, help="MODULE:NAME or FILE.py:NAME of a FunctionRegistry"
    )
    worker.add_argument("--lease-s", type=float, default=30.0, help="lease duration (s)")
    worker.add_argument("--poll-s", type=float, default=0.2, help="pause between claims (s)")
    worker.add_argument(
        "--park-after-ms", type=float, default=1000.0, help="park longer waits (ms)"
    )
    worker.add_argument("--max-runs", type=int, default=None, help="stop after this many runs")
    worker.add_argument(
        "--idle-exit-s", type=float, default=None, help="stop after this long without work (s)"
    )
    worker.add_argument("--quiet", action="store_true", help="no line per run")
    return parser


def _worker(args: argparse.Namespace) -> int:
    from durable_sim.durable import JournalError, LeaseConfig
    from durable_sim.durable.worker import load_functions, open_when_reachable, run_worker

    try:
        LeaseConfig(duration_s=args.lease_s)
        functions = load_functions(args.functions)
    except ValueError as exc:
        print(f"durable-sim: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    log = None if args.quiet else lambda line: print(line, file=sys.stderr)
    try:
        journal = open_when_reachable(args.journal, stop=stop, log=log)
        if journal is None:
            return 0
        try:
            stats = run_worker(
                journal,
                functions,
                lease_s=args.lease_s,
                poll_s=args.poll_s,
                park_after_ms=args.park_after_ms,
                stop=stop,
                max_runs=args.max_runs,
                idle_exit_s=args.idle_exit_s,
                log=log,
            )
        finally:
            journal.close()
    except ValueError as exc:
        print(f"durable-sim: {exc}", file=sys.stderr)
        return 2
    except JournalError as exc:
        print(f"durable-sim: {exc}", file=sys.stderr)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(
        f"worker: {stats.claimed} runs: {stats.succeeded} succeeded, {stats.failed} failed, "
        f"{stats.pending} pending; {stats.journal_errors} journal errors",
        file=sys.stderr,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "worker":
        return _worker(args)
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
