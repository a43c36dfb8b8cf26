"""Postgres connections with a deadline on every wait for the server: a query the server does not
answer in time fails with one clear error within its deadline (plus the bounded cancel request),
the connection is closed and the query cancelled on a server that still runs; an interrupt event
ends a wait at once; a stopped server (SIGSTOP) cannot hold a caller."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from durable_sim import pgconn
from durable_sim.pgcluster import PostgresCluster, _children


@contextmanager
def stopped(cluster: PostgresCluster) -> Iterator[None]:
    """The cluster's postmaster and every one of its processes stopped (SIGSTOP), as a frozen
    host is: their kernel still accepts connections and answers keepalives; resumed after."""
    assert cluster.pid is not None
    pids = [cluster.pid, *_children(cluster.pid)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _sleeping(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' "
            "AND state = 'active'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_query_past_its_deadline_fails_closes_and_is_cancelled(
    postgres_cluster: PostgresCluster,
) -> None:
    conn = pgconn.connect(postgres_cluster.dsn, query_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match=r"within query_timeout_s=0\.5 s"):
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
    conn = pgconn.connect(postgres_cluster.dsn, query_timeout_s=0.5)
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
    with pytest.raises(psycopg.OperationalError, match="interrupted"):
        conn.execute("SELECT pg_sleep(30)")
    assert time.monotonic() - started < 15  # far within the 60 s deadline


@pytest.mark.slow
def test_a_stopped_server_cannot_hold_a_query_or_a_connect(
    scratch_cluster: PostgresCluster,
) -> None:
    """Formerly a query on a SIGSTOPped server waited inside libpq until SIGCONT."""
    conn = pgconn.connect(scratch_cluster.dsn, query_timeout_s=1)
    with stopped(scratch_cluster):
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="query_timeout_s=1 s"):
            conn.execute("SELECT 1")
        # the deadline, then the cancel request nobody reads, then the close
        assert time.monotonic() - started < 15  # formerly: until SIGCONT
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="timeout"):
            pgconn.connect(scratch_cluster.dsn, connect_timeout_s=1)  # libpq's 2 s at least
        assert time.monotonic() - started < 15  # without connect_timeout: psycopg's 130 s


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), True, "10", None])
def test_a_bad_timeout_is_named_with_the_accepted_range(value: object) -> None:
    with pytest.raises(ValueError, match=r"bad query_timeout_s=.*accepted: a finite number"):
        pgconn.connect("postgresql://127.0.0.1:1/db", query_timeout_s=value)  # type: ignore[arg-type]


def test_a_call_that_needs_no_wait_passes_through(postgres_cluster: PostgresCluster) -> None:
    """A commit outside a transaction sends nothing: psycopg's generator ends at once."""
    with pgconn.connect(postgres_cluster.dsn) as conn:
        conn.commit()
        assert conn.execute("SELECT 2").fetchone() == (2,)
