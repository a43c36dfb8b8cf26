"""Notebook plumbing: each notebook's parameters, checked one way, and the project's output paths.

Every notebook declares its parameters twice on purpose: in its ``parameters`` cell (what
papermill injects into and ``papermill --help-notebook`` lists) and here, as a pydantic model
that types and bounds them. A test keeps the two in step (same names, same defaults). The
reproduce driver checks a parameter file against the same model before it runs anything, so a
typo is an error naming the key and the notebook, never a value silently dropped.

One rule for every parameter: an int parameter accepts an int or an integral float (``2.0``,
``1e4`` as papermill's ``-p`` parses it) and becomes an int; a float parameter accepts an int
or a float; booleans are neither; strings are not numbers. Ranges are the ones the parameters
cell states.

Outputs go under one root, whatever the working directory: the ``output_root`` parameter when
given (an absolute path), else the ``DURABLE_SIM_ROOT`` environment variable (the reproduce
driver points it at its scratch tree), else the checkout this package is installed from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

#: Environment variable naming the output root when the notebook's ``output_root`` is empty.
ROOT_ENV = "DURABLE_SIM_ROOT"
#: The distribution name that marks a checkout's ``pyproject.toml`` as this project's.
PROJECT_NAME = "durable-sim"


class ParameterError(ValueError):
    """A bad notebook parameter or parameter file: one line naming the notebook, key and range."""


class ProjectRootError(ValueError):
    """The output root cannot be found or is not usable; the message says what to set."""


def _integral(value: object) -> object:
    """An integral float (2.0, 1e4) as an int; anything else unchanged for the strict check."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An int parameter: an int or an integral float; never a bool or a string (strict mode).
Int = Annotated[int, BeforeValidator(_integral)]
#: A seed: an int in 0..2**32-1 (numpy's SeedSequence takes any; the spec stores 32 bits).
Seed = Annotated[Int, Field(ge=0, le=2**32 - 1)]
#: A run count: 1..1,000,000.
Runs = Annotated[Int, Field(ge=1, le=1_000_000)]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
PollInterval = Annotated[float, Field(gt=0.0, le=3_600_000.0)]


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
            accepted = cls.model_fields[str(err["loc"][0])].description or ""
            raise ParameterError(
                f"{cls.notebook}: bad parameter {key}={err['input']!r}: {err['msg']}"
                + (f" (accepted: {accepted})" if accepted else "")
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

    def summary(self) -> str:
        """One line: the values in use and where outputs go (no machine-specific path)."""
        shown = ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items() if k != "output_root")
        where = self.output_root or "the project root"
        return f"{self.notebook}: {shown}; outputs under {where}"


class CounterParameters(NotebookParameters):
    """`01_counter`: the stateful counter in both models (Table 1's runs)."""

    notebook: ClassVar[str] = "01_counter"

    counter_runs: Runs = Field(10, description="an int in 1..1000000")
    profile: str = Field("paper-local", description="a latency profile name")
    clock: Literal["virtual", "wall"] = Field("virtual", description="'virtual' or 'wall'")
    engine: Literal["sim", "aws-local"] = Field("sim", description="'sim' or 'aws-local'")
    seed: Seed = Field(0, description="an int in 0..4294967295")


class VideoParameters(NotebookParameters):
    """`02_video_pipeline`: the video pipeline in both models (Table 2's runs and sweeps)."""

    notebook: ClassVar[str] = "02_video_pipeline"

    chunks: Int = Field(10, ge=1, le=300, description="an int in 1..300")
    runs_durable: Runs = Field(10, description="an int in 1..1000000")
    runs_baseline: Runs = Field(20, description="an int in 1..1000000")
    profile: str = Field("paper-local", description="a latency profile name")
    clock: Literal["virtual", "wall"] = Field("virtual", description="'virtual' or 'wall'")
    engine: Literal["sim", "aws-local"] = Field("sim", description="'sim' or 'aws-local'")
    encoder: Literal["model", "real"] = Field("model", description="'model' or 'real'")
    workers: Int = Field(1, ge=1, le=64, description="an int in 1..64")
    failure_probability: Probability = Field(0.0, description="a number in [0, 1)")
    poll_interval_ms: PollInterval = Field(100.0, description="a number in (0, 3600000]")
    seed: Seed = Field(0, description="an int in 0..4294967295")
    fanout: Literal["map", "sequential"] = Field("map", description="'map' or 'sequential'")
    poll_sweep_ms: list[PollInterval] = Field(
        [25.0, 50.0, 100.0, 200.0, 400.0],
        min_length=1,
        description="a non-empty list of numbers in (0, 3600000]",
    )
    sweep_runs: Runs = Field(5, description="an int in 1..1000000")
    failure_sweep: Probability = Field(0.1, description="a number in [0, 1)")
    failure_runs: Runs = Field(20, description="an int in 1..1000000")


class StatisticsParameters(NotebookParameters):
    """`03_figure_and_statistics`: Figure 1, the statistics and every table, from the rows."""

    notebook: ClassVar[str] = "03_figure_and_statistics"

    stats_seed: Seed = Field(0, description="an int in 0..4294967295")
    n_resamples: Int = Field(10_000, ge=100, le=10_000_000, description="an int in 100..10000000")
    level: float = Field(0.95, gt=0.0, lt=1.0, description="a number in (0, 1)")
    strong_rho: float = Field(0.7, gt=0.0, le=1.0, description="a number in (0, 1]")


#: Every parameterized notebook's model, by notebook file stem.
NOTEBOOK_PARAMETERS: dict[str, type[NotebookParameters]] = {
    cls.notebook: cls for cls in (CounterParameters, VideoParameters, StatisticsParameters)
}


def check_parameters(notebook: str, values: Mapping[str, object]) -> NotebookParameters:
    """`values` validated for `notebook` (a file stem); `ParameterError` names what is wrong."""
    if notebook not in NOTEBOOK_PARAMETERS:
        raise ParameterError(
            f"no parameterized notebook {notebook!r} (accepted: {', '.join(NOTEBOOK_PARAMETERS)})"
        )
    return NOTEBOOK_PARAMETERS[notebook].check(values)


def _is_project(root: Path) -> bool:
    try:
        meta = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return bool(meta.get("project", {}).get("name") == PROJECT_NAME)


def installed_checkout() -> Path | None:
    """The checkout this package is installed from (editable install), or None."""
    root = Path(__file__).resolve().parents[2]
    return root if _is_project(root) else None


def project_root(output_root: str | Path = "") -> Path:
    """The directory holding ``data/``, ``figures/`` and ``paper/``, independent of the cwd.

    `output_root` if given, else ``$DURABLE_SIM_ROOT``, else `installed_checkout()`. An explicit
    root must be an absolute path. Raises `ProjectRootError` when none applies.
    """
    for value, source in ((output_root, "output_root"), (os.environ.get(ROOT_ENV, ""), ROOT_ENV)):
        if str(value):
            path = Path(value).expanduser()
            if not path.is_absolute():
                raise ProjectRootError(
                    f"bad {source}={str(value)!r}: an absolute path is needed, so the result "
                    "does not depend on the working directory"
                )
            return path
    checkout = installed_checkout()
    if checkout is None:
        raise ProjectRootError(
            f"durable_sim is installed outside a {PROJECT_NAME} checkout "
            f"({Path(__file__).resolve().parent}); "
            f"set output_root or {ROOT_ENV} to an absolute path"
        )
    return checkout


@dataclass(frozen=True)
class ProjectPaths:
    """The generated-output directories of a project root (inputs of later notebooks too)."""

    root: Path

    #: The notebooks' output directories, relative to the root.
    OUTPUT_DIRS: ClassVar[tuple[str, ...]] = ("data/experiments", "figures", "paper/generated")

    @property
    def data(self) -> Path:
        """Run rows: ``<root>/data/experiments/*.csv`` with ``.meta.json`` sidecars."""
        return self.root / "data" / "experiments"

    @property
    def figures(self) -> Path:
        """Figures: ``<root>/figures/*.{pdf,svg,png}``."""
        return self.root / "figures"

    @property
    def tables(self) -> Path:
        """Generated tables the paper reads: ``<root>/paper/generated/*.{csv,tex,md}``."""
        return self.root / "paper" / "generated"

    def ensure(self) -> ProjectPaths:
        """Create the output directories and check each is writable, before any work is done.

        Raises `ProjectRootError` naming the first directory that cannot be used.
        """
        for rel in self.OUTPUT_DIRS:
            path = self.root / rel
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ProjectRootError(f"cannot create output directory {path}: {exc}") from None
            if not os.access(path, os.W_OK | os.X_OK):
                raise ProjectRootError(f"output directory {path} is not writable")
        return self
