"""Synchronous code as discrete-event processes sharing one virtual timeline (SimPy).

The engine, the store and the function runtime charge their latencies to a `Clock` inside
ordinary synchronous calls. To let several such callers (clients, an actor) really interleave
in virtual time, each runs as a SimPy process whose body executes in its own thread, with a
strict hand-off: exactly one thread runs at any moment, and a thread runs until it charges
time (or waits for an event); its `ProcessClock` then hands control to the SimPy kernel, which
resumes whichever process is due next. Shared state is therefore changed in the order of
virtual time, and a run is deterministic: SimPy orders simultaneous events by the order in
which they were scheduled, and no thread ever runs concurrently with another.

A charge that ends before the kernel's next scheduled event is taken without a hand-off (the
process runs ahead of the kernel's clock): no other process can run, or schedule anything, in
between, so the interleaving is the same as with a hand-off at every charge, at a fraction of
the cost. Before a process triggers or waits for an event it first catches the kernel up.

Use::

    kernel = Kernel()
    a = kernel.spawn("a", lambda clock: work(clock))
    kernel.run()          # runs every process to its end; re-raises the first error
    a.value               # what `work` returned
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import simpy

from durable_sim.clock import charged_time, check_time

T = TypeVar("T")


class _Cancelled(BaseException):
    """Unwinds a process thread when the kernel stops early (another process failed)."""


class ProcessClock:
    """The `Clock` of one process: charges advance the shared virtual timeline.

    ``now_ms`` is the process's own time (the kernel's, plus whatever it ran ahead).
    """

    virtual = True

    def __init__(self, kernel: Kernel, name: str) -> None:
        self._kernel = kernel
        self.name = name
        self._ahead = 0.0
        self._to_thread: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._to_kernel: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)

    def now_ms(self) -> float:
        """This process's virtual time in ms: the kernel's, plus what it ran ahead."""
        return float(self._kernel.env.now) + self._ahead

    def charge(self, ms: float) -> None:
        """Let `ms` milliseconds of this process's time pass (a finite number >= 0; else
        `ValueError` naming it, as for one that would make the time infinite:
        `durable_sim.clock.charged_time`)."""
        self._advance_to(charged_time(self.now_ms(), ms))

    def sleep_until(self, t_ms: float, label: str | None = None) -> None:
        """Let time pass until `t_ms` (a finite number, else `ValueError` naming it; no-op if
        it has passed). `label` names the wait for time attribution (the `Clock` protocol);
        processes on this kernel are not attributed."""
        if check_time("t_ms", t_ms) > self.now_ms():
            self._advance_to(t_ms)

    def sleep_through(
        self, waypoint_ms: float, waypoint_label: str | None, t_ms: float, label: str | None
    ) -> None:
        """`sleep_until(waypoint_ms)` then `sleep_until(t_ms)`, each with its own hand-off if
        one is due: SimPy orders simultaneous events by when they were scheduled, so the second
        timeout is scheduled at the waypoint, as two sleeps would. Both times are checked
        before any time passes."""
        check_time("t_ms", t_ms)
        self.sleep_until(waypoint_ms, waypoint_label)
        self.sleep_until(t_ms, label)

    def fork(self) -> ProcessClock:
        """Not supported: always raises `NotImplementedError` (concurrent work on this
        kernel is a process of its own, started with `Kernel.spawn`)."""
        raise NotImplementedError(
            f"process {self.name!r}: a process clock cannot fork; spawn concurrent work as "
            "its own process with Kernel.spawn"
        )

    def event(self) -> simpy.Event:
        """A new event that one process can trigger (`trigger`) and others wait for (`wait`)."""
        return self._kernel.env.event()

    def trigger(self, event: simpy.Event, value: Any = None) -> None:
        """Trigger `event` at this process's time (the kernel is caught up first)."""
        self.sync()
        if not event.triggered:
            event.succeed(value)

    def wait(self, event: simpy.Event) -> Any:
        """Block this process until `event` is triggered; return its value."""
        self.sync()
        return self._handoff("event", event)

    def sync(self) -> None:
        """Catch the kernel up with this process's time (a hand-off if it ran ahead)."""
        if self._ahead > 0:
            self._handoff("until", self.now_ms())

    def _advance_to(self, t_ms: float) -> None:
        env = self._kernel.env
        if t_ms < env.peek():  # nothing else is due before t_ms: run ahead, no hand-off
            self._ahead = t_ms - float(env.now)
            return
        self._handoff("until", t_ms)

    def _handoff(self, kind: str, arg: Any) -> Any:
        self._to_kernel.put((kind, arg))
        reply = self._to_thread.get()
        if reply is _CANCEL:
            raise _Cancelled()
        self._ahead = 0.0
        return reply

    def __repr__(self) -> str:
        return f"ProcessClock({self.name!r}, now_ms={self.now_ms():.3f})"


_CANCEL = object()


@dataclass
class Process(Generic[T]):
    """A spawned process: its clock and, once the kernel has run, its return value."""

    name: str
    clock: ProcessClock
    _result: list[T] = field(default_factory=list, repr=False)

    @property
    def done(self) -> bool:
        return bool(self._result)

    @property
    def value(self) -> T:
        if not self._result:
            raise RuntimeError(f"process {self.name!r} has not finished (run the kernel first)")
        return self._result[0]


class Kernel:
    """A SimPy environment whose processes are synchronous functions of a `ProcessClock`."""

    def __init__(self, start_ms: float = 0.0) -> None:
        self.env = simpy.Environment(initial_time=start_ms)
        self._threads: list[tuple[threading.Thread, ProcessClock]] = []
        self._processes: list[Process[Any]] = []

    def spawn(self, name: str, body: Callable[[ProcessClock], T]) -> Process[T]:
        """Start `body(clock)` as a process at the kernel's current time."""
        clock = ProcessClock(self, name)
        process: Process[T] = Process(name, clock)
        thread = threading.Thread(
            target=self._thread_main, args=(clock, body), name=f"des-{name}", daemon=True
        )
        self._threads.append((thread, clock))
        self._processes.append(process)
        thread.start()
        self.env.process(self._drive(clock, process))
        return process

    @staticmethod
    def _thread_main(clock: ProcessClock, body: Callable[[ProcessClock], Any]) -> None:
        if clock._to_thread.get() is _CANCEL:  # wait for the kernel to start this process
            return
        try:
            result = body(clock)
        except _Cancelled:
            return
        except BaseException as exc:  # handed to the kernel, which re-raises it
            clock._to_kernel.put(("error", exc))
            return
        clock._to_kernel.put(("done", result))

    def _drive(self, clock: ProcessClock, process: Process[Any]) -> Generator[Any, Any, None]:
        clock._to_thread.put(None)
        while True:
            kind, arg = clock._to_kernel.get()
            if kind == "done":
                process._result.append(arg)
                return
            if kind == "error":
                raise arg
            if kind == "until":
                delay = arg - self.env.now
                yield self.env.timeout(delay if delay > 0 else 0)
                clock._to_thread.put(None)
            else:
                clock._to_thread.put((yield arg))

    def run(self) -> None:
        """Run every process to its end (or until one fails: its error is re-raised).

        A process still waiting when nothing else can happen (an event no one triggers) is a
        deadlock: `RuntimeError` names the processes left waiting.
        """
        try:
            self.env.run()
        finally:
            self._stop()
        stuck = [p.name for p in self._processes if not p.done]
        if stuck:
            raise RuntimeError(
                f"deadlock at {self.now_ms:.3f} ms: processes {stuck} wait for events that "
                "no process triggers"
            )

    def _stop(self) -> None:
        for thread, clock in self._threads:
            if thread.is_alive():  # blocked on its hand-off queue, which is empty
                clock._to_thread.put_nowait(_CANCEL)
            thread.join()
        self._threads.clear()

    @property
    def now_ms(self) -> float:
        return float(self.env.now)
