"""Where a run's time went: its end-to-end time split into components that add up to it.

A `Trace` watches every virtual clock of a run (`durable_sim.clock.observe_clocks`): each charge
with the profile cost it paid, each sleep with what it waited for, each fork. After the run,
`Trace.breakdown` walks the run's critical path backwards from its end: along the main timeline,
and, where that timeline waited for concurrent work, into the branch that finished last.

Components (`durable_sim.rows.TIME_COMPONENTS`, milliseconds per run):

================  ===========================================================================
invocation        a function or durable invocation's platform cost (invoke, cold start, the
                  durable runtime's per-invocation floor, the resume after a timer)
checkpoint        checkpoint calls (and the SDK's per-step overhead) of the durable runtime,
                  and a map branch's wait for the call that resumes it in process
replay            journaled operations returned during a replay
store             calls to the key-value store (the baseline's explicit state)
polling_slack     a coordinator's wait between the last worker's end and the poll that saw it
                  (and polls that found work unfinished after it ended)
compute           CPU work on a core (validate, split, encode, assemble)
queueing          waiting for a core, a concurrency slot, or a ``max_concurrency`` slot
retry_backoff     waiting out a retry delay (the baseline's own, or a durable timer)
================  ===========================================================================

How waits are resolved: a sleep labelled ``"poll_wait"`` is a coordinator waiting for the
work it forked: the time back to the end of its latest-ending child is polling slack, and the
path continues inside that child, back to the fork. A sleep labelled ``"join"`` is a durable
``map``/``parallel`` coordinator waiting for its branches (timelines forked from its own when
the batch started, `durable_sim.durable.scheduler`): it ends when a branch's event ends, and the
path continues in that branch, back to the batch's start (a branch that had to wait for a
``max_concurrency`` slot shows that wait as ``queueing`` on its own timeline). An unlabelled
sleep is a durable timer, i.e. a retry delay.

Only the virtual clock is traced: a wall-clock run's time is real and not split.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from durable_sim.clock import Clock, observe_clocks
from durable_sim.errors import DurableSimError
from durable_sim.machine import COMPUTE, QUEUEING
from durable_sim.rows import TIME_COMPONENTS

#: The sleep label of a coordinator's wait between polls.
POLL_WAIT = "poll_wait"
#: The sleep label of a hand-written retry delay.
RETRY_BACKOFF = "retry_backoff"
#: The sleep label of a durable map/parallel coordinator waiting for its branches.
JOIN = "join"

#: The component each profile cost (`durable_sim.latency.LatencyProfile`) and sleep label
#: counts towards.
COMPONENT_OF: dict[str, str] = {
    "invoke": "invocation",
    "cold_start": "invocation",
    "durable_invoke": "invocation",
    "resume": "invocation",
    "checkpoint": "checkpoint",
    "step": "checkpoint",
    "replay_op": "replay",
    "kv_read": "store",
    "kv_write": "store",
    "kv_query": "store",
    "validate": "compute",
    "split_per_s": "compute",
    "encode_per_s": "compute",
    "assemble_per_s": "compute",
    COMPUTE: "compute",
    QUEUEING: "queueing",
    RETRY_BACKOFF: "retry_backoff",
}


class AttributionError(DurableSimError, RuntimeError):
    """A run's trace cannot be split: an advance without a known cause, or a gap in time."""


class _Timeline:
    """The advances of one clock, contiguous in time, and the timelines forked from it.

    Advance `i` runs from ``starts[i]`` to ``ends[i]`` (ms; lists hold the clock's own float
    objects, where float arrays would convert each) and pays or waits for ``labels[i]``;
    ``charges[i]`` is True for a charge (a modelled cost), False for a sleep.
    """

    __slots__ = ("charges", "children", "clock", "ends", "forked_at", "labels", "order", "starts")

    def __init__(self, clock: object, order: int) -> None:
        self.clock = clock  # held so that its id stays unique while the trace lives
        self.order = order
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.labels: list[str | None] = []
        self.charges: list[bool] = []
        self.forked_at = 0.0
        self.children: list[_Timeline] = []

    @property
    def first(self) -> float:
        return self.starts[0]

    @property
    def last(self) -> float:
        return self.ends[-1]


class Trace:
    """Records the clocks of one run (a `durable_sim.clock.ClockObserver`)."""

    def __init__(self) -> None:
        self._timelines: dict[int, _Timeline] = {}
        self._pending: tuple[str, float] | None = None

    def _timeline(self, clock: object) -> _Timeline:
        tl = self._timelines.get(id(clock))
        if tl is None:
            tl = self._timelines[id(clock)] = _Timeline(clock, len(self._timelines))
        return tl

    # -- ClockObserver ---------------------------------------------------------------------

    def advanced(
        self, clock: object, start_ms: float, end_ms: float, *, charge: bool, label: str | None
    ) -> None:
        """Record that `clock` moved from `start_ms` to `end_ms` (ms): a charge paying the
        cost `label` (a key of `COMPONENT_OF`), or a sleep waiting for `label`.

        Raises `AttributionError` if the clock moved since its last recorded advance without
        this trace seeing it, or if a charge pays no cost `COMPONENT_OF` knows.
        """
        tl = self._timelines.get(id(clock)) or self._timeline(clock)
        ends = tl.ends
        if ends and ends[-1] != start_ms:
            raise AttributionError(
                f"clock {clock!r} jumped from {ends[-1]} ms to {start_ms} ms unobserved"
            )
        if charge and label not in COMPONENT_OF:
            raise AttributionError(
                f"a charge of {end_ms - start_ms} ms at {start_ms} ms pays no known cost "
                f"(label {label!r}; known: {sorted(COMPONENT_OF)})"
            )
        tl.starts.append(start_ms)
        ends.append(end_ms)
        tl.labels.append(label)
        tl.charges.append(charge)

    def forked(self, parent: object, child: object, at_ms: float) -> None:
        """Record that `child` was forked from `parent` at `at_ms` (ms): the critical path
        may later continue from `parent` into `child`."""
        p = self._timeline(parent)
        c = self._timeline(child)
        c.forked_at = at_ms
        p.children.append(c)

    def note_charge(self, label: str, ms: float) -> None:
        """Remember that the next charge of `ms` milliseconds pays the cost `label`."""
        self._pending = (label, ms)

    def take_charge_label(self, ms: float) -> str | None:
        """The cost noted for a charge of exactly `ms` milliseconds, forgotten once taken;
        ``None`` if nothing was noted or the noted amount differs."""
        pending, self._pending = self._pending, None
        return pending[0] if pending is not None and pending[1] == ms else None

    # -- attribution ----------------------------------------------------------------------

    def charged_ms(self, cost: str) -> float:
        """Milliseconds charged to the profile cost `cost` (e.g. ``"cold_start"``) on every
        clock of the run, on its critical path or not: how much of that cost the run paid in
        all (e.g. the INIT time of all its cold starts). Raises `AttributionError` for a name
        `COMPONENT_OF` does not know."""
        if cost not in COMPONENT_OF:
            raise AttributionError(f"unknown cost {cost!r} (accepted: {sorted(COMPONENT_OF)})")
        # Only timelines that ever paid or waited for `cost` are walked (most branch timelines
        # never do): the same terms, added in the same order.
        return float(
            sum(
                end - start
                for tl in self._timelines.values()
                if cost in tl.labels
                for start, end, label, charge in zip(
                    tl.starts, tl.ends, tl.labels, tl.charges, strict=True
                )
                if charge and label == cost
            )
        )

    def breakdown(self, clock: object, start_ms: float, end_ms: float) -> dict[str, float]:
        """`clock`'s time from `start_ms` to `end_ms` split by component (ms; sums to the span).

        Raises `AttributionError` if part of the span cannot be attributed.
        """
        totals = dict.fromkeys(TIME_COMPONENTS, 0.0)
        if end_ms <= start_ms:
            return totals
        main = self._timelines.get(id(clock))
        if main is None or not main.ends:
            raise AttributionError(f"clock {clock!r} never advanced while traced")
        _Walk(totals).walk(main, end_ms, start_ms)
        return totals


@dataclass
class _Walk:
    """One backward walk of the critical path, adding each stretch to its component."""

    totals: dict[str, float]
    visited: set[int] = field(default_factory=set)

    def add(self, component: str, ms: float) -> None:
        self.totals[component] += ms

    def walk(self, tl: _Timeline, hi: float, lo: float) -> None:
        """Attribute `tl`'s time in [lo, hi]."""
        self.visited.add(id(tl))
        cursor = hi
        if cursor > tl.last:
            raise AttributionError(f"a clock's advances end at {tl.last} ms, before {cursor} ms")
        i = bisect.bisect_left(tl.ends, cursor)
        while cursor > lo:
            if i < 0:
                raise AttributionError(f"nothing happened on a clock between {lo} and {cursor} ms")
            begin = max(tl.starts[i], lo)
            label = tl.labels[i]
            if label == POLL_WAIT:
                cursor = self._through_child(tl, cursor, begin, lo)
                i = bisect.bisect_left(tl.ends, cursor)
            elif label == JOIN:
                cursor = self._through_branch(tl, cursor)
                i = bisect.bisect_left(tl.ends, cursor)
            else:  # a charge, a labelled sleep, or a durable timer (unlabelled)
                self.add(
                    COMPONENT_OF[label] if label is not None else "retry_backoff", cursor - begin
                )
                cursor, i = begin, i - 1

    def _through_child(self, tl: _Timeline, cursor: float, begin: float, lo: float) -> float:
        """A poll wait: slack back to the latest-ending child, then that child's path."""
        ended = [
            c
            for c in tl.children
            if c.ends and c.forked_at >= lo and c.last <= cursor and id(c) not in self.visited
        ]
        if not ended:
            self.add("polling_slack", cursor - begin)
            return begin
        child = max(ended, key=lambda c: (c.last, -c.order))
        self.add("polling_slack", cursor - child.last)
        self.walk(child, child.last, child.first)
        self.add("queueing", child.first - child.forked_at)
        return child.forked_at

    def _through_branch(self, tl: _Timeline, cursor: float) -> float:
        """A join: the path continues in the branch whose event ended it, back to its fork.

        Of the branches ending then, one of the latest batch (an earlier batch's orphan may end
        at the same instant), the first forked. If none ends then, the branch whose event it was
        ran on after it (it completed the batch, and an orphan runs on to its next checkpoint):
        of those with an advance ending then, likewise.
        """
        ended = [
            c for c in tl.children if c.ends and c.last == cursor and id(c) not in self.visited
        ]
        if not ended:
            ended = [c for c in tl.children if id(c) not in self.visited and _ends_at(c, cursor)]
        if not ended:
            raise AttributionError(f"a join ends at {cursor} ms, where none of its branches ends")
        branch = min(ended, key=lambda c: (-c.forked_at, c.order))
        self.walk(branch, cursor, branch.first)
        self.add("queueing", branch.first - branch.forked_at)
        return branch.forked_at


def _ends_at(tl: _Timeline, at_ms: float) -> bool:
    """Whether one of `tl`'s advances ends at `at_ms` (its ends are in time order)."""
    i = bisect.bisect_left(tl.ends, at_ms)
    return i < len(tl.ends) and tl.ends[i] == at_ms


@contextmanager
def traced(clock: Clock) -> Iterator[Trace | None]:
    """Trace the clocks of the work in this context if `clock` is virtual (else yield None)."""
    if not clock.virtual:
        yield None
        return
    trace = Trace()
    with observe_clocks(trace):
        yield trace
