"""One error root: every exception class the package defines sits under `DurableSimError` (or,
for interrupts that must not be caught by ``except Exception``, `DurableSimInterrupt`)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from aws_durable_execution_sdk_python.exceptions import NonDeterministicExecutionError

import durable_sim
from durable_sim import (
    CheckpointTooLargeError,
    JournalCorruptError,
    NonDeterminismError,
    SimulatedCrash,
)
from durable_sim.analysis.schema import AnalysisInputError
from durable_sim.attribution import AttributionError
from durable_sim.baseline import ConditionalCheckFailed, PollTimeout, RetriesExhausted
from durable_sim.cost import CostInputError
from durable_sim.errors import (
    DurableSimError,
    DurableSimInterrupt,
    FaultPlanError,
    OutputPathError,
    SpecError,
)
from durable_sim.machine import SlotsExhausted
from durable_sim.pgcluster import ClusterError, PostgresNotFound
from durable_sim.video import BlobNotFoundError
from durable_sim.workloads.actor import ActorFailedError, ActorSpecError
from durable_sim.workloads.encoders import TransientEncodeError

#: Control flow, not errors: private signals that never leave the code that raises them, or
#: unwind threads (`Suspend` ends an invocation on a wait; `_Cancelled` stops a DES process when
#: another failed; the actor's `_Retry`/`_GaveUp` steer its message loop).
OUTSIDE = {
    "durable_sim.des._Cancelled",
    "durable_sim.durable.codec._NotPlain",
    "durable_sim.durable.state.Suspend",
    "durable_sim.workloads.actor._GaveUp",
    "durable_sim.workloads.actor._Retry",
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


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (AnalysisInputError, ValueError),
        (AttributionError, RuntimeError),
        (PollTimeout, TimeoutError),
        (CostInputError, ValueError),
        (SlotsExhausted, RuntimeError),
        (PostgresNotFound, RuntimeError),
        (ClusterError, RuntimeError),
        (ActorSpecError, ValueError),
        (ActorFailedError, RuntimeError),
        (TransientEncodeError, RuntimeError),
    ],
)
def test_the_layers_errors_keep_their_builtin_base(
    cls: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(cls, DurableSimError) and issubclass(cls, builtin)


def test_an_error_with_its_own_fields_keeps_its_message_and_fields() -> None:
    timeout = PollTimeout(polls=3, elapsed_ms=250.0, interval_ms=100.0, timeout_ms=250.0)
    assert str(timeout) == (
        "condition not met after 3 polls over 250.0 ms (timeout 250 ms, interval 100 ms)"
    )
    assert timeout.polls == 3 and timeout.errno is None
    exhausted = RetriesExhausted(2, ValueError("x"))
    assert exhausted.attempts == 2 and "ValueError: x" in str(exhausted)
    conflict = ConditionalCheckFailed("t", "k", {"v": (1, 2)})
    assert str(conflict) == "conditional check failed on t['k']: v: expected 1, found 2"
    assert isinstance(conflict, DurableSimError)
