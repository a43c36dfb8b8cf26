"""The durable journal: one record per operation, persisted at every checkpoint.

Two backends share one interface: `MemoryJournal` (a dict; for fast experiments) and
`SqliteJournal` (WAL, one durable commit per checkpoint; several processes may use one file,
so an execution killed at any checkpoint resumes from the file).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from durable_sim.durable.errors import JournalCorruptError

_COMPACT = json.JSONEncoder(separators=(",", ":"))
OP_TYPES = frozenset({"STEP", "WAIT", "CONTEXT", "CALLBACK"})
OP_STATUSES = frozenset({"STARTED", "PENDING", "READY", "SUCCEEDED", "FAILED", "TIMED_OUT"})
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT"})
EXECUTION_STATUSES = frozenset({"RUNNING", "SUCCEEDED", "FAILED"})


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """The journaled state of one operation.

    ``result`` is the JSON text of the value; ``error`` the SDK's error fields;
    ``due_ms`` the clock time a timer fires (wait end, next retry, callback timeout);
    ``replay_children`` marks a child context whose result was too large to store, so replay
    re-runs its body and its children come from the journal.
    """

    id: str
    parent_id: str | None
    type: str
    sub_type: str
    name: str | None
    status: str
    attempt: int = 0
    result: str | None = None
    error: dict[str, Any] | None = None
    due_ms: float | None = None
    at_ms: float = 0.0
    callback_id: str | None = None
    replay_children: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "type": self.type,
            "sub_type": self.sub_type,
            "name": self.name,
            "status": self.status,
            "attempt": self.attempt,
            "result": self.result,
            "error": self.error,
            "due_ms": self.due_ms,
            "at_ms": self.at_ms,
            "callback_id": self.callback_id,
            "replay_children": self.replay_children,
        }

    def to_json(self) -> str:
        return _COMPACT.encode(self.to_dict())

    def evolve(self, **changes: Any) -> OperationRecord:
        values = self.to_dict()
        values.update(changes)
        return OperationRecord(**values)


@dataclass(slots=True)
class ExecutionRecord:
    """An execution: its input event, and its outcome once it has one."""

    execution_id: str
    input: str
    status: str = "RUNNING"
    result: str | None = None
    error: dict[str, Any] | None = None
    operations: dict[str, OperationRecord] = field(default_factory=dict)


class Journal(Protocol):
    """Storage of executions and their operation records."""

    def open_execution(self, execution_id: str, input_json: str) -> ExecutionRecord:
        """Create the execution, or load it with every journaled operation."""

    def save_operation(
        self, execution_id: str, record: OperationRecord, encoded: str | None = None
    ) -> None:
        """Persist one operation record durably (one checkpoint); `encoded` is its JSON if
        the caller has it already."""

    def finish_execution(
        self, execution_id: str, status: str, result: str | None, error: dict[str, Any] | None
    ) -> None:
        """Record the execution's outcome."""

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        """One operation record, straight from storage."""


class MemoryJournal:
    """A journal in a dict: durable for the life of the object only."""

    def __init__(self) -> None:
        self._executions: dict[str, ExecutionRecord] = {}
        self._lock = threading.Lock()

    def open_execution(self, execution_id: str, input_json: str) -> ExecutionRecord:
        with self._lock:
            record = self._executions.get(execution_id)
            if record is None:
                record = self._executions[execution_id] = ExecutionRecord(execution_id, input_json)
            return ExecutionRecord(
                record.execution_id,
                record.input,
                record.status,
                record.result,
                record.error,
                dict(record.operations),
            )

    def save_operation(
        self, execution_id: str, record: OperationRecord, encoded: str | None = None
    ) -> None:
        with self._lock:
            self._executions[execution_id].operations[record.id] = record

    def finish_execution(
        self, execution_id: str, status: str, result: str | None, error: dict[str, Any] | None
    ) -> None:
        with self._lock:
            execution = self._executions[execution_id]
            execution.status, execution.result, execution.error = status, result, error

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        with self._lock:
            return self._executions[execution_id].operations.get(op_id)


_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    execution_id TEXT PRIMARY KEY,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS operations (
    execution_id TEXT NOT NULL,
    op_id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (execution_id, op_id)
);
"""


class SqliteJournal:
    """A journal in a SQLite file: WAL mode, ``synchronous=FULL``, one commit per checkpoint."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                row[0]
                for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if not tables:
                self._db.executescript(_SCHEMA)
                self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            elif version != _SCHEMA_VERSION or not {"executions", "operations"} <= tables:
                raise JournalCorruptError(
                    f"{self.path} is a SQLite file but not a durable_sim journal "
                    f"(schema version {version}, tables {sorted(tables)}); "
                    "use a new file or the journal that belongs to this execution"
                )
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(
                f"cannot open journal {self.path}: {exc} (the file is corrupt or truncated; "
                "restore it or start the execution with a new journal)"
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(f"cannot read journal {self.path}: {exc}") from exc

    def open_execution(self, execution_id: str, input_json: str) -> ExecutionRecord:
        with self._lock:
            self._query(
                "INSERT OR IGNORE INTO executions VALUES (?, ?, 'RUNNING', NULL, NULL)",
                (execution_id, input_json),
            )
            (row,) = self._query(
                "SELECT input, status, result, error FROM executions WHERE execution_id=?",
                (execution_id,),
            )
            stored_input, status, result, error = row
            if status not in EXECUTION_STATUSES:
                raise JournalCorruptError(
                    f"journal {self.path}: execution {execution_id!r} has unknown status {status!r}"
                )
            ops = {
                op_id: _decode_record(self.path, op_id, text)
                for op_id, text in self._query(
                    "SELECT op_id, record FROM operations WHERE execution_id=?", (execution_id,)
                )
            }
            return ExecutionRecord(
                execution_id,
                stored_input,
                status,
                result,
                _decode_json(self.path, error) if error else None,
                ops,
            )

    def save_operation(
        self, execution_id: str, record: OperationRecord, encoded: str | None = None
    ) -> None:
        text = encoded if encoded is not None else record.to_json()
        with self._lock:
            self._query(
                "INSERT OR REPLACE INTO operations VALUES (?, ?, ?)",
                (execution_id, record.id, text),
            )

    def finish_execution(
        self, execution_id: str, status: str, result: str | None, error: dict[str, Any] | None
    ) -> None:
        with self._lock:
            self._query(
                "UPDATE executions SET status=?, result=?, error=? WHERE execution_id=?",
                (status, result, json.dumps(error) if error else None, execution_id),
            )

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        with self._lock:
            rows = self._query(
                "SELECT record FROM operations WHERE execution_id=? AND op_id=?",
                (execution_id, op_id),
            )
        return _decode_record(self.path, op_id, rows[0][0]) if rows else None


def _decode_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise JournalCorruptError(f"journal {path}: unreadable JSON {text[:60]!r}: {exc}") from exc


def _decode_record(path: Path, op_id: str, text: str) -> OperationRecord:
    data = _decode_json(path, text)
    try:
        record = OperationRecord(**data)
    except TypeError as exc:
        raise JournalCorruptError(f"journal {path}: operation {op_id} is malformed: {exc}") from exc
    if record.type not in OP_TYPES or record.status not in OP_STATUSES or record.id != op_id:
        raise JournalCorruptError(
            f"journal {path}: operation {op_id} has type {record.type!r} and status "
            f"{record.status!r} (accepted types {sorted(OP_TYPES)}, statuses {sorted(OP_STATUSES)})"
        )
    return record
