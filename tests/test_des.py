"""The discrete-event kernel: processes interleave in virtual-time order, deterministically."""

from __future__ import annotations

import threading

import pytest

from durable_sim.des import Kernel, ProcessClock


def test_processes_interleave_in_time_order() -> None:
    kernel = Kernel()
    log: list[tuple[str, float]] = []

    def ticker(name: str, step: float) -> object:
        def body(clock: ProcessClock) -> str:
            for _ in range(3):
                clock.charge(step)
                log.append((name, clock.now_ms()))
            return name

        return body

    a = kernel.spawn("a", ticker("a", 10.0))
    b = kernel.spawn("b", ticker("b", 7.0))
    kernel.run()
    assert log == [("b", 7), ("a", 10), ("b", 14), ("a", 20), ("b", 21), ("a", 30)]
    assert (a.value, b.value) == ("a", "b")
    assert kernel.now_ms == 30


def test_shared_state_changes_in_virtual_time_order() -> None:
    """A read and a later write by one process see another's write made between them."""
    kernel = Kernel()
    box = {"v": 0}
    seen: list[int] = []

    def reader(clock: ProcessClock) -> None:
        clock.charge(5)
        seen.append(box["v"])  # at 5: before the writer's write at 8
        clock.charge(5)
        seen.append(box["v"])  # at 10: after it

    def writer(clock: ProcessClock) -> None:
        clock.charge(8)
        box["v"] = 1

    kernel.spawn("reader", reader)
    kernel.spawn("writer", writer)
    kernel.run()
    assert seen == [0, 1]


def test_events_wake_waiters_at_the_trigger_time() -> None:
    kernel = Kernel()
    ready = kernel.env.event()
    woke: list[float] = []

    def waiter(clock: ProcessClock) -> None:
        clock.wait(ready)
        woke.append(clock.now_ms())

    def trigger(clock: ProcessClock) -> None:
        clock.charge(3)
        clock.charge(4)  # ran ahead of the kernel: the trigger first catches it up
        clock.trigger(ready)

    kernel.spawn("waiter", waiter)
    kernel.spawn("trigger", trigger)
    kernel.run()
    assert woke == [7.0]


def test_an_error_in_a_process_stops_the_run_and_its_threads() -> None:
    kernel = Kernel()
    before = threading.active_count()

    def failing(clock: ProcessClock) -> None:
        clock.charge(1)
        raise KeyError("boom")

    def sleeper(clock: ProcessClock) -> None:
        clock.charge(100)

    kernel.spawn("sleeper", sleeper)
    kernel.spawn("failing", failing)
    with pytest.raises(KeyError, match="boom"):
        kernel.run()
    assert threading.active_count() == before


def test_a_wait_nobody_answers_is_reported_as_a_deadlock() -> None:
    kernel = Kernel()
    never = kernel.env.event()
    kernel.spawn("stuck", lambda clock: clock.wait(never))
    with pytest.raises(RuntimeError, match=r"deadlock .*\['stuck'\]"):
        kernel.run()


def test_bad_charges_and_forks_are_refused() -> None:
    kernel = Kernel()
    errors: list[str] = []

    def body(clock: ProcessClock) -> None:
        for call in (lambda: clock.charge(-1.0), clock.fork):
            try:
                call()
            except (ValueError, NotImplementedError) as exc:
                errors.append(str(exc))

    kernel.spawn("p", body)
    kernel.run()
    assert "-1.0 ms" in errors[0] and ">= 0" in errors[0]
    assert "cannot fork" in errors[1]


@pytest.mark.parametrize("through", [True, False])
def test_sleep_through_orders_simultaneous_events_as_two_sleeps(through: bool) -> None:
    """A process that sleeps to 5 ms and on to 10 ms schedules its second timeout at 5 ms
    (after another's scheduled at 3 ms for 10 ms): at 10 ms the other one runs first."""
    kernel = Kernel()
    log: list[tuple[str, float]] = []

    def sleeper(clock: ProcessClock) -> None:
        if through:
            clock.sleep_through(5.0, "queueing", 10.0, "compute")
        else:
            clock.sleep_until(5.0, "queueing")
            clock.sleep_until(10.0, "compute")
        log.append(("sleeper", clock.now_ms()))

    def other(clock: ProcessClock) -> None:
        clock.charge(3.0)
        clock.sync()
        clock.charge(7.0)
        clock.sync()
        log.append(("other", clock.now_ms()))

    kernel.spawn("sleeper", sleeper)
    kernel.spawn("other", other)
    kernel.run()
    assert log == [("other", 10.0), ("sleeper", 10.0)]
