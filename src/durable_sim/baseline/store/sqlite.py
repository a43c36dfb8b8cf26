"""SQLite backend: one file, JSON items, one transaction per call.

Every call runs in its own ``BEGIN IMMEDIATE`` transaction, so a read-modify-write is atomic
even against another connection (another `SQLiteBackend` on the same file, another process);
a lock serialises this object's own connection across threads. The database runs in WAL mode
with ``synchronous=NORMAL``: a committed call survives the process being killed (only a power
loss may drop the last commits), at a fraction of the cost of a sync per commit. A call that
fails for want of a resource (a full disk, an I/O error, a lock held past the busy timeout:
`durable_sim.sqlite_errors.lacks_resource`) raises `StoreUnavailableError` naming the file; the
call's transaction is rolled back, so nothing of it was written.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from durable_sim.baseline.store.backend import Backend, StoreUnavailableError
from durable_sim.baseline.store.model import Item, decode_item, encode_item
from durable_sim.sqlite_errors import BUSY_TIMEOUT, lacks_resource

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    tbl  TEXT NOT NULL,
    pk   TEXT NOT NULL,
    sk   TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (tbl, pk, sk)
) WITHOUT ROWID
"""


class SQLiteBackend(Backend):
    """Raw storage in a SQLite database file (created if missing)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        """Open (or create) the database at ``path``.

        ``timeout_s`` (seconds, 0 to `durable_sim.sqlite_errors.MAX_BUSY_TIMEOUT_S`, any real
        number, numpy's included; default 30, SQLite's busy timeout as Python's
        `sqlite3.connect` takes it) is how long a call waits for another connection's write
        lock before it fails with "database is locked". Raises `ValueError` for a path whose
        directory does not exist or a timeout out of range, and `StoreUnavailableError` if the
        file cannot be set up for want of a resource (a full disk, an I/O error, a lock).
        """
        self.timeout_s = BUSY_TIMEOUT.check("SQLite timeout_s", timeout_s)
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ValueError(
                f"bad SQLite path {str(self.path)!r}: directory {str(self.path.parent)!r} "
                "does not exist (accepted: a file path in an existing directory)"
            )
        self._lock = threading.Lock()
        with self._unavailable_as_error("open"):
            self._conn = sqlite3.connect(
                self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._transaction("open") as cur:
            cur.execute(_SCHEMA)

    @contextmanager
    def _unavailable_as_error(self, doing: str) -> Iterator[None]:
        """An SQLite error for want of a resource, raised while `doing` (``read``, ``write``,
        ``open``), as `StoreUnavailableError` naming the file; other errors as they are."""
        try:
            yield
        except sqlite3.Error as exc:
            if not lacks_resource(exc):
                raise
            raise StoreUnavailableError(
                f"cannot {doing} the store {str(self.path)!r}: {exc}"
            ) from exc

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Cursor]:
        """One ``BEGIN IMMEDIATE`` transaction, rolled back on any error. SQLite has rolled
        back already after some errors (a full disk, out of memory: "Result and Error Codes"),
        and a second rollback would replace the error with its own."""
        with self._lock, self._unavailable_as_error(doing):
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                if self._conn.in_transaction:
                    cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def get(self, table: str, pk: str, sk: str) -> Item | None:
        with self._transaction("read") as cur:
            row = cur.execute(
                "SELECT item FROM items WHERE tbl = ? AND pk = ? AND sk = ?", (table, pk, sk)
            ).fetchone()
        return None if row is None else decode_item(row[0])

    def put(self, table: str, pk: str, sk: str, text: str) -> None:
        with self._transaction("write") as cur:
            cur.execute(
                "INSERT OR REPLACE INTO items (tbl, pk, sk, item) VALUES (?, ?, ?, ?)",
                (table, pk, sk, text),
            )

    def modify(self, table: str, pk: str, sk: str, change: Callable[[Item | None], Item]) -> Item:
        with self._transaction("write") as cur:
            row = cur.execute(
                "SELECT item FROM items WHERE tbl = ? AND pk = ? AND sk = ?", (table, pk, sk)
            ).fetchone()
            new = change(None if row is None else decode_item(row[0]))
            cur.execute(
                "INSERT OR REPLACE INTO items (tbl, pk, sk, item) VALUES (?, ?, ?, ?)",
                (table, pk, sk, encode_item(new)),
            )
        return new

    def delete(self, table: str, pk: str, sk: str) -> None:
        with self._transaction("write") as cur:
            cur.execute("DELETE FROM items WHERE tbl = ? AND pk = ? AND sk = ?", (table, pk, sk))

    def query(self, table: str, pk: str) -> list[tuple[str, Item]]:
        with self._transaction("read") as cur:
            rows = cur.execute(
                "SELECT sk, item FROM items WHERE tbl = ? AND pk = ? ORDER BY sk", (table, pk)
            ).fetchall()
        return [(sk, decode_item(text)) for sk, text in rows]

    def close(self) -> None:
        """Close the connection; the file keeps the data."""
        with self._lock:
            self._conn.close()
