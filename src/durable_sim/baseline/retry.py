"""Hand-written retries with exponential backoff: the baseline's own failure handling.

The durable SDK retries a failed step by itself (``RetryStrategyConfig``); a plain function
must write the loop. The policy mirrors the SDK's fields and formula: after attempt ``n``
fails, wait ``min(initial_delay * backoff_rate ** (n - 1), max_delay)``, with jitter applied
(``none``: exact; ``full``: uniform in ``[0, d]``; ``half``: uniform in ``[d/2, d]``), until
`max_attempts` attempts (the first included) have been made.

Jitter comes from a generator seeded by ``(seed, key, attempt)``: the key names what is being
retried (e.g. ``("encode", job_id, chunk)``), so delays do not depend on call order.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np

from durable_sim.clock import Clock
from durable_sim.latency import stable_key_hash

T = TypeVar("T")
Jitter = Literal["none", "full", "half"]
_JITTERS: tuple[Jitter, ...] = ("none", "full", "half")


class RetriesExhausted(Exception):
    """Every allowed attempt failed; the last error is the ``__cause__``."""

    def __init__(self, attempts: int, last_error: BaseException) -> None:
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(
            f"gave up after {attempts} attempts; last error: {type(last_error).__name__}: "
            f"{last_error}"
        )


def _bad(name: str, value: object, accepted: str) -> ValueError:
    return ValueError(f"bad {name} {value!r} (accepted: {accepted})")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry (the SDK's ``RetryStrategyConfig``, in ms)."""

    max_attempts: int = 3
    initial_delay_ms: float = 1000.0
    backoff_rate: float = 2.0
    max_delay_ms: float = 300_000.0
    jitter: Jitter = "none"
    retry_on: tuple[type[Exception], ...] = (Exception,)
    """Error types worth retrying; any other error propagates at once."""

    def __post_init__(self) -> None:
        if (
            not isinstance(self.max_attempts, int)
            or isinstance(self.max_attempts, bool)
            or not 1 <= self.max_attempts <= 1000
        ):
            raise _bad("max_attempts", self.max_attempts, "an int in [1, 1000]")
        if not _is_number(self.initial_delay_ms) or self.initial_delay_ms < 0:
            raise _bad("initial_delay_ms", self.initial_delay_ms, "a finite number >= 0")
        if not _is_number(self.backoff_rate) or self.backoff_rate < 1:
            raise _bad("backoff_rate", self.backoff_rate, "a finite number >= 1")
        if not _is_number(self.max_delay_ms) or self.max_delay_ms < self.initial_delay_ms:
            raise _bad("max_delay_ms", self.max_delay_ms, "a finite number >= initial_delay_ms")
        if self.jitter not in _JITTERS:
            raise _bad("jitter", self.jitter, "'none', 'full', 'half'")
        if not isinstance(self.retry_on, tuple) or not all(
            isinstance(t, type) and issubclass(t, Exception) for t in self.retry_on
        ):
            raise _bad("retry_on", self.retry_on, "a tuple of Exception subclasses")

    def base_delay_ms(self, attempts_made: int) -> float:
        """The delay before the next attempt after `attempts_made` failures, before jitter."""
        return float(
            min(self.initial_delay_ms * self.backoff_rate ** (attempts_made - 1), self.max_delay_ms)
        )

    def delay_ms(self, attempts_made: int, *, seed: int, key: tuple[object, ...]) -> float:
        """The jittered delay after `attempts_made` failures of the attempt named by `key`."""
        base = self.base_delay_ms(attempts_made)
        if self.jitter == "none":
            return base
        rng = np.random.default_rng([seed, stable_key_hash(("retry", *key, attempts_made))])
        low = 0.0 if self.jitter == "full" else base / 2
        return float(rng.uniform(low, base))


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
    policy: RetryPolicy,
    clock: Clock,
    seed: int,
    key: tuple[object, ...],
    counters: RetryCounters | None = None,
) -> T:
    """Call ``fn(attempt)`` (attempt 1, 2, ...) until it returns, sleeping between attempts.

    An error of a type in ``policy.retry_on`` is retried after the policy's delay (slept on
    `clock`); any other error propagates at once. After ``policy.max_attempts`` failures,
    `RetriesExhausted` is raised from the last error. Every attempt is counted in `counters`.
    """
    attempt = 1
    while True:
        if counters is not None:
            counters._record(attempts=1, retries=int(attempt > 1))
        try:
            return fn(attempt)
        except policy.retry_on as exc:
            if attempt >= policy.max_attempts:
                if counters is not None:
                    counters._record(exhausted=1)
                raise RetriesExhausted(attempt, exc) from exc
            delay = policy.delay_ms(attempt, seed=seed, key=key)
            clock.sleep_until(clock.now_ms() + delay)
            attempt += 1
