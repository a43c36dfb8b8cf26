"""The Postgres journal's own faults: a server restart or crash mid-run, a server that is down,
a DSN naming no schema, a schema holding another journal version, a DSN that does not parse."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
import pytest
from aws_durable_execution_sdk_python import DurableContext

from durable_sim import run_durable
from durable_sim.durable import (
    JournalCorruptError,
    JournalPathError,
    JournalUnavailableError,
    PostgresJournal,
)
from durable_sim.pgcluster import PostgresCluster
from tests.conftest import schema_dsn


def _counting(calls: Counter[str], cluster: PostgresCluster, fail_at: str, mode: str) -> Any:
    def handler(event: Any, ctx: DurableContext) -> int:
        total = 0
        for i in range(4):

            def body(_: Any, i: int = i) -> int:
                calls[f"s{i}"] += 1
                if f"s{i}" == fail_at and calls[f"s{i}"] == 1:
                    if mode == "kill":
                        cluster.kill()
                        cluster.start()
                    else:
                        cluster.restart(mode="fast")
                return i

            total += ctx.step(body, name=f"s{i}")
        return total

    return handler


@pytest.mark.parametrize("mode", ["fast", "kill"])
def test_a_server_restart_mid_run_stops_the_invocation_and_the_next_one_finishes(
    scratch_cluster: PostgresCluster, mode: str
) -> None:
    calls: Counter[str] = Counter()
    handler = _counting(calls, scratch_cluster, "s2", mode)
    journal = PostgresJournal(scratch_cluster.dsn)
    with pytest.raises(JournalUnavailableError, match="outcome of a write in flight is unknown"):
        run_durable(handler, None, journal=journal, execution_id="r")
    record = journal.get_execution("r")  # reconnects
    assert record is not None and record.status == "RUNNING"
    # its lease was never released (the release failed too): a new caller waits it out
    from durable_sim.durable import LeaseConfig

    run = run_durable(
        handler,
        None,
        journal=journal,
        execution_id="r",
        lease=LeaseConfig(on_busy="wait", poll_s=0.05, wait_timeout_s=60),
    )
    assert (run.status, run.result) == ("SUCCEEDED", 6)
    # s2's completion was lost with the connection, so it ran again; s0 and s1 never did
    assert calls == {"s0": 1, "s1": 1, "s2": 2, "s3": 1}
    journal.close()


def test_a_server_that_is_down_is_named(scratch_cluster: PostgresCluster) -> None:
    dsn = scratch_cluster.dsn
    scratch_cluster.kill()
    with pytest.raises(JournalUnavailableError, match="cannot connect to the journal at"):
        PostgresJournal(dsn)


def test_a_search_path_without_a_schema_is_a_bad_dsn(postgres_cluster: PostgresCluster) -> None:
    with pytest.raises(JournalPathError, match="no schema of its search_path"):
        PostgresJournal(schema_dsn(postgres_cluster.dsn, "no_such_schema"))


def test_a_journal_of_another_version_is_refused(postgres_dsn: str) -> None:
    PostgresJournal(postgres_dsn).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("UPDATE durable_journal_version SET version = 99")
    with pytest.raises(JournalCorruptError, match=r"schema version \[99\] \(accepted: 1\)"):
        PostgresJournal(postgres_dsn)


def test_a_dsn_that_does_not_parse_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"bad Postgres DSN .*invalid URI query parameter"):
        PostgresJournal("postgresql://h/db?nosuch=1")


def test_a_call_the_server_does_not_answer_fails_within_its_deadline(postgres_dsn: str) -> None:
    """Formerly a journal call waited without a deadline (here: for a row lock another
    transaction holds; a stopped server: tests/test_pgconn.py and the worker's tests). The call
    fails with `JournalUnavailableError`, and the next one reconnects."""
    import time

    from durable_sim.durable.journal import HistoryEntry

    journal = PostgresJournal(postgres_dsn, query_timeout_s=1)
    started_entry = HistoryEntry("ExecutionStarted", 0.0, None, {"Input": "1"})
    record = journal.open_execution("e", "1", started_entry, owner="w", lease_s=60)
    assert record.lease is not None
    with psycopg.connect(postgres_dsn) as holder:
        holder.execute("SELECT 1 FROM durable_executions FOR UPDATE")  # held, uncommitted
        started = time.monotonic()
        with pytest.raises(JournalUnavailableError, match=r"query_timeout_s=1 s") as caught:
            journal.renew(record.lease, 60)
        assert time.monotonic() - started < 15  # formerly: until the holder let go
        assert "\n" not in str(caught.value)
        holder.rollback()
    renewed = journal.renew(record.lease, 60)  # a new connection
    assert renewed.epoch == record.lease.epoch
    journal.close()


@pytest.mark.parametrize("name", ["connect_timeout_s", "query_timeout_s"])
@pytest.mark.parametrize("value", [0, -1.0, 0.5, 2**31, float("nan"), float("inf"), True])
def test_a_bad_timeout_is_refused_before_connecting(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"bad {name}=.* \(accepted: a number of seconds from"):
        PostgresJournal("postgresql://127.0.0.1:1/db", **{name: value})  # type: ignore[arg-type]


def _cut_off(dsn: str) -> None:
    """End every other session of the database (as a server restart or a network cut does)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = current_database()"
        )


@pytest.mark.parametrize(
    ("call", "doing"),
    [("claim", "write"), ("release", "write"), ("get_execution", "read")],
)
def test_a_call_cut_off_from_the_server_says_what_it_was_doing(
    postgres_dsn: str, call: str, doing: str
) -> None:
    from durable_sim.durable.journal import HistoryEntry

    journal = PostgresJournal(postgres_dsn)
    started = HistoryEntry("ExecutionStarted", 0.0, None, {})
    record = journal.open_execution("e", "{}", started, owner="w", function_name="f")
    assert record.lease is not None
    calls = {
        "claim": lambda: journal.claim("w2", 30.0, ["f"]),
        "release": lambda: journal.release(record.lease),  # type: ignore[arg-type]
        "get_execution": lambda: journal.get_execution("e"),
    }
    _cut_off(postgres_dsn)
    with pytest.raises(JournalUnavailableError) as caught:
        calls[call]()
    assert str(caught.value).startswith(f"cannot {doing} the journal at ")
    calls[call]()  # the next call reconnects
    journal.close()
