"""PostgreSQL connections (psycopg 3) that never wait for the server without a deadline.

A server that stops answering without closing its connections (its processes stopped by
SIGSTOP, a host frozen by its hypervisor, a network that drops packets silently) leaves libpq
waiting for a reply forever: TCP keepalives cannot tell, since the stopped server's kernel still
answers them, and a server-side ``statement_timeout`` needs a server that runs. So every wait
for the server here has a client-side deadline:

- connecting: libpq's ``connect_timeout`` (whole seconds, 2 at least, as libpq counts it);
- every query, commit and rollback: the connection `connect` opens bounds each of psycopg's
  waits on the socket (``Connection.wait``, which every query goes through; the pinned psycopg's
  tests here fail should that change) by ``query_timeout_s``, and cuts it short once an
  `interrupt` event is set (a worker told to stop by SIGTERM), checked whenever the server has
  been silent for psycopg's poll interval (0.1 s), so a reply that is arriving is never cut off
  by an interrupt.

A wait cut short sends the server a cancel request (libpq's ``PQcancelConn``, given at most
`CANCEL_TIMEOUT_S`: a stopped postmaster accepts the request's connection in its kernel and
never reads it) so that a server that is merely slow stops the query, then closes the
connection, whose state is unknown, and raises `psycopg.OperationalError` saying why. The
connection's owner opens a new one for its next call.
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

from durable_sim.dsn import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_QUERY_TIMEOUT_S, check_timeout
from durable_sim.errors import DurableSimError

#: Longest wait (s) for a cancel request before the connection is closed regardless.
CANCEL_TIMEOUT_S = 1.0

__all__ = ["CANCEL_TIMEOUT_S", "connect"]

RV = TypeVar("RV")


class _Cut(DurableSimError):
    """A wait cut short (the deadline passed or the interrupt was set); carries why."""


class _DeadlineConnection(psycopg.Connection[TupleRow]):
    """A psycopg connection whose every wait for the server ends within `query_timeout_s` or
    once `interrupt` is set (see the module's docstring); opened by `connect`."""

    query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S
    interrupt: threading.Event | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        limit = self.query_timeout_s if timeout is None else min(timeout, self.query_timeout_s)
        try:
            return super().wait(self._bounded(gen, time.monotonic() + limit), interval, timeout)
        except _Cut as cut:
            self._abandon()
            raise psycopg.OperationalError(str(cut)) from None

    def _bounded(self, gen: PQGen[RV], deadline: float) -> Generator[Any, Any, RV]:
        """`gen`, passed through, raising `_Cut` when the server is silent past `deadline` or
        once `interrupt` is set."""
        try:
            state = next(gen)
        except StopIteration as done:  # nothing to wait for (a commit outside a transaction)
            finished: RV = done.value
            return finished
        while True:
            ready = yield state
            if time.monotonic() >= deadline:
                raise _Cut(
                    f"no answer from the server within query_timeout_s="
                    f"{self.query_timeout_s:g} s; the connection was closed"
                )
            if not ready and self.interrupt is not None and self.interrupt.is_set():
                # psycopg's poll interval passed without a reply, and the owner is stopping
                raise _Cut("the wait for the server was interrupted (stopping)")
            try:
                state = gen.send(ready)
            except StopIteration as done:
                result: RV = done.value
                return result

    def _abandon(self) -> None:
        """Ask the server to cancel the query (bounded), then close the connection."""
        with contextlib.suppress(psycopg.Error):  # a stopped server: closing is all that is left
            self.cancel_safe(timeout=CANCEL_TIMEOUT_S)
        self.close()


def connect(
    dsn: str,
    *,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
    interrupt: threading.Event | None = None,
) -> psycopg.Connection[TupleRow]:
    """An autocommit connection to `dsn`, opened within `connect_timeout_s` (rounded
    up to whole seconds, 2 at least, as libpq counts it) and then waiting at most
    `query_timeout_s` for each answer. Raises `psycopg.OperationalError` if the server cannot
    be reached or refuses, ValueError for a bad timeout."""
    connect_s = max(2, math.ceil(check_timeout("connect_timeout_s", connect_timeout_s)))
    query_s = check_timeout("query_timeout_s", query_timeout_s)
    conn = _DeadlineConnection.connect(dsn, autocommit=True, connect_timeout=connect_s)
    conn.query_timeout_s = query_s
    conn.interrupt = interrupt
    return conn
