"""The journal's contract (`Journal`), which every backend implements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from durable_sim.durable.journal.records import ExecutionRecord, HistoryEntry, OperationRecord
from durable_sim.durable.lease import DEFAULT_LEASE_S, Lease

#: A release's ``ready_at`` for "ready at once", whatever the journal's clock (Unix time 0).
READY_NOW = 0.0


# A Protocol's methods never run (only the backends' do), so no mutant of them can be told apart.
class Journal(Protocol):  # pragma: no mutate block
    """Storage of executions: their leases, history entries and operations' latest records.

    Times of leases and of the queue (`lease_s`, ``ready_at``) are seconds on the journal's
    clock (Unix time; the server's for Postgres). Writes taken under a lease pass it and are
    refused with `LeaseLostError` once another owner took the lease over; a write to an
    execution that ended raises `ExecutionClosedError`, one that would replace a terminal
    operation record `OperationClosedError`; either way nothing of it is written.
    """

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
        """Create the execution (appending `started`, its ExecutionStarted entry; queued for
        workers if `ready`) or find it, and, if it is running, `owner` is given and its input
        is `input_payload`, take its lease, all in one atomic write; return it with every
        operation's latest record and the lease taken. An execution found with another input
        is returned without a lease, its lease and queue place untouched (the caller refuses
        the open). Raises `ExecutionBusyError` if another owner holds a live lease."""

    def renew(self, lease: Lease, lease_s: float) -> Lease:
        """Extend a held lease to `lease_s` seconds from now (fenced)."""

    def release(
        self,
        lease: Lease,
        *,
        ready_at: float | None = None,
        watch: Sequence[str] = (),
        children: Sequence[str] = (),
    ) -> None:
        """Give the lease up: the execution is ready for a worker at `ready_at` (``None``:
        when the outside world answers or a child ends; `READY_NOW`: at once), or at once if
        any operation in `watch` has ended meanwhile, or any execution in `children` (those
        its open chained invokes started) has ended: a child's end that found the lease held
        (`finish_execution`'s `parent`) is not lost. Releasing a lease taken over already
        does nothing."""

    def claim(
        self, owner: str, lease_s: float, function_names: Sequence[str]
    ) -> ExecutionRecord | None:
        """Take the lease of one running execution of one of `function_names` that is ready
        (or whose owner's lease expired, or that `owner` holds), oldest first; ``None`` if
        there is none."""

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """The execution's status, outcome and counters (without its operations), or None."""

    def append(
        self, execution_id: str, entries: Sequence[HistoryEntry], lease: Lease | None = None
    ) -> None:
        """Append `entries` in one atomic write and update the records they carry. Without a
        lease the write is the outside world's (a callback answer): it wakes the execution
        for workers if it ends an operation."""

    def begin_append(
        self, execution_id: str, entries: Sequence[HistoryEntry], lease: Lease | None = None
    ) -> Callable[[], None]:
        """`append`, queued behind every append begun before it on this object (they are
        written in that order); the returned function waits until it is durable and raises
        its error. Appends queued by several threads meanwhile may share one commit."""

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
        """Record the execution's outcome and append its terminal entry, atomically; the
        lease ends with it. `parent` is the execution whose chained invoke started this one
        (AWS's parent execution): in the same write it is made ready for a worker at once if
        it is running and no one holds its lease (a holder's `release` with this execution
        among its ``children`` wakes it instead, and a dead holder's lease expires)."""

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        """One operation's latest record, straight from storage."""

    def read_history(self, execution_id: str) -> list[HistoryEntry]:
        """Every entry of the execution, in the order it was appended."""

    def close(self) -> None:
        """Release the journal's connection or file (the data stays)."""
