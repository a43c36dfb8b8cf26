"""Hand-written retries around the SDK's retry strategy: attempts, delays, jitter, refusals."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aws_durable_execution_sdk_python.config import Duration, JitterStrategy
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

from durable_sim.baseline import RetriesExhausted, RetryCounters, retry_call
from durable_sim.baseline.retry import decide
from durable_sim.clock import VirtualClock


def strategy(**config: Any) -> Any:
    defaults: dict[str, Any] = {
        "max_attempts": 5,
        "initial_delay": Duration.from_seconds(1),
        "backoff_rate": 2.0,
        "jitter_strategy": JitterStrategy.NONE,
    }
    return create_retry_strategy(RetryStrategyConfig(**{**defaults, **config}))


def flaky(failures: int, clock: VirtualClock, log: list[float]) -> Any:
    """Fails its first `failures` attempts, recording when each attempt starts."""

    def attempt(n: int) -> str:
        log.append(clock.now_ms())
        if n <= failures:
            raise ConnectionError(f"attempt {n} failed")
        return f"ok on {n}"

    return attempt


def test_delays_are_the_sdk_strategys(clock: VirtualClock) -> None:
    counters = RetryCounters()
    starts: list[float] = []
    result = retry_call(
        flaky(4, clock, starts),
        strategy=strategy(backoff_rate=2.0, max_delay=Duration.from_seconds(5)),
        clock=clock,
        seed=0,
        key=("c",),
        counters=counters,
    )
    assert result == "ok on 5"
    assert starts == [0, 1000, 3000, 7000, 12000]  # delays 1, 2, 4, 5 (capped) s
    assert counters.as_row() == {"attempts": 5, "retries": 4, "exhausted": 0}


def test_backoff_rate_one_and_a_half_gives_the_sdks_whole_seconds(clock: VirtualClock) -> None:
    """The SDK rounds each delay up to whole seconds: 1, 2, 3, 4 s, not 1, 1.5, 2.25, 3.375 s."""
    starts: list[float] = []
    retry_call(
        flaky(4, clock, starts), strategy=strategy(backoff_rate=1.5), clock=clock, seed=0, key=()
    )
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == [1000, 2000, 3000, 4000]


def test_exhaustion_raises_with_the_last_error(clock: VirtualClock) -> None:
    counters = RetryCounters()
    starts: list[float] = []
    with pytest.raises(RetriesExhausted) as err:
        retry_call(
            flaky(9, clock, starts),
            strategy=strategy(max_attempts=3),
            clock=clock,
            seed=0,
            key=(),
            counters=counters,
        )
    assert (
        str(err.value) == "gave up after 3 attempts; last error: ConnectionError: attempt 3 failed"
    )
    assert isinstance(err.value.__cause__, ConnectionError)
    assert err.value.attempts == 3
    assert starts == [0, 1000, 3000]  # no sleep after the last attempt
    assert counters.as_row() == {"attempts": 3, "retries": 2, "exhausted": 1}


def test_errors_the_strategy_does_not_retry_end_at_once(clock: VirtualClock) -> None:
    counters = RetryCounters()

    def bad(n: int) -> None:
        raise KeyError("not transient")

    with pytest.raises(RetriesExhausted) as err:
        retry_call(
            bad,
            strategy=strategy(retryable_error_types=[ConnectionError]),
            clock=clock,
            seed=0,
            key=(),
            counters=counters,
        )
    assert isinstance(err.value.__cause__, KeyError)
    assert (counters.attempts, counters.exhausted, clock.now_ms()) == (1, 1, 0)


@pytest.mark.parametrize("jitter", [JitterStrategy.FULL, JitterStrategy.HALF])
def test_jitter_is_keyed_reproducible_and_bounded(jitter: JitterStrategy) -> None:
    s = strategy(initial_delay=Duration.from_seconds(8), jitter_strategy=jitter)
    error = ConnectionError("x")
    low = 1 if jitter is JitterStrategy.FULL else 4
    for n in (1, 2):
        d = decide(s, error, n, seed=1, key=("chunk", 3)).delay_seconds
        assert low <= d <= 8 * 2 ** (n - 1)
        assert d == decide(s, error, n, seed=1, key=("chunk", 3)).delay_seconds
    by_key = {decide(s, error, 2, seed=1, key=("chunk", i)).delay_seconds for i in range(8)}
    assert len(by_key) > 1  # different keys draw different jitter


def test_decisions_leave_the_random_module_alone() -> None:
    import random

    random.seed(42)
    expected = random.random()
    random.seed(42)
    decide(strategy(jitter_strategy=JitterStrategy.FULL), ConnectionError(), 1, seed=3, key=())
    assert random.random() == expected


def test_retry_waits_are_labelled_for_attribution(clock: VirtualClock) -> None:
    from durable_sim.attribution import Trace
    from durable_sim.clock import observe_clocks

    trace = Trace()
    with observe_clocks(trace):
        retry_call(flaky(2, clock, []), strategy=strategy(), clock=clock, seed=0, key=())
    times = trace.breakdown(clock, 0.0, clock.now_ms())
    assert times["retry_backoff"] == 3000.0
    assert sum(times.values()) == clock.now_ms()
