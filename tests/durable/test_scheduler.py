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


def test_catch_up_to_the_clocks_own_time_reports_nothing() -> None:
    trace = Recorder()
    with observe_clocks(trace):
        clock = TaskClock(VirtualClock(), 40.0)
        clock.catch_up(40.0, "queueing")
    assert clock.now_ms() == 40.0
    assert [event[0] for event in trace.seen] == ["forked"]


def test_a_task_keeps_its_turn_only_when_its_coordinator_says_so() -> None:
    """`keeps_turn` is asked with the clock's new time after every advance: True lets the task
    run on (no hand-over), False (or no `keeps_turn`) hands control back with `YIELD`."""
    asked: list[float] = []
    clock = TaskClock(VirtualClock(), 0.0)

    def keeps_turn(now: float) -> bool:
        asked.append(now)
        return now < 20.0

    clock.keeps_turn = keeps_turn

    def body(c: TaskClock) -> str:
        c.charge(5.0)  # keeps its turn
        c.sleep_until(15.0)  # keeps its turn
        c.charge(10.0)  # at 25: hands over
        c.keeps_turn = None
        c.charge(1.0)  # no coordinator's word: hands over
        return "done"

    task = Task(clock, body)
    assert task.resume() is YIELD
    assert (asked, task.now_ms) == ([5.0, 15.0, 25.0], 25.0)
    assert task.resume() is YIELD and task.now_ms == 26.0
    assert task.resume() == "done"
    assert asked == [5.0, 15.0, 25.0]


def test_a_task_is_alive_until_its_function_returns() -> None:
    task = Task(TaskClock(VirtualClock(), 0.0), lambda c: c.charge(1.0))
    assert task.alive  # not started yet
    assert task.resume() is YIELD and task.alive
    assert task.resume() is None and not task.alive


def test_kill_runs_a_started_tasks_finally_blocks_and_spares_the_others() -> None:
    ran: list[str] = []

    def body(c: TaskClock) -> None:
        ran.append("started")
        try:
            c.charge(1.0)
            ran.append("resumed")  # never: the task is killed while suspended
        finally:
            ran.append("finally")

    started = Task(TaskClock(VirtualClock(), 0.0), body)
    assert started.resume() is YIELD
    started.kill()
    assert ran == ["started", "finally"] and not started.alive

    never_started = Task(TaskClock(VirtualClock(), 0.0), body)
    never_started.kill()  # nothing to end: its function never runs
    assert ran == ["started", "finally"]
    assert never_started.resume() is YIELD and ran[-1] == "started"  # ... until it is resumed

    finished = Task(TaskClock(VirtualClock(), 0.0), lambda c: "done")
    assert finished.resume() == "done"
    finished.kill()  # a dead task: nothing happens
    assert not finished.alive
