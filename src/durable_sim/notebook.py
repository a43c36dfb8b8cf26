"""Notebook plumbing: each notebook's parameters, checked one way, and where it reads and writes.

Every notebook declares its parameters twice on purpose: in its ``parameters`` cell (what
papermill injects into and ``papermill --help-notebook`` lists) and here, as a pydantic model
that types and bounds them. A test keeps the two in step (same names, same defaults). The
reproduce driver checks each file of a parameter set (``params/<set>/<notebook>.yaml``) against
the same model before it runs anything, so a typo is an error naming the key and the notebook,
never a value silently dropped. Notebook 05's parameters are the report's
(`durable_sim.report.ReportSpec`), so that notebook and ``durable-sim report`` cannot drift.

Types follow `durable_sim.parameters` (strict; an int parameter takes an integral float and
becomes an int; booleans are not numbers); ranges are the ones the parameters cell states, and
an error's accepted range is rendered from the same constraint.

Outputs go under one root, whatever the working directory (`durable_sim.project.project_root`):
the ``output_root`` parameter when given (an absolute path), else ``DURABLE_SIM_ROOT`` (the
reproduce driver points it at its scratch tree), else the checkout this package is installed
from. A notebook reads and writes only through ``project = params.paths().ensure()``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from durable_sim.cost import DEFAULT_RETENTION_DAYS, MEMORY_RANGE_MB, RETENTION_RANGE_DAYS
from durable_sim.dsn import redact
from durable_sim.errors import SpecError
from durable_sim.parameters import Int, Names, PollInterval, Probability, Runs, Seed, accepted
from durable_sim.project import ProjectPaths, installed_checkout, project_root
from durable_sim.report import ReportSpec
from durable_sim.storage import check_database


class ParameterError(SpecError):
    """A bad notebook parameter or parameter file: one line naming the notebook, key and range."""


#: A number of concurrent actor clients: 1..1024 (`durable_sim.workloads.actor.ActorSpec`).
Clients = Annotated[Int, Field(ge=1, le=1024)]
#: A mean think time in ms: 0..1 hour (`ActorSpec.think_ms`).
ThinkMs = Annotated[float, Field(ge=0.0, le=3_600_000.0)]
#: Messages per actor client: 1..100000 (`ActorSpec.messages`).
Messages = Annotated[Int, Field(ge=1, le=100_000)]
#: Discarded warm-up runs before each spec: 0..100 (`ExperimentSpec.warmup_runs`).
WarmupRuns = Annotated[Int, Field(ge=0, le=100)]
#: Where runs keep their state (`ExperimentSpec.database`, `durable_sim.storage`).
Database = Annotated[str, AfterValidator(check_database)]


class NotebookParameters(BaseModel):
    """Base of the per-notebook parameter models: strict types, no unknown keys, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    #: The notebook's file stem, e.g. ``"01_counter"``.
    notebook: ClassVar[str]

    output_root: str = ""

    @classmethod
    def check(cls, values: Mapping[str, object]) -> Self:
        """Validate `values` (parameter name -> value); missing ones take their defaults.

        Raises `ParameterError` with one line: the notebook, the first bad key, its value and
        the accepted range (or, for an unknown key, the accepted names).
        """
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                raise ParameterError(
                    f"{cls.notebook}: unknown parameter {key!r} "
                    f"(accepted: {', '.join(cls.model_fields)})"
                ) from None
            field = cls.model_fields[str(err["loc"][0])]
            given = err["input"]
            shown = repr(redact(given)) if isinstance(given, str) else repr(given)
            raise ParameterError(
                f"{cls.notebook}: bad parameter {key}={shown}: {err['msg']} "
                f"(accepted: {accepted(field)})"
            ) from None

    @classmethod
    def bind(cls, namespace: MutableMapping[str, Any]) -> Self:
        """Validate the notebook's parameters found in `namespace` (its ``globals()``) and
        rebind each to its validated value (an integral float becomes an int)."""
        params = cls.check(
            {name: namespace[name] for name in cls.model_fields if name in namespace}
        )
        namespace.update(params.model_dump())
        return params

    def paths(self) -> ProjectPaths:
        """Where this notebook reads and writes, under `project_root(self.output_root)`."""
        return ProjectPaths(project_root(self.output_root))

    def values(self) -> dict[str, Any]:
        """The parameters except ``output_root``, by name (what `durable_sim.study` reads)."""
        return self.model_dump(exclude={"output_root"})

    def summary(self) -> str:
        """One line: the values in use (a ``database`` DSN without its secrets,
        `durable_sim.dsn.redact`) and where outputs go (no machine-specific path)."""
        values = self.values()
        if isinstance(values.get("database"), str):
            values["database"] = redact(values["database"])
        shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
        where = self.output_root or "the project root"
        return f"{self.notebook}: {shown}; outputs under {where}"


class CounterParameters(NotebookParameters):
    """`01_counter`: the stateful counter in both models, per latency scenario (Table 1's runs),
    and the model's prediction of the measured runs."""

    notebook: ClassVar[str] = "01_counter"

    counter_runs: Runs = 10
    profile: str = Field("paper-local", min_length=1)
    other_profiles: Names = ("aws-lambda",)
    clock: Literal["virtual", "wall"] = "virtual"
    engine: Literal["sim", "aws-local"] = "sim"
    seed: Seed = 0
    warmup_runs: WarmupRuns = 0
    database: Database = "memory"


class VideoParameters(NotebookParameters):
    """`02_video_pipeline`: the video pipeline in both models per latency scenario (Table 2's
    runs), the model's prediction of the measured runs, the polling design space, sweeps and
    failures."""

    notebook: ClassVar[str] = "02_video_pipeline"

    chunks: Int = Field(10, ge=1, le=300)
    runs_durable: Runs = 10
    runs_baseline: Runs = 20
    profile: str = Field("paper-local", min_length=1)
    other_profiles: Names = ("aws-lambda",)
    clock: Literal["virtual", "wall"] = "virtual"
    engine: Literal["sim", "aws-local"] = "sim"
    encoder: Literal["model", "real"] = "model"
    workers: Int = Field(1, ge=1, le=64)
    failure_probability: Probability = 0.0
    poll_interval_ms: PollInterval = 100.0
    seed: Seed = 0
    fanout: Literal["map", "sequential"] = "map"
    poll_sweep_ms: list[PollInterval] = Field([25.0, 50.0, 100.0, 200.0, 400.0], min_length=1)
    sweep_runs: Runs = 5
    failure_sweep: Probability = 0.1
    failure_runs: Runs = 20
    warmup_runs: WarmupRuns = 0
    database: Database = "memory"


class StatisticsParameters(NotebookParameters, ReportSpec):
    """`05_figure_and_statistics`: the report's parameters (`ReportSpec`'s fields, and an
    instance is a `ReportSpec`), plus ``output_root``."""

    notebook: ClassVar[str] = "05_figure_and_statistics"


class ActorParameters(NotebookParameters):
    """`03_actor_semantics`: one counter actor under concurrent clients in both models
    (`durable_sim.workloads.actor`), its journal growth, and the cost model."""

    notebook: ClassVar[str] = "03_actor_semantics"

    actor_clients: list[Clients] = Field([1, 2, 4, 8, 16, 64], min_length=1)
    actor_messages: Messages = 5
    actor_profile: str = Field("aws-lambda", min_length=1)
    actor_think_ms: ThinkMs = 100.0
    growth_messages: Messages = 200
    growth_think_ms: ThinkMs = 1000.0
    seed: Seed = 0
    memory_mb: Int = Field(1769, ge=MEMORY_RANGE_MB[0], le=MEMORY_RANGE_MB[1])
    retention_days: Int = Field(
        DEFAULT_RETENTION_DAYS, ge=RETENTION_RANGE_DAYS[0], le=RETENTION_RANGE_DAYS[1]
    )
    prices_file: str = Field("data/prices/aws-us-east-1.yaml", min_length=1)

    def prices_path(self) -> Path:
        """`prices_file`, relative to the project root unless absolute."""
        path = Path(self.prices_file).expanduser()
        return path if path.is_absolute() else self.paths().root / path


class TutorialParameters(NotebookParameters):
    """`90_your_own_workload`: the tutorial's order saga (``examples/order_saga.py``, a user's
    workload registered as ``order-saga``) in both models, compared run by run. The
    probabilities are the saga's options (``SagaOptions``: a card declined and a shipment
    rejected in [0, 1], one attempt of a service call failing transiently in [0, 0.9])."""

    notebook: ClassVar[str] = "90_your_own_workload"

    saga_runs: Runs = 40
    profile: str = Field("paper-local", min_length=1)
    seed: Seed = 0
    decline_probability: float = Field(0.2, ge=0.0, le=1.0)
    reject_probability: float = Field(0.2, ge=0.0, le=1.0)
    transient_probability: float = Field(0.2, ge=0.0, le=0.9)


#: A sweep file's path: relative to the project root unless absolute.
SweepFile = Annotated[str, Field(min_length=1)]


class SensitivityParameters(NotebookParameters):
    """`04_sensitivity`: sweeps over chunks, failure probability, poll interval and cores, both
    models and both latency scenarios, run through `durable_sim.sweeps` (the files say what
    runs: the canonical ones are the coarse grids in ``params/sweeps/coarse/``, the full ones
    ``params/sweeps/sensitivity_*.yaml``); their trend tests (`durable_sim.analysis.
    sensitivity`); and the cost of the canonical counter and video runs of one scenario."""

    notebook: ClassVar[str] = "04_sensitivity"

    chunks_sweep: SweepFile = "params/sweeps/coarse/sensitivity_chunks.yaml"
    failures_sweep: SweepFile = "params/sweeps/coarse/sensitivity_failures.yaml"
    polling_sweep: SweepFile = "params/sweeps/coarse/sensitivity_polling.yaml"
    cores_sweep: SweepFile = "params/sweeps/coarse/sensitivity_cores.yaml"
    sweep_workers: Int = Field(1, ge=1, le=64)
    stats_seed: Seed = 0
    n_resamples: Int = Field(2000, ge=100, le=10_000_000)
    level: float = Field(0.95, gt=0.0, lt=1.0)
    cost_profile: str = Field("aws-lambda", min_length=1)

    def sweep_paths(self) -> dict[str, Path]:
        """The sweep files by sweep name (``chunks``, ``failures``, ``polling``, ``cores``).

        A relative path is an input of the project: taken from the output root if it holds
        the file, else from the checkout the package is installed from (so a notebook run into
        a fresh ``output_root`` reads the project's committed sweep files)."""
        root = self.paths().root
        checkout = installed_checkout()
        files = {
            "chunks": self.chunks_sweep,
            "failures": self.failures_sweep,
            "polling": self.polling_sweep,
            "cores": self.cores_sweep,
        }

        def resolve(path: Path) -> Path:
            if path.is_absolute() or (root / path).is_file() or checkout is None:
                return path if path.is_absolute() else root / path
            return checkout / path

        return {name: resolve(Path(f).expanduser()) for name, f in files.items()}


#: Every parameterized notebook's model, by notebook file stem.
NOTEBOOK_PARAMETERS: dict[str, type[NotebookParameters]] = {
    cls.notebook: cls
    for cls in (
        CounterParameters,
        VideoParameters,
        ActorParameters,
        SensitivityParameters,
        StatisticsParameters,
        TutorialParameters,
    )
}


def check_parameters(notebook: str, values: Mapping[str, object]) -> NotebookParameters:
    """`values` validated for `notebook` (a file stem); `ParameterError` names what is wrong."""
    if notebook not in NOTEBOOK_PARAMETERS:
        raise ParameterError(
            f"no parameterized notebook {notebook!r} (accepted: {', '.join(NOTEBOOK_PARAMETERS)})"
        )
    return NOTEBOOK_PARAMETERS[notebook].check(values)
