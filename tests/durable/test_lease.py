"""One executor per execution: a second caller runs nothing, a dead owner is taken over, a
stalled owner is fenced, and the lease's options are checked."""

from __future__ import annotations

import math
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration

from durable_sim import FaultPlan, SimulatedCrash, WallClock, run_durable
from durable_sim.durable import (
    ExecutionBusyError,
    HistoryEntry,
    Journal,
    JournalUnavailableError,
    Lease,
    LeaseConfig,
    LeaseLostError,
    MemoryJournal,
)
from durable_sim.durable import lease as lease_module
from durable_sim.durable.journal import ExecutionRecord
from durable_sim.durable.lease import (
    DEFAULT_LEASE_S,
    LEASE_WHY,
    MIN_LEASE_S,
    LeaseKeeper,
    lease_is_free,
    new_owner_id,
    open_leased,
)
from tests.durable.conftest import JournalBackend


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> lease_module._RenewalStarts:
    """A renewal starter of this test's own in place of the process's: it holds only this
    test's keepers, and its state and thread begin inside the test (a mutation run then counts
    its thread's loop as reached by the test; the process's starter runs one loop for good)."""
    fresh = lease_module._RenewalStarts()
    monkeypatch.setattr(lease_module, "_RENEWAL_STARTS", fresh)
    return fresh


def _gated(calls: Counter[str], entered: threading.Event, gate: threading.Event) -> Any:
    def handler(event: Any, ctx: DurableContext) -> list[int]:
        def slow(_: Any) -> int:
            calls["slow"] += 1
            entered.set()
            gate.wait(10)
            return 1

        first = ctx.step(slow, name="slow")
        second = ctx.step(lambda _: calls.update(["fast"]) or 2, name="fast")
        return [first, second]

    return handler


def test_a_second_caller_finds_the_lease_and_runs_no_step(backend: JournalBackend) -> None:
    calls: Counter[str] = Counter()
    entered, gate = threading.Event(), threading.Event()
    handler = _gated(calls, entered, gate)
    outcome: list[Any] = []
    first = threading.Thread(
        target=lambda: outcome.append(
            run_durable(handler, None, journal=backend.open(), execution_id="e")
        )
    )
    first.start()
    assert entered.wait(10)
    with pytest.raises(ExecutionBusyError, match="'e' is being run by") as busy:
        run_durable(handler, None, journal=backend.open(), execution_id="e")
    assert busy.value.execution_id == "e" and busy.value.epoch == 1
    assert calls == {"slow": 1}  # the second caller ran nothing
    gate.set()
    first.join()
    assert (outcome[0].status, outcome[0].result) == ("SUCCEEDED", [1, 2])
    assert calls == {"slow": 1, "fast": 1}


def test_a_waiting_caller_gets_the_journals_outcome(backend: JournalBackend) -> None:
    calls: Counter[str] = Counter()
    entered, gate = threading.Event(), threading.Event()
    handler = _gated(calls, entered, gate)
    runs: list[Any] = []
    first = threading.Thread(
        target=lambda: runs.append(
            run_durable(handler, None, journal=backend.open(), execution_id="e")
        )
    )
    first.start()
    assert entered.wait(10)
    waiting = LeaseConfig(on_busy="wait", poll_s=0.01)
    second = threading.Thread(
        target=lambda: runs.append(
            run_durable(handler, None, journal=backend.open(), execution_id="e", lease=waiting)
        )
    )
    second.start()
    time.sleep(0.2)
    gate.set()
    first.join()
    second.join()
    assert [(r.status, r.result) for r in runs] == [("SUCCEEDED", [1, 2])] * 2
    assert calls == {"slow": 1, "fast": 1}  # the waiter replayed nothing: it found the outcome


def test_waiting_gives_up_after_its_timeout(backend: JournalBackend) -> None:
    calls: Counter[str] = Counter()
    entered, gate = threading.Event(), threading.Event()
    handler = _gated(calls, entered, gate)
    first = threading.Thread(
        target=lambda: run_durable(handler, None, journal=backend.open(), execution_id="e")
    )
    first.start()
    assert entered.wait(10)
    impatient = LeaseConfig(on_busy="wait", wait_timeout_s=0.2, poll_s=0.05)
    start = time.monotonic()
    with pytest.raises(ExecutionBusyError):
        run_durable(handler, None, journal=backend.open(), execution_id="e", lease=impatient)
    assert 0.2 <= time.monotonic() - start < 5
    gate.set()
    first.join()


def test_a_crashed_owner_is_taken_over_and_its_completed_steps_are_not_rerun(
    backend: JournalBackend,
) -> None:
    calls: Counter[str] = Counter()

    def handler(event: Any, ctx: DurableContext) -> int:
        total = 0
        for i in range(4):
            total += ctx.step(lambda _, i=i: calls.update([f"s{i}"]) or i, name=f"s{i}")
        return total

    with pytest.raises(SimulatedCrash):  # dies right after its second checkpoint
        run_durable(
            handler,
            None,
            journal=backend.open(),
            execution_id="e",
            faults=FaultPlan(crash_after_checkpoint=2, crash_mode="raise"),
        )
    run = run_durable(handler, None, journal=backend.open(), execution_id="e")
    assert (run.status, run.result) == ("SUCCEEDED", 6)
    assert calls == {"s0": 1, "s1": 1, "s2": 1, "s3": 1}


class _Unreachable:
    """A journal handle whose renewals fail after `after` of them: the process is cut off from
    the database (or paused) while others reach it."""

    def __init__(self, journal: Journal, after: int = 0) -> None:
        self._journal = journal
        self._after = after

    def renew(self, lease: Lease, lease_s: float) -> Lease:
        if self._after <= 0:
            raise JournalUnavailableError("cut off")
        self._after -= 1
        return self._journal.renew(lease, lease_s)

    def append(
        self, execution_id: str, entries: Sequence[HistoryEntry], lease: Lease | None = None
    ) -> None:
        self._journal.append(execution_id, entries, lease)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


def test_a_stalled_owner_is_fenced_and_stops_before_its_next_step(
    shared_backend: JournalBackend,
) -> None:
    calls: Counter[str] = Counter()
    taken_over = threading.Event()

    def handler(event: Any, ctx: DurableContext) -> list[str]:
        def long(_: Any) -> str:
            calls["long"] += 1
            taken_over.wait(10)  # outlives its lease: it cannot renew
            return "long"

        return [ctx.step(long, name="long"), ctx.step(lambda _: calls.update(["next"]), "next")]

    lease = LeaseConfig(duration_s=0.3)
    stalled = _Unreachable(shared_backend.open())
    errors: list[BaseException] = []

    def first() -> None:
        try:
            run_durable(handler, None, journal=stalled, execution_id="e", lease=lease)  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    while not calls["long"]:  # the first owner is inside its step ...
        time.sleep(0.01)
    time.sleep(0.5)  # ... and its lease lapsed
    waiter = LeaseConfig(duration_s=5, on_busy="wait", poll_s=0.02)
    other = shared_backend.open()
    calls_before = dict(calls)

    def taker(event: Any, ctx: DurableContext) -> list[str]:
        taken_over.set()  # the new owner holds the lease: let the stalled body finish
        return handler(event, ctx)

    run = run_durable(taker, None, journal=other, execution_id="e", lease=waiter)
    thread.join()
    assert calls_before == {"long": 1}
    assert len(errors) == 1 and isinstance(errors[0], LeaseLostError)
    assert (run.status, run.result) == ("SUCCEEDED", ["long", None])
    # the stalled owner's completion was refused; the new owner ran the step again (at least
    # once per attempt), and "next" ran once, never in the stalled process
    assert calls == {"long": 2, "next": 1}
    steps = [e for e in other.read_history("e") if e.event_type == "StepSucceeded"]
    assert [e.operation.name for e in steps] == ["long", "next"]  # type: ignore[union-attr]


def test_the_keeper_renews_through_a_long_step(backend: JournalBackend) -> None:
    def handler(event: Any, ctx: DurableContext) -> str:
        return ctx.step(lambda _: time.sleep(2.5) or "done", name="long")  # > the lease

    journal = backend.open()
    # A renewal every third of a second keeps a 1 s lease even on a loaded host.
    run = run_durable(
        handler, None, journal=journal, execution_id="e", lease=LeaseConfig(duration_s=1.0)
    )
    assert run.status == "SUCCEEDED"


def test_a_keeper_that_cannot_renew_says_so_before_the_next_step(backend: JournalBackend) -> None:
    journal = backend.open()
    record = journal.open_execution(
        "e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}), owner="o", lease_s=0.2
    )
    assert record.lease is not None
    keeper = LeaseKeeper(_Unreachable(journal, after=1), record.lease, 0.2)  # type: ignore[arg-type]
    keeper.check()
    time.sleep(0.5)
    with pytest.raises(LeaseLostError, match=r"was not renewed within its 0\.2 s"):
        keeper.check()
    keeper.stop()


class _CountingRenewals:
    """A journal handle that counts the renewals sent through it."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.renewals = 0

    def renew(self, lease: Lease, lease_s: float) -> Lease:
        self.renewals += 1
        return self._journal.renew(lease, lease_s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


def _held(duration_s: float) -> tuple[_CountingRenewals, Lease]:
    journal = MemoryJournal()
    record = journal.open_execution(
        "e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}), owner="o", lease_s=duration_s
    )
    assert record.lease is not None
    return _CountingRenewals(journal), record.lease


def test_a_keeper_stopped_before_its_first_renewal_never_renews() -> None:
    journal, lease = _held(3.0)  # first renewal due after 1 s: far beyond any stall of load
    keeper = LeaseKeeper(journal, lease, 3.0)  # type: ignore[arg-type]
    assert keeper.stop() == lease
    time.sleep(1.2)  # past the first renewal it would have sent
    assert journal.renewals == 0


def test_a_keeper_renews_every_third_of_its_lease_and_stops_when_told() -> None:
    journal, lease = _held(0.3)
    keeper = LeaseKeeper(journal, lease, 0.3)  # type: ignore[arg-type]
    deadline = time.monotonic() + 30  # renewals due at 0.1 s and 0.2 s; a loaded host is late
    while journal.renewals < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    keeper.check()
    renewed = keeper.stop()
    assert journal.renewals >= 2 and renewed.epoch == lease.epoch
    assert renewed.expires_at > lease.expires_at
    after = journal.renewals
    time.sleep(0.25)
    assert journal.renewals == after  # nothing is renewed once stop returned


class _BlockedRenewals(_CountingRenewals):
    """A journal handle whose renewals wait for `release` (a server slow to answer), noting
    that one is under way (`entered`, `in_flight`) and what each returned (`renewed`)."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.in_flight = False
        self.renewed: list[Lease] = []

    def renew(self, lease: Lease, lease_s: float) -> Lease:
        self.in_flight = True
        self.entered.set()
        self.release.wait(60)
        renewed = super().renew(lease, lease_s)
        self.renewed.append(renewed)
        self.in_flight = False
        return renewed


@pytest.mark.parametrize("renewer", ["keeper thread", "starter"])
def test_stop_waits_for_a_renewal_under_way_and_returns_the_lease_it_renewed(
    starts: lease_module._RenewalStarts, monkeypatch: pytest.MonkeyPatch, renewer: str
) -> None:
    """`stop` stops renewing and returns the lease as last renewed: a renewal under way when it
    is called is part of that (the caller releases, or finishes, with the returned lease), so
    `stop` returns only once that renewal has ended, and returns what it renewed. So also when
    no keeper thread could start and the starter sends the renewal itself (formerly `stop`
    then returned at once, and the renewal ended after it)."""
    if renewer == "starter":
        _no_keeper_threads(monkeypatch)
    counting, lease = _held(0.3)
    journal = _BlockedRenewals(counting._journal)
    keeper = LeaseKeeper(journal, lease, 0.3)  # type: ignore[arg-type]
    assert journal.entered.wait(30)  # the first renewal (due after 0.1 s) is under way
    returned: list[tuple[Lease, bool]] = []
    stopper = threading.Thread(target=lambda: returned.append((keeper.stop(), journal.in_flight)))
    stopper.start()
    stopper.join(0.5)  # a stop that does not wait for the renewal returns well within this
    waited = stopper.is_alive()
    journal.release.set()
    stopper.join(30)
    assert waited, "stop() returned while a renewal was under way"
    ((stopped, in_flight),) = returned
    assert not in_flight
    assert journal.renewed == [stopped] and stopped.expires_at > lease.expires_at
    assert journal.renewals == 1  # and none after it


def test_a_keeper_whose_thread_cannot_start_is_renewed_by_the_starter(
    monkeypatch: pytest.MonkeyPatch, starts: lease_module._RenewalStarts
) -> None:
    """At a thread or memory limit ``Thread.start`` raises RuntimeError: the lease must still
    be renewed (else another process takes over a step that is running), the starter must
    live on for every other keeper, and `stop` must not join a thread that never ran."""
    start = threading.Thread.start

    def no_keeper_threads(thread: threading.Thread) -> None:
        if thread.name.startswith("lease-") and thread.name != "lease-renewal-starts":
            raise RuntimeError("can't start new thread")
        start(thread)

    journal, lease = _held(0.3)
    monkeypatch.setattr(threading.Thread, "start", no_keeper_threads)
    keeper = LeaseKeeper(journal, lease, 0.3)  # type: ignore[arg-type]
    time.sleep(0.75)  # 2.5 lease lengths: lapsed unless renewed every third
    keeper.check()
    assert journal.renewals >= 4
    assert starts._thread is not None and starts._thread.is_alive()
    renewed = keeper.stop()
    assert renewed.epoch == lease.epoch and renewed.expires_at > lease.expires_at
    time.sleep(0.05)  # a renewal already under way ends
    after = journal.renewals
    time.sleep(0.3)
    assert journal.renewals == after
    monkeypatch.setattr(threading.Thread, "start", start)  # threads can start again
    other, other_lease = _held(0.3)  # the starter still starts threads for later keepers
    later = LeaseKeeper(other, other_lease, 0.3)  # type: ignore[arg-type]
    time.sleep(0.25)
    later.check()
    assert later._thread is not None and later._thread.is_alive()
    later.stop()


def test_stopped_keepers_are_not_kept_waiting_for_their_first_renewal(
    starts: lease_module._RenewalStarts,
) -> None:
    journal, lease = _held(30.0)
    live = LeaseKeeper(journal, lease, 30.0)  # type: ignore[arg-type]
    for _ in range(5000):  # e.g. a sweep of short runs: each keeper stops within a third
        LeaseKeeper(journal, lease, 30.0).stop()  # type: ignore[arg-type]
        assert len(starts._due) <= 2 * 1 + 64  # in proportion to the one live keeper
    kept = [entry[2] for entry in starts._due if entry[2] is not None]
    assert kept == [live]
    live.stop()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_keeper_in_a_forked_child_renews() -> None:
    parked = LeaseKeeper(*_held(30.0), 30.0)  # type: ignore[arg-type]  # pending at the fork
    pid = os.fork()
    if pid == 0:  # the child: its keepers get renewal threads of their own
        code = 1
        try:
            journal, lease = _held(0.15)
            keeper = LeaseKeeper(journal, lease, 0.15)  # type: ignore[arg-type]
            time.sleep(0.3)
            keeper.check()
            keeper.stop()
            code = 0 if journal.renewals >= 1 else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 10
    while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    parked.stop()
    if waited[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert waited[0] == pid and os.waitstatus_to_exitcode(waited[1]) == 0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"duration_s": 0}, "duration_s=0"),
        ({"duration_s": float("inf")}, "duration_s=inf"),
        ({"duration_s": float("nan")}, "duration_s=nan"),
        ({"on_busy": "block"}, "on_busy='block'"),
        ({"wait_timeout_s": -1}, "wait_timeout_s=-1"),
        ({"poll_s": 0}, "poll_s=0"),
        ({"owner": ""}, "owner=''"),
    ],
)
def test_lease_options_are_checked(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"lease {message}.*accepted"):
        LeaseConfig(**values)


def test_a_wall_clock_wait_resumes_in_another_process_at_its_time(tmp_path: Any) -> None:
    """Wall-clock times are Unix times, so a wait journaled by one process ends at the same
    moment for the process that resumes it."""
    from durable_sim import SqliteJournal

    def handler(event: Any, ctx: DurableContext) -> str:
        ctx.step(lambda _: 1, name="before")
        ctx.wait(Duration.from_seconds(1))
        return "after"

    path = tmp_path / "j.sqlite"
    first = time.time()
    with pytest.raises(SimulatedCrash), SqliteJournal(path) as journal:
        run_durable(
            handler,
            None,
            journal=journal,
            execution_id="w",
            clock=WallClock(),
            faults=FaultPlan(crash_after_checkpoint=2, crash_mode="raise"),  # after the wait
        )
    start = time.monotonic()
    with SqliteJournal(path) as journal:
        run = run_durable(handler, None, journal=journal, execution_id="w", clock=WallClock())
    assert (run.status, run.result) == ("SUCCEEDED", "after")
    # Not before the journaled end (at least 1 s after the first process started) and not a
    # process-relative time read as a Unix time (which would wait for years: bounded here by a
    # margin that no load reaches, the wait itself being 1 s).
    assert time.time() - first >= 1.0
    assert time.monotonic() - start < 30.0


@pytest.mark.parametrize("field", ["duration_s", "poll_s", "wait_timeout_s"])
def test_a_boolean_is_no_number_of_seconds(field: str) -> None:
    with pytest.raises(ValueError, match=rf"lease {field}=True"):
        LeaseConfig(**{field: True})  # type: ignore[arg-type]


# -- taking the lease: options, waiting, ownership ---------------------------------------------


def test_the_lease_defaults_are_the_documented_ones() -> None:
    assert DEFAULT_LEASE_S == 30.0
    config = LeaseConfig()
    assert (config.duration_s, config.on_busy, config.wait_timeout_s, config.owner) == (
        30.0,
        "raise",
        None,
        None,
    )
    assert config.poll_s == 0.05


_LEASE_RANGE = f"a number of seconds from 0.1 to 31536000; {LEASE_WHY}"
_POLL_RANGE = "a finite number of seconds > 0"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"duration_s": -1.0}, f"bad lease duration_s=-1.0 (accepted: {_LEASE_RANGE})"),
        ({"duration_s": "5"}, f"bad lease duration_s='5' (accepted: {_LEASE_RANGE})"),
        ({"duration_s": 1e-9}, f"bad lease duration_s=1e-09 (accepted: {_LEASE_RANGE})"),
        ({"duration_s": 0.0999}, f"bad lease duration_s=0.0999 (accepted: {_LEASE_RANGE})"),
        ({"duration_s": 10**400}, f"bad lease duration_s=1.000e+400 (accepted: {_LEASE_RANGE})"),
        ({"on_busy": "RAISE"}, "lease on_busy='RAISE' (accepted: 'raise' or 'wait')"),
        (
            {"wait_timeout_s": float("inf")},
            "bad lease wait_timeout_s=inf (accepted: a finite number of seconds >= 0)",
        ),
        (
            {"wait_timeout_s": "1"},
            "bad lease wait_timeout_s='1' (accepted: a finite number of seconds >= 0)",
        ),
        ({"poll_s": float("inf")}, f"bad lease poll_s=inf (accepted: {_POLL_RANGE})"),
        ({"poll_s": -0.5}, f"bad lease poll_s=-0.5 (accepted: {_POLL_RANGE})"),
        ({"poll_s": None}, f"bad lease poll_s=None (accepted: {_POLL_RANGE})"),
        ({"owner": 7}, "lease owner=7 (accepted: None or a non-empty string)"),
    ],
)
def test_a_bad_lease_option_is_named_with_its_range(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        LeaseConfig(**values)
    assert str(info.value) == message


def test_the_edges_of_the_lease_options_are_accepted() -> None:
    config = LeaseConfig(
        duration_s=MIN_LEASE_S, on_busy="wait", wait_timeout_s=-0.0, poll_s=1e-9, owner="o"
    )
    assert (config.duration_s, config.wait_timeout_s, config.poll_s) == (0.1, 0, 1e-9)
    assert math.copysign(1.0, config.wait_timeout_s) == 1.0  # -0.0 is stored as 0.0
    assert LeaseConfig(duration_s=5, wait_timeout_s=2.5).duration_s == 5


def test_lease_durations_are_any_real_number_stored_as_floats() -> None:
    """numpy's integers were refused where its floats were accepted."""
    config = LeaseConfig(duration_s=np.int64(5), wait_timeout_s=np.float32(2), poll_s=np.int8(1))
    values = (config.duration_s, config.wait_timeout_s, config.poll_s)
    assert values == (5.0, 2.0, 1.0) and all(type(v) is float for v in values)


def test_an_owner_id_names_host_and_process_and_is_unique() -> None:
    host, pid, suffix = new_owner_id().split(":")
    assert (host, pid) == (socket.gethostname(), str(os.getpid()))
    assert len(suffix) == 8 and int(suffix, 16) >= 0
    assert len({new_owner_id() for _ in range(100)}) == 100


@pytest.mark.parametrize(
    ("holder", "expires_at", "free"),
    [
        (None, None, True),  # no one holds it
        ("me", 20.0, True),  # its own, for a new epoch
        ("other", None, True),  # held without expiry: a released lease
        ("other", 9.0, True),  # expired
        ("other", 10.0, True),  # expires now
        ("other", 10.5, False),  # live
    ],
)
def test_a_lease_is_free_unless_another_owner_holds_it_live(
    holder: str | None, expires_at: float | None, free: bool
) -> None:
    assert lease_is_free(holder, expires_at, "me", 10.0) is free


class _Busy:
    """A journal whose execution is busy for the first `times` attempts to open it; records
    each attempt's owner and lease duration."""

    def __init__(self, times: int, expires_in_s: float = 5.0) -> None:
        self.times = times
        self.expires_in_s = expires_in_s
        self.attempts: list[tuple[str | None, float, str | None]] = []

    def open_execution(
        self,
        execution_id: str,
        input_payload: str,
        started: HistoryEntry,
        *,
        owner: str | None = None,
        lease_s: float = 0.0,
        function_name: str | None = None,
    ) -> ExecutionRecord:
        self.attempts.append((owner, lease_s, function_name))
        if len(self.attempts) <= self.times:
            raise ExecutionBusyError(execution_id, "holder", 3, self.expires_in_s)
        lease = Lease(execution_id, owner or "", 4, 99.0)
        return ExecutionRecord(execution_id, input_payload, lease=lease)


_STARTED = HistoryEntry("ExecutionStarted", 0.0, None, {})


def test_a_waiting_caller_polls_every_poll_s_with_its_owner_until_the_lease_is_free() -> None:
    journal = _Busy(times=3)
    pauses: list[float] = []
    config = LeaseConfig(duration_s=7.0, on_busy="wait", poll_s=0.25, owner="me")
    record = open_leased(
        journal,
        "e",
        "{}",
        _STARTED,
        config,
        function_name="fn",
        sleep=pauses.append,  # type: ignore[arg-type]
    )
    assert record.lease is not None and record.lease.owner == "me"
    assert pauses == [0.25, 0.25, 0.25]
    assert journal.attempts == [("me", 7.0, "fn")] * 4


def test_a_lease_about_to_expire_is_polled_just_after_its_expiry() -> None:
    journal = _Busy(times=2, expires_in_s=0.01)
    pauses: list[float] = []
    config = LeaseConfig(on_busy="wait", poll_s=1.0)
    open_leased(journal, "e", "{}", _STARTED, config, sleep=pauses.append)  # type: ignore[arg-type]
    assert pauses == pytest.approx([0.011, 0.011])
    expired = _Busy(times=1, expires_in_s=-3.0)  # already expired (clocks differ)
    pauses.clear()
    open_leased(expired, "e", "{}", _STARTED, config, sleep=pauses.append)  # type: ignore[arg-type]
    assert pauses == pytest.approx([0.001])


def test_a_caller_without_an_owner_gets_a_new_unique_one() -> None:
    journal = _Busy(times=0)
    open_leased(journal, "e", "{}", _STARTED, LeaseConfig())  # type: ignore[arg-type]
    open_leased(journal, "e", "{}", _STARTED, LeaseConfig())  # type: ignore[arg-type]
    (one, _, _), (two, _, _) = journal.attempts
    assert one != two and one is not None and one.startswith(f"{socket.gethostname()}:")


def test_a_raising_caller_and_a_spent_wait_raise_the_busy_error() -> None:
    pauses: list[float] = []
    raising = _Busy(times=1)
    with pytest.raises(ExecutionBusyError, match="'e' is being run by holder"):
        open_leased(raising, "e", "{}", _STARTED, LeaseConfig(), sleep=pauses.append)  # type: ignore[arg-type]
    spent = _Busy(times=1)
    with pytest.raises(ExecutionBusyError):
        open_leased(
            spent,  # type: ignore[arg-type]
            "e",
            "{}",
            _STARTED,
            LeaseConfig(on_busy="wait", wait_timeout_s=0),
            sleep=pauses.append,
        )
    assert pauses == [] and len(raising.attempts) == len(spent.attempts) == 1


def test_a_wait_is_never_longer_than_the_time_left() -> None:
    journal = _Busy(times=1)
    pauses: list[float] = []
    config = LeaseConfig(on_busy="wait", wait_timeout_s=0.5, poll_s=30.0)
    open_leased(journal, "e", "{}", _STARTED, config, sleep=pauses.append)  # type: ignore[arg-type]
    assert len(pauses) == 1 and 0.0 < pauses[0] <= 0.5


# -- the keeper's check --------------------------------------------------------------------------


def test_a_keeper_whose_renewal_was_refused_says_why() -> None:
    journal, lease = _held(0.06)
    keeper = LeaseKeeper(journal, lease, 0.06)  # type: ignore[arg-type]
    try:
        journal.open_execution("e", "{}", _STARTED, owner="o", lease_s=30.0)  # a new epoch
        time.sleep(0.1)  # the first renewal (due after 0.02 s) is refused
        with pytest.raises(LeaseLostError, match="lease epoch 1 of o was taken over"):
            keeper.check()
    finally:
        keeper.stop()
    assert journal.renewals >= 1


def test_a_keeper_names_its_execution_epoch_and_duration_once_its_lease_may_have_lapsed() -> None:
    journal, lease = _held(0.05)
    keeper = LeaseKeeper(_Unreachable(journal, after=0), lease, 0.05)  # type: ignore[arg-type]
    try:
        time.sleep(0.1)
        with pytest.raises(LeaseLostError) as info:
            keeper.check()
    finally:
        keeper.stop()
    assert str(info.value) == (
        "the lease on execution 'e' (epoch 1) was not renewed within its 0.05 s; another "
        "process may own it now, so this invocation stops before running another step"
    )


@pytest.mark.parametrize("threads", [True, False])
def test_a_keeper_renews_no_more_often_than_every_third_of_its_lease(
    threads: bool, monkeypatch: pytest.MonkeyPatch, starts: lease_module._RenewalStarts
) -> None:
    """Renewals come at least a third of the lease apart (late under load, never early), from
    the keeper's own thread or, when no thread can start, from the starter's."""
    if not threads:
        start = threading.Thread.start

        def no_keeper_threads(thread: threading.Thread) -> None:
            if thread.name.startswith("lease-") and thread.name != "lease-renewal-starts":
                raise RuntimeError("can't start new thread")
            start(thread)

        monkeypatch.setattr(threading.Thread, "start", no_keeper_threads)
    journal, lease = _held(0.6)
    began = time.monotonic()
    keeper = LeaseKeeper(journal, lease, 0.6)  # type: ignore[arg-type]
    time.sleep(0.75)
    keeper.stop()
    elapsed = time.monotonic() - began
    assert journal.renewals <= elapsed // 0.2


def test_a_short_lease_behind_a_long_one_is_renewed_on_time(
    starts: lease_module._RenewalStarts,
) -> None:
    """A keeper whose first renewal comes before every pending one wakes the starter, which
    would otherwise sleep until the earliest of the others (here 10 s away)."""
    long_journal, long_lease = _held(30.0)
    long_keeper = LeaseKeeper(long_journal, long_lease, 30.0)  # type: ignore[arg-type]
    journal, lease = _held(0.6)
    keeper = LeaseKeeper(journal, lease, 0.6)  # type: ignore[arg-type]
    try:
        time.sleep(0.9)  # renewals due at 0.2, 0.4, 0.6 and 0.8 s
        keeper.check()
        assert journal.renewals >= 1
    finally:
        keeper.stop()
        long_keeper.stop()


def test_renewal_threads_are_daemons_named_after_their_execution() -> None:
    """Renewal threads never keep a process alive at exit, and a thread dump names the
    execution each one renews."""
    journal, lease = _held(0.15)
    keeper = LeaseKeeper(journal, lease, 0.15)  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 10.0  # its first renewal (at 0.05 s) starts the thread
        while "lease-e" not in (named := {t.name: t.daemon for t in threading.enumerate()}):
            assert time.monotonic() < deadline, f"no renewal thread among {sorted(named)}"
            time.sleep(0.01)
    finally:
        keeper.stop()
    assert named["lease-e"] is True
    assert named["lease-renewal-starts"] is True


# -- the renewal starter: one thread holds new keepers until their first renewal is due --------


def _wait_for(condition: Any, timeout_s: float = 10.0) -> None:
    """Poll `condition` until it holds; fail after `timeout_s` (a loaded host is late, never
    this late)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


class _TimedRenewals(_CountingRenewals):
    """A journal handle that records when (``time.monotonic``) each renewal was sent."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.sent: list[float] = []

    def renew(self, lease: Lease, lease_s: float) -> Lease:
        self.sent.append(time.monotonic())
        return super().renew(lease, lease_s)


def _starter_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "lease-renewal-starts"}


def test_a_keepers_first_renewal_comes_a_third_of_its_lease_after_it_starts_and_never_sooner(
    starts: lease_module._RenewalStarts,
) -> None:
    counting, lease = _held(0.3)
    journal = _TimedRenewals(counting._journal)
    began = time.monotonic()
    keeper = LeaseKeeper(journal, lease, 0.3)  # type: ignore[arg-type]
    try:
        _wait_for(lambda: len(journal.sent) >= 2)
    finally:
        keeper.stop()
    first, second = journal.sent[:2]
    assert first - began >= 0.1 and second - first >= 0.1


def test_one_starter_thread_serves_every_keeper_and_outlives_an_empty_queue(
    starts: lease_module._RenewalStarts,
) -> None:
    """The starter starts its thread once; it lives on when every pending keeper has its own
    thread (the queue is empty), and later keepers are held by the same thread."""
    before = _starter_threads()
    journal, lease = _held(0.15)
    first = LeaseKeeper(journal, lease, 0.15)  # type: ignore[arg-type]
    (thread,) = _starter_threads() - before
    later: list[LeaseKeeper] = []
    try:
        _wait_for(lambda: journal.renewals >= 1)  # its thread runs: the queue is empty
        time.sleep(0.05)
        later = [LeaseKeeper(*_held(300.0), 300.0) for _ in range(3)]  # type: ignore[misc]
        assert _starter_threads() - before == {thread} and thread.is_alive()
    finally:
        for keeper in [first, *later]:
            keeper.stop()


def _queue_after_each_stop(starts: lease_module._RenewalStarts, count: int) -> list[int]:
    """Make `count` keepers (first renewal far off), stopping each at once; the length of the
    starter's queue after each stop."""
    journal, lease = _held(300.0)
    lengths = []
    for _ in range(count):
        LeaseKeeper(journal, lease, 300.0).stop()  # type: ignore[arg-type]
        lengths.append(len(starts._due))
    return lengths


def _no_keeper_threads(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make every keeper's thread fail to start (a thread limit); returns the real start."""
    start = threading.Thread.start

    def refuse(thread: threading.Thread) -> None:
        if thread.name.startswith("lease-") and thread.name != "lease-renewal-starts":
            raise RuntimeError("can't start new thread")
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse)
    return start


@pytest.mark.parametrize("earlier", ["none", "started", "renewed-by-the-starter"])
@pytest.mark.parametrize("live", [0, 10])
def test_stopped_keepers_entries_are_dropped_once_they_outnumber_live_ones_by_more_than_64(
    starts: lease_module._RenewalStarts, monkeypatch: pytest.MonkeyPatch, live: int, earlier: str
) -> None:
    """`_RenewalStarts.cancel`'s rule: a stopped keeper's entry stays queued until the
    stopped ones outnumber the live ones by more than 64 (so dropping them costs little per
    stop), then every stopped one is dropped at once; whatever the earlier keepers did (their
    thread started, or the starter renewed them itself, no thread being possible)."""
    journal, lease = _held(300.0)
    keepers = [LeaseKeeper(journal, lease, 300.0) for _ in range(live)]  # type: ignore[arg-type]
    try:
        if earlier != "none":
            start = _no_keeper_threads(monkeypatch) if earlier != "started" else None
            short, short_lease = _held(0.15)
            keeper = LeaseKeeper(short, short_lease, 0.15)  # type: ignore[arg-type]
            _wait_for(lambda: short.renewals >= 2)  # renewed twice: started, or requeued
            keeper.stop()
            if start is not None:
                monkeypatch.setattr(threading.Thread, "start", start)
            # a turn of the starter's under way when it stopped may requeue it once more
            _wait_for(lambda: sum(e[2] is not None for e in starts._due) == live)
        queued = len(starts._due)  # the live keepers, and a stopped one requeued by the starter
        stops = 2 * live + 64 - queued + 2
        lengths = _queue_after_each_stop(starts, stops)
    finally:
        for keeper in keepers:
            keeper.stop()
    kept = [queued + k for k in range(1, stops - 1)]
    assert lengths == [*kept, live, live + 1]
    assert max(lengths) == 2 * live + 64


def test_an_idle_starter_sleeps_until_its_next_keeper_is_due(
    starts: lease_module._RenewalStarts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holding a keeper whose first renewal is 100 s away costs the starter no CPU: it reads
    the clock once and sleeps, rather than polling."""
    reads: Counter[str] = Counter()

    class CountingTime:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        def monotonic(self) -> float:
            reads[threading.current_thread().name] += 1
            return time.monotonic()

    monkeypatch.setattr(lease_module, "time", CountingTime())
    keeper = LeaseKeeper(*_held(300.0), 300.0)  # type: ignore[misc]
    try:
        time.sleep(0.3)
    finally:
        keeper.stop()
    assert 1 <= reads["lease-renewal-starts"] <= 3


def test_a_refused_renewal_is_the_last_one_sent(starts: lease_module._RenewalStarts) -> None:
    """Once a renewal is refused (another owner took over) the keeper stops renewing: the
    lease is lost, and asking again would only load the journal."""
    journal, lease = _held(0.06)
    keeper = LeaseKeeper(journal, lease, 0.06)  # type: ignore[arg-type]

    def refused() -> bool:
        try:
            keeper.check()
        except LeaseLostError as exc:
            return "was taken over" in str(exc)
        return False

    try:
        journal.open_execution("e", "{}", _STARTED, owner="o", lease_s=30.0)  # a new epoch
        _wait_for(refused)
        sent = journal.renewals
        time.sleep(0.1)  # five thirds of the lease
    finally:
        keeper.stop()
    assert sent >= 1 and journal.renewals == sent


class _StillHere:
    """The lease module's `time` with a monotonic clock that stands at `now` in the thread
    that made it (the test's) and runs as usual in every other (the starter's, a keeper's)."""

    def __init__(self) -> None:
        self.now = time.monotonic()
        self._thread = threading.get_ident()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def monotonic(self) -> float:
        return self.now if threading.get_ident() == self._thread else time.monotonic()


def test_a_keepers_lease_may_have_lapsed_from_the_instant_its_duration_ends(
    starts: lease_module._RenewalStarts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lease expiring at t is free for another owner at t itself (`lease_is_free`), so the
    keeper stops trusting it at t, not after."""
    clock = _StillHere()
    monkeypatch.setattr(lease_module, "time", clock)
    began = clock.now
    keeper = LeaseKeeper(*_held(600.0), 600.0)  # type: ignore[misc]  # first renewal: 200 s
    try:
        clock.now = began + 600.0 - 1e-6
        keeper.check()
        clock.now = began + 600.0
        with pytest.raises(LeaseLostError, match=r"not renewed within its 600 s"):
            keeper.check()
    finally:
        keeper.stop()


def test_a_wait_spent_to_the_instant_makes_no_further_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`wait_timeout_s` bounds the whole wait: once that much time has passed (to the
    instant), the busy error is raised; no attempt is made after the budget is spent."""
    clock = _StillHere()
    monkeypatch.setattr(lease_module, "time", clock)
    journal = _Busy(times=10)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        clock.now += seconds

    config = LeaseConfig(on_busy="wait", wait_timeout_s=0.5, poll_s=0.25)
    with pytest.raises(ExecutionBusyError):
        open_leased(journal, "e", "{}", _STARTED, config, sleep=sleep)  # type: ignore[arg-type]
    assert pauses == [0.25, 0.25] and len(journal.attempts) == 3
    spent = _Busy(times=10)
    pauses.clear()
    with pytest.raises(ExecutionBusyError):
        open_leased(
            spent,  # type: ignore[arg-type]
            "e",
            "{}",
            _STARTED,
            LeaseConfig(on_busy="wait", wait_timeout_s=0),
            sleep=sleep,
        )
    assert pauses == [] and len(spent.attempts) == 1


class _StopsDuringItsRenewal(_CountingRenewals):
    """A journal handle whose first renewal stops the keeper meanwhile (the invocation ends
    while a renewal is in flight)."""

    keeper: LeaseKeeper | None = None

    def renew(self, lease: Lease, lease_s: float) -> Lease:
        if self.renewals == 0 and self.keeper is not None:
            self.keeper.stop()
        return super().renew(lease, lease_s)


@pytest.mark.parametrize("renewer", ["keeper thread", "starter"])
def test_a_keeper_stopped_from_inside_its_renewal_is_not_renewed_again(
    starts: lease_module._RenewalStarts, monkeypatch: pytest.MonkeyPatch, renewer: str
) -> None:
    """`stop` called by the journal while it renews (on the keeper's thread, or on the
    starter's when no thread can start) waits for no renewal but its own, and joins no thread
    from inside itself. The renewal ends, and it is the last."""
    if renewer == "starter":
        _no_keeper_threads(monkeypatch)
    counting, lease = _held(0.15)
    journal = _StopsDuringItsRenewal(counting._journal)
    keeper = LeaseKeeper(journal, lease, 0.15)  # type: ignore[arg-type]
    journal.keeper = keeper
    _wait_for(lambda: journal.renewals >= 1)
    time.sleep(0.2)  # four thirds of the lease
    assert journal.renewals == 1


@pytest.mark.parametrize("duration_s", [1e308, 2.0**31, 365 * 86_400.0 + 1])
def test_a_lease_longer_than_a_year_is_refused_naming_the_range(duration_s: float) -> None:
    """A renewal waits a third of the lease on a lock timeout: 2**31 s crashed the renewal
    starter on this platform's time_t."""
    with pytest.raises(ValueError, match=r"from 0\.1 to 31536000"):
        LeaseConfig(duration_s=duration_s)
