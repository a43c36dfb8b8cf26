"""Hand-written retries: the baseline's own retry loop around the SDK's retry decisions.

A plain function must write the loop that the durable SDK runs for a step. What the loop
decides (retry or give up, and after how long) is not re-implemented here: it is the SDK's own
retry strategy, ``aws_durable_execution_sdk_python.retries.create_retry_strategy(config)``,
called with the error and the number of attempts made, exactly as the durable runtime calls it.
So both models wait the same delays for the same failures: with ``initial_delay=1 s`` and
``backoff_rate=1.5`` the SDK's delays are 1, 2, 3, 4 s (it rounds each delay up to whole
seconds, at least 1 s), not 1, 1.5, 2.25, 3.4 s.

The SDK's jitter draws from the `random` module. Each decision here seeds it from
``(seed, key, attempt)`` for the call and restores the previous state afterwards, so a seed
fixes every delay and delays do not depend on call order.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from aws_durable_execution_sdk_python.retries import RetryDecision

from durable_sim.attribution import RETRY_BACKOFF
from durable_sim.clock import Clock
from durable_sim.errors import DurableSimError
from durable_sim.latency import stable_key_hash

T = TypeVar("T")
#: The SDK's retry strategy type: ``(error, attempts_made) -> RetryDecision``.
RetryStrategy = Callable[[Exception, int], RetryDecision]

# The `random` module's state is one per interpreter; decisions seed and restore it one at a time.
_RANDOM_LOCK = threading.Lock()


class RetriesExhausted(DurableSimError):
    """The strategy declined another attempt; the last error is the ``__cause__``."""

    def __init__(self, attempts: int, last_error: BaseException) -> None:
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(
            f"gave up after {attempts} attempts; last error: {type(last_error).__name__}: "
            f"{last_error}"
        )


def decide(
    strategy: RetryStrategy,
    error: Exception,
    attempts_made: int,
    *,
    seed: int,
    key: tuple[object, ...],
) -> RetryDecision:
    """The SDK strategy's decision after `attempts_made` failed attempts, its jitter seeded by
    ``(seed, key, attempts_made)``."""
    rng = np.random.default_rng([seed, stable_key_hash(("retry", *key, attempts_made))])
    with _RANDOM_LOCK:
        saved = random.getstate()
        random.seed(int(rng.integers(2**63)))
        try:
            return strategy(error, attempts_made)
        finally:
            random.setstate(saved)


@dataclass
class RetryCounters:
    """Attempts made, retries among them (attempts after the first) and calls given up on."""

    attempts: int = 0
    retries: int = 0
    exhausted: int = 0
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def as_row(self) -> dict[str, int]:
        """Flat columns for a results row."""
        return {"attempts": self.attempts, "retries": self.retries, "exhausted": self.exhausted}

    def _record(self, *, attempts: int = 0, retries: int = 0, exhausted: int = 0) -> None:
        with self._lock:
            self.attempts += attempts
            self.retries += retries
            self.exhausted += exhausted


def retry_call(
    fn: Callable[[int], T],
    *,
    strategy: RetryStrategy,
    clock: Clock,
    seed: int,
    key: tuple[object, ...],
    counters: RetryCounters | None = None,
) -> T:
    """Call ``fn(attempt)`` (attempt 1, 2, ...) until it returns, sleeping between attempts.

    After a failure the SDK `strategy` decides: a retry sleeps its delay on `clock` (whole
    seconds, labelled ``"retry_backoff"`` for time attribution) and calls again; a refusal (the
    attempts are used up, or the error is not one the strategy retries) raises
    `RetriesExhausted` from the last error. Every attempt is counted in `counters`.
    """
    attempt = 1
    while True:
        if counters is not None:
            counters._record(attempts=1, retries=int(attempt > 1))
        try:
            return fn(attempt)
        except Exception as exc:
            decision = decide(strategy, exc, attempt, seed=seed, key=key)
            if not decision.should_retry:
                if counters is not None:
                    counters._record(exhausted=1)
                raise RetriesExhausted(attempt, exc) from exc
            clock.sleep_until(clock.now_ms() + decision.delay_seconds * 1000.0, RETRY_BACKOFF)
            attempt += 1
