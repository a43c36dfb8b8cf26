"""`PostgresJournal`: the journal in a PostgreSQL database (psycopg 3), shared by the processes
of many machines, with the same semantics as `SqliteJournal`.

Tables ``durable_executions``, ``durable_history`` and ``durable_operations`` (and the version
stamp ``durable_journal_version``) live in the first schema of the connection's search_path
(``options=-csearch_path=NAME`` in the DSN keeps several journals apart in one database; the
baseline's store may share the schema). They are created on first use, one process at a time
(an advisory lock), in one transaction.

An append is one call of the server-side function ``durable_append``: it locks the execution's
row, checks the lease epoch, the execution's status and that no operation it writes has ended,
and only then writes; one round trip, one commit. Appends made concurrently through one
journal object are group-committed in one transaction (`durable_sim.durable.journal.group`).
Every lease time is the server's clock (``clock_timestamp()``), so machines need not agree on
the time.

Failures. A connection that breaks (a server restart, the network), and a server that does not
answer within the deadline (`durable_sim.pgconn`: ``connect_timeout_s`` to connect,
``query_timeout_s`` for each answer, a wait cut short once ``interrupt`` is set), fail the call in
progress with `JournalUnavailableError`; the call's effect is then unknown (a commit may have
landed) and the next call opens a new connection. The runtime treats it as a crash of the
invocation: the next invocation reads from the journal what was written.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from durable_sim.dsn import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_QUERY_TIMEOUT_S,
    Interrupt,
    check_dsn,
    check_timeout,
    is_postgres_dsn,
    redact,
    scrub,
)
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

if TYPE_CHECKING:  # psycopg (~0.1 s to import) is imported where a journal connects
    import psycopg
    from psycopg.rows import TupleRow

__all__ = ["SCHEMA_VERSION", "PostgresJournal", "is_postgres_dsn"]

SCHEMA_VERSION = 1
_SCHEMA_LOCK = 0x6A6F75726E616C  # pg_advisory_xact_lock key: "journal" in ASCII
_NOW = "extract(epoch FROM clock_timestamp())::double precision"
_CREATE = [
    """CREATE TABLE IF NOT EXISTS durable_executions (
        execution_id text PRIMARY KEY,
        input text NOT NULL,
        status text NOT NULL,
        result text,
        error text,
        function_name text,
        owner text,
        epoch bigint NOT NULL DEFAULT 0,
        lease_expires double precision,
        ready_at double precision,
        invocations integer NOT NULL DEFAULT 0
    )""",
    """CREATE INDEX IF NOT EXISTS durable_executions_queue
        ON durable_executions (function_name, ready_at) WHERE status = 'RUNNING'""",
    """CREATE TABLE IF NOT EXISTS durable_history (
        seq bigserial PRIMARY KEY,
        execution_id text NOT NULL,
        entries text NOT NULL
    )""",
    """CREATE INDEX IF NOT EXISTS durable_history_by_execution
        ON durable_history (execution_id, seq)""",
    """CREATE TABLE IF NOT EXISTS durable_operations (
        execution_id text NOT NULL,
        op_id text NOT NULL,
        record text NOT NULL,
        terminal boolean NOT NULL,
        PRIMARY KEY (execution_id, op_id)
    )""",
    "CREATE TABLE IF NOT EXISTS durable_journal_version (version integer NOT NULL)",
    # One append: checks first (under the execution's row lock), then the writes. Returns NULL
    # when written, else why not: 'missing', 'lost <epoch>', 'closed <status>', 'ended <ids>'.
    f"""CREATE OR REPLACE FUNCTION durable_append(
        p_execution text, p_epoch bigint, p_entries text, p_ops text[], p_records text[],
        p_terminal boolean[], p_invocations integer, p_wake boolean) RETURNS text
    LANGUAGE plpgsql AS $$
    DECLARE
        v_epoch bigint;
        v_status text;
        v_ended text;
    BEGIN
        SELECT epoch, status INTO v_epoch, v_status FROM durable_executions
            WHERE execution_id = p_execution FOR UPDATE;
        IF NOT FOUND THEN RETURN 'missing'; END IF;
        IF p_epoch IS NOT NULL AND v_epoch <> p_epoch THEN RETURN 'lost ' || v_epoch; END IF;
        IF v_status <> 'RUNNING' THEN RETURN 'closed ' || v_status; END IF;
        SELECT string_agg(op_id, ',' ORDER BY op_id) INTO v_ended FROM durable_operations
            WHERE execution_id = p_execution AND terminal AND op_id = ANY (p_ops);
        IF v_ended IS NOT NULL THEN RETURN 'ended ' || v_ended; END IF;
        INSERT INTO durable_history (execution_id, entries) VALUES (p_execution, p_entries);
        INSERT INTO durable_operations (execution_id, op_id, record, terminal)
            SELECT p_execution, u.op, u.rec, u.term
            FROM unnest(p_ops, p_records, p_terminal) AS u (op, rec, term)
            ON CONFLICT (execution_id, op_id)
            DO UPDATE SET record = EXCLUDED.record, terminal = EXCLUDED.terminal;
        IF p_invocations > 0 OR p_wake THEN
            UPDATE durable_executions SET invocations = invocations + p_invocations,
                ready_at = CASE WHEN p_wake THEN {_NOW} ELSE ready_at END
            WHERE execution_id = p_execution;
        END IF;
        RETURN NULL;
    END $$""",
]
_APPEND = "SELECT durable_append(%s, %s, %s, %s, %s, %s, %s, %s)"
_EXECUTION = (
    "SELECT input, status, result, error, function_name, invocations, owner, epoch, "
    f"lease_expires, {_NOW} FROM durable_executions WHERE execution_id = %s"
)


class PostgresJournal(Journal):
    """A journal in a PostgreSQL database; see `durable_sim.durable.journal.Journal`.

    One connection per journal object, used by one thread at a time (a lock); `group_commit`
    as for `SqliteJournal`.

    Every wait for the server has a deadline: `connect_timeout_s` to connect,
    `query_timeout_s` for each answer (each 1 s to 2**31 - 1 s,
    `durable_sim.dsn.check_timeout`; defaults `durable_sim.dsn.DEFAULT_CONNECT_TIMEOUT_S` and
    ``DEFAULT_QUERY_TIMEOUT_S``, 10 s), and a wait is cut short once `interrupt` is set (an
    event, or a `durable_sim.dsn.Interrupt`: a worker stopping, or out of time).

    Raises:
        ValueError: the DSN does not parse, or a timeout is out of range.
        JournalPathError: its search_path names no existing schema.
        JournalUnavailableError: the server cannot be reached or does not answer in time (the
            DSN is named, password redacted).
        JournalCorruptError: the schema holds a journal of another version.
    """

    def __init__(
        self,
        dsn: str,
        *,
        group_commit: bool = True,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
        interrupt: threading.Event | Interrupt | None = None,
    ) -> None:
        self.dsn = check_dsn(dsn)
        self._rows = RowDecoder(f"journal {redact(self.dsn)!r}")
        self._connect_timeout_s = check_timeout("connect_timeout_s", connect_timeout_s)
        self._query_timeout_s = check_timeout("query_timeout_s", query_timeout_s)
        self._interrupt = interrupt
        self._lock = threading.Lock()
        self._group = GroupCommit(self._commit, enabled=group_commit)
        self._conn = self._connect()
        try:
            self._create_schema()
        except BaseException:
            self._conn.close()
            raise

    @property
    def commits(self) -> int:
        """Durable commits of appends made through this object (a batch counts once)."""
        return self._group.commits

    def _connect(self) -> psycopg.Connection[TupleRow]:
        import psycopg

        from durable_sim import pgconn

        try:
            return pgconn.connect(
                self.dsn,
                connect_timeout_s=self._connect_timeout_s,
                query_timeout_s=self._query_timeout_s,
                interrupt=self._interrupt,
            )
        except psycopg.OperationalError as exc:
            raise JournalUnavailableError(
                f"cannot connect to the journal at {redact(self.dsn)!r}: {self._reason(exc)}"
            ) from None

    def _reason(self, exc: BaseException) -> str:
        """The server's or libpq's words in `exc`, on one line, without the DSN's secrets."""
        return scrub(" ".join(str(exc).split()), self.dsn)

    def _create_schema(self) -> None:
        """Create the tables if missing (one process at a time, one transaction) and check the
        version stamp."""
        import psycopg.errors

        with self._using("open") as conn:
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    for statement in _CREATE:
                        conn.execute(statement)
                    stamp = conn.execute("SELECT version FROM durable_journal_version")
                    versions = [row[0] for row in stamp]
                    if not versions:
                        conn.execute(
                            "INSERT INTO durable_journal_version VALUES (%s)", (SCHEMA_VERSION,)
                        )
            except psycopg.errors.InvalidSchemaName:
                path = conn.execute("SHOW search_path").fetchone()
                raise JournalPathError(
                    f"bad journal DSN {redact(self.dsn)!r}: no schema of its search_path "
                    f"({path[0] if path else ''}) exists to hold the journal's tables "
                    "(accepted: a search_path naming an existing schema)"
                ) from None
        if versions and versions != [SCHEMA_VERSION]:
            raise JournalCorruptError(
                f"the database at {redact(self.dsn)!r} holds a durable_sim journal of schema "
                f"version {versions} (accepted: {SCHEMA_VERSION}); use another schema or database"
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> PostgresJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _using(self, doing: str) -> Iterator[psycopg.Connection[TupleRow]]:
        """The connection under the lock (reopened if an earlier call lost it); a lost
        connection or a server error becomes `JournalUnavailableError`."""
        import psycopg.errors

        with self._lock:
            if self._conn.broken or self._conn.closed:
                self._conn = self._connect()
            try:
                yield self._conn
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                raise JournalUnavailableError(
                    f"cannot {doing} the journal at {redact(self.dsn)!r}: {self._reason(exc)} "
                    "(the outcome of a write in flight is unknown)"
                ) from exc
            except psycopg.errors.TransactionRollback as exc:  # deadlock, serialization
                raise JournalUnavailableError(
                    f"cannot {doing} the journal at {redact(self.dsn)!r}: {self._reason(exc)}"
                ) from exc

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
        with self._using("write") as conn, conn.transaction():
            created = conn.execute(
                "INSERT INTO durable_executions (execution_id, input, status, function_name, "
                f"ready_at) VALUES (%s, %s, 'RUNNING', %s, CASE WHEN %s THEN {_NOW} END) "
                "ON CONFLICT (execution_id) DO NOTHING",
                (execution_id, input_payload, function_name, ready),
            ).rowcount
            if created:
                conn.execute(
                    "INSERT INTO durable_history (execution_id, entries) VALUES (%s, %s)",
                    (execution_id, "[" + started.to_json() + "]"),
                )
            row = conn.execute(_EXECUTION + " FOR UPDATE", (execution_id,)).fetchone()
            assert row is not None, "the execution exists: it was just inserted or found"
            # A different input is refused by the caller: its queue place and lease stay as
            # they are (no lease is taken to look).
            mine = owner if row[0] == input_payload else None
            return self._open(conn, execution_id, row, mine, lease_s)

    def _open(
        self,
        conn: psycopg.Connection[TupleRow],
        execution_id: str,
        row: tuple[Any, ...],
        owner: str | None,
        lease_s: float,
    ) -> ExecutionRecord:
        """The execution of `row` (locked), with a lease for `owner` if it runs."""
        status, (holder, epoch, expires, now) = row[1], row[6:10]
        if status not in EXECUTION_STATUSES:
            raise JournalCorruptError(
                f"journal {redact(self.dsn)!r}: execution {execution_id!r} has unknown status "
                f"{status!r} (accepted: {sorted(EXECUTION_STATUSES)})"
            )
        lease = None
        if owner is not None and status == "RUNNING":
            if not lease_is_free(holder, expires, owner, now):
                raise ExecutionBusyError(execution_id, holder, epoch, expires - now)
            lease = Lease(execution_id, owner, epoch + 1, now + lease_s, holder is not None)
            conn.execute(
                "UPDATE durable_executions SET owner = %s, epoch = %s, lease_expires = %s, "
                "ready_at = NULL WHERE execution_id = %s",
                (owner, lease.epoch, lease.expires_at, execution_id),
            )
        ops = {
            op_id: self._rows.record(op_id, text)
            for op_id, text in conn.execute(
                "SELECT op_id, record FROM durable_operations WHERE execution_id = %s",
                (execution_id,),
            )
        }
        return self._rows.execution(execution_id, row, ops, lease)

    def renew(self, lease: Lease, lease_s: float) -> Lease:
        with self._using("write") as conn, conn.transaction():
            self._fence(conn, lease.execution_id, lease)
            row = conn.execute(
                f"UPDATE durable_executions SET lease_expires = {_NOW} + %s "
                "WHERE execution_id = %s RETURNING lease_expires",
                (lease_s, lease.execution_id),
            ).fetchone()
        assert row is not None
        return Lease(lease.execution_id, lease.owner, lease.epoch, row[0])

    def _fence(
        self, conn: psycopg.Connection[TupleRow], execution_id: str, lease: Lease | None
    ) -> None:
        row = conn.execute(
            "SELECT epoch, status FROM durable_executions WHERE execution_id = %s FOR UPDATE",
            (execution_id,),
        ).fetchone()
        if row is None:
            raise KeyError(f"no execution {execution_id!r} in the journal")
        _refusal(execution_id, lease, f"lost {row[0]}" if lease and row[0] != lease.epoch else None)
        if row[1] != "RUNNING":
            _refusal(execution_id, lease, f"closed {row[1]}")

    def release(
        self,
        lease: Lease,
        *,
        ready_at: float | None = None,
        watch: Sequence[str] = (),
        children: Sequence[str] = (),
    ) -> None:
        with self._using("write") as conn, conn.transaction():
            held = conn.execute(
                "SELECT 1 FROM durable_executions WHERE execution_id = %s AND epoch = %s "
                "FOR UPDATE",
                (lease.execution_id, lease.epoch),
            ).fetchone()
            if held is None:
                return
            woken = bool(watch) and (
                conn.execute(
                    "SELECT 1 FROM durable_operations WHERE execution_id = %s AND terminal "
                    "AND op_id = ANY (%s) LIMIT 1",
                    (lease.execution_id, list(watch)),
                ).fetchone()
                is not None
            )
            # A child's end that found this lease held: its finish locks this row first, so it
            # has committed by now or waits for this release and then finds the lease free.
            woken = woken or (
                bool(children)
                and conn.execute(
                    "SELECT 1 FROM durable_executions WHERE execution_id = ANY (%s) "
                    "AND status <> 'RUNNING' LIMIT 1",
                    (list(children),),
                ).fetchone()
                is not None
            )
            conn.execute(
                "UPDATE durable_executions SET owner = NULL, lease_expires = NULL, "
                f"ready_at = CASE WHEN %s THEN {_NOW} ELSE %s END WHERE execution_id = %s",
                (woken, ready_at, lease.execution_id),
            )

    def claim(
        self, owner: str, lease_s: float, function_names: Sequence[str]
    ) -> ExecutionRecord | None:
        if not function_names:
            return None
        with self._using("write") as conn, conn.transaction():
            found = conn.execute(
                "SELECT execution_id FROM durable_executions WHERE status = 'RUNNING' "
                "AND function_name = ANY (%s) AND ("
                f"(owner IS NULL AND ready_at <= {_NOW}) OR (owner IS NOT NULL AND "
                f"(owner = %s OR lease_expires IS NULL OR lease_expires <= {_NOW}))) "
                "ORDER BY COALESCE(ready_at, lease_expires), execution_id LIMIT 1 "
                "FOR UPDATE SKIP LOCKED",
                (list(function_names), owner),
            ).fetchone()
            if found is None:
                return None
            row = conn.execute(_EXECUTION, found).fetchone()
            assert row is not None
            return self._open(conn, found[0], row, owner, lease_s)

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        with self._using("read") as conn:
            row = conn.execute(_EXECUTION, (execution_id,)).fetchone()
        if row is None:
            return None
        return self._rows.execution(execution_id, row)

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
        """Write `batch` in one transaction (a lone append: one autocommitted call)."""
        with self._using("write") as conn:
            if len(batch) == 1:
                self._append(conn, batch[0])
                return
            with conn.transaction():
                for append in batch:
                    self._append(conn, append)

    @staticmethod
    def _append(conn: psycopg.Connection[TupleRow], append: Append) -> None:
        ops = list(append.records)
        row = conn.execute(
            _APPEND,
            (
                append.execution_id,
                append.lease.epoch if append.lease is not None else None,
                append.entries_json,
                ops,
                [append.records[op][0] for op in ops],
                [append.records[op][1] for op in ops],
                append.invocations,
                append.wake,
            ),
        ).fetchone()
        refused = row[0] if row is not None else None
        if refused is not None:
            try:
                _refusal(append.execution_id, append.lease, refused)
            except (KeyError, LeaseLostError, ExecutionClosedError, OperationClosedError) as exc:
                append.error = exc

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
        with self._using("write") as conn, conn.transaction():
            if parent is not None:
                # The parent's row is locked before this one, as its `release` locks it before
                # it reads its children: one of the two then sees what the other wrote.
                conn.execute(
                    "SELECT 1 FROM durable_executions WHERE execution_id = %s FOR UPDATE",
                    (parent,),
                )
            self._fence(conn, execution_id, lease)
            conn.execute(
                "UPDATE durable_executions SET status = %s, result = %s, error = %s, "
                "owner = NULL, lease_expires = NULL, ready_at = NULL WHERE execution_id = %s",
                (status, result, encode_json(error) if error is not None else None, execution_id),
            )
            conn.execute(
                "INSERT INTO durable_history (execution_id, entries) VALUES (%s, %s)",
                (execution_id, "[" + entry.to_json() + "]"),
            )
            if parent is not None:  # the chained invoke's caller: ready now, unless held
                conn.execute(
                    f"UPDATE durable_executions SET ready_at = LEAST(ready_at, {_NOW}) "
                    "WHERE execution_id = %s AND status = 'RUNNING' AND owner IS NULL",
                    (parent,),
                )

    # -- reading -----------------------------------------------------------------------------

    def get_operation(self, execution_id: str, op_id: str) -> OperationRecord | None:
        with self._using("read") as conn:
            row = conn.execute(
                "SELECT record FROM durable_operations WHERE execution_id = %s AND op_id = %s",
                (execution_id, op_id),
            ).fetchone()
        return self._rows.record(op_id, row[0]) if row is not None else None

    def read_history(self, execution_id: str) -> list[HistoryEntry]:
        with self._using("read") as conn:
            rows = conn.execute(
                "SELECT seq, entries FROM durable_history WHERE execution_id = %s ORDER BY seq",
                (execution_id,),
            ).fetchall()
        if not rows:
            raise KeyError(f"no execution {execution_id!r} in the journal")
        return self._rows.history(execution_id, rows)


def _refusal(execution_id: str, lease: Lease | None, reason: str | None) -> None:
    """Raise the error a refused write stands for (`reason` as ``durable_append`` returns it;
    nothing for ``None``)."""
    if reason is None:
        return
    kind, _, detail = reason.partition(" ")
    if kind == "missing":
        raise KeyError(f"no execution {execution_id!r} in the journal")
    if kind == "lost":
        assert lease is not None
        raise LeaseLostError(
            f"execution {execution_id!r}: lease epoch {lease.epoch} of {lease.owner} was taken "
            f"over (epoch now {detail}); this write was refused"
        )
    if kind == "closed":
        raise ExecutionClosedError(
            f"execution {execution_id!r} already ended ({detail}); nothing more is written to it"
        )
    raise OperationClosedError(execution_id, detail.split(","))
