"""`MemoryJournal`: executions and their histories in dicts and lists (durable for the life of
the object only; shared by the threads of one process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from durable_sim.durable.errors import (
    ExecutionBusyError,
    ExecutionClosedError,
    LeaseLostError,
    OperationClosedError,
)
from durable_sim.durable.journal.base import Journal
from durable_sim.durable.journal.records import (
    ExecutionRecord,
    HistoryEntry,
    OperationRecord,
    invocations_in,
    latest_records,
    wakes,
)
from durable_sim.durable.lease import DEFAULT_LEASE_S, Lease, lease_is_free


@dataclass
class _Execution:
    record: ExecutionRecord
    history: list[HistoryEntry]
    owner: str | None = None
    epoch: int = 0
    expires_at: float | None = None
    ready_at: float | None = None


class MemoryJournal(Journal):
    """A journal in memory; see `durable_sim.durable.journal.Journal` for the contract."""

    def __init__(self) -> None:
        self._executions: dict[str, _Execution] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Nothing to release (the contract's method, for symmetry with the file journals)."""

    def __enter__(self) -> MemoryJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- executions and leases ------------------------------------------------------------

    def open_execution(
        self,
        execution_id: str,
        input_payload: str,
        started: HistoryEntry,
        *,
        owner: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        function_name: str | None = None,
        ready: bool = False,
    ) -> ExecutionRecord:
        now = time.time()
        with self._lock:
            execution = self._executions.get(execution_id)
            if execution is None:
                execution = self._executions[execution_id] = _Execution(
                    ExecutionRecord(execution_id, input_payload, function_name=function_name),
                    [started],
                    ready_at=now if ready else None,
                )
            lease = None
            if (
                owner is not None
                and execution.record.status == "RUNNING"
                and execution.record.input == input_payload  # else refused: nothing changes
            ):
                lease = self._take(execution, owner, lease_s, now)
            return self._snapshot(execution, lease)

    def _take(self, execution: _Execution, owner: str, lease_s: float, now: float) -> Lease:
        if not lease_is_free(execution.owner, execution.expires_at, owner, now):
            assert execution.owner is not None and execution.expires_at is not None
            raise ExecutionBusyError(
                execution.record.execution_id,
                execution.owner,
                execution.epoch,
                execution.expires_at - now,
            )
        held = execution.owner is not None
        execution.owner, execution.epoch = owner, execution.epoch + 1
        execution.expires_at, execution.ready_at = now + lease_s, None
        return Lease(execution.record.execution_id, owner, execution.epoch, now + lease_s, held)

    @staticmethod
    def _snapshot(
        execution: _Execution, lease: Lease | None, *, operations: bool = True
    ) -> ExecutionRecord:
        """A copy of the execution's record: with its operations (an open or a claim), or
        without them (`get_execution`, as the `Journal` contract says)."""
        r = execution.record
        return ExecutionRecord(
            r.execution_id,
            r.input,
            r.status,
            r.result,
            r.error,
            dict(r.operations) if operations else {},
            r.function_name,
            r.invocations,
            lease,
        )

    def _fenced(self, execution_id: str, lease: Lease | None) -> _Execution:
        execution = self._existing(execution_id)
        if lease is not None and execution.epoch != lease.epoch:
            raise LeaseLostError(
                f"execution {execution_id!r}: lease epoch {lease.epoch} of {lease.owner} was "
                f"taken over (epoch now {execution.epoch}); this write was refused"
            )
        if execution.record.status != "RUNNING":
            raise ExecutionClosedError(
                f"execution {execution_id!r} already ended ({execution.record.status}); "
                "nothing more is written to it"
            )
        return execution

    def _existing(self, execution_id: str) -> _Execution:
        execution = self._executions.get(execution_id)
        if execution is None:
            known = sorted(self._executions)[:5]
            raise KeyError(f"no execution {execution_id!r} in this journal (some: {known})")
        return execution

    def renew(self, lease: Lease, lease_s: float) -> Lease:
        now = time.time()
        with self._lock:
            execution = self._fenced(lease.execution_id, lease)
            execution.expires_at = now + lease_s
        return Lease(lease.execution_id, lease.owner, lease.epoch, now + lease_s)

    def release(
        self,
        lease: Lease,
        *,
        ready_at: float | None = None,
        watch: Sequence[str] = (),
        children: Sequence[str] = (),
    ) -> None:
        now = time.time()
        with self._lock:
            execution = self._existing(lease.execution_id)
            if execution.epoch != lease.epoch:
                return
            execution.owner = execution.expires_at = None
            ops = execution.record.operations
            woken = any(op_id in ops and ops[op_id].terminal for op_id in watch) or any(
                child in self._executions and self._executions[child].record.status != "RUNNING"
                for child in children
            )
            execution.ready_at = now if woken else ready_at

    def claim(
        self, owner: str, lease_s: float, function_names: Sequence[str]
    ) -> ExecutionRecord | None:
        now = time.time()
        names = set(function_names)
        with self._lock:
            ready = [
                (e.ready_at if e.owner is None else e.expires_at, e.record.execution_id, e)
                for e in self._executions.values()
                if e.record.status == "RUNNING"
                and e.record.function_name in names
                and _claimable(e.owner, e.expires_at, e.ready_at, owner, now)
            ]
            if not ready:
                return None
            *_, execution = min(ready, key=lambda item: (item[0], item[1]))
            return self._snapshot(execution, self._take(execution, owner, lease_s, now))

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        with self._lock:
            execution = self._executions.get(execution_id)
            if execution is None:
                return None
            return self._snapshot(execution, None, operations=False)

    # -- checkpoints ---------------------------------------------------------------------

    def append(
        self, execution_id: str, entries: Sequence[HistoryEntry], lease: Lease | None = None
    ) -> None:
        now = time.time() if lease is None else None  # an outside party's write may wake it
        with self._lock:
            execution = self._fenced(execution_id, lease)
            operations = execution.record.operations
            latest = latest_records(entries)
            for op_id in latest:
                known = operations.get(op_id)
                if known is not None and known.terminal:
                    ended = [op for op in latest if op in operations and operations[op].terminal]
                    raise OperationClosedError(execution_id, sorted(ended))
            execution.history.extend(entries)
            operations.update(latest)
            execution.record.invocations += invocations_in(entries)
            if now is not None and wakes(entries):
                execution.ready_at = now

    def begin_append(
        self, execution_id: str, entries: Sequence[HistoryEntry], lease: Lease | None = None
    ) -> Callable[[], None]:
        self.append(execution_id, entries, lease)  # in memory an append is done at once
        return _done

    def finish_execution(
        self,
        execution_id: str,
        status: str,
        result: str | None,
        error: dict[str, Any] | None,
        entry: HistoryEntry,
        lease: Lease | None = None,
        *,
        parent: str | None = None,
    ) -> None:
        now = time.time()
        with self._lock:
            execution = self._fenced(execution_id, lease)
            r = execution.record
            r.status, r.result, r.error = status, result, error
            execution.history.append(entry)
            execution.owner = execution.expires_at = execution.ready_at = None
            waiting = self._executions.get(parent) if parent is not None else None
            if waiting is not None and waiting.record.status == "RUNNING" and not waiting.owner:
                due = waiting.ready_at
                waiting.ready_at = now if due is None else min(due, now)

    # -- reading -------------------------------------------------------------------------

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        with self._lock:
            execution = self._executions.get(execution_id)
            return execution.record.operations.get(op_id) if execution is not None else None

    def read_history(self, execution_id: str) -> list[HistoryEntry]:
        with self._lock:
            return list(self._existing(execution_id).history)


def _claimable(
    holder: str | None, expires_at: float | None, ready_at: float | None, owner: str, now: float
) -> bool:
    """Whether a worker `owner` may claim a running execution now: it is ready and no one holds
    it, or its holder's lease expired (a dead owner), or `owner` itself holds it."""
    if holder is None:
        return ready_at is not None and ready_at <= now
    return holder == owner or expires_at is None or expires_at <= now


def _done() -> None:
    """The waiter of an append that is already done."""
