"""Virtual-time coroutines: a task's clock is a full Clock, observed, and yields as it moves."""

from __future__ import annotations

from typing import Any

from durable_sim.attribution import Trace
from durable_sim.clock import (
    VirtualClock,
    active_clock,
    current_clock,
    note_charge,
    observe_clocks,
)
from durable_sim.durable.scheduler import YIELD, Task, TaskClock


class Recorder(Trace):
    """A trace that also keeps every advance and fork it saw, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[Any, ...]] = []

    def advanced(
        self, clock: object, start_ms: float, end_ms: float, *, charge: bool, label: str | None
    ) -> None:
        self.seen.append(("advanced", clock, start_ms, end_ms, charge, label))
        super().advanced(clock, start_ms, end_ms, charge=charge, label=label)

    def forked(self, parent: object, child: object, at_ms: float) -> None:
        self.seen.append(("forked", parent, child, at_ms))
        super().forked(parent, child, at_ms)


def test_a_task_clock_reports_its_fork_its_labelled_sleeps_and_its_charges() -> None:
    coordinator = VirtualClock(5.0)
    trace = Recorder()
    with observe_clocks(trace):
        clock = TaskClock(coordinator, 5.0)

        def body(c: TaskClock) -> str:
            c.sleep_until(7.0, "queueing")
            note_charge("checkpoint", 2.0)
            c.charge(2.0)
            c.charge(0.0)  # no time passes: no report, no yield
            c.sleep_until(3.0, "compute")  # in the past: nothing happens
            return "done"

        task = Task(clock, body)
        results = [task.resume() for _ in range(3)]
    assert results == [YIELD, YIELD, "done"]
    assert trace.seen == [
        ("forked", coordinator, clock, 5.0),
        ("advanced", clock, 5.0, 7.0, False, "queueing"),
        ("advanced", clock, 7.0, 9.0, True, "checkpoint"),
    ]
    assert trace.breakdown(clock, 5.0, 9.0)["checkpoint"] == 2.0


def test_catch_up_moves_a_clock_without_yielding() -> None:
    trace = Recorder()
    with observe_clocks(trace):
        clock = TaskClock(VirtualClock(), 0.0)
        clock.catch_up(100.0, "queueing")  # called by the coordinator itself: no hand-over
        clock.catch_up(50.0, None)  # behind the clock: nothing
    assert clock.now_ms() == 100.0
    assert trace.seen[1:] == [("advanced", clock, 0.0, 100.0, False, "queueing")]


def test_a_task_runs_in_a_copy_of_its_coordinators_context() -> None:
    outer = VirtualClock()
    trace = Recorder()
    with observe_clocks(trace), active_clock(outer):
        task = Task(TaskClock(outer, 0.0), lambda c: (current_clock(), c.sleep_until(1.0)))
        seen_clock, _ = [task.resume() for _ in range(2)][1]
    assert seen_clock is outer  # greenlets otherwise start with empty context variables
    assert trace.seen[-1][0] == "advanced"  # the observer saw the task's sleep


def test_a_free_clock_advances_without_yielding() -> None:
    clock = TaskClock(VirtualClock(), 0.0)

    def body(c: TaskClock) -> float:
        c.charge(10.0)
        c.sleep_until(20.0)
        return c.now_ms()

    clock.free = True
    assert Task(clock, body).resume() == 20.0


def test_a_task_clock_forks_an_observed_virtual_clock() -> None:
    trace = Recorder()
    with observe_clocks(trace):
        clock = TaskClock(VirtualClock(), 3.0)
        child = clock.fork()
    assert isinstance(child, VirtualClock) and child.now_ms() == 3.0
    assert trace.seen[-1] == ("forked", clock, child, 3.0)
