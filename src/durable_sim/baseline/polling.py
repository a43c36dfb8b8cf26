"""A polling coordinator: check a condition on a schedule until it holds or time runs out.

This is how the baseline learns that fanned-out work has finished: it asks the store again and
again. The first poll is immediate; the k-th wait between polls is the schedule's interval:

``fixed``
    always `interval_ms`: polls at ``start, start + i, start + 2i, ...``.
``exponential``
    ``min(interval_ms * backoff_rate ** (k - 1), max_interval_ms)``: the SDK's own polling
    formula (``aws_durable_execution_sdk_python.waits.create_wait_strategy``), whose defaults
    are taken as ours: backoff rate 1.5 and a 5-minute cap (``WaitStrategyConfig``), but in
    milliseconds rather than whole seconds and without jitter.

A check that takes longer than its wait delays the next poll until it returns. Between polls the
clock sleeps to the next poll time (labelled ``"poll_wait"`` for time attribution): the virtual
clock jumps there, the wall clock really sleeps. So the number of polls, and the store calls
they make, follows from when the work completes.

On the virtual clock, asynchronous work runs eagerly (see `functions`), so the store already
holds its final writes at the first poll; a check gates on when the work completed in virtual
time, e.g. ``store.query(...)`` and ``all(h.done_by(clock.now_ms()) for h in handles)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from aws_durable_execution_sdk_python.waits import WaitStrategyConfig

from durable_sim.attribution import POLL_WAIT
from durable_sim.clock import Clock
from durable_sim.durations import Seconds
from durable_sim.errors import DurableSimError

T = TypeVar("T")
Backoff = Literal["fixed", "exponential"]
BACKOFFS: tuple[Backoff, ...] = ("fixed", "exponential")
_SDK_WAITS = WaitStrategyConfig(should_continue_polling=bool)
#: The SDK's default growth of the wait between polls (``WaitStrategyConfig.backoff_rate``).
SDK_BACKOFF_RATE = float(_SDK_WAITS.backoff_rate)
#: The SDK's default cap on the wait between polls, in ms (``WaitStrategyConfig.max_delay``).
SDK_MAX_INTERVAL_MS = _SDK_WAITS.max_delay_seconds * 1000.0


class PollTimeout(DurableSimError, TimeoutError):
    """The condition did not hold at any poll within the timeout."""

    def __init__(self, *, polls: int, elapsed_ms: float, interval_ms: float, timeout_ms: float):
        self.polls = polls
        self.elapsed_ms = elapsed_ms
        super().__init__(
            f"condition not met after {polls} polls over {elapsed_ms:.1f} ms "
            f"(timeout {timeout_ms:g} ms, interval {interval_ms:g} ms)"
        )


@dataclass(frozen=True)
class PollResult(Generic[T]):
    """The truthy value the check returned, how many polls it took and how long."""

    value: T
    polls: int
    elapsed_ms: float


#: The poll intervals and caps (ms) a caller may give.
INTERVAL_MS = Seconds(0.0, low_open=True, unit="ms")
#: The poll timeouts (ms): 0 polls once.
TIMEOUT_MS = Seconds(0.0, unit="ms")


def wait_ms(
    polls_made: int,
    *,
    interval_ms: float,
    backoff: Backoff = "fixed",
    backoff_rate: float = SDK_BACKOFF_RATE,
    max_interval_ms: float = SDK_MAX_INTERVAL_MS,
) -> float:
    """The wait after the `polls_made`-th poll (1, 2, ...) under the schedule, in ms."""
    if backoff == "fixed":
        return interval_ms
    return min(interval_ms * backoff_rate ** (polls_made - 1), max_interval_ms)


def poll_until(
    check: Callable[[], T],
    *,
    clock: Clock,
    interval_ms: float,
    timeout_ms: float,
    backoff: Backoff = "fixed",
    backoff_rate: float = SDK_BACKOFF_RATE,
    max_interval_ms: float = SDK_MAX_INTERVAL_MS,
) -> PollResult[T]:
    """Call `check` at each poll time until it returns a truthy value; return that value.

    The first poll is immediate; then the schedule's waits follow (see the module docstring).
    A poll is made only if its scheduled time is within `timeout_ms` of the start; when none
    is left, `PollTimeout` reports the polls made and the time elapsed. Bad arguments raise
    `ValueError` naming the value and the accepted range.
    """
    interval = INTERVAL_MS.check("interval_ms", interval_ms)
    timeout = TIMEOUT_MS.check("timeout_ms", timeout_ms)
    if backoff not in BACKOFFS:
        raise ValueError(f"bad backoff {backoff!r} (accepted: 'fixed', 'exponential')")
    if isinstance(backoff_rate, bool) or not (
        isinstance(backoff_rate, int | float) and 1 <= backoff_rate <= 100
    ):
        raise ValueError(f"bad backoff_rate {backoff_rate!r} (accepted: a number in [1, 100])")
    cap = INTERVAL_MS.check("max_interval_ms", max_interval_ms)
    start = clock.now_ms()
    polls = 0
    next_poll = start
    while True:
        polls += 1
        value = check()
        if value:
            return PollResult(value, polls, clock.now_ms() - start)
        next_poll += wait_ms(
            polls,
            interval_ms=interval,
            backoff=backoff,
            backoff_rate=backoff_rate,
            max_interval_ms=cap,
        )
        if next_poll > start + timeout:
            raise PollTimeout(
                polls=polls,
                elapsed_ms=clock.now_ms() - start,
                interval_ms=interval,
                timeout_ms=timeout,
            )
        clock.sleep_until(next_poll, POLL_WAIT)
