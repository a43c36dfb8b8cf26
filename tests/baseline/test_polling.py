"""Polling: the number of polls follows from when the work completes in virtual time."""

from __future__ import annotations

import numpy as np
import pytest

from durable_sim.baseline import FunctionRuntime, InvocationContext, PollTimeout, poll_until
from durable_sim.clock import VirtualClock, WallClock
from durable_sim.latency import Sampler


def test_polls_until_done_at_known_time(clock: VirtualClock) -> None:
    checked_at: list[float] = []

    def check() -> bool:
        checked_at.append(clock.now_ms())
        return clock.now_ms() >= 950

    result = poll_until(check, clock=clock, interval_ms=100, timeout_ms=5000)
    # polls at 0, 100, ..., 900 see "not yet"; the poll at 1000 sees the work done
    assert result.polls == 11
    assert checked_at == [100.0 * i for i in range(11)]
    assert result.value is True
    assert result.elapsed_ms == 1000


def test_poll_returns_the_truthy_value(clock: VirtualClock) -> None:
    result = poll_until(lambda: ["item"], clock=clock, interval_ms=10, timeout_ms=0)
    assert (result.value, result.polls, result.elapsed_ms) == (["item"], 1, 0)


def test_polls_counted_as_store_queries_follow_async_completion(
    clock: VirtualClock, sampler: Sampler
) -> None:
    """The baseline's coordinator: fan out, then poll the store until every chunk is done."""
    from durable_sim.baseline import open_store

    kv = open_store("memory", clock=clock, sampler=sampler)
    rt = FunctionRuntime(clock, sampler, warm_instances=3)

    def encode(chunk: int, ctx: InvocationContext) -> None:
        ctx.clock.charge(100 * (chunk + 1))
        kv.bind(ctx.clock).update("chunks", ("job", f"c{chunk}"), {"done": True})

    rt.register("encode", encode)
    handles = [rt.invoke_async("encode", i) for i in range(3)]
    # the slowest chunk: invoke 10 + work 300 + its status update 5 = 315 ms

    def all_done() -> bool:
        items = kv.query("chunks", "job", purpose="poll")
        return len(items) == 3 and all(h.done_by(clock.now_ms()) for h in handles)

    result = poll_until(all_done, clock=clock, interval_ms=50, timeout_ms=10_000)
    # each poll's query costs 7 ms; polls at 0, 50, ..., 300 end by 307 < 315; at 350 it is done
    assert result.polls == 8
    assert kv.counters.by_purpose["poll"] == 8
    assert clock.now_ms() == 357


def test_a_check_slower_than_the_interval_delays_the_next_poll(clock: VirtualClock) -> None:
    times: list[float] = []

    def slow() -> bool:
        times.append(clock.now_ms())
        clock.charge(150)
        return len(times) == 3

    poll_until(slow, clock=clock, interval_ms=100, timeout_ms=1000)
    assert times == [0, 150, 300]


def test_timeout_reports_polls_and_elapsed_time(clock: VirtualClock) -> None:
    with pytest.raises(PollTimeout) as err:
        poll_until(lambda: False, clock=clock, interval_ms=100, timeout_ms=1000)
    # polls at 0, 100, ..., 1000; the next (1100) would be past the timeout
    assert (err.value.polls, err.value.elapsed_ms) == (11, 1000)
    assert str(err.value) == (
        "condition not met after 11 polls over 1000.0 ms (timeout 1000 ms, interval 100 ms)"
    )
    assert isinstance(err.value, TimeoutError)


def test_wall_clock_really_sleeps() -> None:
    clock = WallClock()
    start = clock.now_ms()
    result = poll_until(
        lambda: clock.now_ms() - start >= 30, clock=clock, interval_ms=10, timeout_ms=2000
    )
    assert result.elapsed_ms >= 30
    assert 2 <= result.polls <= 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval_ms": 0, "timeout_ms": 1}, r"bad interval_ms=0 \(accepted: a finite number of"),
        ({"interval_ms": -5, "timeout_ms": 1}, r"bad interval_ms=-5"),
        (
            {"interval_ms": 1, "timeout_ms": -1},
            r"bad timeout_ms=-1 \(accepted: a finite number of ms >=",
        ),
        ({"interval_ms": 1, "timeout_ms": float("inf")}, r"bad timeout_ms=inf"),
        ({"interval_ms": True, "timeout_ms": 1}, r"bad interval_ms=True"),
        ({"interval_ms": 1, "timeout_ms": 10**400}, r"bad timeout_ms=1.000e\+400 \("),
    ],
)
def test_bad_poll_arguments(clock: VirtualClock, kwargs: dict[str, float], message: str) -> None:
    calls: list[int] = []
    with pytest.raises(ValueError, match=message):
        poll_until(lambda: calls.append(1), clock=clock, **kwargs)
    assert calls == []


def test_poll_durations_are_any_real_number(clock: VirtualClock) -> None:
    """numpy's integers were refused (an int or a float only)."""
    result = poll_until(lambda: True, clock=clock, interval_ms=np.int64(5), timeout_ms=np.int32(1))
    assert result.polls == 1


def test_exponential_polling_follows_the_sdks_wait_formula(clock: VirtualClock) -> None:
    from durable_sim.baseline.polling import SDK_BACKOFF_RATE, SDK_MAX_INTERVAL_MS, wait_ms

    assert (SDK_BACKOFF_RATE, SDK_MAX_INTERVAL_MS) == (1.5, 300_000.0)  # WaitStrategyConfig
    checked_at: list[float] = []

    def check() -> bool:
        checked_at.append(clock.now_ms())
        return clock.now_ms() >= 800

    result = poll_until(
        check, clock=clock, interval_ms=100, timeout_ms=10_000, backoff="exponential"
    )
    assert checked_at == [0.0, 100.0, 250.0, 475.0, 812.5]
    assert result.polls == 5
    assert wait_ms(40, interval_ms=100, backoff="exponential") == 300_000.0  # the cap
    assert wait_ms(40, interval_ms=100) == 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backoff": "linear"}, r"bad backoff 'linear' \(accepted: 'fixed', 'exponential'\)"),
        ({"backoff_rate": 0.5}, r"bad backoff_rate 0.5 \(accepted: a number in \[1, 100\]\)"),
        ({"max_interval_ms": 0}, r"bad max_interval_ms=0"),
    ],
)
def test_bad_schedules_are_rejected(clock: VirtualClock, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        poll_until(lambda: True, clock=clock, interval_ms=10, timeout_ms=100, **kwargs)


def test_elapsed_time_counts_from_the_first_poll_not_from_the_clock_origin() -> None:
    clock = VirtualClock(start_ms=5000.0)
    result = poll_until(
        lambda: clock.now_ms() >= 5250, clock=clock, interval_ms=100, timeout_ms=1e4
    )
    # polls at 5000, 5100, 5200 see "not yet"; the poll at 5300 sees it
    assert (result.polls, result.elapsed_ms) == (4, 300.0)
    with pytest.raises(PollTimeout) as err:
        poll_until(lambda: False, clock=clock, interval_ms=100, timeout_ms=200)
    assert (err.value.polls, err.value.elapsed_ms) == (3, 200.0)


@pytest.mark.parametrize("rate", [1, 1.0, 100, 100.0])
def test_backoff_rates_at_the_ends_of_the_accepted_range_poll(
    clock: VirtualClock, rate: float
) -> None:
    checked_at: list[float] = []

    def check() -> bool:
        checked_at.append(clock.now_ms())
        return len(checked_at) == 3

    poll_until(
        check,
        clock=clock,
        interval_ms=10,
        timeout_ms=10_000,
        backoff="exponential",
        backoff_rate=rate,
    )
    # waits interval * rate ** (k - 1): 10, then 10 * rate
    assert checked_at == [0.0, 10.0, 10.0 + 10.0 * rate]


@pytest.mark.parametrize(
    "rate",
    [
        0.99,
        100.5,
        101,
        float("nan"),
        True,  # a boolean is not a number
    ],
)
def test_backoff_rates_outside_the_range_are_rejected(clock: VirtualClock, rate: float) -> None:
    with pytest.raises(ValueError, match=rf"bad backoff_rate {rate!r} \(accepted: a number in"):
        poll_until(lambda: True, clock=clock, interval_ms=10, timeout_ms=100, backoff_rate=rate)


def test_exponential_polling_uses_the_given_rate_and_cap(clock: VirtualClock) -> None:
    checked_at: list[float] = []

    def check() -> bool:
        checked_at.append(clock.now_ms())
        return len(checked_at) == 5

    poll_until(
        check,
        clock=clock,
        interval_ms=100,
        timeout_ms=10_000,
        backoff="exponential",
        backoff_rate=3.0,
        max_interval_ms=500,
    )
    # waits 100, 300, then capped at 500 (not 900, 2700)
    assert checked_at == [0.0, 100.0, 400.0, 900.0, 1400.0]


class _Sleeps:
    """A clock observer that records each sleep's label."""

    def __init__(self) -> None:
        self.labels: list[str | None] = []

    def advanced(
        self, clock: object, start_ms: float, end_ms: float, *, charge: bool, label: str | None
    ) -> None:
        if not charge:
            self.labels.append(label)

    def forked(self, parent: object, child: object, at_ms: float) -> None:
        pass

    def note_charge(self, label: str, ms: float) -> None:
        pass

    def take_charge_label(self, ms: float) -> str | None:
        return None


def test_waits_between_polls_are_labelled_poll_wait_for_attribution(clock: VirtualClock) -> None:
    from durable_sim.clock import observe_clocks

    sleeps = _Sleeps()
    with observe_clocks(sleeps):
        poll_until(lambda: clock.now_ms() >= 200, clock=clock, interval_ms=100, timeout_ms=1000)
    assert sleeps.labels == ["poll_wait", "poll_wait"]
