"""The package's error hierarchy: one root for every error of ours, one for interrupts.

``except DurableSimError`` catches every error this package raises on its own account, whatever
layer it comes from; the concrete classes also keep the built-in base a caller would expect
(`SpecError` is a `ValueError`, `NonDeterminismError` is the AWS SDK's
`NonDeterministicExecutionError`), so existing ``except ValueError`` code keeps working.

Simulated crashes are not errors: they derive from `DurableSimInterrupt`, a `BaseException`,
so that workflow code's ``except Exception`` cannot swallow them (the same split as DBOS
Transact's exception and base-exception roots).

Where each error lives (each layer defines its own, under these roots)::

    DurableSimError
    ├── SpecError                   a bad experiment spec or option (here)
    │   ├── notebook                ParameterError (a bad notebook parameter or parameter file)
    │   ├── storage                 DatabaseUnreachableError (a database URL out of reach)
    │   ├── analysis.schema         MissingInputError (an input file the report needs is absent)
    │   └── sweeps                  SweepError (a bad sweep), LockFileError (a lock file that
    │                               is no regular file, a filesystem without locks)
    ├── sweeps                      PointFailedError (a grid point's run failed, not as bad
    │                               usage: a workload's error, a bug)
    ├── SettingError                a spec value another setting would make right, raised in a
    │                               spec's validator with that remedy (here)
    ├── FaultPlanError              a bad fault plan, or a SIGKILL asked for outside a dedicated
    │                               subprocess (here)
    ├── StorageUnavailableError     where runs keep their state cannot be used now: a server out
    │   │                           of reach or silent, a full disk, a lock held too long (here)
    │   ├── durable.errors          JournalUnavailableError (the journal's, also a JournalError)
    │   └── baseline                StoreUnavailableError (the baseline's key-value store)
    ├── OutputError                 output files (here)
    │   ├── OutputPathError         an unusable output path, found before any work is done
    │   │   └── project             ProjectRootError (no usable project root)
    │   ├── SidecarMismatchError    a data file that does not match its provenance sidecar
    │   └── files                   PublishWithdrawnError (a publish its writer withdrew at the
    │                               commit point: nothing published)
    ├── durable.errors              NonDeterminismError, CheckpointTooLargeError,
    │                               ExecutionInputMismatchError, ExecutionBusyError (a live
    │                               lease: nothing ran), JournalError (the journal failed: the
    │                               invocation stops, no outcome recorded) and its kinds
    │                               JournalCorruptError, JournalPathError,
    │                               JournalUnavailableError (above), LeaseLostError,
    │                               OperationClosedError, ExecutionClosedError
    ├── durable.runtime             TooManyInvocationsError
    ├── baseline                    ConditionalCheckFailed (store), RetriesExhausted (retry),
    │                               PollTimeout (polling; also a TimeoutError)
    ├── dispatch                    WorkerError (a worker process died holding runs)
    ├── registry                    RegistryError (a bad registration, a broken entry point, a
    │                               registration workers cannot repeat), UnknownNameError
    ├── faults                      InjectedFault (an injected step failure)
    ├── machine                     SlotsExhausted (every slot held by a running invocation)
    ├── attribution                 AttributionError (a run's time cannot be split)
    ├── workloads                   ActorSpecError, ActorFailedError (actor),
    │                               TransientEncodeError (encoders; an injected failure)
    ├── video.errors                VideoError and its kinds
    ├── cost                        CostInputError (a bad price table, memory size or row)
    ├── pgcluster                   PostgresNotFound, ClusterError (a throwaway PostgreSQL)
    └── analysis.schema             AnalysisInputError (rows the analysis cannot use)
    DurableSimInterrupt (BaseException)
    └── faults.SimulatedCrash

Control-flow signals are not errors and stay outside both roots: the engine's ``Suspend``,
the discrete-event kernel's cancellation and the actor's private retry signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class DurableSimError(Exception):
    """Base class of every error durable-sim raises on its own account.

    It adds no state, so subclasses can also derive from the SDK's or the built-in exception
    types (cooperative ``__init__``). Messages are one line naming the bad value and, where
    there is one, the accepted range.
    """


class DurableSimInterrupt(BaseException):
    """Base class of the package's interrupts: signals that must unwind through user code.

    A `BaseException` (like `KeyboardInterrupt`) so that ``except Exception`` in workflow code
    cannot catch it by accident.
    """


class FaultPlanError(DurableSimError, ValueError):
    """A bad fault plan: a value out of range, or a real SIGKILL asked for in a process that
    is not a dedicated subprocess."""


class SpecError(DurableSimError, ValueError):
    """A bad experiment spec or option; the message is one line naming the value and the
    accepted range. `settings` (field name -> value) are the settings its message proposes, as
    a spec writes them (`spec_settings`: ``clock='wall'``); `command_line_message` is the
    message with them as a command line's options (``--clock wall``)."""

    def __init__(self, message: str, *, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.settings: Mapping[str, Any] = dict(settings or {})

    def command_line_message(self) -> str:
        """The message, its proposed settings written as options (`option_settings`)."""
        text = str(self)
        if not self.settings:
            return text
        return text.replace(spec_settings(self.settings), option_settings(self.settings))


class SettingError(DurableSimError, ValueError):
    """Raised by a spec's validator for a value that another setting would make right; its
    `settings` (field name -> value) are that remedy, its message writes them as a spec does
    (`spec_settings`). The spec's `parse` hands them on in its `SpecError`."""

    def __init__(self, message: str, settings: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.settings: Mapping[str, Any] = dict(settings)


def spec_settings(settings: Mapping[str, Any]) -> str:
    """Settings as a spec (a dict, a YAML file, a notebook's parameters) writes them:
    ``clock='wall'``, several separated by ", "."""
    return ", ".join(f"{name}={value!r}" for name, value in settings.items())


def option_settings(settings: Mapping[str, Any]) -> str:
    """Settings as the command line's options: ``--clock wall``, several separated by " "."""
    return " ".join(f"--{name.replace('_', '-')} {value}" for name, value in settings.items())


class WorkloadError(DurableSimError):
    """A workload's runner raised, or returned values that make no row; the message names the
    workload, where it was registered and the error, in one line."""


class StorageUnavailableError(DurableSimError):
    """Where runs keep their state (a durable journal, a baseline store) cannot be used now, for
    a reason of the machine rather than of the code or the data: a database server out of reach
    or silent past its deadline, a full disk, an I/O error, a lock held too long. The message
    names the storage (a DSN without its secrets, `durable_sim.dsn.redact`; a file's path) and
    the reason. The command line reports it as bad usage of the database (status 2), like a
    database found out of reach before any run."""


class OutputError(DurableSimError):
    """Base class of the errors about output files."""


class OutputPathError(OutputError, SpecError):
    """An output path that cannot be written: wrong suffix, missing parent directory, a
    directory in its place, or no write permission. Raised before any work is done; a bad
    option like any `SpecError` (the command line exits with status 2)."""


class RecoverPathError(OutputError, SpecError):
    """A path a recovery (``durable-sim recover``) cannot settle: no published data file (a
    sidecar, or a file without one), or a directory that refuses the renames and removals a
    recovery makes (read-only). One line naming the path, the reason and what is accepted; a
    bad argument like any `SpecError` (the command line exits with status 2)."""


class SidecarMismatchError(OutputError):
    """A data file whose bytes do not match the sha256 and size its ``.meta.json`` sidecar
    records (or a sidecar that is missing or unreadable): the pair was edited or torn."""


def validation_line(exc: ValidationError) -> str:
    """The first error of a pydantic `ValidationError` as one line, ``field=value: message``
    (just the message for an error of the whole model; ``field: required, missing`` for a
    missing field): what a spec's ``parse`` raises."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    if err["type"] == "missing":
        return f"{where}: required, missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}={err['input']!r}: {message}" if where else message


__all__ = [
    "DurableSimError",
    "DurableSimInterrupt",
    "FaultPlanError",
    "OutputError",
    "OutputPathError",
    "SidecarMismatchError",
    "SpecError",
    "StorageUnavailableError",
    "WorkloadError",
    "validation_line",
]
