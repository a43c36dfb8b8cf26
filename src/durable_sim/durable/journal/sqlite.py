"""`SqliteJournal`: executions, their leases, their append-only history and each operation's
latest record in one SQLite file (WAL mode, ``synchronous=FULL``), shared by every process that
opens it.

A history row holds one append: the entries of one checkpoint call, as a JSON list, in order.
Every write is one transaction taken with ``BEGIN IMMEDIATE`` (SQLite's single writer), so the
lease checks and the writes they guard are atomic across processes; concurrent appends of one
journal object are group-committed (`durable_sim.durable.journal.group`). The schema, with its
version stamp, is created in one transaction, so processes that open a new file at once see
either no journal or the whole one.
"""

from __future__ import annotations

import functools
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from durable_sim.durable.errors import (
    ExecutionBusyError,
    ExecutionClosedError,
    JournalCorruptError,
    JournalPathError,
    JournalUnavailableError,
    LeaseLostError,
    OperationClosedError,
)
from durable_sim.durable.journal.base import Journal
from durable_sim.durable.journal.group import Append, GroupCommit
from durable_sim.durable.journal.records import (
    EXECUTION_STATUSES,
    ExecutionRecord,
    HistoryEntry,
    OperationRecord,
    RowDecoder,
    encode_json,
)
from durable_sim.durable.lease import DEFAULT_LEASE_S, Lease, lease_is_free
from durable_sim.files import refuses_files
from durable_sim.sqlite_errors import BUSY_TIMEOUT, lacks_resource

SCHEMA_VERSION = 3  # 1: latest records only; 2: + history; 3: + leases, queue, terminal flags
_SCHEMA = f"""
CREATE TABLE executions (
    execution_id TEXT PRIMARY KEY,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    function_name TEXT,
    owner TEXT,
    epoch INTEGER NOT NULL DEFAULT 0,
    lease_expires REAL,
    ready_at REAL,
    invocations INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX executions_queue ON executions (status, function_name);
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
    terminal INTEGER NOT NULL,
    PRIMARY KEY (execution_id, op_id)
);
PRAGMA user_version={SCHEMA_VERSION};
"""
_TABLES = {"executions", "history", "operations"}
_EXECUTION = (
    "SELECT input, status, result, error, function_name, invocations, owner, epoch, "
    "lease_expires FROM executions WHERE execution_id=?"
)
_IN_CHUNK = 500  # op ids per IN (...) list, well under SQLite's bound on parameters


class SqliteJournal(Journal):
    """A journal in a SQLite file; see `durable_sim.durable.journal.Journal` for the contract.

    `group_commit` (default on) merges appends made concurrently through this object into one
    transaction each; off, every append is its own commit. `busy_timeout_s` (seconds, 0 to
    `durable_sim.sqlite_errors.MAX_BUSY_TIMEOUT_S`; ValueError otherwise) is how long a write
    waits for another process's transaction before `JournalUnavailableError`.

    Raises `JournalPathError` (naming the path and what is accepted), before SQLite opens it,
    for a path that is a directory or another file that is no regular file (a FIFO, a device,
    a socket: SQLite would call it a disk I/O error, a journal out of reach for now), whose
    directory is missing or is no directory, or, where no journal exists yet, whose directory
    takes no new files (`durable_sim.files.refuses_files`; an existing journal opens in a
    directory that takes none); and, from the constructor or any later call, for a file SQLite
    cannot open or write (a dangling link, a read-only file). Raises `JournalCorruptError`
    (naming the path) for a file that is not a journal of this schema version, or whose pages
    or rows cannot be read back, and ValueError for a bad `busy_timeout_s`.
    """

    def __init__(
        self, path: str | Path, *, group_commit: bool = True, busy_timeout_s: float = 30.0
    ) -> None:
        busy_timeout_s = BUSY_TIMEOUT.check("SQLite journal busy_timeout_s", busy_timeout_s)
        self.path = Path(path)
        self._rows = RowDecoder(f"journal {self.path}")
        _check_path(self.path)
        self._lock = threading.Lock()
        self._group = GroupCommit(self._commit, enabled=group_commit)
        self._busy_timeout_s = busy_timeout_s
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from exc
        try:
            self._open_schema()
        except BaseException:
            self._db.close()
            raise

    def _open_schema(self) -> None:
        try:
            self._check_schema()  # read-only: a foreign file is refused before any change
            self._use_wal()
            self._db.execute("PRAGMA synchronous=FULL")
            with self._transaction():
                if not self._tables():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
            self._check_schema()
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from exc

    def _use_wal(self) -> None:
        """Put the file in WAL mode unless it is already. Switching needs an exclusive lock,
        and SQLite reports "database is locked" at once, without its busy handler, when
        another connection holds the file while switching it too (several processes opening
        a new journal together), so the switch is retried with back-off (5 ms doubling to
        100 ms) for up to the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout_s
        pause = 0.005
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if ("locked" not in text and "busy" not in text) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(2 * pause, 0.1)

    def _tables(self) -> set[str]:
        return {
            row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }

    def _check_schema(self) -> None:
        tables = self._tables()
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if tables and (version != SCHEMA_VERSION or not tables >= _TABLES):
            raise JournalCorruptError(
                f"{self.path} is a SQLite file but not a durable_sim journal of schema "
                f"version {SCHEMA_VERSION} (found version {version}, tables {sorted(tables)}); "
                "use a new file or the journal that belongs to this execution"
            )

    @property
    def commits(self) -> int:
        """Durable commits of appends made through this object (a batch counts once)."""
        return self._group.commits

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _error(self, exc: sqlite3.Error, doing: str) -> Exception:
        """The journal error an SQLite error stands for: a resource SQLite lacks
        (`durable_sim.sqlite_errors.lacks_resource`: a lock, memory, disk space, I/O) makes the
        journal unavailable, never corrupt."""
        text = str(exc)
        if lacks_resource(exc):
            return JournalUnavailableError(f"cannot {doing} journal {self.path}: {text}")
        if isinstance(exc, sqlite3.OperationalError) and (
            "unable to open" in text or "readonly" in text
        ):
            return JournalPathError(
                f"cannot {doing} journal {self.path}: {text} (accepted: a file path in an "
                "existing directory that this process may write)"
            )
        if doing == "open":
            return JournalCorruptError(
                f"cannot open journal {self.path}: {text} (the file is corrupt or truncated; "
                "restore it or start the execution with a new journal)"
            )
        return JournalCorruptError(f"cannot {doing} journal {self.path}: {text}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (SQLite's single writer): one durable commit. SQLite has
        rolled back already after some errors (a full disk, out of memory: "Result and Error
        Codes"), and a second rollback would replace the error with its own."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _writing(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with self._transaction() as db:
                    yield db
            except sqlite3.Error as exc:
                raise self._error(exc, doing) from exc

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc, "read") from exc

    # -- executions and leases -------------------------------------------------------------

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
        with self._writing("write") as db:
            row = db.execute(_EXECUTION, (execution_id,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO executions (execution_id, input, status, function_name, "
                    "ready_at) VALUES (?, ?, 'RUNNING', ?, ?)",
                    (execution_id, input_payload, function_name, now if ready else None),
                )
                db.execute(
                    "INSERT INTO history (execution_id, entries) VALUES (?, ?)",
                    (execution_id, "[" + started.to_json() + "]"),
                )
                row = db.execute(_EXECUTION, (execution_id,)).fetchone()
            # A different input is refused by the caller: its queue place and lease stay as
            # they are (no lease is taken to look).
            mine = owner if row[0] == input_payload else None
            return self._open(db, execution_id, row, mine, lease_s, now)

    def _open(
        self,
        db: sqlite3.Connection,
        execution_id: str,
        row: tuple[Any, ...],
        owner: str | None,
        lease_s: float,
        now: float,
    ) -> ExecutionRecord:
        """The execution of `row`, with a lease for `owner` if it runs (inside a write)."""
        status, (holder, epoch, expires) = row[1], row[6:9]
        if status not in EXECUTION_STATUSES:
            raise JournalCorruptError(
                f"journal {self.path}: execution {execution_id!r} has unknown status "
                f"{status!r} (accepted: {sorted(EXECUTION_STATUSES)})"
            )
        lease = None
        if owner is not None and status == "RUNNING":
            if not lease_is_free(holder, expires, owner, now):
                raise ExecutionBusyError(execution_id, holder, epoch, expires - now)
            lease = Lease(execution_id, owner, epoch + 1, now + lease_s, holder is not None)
            db.execute(
                "UPDATE executions SET owner=?, epoch=?, lease_expires=?, ready_at=NULL "
                "WHERE execution_id=?",
                (owner, lease.epoch, lease.expires_at, execution_id),
            )
        ops = {
            op_id: self._rows.record(op_id, text)
            for op_id, text in db.execute(
                "SELECT op_id, record FROM operations WHERE execution_id=?", (execution_id,)
            )
        }
        return self._rows.execution(execution_id, row, ops, lease)

    def _fence(self, db: sqlite3.Connection, execution_id: str, lease: Lease | None) -> None:
        row = db.execute(
            "SELECT epoch, status FROM executions WHERE execution_id=?", (execution_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no execution {execution_id!r} in journal {self.path}")
        epoch, status = row
        if lease is not None and epoch != lease.epoch:
            raise LeaseLostError(
                f"journal {self.path}: execution {execution_id!r}: lease epoch {lease.epoch} of "
                f"{lease.owner} was taken over (epoch now {epoch}); this write was refused"
            )
        if status != "RUNNING":
            raise ExecutionClosedError(
                f"journal {self.path}: execution {execution_id!r} already ended ({status}); "
                "nothing more is written to it"
            )

    def renew(self, lease: Lease, lease_s: float) -> Lease:
        now = time.time()
        with self._writing("write") as db:
            self._fence(db, lease.execution_id, lease)
            db.execute(
                "UPDATE executions SET lease_expires=? WHERE execution_id=?",
                (now + lease_s, lease.execution_id),
            )
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
        with self._writing("write") as db:
            woken = self._any_terminal(db, lease.execution_id, watch) or _any_ended(db, children)
            db.execute(
                "UPDATE executions SET owner=NULL, lease_expires=NULL, ready_at=? "
                "WHERE execution_id=? AND epoch=?",
                (now if woken else ready_at, lease.execution_id, lease.epoch),
            )

    def claim(
        self, owner: str, lease_s: float, function_names: Sequence[str]
    ) -> ExecutionRecord | None:
        if not function_names:
            return None
        now = time.time()
        marks = ",".join("?" * len(function_names))
        with self._writing("write") as db:
            found = db.execute(
                "SELECT execution_id FROM executions WHERE status='RUNNING' "
                f"AND function_name IN ({marks}) AND ("
                "(owner IS NULL AND ready_at <= ?) OR (owner IS NOT NULL AND "
                "(owner = ? OR lease_expires IS NULL OR lease_expires <= ?))) "
                "ORDER BY COALESCE(ready_at, lease_expires), execution_id LIMIT 1",
                (*function_names, now, owner, now),
            ).fetchone()
            if found is None:
                return None
            row = db.execute(_EXECUTION, found).fetchone()
            return self._open(db, found[0], row, owner, lease_s, now)

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        rows = self._query(_EXECUTION, (execution_id,))
        if not rows:
            return None
        return self._rows.execution(execution_id, rows[0])

    # -- checkpoints -----------------------------------------------------------------------

    def append(
        self, execution_id: str, entries: Sequence[HistoryEntry], lease: Lease | None = None
    ) -> None:
        self._group.submit(Append.of(execution_id, entries, lease))

    def begin_append(
        self, execution_id: str, entries: Sequence[HistoryEntry], lease: Lease | None = None
    ) -> Callable[[], None]:
        append = Append.of(execution_id, entries, lease)
        self._group.enqueue(append)
        return functools.partial(self._group.wait, append)

    def _commit(self, batch: list[Append]) -> None:
        """Write `batch` in one transaction; an append that fails its checks writes nothing."""
        with self._writing("write") as db:
            for append in batch:
                try:
                    self._fence(db, append.execution_id, append.lease)
                    ended = self._terminal(db, append.execution_id, list(append.records))
                    if ended:
                        raise OperationClosedError(append.execution_id, ended)
                except (KeyError, LeaseLostError, ExecutionClosedError, OperationClosedError) as e:
                    append.error = e
                    continue
                self._write(db, append)

    @staticmethod
    def _write(db: sqlite3.Connection, append: Append) -> None:
        execution_id = append.execution_id
        db.execute(
            "INSERT INTO history (execution_id, entries) VALUES (?, ?)",
            (execution_id, append.entries_json),
        )
        db.executemany(  # one row per operation: its last record in this append
            "INSERT OR REPLACE INTO operations VALUES (?, ?, ?, ?)",
            [(execution_id, op_id, text, end) for op_id, (text, end) in append.records.items()],
        )
        if append.invocations:
            db.execute(
                "UPDATE executions SET invocations = invocations + ? WHERE execution_id=?",
                (append.invocations, execution_id),
            )
        if append.wake:
            db.execute(
                "UPDATE executions SET ready_at=? WHERE execution_id=?", (time.time(), execution_id)
            )

    @staticmethod
    def _terminal(db: sqlite3.Connection, execution_id: str, op_ids: list[str]) -> list[str]:
        ended: list[str] = []
        for start in range(0, len(op_ids), _IN_CHUNK):
            chunk = op_ids[start : start + _IN_CHUNK]
            ended += [
                row[0]
                for row in db.execute(
                    "SELECT op_id FROM operations WHERE execution_id=? AND terminal=1 "
                    f"AND op_id IN ({','.join('?' * len(chunk))})",
                    (execution_id, *chunk),
                )
            ]
        return sorted(ended)

    def _any_terminal(
        self, db: sqlite3.Connection, execution_id: str, op_ids: Sequence[str]
    ) -> bool:
        return bool(op_ids) and bool(self._terminal(db, execution_id, list(op_ids)))

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
        with self._writing("write") as db:
            self._fence(db, execution_id, lease)
            db.execute(
                "UPDATE executions SET status=?, result=?, error=?, owner=NULL, "
                "lease_expires=NULL, ready_at=NULL WHERE execution_id=?",
                (status, result, encode_json(error) if error is not None else None, execution_id),
            )
            db.execute(
                "INSERT INTO history (execution_id, entries) VALUES (?, ?)",
                (execution_id, "[" + entry.to_json() + "]"),
            )
            if parent is not None:  # the chained invoke's caller: ready now, unless held
                db.execute(
                    "UPDATE executions SET ready_at=MIN(COALESCE(ready_at, ?), ?) "
                    "WHERE execution_id=? AND status='RUNNING' AND owner IS NULL",
                    (now, now, parent),
                )

    # -- reading -----------------------------------------------------------------------------

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        rows = self._query(
            "SELECT record FROM operations WHERE execution_id=? AND op_id=?",
            (execution_id, op_id),
        )
        return self._rows.record(op_id, rows[0][0]) if rows else None

    def read_history(self, execution_id: str) -> list[HistoryEntry]:
        rows = self._query(
            "SELECT seq, entries FROM history WHERE execution_id=? ORDER BY seq",
            (execution_id,),
        )
        if not rows:
            raise KeyError(f"no execution {execution_id!r} in journal {self.path}")
        return self._rows.history(execution_id, rows)


def _any_ended(db: sqlite3.Connection, execution_ids: Sequence[str]) -> bool:
    """Whether any of `execution_ids` (a released execution's children) has ended."""
    ids = list(execution_ids)
    return any(
        db.execute(
            f"SELECT 1 FROM executions WHERE status!='RUNNING' AND execution_id IN "
            f"({','.join('?' * len(chunk))}) LIMIT 1",
            chunk,
        ).fetchone()
        for chunk in (ids[i : i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK))
    )


#: How a file type that cannot hold a journal reads in a message (`stat.S_IFMT` -> words).
_FILE_TYPES = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _check_path(path: Path) -> None:
    """Refuse a path that cannot hold a journal file, before SQLite reports it as corrupt."""
    accepted = "(accepted: a file path in an existing directory; the file is created if missing)"
    if path.is_dir():
        raise JournalPathError(f"journal path {path} is a directory {accepted}")
    if path.exists() and not path.is_file():
        kind = _FILE_TYPES.get(stat.S_IFMT(path.stat().st_mode), "no regular file")
        raise JournalPathError(f"journal path {path} is {kind} {accepted}")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise JournalPathError(f"journal path {path}: its directory {parent} {what} {accepted}")
    reason = None if path.exists() else refuses_files(parent)
    if reason is not None:
        raise JournalPathError(f"journal path {path}: {reason} {accepted}")
