"""The Postgres journal's own faults: a server restart or crash mid-run, a server that is down,
a DSN naming no schema, a schema holding another journal version, a DSN that does not parse, a
call cut off or kept waiting (each names what it was doing), an interrupt; and group commit."""

from __future__ import annotations

import socket
import time
from collections import Counter
from typing import Any

import psycopg
import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType

from durable_sim import run_durable
from durable_sim.dsn import redact
from durable_sim.durable import (
    ExecutionBusyError,
    ExecutionClosedError,
    HistoryEntry,
    JournalCorruptError,
    JournalPathError,
    JournalUnavailableError,
    Lease,
    LeaseLostError,
    OperationClosedError,
    PostgresJournal,
)
from durable_sim.durable.journal import OperationRecord
from durable_sim.pgcluster import PostgresCluster
from tests.conftest import schema_dsn

_STARTED = HistoryEntry("ExecutionStarted", 0.0, None, {})


def _step(op_id: str, status: OperationStatus = OperationStatus.STARTED) -> HistoryEntry:
    record = OperationRecord(op_id, None, OperationType.STEP, "Step", f"s{op_id}", status, 1)
    return HistoryEntry("StepStarted", 1.0, record)


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_STEP = _step("1")
_DONE = HistoryEntry("ExecutionSucceeded", 2.0, None, {"Result": "1"})


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


def test_a_search_path_without_a_schema_is_a_bad_dsn(
    postgres_cluster: PostgresCluster,
) -> None:
    dsn = schema_dsn(postgres_cluster.dsn, "no_such_schema")
    with pytest.raises(JournalPathError) as caught:
        PostgresJournal(dsn)
    assert str(caught.value) == (
        f"bad journal DSN {redact(dsn)!r}: no schema of its search_path (no_such_schema) exists "
        "to hold the journal's tables (accepted: a search_path naming an existing schema)"
    )


def test_a_journal_of_another_version_is_refused(postgres_dsn: str) -> None:
    PostgresJournal(postgres_dsn).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("UPDATE durable_journal_version SET version = 99")
    with pytest.raises(JournalCorruptError) as caught:
        PostgresJournal(postgres_dsn)
    assert str(caught.value) == (
        f"the database at {redact(postgres_dsn)!r} holds a durable_sim journal of schema "
        "version [99] (accepted: 1); use another schema or database"
    )


def test_a_new_schema_is_stamped_with_the_version_once(postgres_dsn: str) -> None:
    for _ in range(2):
        PostgresJournal(postgres_dsn).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT version FROM durable_journal_version").fetchall()
    assert rows == [(1,)]


def test_an_execution_with_an_unknown_status_is_named(postgres_dsn: str) -> None:
    with PostgresJournal(postgres_dsn) as journal:
        journal.open_execution("e", "{}", _STARTED, function_name="f")
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute("UPDATE durable_executions SET status = 'PAUSED'")
        expected = (
            f"journal {redact(postgres_dsn)!r}: execution 'e' has unknown status 'PAUSED' "
            "(accepted: ['FAILED', 'RUNNING', 'SUCCEEDED'])"
        )
        with pytest.raises(JournalCorruptError) as caught:
            journal.open_execution("e", "{}", _STARTED)
        assert str(caught.value) == expected


def test_a_server_that_refuses_connections_is_named_without_the_password() -> None:
    dsn = f"postgresql://postgres:s3cret@127.0.0.1:{_closed_port()}/postgres"
    with pytest.raises(JournalUnavailableError) as caught:
        PostgresJournal(dsn)
    message = str(caught.value)
    assert message.startswith(f"cannot connect to the journal at {redact(dsn)!r}: ")
    assert "Connection refused" in message and "s3cret" not in message and "\n" not in message


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("options", [{}, {"group_commit": False}])
def test_queued_appends_share_one_commit_unless_group_commit_is_off(
    postgres_dsn: str, options: dict[str, bool], count: int
) -> None:
    """Group commit is on by default: appends begun before the first is waited for are written
    in one transaction, all of them, in the order they were begun."""
    with PostgresJournal(postgres_dsn, **options) as journal:
        lease = journal.open_execution("e", "{}", _STARTED, owner="o").lease
        waits = [journal.begin_append("e", [_step(str(i))], lease) for i in range(count)]
        waits[-1]()
        for wait in waits:
            wait()
        assert journal.commits == (count if options else 1)
        history = journal.read_history("e")
        ids = [e.operation.id for e in history[1:]]  # type: ignore[union-attr]
        assert ids == [str(i) for i in range(count)]


def test_a_dsn_that_does_not_parse_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"bad Postgres DSN .*invalid URI query parameter"):
        PostgresJournal("postgresql://h/db?nosuch=1")


def test_a_call_the_server_does_not_answer_fails_within_its_deadline(postgres_dsn: str) -> None:
    """Formerly a journal call waited without a deadline (here: for a row lock another
    transaction holds; a stopped server: tests/test_pgconn.py and the worker's tests). The call
    fails with `JournalUnavailableError`, and the next one reconnects."""

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


def test_a_server_silent_while_connecting_fails_within_the_connect_deadline() -> None:
    """A port that accepts the connection but never answers (a hung server): the journal gives
    up after its connect_timeout_s, not the default, and names it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        dsn = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/postgres"
        started = time.monotonic()
        with pytest.raises(JournalUnavailableError) as caught:
            PostgresJournal(dsn, connect_timeout_s=1)
        assert time.monotonic() - started < 8  # not the default 10 s
    assert "no answer from the server within connect_timeout_s=1 s" in str(caught.value)


def test_a_set_interrupt_cuts_a_wait_for_the_server_short(postgres_dsn: str) -> None:
    """A journal given an interrupt (a worker's stop event) leaves a wait for the server once
    it is set, long before the query deadline, and says why."""
    import threading

    stop = threading.Event()
    journal = PostgresJournal(postgres_dsn, query_timeout_s=30, interrupt=stop)
    record = journal.open_execution("e", "1", _STARTED, owner="w", lease_s=60)
    assert record.lease is not None
    with psycopg.connect(postgres_dsn) as holder:
        holder.execute("SELECT 1 FROM durable_executions FOR UPDATE")  # held, uncommitted
        stop.set()
        started = time.monotonic()
        with pytest.raises(JournalUnavailableError) as caught:
            journal.renew(record.lease, 60)
        assert time.monotonic() - started < 15  # not the 30 s deadline
        holder.rollback()
    assert "the wait for the server was interrupted (stopping)" in str(caught.value)
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


_CALLS = {  # each journal call on an execution "e" that `_opened` made, and what it does
    "open_execution": ("write", lambda j, lease: j.open_execution("e2", "{}", _STARTED)),
    "renew": ("write", lambda j, lease: j.renew(lease, 30.0)),
    "release": ("write", lambda j, lease: j.release(lease)),
    "claim": ("write", lambda j, lease: j.claim("w2", 30.0, ["f"])),
    "append": ("write", lambda j, lease: j.append("e", [_STEP], lease)),
    "finish_execution": (
        "write",
        lambda j, lease: j.finish_execution("e", "SUCCEEDED", "1", None, _DONE, lease),
    ),
    "get_execution": ("read", lambda j, lease: j.get_execution("e")),
    "get_operation": ("read", lambda j, lease: j.get_operation("e", "1")),
    "read_history": ("read", lambda j, lease: j.read_history("e")),
}


@pytest.mark.parametrize("call", list(_CALLS))
def test_a_call_cut_off_from_the_server_says_what_it_was_doing(
    postgres_dsn: str, call: str
) -> None:
    """Each call names what it was doing (reading or writing) and the journal, on one line;
    the next call reconnects and does what it was asked."""
    doing, run = _CALLS[call]
    journal = PostgresJournal(postgres_dsn)
    record = journal.open_execution("e", "{}", _STARTED, owner="w", function_name="f")
    assert record.lease is not None
    _cut_off(postgres_dsn)
    with pytest.raises(JournalUnavailableError) as caught:
        run(journal, record.lease)
    message = str(caught.value)
    assert message.startswith(f"cannot {doing} the journal at {redact(postgres_dsn)!r}: ")
    assert "\n" not in message
    run(journal, record.lease)  # the next call reconnects
    journal.close()


def test_a_journal_that_cannot_create_its_tables_in_time_says_it_was_opening(
    postgres_dsn: str,
) -> None:
    """Another process creating the tables holds the schema lock: a journal whose deadline
    passes first fails naming what it was doing."""
    with psycopg.connect(postgres_dsn) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (0x6A6F75726E616C,))
        with pytest.raises(JournalUnavailableError) as caught:
            PostgresJournal(postgres_dsn, query_timeout_s=1)
        holder.rollback()
    assert str(caught.value).startswith(f"cannot open the journal at {redact(postgres_dsn)!r}: ")
    PostgresJournal(postgres_dsn).close()  # the lock is free: it opens


def test_a_malformed_history_row_names_its_execution_and_sequence_number(
    postgres_dsn: str,
) -> None:
    with PostgresJournal(postgres_dsn) as journal:
        journal.open_execution("e", "{}", _STARTED)
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            row = conn.execute("SELECT seq FROM durable_history").fetchone()
            conn.execute("""UPDATE durable_history SET entries = '[{"e": 1}]'""")
        assert row is not None
        with pytest.raises(JournalCorruptError) as caught:
            journal.read_history("e")
    assert str(caught.value).startswith(
        f"journal {redact(postgres_dsn)!r}: history entry {row[0]} of execution 'e' is malformed: "
    )


def _writes(execution_id: str) -> dict[str, Any]:
    """Each fenced write of `execution_id`, as a call of (journal, lease)."""
    return {
        "renew": lambda j, lease: j.renew(lease, 30.0),
        "append": lambda j, lease: j.append(execution_id, [_STEP], lease),
        "finish_execution": lambda j, lease: j.finish_execution(
            execution_id, "FAILED", None, {}, _DONE, lease
        ),
    }


_ON_MISSING = {  # a call about an execution the journal does not hold
    "read_history": lambda j, lease: j.read_history("x"),
    **_writes("x"),
}


@pytest.mark.parametrize("call", list(_ON_MISSING))
def test_a_call_about_an_execution_the_journal_lacks_is_a_key_error_naming_it(
    postgres_dsn: str, call: str
) -> None:
    from durable_sim.durable import Lease

    with PostgresJournal(postgres_dsn) as journal:
        with pytest.raises(KeyError) as caught:
            _ON_MISSING[call](journal, Lease("x", "w", 1, 0.0))
        assert caught.value.args == ("no execution 'x' in the journal",)
        assert journal.get_execution("x") is None


def test_a_renewal_keeps_the_lease_and_moves_its_expiry_to_server_time_plus_its_length(
    postgres_dsn: str,
) -> None:

    with PostgresJournal(postgres_dsn) as journal:
        lease = journal.open_execution("e", "{}", _STARTED, owner="w", lease_s=5.0).lease
        assert lease is not None
        before = time.time()
        renewed = journal.renew(lease, 600.0)
        after = time.time()
        # the server's clock is this machine's: the expiry is within the call, plus 600 s
        assert (renewed.execution_id, renewed.owner, renewed.epoch) == ("e", "w", lease.epoch)
        assert before + 600.0 - 1 <= renewed.expires_at <= after + 600.0 + 1
        with pytest.raises(ExecutionBusyError) as busy:  # another owner finds it held
            journal.open_execution("e", "{}", _STARTED, owner="other")
    found = busy.value
    assert (found.execution_id, found.owner, found.epoch) == ("e", "w", lease.epoch)
    assert 600.0 - 5 <= found.expires_in_s <= 600.0


def _taken_over(journal: PostgresJournal) -> tuple[Lease, Lease]:
    """Execution "e" opened by "w" with a lease that lapses at once, then taken over by "w2":
    (w's lease, epoch 1; w2's, epoch 2)."""
    first = journal.open_execution("e", "{}", _STARTED, owner="w", lease_s=0.001).lease
    assert first is not None
    time.sleep(0.01)  # past the first lease's expiry on the server's clock
    second = journal.open_execution("e", "{}", _STARTED, owner="w2").lease
    assert second is not None
    return first, second


_WRITES = _writes("e")  # each fenced write of execution "e" with `lease`


@pytest.mark.parametrize("write", list(_WRITES))
def test_a_write_under_a_lost_lease_is_refused_naming_both_epochs(
    postgres_dsn: str, write: str
) -> None:
    with PostgresJournal(postgres_dsn) as journal:
        first, second = _taken_over(journal)
        assert (first.epoch, second.epoch) == (1, 2)
        with pytest.raises(LeaseLostError) as caught:
            _WRITES[write](journal, first)
        assert str(caught.value) == (
            "execution 'e': lease epoch 1 of w was taken over (epoch now 2); this write was refused"
        )
        _WRITES[write](journal, second)  # the new owner's write goes through


@pytest.mark.parametrize("write", list(_WRITES))
def test_a_write_to_an_ended_execution_is_refused_naming_how_it_ended(
    postgres_dsn: str, write: str
) -> None:
    with PostgresJournal(postgres_dsn) as journal:
        lease = journal.open_execution("e", "{}", _STARTED, owner="w").lease
        journal.finish_execution("e", "SUCCEEDED", "1", None, _DONE, lease)
        with pytest.raises(ExecutionClosedError) as caught:
            _WRITES[write](journal, lease)
        assert str(caught.value) == (
            "execution 'e' already ended (SUCCEEDED); nothing more is written to it"
        )
        if write != "renew":  # the writes that may go unfenced are refused all the same
            with pytest.raises(ExecutionClosedError):
                _WRITES[write](journal, None)


def test_an_append_that_would_replace_ended_operations_names_each_of_them(
    postgres_dsn: str,
) -> None:
    with PostgresJournal(postgres_dsn) as journal:
        lease = journal.open_execution("e", "{}", _STARTED, owner="w").lease
        ended = [_step(i, OperationStatus.SUCCEEDED) for i in ("10", "2", "3")]
        journal.append("e", ended, lease)
        again = [_step(i) for i in ("3", "4", "10", "2")]
        with pytest.raises(OperationClosedError) as caught:
            journal.append("e", again, lease)
        assert (caught.value.execution_id, caught.value.op_ids) == ("e", ["10", "2", "3"])
        assert journal.get_operation("e", "4") is None  # nothing of the append was written


def test_opening_without_an_owner_takes_no_lease(postgres_dsn: str) -> None:
    with PostgresJournal(postgres_dsn) as journal:
        record = journal.open_execution("e", "{}", _STARTED)
        assert (record.execution_id, record.status, record.lease) == ("e", "RUNNING", None)
        taken = journal.open_execution("e", "{}", _STARTED, owner="w").lease
        assert taken is not None and (taken.owner, taken.epoch) == ("w", 1)
        journal.finish_execution("e", "SUCCEEDED", "1", None, _DONE, taken)
        ended = journal.open_execution("e", "{}", _STARTED, owner="w2")
        assert (ended.status, ended.lease) == ("SUCCEEDED", None)  # an ended one: none either


@pytest.mark.parametrize("ready", [False, True])
def test_an_execution_is_claimable_at_once_only_when_opened_ready(
    postgres_dsn: str, ready: bool
) -> None:
    with PostgresJournal(postgres_dsn) as journal:
        options = {"ready": True} if ready else {}
        journal.open_execution("e", "{}", _STARTED, function_name="f", **options)
        claimed = journal.claim("w", 30.0, ["f"])
        assert (claimed.execution_id if claimed else None) == ("e" if ready else None)
