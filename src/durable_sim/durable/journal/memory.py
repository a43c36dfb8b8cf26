"""`MemoryJournal`: executions and their histories in dicts and lists (durable for the life of
the object only)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from durable_sim.durable.journal.records import ExecutionRecord, HistoryEntry, OperationRecord


class MemoryJournal:
    """A journal in memory; see `durable_sim.durable.journal.Journal` for the contract."""

    def __init__(self) -> None:
        self._executions: dict[str, ExecutionRecord] = {}
        self._history: dict[str, list[HistoryEntry]] = {}
        self._lock = threading.Lock()

    def open_execution(
        self, execution_id: str, input_payload: str, started: HistoryEntry
    ) -> ExecutionRecord:
        with self._lock:
            record = self._executions.get(execution_id)
            if record is None:
                record = self._executions[execution_id] = ExecutionRecord(
                    execution_id, input_payload
                )
                self._history[execution_id] = [started]
            return ExecutionRecord(
                record.execution_id,
                record.input,
                record.status,
                record.result,
                record.error,
                dict(record.operations),
            )

    def append(self, execution_id: str, entries: Sequence[HistoryEntry]) -> None:
        with self._lock:
            operations = self._executions[execution_id].operations
            self._history[execution_id].extend(entries)
            for entry in entries:
                if entry.operation is not None:
                    operations[entry.operation.id] = entry.operation

    def finish_execution(
        self,
        execution_id: str,
        status: str,
        result: str | None,
        error: dict[str, Any] | None,
        entry: HistoryEntry,
    ) -> None:
        with self._lock:
            execution = self._executions[execution_id]
            execution.status, execution.result, execution.error = status, result, error
            self._history[execution_id].append(entry)

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        with self._lock:
            execution = self._executions.get(execution_id)
            return execution.operations.get(op_id) if execution is not None else None

    def read_history(self, execution_id: str) -> list[HistoryEntry]:
        with self._lock:
            if execution_id not in self._history:
                known = sorted(self._history)[:5]
                raise KeyError(f"no execution {execution_id!r} in this journal (some: {known})")
            return list(self._history[execution_id])
