"""Clocks: a deterministic virtual clock and the machine's wall clock.

Both models of an experiment run on the same clock so that their times compare fairly.
Modeled latencies are *charged* to a clock: the virtual clock advances by them (no real
time passes); the wall clock ignores them unless asked to emulate them with real sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


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
        """Account a modeled cost of `ms` milliseconds (>= 0; a negative cost is a ValueError)."""

    def sleep_until(self, t_ms: float) -> None:
        """Let time pass until `t_ms` (a wait, a retry delay, a polling interval)."""

    def fork(self) -> Clock:
        """A clock for a branch that runs concurrently with its siblings."""


class VirtualClock:
    """Deterministic clock: advances only by charged costs and by sleeps."""

    virtual = True

    def __init__(self, start_ms: float = 0.0) -> None:
        self._now = float(start_ms)

    def now_ms(self) -> float:
        """Virtual ms since the origin (`start_ms`): the sum of everything charged and slept."""
        return self._now

    def charge(self, ms: float) -> None:
        """Advance by `ms` milliseconds (>= 0; a negative cost raises `ValueError`)."""
        if ms < 0:
            raise ValueError(f"cannot charge a negative cost: {ms} ms (accepted: >= 0)")
        self._now += ms

    def sleep_until(self, t_ms: float) -> None:
        """Jump to `t_ms` (ms) if it is later than now; no real time passes."""
        self._now = max(self._now, t_ms)

    def fork(self) -> VirtualClock:
        """A new virtual clock starting at this one's now, for a concurrent branch."""
        return VirtualClock(self._now)

    def __repr__(self) -> str:
        return f"VirtualClock(now_ms={self._now:.3f})"


class WallClock:
    """Real time from `time.perf_counter`.

    With `emulate_latency=True` a charged cost is slept for real, so a wall-clock run can
    include modeled network latencies; by default only the code's own cost is measured.
    """

    virtual = False

    def __init__(self, *, emulate_latency: bool = False) -> None:
        self.emulate_latency = emulate_latency
        self._origin = time.perf_counter()

    def now_ms(self) -> float:
        """Real ms since this clock was created (`time.perf_counter`)."""
        return (time.perf_counter() - self._origin) * 1000.0

    def charge(self, ms: float) -> None:
        """Sleep `ms` milliseconds for real with `emulate_latency`, else nothing (the code's own
        cost is what the wall clock measures); a negative cost raises `ValueError`."""
        if ms < 0:
            raise ValueError(f"cannot charge a negative cost: {ms} ms (accepted: >= 0)")
        if self.emulate_latency and ms > 0:
            time.sleep(ms / 1000.0)

    def sleep_until(self, t_ms: float) -> None:
        """Sleep until `t_ms` (ms on this clock), if that is still ahead."""
        delay = t_ms - self.now_ms()
        if delay > 0:
            time.sleep(delay / 1000.0)

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


@contextmanager
def active_clock(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the one that work done in this context (e.g. a step body) is charged to.

    Step bodies receive only the SDK's `StepContext`, so the engine names the branch's clock
    here for modeled work to find (`current_clock`).
    """
    token = _ACTIVE.set(clock)
    try:
        yield clock
    finally:
        _ACTIVE.reset(token)


def current_clock() -> Clock:
    """The active clock; outside our engine (e.g. on AWS's local runner) the wall clock."""
    clock = _ACTIVE.get()
    return clock if clock is not None else WallClock()
