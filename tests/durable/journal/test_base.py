"""The journal's contract on a clock the test sets (memory and SQLite journals read this
machine's Unix time, so a test can stand in for it): lease expiry and busy errors to the
second, renewal, release and the queue's order and readiness, and the messages of refused
writes. Postgres reads the server's clock, so its share of the contract runs in
``tests/durable/test_journal.py`` on the real clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType

from durable_sim.durable import (
    ExecutionBusyError,
    ExecutionClosedError,
    HistoryEntry,
    Journal,
    LeaseLostError,
    MemoryJournal,
    OperationClosedError,
    OperationRecord,
    SqliteJournal,
)
from durable_sim.durable.journal import memory, sqlite

T0 = 1_700_000_000.0


class Clock:
    """This machine's Unix time as the journals read it, set by the test."""

    def __init__(self) -> None:
        self.now = T0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    stand_in = SimpleNamespace(time=fake.time, monotonic=time.monotonic, sleep=time.sleep)
    monkeypatch.setattr(memory, "time", stand_in)
    monkeypatch.setattr(sqlite, "time", stand_in)
    return fake


@pytest.fixture(params=["memory", "sqlite"])
def journal(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Journal]:
    opened: Journal = (
        MemoryJournal() if request.param == "memory" else SqliteJournal(tmp_path / "j.sqlite")
    )
    yield opened
    opened.close()


def _started() -> HistoryEntry:
    return HistoryEntry("ExecutionStarted", 0.0, None, {"Input": "{}"})


def _op(op_id: str, status: OperationStatus = OperationStatus.STARTED) -> HistoryEntry:
    record = OperationRecord(op_id, None, OperationType.STEP, "Step", f"s{op_id}", status, 1)
    return HistoryEntry("StepStarted", 1.0, record)


def _queue(journal: Journal, *ids: str) -> None:
    for execution_id in ids:
        journal.open_execution(execution_id, "{}", _started(), function_name="fn", ready=True)


def _claimed(journal: Journal, owner: str = "w", lease_s: float = 30.0) -> str | None:
    record = journal.claim(owner, lease_s, ["fn"])
    return None if record is None else record.execution_id


def test_a_lease_lasts_until_its_expiry_and_not_a_moment_longer(
    journal: Journal, clock: Clock
) -> None:
    first = journal.open_execution("x", "{}", _started(), owner="a", lease_s=10.0)
    assert first.lease is not None and first.lease.expires_at == T0 + 10.0
    clock.now = T0 + 4.0
    with pytest.raises(ExecutionBusyError) as info:
        journal.open_execution("x", "{}", _started(), owner="b", lease_s=10.0)
    busy = info.value
    assert (busy.execution_id, busy.owner, busy.epoch, busy.expires_in_s) == ("x", "a", 1, 6.0)
    assert "run by a (lease epoch 1, 6.0 s left unless renewed)" in str(busy)
    clock.now = T0 + 10.0  # the lease ends at its expiry time
    taken = journal.open_execution("x", "{}", _started(), owner="b", lease_s=5.0)
    assert taken.lease is not None
    assert (taken.lease.owner, taken.lease.epoch, taken.lease.expires_at) == ("b", 2, T0 + 15.0)


def test_a_renewal_moves_the_expiry_to_its_duration_from_now(
    journal: Journal, clock: Clock
) -> None:
    lease = journal.open_execution("x", "{}", _started(), owner="a", lease_s=10.0).lease
    assert lease is not None
    clock.now = T0 + 8.0
    renewed = journal.renew(lease, 3.0)
    assert (renewed.execution_id, renewed.owner, renewed.epoch) == ("x", "a", 1)
    assert renewed.expires_at == T0 + 11.0
    clock.now = T0 + 10.5  # past the first expiry, within the renewed one
    with pytest.raises(ExecutionBusyError) as info:
        journal.open_execution("x", "{}", _started(), owner="b")
    assert info.value.expires_in_s == 0.5
    clock.now = T0 + 11.0
    assert journal.open_execution("x", "{}", _started(), owner="b").lease is not None


def test_a_stale_lease_is_refused_with_both_epochs_named(journal: Journal, clock: Clock) -> None:
    old = journal.open_execution("x", "{}", _started(), owner="a", lease_s=1.0).lease
    assert old is not None
    clock.now = T0 + 2.0
    journal.open_execution("x", "{}", _started(), owner="b", lease_s=1.0)
    for write in (
        lambda: journal.append("x", [_op("1")], old),
        lambda: journal.renew(old, 1.0),
        lambda: journal.finish_execution("x", "SUCCEEDED", "1", None, _op("9"), old),
    ):
        with pytest.raises(LeaseLostError) as info:
            write()
        assert (
            "execution 'x': lease epoch 1 of a was taken over (epoch now 2); this write was refused"
        ) in str(info.value)


def test_an_ended_execution_refuses_writes_naming_its_outcome(journal: Journal) -> None:
    lease = journal.open_execution("x", "{}", _started(), owner="a").lease
    journal.finish_execution("x", "FAILED", None, {"ErrorType": "E"}, _op("9"), lease)
    for write in (
        lambda: journal.append("x", [_op("1")]),
        lambda: journal.finish_execution("x", "SUCCEEDED", "1", None, _op("9")),
    ):
        with pytest.raises(ExecutionClosedError) as info:
            write()
        assert "execution 'x' already ended (FAILED); nothing more is written to it" in str(
            info.value
        )
    record = journal.open_execution("x", "{}", _started(), owner="b")
    assert (record.status, record.error, record.lease) == ("FAILED", {"ErrorType": "E"}, None)
    assert journal.claim("b", 30.0, [""]) is None


def test_an_unknown_execution_is_a_key_error_naming_it(journal: Journal) -> None:
    for name in ("b", "a", "c", "e", "d", "f"):
        journal.open_execution(name, "{}", _started())
    with pytest.raises(KeyError, match="no execution 'zz' in"):
        journal.read_history("zz")
    with pytest.raises(KeyError, match="no execution 'zz' in"):
        journal.append("zz", [_op("1")])
    assert journal.get_execution("zz") is None
    assert journal.get_operation("zz", "1") is None


def test_the_memory_journal_names_some_executions_it_has() -> None:
    journal = MemoryJournal()
    for name in ("b", "a", "c", "e", "d", "f"):
        journal.open_execution(name, "{}", _started())
    with pytest.raises(KeyError) as info:
        journal.read_history("zz")
    assert info.value.args[0] == (
        "no execution 'zz' in this journal (some: ['a', 'b', 'c', 'd', 'e'])"
    )


def test_the_queue_hands_out_the_longest_ready_first_then_by_id(
    journal: Journal, clock: Clock
) -> None:
    _queue(journal, "c", "b")
    clock.now = T0 + 1.0
    _queue(journal, "a")
    assert [_claimed(journal, f"w{i}") for i in range(4)] == ["b", "c", "a", None]


def test_a_released_execution_is_ready_at_its_time_and_not_before(
    journal: Journal, clock: Clock
) -> None:
    _queue(journal, "x")
    held = journal.claim("w", 30.0, ["fn"])
    assert held is not None and held.lease is not None
    journal.release(held.lease, ready_at=T0 + 5.0)
    clock.now = T0 + 4.999
    assert _claimed(journal) is None
    clock.now = T0 + 5.0
    assert _claimed(journal) == "x"


def test_a_release_watching_operations_that_have_not_ended_keeps_its_time(
    journal: Journal, clock: Clock
) -> None:
    _queue(journal, "x")
    held = journal.claim("w", 30.0, ["fn"])
    assert held is not None and held.lease is not None
    journal.append("x", [_op("1"), _op("2", OperationStatus.SUCCEEDED)], held.lease)
    journal.release(held.lease, ready_at=None, watch=["1", "3"])  # running, unknown
    clock.now = T0 + 1000.0
    assert _claimed(journal) is None
    journal.append("x", [_op("3")])  # the outside world starts one: nothing ended
    assert _claimed(journal) is None
    journal.append("x", [_op("1", OperationStatus.FAILED)])  # ends one: ready now
    assert _claimed(journal) == "x"


def test_a_release_watching_an_ended_operation_is_ready_at_once(
    journal: Journal, clock: Clock
) -> None:
    _queue(journal, "x")
    held = journal.claim("w", 30.0, ["fn"])
    assert held is not None and held.lease is not None
    journal.append("x", [_op("2", OperationStatus.SUCCEEDED)], held.lease)
    journal.release(held.lease, ready_at=T0 + 60.0, watch=["1", "2"])
    assert _claimed(journal) == "x"


def test_an_expired_lease_is_claimed_in_order_of_expiry(journal: Journal, clock: Clock) -> None:
    _queue(journal, "a", "b")
    assert journal.claim("dead-1", 20.0, ["fn"]) is not None  # a, until T0 + 20
    assert journal.claim("dead-2", 10.0, ["fn"]) is not None  # b, until T0 + 10
    clock.now = T0 + 9.0
    assert _claimed(journal) is None
    clock.now = T0 + 10.0  # b's lease ends at its expiry time
    assert _claimed(journal, "w1") == "b"
    clock.now = T0 + 30.0
    assert [_claimed(journal, "w2"), _claimed(journal, "w3")] == ["a", None]


def test_a_parked_execution_waits_for_the_outside_world(journal: Journal, clock: Clock) -> None:
    journal.open_execution("x", "{}", _started(), function_name="fn")  # not queued
    assert _claimed(journal) is None
    lease = journal.open_execution("x", "{}", _started(), owner="w").lease
    assert lease is not None
    journal.release(lease)  # waits for an answer
    clock.now = T0 + 1e6
    assert _claimed(journal) is None


def test_a_refused_append_names_every_ended_operation_in_order(journal: Journal) -> None:
    lease = journal.open_execution("x", "{}", _started(), owner="a").lease
    ended = OperationStatus.SUCCEEDED
    journal.append("x", [_op("b", ended), _op("a", ended), _op("c")], lease)
    with pytest.raises(OperationClosedError) as info:
        journal.append("x", [_op("c"), _op("b"), _op("a"), _op("d")], lease)
    assert (info.value.execution_id, info.value.op_ids) == ("x", ["a", "b"])
    assert journal.get_operation("x", "d") is None


def test_a_finished_execution_keeps_its_outcome_and_frees_its_lease(journal: Journal) -> None:
    lease = journal.open_execution("x", "{}", _started(), owner="a").lease
    journal.append("x", [_op("1", OperationStatus.SUCCEEDED)], lease)
    end = HistoryEntry("ExecutionSucceeded", 5.0, None, {"Result": '"r"'})
    journal.finish_execution("x", "SUCCEEDED", '"r"', None, end, lease)
    record = journal.get_execution("x")
    assert record is not None
    assert (record.status, record.result, record.error, record.lease) == (
        "SUCCEEDED",
        '"r"',
        None,
        None,
    )
    assert journal.read_history("x")[-1] == end
    again = journal.open_execution("x", "{}", _started(), owner="b")
    assert again.lease is None and set(again.operations) == {"1"}


def _entry(kind: str, **kw: Any) -> HistoryEntry:
    return HistoryEntry(kind, 1.0, None, kw or None)


def test_appends_count_invocations_and_keep_the_latest_record(journal: Journal) -> None:
    lease = journal.open_execution("x", "{}", _started(), owner="a").lease
    done = _entry("InvocationCompleted")
    journal.append("x", [_op("1"), done, _op("1", OperationStatus.SUCCEEDED), done], lease)
    journal.append("x", [done], lease)
    record = journal.get_execution("x")
    assert record is not None and (record.execution_id, record.invocations) == ("x", 3)
    latest = journal.get_operation("x", "1")
    assert latest is not None and latest.status is OperationStatus.SUCCEEDED
    assert [e.event_type for e in journal.read_history("x")] == [
        "ExecutionStarted",
        "StepStarted",
        "InvocationCompleted",
        "StepStarted",
        "InvocationCompleted",
        "InvocationCompleted",
    ]


def test_an_opened_execution_is_a_snapshot(journal: Journal) -> None:
    """What `open_execution` returns is the journal as it was then: later appends do not
    change it (replay reads one consistent state)."""
    opened = journal.open_execution("x", "{}", _started(), owner="a")
    journal.append("x", [_op("1")], opened.lease)
    assert opened.operations == {} and opened.invocations == 0
    again = journal.open_execution("x", "{}", _started(), owner="a")
    journal.append("x", [_op("1", OperationStatus.SUCCEEDED), _entry("InvocationCompleted")])
    assert again.operations["1"].status is OperationStatus.STARTED and again.invocations == 0


def test_expired_leases_are_claimed_oldest_expiry_first_and_before_later_ready_ones(
    journal: Journal, clock: Clock
) -> None:
    _queue(journal, "a", "b", "c")
    assert journal.claim("dead-1", 20.0, ["fn"]) is not None  # a, until T0 + 20
    assert journal.claim("dead-2", 10.0, ["fn"]) is not None  # b, until T0 + 10
    clock.now = T0 + 30.0  # c has been ready since T0
    assert [_claimed(journal, f"w{i}") for i in range(4)] == ["c", "b", "a", None]
    _queue(journal, "d")  # ready at T0 + 30
    assert journal.claim("dead-3", 1.0, ["fn"]) is not None  # d, until T0 + 31
    clock.now = T0 + 40.0
    assert _claimed(journal) == "d"


def test_an_append_begun_under_a_stale_lease_is_refused(journal: Journal, clock: Clock) -> None:
    old = journal.open_execution("x", "{}", _started(), owner="a", lease_s=1.0).lease
    clock.now = T0 + 2.0
    journal.open_execution("x", "{}", _started(), owner="b")
    with pytest.raises(LeaseLostError, match="lease epoch 1 of a was taken over"):
        journal.begin_append("x", [_op("1")], old)()
    assert journal.get_operation("x", "1") is None


@pytest.mark.parametrize("error", [{}, {"ErrorType": "E", "ErrorMessage": ""}])
def test_a_finished_executions_error_reads_back_as_written(
    journal: Journal, error: dict[str, Any]
) -> None:
    """Every backend returns the error object it was given, an empty one included (SQLite
    stored ``{}`` as NULL and read it back as ``None``, where memory kept ``{}``)."""
    lease = journal.open_execution("x", "{}", _started(), owner="a").lease
    end = HistoryEntry("ExecutionFailed", 5.0, None, {"Error": error})
    journal.finish_execution("x", "FAILED", None, error, end, lease)
    record = journal.get_execution("x")
    assert record is not None and record.error == error
