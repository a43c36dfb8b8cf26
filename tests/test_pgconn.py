"""Postgres connections with a deadline on every wait for the server: a query the server does not
answer in time fails with one clear error within its deadline (plus the bounded cancel request),
the connection is closed and the query cancelled on a server that still runs; an interrupt (its
stop event, or its deadline) ends a wait at once, a connect attempt's too, without a cancel; a
stopped server (SIGSTOP) cannot hold a caller."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from durable_sim import pgconn
from durable_sim.dsn import Interrupt
from durable_sim.pgcluster import PostgresCluster, _children


@contextmanager
def stopped(cluster: PostgresCluster) -> Iterator[None]:
    """The cluster's postmaster and every one of its processes stopped (SIGSTOP), as a frozen
    host is: their kernel still accepts connections and answers keepalives; resumed after."""
    assert cluster.pid is not None
    pids = [cluster.pid, *_children(cluster.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend that has just exited
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _sleeping(dsn: str, query: str = "SELECT pg_sleep(30)") -> int:
    """How many sessions run `query` now."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = %s AND state = 'active'",
            (query,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _cancel(dsn: str, query: str) -> None:
    """Cancel every session running `query` (what an interrupted caller left running)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = %s", (query,)
        )


def test_a_query_past_its_deadline_fails_closes_and_is_cancelled(
    postgres_cluster: PostgresCluster,
) -> None:
    conn = pgconn.connect(postgres_cluster.dsn, query_timeout_s=1)
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match=r"within query_timeout_s=1 s"):
        conn.execute("SELECT pg_sleep(30)")
    assert time.monotonic() - started < 15  # far within the 30 s query
    assert conn.closed
    deadline = time.monotonic() + 10
    while _sleeping(postgres_cluster.dsn) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleeping(postgres_cluster.dsn) == 0  # the server stopped the query


def test_a_deadline_inside_a_transaction_fails_the_transaction(
    postgres_cluster: PostgresCluster,
) -> None:
    conn = pgconn.connect(postgres_cluster.dsn, query_timeout_s=1)
    with pytest.raises(psycopg.OperationalError, match="query_timeout_s"), conn.transaction():
        conn.execute("SELECT 1")
        conn.execute("SELECT pg_sleep(30)")
    assert conn.closed


def test_an_interrupt_ends_a_wait_at_once(postgres_cluster: PostgresCluster) -> None:
    interrupt = threading.Event()
    conn = pgconn.connect(postgres_cluster.dsn, query_timeout_s=60, interrupt=interrupt)
    assert conn.execute("SELECT 1").fetchone() == (1,)
    threading.Timer(0.3, interrupt.set).start()
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match=r"interrupted \(stopping\)"):
        conn.execute("SELECT pg_sleep(32)")
    assert time.monotonic() - started < 15  # far within the 60 s deadline
    _cancel(postgres_cluster.dsn, "SELECT pg_sleep(32)")  # the caller left it running


def test_an_interrupts_deadline_ends_a_wait_without_a_cancel(
    postgres_cluster: PostgresCluster,
) -> None:
    """The caller's own deadline (a worker out of time) ends a wait as its stop event does: the
    caller is leaving, so no cancel request is sent and the server's query runs on."""
    interrupt = Interrupt()
    conn = pgconn.connect(postgres_cluster.dsn, query_timeout_s=60, interrupt=interrupt)
    interrupt.deadline = time.monotonic() + 0.3
    with pytest.raises(psycopg.OperationalError, match=r"interrupted \(its caller's deadline"):
        conn.execute("SELECT pg_sleep(31)")
    assert conn.closed
    assert _sleeping(postgres_cluster.dsn, "SELECT pg_sleep(31)") == 1  # not cancelled
    _cancel(postgres_cluster.dsn, "SELECT pg_sleep(31)")


@pytest.mark.slow
def test_a_stopped_server_cannot_hold_a_query_or_a_connect(
    scratch_cluster: PostgresCluster,
) -> None:
    """Formerly a query on a SIGSTOPped server waited inside libpq until SIGCONT, and a connect
    attempt waited for libpq's connect_timeout, whole seconds, 2 at least."""
    conn = pgconn.connect(scratch_cluster.dsn, query_timeout_s=1)
    with stopped(scratch_cluster):
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="query_timeout_s=1 s"):
            conn.execute("SELECT 1")
        # the deadline, then the cancel request nobody reads, then the close
        assert time.monotonic() - started < 15  # formerly: until SIGCONT
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match=r"within connect_timeout_s=1 s"):
            pgconn.connect(scratch_cluster.dsn, connect_timeout_s=1)  # libpq's would be 2 s
        assert time.monotonic() - started < 15  # without connect_timeout: psycopg's 130 s


@pytest.mark.slow
def test_an_interrupt_ends_a_connect_attempt_at_once(scratch_cluster: PostgresCluster) -> None:
    """Formerly SIGTERM during a connect attempt waited out the attempt's connect timeout: the
    handshake is now cut as a query's wait is, once the server has been silent for psycopg's
    poll interval."""
    interrupt = threading.Event()
    with stopped(scratch_cluster):
        threading.Timer(0.3, interrupt.set).start()
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match=r"interrupted \(stopping\)"):
            pgconn.connect(scratch_cluster.dsn, connect_timeout_s=60, interrupt=interrupt)
        assert time.monotonic() - started < 30  # far within the 60 s deadline


@pytest.mark.parametrize(
    "value", [0, -1, 0.5, 1e-9, 2**31, float("nan"), float("inf"), True, "10", None]
)
def test_a_bad_timeout_is_named_with_the_accepted_range(value: object) -> None:
    with pytest.raises(ValueError) as info:
        pgconn.connect("postgresql://127.0.0.1:1/db", query_timeout_s=value)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"bad query_timeout_s={value!r} (accepted: a number of seconds from 1 to 2147483647)"
    )


@pytest.mark.parametrize("value", [1, 1.0, 2.5, 2**31 - 1])
def test_a_timeout_in_range_is_accepted(value: float) -> None:
    with pytest.raises(psycopg.OperationalError, match="Connection refused"):
        pgconn.connect("postgresql://127.0.0.1:1/db", connect_timeout_s=value)


def test_a_call_that_needs_no_wait_passes_through(postgres_cluster: PostgresCluster) -> None:
    """A commit outside a transaction sends nothing: psycopg's generator ends at once."""
    with pgconn.connect(postgres_cluster.dsn) as conn:
        conn.commit()
        assert conn.execute("SELECT 2").fetchone() == (2,)
