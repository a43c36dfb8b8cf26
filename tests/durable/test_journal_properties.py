"""The journal's lease and fencing rules against a model, on every backend: random sequences of
owners taking, lapsing and releasing the lease, appending (with their lease, stale or not, or as
the outside world) and finishing (hypothesis stateful test, derandomized)."""

from __future__ import annotations

import itertools
from typing import Any

from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from property_budget import examples

from durable_sim.durable import (
    ExecutionBusyError,
    ExecutionClosedError,
    HistoryEntry,
    Journal,
    Lease,
    LeaseLostError,
    OperationClosedError,
    OperationRecord,
)
from tests.durable.conftest import JournalBackend

OWNERS = st.sampled_from(["a", "b", "c"])
OPS = st.sampled_from([str(i) for i in range(1, 7)])
_IDS = itertools.count()


def _entry(op_id: str, terminal: bool) -> HistoryEntry:
    status = OperationStatus.SUCCEEDED if terminal else OperationStatus.STARTED
    record = OperationRecord(op_id, None, OperationType.STEP, "Step", None, status)
    return HistoryEntry("StepSucceeded" if terminal else "StepStarted", 1.0, record)


class LeaseMachine(RuleBasedStateMachine):
    """One execution; the model holds what the journal must say."""

    journal: Journal

    def __init__(self) -> None:
        super().__init__()
        self.execution_id = f"p{next(_IDS)}"
        self.journal.open_execution(
            self.execution_id, "{}", HistoryEntry("ExecutionStarted", 0.0, None, {})
        )
        self.epoch = 0
        self.holder: str | None = None  # None: free (released, lapsed, or never taken)
        self.leases: dict[str, Lease] = {}
        self.status = "RUNNING"
        self.terminal: dict[str, bool] = {}
        self.entries = 1

    def _expect(self, lease: Lease | None, ops: list[str]) -> type[Exception] | None:
        if lease is not None and lease.epoch != self.epoch:
            return LeaseLostError
        if self.status != "RUNNING":
            return ExecutionClosedError
        if any(self.terminal.get(op) for op in ops):
            return OperationClosedError
        return None

    def _call(self, expected: type[Exception] | None, call: Any) -> None:
        try:
            call()
        except Exception as exc:
            assert expected is not None and isinstance(exc, expected), (expected, exc)
        else:
            assert expected is None, f"expected {expected}"

    @rule(owner=OWNERS)
    def take(self, owner: str) -> None:
        free = self.holder is None or self.holder == owner
        try:
            record = self.journal.open_execution(
                self.execution_id, "{}", HistoryEntry(None, 0.0), owner=owner
            )
        except ExecutionBusyError:
            assert not free and self.status == "RUNNING"
            return
        assert free or self.status != "RUNNING"
        if self.status != "RUNNING":
            assert record.lease is None
            return
        self.epoch += 1
        assert record.lease is not None and record.lease.epoch == self.epoch
        self.holder, self.leases[owner] = owner, record.lease
        assert {op: rec.terminal for op, rec in record.operations.items()} == self.terminal

    @rule(owner=OWNERS)
    def lapse(self, owner: str) -> None:
        """The owner dies: its lease lapses (its epoch stays valid until someone takes over)."""
        lease = self.leases.get(owner)
        if lease is None:
            return
        self._call(self._expect(lease, []), lambda: self.journal.renew(lease, 0.0))
        if lease.epoch == self.epoch and self.status == "RUNNING":
            self.holder = None

    @rule(owner=OWNERS)
    def release(self, owner: str) -> None:
        lease = self.leases.get(owner)
        if lease is None:
            return
        self.journal.release(lease)
        if lease.epoch == self.epoch and self.status == "RUNNING":
            self.holder = None

    @rule(owner=OWNERS, op=OPS, terminal=st.booleans())
    def append(self, owner: str, op: str, terminal: bool) -> None:
        lease = self.leases.get(owner)
        if lease is None:
            return
        expected = self._expect(lease, [op])
        self._call(
            expected,
            lambda: self.journal.append(self.execution_id, [_entry(op, terminal)], lease),
        )
        if expected is None:
            self.terminal[op] = terminal
            self.entries += 1

    @rule(op=OPS)
    def answer(self, op: str) -> None:
        """The outside world ends an operation (no lease)."""
        expected = self._expect(None, [op])
        self._call(expected, lambda: self.journal.append(self.execution_id, [_entry(op, True)]))
        if expected is None:
            self.terminal[op] = True
            self.entries += 1

    @precondition(lambda self: self.entries >= 5)  # later in a run: writes come first
    @rule(owner=OWNERS)
    def finish(self, owner: str) -> None:
        lease = self.leases.get(owner)
        if lease is None:
            return
        expected = self._expect(lease, [])
        done = HistoryEntry("ExecutionSucceeded", 2.0, None, {})
        self._call(
            expected,
            lambda: self.journal.finish_execution(
                self.execution_id, "SUCCEEDED", "1", None, done, lease
            ),
        )
        if expected is None:
            self.status, self.holder = "SUCCEEDED", None
            self.entries += 1

    @invariant()
    def matches_the_model(self) -> None:
        record = self.journal.get_execution(self.execution_id)
        assert record is not None and record.status == self.status
        for op, terminal in self.terminal.items():
            stored = self.journal.get_operation(self.execution_id, op)
            assert stored is not None and stored.terminal == terminal
        assert len(self.journal.read_history(self.execution_id)) == self.entries


def test_leases_and_fenced_writes_follow_the_model(backend: JournalBackend) -> None:
    journal = backend.open()

    class Machine(LeaseMachine):
        pass

    Machine.journal = journal
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples(30 if backend.name == "postgres" else 100),
            stateful_step_count=30,
            derandomize=True,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
