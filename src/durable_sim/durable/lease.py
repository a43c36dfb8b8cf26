"""One executor per execution: a lease on the execution, and writes fenced by its epoch.

Every journal (memory, SQLite, Postgres) keeps, with each execution, its lease: the ``owner``
running it, an ``epoch`` (how many times a lease on it was taken) and an expiry time. An
invocation starts by taking the lease in one atomic write, which also reads the execution as
it stands (the new owner replays from the journal as it is at takeover). A lease is free when
no one holds it, or when its holder stopped renewing it and it expired (a crashed process);
taking it moves the epoch on. Every checkpoint the owner writes (the journal's ``append``, and
the outcome) is a conditional write that fails with `LeaseLostError` if the epoch moved on, so a
process that lost its lease cannot write another checkpoint. A terminal record (an operation's,
or the execution's outcome) is never replaced. AWS fences the same way with the checkpoint
token every checkpoint call takes and returns (the SDK's ``checkpoint_token``: a stale token is
refused).

What a user may rely on when several processes share one journal
----------------------------------------------------------------
- **No two concurrent bodies of one step**, and no step body runs in a process that does not
  hold the execution's lease: a second process that finds a live lease gets
  `ExecutionBusyError` (or waits for the lease, ``LeaseConfig(on_busy="wait")``) and runs
  nothing. The holder renews its lease in the background every third of its duration and
  checks, before each step body, that its last renewal is recent enough; a holder stalled
  longer than the lease (a paused process, a database unreachable for that long) stops before
  its next step, and its writes are refused once a new owner took over. A body already running
  in a stalled process is not interrupted: keep ``duration_s`` longer than the longest stall
  you expect. (A run on a plain memory journal, which no other process can open, holds its
  lease until it releases it, with no expiry and nothing to renew: `HeldLease`.)
- **No completed step re-runs**: a step whose completion is in the journal returns its
  journaled result in every later invocation, in any process.
- **At-least-once per attempt**: a step whose body ran but whose completion did not reach the
  journal (the process died, the database went away) runs again in the next invocation; a step
  with at-most-once semantics (``StepSemantics.AT_MOST_ONCE_PER_RETRY``) has its START durable
  before its body runs and is never re-run silently: the interrupted attempt fails and the
  step's retry strategy decides.
- **Every caller sees the journal's outcome**: an execution's outcome is written once; a
  caller that starts a finished execution gets that outcome (its result, or its error with the
  original type), whoever ran it.

Expiry is measured on the journal's clock: this machine's Unix time for memory and SQLite
journals, the database server's clock for Postgres.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from durable_sim.durable.errors import ExecutionBusyError, JournalError, LeaseLostError
from durable_sim.durations import Seconds

if TYPE_CHECKING:
    from durable_sim.durable.journal import ExecutionRecord, HistoryEntry, Journal

#: A lease lasts this long unless renewed (seconds); its holder renews it every third of it.
DEFAULT_LEASE_S = 30.0
#: Shortest lease (s). A lease is kept by renewals, one every third of it, each a write round
#: trip to the journal that must land within the two thirds left: at 0.1 s, 67 ms. On this
#: project's 2-core host at load 3-5, 500 renewals in a row took medians of 1.0-3.0 ms (SQLite)
#: and 0.6-4.1 ms (Postgres on loopback, fsync on), the slowest 9-17 and 4-24 ms (two runs of
#: ``python -m benchmarks lease-renewal``): a shorter lease leaves a renewal room for a few
#: such outliers or scheduler time slices of a loaded host, no more, and is lost while its
#: holder is alive and well; a Postgres journal in another region adds tens of ms a trip.
MIN_LEASE_S = 0.1
#: Longest lease (s): one year. Its holder waits a third of it between renewals on a lock
#: timeout, which some platforms count as a 32-bit time_t (up to 2038): a lease of 2**31 s
#: crashed the renewal starter ("timestamp out of range for platform time_t").
MAX_LEASE_S = 365 * 86_400.0
#: The leases a caller may ask for.
LEASE = Seconds(MIN_LEASE_S, MAX_LEASE_S)
#: Why `LEASE` starts where it does, as its error message says.
LEASE_WHY = (
    f"a lease is renewed every third of it, and under {MIN_LEASE_S:g} s a renewal's round "
    "trip to the journal may not land before the lease lapses"
)
#: The waits for a busy lease (s): any finite wait, 0 (no wait) included.
WAIT = Seconds(0.0)
#: The pauses between polls of a busy lease (s).
POLL = Seconds(0.0, low_open=True)


@dataclass(frozen=True)
class Lease:
    """A held lease: `owner` runs execution `execution_id` in lease `epoch` (1 for the first
    lease ever taken on it) until `expires_at` (seconds since the Unix epoch, on the journal's
    clock) unless renewed. `taken_over` is True when the take found the lease still held: its
    holder never released it (its process died, stalled past the expiry, or a simulated crash
    lapsed it), or the taker held it already (a worker's claim, then its run's own take). A
    renewal's lease has it False: it tells only what the take found."""

    execution_id: str
    owner: str
    epoch: int
    expires_at: float
    taken_over: bool = False


@dataclass(frozen=True)
class LeaseConfig:
    """How an invocation takes and keeps its execution's lease.

    `duration_s` (`MIN_LEASE_S` or more, finite; see there why) is how long the lease lasts
    without renewal; `on_busy` is
    ``"raise"`` (`ExecutionBusyError` when another owner holds a live lease) or ``"wait"``
    (poll every `poll_s` seconds until the lease is free, for at most `wait_timeout_s` seconds
    or without limit if ``None``); `owner` names the holder (default: host, process id and a
    random suffix, unique per call). Durations are real numbers (numpy's included), stored as
    floats (`durable_sim.durations.Seconds`). Raises ValueError naming a bad value and its range.
    """

    duration_s: float = DEFAULT_LEASE_S
    on_busy: Literal["raise", "wait"] = "raise"
    wait_timeout_s: float | None = None
    poll_s: float = 0.05
    owner: str | None = None

    def __post_init__(self) -> None:
        normal = object.__setattr__  # a frozen dataclass: its fields are set through object
        normal(self, "duration_s", LEASE.check("lease duration_s", self.duration_s, LEASE_WHY))
        if self.on_busy not in ("raise", "wait"):
            raise ValueError(f"lease on_busy={self.on_busy!r} (accepted: 'raise' or 'wait')")
        if self.wait_timeout_s is not None:
            normal(self, "wait_timeout_s", WAIT.check("lease wait_timeout_s", self.wait_timeout_s))
        normal(self, "poll_s", POLL.check("lease poll_s", self.poll_s))
        if self.owner is not None and (not isinstance(self.owner, str) or not self.owner):
            raise ValueError(f"lease owner={self.owner!r} (accepted: None or a non-empty string)")


def new_owner_id() -> str:
    """A lease owner id unique to this call: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def lease_is_free(holder: str | None, expires_at: float | None, owner: str, now: float) -> bool:
    """Whether `owner` may take a lease held by `holder` until `expires_at` at time `now`: no
    one holds it, it expired, or `owner` holds it already (a new epoch of its own)."""
    return holder is None or holder == owner or expires_at is None or expires_at <= now


def open_leased(
    journal: Journal,
    execution_id: str,
    input_payload: str,
    started: HistoryEntry,
    config: LeaseConfig,
    *,
    function_name: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    until_released: bool = False,
) -> ExecutionRecord:
    """Open (or create) the execution and take its lease as `config` says.

    A finished execution comes back without a lease. With ``on_busy="wait"`` a busy
    execution is polled until its lease is free; past `wait_timeout_s` the last
    `ExecutionBusyError` is raised. With `until_released` the lease has no expiry (it is
    held until released or lapsed on purpose; only for a journal of this process, see
    `HeldLease`), else it lasts ``config.duration_s``.
    """
    owner = config.owner or new_owner_id()
    deadline = None if config.wait_timeout_s is None else time.monotonic() + config.wait_timeout_s
    lease_s = math.inf if until_released else config.duration_s
    while True:
        try:
            return journal.open_execution(
                execution_id,
                input_payload,
                started,
                owner=owner,
                lease_s=lease_s,
                function_name=function_name,
            )
        except ExecutionBusyError as busy:
            if config.on_busy == "raise":
                raise
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise
            pause = min(config.poll_s, max(busy.expires_in_s, 0.0) + 0.001)
            sleep(pause if left is None else min(pause, left))


class _RenewalStarts:
    """Starts each keeper's renewal thread when its first renewal comes due.

    Most invocations end well within a third of their lease (a simulated run takes well under
    a millisecond), and a thread per invocation would cost more CPU than the whole run
    (``python -m benchmarks side-by-side``). So one daemon thread per process holds every new
    keeper until its first renewal is due and then starts the keeper's own renewal thread
    (from then on a slow journal delays no one else's renewals); a keeper stopped before then
    never gets a thread. A forked child starts with no pending keepers and its own thread.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._due: list[list[Any]] = []  # heap of [monotonic due time, seq, keeper or None]
        self._waiting = 0  # entries whose keeper is still set
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, due: float, keeper: LeaseKeeper) -> list[Any]:
        """Start `keeper`'s renewal thread at `due` (``time.monotonic`` seconds) unless it is
        stopped before; returns the entry, whose keeper `cancel` clears."""
        entry = [due, next(self._seq), keeper]
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(
                    target=self._run, name="lease-renewal-starts", daemon=True
                )
                thread.start()  # a RuntimeError here fails the run before its first step
                self._thread = thread
            if not self._due or due < self._due[0][0]:
                self._cond.notify()
            heapq.heappush(self._due, entry)
            self._waiting += 1
        return entry

    def cancel(self, entry: list[Any]) -> None:
        """Forget the keeper of `entry` (stopped: it needs no thread). Once most entries are
        forgotten ones, they are dropped (so memory stays in proportion to live keepers)."""
        with self._cond:
            if entry[2] is None:
                return
            entry[2] = None
            self._waiting -= 1
            if len(self._due) > 2 * self._waiting + 64:
                self._due = [kept for kept in self._due if kept[2] is not None]
                heapq.heapify(self._due)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._due and self._due[0][0] <= now:
                    entry = heapq.heappop(self._due)
                    keeper, entry[2] = entry[2], None
                    if keeper is not None:
                        self._waiting -= 1
                        self._start(keeper, now)
                self._cond.wait(self._due[0][0] - now if self._due else None)

    def _start(self, keeper: LeaseKeeper, now: float) -> None:
        """Start `keeper`'s renewal thread (called with the condition held). If the process
        can start no thread now (``RuntimeError``: a thread or memory limit), renew the lease
        from this thread instead, with the condition released, and try again a third of the
        lease later: the lease never lapses for want of a thread while this one runs."""
        try:
            keeper._start_renewing()
        except RuntimeError:
            self._cond.release()
            try:
                renewing = keeper._renew_once()
            finally:
                self._cond.acquire()
            if renewing:
                again = [now + keeper.duration_s / 3, next(self._seq), keeper]
                heapq.heappush(self._due, again)
                self._waiting += 1
                keeper._entry = again


_RENEWAL_STARTS = _RenewalStarts()


class HeldLease:
    """A lease on a journal that lives only in this process (a plain `MemoryJournal`), taken
    without expiry (``open_leased(..., until_released=True)``): nothing renews it, and it ends
    when its holder releases it (or lapses it, as a simulated crash does).

    One writer still holds: every thread or engine of the process that shares the journal
    takes the lease through it, and finds it busy until it is released; writes stay fenced by
    its epoch. What is given up is only the expiry, which exists to let another process take
    over from a crashed or stalled holder. No other process can open this journal, and a crash
    of this one takes the journal with it. A stall cannot end the lease either: a
    `LeaseKeeper` renews from its own thread for as long as the process lives, so another
    holder in the same process can take it over only if renewal fails, which a plain memory
    journal's ``renew`` does only after a takeover. The one-writer guarantees of the module
    docstring therefore hold as they do with a keeper. `check` never raises, and `stop`
    returns the lease. A journal that can fail otherwise (a subclass simulating an outage, a
    wrapper) gets a `LeaseKeeper`.
    """

    __slots__ = ("lease",)

    def __init__(self, lease: Lease) -> None:
        self.lease = lease

    def check(self) -> None:
        """Nothing to check: the lease cannot lapse while it is held."""

    def stop(self) -> Lease:
        """Nothing to stop; returns the lease."""
        return self.lease


class LeaseKeeper:
    """Renews a held lease in the background, every third of its duration.

    `check` (called before every step body) raises `LeaseLostError` once the lease is known
    lost (a renewal was refused: another owner took over) or may have lapsed (no renewal was
    confirmed within the lease's duration, measured from when that renewal was sent). A
    journal error during a renewal is retried at the next tick; the lease lapses if none
    succeeds in time. The keeper's renewal thread starts when its first renewal is due (see
    `_RenewalStarts`), so an invocation shorter than a third of its lease runs no thread.
    """

    def __init__(self, journal: Journal, lease: Lease, duration_s: float) -> None:
        self.journal = journal
        self.lease = lease
        self.duration_s = duration_s
        started = time.monotonic()
        self._valid_until = started + duration_s
        self._lost: LeaseLostError | None = None
        self._lock = threading.Lock()  # held while starting the thread and while stopping
        # Signalled when a renewal ends: `stop` waits until none is under way, on whichever
        # thread it runs (the keeper's own, or the starter's when no thread could start).
        self._renewal_ended = threading.Condition(self._lock)
        self._renewing: list[int] = []  # the threads (idents) sending a renewal now
        self._stopped = False
        self._stop: threading.Event | None = None  # made with the thread
        self._thread: threading.Thread | None = None
        self._entry = _RENEWAL_STARTS.add(started + duration_s / 3, self)

    def _start_renewing(self) -> None:
        """Start the renewal thread unless stopped; raises `RuntimeError` (and keeps no
        thread) when the process can start none."""
        with self._lock:
            if self._stopped:
                return
            stop = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(stop,), name=f"lease-{self.lease.execution_id}", daemon=True
            )
            thread.start()
            self._stop, self._thread = stop, thread

    def _renew_once(self) -> bool:
        """Send one renewal; False once the lease is lost or this keeper stopped (a journal
        error is retried at the next renewal; the lease lapses if none succeeds in time)."""
        me = threading.get_ident()
        with self._lock:
            if self._stopped:
                return False
            self._renewing.append(me)
        try:
            sent = time.monotonic()
            try:
                self.lease = self.journal.renew(self.lease, self.duration_s)
            except LeaseLostError as exc:
                self._lost = exc
                return False
            except JournalError:
                pass
            else:
                self._valid_until = sent + self.duration_s
        finally:
            with self._lock:
                self._renewing.remove(me)
                self._renewal_ended.notify_all()
        return not self._stopped

    def _run(self, stop: threading.Event) -> None:
        # started when the first renewal is due
        while self._renew_once() and not stop.wait(self.duration_s / 3):
            pass

    def check(self) -> None:
        """Raise `LeaseLostError` unless this process still safely holds the lease."""
        if self._lost is not None:
            raise LeaseLostError(str(self._lost))
        if time.monotonic() >= self._valid_until:
            raise LeaseLostError(
                f"the lease on execution {self.lease.execution_id!r} (epoch {self.lease.epoch}) "
                f"was not renewed within its {self.duration_s:g} s; another process may own it "
                "now, so this invocation stops before running another step"
            )

    def stop(self) -> Lease:
        """Stop renewing; returns the lease as last renewed, once no renewal is under way
        (one sent before the call ends first, whichever thread sends it: the keeper's own or
        the starter's; a `stop` called from inside a renewal waits for the others only)."""
        _RENEWAL_STARTS.cancel(self._entry)
        me = threading.get_ident()
        with self._lock:
            self._stopped = True
            thread, stop = self._thread, self._stop
            self._renewal_ended.wait_for(lambda: all(t == me for t in self._renewing))
        if thread is not None and stop is not None:
            stop.set()
            if thread is not threading.current_thread():  # not from inside its own renewal
                thread.join()
        return self.lease
