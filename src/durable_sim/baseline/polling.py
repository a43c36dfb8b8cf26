"""A polling coordinator: check a condition at a fixed interval until it holds or time runs out.

This is how the baseline learns that fanned-out work has finished: it asks the store again and
again. Polls happen at ``start, start + interval, start + 2*interval, ...`` (a check that takes
longer than the interval delays the next poll until it returns). Between polls the clock sleeps
to the next poll time: the virtual clock jumps there, the wall clock really sleeps. So the
number of polls, and the store queries they make, follows from when the work completes.

On the virtual clock, asynchronous work runs eagerly (see `functions`), so the store already
holds its final writes at the first poll; a check gates on when the work completed in virtual
time, e.g. ``store.query(...)`` and ``all(h.done_by(clock.now_ms()) for h in handles)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from durable_sim.clock import Clock

T = TypeVar("T")


class PollTimeout(TimeoutError):
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


def _check_ms(name: str, value: object, *, positive: bool) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):  # type: ignore[operator]
        accepted = "a finite number > 0" if positive else "a finite number >= 0"
        raise ValueError(f"bad {name} {value!r} (accepted: {accepted}, in ms)")
    return float(value)  # type: ignore[arg-type]


def poll_until(
    check: Callable[[], T], *, clock: Clock, interval_ms: float, timeout_ms: float
) -> PollResult[T]:
    """Call `check` at each poll time until it returns a truthy value; return that value.

    The first poll is immediate. A poll is made only if its scheduled time is within
    `timeout_ms` of the start; when none is left, `PollTimeout` reports the polls made and
    the time elapsed.
    """
    interval = _check_ms("interval_ms", interval_ms, positive=True)
    timeout = _check_ms("timeout_ms", timeout_ms, positive=False)
    start = clock.now_ms()
    polls = 0
    while True:
        polls += 1
        value = check()
        if value:
            return PollResult(value, polls, clock.now_ms() - start)
        next_poll = start + polls * interval
        if next_poll > start + timeout:
            raise PollTimeout(
                polls=polls,
                elapsed_ms=clock.now_ms() - start,
                interval_ms=interval,
                timeout_ms=timeout,
            )
        clock.sleep_until(next_poll)
