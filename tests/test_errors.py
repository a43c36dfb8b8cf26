"""One error root: every exception class the package defines sits under `DurableSimError` (or,
for interrupts that must not be caught by ``except Exception``, `DurableSimInterrupt`)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from aws_durable_execution_sdk_python.exceptions import NonDeterministicExecutionError

import durable_sim
from durable_sim import (
    CheckpointTooLargeError,
    JournalCorruptError,
    NonDeterminismError,
    SimulatedCrash,
)
from durable_sim.errors import (
    DurableSimError,
    DurableSimInterrupt,
    FaultPlanError,
    OutputPathError,
    SpecError,
)
from durable_sim.video import BlobNotFoundError

#: Exceptions still outside the hierarchy, in modules other workstreams own at the time of
#: writing (baseline/: model and postgres; analysis/, workloads/: model). `Suspend` is the
#: engine's internal control flow, not an error. Move them under the root, then delete here.
OUTSIDE = {
    "durable_sim.analysis.schema.AnalysisInputError",
    "durable_sim.baseline.polling.PollTimeout",
    "durable_sim.baseline.retry.RetriesExhausted",
    "durable_sim.baseline.store.model.ConditionalCheckFailed",
    "durable_sim.durable.state.Suspend",
    "durable_sim.workloads.encoders.TransientEncodeError",
}


def _package_exceptions() -> dict[str, type[BaseException]]:
    found = {}
    modules = pkgutil.walk_packages(durable_sim.__path__, "durable_sim.")
    for name in ["durable_sim", *(m.name for m in modules)]:
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == name:
                found[f"{name}.{obj.__qualname__}"] = obj
    return found


def test_every_exception_of_ours_is_under_the_root() -> None:
    exceptions = _package_exceptions()
    assert len(exceptions) > 20
    under = {
        name
        for name, cls in exceptions.items()
        if issubclass(cls, DurableSimError | DurableSimInterrupt)
    }
    assert sorted(set(exceptions) - under - OUTSIDE) == [], "exceptions outside the root"
    assert sorted(OUTSIDE & under) == [], "now under the root: delete these from OUTSIDE"


def test_the_concrete_classes_keep_the_bases_callers_expect() -> None:
    assert issubclass(NonDeterminismError, NonDeterministicExecutionError)
    assert issubclass(NonDeterminismError, DurableSimError)
    error = NonDeterminismError("3.1", "STEP 'a'", "WAIT 'b'")
    assert "position 1 of child context 3" in str(error) and error.op_id == "3.1"
    for cls in (SpecError, FaultPlanError, OutputPathError):
        assert issubclass(cls, ValueError)
    assert issubclass(OutputPathError, SpecError)  # a bad --out is bad usage (exit 2)
    assert issubclass(BlobNotFoundError, LookupError) and issubclass(
        BlobNotFoundError, DurableSimError
    )
    assert issubclass(CheckpointTooLargeError, DurableSimError)
    assert issubclass(JournalCorruptError, DurableSimError)
    assert issubclass(SimulatedCrash, DurableSimInterrupt) and not issubclass(
        SimulatedCrash, Exception
    )
