"""Virtual-time coroutines: branches that run concurrently on the virtual clock.

A `Task` runs a function in its own greenlet on a `TaskClock`. Whenever the task's time moves
forward (a charged cost, a sleep) it hands control back to the coordinator that started it,
which always resumes the task with the earliest time next (ties in branch order). Branches of a
map or parallel therefore interleave exactly as concurrent branches would on the virtual
timeline: a discrete-event simulation, deterministic, with no real time passing. A coordinator
that itself runs inside a task advances its own clock before resuming a child task, so nested
batches interleave with their parent's siblings too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import greenlet

from durable_sim.clock import VirtualClock

YIELD = object()  # what a task hands its coordinator when its time moves on


class TaskClock:
    """The virtual clock of one task: advancing it yields to the coordinator.

    Once `free` (an orphaned branch after its batch completed), it advances without yielding.
    """

    virtual = True

    def __init__(self, start_ms: float, coordinator: greenlet.greenlet) -> None:
        self._now = float(start_ms)
        self._coordinator = coordinator
        self.free = False

    def now_ms(self) -> float:
        return self._now

    def charge(self, ms: float) -> None:
        if ms < 0:
            raise ValueError(f"cannot charge a negative cost: {ms} ms (accepted: >= 0)")
        if ms > 0:
            self._now += ms
            if not self.free:
                self._coordinator.switch(YIELD)

    def sleep_until(self, t_ms: float, label: str | None = None) -> None:
        if t_ms > self._now:
            self._now = t_ms
            if not self.free:
                self._coordinator.switch(YIELD)

    def fork(self) -> VirtualClock:
        return VirtualClock(self._now)

    def __repr__(self) -> str:
        return f"TaskClock(now_ms={self._now:.3f}, free={self.free})"


class Task:
    """`func(clock)` run as a coroutine that yields whenever `clock` advances."""

    def __init__(self, start_ms: float, func: Callable[[TaskClock], Any]) -> None:
        coordinator = greenlet.getcurrent()
        self.clock = TaskClock(start_ms, coordinator)
        self._greenlet = greenlet.greenlet(lambda: func(self.clock), parent=coordinator)

    @property
    def now_ms(self) -> float:
        return self.clock.now_ms()

    @property
    def alive(self) -> bool:
        return not self._greenlet.dead

    def resume(self) -> Any:
        """Run the task until it yields (returns `YIELD`) or ends (returns its result)."""
        return self._greenlet.switch()

    def kill(self) -> None:
        """End a task that will never be resumed (its `finally` blocks run now)."""
        if self._greenlet:  # started and not dead
            self._greenlet.throw()
