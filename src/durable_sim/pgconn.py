"""PostgreSQL connections (psycopg 3) that never wait for the server without a deadline.

A server that stops answering without closing its connections (its processes stopped by
SIGSTOP, a host frozen by its hypervisor, a network that drops packets silently) leaves libpq
waiting for a reply forever: TCP keepalives cannot tell, since the stopped server's kernel still
answers them, and a server-side ``statement_timeout`` needs a server that runs. So every wait
for the server here has a client-side deadline, the same for connecting and for each answer:

- connecting: ``connect_timeout_s`` for the whole handshake (every host of the DSN included);
  psycopg's connection generator is bounded as the query waits below are. libpq's own
  ``connect_timeout`` (whole seconds, 2 at least) is passed the deadline rounded up, a backstop;
- every query, commit and rollback: the connection `connect` opens bounds each of psycopg's
  waits on the socket (``Connection.wait``, which every query goes through; the pinned psycopg's
  tests here fail should that change) by ``query_timeout_s``.

Either wait is also cut short by an `durable_sim.dsn.Interrupt` (its stop event set: a worker
told to stop by SIGTERM; or its deadline passed: a worker out of time), checked whenever the
server has been silent for psycopg's poll interval (0.1 s), so a reply that is arriving is never
cut off by it. Deadlines are kept to within that interval (`durable_sim.dsn.MIN_TIMEOUT_S`).

A query wait cut at its own deadline sends the server a cancel request (libpq's
``PQcancelConn``, given at most `CANCEL_TIMEOUT_S`, and never past the interrupt's deadline: a
stopped postmaster accepts the request's connection in its kernel and never reads it) so that a
server that is merely slow stops the query; one cut by the interrupt sends none, since its
caller is leaving. Then the connection, whose state is unknown, is closed, and
`psycopg.OperationalError` says why. The connection's owner opens a new one for its next call.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Generator
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen
from psycopg.rows import TupleRow

from durable_sim.dsn import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_QUERY_TIMEOUT_S,
    Interrupt,
    check_timeout,
)
from durable_sim.errors import DurableSimError

#: Longest wait (s) for a cancel request before the connection is closed regardless.
CANCEL_TIMEOUT_S = 1.0

__all__ = ["CANCEL_TIMEOUT_S", "connect"]

RV = TypeVar("RV")


class _Cut(DurableSimError):
    """A wait cut short (its deadline passed or the interrupt was set); carries why, and
    whether the query in flight should be cancelled."""

    def __init__(self, message: str, *, cancel: bool) -> None:
        super().__init__(message)
        self.cancel = cancel


def _bounded(
    gen: Generator[Any, Any, RV], deadline: float, what: str, interrupt: Interrupt
) -> Generator[Any, Any, RV]:
    """`gen` (a psycopg generator waiting on the server), passed through, raising `_Cut` when
    the server is silent past `deadline` (`what` names the limit) or once `interrupt` is set
    while it is silent; `gen` is closed then."""
    try:
        state = next(gen)
    except StopIteration as done:  # nothing to wait for (a commit outside a transaction)
        finished: RV = done.value
        return finished
    while True:
        ready = yield state
        cut = None
        if time.monotonic() >= deadline:
            cut = _Cut(f"no answer from the server within {what}", cancel=True)
        elif not ready and interrupt.is_set():
            # psycopg's poll interval passed without a reply, and the caller is leaving
            cut = _Cut(
                f"the wait for the server was interrupted ({interrupt.reason()})", cancel=False
            )
        if cut is not None:
            gen.close()
            raise cut
        try:
            state = gen.send(ready)
        except StopIteration as done:
            result: RV = done.value
            return result


class _DeadlineConnection(psycopg.Connection[TupleRow]):
    """A psycopg connection whose every wait for the server ends within `query_timeout_s` or
    once `interrupt` is set (see the module's docstring); `connect` opens one through a class
    of its own that sets both."""

    query_timeout_s: float
    interrupt: Interrupt

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        limit = self.query_timeout_s if timeout is None else min(timeout, self.query_timeout_s)
        what = f"query_timeout_s={self.query_timeout_s:g} s"
        try:
            bounded = _bounded(gen, time.monotonic() + limit, what, self.interrupt)
            return super().wait(bounded, interval, timeout)
        except _Cut as cut:
            self._abandon(cut.cancel)
            raise psycopg.OperationalError(f"{cut}; the connection was closed") from None

    def _abandon(self, cancel: bool) -> None:
        """Ask the server to cancel the query if `cancel` (for at most `CANCEL_TIMEOUT_S`, and
        not past the interrupt's deadline), then close the connection."""
        budget = min(CANCEL_TIMEOUT_S, self.interrupt.seconds_left()) if cancel else 0.0
        if budget > 0:
            with contextlib.suppress(psycopg.Error):  # a stopped server: closing is all left
                self.cancel_safe(timeout=budget)
        self.close()


def connect(
    dsn: str,
    *,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
    interrupt: threading.Event | Interrupt | None = None,
) -> psycopg.Connection[TupleRow]:
    """An autocommit connection to `dsn`, opened within `connect_timeout_s` and then waiting at
    most `query_timeout_s` for each answer (each `durable_sim.dsn.check_timeout`'s range, 1 s
    to 2**31 - 1 s); `interrupt` (an `Interrupt`, or an event: its stop event) cuts any of those
    waits short. Raises `psycopg.OperationalError` if the server cannot be reached, refuses or
    does not answer in time, ValueError for a bad timeout."""
    connect_s = check_timeout("connect_timeout_s", connect_timeout_s)
    query_s = check_timeout("query_timeout_s", query_timeout_s)
    cutoff = interrupt if isinstance(interrupt, Interrupt) else Interrupt(interrupt)
    deadline = time.monotonic() + connect_s
    what = f"connect_timeout_s={connect_s:g} s"

    class _Connecting(_DeadlineConnection):
        """This connection's class: its handshake is bounded by `deadline` and `cutoff` (psycopg
        opens a connection through the class method ``_connect_gen``), its waits as given."""

        query_timeout_s = query_s
        interrupt = cutoff

        @classmethod
        def _connect_gen(cls, conninfo: str = "") -> Any:
            return _bounded(super()._connect_gen(conninfo), deadline, what, cutoff)

    try:
        conn = _Connecting.connect(
            dsn, autocommit=True, connect_timeout=max(2, math.ceil(connect_s))
        )
    except _Cut as cut:
        raise psycopg.OperationalError(str(cut)) from None
    return conn
