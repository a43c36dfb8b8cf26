"""``durable-sim``: run experiments and rebuild the report from a terminal.

    durable-sim run counter --model baseline --runs 10 --out data/experiments/c.csv
    durable-sim run video --model durable --chunks 20 --jobs 2 --out video.csv
    durable-sim report            # tables, figures and the PDF from the committed rows
    durable-sim sweep params/sweeps/example.yaml --out data/sweeps/example --executor dask
    durable-sim worker --journal postgresql://host/db --functions my.module:FUNCTIONS
    durable-sim recover data/     # finish CSV + sidecar publishes a kill interrupted
    durable-sim workloads         # the registered workloads, one a line (and: profiles)
    durable-sim --import my_workloads run order --model durable --profile my-lab
    durable-sim --import examples.order_saga run order-saga --model baseline \
        --options decline_probability=0.5
    durable-sim --version

The options of ``run`` are generated from `ExperimentSpec`'s fields (their descriptions, units,
bounds and defaults), and those of ``report`` from `ReportSpec`'s, so the help cannot drift from
what the spec accepts. ``WORKLOAD`` and ``--profile`` accept the names registered when the
command line is parsed: the built-ins, installed packages' entry points, and what the modules
given to ``--import`` register (`durable_sim.registry`).

Bad usage (a bad or missing value, an option that does not apply to the chosen workload or
model, an unusable ``--out``, a missing or bad input file, a database that cannot be reached)
exits with status 2 and one line on stderr, before any run starts; so does a database that
becomes unusable during the runs (`durable_sim.errors.StorageUnavailableError`: the durable
journal's or the baseline store's server out of reach or silent, a full disk), named with its
secrets masked, as every message names a DSN (`durable_sim.dsn.redact`).
Other errors of ours (`DurableSimError`, e.g. a user workload that raises: `WorkloadError`), a
module given to ``--import`` that raises, a stdout that cannot be written (a full disk, a
closed pipe) and any unexpected error exit with status 1 and one line; set
``DURABLE_SIM_TRACEBACK=1`` for an unexpected error's traceback.
A worker (`durable_sim.durable.worker`) runs the executions submitted to a shared journal until
SIGTERM or SIGINT, ``--max-runs`` or ``--idle-exit-s``, retrying a database it cannot reach
(`durable_sim.durable.worker.JOURNAL_RETRY`, within ``--idle-exit-s``); a bad ``--journal`` or
``--functions``, and a journal that stays out of reach, are bad usage (status 2): a worker
whose retries run out, or that is told to stop while its journal is out of reach, says so on
one line after its summary and exits 2, never 0. A run stopped by the journal does not count
towards ``--max-runs``.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import signal
import sys
import threading
import types
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import click
import yaml
from click.core import ParameterSource
from click.shell_completion import CompletionItem
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from durable_sim.dispatch import MAX_JOBS, PROBE_S, SERIAL_BELOW_S
from durable_sim.durations import Seconds, shown
from durable_sim.errors import DurableSimError, SpecError, StorageUnavailableError
from durable_sim.experiments import ExperimentSpec, check_rows_path, run_experiment, save_rows
from durable_sim.latency import PROFILES, LatencyProfile
from durable_sim.project import find_project_root
from durable_sim.registry import Registry
from durable_sim.report import ReportSpec, rebuild_report
from durable_sim.sweeps import EXECUTORS, MAX_WORKERS, PointFailedError, run_sweep
from durable_sim.workloads import WORKLOADS

PROG = "durable-sim"
#: Set (to anything) to get the traceback of an unexpected error instead of its one line.
TRACEBACK_ENV = "DURABLE_SIM_TRACEBACK"


class StdoutError(DurableSimError):
    """Standard output takes no more (a full disk, a closed pipe); one line."""


def _write_stdout(text: str) -> None:
    """Write `text` to stdout and flush it; `StdoutError` if stdout cannot take it."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()  # a full or closed stdout fails here, not at the interpreter's exit
    except OSError as exc:
        raise StdoutError(f"cannot write to stdout: {exc.strerror or exc}") from None


def _bounds(field: FieldInfo) -> dict[str, Any]:
    """click range arguments from a pydantic field's ``ge``/``gt``/``le``/``lt`` bounds."""
    bounds: dict[str, Any] = {}
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            bounds["min"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            bounds.update(min=item.gt, min_open=True)
        elif isinstance(item, annotated_types.Le):
            bounds["max"] = item.le
        elif isinstance(item, annotated_types.Lt):
            bounds.update(max=item.lt, max_open=True)
    return bounds


def _limits(bounded: click.FloatRange | click.IntRange) -> str:
    """A range type's bounds in words, e.g. ``> 0 and <= 10``."""
    bounds = [
        f"{'>' if bounded.min_open else '>='} {bounded.min:g}" if bounded.min is not None else "",
        f"{'<' if bounded.max_open else '<='} {bounded.max:g}" if bounded.max is not None else "",
    ]
    return " and ".join(b for b in bounds if b)


class FiniteFloatRange(click.FloatRange):
    """`click.FloatRange` that also refuses NaN (which passes no bound check, so click lets it
    through) and infinities: ``nan is not a finite number (accepted: ...)``, and that names its
    range when the value is no number at all: ``'x' is not a number (accepted: ...)``."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: Any) -> Any:
        accepted = f"accepted: a finite number {_limits(self)}".rstrip()
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                self.fail(f"{value!r} is not a number ({accepted})", param, ctx)
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number ({accepted})")
        return number


class IntegerRange(click.IntRange):
    """`click.IntRange` that names its range when the value is no integer at all:
    ``'x' is not an integer (accepted: an integer >= 1)``."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: Any) -> Any:
        if isinstance(value, str):
            try:
                int(value)
            except ValueError:
                accepted = f"accepted: an integer {_limits(self)}".rstrip()
                self.fail(f"{value!r} is not an integer ({accepted})", param, ctx)
        return super().convert(value, param, ctx)


class Duration(click.ParamType):
    """A duration option (``--timeout-s``, ``--lease-s``, ``--poll-s``, ``--park-after-ms``,
    ``--idle-exit-s``), checked by the library's own range for it (a
    `durable_sim.durations.Seconds`, whose owner says why it is what it is), so the command
    line accepts exactly what the library does: ``'x' is not a number (accepted: ...)``,
    ``0.01 is out of range (accepted: ...; WHY)``, a huge value abbreviated."""

    def __init__(self, accepted: Seconds, why: str = "") -> None:
        self.accepted = accepted
        self.why = why
        self.name = "MS" if accepted.unit == "ms" else "SECONDS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: Any) -> float:
        reason = f"; {self.why}" if self.why else ""
        accepted = f"accepted: {self.accepted.describe()}{reason}"
        text = str(value)
        number: Any = value
        if isinstance(value, str):
            try:
                number = int(value)  # exact, however many digits
            except ValueError:
                try:
                    number = float(value)
                except ValueError:
                    self.fail(f"{shown(value)} is not a number ({accepted})", param, ctx)
        if not self.accepted.contains(number):
            said = text.strip() if len(text.strip()) <= 24 else shown(number)
            self.fail(f"{said} is out of range ({accepted})", param, ctx)
        return self.accepted.check(param.name if param and param.name else "value", number)


class NameValue(click.ParamType):
    """``NAME=NUMBER`` (e.g. ``encode_per_s=140``), parsed to ``(name, float)``."""

    name = "NAME=NUMBER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: Any) -> tuple[str, float]:
        if isinstance(value, tuple):
            return value
        key, sep, number = str(value).partition("=")
        try:
            if not sep or not key:
                raise ValueError
            return key, float(number)
        except ValueError:
            self.fail(f"{value!r} is not NAME=NUMBER (e.g. encode_per_s=140)", param, ctx)


class OptionValue(click.ParamType):
    """``NAME=VALUE`` (e.g. ``decline_probability=0.3``): a workload option, its value read as
    a YAML scalar (``0.3`` a number, ``true`` a boolean, ``abc`` text), as papermill's ``-y``
    reads one, except that text Python reads as a number (``1e1``, which YAML 1.1 leaves as
    text, ``nan``) is that number, as click reads the spec's own number options; parsed to
    ``(name, value)``. The workload checks the value by the spec's rules
    (`durable_sim.workloads.base.Workload.parse_options`)."""

    name = "NAME=VALUE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: Any) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        key, sep, text = str(value).partition("=")
        parsed: Any = None
        if sep and key:
            try:
                parsed = yaml.safe_load(text) if text.strip() else None
            except yaml.YAMLError:
                parsed = None
        if isinstance(parsed, str):
            with contextlib.suppress(ValueError):
                parsed = float(parsed)
        if not isinstance(parsed, bool | int | float | str):
            self.fail(
                f"{value!r} is not NAME=VALUE with a number, a boolean or text as the value "
                "(e.g. decline_probability=0.3)",
                param,
                ctx,
            )
        return key, parsed


class RegisteredName(click.ParamType):
    """A name in a `Registry`, read when the command line is parsed: names registered after the
    command was built (by ``--import``, or by a program that calls `main`) are accepted, and
    shell completion offers them."""

    def __init__(self, registry: Registry[Any]) -> None:
        self.registry = registry
        self.name = registry.kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: Any) -> str:
        if isinstance(value, str) and value in self.registry:
            return value
        accepted = ", ".join(self.registry)
        self.fail(f"{value!r} is not a registered {self.name} (accepted: {accepted})", param, ctx)

    def get_missing_message(self, param: click.Parameter, ctx: click.Context | None) -> str:
        return f"Choose from: {', '.join(self.registry)}"

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        return [CompletionItem(n) for n in self.registry if n.startswith(incomplete)]


def _is_mapping(field: FieldInfo) -> bool:
    return get_origin(field.annotation) is dict


def _is_sequence(field: FieldInfo) -> bool:
    return get_origin(field.annotation) is tuple


def _param_type(name: str, field: FieldInfo) -> click.ParamType:
    annotation = field.annotation
    if _is_mapping(field):
        return NameValue()
    if _is_sequence(field):  # tuple[X, ...]: a repeated option of X
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        (annotation,) = (a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return click.Choice([str(v) for v in get_args(annotation)])
    if annotation is int:
        return IntegerRange(**_bounds(field))
    if annotation is float:
        return FiniteFloatRange(**_bounds(field))
    if annotation is str:
        return click.STRING
    raise TypeError(f"spec field {name!r} has a type the command line cannot parse: {annotation}")


def _applies_text(applies: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{key} {' or '.join(values)}" for key, values in applies.items())


def _pairs_to_dict(
    ctx: click.Context, param: click.Parameter, pairs: Sequence[tuple[str, Any]]
) -> dict[str, Any]:
    """A repeatable ``NAME=VALUE`` option's pairs as a dict; a name given twice is refused
    (rather than the last one winning silently)."""
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise click.BadParameter(f"{name} given twice (accepted: each name once)")
        found[name] = value
    return found


def spec_options(
    model: type[BaseModel],
    *,
    skip: Sequence[str] = (),
    applies: Mapping[str, Any] | None = None,
    types: Mapping[str, click.ParamType] | None = None,
) -> list[click.Option]:
    """One ``--option`` per field of the pydantic `model` (except `skip`), typed and bounded as
    the field is (or as `types` says for a field it names), with the field's description, its
    default and (from `applies`, a function of the field name such as
    `ExperimentSpec.applies_to`) when it applies, as help."""
    options = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        help_text = field.description or ""
        condition = _applies_text(applies[name]) if applies and applies[name] else ""
        if condition:
            help_text += f" (only with {condition})"
        optional: dict[str, Any] = {}
        param_type = (types or {}).get(name) or _param_type(name, field)
        if _is_mapping(field):  # repeated NAME=NUMBER (or NAME=VALUE), collected into a dict
            optional = {"multiple": True, "callback": _pairs_to_dict}
            help_text += f" ({param_type.name}, repeatable)"
        elif _is_sequence(field):  # repeated, collected into a tuple; the default is a tuple
            optional = {"multiple": True, "default": field.default, "show_default": True}
            help_text += " (repeatable)"
        elif not field.is_required():  # a required option gets no default at all
            optional = {"default": field.default, "show_default": field.default is not None}
        options.append(
            click.Option(
                [f"--{name.replace('_', '-')}", name],
                type=param_type,
                required=field.is_required(),
                help=help_text,
                **optional,
            )
        )
    return options


def _given(ctx: click.Context, names: Sequence[str]) -> list[str]:
    """The options the user set (on the command line or through the environment)."""
    return [n for n in names if ctx.get_parameter_source(n) not in (ParameterSource.DEFAULT, None)]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="Durable execution vs explicit-state serverless workflows: experiments and report.",
)
@click.version_option(metadata.version("durable-sim"), prog_name=PROG)
@click.option(
    "--import",
    "imports",
    multiple=True,
    metavar="MODULE",
    help="import MODULE before the command (repeatable): a module that registers workloads or "
    "latency profiles at its top level. The current directory is searched first, as by "
    "'python -m'; the registrations also reach the --jobs worker processes.",
)
def cli(imports: tuple[str, ...]) -> None:
    """The command group: ``run``, ``sweep``, ``report``, ``workloads``, ``profiles``."""
    if imports and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in imports:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise click.BadParameter(
                f"cannot import {module!r}: {exc} (searched the current directory, then the "
                "installed packages)",
                param_hint="'--import'",
            ) from None
        except SyntaxError as exc:
            where = f"{Path(exc.filename or '?').name}, line {exc.lineno}"
            raise click.BadParameter(
                f"cannot import {module!r}: {exc.msg} ({where})", param_hint="'--import'"
            ) from None
        except Exception as exc:
            if os.environ.get(TRACEBACK_ENV):
                raise
            raise click.ClickException(
                f"importing {module!r} raised {type(exc).__name__}: {exc}"
            ) from None


def _run_command() -> click.Command:
    fields = [n for n in ExperimentSpec.model_fields if n != "workload"]
    applies = {n: ExperimentSpec.applies_to(n) for n in fields}
    workload = ExperimentSpec.model_fields["workload"]
    params: list[click.Parameter] = [
        click.Argument(["workload"], type=RegisteredName(WORKLOADS), metavar="WORKLOAD"),
        *spec_options(
            ExperimentSpec,
            skip=["workload"],
            applies=applies,
            types={"profile": RegisteredName(PROFILES), "options": OptionValue()},
        ),
        click.Option(
            ["--jobs"],
            type=IntegerRange(1, MAX_JOBS),
            default=1,
            show_default=True,
            help="processes to share the runs, this one included. This process times the first "
            f"runs ({PROBE_S * 1000:.0f} ms); if the rest would take less than "
            f"{SERIAL_BELOW_S:g} s of CPU, it runs them serially, by itself, because a worker "
            "spends about a second starting (importing the package) and would be slower. "
            "Otherwise workers start while it works on, and every process takes chunks of runs "
            "when ready.",
        ),
        click.Option(
            ["--out"],
            type=click.Path(dir_okay=True, path_type=Path),
            default=None,
            help="CSV file for the rows, published with its .meta.json provenance sidecar; "
            "checked before the first run (a .csv name, in an existing writable directory). "
            "Default: print the rows to stdout.",
        ),
        click.Option(["--quiet", "-q"], is_flag=True, help="no progress bar on stderr"),
    ]

    def run(workload: str, jobs: int, out: Path | None, quiet: bool, **values: Any) -> int:
        ctx = click.get_current_context()
        given = _given(ctx, fields)
        chosen = {"workload": workload, **values}
        for name in given:
            for key, accepted in applies[name].items():
                if str(chosen[key]) not in accepted:
                    raise SpecError(
                        f"--{name.replace('_', '-')} does not apply to {key} "
                        f"{chosen[key]!r} (accepted: only with {_applies_text(applies[name])})"
                    )
        spec = ExperimentSpec.parse({"workload": workload, **{n: values[n] for n in given}})
        if out is not None:
            check_rows_path(out)
        rows = run_experiment(spec, jobs=jobs, progress=not quiet)
        if out is None:
            _write_stdout(rows.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
        else:
            save_rows(rows, [spec], out)
            click.echo(f"{PROG}: wrote {len(rows)} rows to {out}", err=True)
        return 0

    description = workload.description or ""
    return click.Command(
        "run",
        callback=run,
        params=params,
        help=f"Run one experiment: WORKLOAD ({description}; see 'durable-sim workloads') in "
        "one model. Writes one row per run as CSV.",
        short_help="run one experiment and write its rows as CSV",
    )


def _report_command() -> click.Command:
    params: list[click.Parameter] = [
        click.Option(
            ["--root"],
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="project root (default: the nearest directory at or above the current one "
            "holding paper/paper.typ)",
        ),
        click.Option(["--no-paper"], is_flag=True, help="rebuild tables and figures only"),
        *spec_options(ReportSpec),
    ]

    def report(root: Path | None, no_paper: bool, **values: Any) -> int:
        root = find_project_root(root if root is not None else ".")
        spec = ReportSpec.parse(values)
        written = rebuild_report(root, spec, paper=not no_paper)
        _write_stdout("".join(f"{path.relative_to(root).as_posix()}\n" for path in written))
        return 0

    return click.Command(
        "report",
        callback=report,
        params=params,
        help="Rebuild the tables and figures notebook 05 writes, then paper/build/paper.pdf, "
        "from the committed run rows in data/experiments and data/measured (verified against "
        "their sidecars), without running any experiment.",
        short_help="rebuild tables, figures and paper PDF from committed data",
    )


def _sweep_command() -> click.Command:
    params: list[click.Parameter] = [
        click.Argument(["file"], type=click.Path(dir_okay=False, path_type=Path)),
        click.Option(
            ["--out"],
            type=click.Path(file_okay=False, path_type=Path),
            required=True,
            help="directory for one CSV (+ .meta.json) per grid point and index.csv; points "
            "already there with the same spec digest are skipped (reruns are incremental)",
        ),
        click.Option(
            ["--executor"],
            type=click.Choice(list(EXECUTORS)),
            default="local",
            show_default=True,
            help="local (this process, or a process pool with --workers) or dask (a "
            "distributed.LocalCluster, or the cluster named by --scheduler)",
        ),
        click.Option(
            ["--workers"],
            type=IntegerRange(1, MAX_WORKERS),
            default=None,
            help="processes (local: a pool of this many; dask: LocalCluster workers, default one "
            "per core)",
        ),
        click.Option(
            ["--scheduler"],
            default=None,
            help="address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786); only with "
            "--executor dask, not with --workers",
        ),
        click.Option(["--quiet", "-q"], is_flag=True, help="no progress bar on stderr"),
    ]

    def sweep(
        file: Path,
        out: Path,
        executor: str,
        workers: int | None,
        scheduler: str | None,
        quiet: bool,
    ) -> int:
        result = run_sweep(
            file, out, executor=executor, workers=workers, scheduler=scheduler, progress=not quiet
        )
        click.echo(
            f"{result.ran} points run, {result.skipped} already present: {result.out}/index.csv"
        )
        return 0

    return click.Command(
        "sweep",
        callback=sweep,
        params=params,
        help="Run a sweep file's grid (params/sweeps/*.yaml: base: an experiment spec, grid: "
        "parameter -> list of values, their Cartesian product): one CSV per point plus an "
        "index. Results are byte-identical whatever the executor and the number of workers.",
        short_help="run a grid of experiments (local pool or Dask)",
    )


def _out_of_reach(error: Exception) -> int:
    """A worker's journal stayed out of reach through its retries (or its ``--idle-exit-s``):
    the journal's error (naming the DSN without its password) on one line; status 2."""
    click.echo(f"{PROG}: journal out of reach: {_one_line(str(error))}", err=True)
    return 2


def _worker_command() -> click.Command:
    from durable_sim.dsn import DEFAULT_QUERY_TIMEOUT_S, TIMEOUT, TIMEOUT_RANGE
    from durable_sim.durable.lease import DEFAULT_LEASE_S, LEASE, LEASE_WHY
    from durable_sim.durable.worker import (
        DEFAULT_PARK_AFTER_MS,
        IDLE_EXIT,
        JOURNAL_RETRY,
        PARK_AFTER,
        retry_pauses_s,
    )

    pauses = retry_pauses_s(JOURNAL_RETRY)

    params: list[click.Parameter] = [
        click.Option(
            ["--journal"],
            required=True,
            help="the shared journal: a SQLite file path, or a libpq connection string (a "
            "postgresql:// URL or key=value pairs, as run's and sweep's --database take it; "
            "messages show it without its password)",
        ),
        click.Option(
            ["--functions"],
            required=True,
            help="the durable handlers this worker may run, by name: MODULE:NAME or "
            "FILE.py:NAME of a FunctionRegistry (or of a mapping of names to handlers)",
        ),
        click.Option(
            ["--lease-s"],
            type=Duration(LEASE, LEASE_WHY),
            default=DEFAULT_LEASE_S,
            show_default=True,
            help=f"seconds a lease lasts unless renewed (renewed every third of it; "
            f"{LEASE.describe()}); a dead worker's executions are taken over after it",
        ),
        click.Option(
            ["--poll-s"],
            type=Duration(Seconds(0.0, low_open=True), "0 would claim without a pause"),
            default=0.2,
            show_default=True,
            help="seconds between claims when the queue is empty (> 0)",
        ),
        click.Option(
            ["--park-after-ms"],
            type=Duration(PARK_AFTER),
            default=DEFAULT_PARK_AFTER_MS,
            show_default=True,
            help="a wait longer than this (ms) gives the lease up until the wait is due",
        ),
        click.Option(
            ["--max-runs"],
            type=IntegerRange(1),
            default=None,
            help="stop after this many runs have ended (succeeded, failed or pending); a run "
            "stopped by the journal does not count: the worker takes it up again once the "
            "journal answers, or exits with status 2 when the journal stays out of reach",
        ),
        click.Option(
            ["--idle-exit-s"],
            type=Duration(IDLE_EXIT),
            default=None,
            help="stop after this many seconds without work (>= 0); a journal out of reach for "
            "that long stops the worker with an error (status 2) then, a wait for the server in "
            "progress included (one begun gets 1 s at least), as do its retries running out "
            f"({len(pauses) + 1} attempts, {sum(pauses):g} s of pauses between them, each "
            "attempt waiting at most --timeout-s, plus 1 s to cancel a query)",
        ),
        click.Option(
            ["--timeout-s"],
            type=Duration(TIMEOUT),
            default=DEFAULT_QUERY_TIMEOUT_S,
            show_default=True,
            help=f"Postgres journal: the longest wait for the server, to connect or for one "
            f"answer ({TIMEOUT_RANGE}: a deadline is kept to within 0.1 s); a server silent for "
            "longer counts as out of reach, and a query it did not answer is cancelled (at "
            "most 1 s more). SIGTERM ends any wait at once",
        ),
        click.Option(["--quiet", "-q"], is_flag=True, help="no line per run on stderr"),
    ]

    def worker(
        journal: str,
        functions: str,
        lease_s: float,
        poll_s: float,
        park_after_ms: float,
        max_runs: int | None,
        idle_exit_s: float | None,
        timeout_s: float,
        quiet: bool,
    ) -> int:
        from durable_sim.dsn import Interrupt
        from durable_sim.durable.errors import (
            JournalCorruptError,
            JournalPathError,
            JournalUnavailableError,
        )
        from durable_sim.durable.worker import load_functions, open_when_reachable, run_worker

        try:
            registry = load_functions(functions)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--functions") from None
        stop = threading.Event()
        interrupt = Interrupt(stop)  # the journal's waits end at SIGTERM and the idle deadline
        previous = {
            signum: signal.signal(signum, lambda *_: stop.set())
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        log = None if quiet else lambda line: click.echo(line, err=True)
        try:
            try:
                opened = open_when_reachable(
                    journal,
                    stop=interrupt,
                    log=log,
                    idle_exit_s=idle_exit_s,
                    timeout_s=timeout_s,
                )
            except (JournalPathError, JournalCorruptError, ValueError) as exc:
                raise click.BadParameter(str(exc), param_hint="--journal") from None
            except JournalUnavailableError as exc:
                return _out_of_reach(exc)
            if opened is None:
                return 0
            try:
                stats = run_worker(
                    opened,
                    registry,
                    lease_s=lease_s,
                    poll_s=poll_s,
                    park_after_ms=park_after_ms,
                    stop=interrupt,
                    max_runs=max_runs,
                    idle_exit_s=idle_exit_s,
                    log=log,
                )
            except JournalUnavailableError as exc:
                return _out_of_reach(exc)
            finally:
                opened.close()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        click.echo(
            f"worker: {stats.claimed} runs: {stats.succeeded} succeeded, {stats.failed} failed, "
            f"{stats.pending} pending, {stats.stopped} stopped by the journal; "
            f"{stats.journal_errors} journal errors",
            err=True,
        )
        if stats.out_of_reach is not None:  # told to stop while the journal was out of reach
            return _out_of_reach(stats.out_of_reach)
        return 0

    return click.Command(
        "worker",
        callback=worker,
        params=params,
        help="Run the executions submitted to a shared journal (SQLite or Postgres), each under "
        "its lease: claim one, run it, park it while it waits, take up those whose worker died. "
        "Runs until SIGTERM/SIGINT, --max-runs or --idle-exit-s.",
        short_help="run durable executions from a shared journal",
    )


def _columns(lines: list[tuple[str, ...]]) -> None:
    """Echo `lines` as left-aligned columns two spaces apart (the last one unpadded)."""
    widths = (
        [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)] if lines else []
    )
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[-1]]).rstrip())


@cli.command("workloads", short_help="list the registered workloads, one a line")
def workloads_command() -> None:
    """List the registered workloads, one a line: name, phase, models, where it comes from
    (built in, a module, an installed package) and description."""
    _columns(
        [
            (
                name,
                f"phase {w.phase}",
                "+".join(sorted(w.models)),
                WORKLOADS.origin(name).describe(),
                w.description,
            )
            for name, w in WORKLOADS.items()
        ]
    )


def describe_profile(profile: LatencyProfile) -> str:
    """A profile's machine and its main costs' medians in one line, e.g. ``host, 2 cores;
    durable invoke 106 ms, checkpoint 0.5 ms, invoke 0.01 ms, kv write 0.02 ms``."""
    m = profile.machine
    plural = "s" * (m.cores > 1)
    if m.kind == "host":
        machine = f"host, {m.cores} core{plural}"
    else:
        machine = f"{m.kind}, {m.cores} vCPU{plural} per invocation"
    if m.concurrency_limit is not None:
        machine += f", at most {m.concurrency_limit} at once"
    costs = ("durable_invoke", "checkpoint", "invoke", "cold_start", "kv_write")
    medians = ", ".join(
        f"{c.replace('_', ' ')} {getattr(profile, c).median_ms:g} ms" for c in costs
    )
    return f"{machine}; {medians}"


@cli.command("profiles", short_help="list the registered latency profiles, one a line")
def profiles_command() -> None:
    """List the registered latency profiles, one a line: name, where it comes from, machine
    and main costs (medians)."""
    _columns(
        [
            (name, PROFILES.origin(name).describe(), describe_profile(p))
            for name, p in PROFILES.items()
        ]
    )


@cli.command("recover", short_help="finish the publishes a kill interrupted (CSV + sidecar)")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def recover_command(paths: tuple[Path, ...]) -> int:
    """Finish every CSV + .meta.json publish that a kill interrupted under each of PATHS (a
    directory, searched recursively, or a published data file, not its sidecar): a data file
    still one version behind its sidecar gets the new data, and leftover temporary files go.
    One line per pair settled (completed: the new data put in place; intact or absent: only
    leftovers removed) and per temporary file left with no pending file beside it (removed: in
    a sweep directory, whose lock proves that no writer is live; left: elsewhere, where a writer
    may be writing it now; remove it once none is). A directory a sweep is writing now, a path
    that is no published data file, a directory that refuses the changes (read-only), a sweep
    lock file that is no regular file (a directory, a FIFO) and a filesystem that keeps no locks
    are refused with one line naming the path (exit 2)."""
    from durable_sim.files import recover_pairs
    from durable_sim.sweeps import SweepError, quiet_sweeps

    settled: list[tuple[Path, str]] = []
    for path in paths:
        try:
            with quiet_sweeps(path) as quiet:
                settled += recover_pairs(path, quiet=quiet)
        except FileNotFoundError as exc:
            raise click.BadParameter(str(exc), param_hint="PATHS") from None
        except SweepError as exc:
            raise click.BadParameter(str(exc), param_hint="PATHS") from None
    for path, status in settled:
        click.echo(f"{status}: {path}")
    if not settled:
        click.echo("nothing to recover")
    return 0


cli.add_command(_run_command())
cli.add_command(_report_command())
cli.add_command(_sweep_command())
cli.add_command(_worker_command())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: ``sys.argv[1:]``); returns the exit status:
    0 done, 1 an error of ours, 2 bad usage (a database out of reach included)."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, prog_name=PROG, standalone_mode=False
        )
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else PROG
        hint = f" (see '{command} --help')"
        click.echo(f"{command}: {_one_line(exc.format_message())}{hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"{PROG}: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo(f"{PROG}: aborted", err=True)
        return 1
    except SpecError as exc:  # a remedy it proposes, as options (--clock wall)
        click.echo(f"{PROG}: {_one_line(exc.command_line_message())}", err=True)
        return 2
    except StorageUnavailableError as exc:
        click.echo(f"{PROG}: {type(exc).__name__}: {_one_line(str(exc))}", err=True)
        return 2
    except StdoutError as exc:
        # Nothing more can reach stdout; point it at /dev/null so that the interpreter's
        # final flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        click.echo(f"{PROG}: {exc}", err=True)
        return 1
    except PointFailedError as exc:  # a grid point's run: unexpected if it has a traceback
        hint = f" (set {TRACEBACK_ENV}=1 for the traceback)" if exc.details else ""
        if exc.details and os.environ.get(TRACEBACK_ENV):
            click.echo(exc.details.rstrip("\n"), err=True)
            hint = ""
        click.echo(f"{PROG}: {type(exc).__name__}: {_one_line(str(exc))}{hint}", err=True)
        return 1
    except DurableSimError as exc:
        click.echo(f"{PROG}: {type(exc).__name__}: {_one_line(str(exc))}", err=True)
        return 1
    except Exception as exc:
        if os.environ.get(TRACEBACK_ENV):
            raise
        click.echo(
            f"{PROG}: unexpected {type(exc).__name__}: {_one_line(str(exc))} "
            f"(set {TRACEBACK_ENV}=1 for the traceback)",
            err=True,
        )
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
