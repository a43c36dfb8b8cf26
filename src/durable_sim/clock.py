"""Clocks: a deterministic virtual clock and the machine's wall clock.

Both models of an experiment run on the same clock so that their times compare fairly.
Modeled latencies are *charged* to a clock: the virtual clock advances by them (no real
time passes); the wall clock ignores them unless asked to emulate them with real sleeps.

Every advance of a virtual clock can be watched (`observe_clocks`): each charge and each sleep
is reported with what it was for, so a run's time can be attributed to its causes
(`durable_sim.attribution`). A charge is labelled by the profile cost it pays (`note_charge`,
called by the sampler that drew it); a sleep by its `label` argument (e.g. ``"join"``, a
coordinator waiting for its branches; ``None``: a durable timer).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Protocol


class ClockObserver(Protocol):
    """Watches virtual clocks advance (see `observe_clocks`)."""

    def advanced(
        self, clock: object, start_ms: float, end_ms: float, *, charge: bool, label: str | None
    ) -> None:
        """`clock` moved from `start_ms` to `end_ms` (> `start_ms`): a charge or a sleep.

        `label` is the cost a charge pays (``None`` if no sampler noted it) or what a sleep
        waits for (``None`` if its caller did not say).
        """

    def forked(self, parent: object, child: object, at_ms: float) -> None:
        """`child` was forked from `parent` at `at_ms` (the time both clocks show)."""

    def note_charge(self, label: str, ms: float) -> None:
        """The next charge of `ms` is the cost `label` (called by the sampler that drew it)."""

    def take_charge_label(self, ms: float) -> str | None:
        """The label noted for a charge of `ms`, consumed; ``None`` if none was noted."""


_INF = math.inf


def _bad_cost(ms: object) -> ValueError:
    """The error for a cost `ms` a clock cannot charge: anything but a finite number >= 0."""
    return ValueError(f"cannot charge a cost of {ms!r} ms (accepted: a finite number >= 0)")


def _bad_time(what: str, t_ms: object) -> ValueError:
    """The error for a time `t_ms` a clock cannot sleep until (NaN or infinite); `what` names
    the argument."""
    return ValueError(f"cannot sleep until {what} {t_ms!r} ms (accepted: a finite number)")


def check_cost(ms: float) -> float:
    """`ms` if it is a cost a clock can charge (finite, >= 0; -0.0 included); ValueError naming
    it otherwise."""
    if not 0 <= ms < _INF:
        raise _bad_cost(ms)
    return ms


def charged_time(now_ms: float, ms: float) -> float:
    """The time a clock at `now_ms` (finite) reaches by charging `ms`: `ms` checked as
    `check_cost` does, and the sum finite (a cost that would carry the clock past the largest
    float, to infinity, is a ValueError naming it and the time it was charged at)."""
    then = now_ms + check_cost(ms)
    if then == _INF:
        raise ValueError(
            f"cannot charge a cost of {ms!r} ms at {now_ms!r} ms: the time would be infinite "
            f"(accepted: a finite number >= 0 and <= {math.nextafter(_INF, 0) - now_ms!r})"
        )
    return then


def check_time(what: str, t_ms: float) -> float:
    """`t_ms` if it is a time a clock can sleep until (finite; one already past is a no-op);
    ValueError naming `what` and its value otherwise."""
    if not -_INF < t_ms < _INF:
        raise _bad_time(what, t_ms)
    return t_ms


_OBSERVER: ContextVar[ClockObserver | None] = ContextVar("durable_sim_clock_observer", default=None)


@contextmanager
def observe_clocks(observer: ClockObserver) -> Iterator[ClockObserver]:
    """Report every advance and fork of a virtual clock in this context to `observer`."""
    token = _OBSERVER.set(observer)
    try:
        yield observer
    finally:
        _OBSERVER.reset(token)


def note_charge(label: str, ms: float) -> None:
    """Tell the active observer, if any, that the next charge of `ms` pays the cost `label`."""
    observer = _OBSERVER.get()
    if observer is not None:
        observer.note_charge(label, ms)


def note_fork(parent: object, child: object, at_ms: float) -> None:
    """Tell the active observer, if any, that `child` was forked from `parent` at `at_ms`."""
    observer = _OBSERVER.get()
    if observer is not None:
        observer.forked(parent, child, at_ms)


class Clock(Protocol):
    """What the engine and the baseline need from a clock (milliseconds)."""

    @property
    def virtual(self) -> bool:
        """True for a virtual clock: no real time passes, results are deterministic."""
        ...

    def now_ms(self) -> float:
        """The current time in ms (since the clock's origin)."""
        ...

    def charge(self, ms: float) -> None:
        """Account a modeled cost of `ms` milliseconds: a finite number >= 0 (a negative, NaN
        or infinite cost is a ValueError naming it, `check_cost`)."""

    def sleep_until(self, t_ms: float, label: str | None = None) -> None:
        """Let time pass until `t_ms` (a wait, a retry delay, a polling interval): a finite
        number (NaN or an infinity is a ValueError naming it, `check_time`; a time already
        past is a no-op).

        `label` names what the wait is for (e.g. ``"poll_wait"``) for an observer.
        """

    def sleep_through(
        self, waypoint_ms: float, waypoint_label: str | None, t_ms: float, label: str | None
    ) -> None:
        """Let time pass until `waypoint_ms` (a wait for `waypoint_label`), then on until `t_ms`
        (a wait for `label`): ``sleep_until(waypoint_ms, waypoint_label)`` followed by
        ``sleep_until(t_ms, label)``, as far as time and what an observer sees go (a ValueError
        if either time is NaN or infinite, before any time passes).

        A clock that hands control to a scheduler when it moves may do so once, at the end:
        nothing can happen to its caller at the waypoint (e.g. a booked core's start).
        """

    def fork(self) -> Clock:
        """A clock for a branch that runs concurrently with its siblings."""


class VirtualClock:
    """Deterministic clock: advances only by charged costs and by sleeps.

    Every advance is reported to the active observer (`observe_clocks`); a subclass that must
    act after each advance (a coroutine's clock hands control back to its scheduler,
    `durable_sim.durable.scheduler.TaskClock`) overrides `_moved`.
    """

    virtual = True

    def __init__(self, start_ms: float = 0.0) -> None:
        """Start at `start_ms` (a finite number; ValueError naming it otherwise)."""
        if not -_INF < start_ms < _INF:
            raise ValueError(
                f"cannot start a virtual clock at {start_ms!r} ms (accepted: a finite number)"
            )
        self._now = float(start_ms)

    def now_ms(self) -> float:
        """Virtual ms since the origin (`start_ms`): the sum of everything charged and slept."""
        return self._now

    def charge(self, ms: float) -> None:
        """Advance by `ms` milliseconds: a finite number >= 0 that keeps the time finite (else
        `ValueError` naming it, `charged_time`)."""
        if ms != 0:  # 0 and -0.0 leave the clock where it is
            then = charged_time(self._now, ms)
            observer = _OBSERVER.get()
            if observer is not None:
                label = observer.take_charge_label(ms)
                observer.advanced(self, self._now, then, charge=True, label=label)
            self._now = then
            self._moved()

    def sleep_until(self, t_ms: float, label: str | None = None) -> None:
        """Jump to `t_ms` (ms, a finite number; else `ValueError` naming it) if it is later
        than now; no real time passes. `label` names the wait for an observer (time
        attribution)."""
        if self._now < t_ms < _INF:
            observer = _OBSERVER.get()
            if observer is not None:
                observer.advanced(self, self._now, t_ms, charge=False, label=label)
            self._now = t_ms
            self._moved()
        elif not -_INF < t_ms < _INF:
            raise _bad_time("t_ms", t_ms)

    def sleep_through(
        self, waypoint_ms: float, waypoint_label: str | None, t_ms: float, label: str | None
    ) -> None:
        """Jump to `waypoint_ms`, then to `t_ms` (each if later than now), reported as two sleeps
        labelled `waypoint_label` and `label`; `_moved` runs once, after both. Both must be
        finite numbers (else `ValueError` naming the bad one; no time passes)."""
        check_time("waypoint_ms", waypoint_ms)
        check_time("t_ms", t_ms)
        now = self._now
        if waypoint_ms > now:
            self._pass(waypoint_ms, waypoint_label)
        if t_ms > self._now:
            self._pass(t_ms, label)
        if self._now > now:
            self._moved()

    def _pass(self, t_ms: float, label: str | None) -> None:
        """Let time pass until `t_ms` (> now), reported as a sleep labelled `label` (as
        `sleep_until` does, without `_moved`)."""
        observer = _OBSERVER.get()
        if observer is not None:
            observer.advanced(self, self._now, t_ms, charge=False, label=label)
        self._now = t_ms

    def _moved(self) -> None:
        """Runs after every advance (nothing to do for a plain virtual clock)."""

    def fork(self) -> VirtualClock:
        """A new virtual clock starting at this one's now, for a concurrent branch."""
        child = VirtualClock(self._now)
        note_fork(self, child, self._now)
        return child

    def __repr__(self) -> str:
        return f"{type(self).__name__}(now_ms={self._now:.3f})"


def _real_wait_s(what: str, ms: float) -> float:
    """`ms` in seconds, if the platform can wait that long for real (`threading.TIMEOUT_MAX`,
    about 292 years on Linux); ValueError naming `what` and `ms` otherwise (``time.sleep``
    would raise OverflowError)."""
    if ms / 1000.0 > threading.TIMEOUT_MAX:
        raise ValueError(
            f"cannot wait for real: {what} {ms!r} ms (accepted on a wall clock: at most "
            f"{threading.TIMEOUT_MAX * 1000.0:g} ms)"
        )
    return ms / 1000.0


class WallClock:
    """Real time: milliseconds since the Unix epoch, read once when the clock is made and then
    advanced by `time.perf_counter` (so it never goes back). Times that processes write to a
    shared journal thus lie on one time line (across machines, as far as their clocks agree).

    With `emulate_latency=True` a charged cost is slept for real, so a wall-clock run can
    include modeled network latencies; by default only the code's own cost is measured.
    """

    virtual = False

    def __init__(self, *, emulate_latency: bool = False) -> None:
        self.emulate_latency = emulate_latency
        self._origin = time.perf_counter()
        self._origin_unix_ms = time.time() * 1000.0

    def now_ms(self) -> float:
        """Real ms since the Unix epoch (read at creation, then advanced by `time.perf_counter`)."""
        return self._origin_unix_ms + (time.perf_counter() - self._origin) * 1000.0

    def charge(self, ms: float) -> None:
        """Sleep `ms` milliseconds for real with `emulate_latency`, else nothing (the code's own
        cost is what the wall clock measures); `ms` is a finite number >= 0 (else `ValueError`
        naming it), and one the platform can wait for (`_real_wait_s`)."""
        check_cost(ms)
        if self.emulate_latency and ms > 0:
            time.sleep(_real_wait_s("cost", ms))

    def sleep_until(self, t_ms: float, label: str | None = None) -> None:
        """Sleep until `t_ms` (ms on this clock, a finite number no further ahead than the
        platform can wait, `_real_wait_s`; else `ValueError` naming it), if that is still
        ahead; `label` is unused."""
        delay = check_time("t_ms", t_ms) - self.now_ms()
        if delay > 0:
            time.sleep(_real_wait_s(f"time {t_ms!r} ms, ahead by", delay))

    def sleep_through(
        self, waypoint_ms: float, waypoint_label: str | None, t_ms: float, label: str | None
    ) -> None:
        """Sleep until the later of `waypoint_ms` and `t_ms` (past the waypoint either way), each
        a finite number (else `ValueError` naming the bad one, before any sleep); labels are
        unused."""
        check_time("waypoint_ms", waypoint_ms)
        self.sleep_until(max(waypoint_ms, check_time("t_ms", t_ms)))

    def fork(self) -> WallClock:
        """This clock itself: concurrent branches share real time."""
        return self

    def __repr__(self) -> str:
        return f"WallClock(emulate_latency={self.emulate_latency})"


def make_clock(kind: str) -> Clock:
    """Build a clock by name: 'virtual' or 'wall'."""
    if kind == "virtual":
        return VirtualClock()
    if kind == "wall":
        return WallClock()
    raise ValueError(f"unknown clock {kind!r} (accepted: 'virtual', 'wall')")


_ACTIVE: ContextVar[Clock | None] = ContextVar("durable_sim_active_clock", default=None)


class _Active:
    """The context manager `active_clock` returns (one small object per step body)."""

    __slots__ = ("_clock", "_token")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def __enter__(self) -> Clock:
        self._token = _ACTIVE.set(self._clock)
        return self._clock

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.reset(self._token)


def active_clock(clock: Clock) -> AbstractContextManager[Clock]:
    """Make `clock` the one that work done in this context (e.g. a step body) is charged to.

    Step bodies receive only the SDK's `StepContext`, so the engine names the branch's clock
    here for modeled work to find (`current_clock`).
    """
    return _Active(clock)


def current_clock() -> Clock:
    """The active clock; outside our engine (e.g. on AWS's local runner) the wall clock."""
    clock = _ACTIVE.get()
    return clock if clock is not None else WallClock()
