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


def test_the_strategy_sees_the_error_so_its_error_filter_applies(clock: VirtualClock) -> None:
    """An error of a retryable type (the SDK's ``retryable_error_types``) is retried."""
    starts: list[float] = []
    result = retry_call(
        flaky(2, clock, starts),
        strategy=strategy(retryable_error_types=[ConnectionError]),
        clock=clock,
        seed=0,
        key=(),
    )
    assert result == "ok on 3"
    assert starts == [0, 1000, 3000]
    s = strategy(retryable_error_types=[ConnectionError])
    assert decide(s, ConnectionError("x"), 1, seed=0, key=()).should_retry
    assert not decide(s, KeyError("x"), 1, seed=0, key=()).should_retry


def test_the_exhausted_error_keeps_the_last_error(clock: VirtualClock) -> None:
    with pytest.raises(RetriesExhausted) as err:
        retry_call(
            flaky(9, clock, []), strategy=strategy(max_attempts=2), clock=clock, seed=0, key=()
        )
    assert err.value.last_error is err.value.__cause__
    assert str(err.value.last_error) == "attempt 2 failed"


def test_counters_add_up_over_calls(clock: VirtualClock) -> None:
    counters = RetryCounters()
    for _ in range(2):
        with pytest.raises(RetriesExhausted):
            retry_call(
                flaky(9, clock, []),
                strategy=strategy(max_attempts=2),
                clock=clock,
                seed=0,
                key=(),
                counters=counters,
            )
    retry_call(
        flaky(0, clock, []), strategy=strategy(), clock=clock, seed=0, key=(), counters=counters
    )
    assert counters.as_row() == {"attempts": 5, "retries": 2, "exhausted": 2}


def test_jitter_of_different_keys_is_independent() -> None:
    """Full jitter over 1000 s draws each delay uniformly from the whole seconds 1..1000, so
    1500 keys show D distinct delays with E[D] = 1000 (1 - (1 - 1/1000)^1500) = 777 and
    sd 9.9 (the occupancy problem); a seeding that repeated states would show far fewer."""
    s = strategy(
        initial_delay=Duration.from_seconds(1000),
        max_delay=Duration.from_seconds(1000),
        jitter_strategy=JitterStrategy.FULL,
    )
    error = ConnectionError("x")
    delays = [decide(s, error, 1, seed=4, key=("call", i)).delay_seconds for i in range(1500)]
    assert min(delays) >= 1
    assert max(delays) <= 1000
    assert 777 - 6 * 9.9 < len(set(delays)) < 777 + 6 * 9.9


class _SleepLabels:
    """A clock observer that records the label of every sleep."""

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


def test_each_retry_sleep_is_labelled_retry_backoff(clock: VirtualClock) -> None:
    from durable_sim.clock import observe_clocks

    observer = _SleepLabels()
    with observe_clocks(observer):
        retry_call(flaky(2, clock, []), strategy=strategy(), clock=clock, seed=0, key=())
    assert observer.labels == ["retry_backoff", "retry_backoff"]
