"""Virtual-time coroutines: branches that run concurrently on the virtual clock.

A `Task` runs a function in its own greenlet on a `TaskClock`. Whenever the task's time moves
forward (a charged cost, a sleep) it hands control back to the coordinator that started it,
which always resumes the task with the earliest time next (ties in branch order). Branches of a
map or parallel therefore interleave exactly as concurrent branches would on the virtual
timeline: a discrete-event simulation, deterministic, with no real time passing. A task that
would be resumed next at once anyway keeps its turn (`TaskClock.keeps_turn`, decided by the
coordinator, which moves its own clock as it would have): same order, two switches fewer.
A coordinator that itself runs inside a task advances its own clock before resuming a child
task, so nested batches interleave with their parent's siblings too.

A `TaskClock` is a full `durable_sim.clock.Clock`: its charges and labelled sleeps are reported
to the clock observer that time attribution installs (`durable_sim.attribution`), it is
reported as forked from its coordinator's clock, and a task runs in a copy of its
coordinator's context variables (greenlets otherwise start with empty ones), so the observer,
the sampler's charge labels and the machine model's core bookings (`durable_sim.machine.Cpu`,
which sleeps the caller's clock until its booked burst ends) all work inside a branch. CPU work
of concurrent branches is therefore booked in the order of virtual time and contends for the
cores as concurrent work does.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import greenlet

from durable_sim.clock import VirtualClock, note_fork

YIELD = object()  # what a task hands its coordinator when its time moves on


class TaskClock(VirtualClock):
    """The virtual clock of one branch: every advance yields to the coordinator.

    Created by the coordinator (the greenlet running when it is made) and reported to the clock
    observer as forked from the coordinator's clock `parent` at `start_ms`. Once `free` (an
    orphaned branch after its batch completed), it advances without yielding.
    """

    def __init__(self, parent: object, start_ms: float) -> None:
        super().__init__(start_ms)
        self._coordinator = greenlet.getcurrent()
        self.free = False
        #: Asked with the new time after each advance: True when the coordinator would resume
        #: this task next at once anyway (it has then moved its own clock there, as it would
        #: have), so the task runs on without the two switches; None: always yield.
        self.keeps_turn: Callable[[float], bool] | None = None
        note_fork(parent, self, start_ms)

    def _moved(self) -> None:
        if self.free:
            return
        keeps_turn = self.keeps_turn
        if keeps_turn is None or not keeps_turn(self._now):
            self._coordinator.switch(YIELD)

    def catch_up(self, t_ms: float, label: str | None) -> None:
        """Advance to `t_ms` without yielding: the coordinator moves the clock of a branch it is
        about to (re)start to the start time, the wait labelled `label` (a no-op if the clock is
        there already)."""
        if t_ms > self._now:
            self._pass(t_ms, label)


class Task:
    """`func(*args, clock)` run as a coroutine that yields whenever `clock` advances.

    The coroutine runs in a copy of the creating coordinator's context variables. The function
    and its arguments are handed to the greenlet when it first runs, so a task builds no
    closure of its own.
    """

    __slots__ = ("_args", "_greenlet", "clock")

    def __init__(self, clock: TaskClock, func: Callable[..., Any], *args: Any) -> None:
        self.clock = clock
        self._greenlet = greenlet.greenlet(func, parent=greenlet.getcurrent())
        self._greenlet.gr_context = contextvars.copy_context()
        self._args: tuple[Any, ...] | None = (*args, clock)

    @property
    def now_ms(self) -> float:
        return self.clock._now

    @property
    def alive(self) -> bool:
        return not self._greenlet.dead

    def resume(self) -> Any:
        """Run the task until it yields (returns `YIELD`) or ends (returns its result)."""
        args = self._args
        if args is None:
            return self._greenlet.switch()
        self._args = None  # the first switch starts `func` with them
        return self._greenlet.switch(*args)

    def kill(self) -> None:
        """End a task that will never be resumed (its `finally` blocks run now)."""
        if self._greenlet:  # started and not dead
            self._greenlet.throw()
