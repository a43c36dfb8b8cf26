"""Clocks: virtual and wall time, charges, forks."""

from __future__ import annotations

import math
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim.clock import VirtualClock, WallClock, make_clock
from durable_sim.des import Kernel, ProcessClock


def test_virtual_clock_advances_only_by_charges_and_sleeps() -> None:
    clock = VirtualClock(5.0)
    clock.charge(2.5)
    clock.sleep_until(100.0)
    clock.sleep_until(50.0)  # the past: no effect
    assert clock.now_ms() == 100.0
    assert clock.virtual is True


@pytest.mark.parametrize("clock", [VirtualClock(), WallClock()])
def test_negative_charge_is_an_error(clock: VirtualClock | WallClock) -> None:
    with pytest.raises(ValueError, match=r"cannot charge a cost of -1.0 ms \(accepted: a finite"):
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


# Every float, with NaN, both infinities, -0.0 and the subnormals: each a clock must take or
# refuse by the accepted range, never ignore.
_FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, -5e-324]
)
_PROPERTY = settings(max_examples=examples(300), derandomize=True, database=None, deadline=None)


def _clocks() -> list[VirtualClock | WallClock]:
    """A fresh clock of each kind (the wall clock is only asked to sleep until times past)."""
    return [VirtualClock(0.0), WallClock()]


@_PROPERTY
@given(ms=_FLOATS)
def test_a_charge_is_taken_or_refused_by_its_range(ms: float) -> None:
    """A cost is a finite number >= 0 (-0.0 included): the virtual clock moves by it, the wall
    clock takes it; anything else (negative, NaN, an infinity) is one ValueError naming it and
    the accepted range, and the clock has not moved. Formerly NaN was ignored by both, and
    +inf moved the virtual clock to infinity."""
    for clock in _clocks():
        before = clock.now_ms() if clock.virtual else None
        if 0 <= ms < math.inf:
            clock.charge(ms)
            if before is not None:
                assert clock.now_ms() == before + ms
            continue
        with pytest.raises(ValueError) as refused:
            clock.charge(ms)
        assert str(refused.value) == (
            f"cannot charge a cost of {ms!r} ms (accepted: a finite number >= 0)"
        )
        if before is not None:
            assert clock.now_ms() == before


@_PROPERTY
@given(t_ms=_FLOATS)
def test_a_time_to_sleep_until_is_taken_or_refused_by_its_range(t_ms: float) -> None:
    """A time to sleep until is a finite number (one already past is a no-op): NaN and the
    infinities are one ValueError naming the value, on both clocks and through both
    arguments of `sleep_through`, before any time passes."""
    past = -1.0  # before either clock's now: a finite time sleeps not at all on the wall clock
    for clock in _clocks():
        finite = -math.inf < t_ms < math.inf
        target = t_ms if clock.virtual else min(t_ms, past) if finite else t_ms
        calls = [
            ("t_ms", lambda c=clock, t=target: c.sleep_until(t)),
            ("t_ms", lambda c=clock, t=target: c.sleep_through(past, "w", t, None)),
            ("waypoint_ms", lambda c=clock, t=target: c.sleep_through(t, "w", past, None)),
        ]
        for name, call in calls:
            before = clock.now_ms()
            if finite:
                call()
                if clock.virtual:
                    assert clock.now_ms() == max(before, target)
                continue
            with pytest.raises(ValueError) as refused:
                call()
            assert str(refused.value) == (
                f"cannot sleep until {name} {t_ms!r} ms (accepted: a finite number)"
            )
            if clock.virtual:
                assert clock.now_ms() == before


def test_a_wall_clock_with_a_nan_waypoint_refuses_rather_than_returning_at_once() -> None:
    """Formerly ``max(nan, t)`` was NaN and the wall clock returned at once, where two
    sleeps would have slept until `t`."""
    clock = WallClock()
    with pytest.raises(ValueError, match=r"waypoint_ms nan ms \(accepted: a finite number\)"):
        clock.sleep_through(math.nan, "w", clock.now_ms() + 60_000.0, None)


@pytest.mark.parametrize("start", [math.nan, math.inf, -math.inf])
def test_a_virtual_clock_starts_at_a_finite_time(start: float) -> None:
    with pytest.raises(ValueError, match=rf"at {start!r} ms \(accepted: a finite number\)"):
        VirtualClock(start)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_process_clock_refuses_what_the_other_clocks_refuse(bad: float) -> None:
    """The discrete-event kernel's clock (`durable_sim.des.ProcessClock`) by the same rules."""
    kernel = Kernel()
    errors: list[str] = []

    def process(clock: ProcessClock) -> None:
        for call in (
            lambda: clock.charge(bad),
            lambda: clock.sleep_until(bad),
            lambda: clock.sleep_through(0.0, "w", bad, None),
        ):
            try:
                call()
            except ValueError as exc:
                errors.append(str(exc))

    kernel.spawn("p", process)
    kernel.run()
    assert errors == [
        f"cannot charge a cost of {bad!r} ms (accepted: a finite number >= 0)",
        f"cannot sleep until t_ms {bad!r} ms (accepted: a finite number)",
        f"cannot sleep until t_ms {bad!r} ms (accepted: a finite number)",
    ]


@_PROPERTY
@given(
    start=st.floats(min_value=0.0, max_value=1.7e308),
    ms=st.floats(min_value=0.0, allow_infinity=False) | st.just(1.7976931348623157e308),
)
def test_a_charge_never_carries_a_clock_to_infinity(start: float, ms: float) -> None:
    """A finite cost whose sum with the clock's time is no longer finite is refused with one
    ValueError naming the cost and the time, the clock unmoved, on the virtual and the process
    clocks: a clock's time stays finite. Formerly ``VirtualClock(1e308).charge(1e308)`` moved it
    to infinity (and a video run with a calibrated checkpoint of 1e308 ms failed later, in the
    billing, with an OverflowError)."""
    virtual = VirtualClock(start)
    overflows = start + ms == math.inf
    if not overflows:
        virtual.charge(ms)
        assert virtual.now_ms() == start + ms
        return
    with pytest.raises(ValueError) as refused:
        virtual.charge(ms)
    assert str(refused.value).startswith(
        f"cannot charge a cost of {ms!r} ms at {start!r} ms: the time would be infinite "
        "(accepted: a finite number >= 0 and <= "
    )
    assert virtual.now_ms() == start
    kernel = Kernel()
    errors: list[str] = []

    def process(clock: ProcessClock) -> None:
        clock.sleep_until(start)
        try:
            clock.charge(ms)
        except ValueError as exc:
            errors.append(str(exc))
        errors.append(f"now {clock.now_ms()!r}")

    kernel.spawn("p", process)
    kernel.run()
    assert errors == [str(refused.value), f"now {start!r}"]


@pytest.mark.parametrize("where", ["charge", "sleep_until", "sleep_through"])
def test_a_wall_clock_refuses_a_wait_longer_than_the_platform_can_sleep(where: str) -> None:
    """``time.sleep`` raises OverflowError past `threading.TIMEOUT_MAX`: the clock names the
    wait and the bound instead, before sleeping at all."""
    clock = WallClock(emulate_latency=True)
    far = threading.TIMEOUT_MAX * 1000.0 * 2
    calls = {
        "charge": lambda: clock.charge(far),
        "sleep_until": lambda: clock.sleep_until(clock.now_ms() + far),
        "sleep_through": lambda: clock.sleep_through(0.0, None, clock.now_ms() + far, None),
    }
    with pytest.raises(ValueError, match=r"cannot wait for real: .*\(accepted on a wall clock"):
        calls[where]()
