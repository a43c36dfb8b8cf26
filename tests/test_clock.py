"""Clocks: virtual and wall time, charges, forks."""

from __future__ import annotations

import time

import pytest

from durable_sim.clock import VirtualClock, WallClock, make_clock


def test_virtual_clock_advances_only_by_charges_and_sleeps() -> None:
    clock = VirtualClock(5.0)
    clock.charge(2.5)
    clock.sleep_until(100.0)
    clock.sleep_until(50.0)  # the past: no effect
    assert clock.now_ms() == 100.0
    assert clock.virtual is True


@pytest.mark.parametrize("clock", [VirtualClock(), WallClock()])
def test_negative_charge_is_an_error(clock: VirtualClock | WallClock) -> None:
    with pytest.raises(ValueError, match=r"cannot charge a negative cost: -1.0 ms"):
        clock.charge(-1.0)


def test_virtual_fork_is_independent() -> None:
    parent = VirtualClock(10.0)
    child = parent.fork()
    child.charge(5.0)
    assert (parent.now_ms(), child.now_ms()) == (10.0, 15.0)


def test_wall_clock_measures_real_time_and_ignores_charges_by_default() -> None:
    clock = WallClock()
    start = clock.now_ms()
    clock.charge(10_000.0)  # not slept
    clock.sleep_until(start + 20.0)
    elapsed = clock.now_ms() - start
    assert 20.0 <= elapsed < 5_000.0
    assert clock.fork() is clock
    assert clock.virtual is False


def test_wall_clock_can_emulate_latency() -> None:
    clock = WallClock(emulate_latency=True)
    start = time.perf_counter()
    clock.charge(30.0)
    assert time.perf_counter() - start >= 0.03


def test_make_clock() -> None:
    assert isinstance(make_clock("virtual"), VirtualClock)
    assert isinstance(make_clock("wall"), WallClock)
    with pytest.raises(ValueError, match=r"unknown clock 'cpu' \(accepted: 'virtual', 'wall'\)"):
        make_clock("cpu")
