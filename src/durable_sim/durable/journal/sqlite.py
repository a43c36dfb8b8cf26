"""`SqliteJournal`: executions, their append-only history and each operation's latest record in
one SQLite file (WAL mode, ``synchronous=FULL``, one commit per checkpoint).

A history row holds one append: the entries of one checkpoint call, as a JSON list, in order.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from durable_sim.durable.errors import JournalCorruptError
from durable_sim.durable.journal.records import (
    EXECUTION_STATUSES,
    ExecutionRecord,
    HistoryEntry,
    OperationRecord,
    encode_json,
)

SCHEMA_VERSION = 2  # 1: latest records only (no history)
_SCHEMA = """
CREATE TABLE executions (
    execution_id TEXT PRIMARY KEY,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT
);
CREATE TABLE history (
    seq INTEGER PRIMARY KEY,
    execution_id TEXT NOT NULL,
    entries TEXT NOT NULL
);
CREATE INDEX history_by_execution ON history (execution_id, seq);
CREATE TABLE operations (
    execution_id TEXT NOT NULL,
    op_id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (execution_id, op_id)
);
"""
_TABLES = {"executions", "history", "operations"}


class SqliteJournal:
    """A journal in a SQLite file; see `durable_sim.durable.journal.Journal` for the contract.

    Raises `JournalCorruptError` (naming the path) for a file that is not a journal of this
    schema version, or whose pages or rows cannot be read back.
    """

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
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION or not tables >= _TABLES:
                raise JournalCorruptError(
                    f"{self.path} is a SQLite file but not a durable_sim journal of schema "
                    f"version {SCHEMA_VERSION} (found version {version}, tables {sorted(tables)}); "
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

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Run `statements` in one transaction: one durable commit."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(f"cannot write journal {self.path}: {exc}") from exc

    @staticmethod
    def _entry_statements(
        execution_id: str, entries: Sequence[HistoryEntry]
    ) -> list[tuple[str, tuple[Any, ...]]]:
        batch = "[" + ",".join(entry.to_json() for entry in entries) + "]"
        statements: list[tuple[str, tuple[Any, ...]]] = [
            ("INSERT INTO history (execution_id, entries) VALUES (?, ?)", (execution_id, batch))
        ]
        latest = {e.operation.id: e.operation for e in entries if e.operation is not None}
        statements += [  # one row per operation: its last record in this batch
            (
                "INSERT OR REPLACE INTO operations VALUES (?, ?, ?)",
                (execution_id, op_id, encode_json(record.to_dict())),
            )
            for op_id, record in latest.items()
        ]
        return statements

    def open_execution(
        self, execution_id: str, input_payload: str, started: HistoryEntry
    ) -> ExecutionRecord:
        with self._lock:
            rows = self._query(
                "SELECT input, status, result, error FROM executions WHERE execution_id=?",
                (execution_id,),
            )
            if not rows:
                self._write(
                    [
                        (
                            "INSERT INTO executions VALUES (?, ?, 'RUNNING', NULL, NULL)",
                            (execution_id, input_payload),
                        ),
                        *self._entry_statements(execution_id, [started]),
                    ]
                )
                return ExecutionRecord(execution_id, input_payload)
            stored_input, status, result, error = rows[0]
            if status not in EXECUTION_STATUSES:
                raise JournalCorruptError(
                    f"journal {self.path}: execution {execution_id!r} has unknown status "
                    f"{status!r} (accepted: {sorted(EXECUTION_STATUSES)})"
                )
            ops = {
                op_id: self._decode_record(op_id, text)
                for op_id, text in self._query(
                    "SELECT op_id, record FROM operations WHERE execution_id=?", (execution_id,)
                )
            }
            return ExecutionRecord(
                execution_id,
                stored_input,
                status,
                result,
                self._decode_json(error) if error else None,
                ops,
            )

    def append(self, execution_id: str, entries: Sequence[HistoryEntry]) -> None:
        with self._lock:
            self._write(self._entry_statements(execution_id, entries))

    def finish_execution(
        self,
        execution_id: str,
        status: str,
        result: str | None,
        error: dict[str, Any] | None,
        entry: HistoryEntry,
    ) -> None:
        with self._lock:
            self._write(
                [
                    (
                        "UPDATE executions SET status=?, result=?, error=? WHERE execution_id=?",
                        (status, result, encode_json(error) if error else None, execution_id),
                    ),
                    *self._entry_statements(execution_id, [entry]),
                ]
            )

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        with self._lock:
            rows = self._query(
                "SELECT record FROM operations WHERE execution_id=? AND op_id=?",
                (execution_id, op_id),
            )
        return self._decode_record(op_id, rows[0][0]) if rows else None

    def read_history(self, execution_id: str) -> list[HistoryEntry]:
        with self._lock:
            rows = self._query(
                "SELECT seq, entries FROM history WHERE execution_id=? ORDER BY seq",
                (execution_id,),
            )
        if not rows:
            raise KeyError(f"no execution {execution_id!r} in journal {self.path}")
        entries = []
        for seq, text in rows:
            try:
                entries += [HistoryEntry.from_data(data) for data in json.loads(text)]
            except (ValueError, KeyError, TypeError) as exc:
                raise JournalCorruptError(
                    f"journal {self.path}: history entry {seq} of execution {execution_id!r} "
                    f"is malformed: {exc}"
                ) from exc
        return entries

    def _decode_json(self, text: str) -> Any:
        try:
            return json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise JournalCorruptError(
                f"journal {self.path}: unreadable JSON {text[:60]!r}: {exc}"
            ) from exc

    def _decode_record(self, op_id: str, text: str) -> OperationRecord:
        data = self._decode_json(text)
        try:
            record = OperationRecord.from_dict(data)
        except (KeyError, ValueError, TypeError) as exc:
            raise JournalCorruptError(
                f"journal {self.path}: operation {op_id} is malformed: {exc!r} "
                "(a record needs an id, a type and a status of the SDK's OperationType and "
                "OperationStatus)"
            ) from exc
        if record.id != op_id:
            raise JournalCorruptError(
                f"journal {self.path}: the row of operation {op_id} holds operation {record.id}"
            )
        return record
