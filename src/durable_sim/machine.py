"""The machine a scenario runs on: cores on which CPU work contends, and invocation slots.

A scenario is a latency profile plus a `Machine` (the profile's ``machine`` field). Two kinds:

``host``
    One computer with `cores` cores shared by every piece of CPU work of a run, whatever the
    model or engine that issues it: the coordinator's validate, split and assemble, each
    worker's or map branch's encode. This is the paper's setting (one machine running the
    official local runner and in-process functions).
``lambda``
    AWS Lambda: every function invocation runs on its own execution environment with `cores`
    vCPUs, so invocations do not contend with each other. Work inside one invocation shares
    its vCPUs: the branches of a durable ``context.map`` are threads of the one invocation (the
    SDK runs them on a ``ThreadPoolExecutor``, aws_durable_execution_sdk_python 3.0.0,
    ``concurrency/executor.py``), whereas each baseline worker is an invocation of its own. At
    most `concurrency_limit` invocations run at once; a later one waits for a free slot (the
    account's concurrency limit: 1,000 by default, "Lambda function scaling", AWS Lambda
    Developer Guide).

CPU work is booked, not preempted: a burst of ``ms`` milliseconds that is ready at time ``t``
takes the core that can start it first at or after ``t`` (a free gap of at least ``ms``;
ties go to the lowest core), and its clock waits until the burst ends. Bookings are made in the
order the code issues them: the branches of a durable ``map``/``parallel`` issue theirs in the
order of virtual time (they are coroutines on the virtual timeline,
`durable_sim.durable.scheduler`), the baseline's asynchronous workers, which run eagerly on
forked clocks, in input order; a burst issued later may still fill an earlier gap. For equal
bursts that are ready together this is first-come first-served on ``cores`` servers, which is
how a pool of worker processes on a ``cores``-core host serves a queue of encodes.

Only work that the workloads do is booked here (validate, split, encode, assemble, in both
models). The durable engine charges its own costs (the local runner's per-invocation and
per-checkpoint work) straight to its clocks; the runner's CPU share of those costs is a few
milliseconds per run (see `latency.PAPER_LOCAL`) and is not booked on the cores.
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass
from typing import Literal

from durable_sim.clock import Clock
from durable_sim.errors import DurableSimError

MachineKind = Literal["host", "lambda"]
KINDS: tuple[MachineKind, ...] = ("host", "lambda")
#: Upper bound on cores (a host) or vCPUs (a Lambda, which offers at most 6).
MAX_CORES = 1024
#: Upper bound on a concurrency limit (AWS raises account limits to tens of thousands).
MAX_CONCURRENCY = 1_000_000
#: The wait for a core or for a concurrency slot, as a sleep label (see `durable_sim.clock`).
QUEUEING = "queueing"
#: CPU work on a core, as a sleep label.
COMPUTE = "compute"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Machine:
    """Where a run's CPU work runs (see the module docstring).

    `cores`: the host's cores (``host``), or the vCPUs of each invocation (``lambda``); an int
    in 1..1024. `concurrency_limit`: ``lambda`` only, the most invocations running at once, an
    int in 1..1,000,000, or ``None`` for no limit. Bad values raise `ValueError`.
    """

    kind: MachineKind
    cores: int
    concurrency_limit: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"bad machine kind {self.kind!r} (accepted: 'host', 'lambda')")
        if not _is_int(self.cores) or not 1 <= self.cores <= MAX_CORES:
            raise ValueError(f"bad cores {self.cores!r} (accepted: an int in 1..{MAX_CORES})")
        limit = self.concurrency_limit
        if limit is not None:
            if self.kind == "host":
                raise ValueError(
                    f"bad concurrency_limit {limit!r} for a host (accepted: None; only a "
                    "'lambda' machine limits concurrent invocations)"
                )
            if not _is_int(limit) or not 1 <= limit <= MAX_CONCURRENCY:
                raise ValueError(
                    f"bad concurrency_limit {limit!r} (accepted: None or an int in "
                    f"1..{MAX_CONCURRENCY})"
                )

    def start(self) -> MachineState:
        """A fresh machine for one run: no core busy, no invocation running."""
        return MachineState(self)


class SlotsExhausted(DurableSimError, RuntimeError):
    """Every slot is held by an invocation that is still running, so no other can start."""


class _LeftmostMin:
    """A value per index (``inf``: none) in a min segment tree: the minimum, and the lowest
    index whose value is at most a bound, each in O(log n)."""

    def __init__(self, values: list[float]) -> None:
        size = 1
        while size < len(values):
            size *= 2
        self._size = size
        self._tree = [math.inf] * (2 * size)
        self._tree[size : size + len(values)] = values
        for node in range(size - 1, 0, -1):
            self._tree[node] = min(self._tree[2 * node], self._tree[2 * node + 1])

    def set(self, index: int, value: float) -> None:
        tree, node = self._tree, index + self._size
        tree[node] = value
        node //= 2
        while node:
            tree[node] = min(tree[2 * node], tree[2 * node + 1])
            node //= 2

    def minimum(self) -> float:
        return self._tree[1]

    def leftmost_at_most(self, bound: float) -> int:
        """The lowest index whose value is <= `bound` (one must exist)."""
        tree, node = self._tree, 1
        while node < self._size:
            node = 2 * node if tree[2 * node] <= bound else 2 * node + 1
        return node - self._size


class Calendar:
    """Busy intervals of `servers` identical servers, booked non-preemptively.

    Each server keeps its free gaps as sorted, disjoint ``[start, end)`` intervals, the last
    one open-ended. Safe to use from several threads.
    """

    def __init__(self, servers: int) -> None:
        if not _is_int(servers) or servers < 1:
            raise ValueError(f"bad servers {servers!r} (accepted: an int >= 1)")
        self._starts: list[list[float]] = [[-math.inf] for _ in range(servers)]
        self._ends: list[list[float]] = [[math.inf] for _ in range(servers)]
        # Where each server's open-ended last gap starts (inf: the server is held for good),
        # so that `acquire` finds its server in O(log servers) rather than by a scan.
        self._open = _LeftmostMin([-math.inf] * servers)
        self._lock = threading.Lock()

    @property
    def servers(self) -> int:
        return len(self._starts)

    def _earliest(self, server: int, ready: float, duration: float) -> tuple[float, int] | None:
        """The earliest start >= `ready` on `server` with `duration` free, and its gap index;
        ``None`` if no gap fits (the server is held for good by `acquire`)."""
        starts, ends = self._starts[server], self._ends[server]
        for i in range(bisect.bisect_right(ends, ready), len(ends)):  # gaps ending after `ready`
            begin = max(starts[i], ready)
            if begin + duration <= ends[i]:
                return begin, i
        return None

    def _carve(self, server: int, gap: int, begin: float, end: float) -> None:
        starts, ends = self._starts[server], self._ends[server]
        # The gap [starts[gap], ends[gap]) keeps what is left before `begin` and after `end`.
        before, after = begin > starts[gap], ends[gap] > end
        if before and after:  # split in two
            starts.insert(gap + 1, end)
            ends.insert(gap, begin)
        elif before:
            ends[gap] = begin
        elif after:  # the common case: work booked at the start of a gap
            starts[gap] = end
        else:
            del starts[gap], ends[gap]
        self._open.set(server, starts[-1] if ends and ends[-1] == math.inf else math.inf)

    def book(self, ready: float, duration: float) -> tuple[float, float]:
        """Book `duration` ms on the server that can start it first at or after `ready`.

        Returns ``(start, end)``. `duration` must be finite and >= 0 (`ValueError` otherwise);
        `SlotsExhausted` if every server is held for good (`acquire`).
        """
        if not (math.isfinite(duration) and duration >= 0 and math.isfinite(ready)):
            raise ValueError(
                f"bad booking ready={ready!r}, duration={duration!r} (accepted: finite, "
                "duration >= 0)"
            )
        if duration == 0:
            return ready, ready
        with self._lock:
            best: tuple[float, int, int] | None = None
            for server in range(self.servers):
                found = self._earliest(server, ready, duration)
                if found is not None and (best is None or found[0] < best[0]):
                    best = (found[0], server, found[1])
            if best is None:
                raise SlotsExhausted(
                    f"all {self.servers} servers are held by work that has not ended; "
                    f"{duration} ms cannot be booked"
                )
            begin, server, gap = best
            self._carve(server, gap, begin, begin + duration)
            return begin, begin + duration

    def acquire(self, ready: float) -> tuple[int, float]:
        """Hold a server from the first time >= `ready` that it is free for good.

        For work of unknown length (an invocation holding a concurrency slot): only a
        server's open-ended last gap can take it. Returns ``(server, start)``; give the
        server back with `release`. Raises `SlotsExhausted` when every server is held.
        """
        with self._lock:
            # The free server that can start first, the lowest-numbered one on a tie: the
            # lowest whose gap opens by `ready` if any does, else the one whose opens first.
            first_open = self._open.minimum()
            if first_open == math.inf:
                raise SlotsExhausted(
                    f"all {self.servers} slots are held by work that has not ended; nothing "
                    "can start until one ends (raise the concurrency limit)"
                )
            server = self._open.leftmost_at_most(max(first_open, ready))
            begin = max(self._starts[server][-1], ready)
            self._carve(server, len(self._starts[server]) - 1, begin, math.inf)
            return server, begin

    def release(self, server: int, end: float) -> None:
        """End the hold on `server` (taken by `acquire`) at `end`: it is free from then on."""
        with self._lock:
            self._starts[server].append(end)
            self._ends[server].append(math.inf)
            self._open.set(server, end)


class Cpu:
    """The cores a piece of CPU work can run on: one host's, or one invocation's vCPUs."""

    def __init__(self, cores: int) -> None:
        self.calendar = Calendar(cores)

    @property
    def cores(self) -> int:
        return self.calendar.servers

    def run(self, clock: Clock, ms: float) -> None:
        """Do `ms` ms of CPU work from `clock`'s now: wait for a core, then compute.

        The clock ends at the work's end, having moved once (`Clock.sleep_through`: a branch
        on the virtual clock yields to its coordinator once per booking). On the virtual clock
        the two waits are labelled `QUEUEING` and `COMPUTE` for time attribution; a wall clock
        really sleeps them.
        """
        start, end = self.calendar.book(clock.now_ms(), ms)
        clock.sleep_through(start, QUEUEING, end, COMPUTE)


@dataclass
class Slot:
    """A concurrency slot an invocation holds while it runs (see `MachineState.admit`)."""

    calendar: Calendar | None
    server: int

    def release(self, end_ms: float) -> None:
        """Free the slot at `end_ms` (the invocation's end)."""
        if self.calendar is not None:
            self.calendar.release(self.server, end_ms)


class MachineState:
    """One run's use of a `Machine`: the cores booked so far and the invocations running."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._host_cpu = Cpu(machine.cores) if machine.kind == "host" else None
        limit = machine.concurrency_limit
        self._slots = Calendar(limit) if limit is not None else None

    def invocation_cpu(self) -> Cpu:
        """The cores a new invocation computes on: the host's (shared by all) on a host, a
        fresh set of `Machine.cores` vCPUs on Lambda."""
        if self._host_cpu is not None:
            return self._host_cpu
        return Cpu(self.machine.cores)

    def admit(self, clock: Clock) -> Slot:
        """Start an invocation at `clock`'s now: wait for a concurrency slot if the machine
        limits them (the wait is labelled `QUEUEING`); release the slot at its end."""
        if self._slots is None:
            return Slot(None, 0)
        server, start = self._slots.acquire(clock.now_ms())
        clock.sleep_until(start, label=QUEUEING)
        return Slot(self._slots, server)
