"""PostgreSQL backend (psycopg 3): one table of JSON items, every call atomic across processes.

Opened by a libpq connection string or ``postgresql://`` URL. The items live in table
``kv_items`` of the connection's current schema (set ``options=-csearch_path=NAME`` in the DSN to
keep several stores apart in one database); it is created on first use.

Atomicity. Reads, puts and deletes are single autocommitted statements. A read-modify-write
(`modify`: conditional update, atomic add) runs in one transaction at PostgreSQL's default READ
COMMITTED isolation and first *claims* the key with ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``: that statement either locks the existing row (waiting for any transaction that holds
it, then returning its latest committed item) or inserts a placeholder row whose item is NULL and
which stays invisible until commit, while any other writer of the same key waits on it. The new
item is computed from what the claim returned and written before the commit; if the rule raises
(a failed condition), the transaction rolls back and nothing, placeholder included, remains. So
every write of one key is serialised and no update is lost, whether the item existed or not,
across connections and processes (PostgreSQL documentation, "INSERT ... ON CONFLICT" and
"Transaction Isolation": ON CONFLICT DO UPDATE guarantees an atomic insert-or-update outcome).
A committed item is never NULL.

Keys are stored as their UTF-8 bytes (``bytea``): byte order is code-point order, the order the
memory backend sorts in and SQLite's BINARY collation uses, whatever the database's collation,
and NUL characters are kept (``text`` cannot hold them). Items are stored as their JSON text, not
``jsonb``, so they round-trip exactly as on the other backends.

Failures. A server that cannot be reached, a connection that breaks (server restart, network),
and a server that does not answer within the deadline (`durable_sim.pgconn`: ``connect_timeout_s``
to connect, ``query_timeout_s`` for each answer) fail the call in progress with
`StoreUnavailableError` naming the DSN (without its secrets) and the reason; the call's effect
is then unknown, as for a DynamoDB call that times out. The next call opens a new connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from durable_sim.baseline.store.backend import Backend, StoreUnavailableError
from durable_sim.baseline.store.model import Item, decode_item, encode_item
from durable_sim.dsn import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_QUERY_TIMEOUT_S,
    check_dsn,
    check_timeout,
    redact,
    scrub,
)

if TYPE_CHECKING:  # psycopg (~0.1 s to import) is imported where a backend connects
    import psycopg
    from psycopg.rows import TupleRow

TABLE = "kv_items"
_SCHEMA_LOCK = 0x6B765F6974656D73  # pg_advisory_xact_lock key: "kv_items" in ASCII
_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    tbl  text  NOT NULL,
    pk   bytea NOT NULL,
    sk   bytea NOT NULL,
    item text,
    PRIMARY KEY (tbl, pk, sk)
)
"""
_KEY = "tbl = %s AND pk = %s AND sk = %s"
_GET = f"SELECT item FROM {TABLE} WHERE {_KEY}"
_PUT = (
    f"INSERT INTO {TABLE} (tbl, pk, sk, item) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (tbl, pk, sk) DO UPDATE SET item = EXCLUDED.item"
)
_CLAIM = (
    f"INSERT INTO {TABLE} (tbl, pk, sk, item) VALUES (%s, %s, %s, NULL) "
    f"ON CONFLICT (tbl, pk, sk) DO UPDATE SET item = {TABLE}.item RETURNING item"
)
_SET = f"UPDATE {TABLE} SET item = %s WHERE {_KEY}"
_DELETE = f"DELETE FROM {TABLE} WHERE {_KEY}"
_QUERY = f"SELECT sk, item FROM {TABLE} WHERE tbl = %s AND pk = %s ORDER BY sk"


def _key(table: str, pk: str, sk: str) -> tuple[str, bytes, bytes]:
    return table, pk.encode(), sk.encode()


class PostgresBackend(Backend):
    """Raw storage in a PostgreSQL database, shared by every process that opens the same DSN.

    One connection per backend object; a lock serialises its use across threads. Every wait
    for the server has a deadline: `connect_timeout_s` to connect and `query_timeout_s` for
    each answer (each 1 s to 2**31 - 1 s, `durable_sim.dsn.check_timeout`; 10 s by default:
    `durable_sim.pgconn`).

    Raises:
        ValueError: the DSN does not parse, its search_path names no existing schema, or a
            timeout is out of range.
        StoreUnavailableError: the server cannot be reached, refuses the connection, breaks it
            or does not answer in time, here or in any later call (the message names the DSN,
            its secrets masked).
        psycopg.Error: the table cannot be created for another reason (e.g. no privilege).
    """

    def __init__(
        self,
        dsn: str,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
    ) -> None:
        import psycopg.errors

        self.dsn = check_dsn(dsn)
        self._connect_timeout_s = check_timeout("connect_timeout_s", connect_timeout_s)
        self._query_timeout_s = check_timeout("query_timeout_s", query_timeout_s)
        self._lock = threading.Lock()
        self._conn = self._connect()
        try:
            with self._connection("open") as conn, conn.transaction():
                # CREATE TABLE IF NOT EXISTS is not safe against itself: two sessions creating
                # the table at once can fail on the catalog's unique index. One at a time, then.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute(_CREATE)
        except psycopg.errors.InvalidSchemaName:
            path = self._conn.execute("SHOW search_path").fetchone()
            self._conn.close()
            raise ValueError(
                f"bad Postgres DSN {redact(dsn)!r}: no schema of its search_path "
                f"({path[0] if path else ''}) exists to hold table {TABLE} (accepted: a "
                "search_path naming an existing schema)"
            ) from None
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[TupleRow]:
        import psycopg

        from durable_sim import pgconn

        try:
            return pgconn.connect(
                self.dsn,
                connect_timeout_s=self._connect_timeout_s,
                query_timeout_s=self._query_timeout_s,
            )
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(
                f"cannot connect to the store at {redact(self.dsn)!r}: {self._reason(exc)}"
            ) from None

    def _reason(self, exc: BaseException) -> str:
        """The server's or libpq's words in `exc`, on one line, without the DSN's secrets."""
        return scrub(" ".join(str(exc).split()), self.dsn)

    @contextmanager
    def _connection(self, doing: str) -> Iterator[psycopg.Connection[TupleRow]]:
        """The connection, held under the lock; reopened first if an earlier call lost it
        (broken, or closed after a wait past its deadline). A connection lost meanwhile, or a
        server silent past the deadline, is a `StoreUnavailableError` saying what the call was
        `doing` (``read``, ``write``, ``open``)."""
        import psycopg

        with self._lock:
            if self._conn.broken or self._conn.closed:
                self._conn = self._connect()
            try:
                yield self._conn
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                unknown = (
                    "" if doing == "read" else " (the outcome of a write in flight is unknown)"
                )
                raise StoreUnavailableError(
                    f"cannot {doing} the store at {redact(self.dsn)!r}: {self._reason(exc)}"
                    f"{unknown}"
                ) from exc

    def get(self, table: str, pk: str, sk: str) -> Item | None:
        with self._connection("read") as conn:
            row = conn.execute(_GET, _key(table, pk, sk)).fetchone()
        return None if row is None else decode_item(row[0])

    def put(self, table: str, pk: str, sk: str, text: str) -> None:
        with self._connection("write") as conn:
            conn.execute(_PUT, (*_key(table, pk, sk), text))

    def modify(self, table: str, pk: str, sk: str, change: Callable[[Item | None], Item]) -> Item:
        key = _key(table, pk, sk)
        with self._connection("write") as conn, conn.transaction():
            row = conn.execute(_CLAIM, key).fetchone()
            current = None if row is None or row[0] is None else decode_item(row[0])
            new = change(current)
            conn.execute(_SET, (encode_item(new), *key))
        return new

    def delete(self, table: str, pk: str, sk: str) -> None:
        with self._connection("write") as conn:
            conn.execute(_DELETE, _key(table, pk, sk))

    def query(self, table: str, pk: str) -> list[tuple[str, Item]]:
        with self._connection("read") as conn:
            rows = conn.execute(_QUERY, (table, pk.encode())).fetchall()
        return [(bytes(sk).decode(), decode_item(text)) for sk, text in rows]

    def close(self) -> None:
        """Close the connection; the database keeps the data."""
        with self._lock:
            self._conn.close()
