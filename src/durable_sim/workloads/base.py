"""What a workload is to the experiment harness: a name, its phase, and one runner per model.

The harness (`durable_sim.experiments`) runs every workload through this interface and never
branches on a workload's name: it validates a spec's model against `Workload.models`, opens the
workload's `session` once per experiment (per process), builds a `RunEnv` per run, calls
``workload.run(spec, env)`` and turns the returned `RunValues` into a row. A new workload is a
new `Workload` value; the two helpers below are the common bodies of a durable and a baseline
run, so each runner only says what is specific to its workload.

A workload may take parameters of its own (`Workload.options`: a pydantic model, e.g. the
failure probabilities of an order saga) and report result columns of its own
(`Workload.columns`, e.g. each run's outcome); the harness validates the options through the
spec's ``options`` field, and the rows carry both (each option a column, after ``seed``), so
neither needs a spec field or a row column of the package's.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ValidationError

from durable_sim.baseline import FunctionRuntime, KVStore, open_store
from durable_sim.clock import Clock
from durable_sim.durable import DurableRun, Responder
from durable_sim.engines import run_durable
from durable_sim.latency import LatencyProfile, Sampler
from durable_sim.machine import MachineState
from durable_sim.parameters import accepted, check_scalars, problem

if TYPE_CHECKING:
    from durable_sim.storage import RunStorage

#: The values a run reports: ``time_ms`` (ms), ``by_purpose`` (store calls by purpose), and any
#: of ``invocations, replays, steps, retries, failed_steps, checkpoint_ops, checkpoint_bytes,
#: final_value, output_digest, ok``, of the billable usage `durable_sim.cost` prices
#: (``billed_ms, durable_operations, store_read_units, store_write_units, s3_put_requests,
#: s3_get_requests``; the harness fills the rest with defaults, 0 for usage a run did not
#: have) and of the workload's own `Workload.columns`; a run that is not ``ok`` says why in
#: ``error`` (text for the harness's message, not a row column).
RunValues = dict[str, Any]


class RunSpec(Protocol):
    """What every runner may read from an experiment spec (workloads read their own fields)."""

    @property
    def model(self) -> str: ...

    @property
    def engine(self) -> str: ...


@dataclass(frozen=True)
class RunEnv:
    """Everything one run gets from the harness besides its spec.

    `clock` is the run's main timeline (its ``time_ms`` is measured on it), `sampler` draws the
    profile's costs with the run's `seed`, `machine` is a fresh start of the scenario's machine,
    `session` is what the workload's `Workload.session` opened for the experiment, and
    `options` the spec's options as an instance of the workload's `Workload.options` model
    (None for a workload without options), and `storage` the run's own journal and store
    location (`durable_sim.storage`; ``None``: in memory).
    """

    run_id: int
    seed: int
    clock: Clock
    profile: LatencyProfile
    sampler: Sampler
    machine: MachineState
    session: Any
    options: Any = None
    storage: RunStorage | None = None


Runner = Callable[[Any, RunEnv], RunValues]


def no_session(spec: Any, scratch: Path) -> AbstractContextManager[None]:
    """The session of a workload that needs no per-experiment resources."""
    return nullcontext()


def no_check(spec: Any) -> None:
    """The check of a workload that accepts every valid spec."""


def no_labels(spec: Any) -> dict[str, Any]:
    """The labels of a workload whose rows carry no spec settings of their own."""
    return {}


@dataclass(frozen=True)
class Workload:
    """A workload as the harness sees it.

    `name` is the spec's ``workload`` value; `phase` labels its rows for the analysis (the
    paper's phase); `runners` maps each model to its runner; `store_purposes` lists the
    purposes its baseline counts store calls under (one ``store_ops_<purpose>`` column each, in
    this order); `labels` gives the spec settings its rows carry (column -> value);
    `session` opens per-experiment resources (e.g. a pool of encoder processes) in a scratch
    directory, handed to every run as ``env.session``; `check` rejects a spec the workload
    cannot run with `ValueError` naming the value and the accepted range; `description` is
    one line for listings (``durable-sim workloads``).

    `options` is the model of the workload's own parameters: a pydantic model class whose
    every field has a default (its description and bounds are the option's documentation and
    accepted range). A spec gives them as ``options`` (name -> value; see `parse_options`),
    each run gets them as ``env.options``, and every row carries each option as a column (so
    an option's name is neither a common column nor one of `columns`). `columns` names the row
    columns its runners report beyond the common ones (`durable_sim.rows.REQUIRED_COLUMNS`), in
    this order, e.g. ``("outcome",)``: each runner's `RunValues` carries them (a value left out
    is empty).
    """

    name: str
    phase: str
    runners: Mapping[str, Runner]
    store_purposes: tuple[str, ...]
    labels: Callable[[Any], dict[str, Any]]
    session: Callable[[Any, Path], AbstractContextManager[Any]] = no_session
    check: Callable[[Any], None] = no_check
    description: str = ""
    options: type[BaseModel] | None = None
    columns: tuple[str, ...] = ()

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.runners)

    def parse_options(self, values: Mapping[str, Any]) -> BaseModel | None:
        """`values` (option name -> value) as an instance of `options`, defaults filled in;
        None for a workload without options (which then accepts no values).

        Values are checked by the spec's own rules (`durable_sim.parameters.check_scalars`):
        an int option takes an int or an integral float; a boolean, a text or a NaN/infinity
        is never a number; only True and False are booleans. Raises `ValueError` with one
        line: an unknown option (with the accepted names and their ranges), or a bad value
        naming the option, the value and its accepted range.
        """
        if self.options is None:
            if values:
                raise ValueError(
                    f"workload {self.name!r} takes no options, got {sorted(values)} "
                    "(accepted: none)"
                )
            return None
        fields = self.options.model_fields
        unknown = sorted(set(values) - set(fields))
        if unknown:
            listing = "; ".join(f"{n}: {accepted(f)}" for n, f in fields.items())
            raise ValueError(
                f"workload {self.name!r} has no option {unknown[0]!r} (accepted: {listing})"
            )
        try:
            # The spec's own rules: a boolean, a text or a NaN is no number, only True and
            # False are booleans (the command line reads a number's text itself, as click
            # does for the spec's options: `durable_sim.cli.OptionValue`).
            check_scalars(fields, values)
        except ValueError as exc:
            raise ValueError(f"workload {self.name!r} option {exc}") from None
        try:
            return self.options.model_validate(dict(values))
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else ""
            message = str(err["msg"]).removeprefix("Value error, ")
            if name not in fields:  # an error of the whole model (e.g. two options disagree)
                raise ValueError(f"workload {self.name!r} options: {message}") from None
            # In the spec's words for its own fields (`ExperimentSpec.parse`): "is out of range".
            what = problem(err)
            said = f": {message}" if what is None else f" {what}"
            raise ValueError(
                f"workload {self.name!r} option {name}={err['input']!r}{said} "
                f"(accepted: {accepted(fields[name])})"
            ) from None

    def run(self, spec: RunSpec, env: RunEnv) -> RunValues:
        """One run of `spec` in its model; `ValueError` if the workload lacks that model."""
        runner = self.runners.get(spec.model)
        if runner is None:
            raise ValueError(
                f"workload {self.name!r} has no model {spec.model!r} (accepted: {self.models})"
            )
        return runner(spec, env)


def invocation_durations_ms(run: DurableRun) -> list[float]:
    """How long each invocation of `run` ran (ms), as its execution history reports them: one
    ``InvocationCompleted`` event per invocation, from ``StartTimestamp`` to ``EndTimestamp``
    (AWS's ``GetDurableExecutionHistory``; ms on our journal, ISO-8601 text from the official
    runner). Raises ValueError for a run that carries no history (`export_history`'s error)."""
    if run.events is not None:
        return [
            _span_ms(d["StartTimestamp"], d["EndTimestamp"])
            for d in (
                e["InvocationCompletedDetails"]
                for e in run.events
                if e["EventType"] == "InvocationCompleted"
            )
        ]
    if run.journal is None:
        raise ValueError(
            f"run {run.execution_id!r} carries no history (neither events nor a journal)"
        )
    return [
        float(e.details["EndTimestamp"]) - float(e.details["StartTimestamp"])
        for e in run.journal.read_history(run.execution_id)
        if e.event_type == "InvocationCompleted" and e.details is not None
    ]


def _span_ms(start: float | str, end: float | str) -> float:
    """Milliseconds between two history timestamps: numbers (s), or ISO-8601 text (the official
    runner's), subtracted as datetimes so that no precision is lost to epoch seconds."""
    if isinstance(start, str) and isinstance(end, str):
        delta = dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)
        return delta / dt.timedelta(milliseconds=1)
    return (float(end) - float(start)) * 1000.0


def durable_values(run: DurableRun) -> RunValues:
    """The row values every durable run reports, whatever its workload.

    Its billable usage (`durable_sim.cost`): ``billed_ms``, the invocations' durations from the
    execution history (`invocation_durations_ms`), each rounded up to a whole ms as Lambda
    bills them (a cold start's INIT phase is added by the harness); and ``durable_operations``,
    the operations in the execution's journal (``len(run.operations)``: each step, wait,
    callback, child context, and a map or parallel with each of its branches), which is what
    AWS bills per durable operation, once each, however often it was retried or replayed (the
    price table's note). Not ``checkpoint_ops``: that counts the runtime's checkpoint *calls*;
    the SDK's batcher sends several operations' updates in one call, and a step's start and end
    may go in two (`durable_sim.durable.state`), so calls and operations differ (the paper's
    10-chunk video run: 35 calls for 24 operations).
    """
    m = run.metrics
    return {
        "time_ms": m.elapsed_ms,
        "checkpoint_ops": m.checkpoint_ops,
        "checkpoint_bytes": m.checkpoint_bytes,
        "invocations": m.invocations,
        "billed_ms": sum(math.ceil(ms) for ms in invocation_durations_ms(run)),
        "durable_operations": len(run.operations),
        "replays": m.replays,
        "steps": sum(op.type == "STEP" for op in run.operations),
        "retries": m.retries,
        "failed_steps": m.failed_steps,
        "ok": run.status == "SUCCEEDED",
        "error": None if run.status == "SUCCEEDED" else f"{run.status}: {run.error!r}",
    }


def run_durable_workflow(
    handler: Callable[..., Any],
    event: Any,
    spec: RunSpec,
    env: RunEnv,
    *,
    responder: Responder | None = None,
) -> DurableRun:
    """Run a durable handler on the spec's engine: ours on the run's clock, profile, seed and
    journal, or the official local runner (``aws-local``, wall clock). `responder` answers the
    handler's callbacks as the outside world would (see `durable_sim.run_durable`)."""
    if spec.engine == "sim":
        journal = env.storage.journal if env.storage is not None else None
        return run_durable(
            handler,
            event,
            clock=env.clock,
            profile=env.profile,
            seed=env.seed,
            journal=journal,
            responder=responder,
        )
    return run_durable(handler, event, engine=spec.engine, responder=responder)


@dataclass(frozen=True)
class Platform:
    """A baseline run's function platform and key-value store, on the run's clock."""

    runtime: FunctionRuntime
    store: KVStore


def run_baseline_workflow(
    env: RunEnv, body: Callable[[Platform], RunValues], *, max_workers: int = 16
) -> RunValues:
    """Run `body` on the run's fresh store (in memory unless the run has storage of its own)
    and function platform (on the run's machine).

    `body` returns its own values (e.g. ``steps``, ``final_value``, ``ok``); this adds
    ``time_ms`` (from the first call to the last, on the run's clock), ``by_purpose``,
    ``invocations``, their ``billed_ms`` (`FunctionRuntime.billed_ms`) and the store's DynamoDB
    request units (``store_read_units``, ``store_write_units``: `StoreCounters`). `max_workers`
    sizes the wall-clock thread pool for asynchronous calls.
    """
    store = (
        env.storage.open_store(env.clock, env.sampler)
        if env.storage is not None
        else open_store("memory", clock=env.clock, sampler=env.sampler)
    )
    with FunctionRuntime(
        env.clock, env.sampler, machine=env.machine, max_workers=max_workers
    ) as runtime:
        start = env.clock.now_ms()
        values = body(Platform(runtime, store))
        elapsed = env.clock.now_ms() - start
        invocations = runtime.counters.total
        billed = runtime.billed_ms
    counters = store.counters
    if env.storage is not None:
        store.close()
    return {
        "time_ms": elapsed,
        "by_purpose": dict(counters.by_purpose),
        "invocations": invocations,
        "billed_ms": billed,
        "store_read_units": counters.read_units,
        "store_write_units": counters.write_units,
        **values,
    }
