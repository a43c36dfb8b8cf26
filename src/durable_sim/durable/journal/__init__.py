"""The durable journal: an append-only history of every checkpoint, and each operation's latest
record (what replay reads).

Each checkpoint call appends its entries in one atomic write (`Journal.append` takes a batch, so
the updates a checkpoint groups together commit together). The history is what
`durable_sim.durable.history` exports as AWS's execution history; the latest records are a view
of it kept for fast replay. Two backends: `MemoryJournal` (for fast experiments) and
`SqliteJournal` (WAL, one durable commit per checkpoint; several processes may share a file, so
an execution killed at any checkpoint resumes from it).

Issue #8 builds on this interface: a lease on the execution and fenced appends (the epoch
checked inside `append`'s transaction), a Postgres backend, and group commit of concurrent
branches' checkpoints (several `append` batches merged into one transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from durable_sim.durable.journal.memory import MemoryJournal
from durable_sim.durable.journal.records import (
    TERMINAL,
    ExecutionRecord,
    HistoryEntry,
    OperationRecord,
)
from durable_sim.durable.journal.sqlite import SqliteJournal


class Journal(Protocol):
    """Storage of executions: their history entries and their operations' latest records."""

    def open_execution(
        self, execution_id: str, input_payload: str, started: HistoryEntry
    ) -> ExecutionRecord:
        """Create the execution, appending `started` (its ExecutionStarted entry), or load an
        existing one with every operation's latest record."""

    def append(self, execution_id: str, entries: Sequence[HistoryEntry]) -> None:
        """Append `entries` in one atomic write and update the records they carry."""

    def finish_execution(
        self,
        execution_id: str,
        status: str,
        result: str | None,
        error: dict[str, Any] | None,
        entry: HistoryEntry,
    ) -> None:
        """Record the execution's outcome and append its terminal entry, atomically."""

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        """One operation's latest record, straight from storage."""

    def read_history(self, execution_id: str) -> list[HistoryEntry]:
        """Every entry of the execution, in the order it was appended."""


__all__ = [
    "TERMINAL",
    "ExecutionRecord",
    "HistoryEntry",
    "Journal",
    "MemoryJournal",
    "OperationRecord",
    "SqliteJournal",
]
