"""Hand-written retries: attempts, backoff delays slept on the clock, keyed jitter, errors."""

from __future__ import annotations

from typing import Any

import pytest

from durable_sim.baseline import RetriesExhausted, RetryCounters, RetryPolicy, retry_call
from durable_sim.clock import VirtualClock


def flaky(failures: int, clock: VirtualClock, log: list[float]) -> Any:
    """Fails its first `failures` attempts, recording when each attempt starts."""

    def attempt(n: int) -> str:
        log.append(clock.now_ms())
        if n <= failures:
            raise ConnectionError(f"attempt {n} failed")
        return f"ok on {n}"

    return attempt


def test_backoff_delays_and_attempts(clock: VirtualClock) -> None:
    policy = RetryPolicy(max_attempts=5, initial_delay_ms=100, backoff_rate=2, max_delay_ms=300)
    counters = RetryCounters()
    starts: list[float] = []
    result = retry_call(
        flaky(4, clock, starts), policy=policy, clock=clock, seed=0, key=("c",), counters=counters
    )
    assert result == "ok on 5"
    assert starts == [0, 100, 300, 600, 900]  # delays 100, 200, 300 (capped), 300
    assert counters.as_row() == {"attempts": 5, "retries": 4, "exhausted": 0}


def test_exhaustion_raises_with_the_last_error(clock: VirtualClock) -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay_ms=10)
    counters = RetryCounters()
    starts: list[float] = []
    with pytest.raises(RetriesExhausted) as err:
        retry_call(
            flaky(9, clock, starts), policy=policy, clock=clock, seed=0, key=(), counters=counters
        )
    assert (
        str(err.value) == "gave up after 3 attempts; last error: ConnectionError: attempt 3 failed"
    )
    assert isinstance(err.value.__cause__, ConnectionError)
    assert err.value.attempts == 3
    assert starts == [0, 10, 30]  # no sleep after the last attempt
    assert counters.as_row() == {"attempts": 3, "retries": 2, "exhausted": 1}


def test_errors_not_listed_propagate_at_once(clock: VirtualClock) -> None:
    policy = RetryPolicy(max_attempts=5, retry_on=(ConnectionError,))
    counters = RetryCounters()

    def bad(n: int) -> None:
        raise KeyError("not transient")

    with pytest.raises(KeyError):
        retry_call(bad, policy=policy, clock=clock, seed=0, key=(), counters=counters)
    assert (counters.attempts, clock.now_ms()) == (1, 0)


@pytest.mark.parametrize("jitter", ["full", "half"])
def test_jitter_is_keyed_and_bounded(jitter: Any) -> None:
    policy = RetryPolicy(max_attempts=4, initial_delay_ms=1000, jitter=jitter)
    low = 0.0 if jitter == "full" else 0.5
    for n in (1, 2, 3):
        base = policy.base_delay_ms(n)
        d = policy.delay_ms(n, seed=1, key=("chunk", 3))
        assert low * base <= d <= base
        assert d == policy.delay_ms(n, seed=1, key=("chunk", 3))  # same key, same delay
    others = {policy.delay_ms(1, seed=1, key=("chunk", i)) for i in range(5)}
    assert len(others) == 5  # different keys, different delays
    assert policy.delay_ms(1, seed=2, key=("chunk", 3)) != policy.delay_ms(
        1, seed=1, key=("chunk", 3)
    )


def test_jittered_retries_sleep_the_jittered_delays(clock: VirtualClock) -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay_ms=100, jitter="full")
    starts: list[float] = []
    retry_call(flaky(2, clock, starts), policy=policy, clock=clock, seed=5, key=("k",))
    d1 = policy.delay_ms(1, seed=5, key=("k",))
    d2 = policy.delay_ms(2, seed=5, key=("k",))
    assert starts == [0, d1, d1 + d2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, r"bad max_attempts 0 \(accepted: an int in \[1, 1000\]\)"),
        ({"max_attempts": True}, r"bad max_attempts True"),
        ({"initial_delay_ms": -1}, r"bad initial_delay_ms -1 \(accepted: a finite number >= 0\)"),
        ({"backoff_rate": 0.5}, r"bad backoff_rate 0.5 \(accepted: a finite number >= 1\)"),
        (
            {"initial_delay_ms": 10, "max_delay_ms": 5},
            r"bad max_delay_ms 5 \(accepted: a finite number >= initial_delay_ms\)",
        ),
        ({"jitter": "random"}, r"bad jitter 'random' \(accepted: 'none', 'full', 'half'\)"),
        ({"retry_on": (KeyboardInterrupt,)}, r"bad retry_on .*Exception subclasses"),
    ],
)
def test_bad_policy_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)
