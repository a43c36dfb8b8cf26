"""Experiments: a validated spec in, one tidy row per run out, saved as CSV with provenance.

Each run gets its own seed spawned from the spec's seed, so a run's row depends only on the
spec and its index: the same spec gives the same rows whether runs go one by one or are spread
over processes. On the virtual clock the CSV is byte-identical from one execution to the next.

The harness is generic: a workload (registered in `durable_sim.workloads.WORKLOADS`) brings its
runners, its store-call purposes and its row labels; the harness builds each run's clock, latency
profile (registered in `durable_sim.latency.PROFILES`), machine and seed, traces the virtual
clocks to split the run's time by component (`durable_sim.attribution`) and turns the values into
a row (`durable_sim.rows`). Spawned worker processes make the spec's registrations again
(`Registrations`) before their first run.

Every row is priced (`durable_sim.cost`) with the spec's price table, Lambda memory size and
retention period: the row carries its billable usage (`durable_sim.rows.USAGE_COLUMNS`, as the
runners report it), ``memory_mb`` and its cost in dollars, in total and by component
(`durable_sim.rows.COST_COLUMNS`). ``billed_ms`` is the runners' invocation durations plus, on
the virtual clock, the INIT phase of every cold start the run paid (charges of the profile's
``cold_start`` on any of its clocks), rounded up to a whole ms: Lambda bills INIT like the
invocation since 1 August 2025 ("AWS Lambda standardizes billing for INIT Phase", AWS Compute
Blog, https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/). A
wall-clock run has no modelled cold start. Both engines report every usage (``aws-local``
counts the SDK's checkpoint calls and bytes at the runner's service client,
`durable_sim.engines.aws_local`); a usage a runner reports as unknown (``None``) would leave
every cost column of its row empty (NaN) rather than price it as zero.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from durable_sim.attribution import traced
from durable_sim.clock import Clock, VirtualClock, WallClock
from durable_sim.collector import collector_paused
from durable_sim.cost import (
    DEFAULT_RETENTION_DAYS,
    MB_PER_VCPU,
    MEMORY_RANGE_MB,
    RETENTION_RANGE_DAYS,
    CostInputError,
    PriceTable,
    lambda_memory_mb,
    load_prices,
    run_cost,
)
from durable_sim.dispatch import MAX_JOBS, map_chunked
from durable_sim.dsn import redact
from durable_sim.errors import (
    DurableSimError,
    SettingError,
    SpecError,
    WorkloadError,
    spec_settings,
    validation_line,
)
from durable_sim.files import check_output_file, publish_pair, read_pair
from durable_sim.latency import (
    CALIBRATED,
    PROFILES,
    LatencyProfile,
    Sampler,
    get_profile,
    with_calibration,
)
from durable_sim.machine import Machine
from durable_sim.parameters import accepted, check_scalars, problem
from durable_sim.progress import Progress, progress_reporter
from durable_sim.project import project_root
from durable_sim.registry import Named, Origin, Registry, UnknownNameError
from durable_sim.rows import (
    COST_COLUMNS,
    COST_COMPONENTS,
    PRICED_COLUMNS,
    REQUIRED_COLUMNS,
    STORE_OPS_PREFIX,
    TIME_COLUMNS,
    TIME_COMPONENTS,
    USAGE_COLUMNS,
    cost_column,
)
from durable_sim.storage import (
    ACCEPTED_DATABASES,
    IN_MEMORY,
    Storage,
    check_database,
    open_storages,
)
from durable_sim.workloads import WORKLOADS, RunEnv, RunValues, Workload

#: The price table every spec costs its runs with unless it names another (project-relative).
DEFAULT_PRICES = "data/prices/aws-us-east-1.yaml"


class RunFailedError(DurableSimError, RuntimeError):
    """A run failed although its spec injects no failure (``failure_probability`` 0).

    Such a run is a fault of the code under test (an engine, a workload, the harness), never a
    result: the experiment stops instead of writing a row that says ``ok=False``.
    """


T = TypeVar("T", bound=Named)

#: The fields whose ``applies_to`` conditions every spec enforces (`ExperimentSpec`).
RUN_KIND_FIELDS = ("workload", "clock")


class ExperimentSpec(BaseModel):
    """What to run: workload, model, engine, clock, scenario (profile and machine), encoder,
    baseline polling, run count and seed; and what its runs are priced with (price table,
    Lambda memory size, retention period).

    `cores` overrides the profile's machine cores (a host's cores, a Lambda's vCPUs) and
    `concurrency_limit` a Lambda machine's limit on concurrent invocations; `costs` overrides
    calibrated costs of the profile (`durable_sim.latency.with_calibration`: a cost's median in
    ms, or its spread as ``"<cost>_sigma"``), e.g. with a calibration taken on the machine that
    measured a data set. `warmup_runs` runs are made first and discarded (for wall-clock
    measurements: warm caches and worker pools). `options` are the workload's own parameters
    (`durable_sim.workloads.Workload.options`), checked by its options model and kept complete:
    after validation the field holds every option, defaults filled in, as JSON values.

    Each field's description gives its unit; its bounds are the accepted range. A field's
    ``applies_to`` (see `applies_to`) names the values other fields must have for it to matter:
    ``chunks`` only changes a ``video`` run, so a spec refuses a ``chunks`` other than its
    default on the counter instead of ignoring it (a default value counts as not given, so a
    spec's `model_dump` parses again). The spec enforces the conditions on its workload and
    clock (`RUN_KIND_FIELDS`); those on model and encoder are enforced where a value is chosen
    (the command line refuses a given option, a sweep a grid key that applies to none of its
    points), because a grid crossing ``model`` with a baseline-only field (the poll interval)
    legitimately holds durable points as its control. A number field refuses booleans, strings
    and NaN (`durable_sim.parameters.check_scalars`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    workload: str = Field(
        description="a registered workload: counter (Phase 1) or video (Phase 2) built in, "
        "or yours (durable_sim.workloads.register_workload)"
    )
    model: Literal["durable", "baseline"] = Field(
        description="durable (checkpoint and replay) or baseline (explicit state in a store)"
    )
    engine: Literal["sim", "aws-local"] = Field(
        "sim",
        description="durable engine: sim (ours) or aws-local (AWS's local test runner; "
        "wall clock only)",
        json_schema_extra={"applies_to": {"model": ["durable"]}},
    )
    clock: Literal["virtual", "wall"] = Field(
        "virtual", description="virtual (deterministic, modelled ms) or wall (measured ms)"
    )
    profile: str = Field(
        "paper-local",
        description="a registered latency profile (scenario costs and machine): paper-local, "
        "aws-lambda or zero built in, or yours (durable_sim.latency.register_profile)",
    )
    cores: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="cores of the simulated machine (a host's cores, a Lambda's vCPUs; "
        "default: the profile's)",
        json_schema_extra={"applies_to": {"clock": ["virtual"]}},
    )
    concurrency_limit: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="most concurrent invocations on a Lambda machine (default: the profile's)",
        json_schema_extra={"applies_to": {"clock": ["virtual"]}},
    )
    costs: dict[str, float] = Field(
        default_factory=dict,
        description="calibrated costs overriding the profile's: a cost's median in ms, or its "
        "spread as '<cost>_sigma'",
    )
    encoder: Literal["model", "real"] = Field(
        "model",
        description="chunk encoder: model (the profile's costs) or real (PyAV and libx264)",
        json_schema_extra={"applies_to": {"workload": ["video"]}},
    )
    runs: int = Field(10, ge=1, le=1_000_000, description="runs, each with its own seed")
    warmup_runs: int = Field(
        0, ge=0, le=100, description="runs made first and discarded (warm caches and pools)"
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="experiment seed; each run's seed is spawned from it"
    )
    chunks: int = Field(
        10,
        ge=1,
        le=1_000_000,
        description="chunks the video is split into (model encoder: at most one per frame; "
        "real encoder: at most one per keyframe-aligned segment, one a second)",
        json_schema_extra={"applies_to": {"workload": ["video"]}},
    )
    video_seconds: int = Field(
        10,
        ge=1,
        le=3600,
        description="length of the source video in s (30 frames per s)",
        json_schema_extra={"applies_to": {"workload": ["video"]}},
    )
    width: int = Field(
        640,
        ge=16,
        le=3840,
        description="frame width of the source video in pixels",
        json_schema_extra={"applies_to": {"workload": ["video"]}},
    )
    height: int = Field(
        360,
        ge=16,
        le=2160,
        description="frame height of the source video in pixels",
        json_schema_extra={"applies_to": {"workload": ["video"]}},
    )
    failure_probability: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="chance that one chunk-encode attempt fails and is retried",
        json_schema_extra={"applies_to": {"workload": ["video"]}},
    )
    poll_interval_ms: float = Field(
        100.0,
        gt=0.0,
        le=3_600_000.0,
        description="first interval between the coordinator's completion polls in ms",
        json_schema_extra={"applies_to": {"workload": ["video"], "model": ["baseline"]}},
    )
    poll_read: Literal["query", "get"] = Field(
        "query",
        description="a poll round's read: one query of the job's chunks, or one get per chunk",
        json_schema_extra={"applies_to": {"workload": ["video"], "model": ["baseline"]}},
    )
    poll_backoff: Literal["fixed", "exponential"] = Field(
        "fixed",
        description="poll interval: fixed, or growing by the SDK's polling formula (x1.5)",
        json_schema_extra={"applies_to": {"workload": ["video"], "model": ["baseline"]}},
    )
    fanout: Literal["map", "sequential"] = Field(
        "map",
        description="durable fan-out: map (context.map) or sequential (a loop of steps)",
        json_schema_extra={"applies_to": {"workload": ["video"], "model": ["durable"]}},
    )
    max_concurrency: int | None = Field(
        None,
        ge=1,
        description="durable map: most chunks encoded at once (default: no limit)",
        json_schema_extra={"applies_to": {"workload": ["video"], "model": ["durable"]}},
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="real encoder: processes encoding chunks in parallel",
        json_schema_extra={"applies_to": {"workload": ["video"], "encoder": ["real"]}},
    )
    options: dict[str, bool | int | float | str] = Field(
        default_factory=dict,
        validate_default=True,
        description="the workload's own parameters, by name (its options model says which, "
        "their units and ranges; an unknown name is an error listing them)",
    )

    @field_validator("options", mode="after")
    @classmethod
    def _complete_options(
        cls, options: dict[str, Any], info: ValidationInfo
    ) -> dict[str, bool | int | float | str]:
        """The workload's options validated by its model, every option filled in (JSON)."""
        name = info.data.get("workload")
        if name is None or name not in WORKLOADS:
            return options  # the workload's own error is reported
        parsed = WORKLOADS[name].parse_options(options)
        return {} if parsed is None else parsed.model_dump(mode="json")

    database: str = Field(
        "memory",
        description="where runs keep their state, the durable journal and the baseline's "
        "store alike: memory, sqlite, postgres (a server this project starts) or a libpq "
        "connection string (a postgresql:// URL or key=value pairs; written down with its "
        "password and other secrets masked, so a password is best left to PGPASSWORD or "
        "~/.pgpass)",
    )

    @field_serializer("database")
    def _redacted(self, database: str) -> str:
        """A DSN's secrets are never written down (`durable_sim.dsn.redact`): the spec's dump,
        hence its sidecar and its digest, name the server without them (a spec made from
        another keeps them: `derive`)."""
        return redact(database)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact(value) if name == "database" else value

    prices: str = Field(
        DEFAULT_PRICES,
        min_length=1,
        description="price table the runs are costed with (durable_sim.cost.load_prices): a "
        "YAML file, relative to the project root unless absolute",
    )
    memory_mb: int | None = Field(
        None,
        ge=MEMORY_RANGE_MB[0],
        le=MEMORY_RANGE_MB[1],
        description=f"Lambda memory in MB the compute is priced at (default: {MB_PER_VCPU} per "
        f"vCPU of a Lambda machine's invocation, capped at {MEMORY_RANGE_MB[1]}; {MB_PER_VCPU}, "
        "one vCPU, on a host); prices only: cores sets the machine's speed",
    )
    retention_days: int = Field(
        DEFAULT_RETENTION_DAYS,
        ge=RETENTION_RANGE_DAYS[0],
        le=RETENTION_RANGE_DAYS[1],
        description="days a closed durable execution's checkpointed data is kept and billed "
        "(AWS's default: 14)",
    )

    @classmethod
    def applies_to(cls, name: str) -> dict[str, list[str]]:
        """For field `name`, the other fields' values under which it matters ({} if always).

        E.g. ``applies_to("chunks") == {"workload": ["video"]}``. Raises `KeyError` for an
        unknown field.
        """
        extra = cls.model_fields[name].json_schema_extra
        found = extra.get("applies_to") if isinstance(extra, dict) else None
        if not isinstance(found, dict):
            return {}
        return {str(k): [str(v) for v in vs] for k, vs in found.items() if isinstance(vs, list)}

    @model_validator(mode="before")
    @classmethod
    def _numbers(cls, values: Any) -> Any:
        if isinstance(values, dict):
            check_scalars(cls.model_fields, values)
        return values

    def applies(self, name: str) -> bool:
        """Whether field `name` matters to this spec (the other fields' values are those its
        `applies_to` names). Raises `KeyError` for an unknown field."""
        return all(str(getattr(self, k)) in vs for k, vs in self.applies_to(name).items())

    def _check_applies(self) -> None:
        """A field set to other than its default must apply to the spec's workload and clock
        (`RUN_KIND_FIELDS`)."""
        for name, field in type(self).model_fields.items():
            applies = self.applies_to(name)
            value = getattr(self, name)
            if not applies or field.default_factory is not None or value == field.default:
                continue
            for key in RUN_KIND_FIELDS:
                if key in applies and str(getattr(self, key)) not in applies[key]:
                    condition = "; ".join(f"{k} {' or '.join(v)}" for k, v in applies.items())
                    raise ValueError(
                        f"{name}={value!r} does not apply to {key} {getattr(self, key)!r} "
                        f"(accepted: only with {condition}; else leave it at its default "
                        f"{field.default!r})"
                    )

    def _registered(self, registry: Registry[T], name: str) -> T:
        """What field `name`'s value names in `registry`; `ValueError` naming the value and
        the names registered (`accepted`) if it names nothing there."""
        value = getattr(self, name)
        try:
            return registry[value]
        except UnknownNameError:
            raise ValueError(
                f"{name}={value!r} is not registered (accepted: {self.accepted(name)})"
            ) from None

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        workload = self._registered(WORKLOADS, "workload")
        if self.model not in workload.models:
            raise ValueError(
                f"workload {self.workload!r} has no model {self.model!r} "
                f"(accepted: {list(workload.models)})"
            )
        self._registered(PROFILES, "profile")
        self._check_applies()
        if self.engine == "aws-local" and self.clock != "wall":
            wall = {"clock": "wall"}
            raise SettingError(
                f"engine 'aws-local' runs on the wall clock (set {spec_settings(wall)})", wall
            )
        unknown = sorted(
            set(self.costs) - set(CALIBRATED) - {f"{c}_sigma" for c in CALIBRATED} - {"cores"}
        )
        if unknown or "cores" in self.costs:
            raise ValueError(
                f"costs={self.costs!r} has unknown cost name(s) {unknown or ['cores']} (accepted: "
                f"{list(CALIBRATED[1:])} and their '_sigma' spreads; cores is its own field)"
            )
        check_database(self.database)
        if self.database != "memory" and self.model == "durable" and self.engine != "sim":
            raise ValueError(
                f"database {redact(self.database)!r} holds our engine's journal (accepted "
                f"with engine 'sim'; engine {self.engine!r} keeps its own in memory)"
            )
        self.latency_profile()
        self.machine()
        try:
            self.price_table()
        except CostInputError as exc:
            readable = "" if "(accepted:" in str(exc) else f" (accepted: {self.accepted('prices')})"
            raise ValueError(f"prices={self.prices!r}: {exc}{readable}") from None
        workload.check(self)
        return self

    @classmethod
    def accepted(cls, name: str) -> str:
        """What field `name` accepts, in words (an error message's ``accepted: ...``): the
        names registered now for ``workload`` and ``profile``, the kinds of ``database``, a
        price table's path for ``prices``, else the field's type and bounds
        (`durable_sim.parameters.accepted`). Raises `KeyError` for an unknown field."""
        field = cls.model_fields[name]
        if name == "workload":
            return f"a registered workload: {', '.join(WORKLOADS)}"
        if name == "profile":
            return f"a registered latency profile: {', '.join(PROFILES)}"
        if name == "database":
            return ACCEPTED_DATABASES.removeprefix("accepted: ")
        if name == "prices":
            return "the path of a price table (YAML), relative to the project root unless absolute"
        return accepted(field)

    @classmethod
    def parse(cls, values: dict[str, Any]) -> ExperimentSpec:
        """Validate `values` (a mapping of field names to values); a bad one raises `SpecError`
        with a single clear line naming the field, its value and what it accepts
        (`accepted`): ``bad experiment spec: chunks=0 is out of range (accepted: an int in
        1..1000000)``; a value a rule refuses says so in the rule's words."""
        if not isinstance(values, dict):
            raise SpecError(
                f"bad experiment spec: {values!r} is not a mapping of field names to values "
                f"(accepted: a mapping of {', '.join(cls.model_fields)} to values)"
            )
        try:
            return cls(**values)
        except ValidationError as exc:
            settings: dict[str, Any] = {}
            for error in exc.errors():
                cause = error.get("ctx", {}).get("error")
                if isinstance(cause, SettingError):
                    settings.update(cause.settings)
            line = " ".join(cls._error_line(exc).split())  # a cause's message may span lines
            raise SpecError(f"bad experiment spec: {line}", settings=settings) from None

    @classmethod
    def _error_line(cls, exc: ValidationError) -> str:
        """The first error of `exc` as one line naming the value and what is accepted."""
        error = exc.errors()[0]
        loc = error["loc"]
        what = problem(error)
        if what is None or not loc:  # a rule's own message (it names the value and the range)
            return validation_line(exc)
        name = str(loc[0])
        if error["type"] == "extra_forbidden":
            return f"{name}={error['input']!r} {what} (accepted: {', '.join(cls.model_fields)})"
        if name not in cls.model_fields:
            return validation_line(exc)
        given = name if error["type"] == "missing" else f"{name}={_shown(name, error['input'])}"
        if len(loc) > 1:  # an entry of a mapping
            given = f"{name}[{loc[1]!r}]={error['input']!r}"
        return f"{given} {what} (accepted: {cls.accepted(name)})"

    def derive(self, **changes: Any) -> ExperimentSpec:
        """This spec with `changes` (field names to values), validated as `parse` validates
        (`SpecError`). Its ``database`` is this spec's as given, secrets included, which its
        dump (`model_dump`) masks: derive a spec from another this way, not from its dump."""
        return ExperimentSpec.parse({**self.model_dump(), "database": self.database, **changes})

    @property
    def row_engine(self) -> str:
        return self.engine if self.model == "durable" else "baseline"

    def latency_profile(self) -> LatencyProfile:
        """The named profile with this spec's `costs` applied."""
        profile = get_profile(self.profile)
        return with_calibration(profile, self.costs) if self.costs else profile

    def machine(self) -> Machine:
        """The profile's machine with this spec's `cores` and `concurrency_limit` applied."""
        machine = get_profile(self.profile).machine
        if self.cores is not None:
            machine = replace(machine, cores=self.cores)
        if self.concurrency_limit is not None:
            machine = replace(machine, concurrency_limit=self.concurrency_limit)
        return machine

    def prices_path(self) -> Path:
        """`prices` as a path: relative to the project root (`durable_sim.project.project_root`)
        unless absolute."""
        path = Path(self.prices).expanduser()
        return path if path.is_absolute() else project_root() / path

    def prices_sha256(self) -> str:
        """sha256 of the price table's file: its content, which the rows' costs depend on."""
        return hashlib.sha256(self.prices_path().read_bytes()).hexdigest()

    def price_table(self) -> PriceTable:
        """The price table at `prices_path` (`CostInputError`, a ValueError, if it is bad)."""
        return load_prices(self.prices_path())

    def lambda_memory_mb(self) -> int:
        """The Lambda memory (MB) the runs are priced at: `memory_mb`, else the default the
        field describes (from the machine's cores on a Lambda machine)."""
        if self.memory_mb is not None:
            return self.memory_mb
        machine = self.machine()
        return lambda_memory_mb(machine.cores) if machine.kind == "lambda" else MB_PER_VCPU


def _shown(name: str, value: Any) -> str:
    """`value` of field `name` for a message: its repr, a database's secrets masked."""
    return repr(redact(value)) if name == "database" and isinstance(value, str) else repr(value)


def run_seeds(seed: int, runs: int) -> list[int]:
    """One independent 32-bit seed per run, spawned from the experiment's seed."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(runs)]


def model_twin(
    spec: ExperimentSpec, *, cores: int, costs: dict[str, float] | None = None
) -> ExperimentSpec:
    """The model's prediction of a measured spec: the same workload, model, sizes, runs and
    seed on the virtual clock with our engine and the model encoder, on `cores` cores, with the
    calibrated `costs` (see `ExperimentSpec`). Raises `SpecError` for bad `cores` or `costs`."""
    return spec.derive(
        clock="virtual",
        engine="sim",
        encoder="model",
        cores=cores,
        costs=costs or {},
        warmup_runs=0,
        database="memory",
    )


def _make_clock(spec: ExperimentSpec) -> Clock:
    return VirtualClock() if spec.clock == "virtual" else WallClock()


def host_cores() -> int:
    """The cores this process may run on (its CPU affinity), as the OS reports them."""
    return len(os.sched_getaffinity(0))


def _row(
    spec: ExperimentSpec,
    workload: Workload,
    run_id: int,
    seed: int,
    values: RunValues,
    times: dict[str, float],
    load: float,
    prices: PriceTable,
) -> dict[str, Any]:
    machine = spec.machine()
    row: dict[str, Any] = {
        "run_id": run_id,
        "phase": workload.phase,
        "model": spec.model,
        "engine": spec.row_engine,
        "clock": spec.clock,
        "profile": spec.profile,
        "machine": machine.kind if spec.clock == "virtual" else "host",
        "cores": machine.cores if spec.clock == "virtual" else host_cores(),
        "load_1m": load,
        "seed": seed,
        **spec.options,
        **workload.labels(spec),
    }
    by_purpose = values.pop("by_purpose", {})
    unknown = sorted(set(by_purpose) - set(workload.store_purposes))
    if unknown:
        raise ValueError(
            f"workload {workload.name!r} counted store calls under undeclared purposes {unknown} "
            f"(declared: {list(workload.store_purposes)})"
        )
    row["time_ms"] = values.pop("time_ms")
    row["store_ops"] = sum(by_purpose.values())
    for purpose in workload.store_purposes:
        row[f"{STORE_OPS_PREFIX}{purpose}"] = by_purpose.get(purpose, 0)
    defaults = {"final_value": None, "output_digest": None}
    for column in REQUIRED_COLUMNS:  # the rest of the row schema the analysis reads, in order
        if column not in row and column not in TIME_COLUMNS:
            row[column] = values.get(column, defaults.get(column, 0))
    for component, column in zip(TIME_COMPONENTS, TIME_COLUMNS, strict=True):
        row[column] = times.get(component, math.nan)
    row["memory_mb"] = spec.lambda_memory_mb()
    for column in PRICED_COLUMNS:  # the usage the row does not carry yet: 0 if not reported
        if column not in row and column not in COST_COLUMNS:
            row[column] = values.get(column, 0)
    row.update(_costs(spec, row, prices))
    for column in workload.columns:  # the workload's own results, after the common columns
        if column in row:
            raise ValueError(
                f"workload {workload.name!r} reports column {column!r}, which its labels "
                "already set; rename one of them"
            )
        row[column] = values.get(column)
    return row


def _costs(spec: ExperimentSpec, row: dict[str, Any], prices: PriceTable) -> dict[str, float]:
    """The row's cost columns: NaN throughout if a usage value is unknown (None)."""
    if any(row[c] is None for c in USAGE_COLUMNS):
        return dict.fromkeys(COST_COLUMNS, math.nan)
    cost = run_cost(row, prices, memory_mb=row["memory_mb"], retention_days=spec.retention_days)
    return {
        **{cost_column(c): cost.components[c] for c in COST_COMPONENTS},
        "cost_usd": cost.total,
    }


def run_one(
    spec: ExperimentSpec,
    run_id: int,
    seed: int,
    session: Any = None,
    prices: PriceTable | None = None,
    storage: Storage = IN_MEMORY,
) -> dict[str, Any]:
    """One run of `spec` as a row (`session`: the workload's open session, see `Workload`;
    `prices`: the spec's price table, read here if not given; `storage`: the experiment's, see
    `durable_sim.storage`).

    Raises `RunFailedError` if the run failed although the spec injects no failures, and
    `WorkloadError` if the workload's runner raised (an error not of ours) or returned values
    that make no row (e.g. a ``time_ms`` that is no number).
    """
    workload = WORKLOADS[spec.workload]
    clock = _make_clock(spec)
    profile = spec.latency_profile()
    with storage.for_run() as run_storage:
        env = RunEnv(
            run_id=run_id,
            seed=seed,
            clock=clock,
            profile=profile,
            sampler=Sampler(profile, seed),
            machine=spec.machine().start(),
            session=session,
            options=workload.parse_options(spec.options),
            storage=run_storage,
        )
        load = math.nan if clock.virtual else os.getloadavg()[0]
        # A virtual-clock run's objects die with it, by reference counting (`collector_paused`);
        # a wall-clock run is measured as the host runs it.
        with (
            _blamed_on(spec.workload, "raised"),
            collector_paused() if clock.virtual else nullcontext(),
            traced(clock) as trace,
        ):
            values = workload.run(spec, env)
    with _blamed_on(spec.workload, "returned values that make no row"):
        return _row_of(spec, workload, run_id, seed, values, clock, trace, load, prices)


@contextmanager
def _blamed_on(name: str, what: str) -> Iterator[None]:
    """Turn an error that is not ours (`DurableSimError`) into a `WorkloadError` naming
    workload `name` and where it was registered."""
    try:
        yield
    except DurableSimError:
        raise
    except Exception as exc:
        origin = WORKLOADS.origin(name).describe()
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise WorkloadError(f"workload {name!r} ({origin}) {what}: {reason}") from exc


def _row_of(
    spec: ExperimentSpec,
    workload: Workload,
    run_id: int,
    seed: int,
    values: RunValues,
    clock: Clock,
    trace: Any,
    load: float,
    prices: PriceTable | None,
) -> dict[str, Any]:
    """The row of a run's `values` (see `run_one`)."""
    error = values.pop("error", None)
    if not values.get("ok", True) and spec.failure_probability == 0:
        raise RunFailedError(
            f"run {run_id} (seed {seed}) of {spec.workload}/{spec.model} on engine "
            f"{spec.row_engine!r} failed although the spec injects no failures "
            f"(failure_probability=0): {error or 'no reason reported'}"
        )
    times: dict[str, float] = {}
    if trace is not None:
        end = clock.now_ms()
        times = trace.breakdown(clock, end - values["time_ms"], end)
        values["billed_ms"] = values.get("billed_ms", 0) + math.ceil(trace.charged_ms("cold_start"))
    prices = spec.price_table() if prices is None else prices
    return _row(spec, workload, run_id, seed, values, times, load, prices)


def _warm_up(spec: ExperimentSpec, session: Any, storage: Storage) -> None:
    """Make the spec's warm-up runs (seeds after the runs' own) and discard their rows."""
    seeds = run_seeds(spec.seed, spec.runs + spec.warmup_runs)[spec.runs :]
    for index, seed in enumerate(seeds):
        run_one(spec, -1 - index, seed, session, storage=storage)


@dataclass(frozen=True)
class Registrations:
    """How a spawned worker process makes the registrations a spec names: its workload's and
    its latency profile's (`durable_sim.registry.Origin`; picklable).

    The parent takes them with `of` before any run; each worker calls `restore` before its
    first run (re-importing the registering modules, loading entry points).
    """

    workload: str
    workload_origin: Origin
    profile: str
    profile_origin: Origin

    @classmethod
    def of(cls, spec: ExperimentSpec) -> Registrations:
        """`spec`'s registrations; `durable_sim.registry.RegistryError` (saying what to do) if
        either was made where no worker can repeat it (a notebook cell, a function body)."""
        return cls(
            spec.workload,
            WORKLOADS.for_workers(spec.workload),
            spec.profile,
            PROFILES.for_workers(spec.profile),
        )

    def restore(self) -> None:
        """Make both registrations in this process (nothing to do where they exist);
        `durable_sim.registry.RegistryError` if that does not register them."""
        WORKLOADS.restore(self.workload, self.workload_origin)
        PROFILES.restore(self.profile, self.profile_origin)


_Shared = tuple[ExperimentSpec, str, Storage, Registrations | None]
_State = tuple[ExperimentSpec, Any, PriceTable, Storage]


@contextmanager
def _session(shared: _Shared) -> Iterator[_State]:
    """One process's open workload session and price table, after the spec's registrations are
    restored (in a worker) and its warm-up runs are made."""
    spec, scratch, storage, registrations = shared
    if registrations is not None:
        registrations.restore()
    with WORKLOADS[spec.workload].session(spec, Path(scratch)) as session:
        _warm_up(spec, session, storage)
        yield spec, session, spec.price_table(), storage


def _run_item(state: _State, item: tuple[int, int]) -> dict[str, Any]:
    spec, session, prices, storage = state
    run_id, seed = item
    return run_one(spec, run_id, seed, session, prices, storage)


def run_experiment(
    spec: ExperimentSpec,
    *,
    jobs: int = 1,
    progress: Progress = None,
    blob_root: str | Path | None = None,
    storage: Storage | None = None,
) -> pd.DataFrame:
    """Run every run of `spec`; one row per run, ordered by run id.

    `jobs` (1..256) is the most processes to use, this one included
    (`durable_sim.dispatch.map_chunked`): an experiment shorter than a few worker start-ups
    runs here alone, a longer one goes to spawned workers in chunks as each becomes ready, each
    process with its own workload session and warm-up runs; rows do not depend on `jobs`.
    `progress`: None/False (default) shows nothing, True a `tqdm.auto` bar, a callable is called
    with the number of runs just finished. `blob_root` is the workload's scratch directory (a
    temporary one by default). `storage` is where the runs keep their state, opened for
    ``spec.database`` (`durable_sim.storage.open_storages`; by default opened here, e.g. a
    Postgres server started for this experiment).

    Raises `SpecError` for a bad `jobs`; a run that fails although the spec injects no failures
    stops the experiment with `RunFailedError`; with ``jobs > 1``, before any run,
    `durable_sim.registry.RegistryError` if the spec's workload or profile was registered where
    worker processes cannot make it again (`Registrations.of`; e.g. in a notebook cell: run with
    ``jobs=1``, or register it in a module).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise SpecError(f"bad jobs={jobs!r} (accepted: an int in 1..{MAX_JOBS})")
    registrations = Registrations.of(spec) if jobs > 1 else None
    items = list(enumerate(run_seeds(spec.seed, spec.runs)))
    description = f"{spec.workload}/{spec.model}"
    with (
        tempfile.TemporaryDirectory(prefix="durable-sim-blobs-") as tmp,
        open_storages([] if storage else [spec.database], Path(tmp)) as opened,
        progress_reporter(progress, total=spec.runs, description=description) as report,
    ):
        shared = (spec, str(blob_root or tmp), storage or opened[spec.database], registrations)
        rows = map_chunked(_run_item, shared, items, jobs=jobs, progress=report, context=_session)
    frame = pd.DataFrame(rows).sort_values("run_id", kind="stable").reset_index(drop=True)
    return frame


def run_experiments(
    specs: Iterable[ExperimentSpec],
    *,
    jobs: int = 1,
    progress: Progress = None,
    storages: Mapping[str, Storage] | None = None,
) -> pd.DataFrame:
    """Several specs' rows stacked, with run ids renumbered to stay unique (one progress bar per
    spec with ``progress=True``). Specs that name one database share its storage (`storages`
    by database name, else opened here for all of them: one Postgres server for the lot)."""
    specs = list(specs)
    frames = []
    offset = 0
    with (
        tempfile.TemporaryDirectory(prefix="durable-sim-storage-") as tmp,
        open_storages([] if storages else [s.database for s in specs], Path(tmp)) as opened,
    ):
        for spec in specs:
            storage = (storages or opened)[spec.database]
            frame = run_experiment(spec, jobs=jobs, progress=progress, storage=storage)
            frame["run_id"] += offset
            offset += len(frame)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def code_digest() -> str:
    """sha256 over the package's source files: which code produced a data file.

    Used instead of the git revision, which a committed data file cannot name for the commit
    that contains it; the digest is stable from a file's generation to its commit.
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _module_digest(module: str) -> str | None:
    """sha256 of an imported module's source file; None if it has none (``__main__`` of a
    notebook or of ``python -c``) or is not imported."""
    path = getattr(sys.modules.get(module), "__file__", None)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def extension_provenance(specs: Iterable[BaseModel]) -> list[dict[str, Any]]:
    """The registered workloads and latency profiles `specs` name (their ``workload`` and
    ``profile`` fields, where a spec has them) that are not built in, which
    `code_digest` (the package's own source) does not cover: one entry per (kind, name), in
    first-use order, with ``origin`` (`durable_sim.registry.Origin.describe`: the module, or the
    installed package and its version) and ``source_sha256``, the sha256 of the registering
    module's source file (None for an entry point, whose package version names it, and for a
    registration made where no import repeats it: a notebook cell, an interactive session, a
    function)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for spec in specs:
        for kind, registry, name in (
            ("workload", WORKLOADS, getattr(spec, "workload", None)),
            ("latency profile", PROFILES, getattr(spec, "profile", None)),
        ):
            if not isinstance(name, str) or name not in registry or (kind, name) in found:
                continue
            origin = registry.origin(name)
            if origin.kind == "builtin":
                continue
            found[kind, name] = {
                "kind": kind,
                "name": name,
                "origin": origin.describe(),
                "source_sha256": (
                    _module_digest(origin.module) if origin.kind == "module" else None
                ),
            }
    return list(found.values())


#: The installed packages whose versions a data file's provenance records.
PROVENANCE_PACKAGES: tuple[str, ...] = (
    "durable-sim",
    "aws-durable-execution-sdk-python",
    "aws-durable-execution-sdk-python-testing",
    "av",
    "numpy",
    "pandas",
    "scipy",
    "pydantic",
)


def environment_record() -> dict[str, Any]:
    """The part of a data file's provenance that does not depend on its specs: ``python``
    (major.minor), ``packages`` (name -> installed version, `PROVENANCE_PACKAGES`) and
    ``code_sha256`` (`code_digest`).

    It reads every source file of the package and each package's metadata (tens of
    milliseconds): a caller saving many files from one process (a sweep's points) computes it
    once and passes it to `provenance` or `save_rows`.
    """
    return {
        # major.minor only: the lock installs on every 3.11.x and the outputs do not depend on
        # the patch release, so recording it would make committed files differ between them.
        "python": ".".join(map(str, sys.version_info[:2])),
        "packages": {name: metadata.version(name) for name in PROVENANCE_PACKAGES},
        "code_sha256": code_digest(),
    }


def provenance(
    specs: Iterable[ExperimentSpec], environment: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What produced a data file: specs (as written down: a ``database`` DSN with its secrets
    masked), seeds, the sha256 of each price table they name, package versions, code digest,
    Python x.y (`environment`: an `environment_record` made in this process, by default made
    here), and the user code of registered extensions
    (``extensions``: `extension_provenance`; the key is present only when a spec names one).

    The full interpreter version and every installed package are in the reproduce driver's run
    log (``logs/reproduce.json``, not committed).
    """
    specs = list(specs)
    extensions = extension_provenance(specs)
    return {
        "specs": [spec.model_dump() for spec in specs],
        # what each price table held: a spec names its table by path, the rows depend on content
        "prices_sha256": {
            spec.prices: spec.prices_sha256() for spec in specs if isinstance(spec, ExperimentSpec)
        },
        **(environment_record() if environment is None else environment),
        **({"extensions": extensions} if extensions else {}),
    }


def check_rows_path(path: str | Path) -> Path:
    """Check that run rows can be saved at `path`, before any run: a ``.csv`` name in an existing,
    writable directory, with neither it nor its ``.meta.json`` sidecar a directory.

    Raises `OutputPathError` (a `SpecError`: one line naming the path and what is accepted).
    """
    return check_output_file(path, ".csv")


def save_rows(
    rows: pd.DataFrame,
    specs: Iterable[ExperimentSpec],
    path: str | Path,
    *,
    environment: Mapping[str, Any] | None = None,
    fsync: bool = True,
    commit_if: Callable[[], bool] | None = None,
) -> Path:
    """Publish `rows` as CSV with its ``.meta.json`` provenance sidecar (`provenance`, with
    `environment` if given): floats as ``%.6f``, except dollars (columns ending ``_usd``), which
    a run spends in millionths, with six significant digits (``%.6g``).

    The pair is published as one (`durable_sim.files.publish_pair`, with its `fsync` and
    `commit_if`: `durable_sim.files.PublishWithdrawnError` if that says no at the commit
    point): a reader sees the old pair or the new one, and the sidecar records the CSV's sha256
    and size. Raises `OutputPathError` if `path` fails `check_rows_path`; nothing is written
    then.
    """
    path = check_rows_path(path)
    dollars = [c for c in rows.columns if str(c).endswith("_usd")]
    frame = rows.assign(
        **{c: rows[c].map(lambda v: "" if pd.isna(v) else f"{v:.6g}") for c in dollars}
    )
    csv = frame.to_csv(index=False, float_format="%.6f", lineterminator="\n").encode()
    return publish_pair(path, csv, provenance(specs, environment), fsync=fsync, commit_if=commit_if)


def load_specs(path: str | Path) -> list[ExperimentSpec]:
    """The specs that made the rows saved at `path` (its sidecar's, `save_rows`), validated.

    Raises `SidecarMismatchError` if the pair does not match and `SpecError` if a recorded spec
    is not valid today."""
    _, meta = read_pair(path)
    return [ExperimentSpec.parse(spec) for spec in meta["specs"]]


def load_rows(path: str | Path) -> pd.DataFrame:
    """Rows saved by `save_rows`, after checking the CSV against its sidecar's sha256 and size.

    Raises `SidecarMismatchError` if the pair does not match (see `durable_sim.files.read_pair`).
    """
    data, _ = read_pair(path)
    return pd.read_csv(io.BytesIO(data))
