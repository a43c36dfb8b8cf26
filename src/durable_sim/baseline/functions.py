"""Stateless function invocations: synchronous calls and fire-and-forget asynchronous ones.

A `FunctionRuntime` plays the function platform (Lambda's ``Invoke`` with ``RequestResponse``
or ``Event``). A function is a plain ``fn(event, ctx)``; it keeps no state between invocations
except through a store. Each invocation is charged ``invoke``, plus ``cold_start`` when no idle
instance of that function exists at its start time: instances stay warm after an invocation
and are reused by later ones, so a sequence of calls pays one cold start and a fan-out of N
concurrent calls pays N. `warm_instances` pre-provisions idle instances per function.

On the virtual clock an asynchronous invocation runs eagerly, in submission order, on a fork
of the caller's clock taken at submission: its timeline is concurrent with the caller's, whose
clock does not move. Its completion time is recorded on its handle, so a coordinator knows
when the work finished *in virtual time* (`AsyncInvocation.done_by`). On the wall clock
asynchronous invocations run on a thread pool, really in parallel.

Each invocation computes on the cores the run's machine gives it (`InvocationContext.cpu`,
see `durable_sim.machine`): on a host every invocation shares the host's cores; on Lambda each
has its own vCPUs, and an invocation first waits for a concurrency slot if the machine limits
them, holding it until it ends.

Instance reuse is decided from each instance's latest completion time: an instance is idle at
time ``t`` if its last invocation ended by ``t``. With eager virtual execution an invocation
submitted later in real order but earlier in virtual time may therefore see an instance as busy
that a strict event simulation would have found idle; the cost is an extra cold start, never a
missed one.
"""

from __future__ import annotations

import heapq
import math
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from durable_sim.clock import Clock
from durable_sim.latency import Sampler
from durable_sim.machine import Cpu, MachineState, Slot

_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class InvocationContext:
    """What a function receives besides its event (Lambda's ``context`` object)."""

    function_name: str
    request_id: str
    clock: Clock
    """The invocation's own timeline: charge work here, bind stores to it."""
    cold_start: bool
    runtime: FunctionRuntime
    """The platform, so a function can invoke others (pass ``clock=ctx.clock``)."""
    cpu: Cpu
    """The cores this invocation computes on (book CPU work with ``cpu.run(ctx.clock, ms)``)."""


Handler = Callable[[Any, InvocationContext], Any]


@dataclass
class InvocationCounters:
    """Invocations by mode, cold starts among them, and invocations that raised."""

    sync_invocations: int = 0
    async_invocations: int = 0
    cold_starts: int = 0
    failures: int = 0

    @property
    def total(self) -> int:
        return self.sync_invocations + self.async_invocations

    def as_row(self) -> dict[str, int]:
        """Flat columns for a results row."""
        return {
            "invocations": self.total,
            "sync_invocations": self.sync_invocations,
            "async_invocations": self.async_invocations,
            "cold_starts": self.cold_starts,
            "failed_invocations": self.failures,
        }


@dataclass
class AsyncInvocation:
    """Handle on a fire-and-forget invocation: when it was submitted, when it completed."""

    function_name: str
    request_id: str
    submitted_ms: float
    _future: Future[Any] = field(repr=False)
    _completed_ms: list[float] = field(default_factory=list, repr=False)

    def done(self) -> bool:
        """Whether the invocation has finished executing (in real time)."""
        return self._future.done()

    @property
    def completed_ms(self) -> float:
        """Its completion time on its own clock; waits for it to finish executing."""
        self._future.exception()
        return self._completed_ms[0]

    def done_by(self, t_ms: float) -> bool:
        """Whether it had finished by time `t_ms` (virtual: by its recorded completion time)."""
        return self.done() and self.completed_ms <= t_ms

    def result(self, timeout_s: float | None = None) -> Any:
        """Its return value (waits for it); re-raises the exception it raised."""
        return self._future.result(timeout_s)


@dataclass
class _Instance:
    """One function instance, the `number`-th of its function; busy until `free_at_ms`
    (infinite while running)."""

    free_at_ms: float
    number: int = 0


@dataclass
class _Function:
    """A deployed function: its handler, its idle instances and how often it was invoked.

    `idle` is a heap of ``(free_at_ms, n, instance)``: idle instances ordered by when they
    became free (``n``, the instance's number, breaks ties in creation order); running
    instances are not in it. `instances` counts every instance ever started.
    """

    handler: Handler
    idle: list[tuple[float, int, _Instance]]
    instances: int = 0
    invocations: int = 0


@dataclass
class _Started:
    """An invocation admitted to run: its function, instance, sequence number, whether it
    started cold, and the concurrency slot it holds."""

    fn: _Function
    instance: _Instance
    seq: int
    cold: bool
    slot: Slot


class FunctionRuntime:
    """The function platform of the baseline: register functions, invoke them by name.

    On the wall clock `max_workers` threads run asynchronous invocations; a function that
    waits for other asynchronous invocations holds a thread meanwhile, so size the pool for
    the fan-out (the virtual clock runs everything inline and has no such limit). `machine` is
    the run's machine (default: a fresh start of the sampler's profile's machine).
    """

    def __init__(
        self,
        clock: Clock,
        sampler: Sampler,
        *,
        warm_instances: int = 0,
        max_workers: int = 16,
        machine: MachineState | None = None,
    ) -> None:
        if not _is_int(warm_instances) or not 0 <= warm_instances <= 10_000:
            raise ValueError(
                f"bad warm_instances {warm_instances!r} (accepted: an int in [0, 10000])"
            )
        if not _is_int(max_workers) or not 1 <= max_workers <= 1024:
            raise ValueError(f"bad max_workers {max_workers!r} (accepted: an int in [1, 1024])")
        self.clock = clock
        self.sampler = sampler
        self.warm_instances = warm_instances
        self.max_workers = max_workers
        self.machine = machine if machine is not None else sampler.profile.machine.start()
        self._functions: dict[str, _Function] = {}
        self._counters = InvocationCounters()
        self._billed_ms = 0
        self._lock = threading.Lock()
        self._pool = None if clock.virtual else ThreadPoolExecutor(max_workers)

    def __enter__(self) -> FunctionRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for running asynchronous invocations and stop the thread pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def register(self, name: str, handler: Handler) -> None:
        """Deploy `handler` under `name` (each name has its own instances and cold starts)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"bad function name {name!r} (accepted: 1-64 characters from A-Z a-z 0-9 _ -)"
            )
        if not callable(handler):
            raise ValueError(f"bad handler {handler!r} for {name!r} (accepted: fn(event, ctx))")
        with self._lock:
            if name in self._functions:
                raise ValueError(f"function {name!r} is already registered")
            warm = [(-math.inf, n, _Instance(-math.inf, n)) for n in range(self.warm_instances)]
            self._functions[name] = _Function(handler, warm, self.warm_instances)

    @property
    def counters(self) -> InvocationCounters:
        """A snapshot of the counts so far."""
        with self._lock:
            return InvocationCounters(**vars(self._counters))

    @property
    def billed_ms(self) -> int:
        """Billed duration of the invocations so far, ms: each one's INVOKE phase, from its
        handler's start to its end (on its own clock), rounded up to a whole ms as Lambda
        bills it ("duration ... rounded up to the nearest 1 ms", AWS Lambda pricing,
        https://aws.amazon.com/lambda/pricing/). The ``invoke`` latency before the handler
        starts is the platform's, not billed; a cold start's INIT phase is not included (the
        experiment harness adds every cold start it traced, `durable_sim.experiments`)."""
        with self._lock:
            return self._billed_ms

    def _start(self, name: str, clock: Clock, mode: str) -> _Started:
        """Wait for a concurrency slot, count the invocation, take an idle instance (or start
        one: a cold start) at the time it can run."""
        slot = self.machine.admit(clock)
        with self._lock:
            fn = self._functions.get(name)
            if fn is None:
                known = ", ".join(repr(n) for n in sorted(self._functions)) or "none registered"
                raise ValueError(f"unknown function {name!r} (accepted: {known})")
            seq = fn.invocations
            fn.invocations += 1
            now = clock.now_ms()
            # The idle instance free the longest, else a new one (a cold start).
            cold = not fn.idle or fn.idle[0][0] > now
            instance = _Instance(now, fn.instances) if cold else heapq.heappop(fn.idle)[2]
            if cold:
                fn.instances += 1
                self._counters.cold_starts += 1
            instance.free_at_ms = math.inf
            if mode == "sync":
                self._counters.sync_invocations += 1
            else:
                self._counters.async_invocations += 1
        return _Started(fn, instance, seq, cold, slot)

    def _run(self, name: str, event: Any, clock: Clock, started: _Started) -> Any:
        """Charge the platform's costs, run the handler on `clock`, free the slot and the
        instance."""
        fn, instance, seq, cold = started.fn, started.instance, started.seq, started.cold
        request_id = f"{name}#{seq}"
        began: float | None = None  # the handler's start: the billed INVOKE phase begins
        try:
            clock.charge(self.sampler.draw("invoke", "fn", name, seq))
            if cold:
                clock.charge(self.sampler.draw("cold_start", "fn", name, seq))
            began = clock.now_ms()
            cpu = self.machine.invocation_cpu()
            ctx = InvocationContext(name, request_id, clock, cold, self, cpu)
            return fn.handler(event, ctx)
        except BaseException:
            with self._lock:
                self._counters.failures += 1
            raise
        finally:
            started.slot.release(clock.now_ms())
            with self._lock:
                if began is not None:
                    self._billed_ms += math.ceil(clock.now_ms() - began)
                instance.free_at_ms = clock.now_ms()
                heapq.heappush(fn.idle, (instance.free_at_ms, instance.number, instance))

    def invoke(self, name: str, event: Any, *, clock: Clock | None = None) -> Any:
        """Call `name` and wait for its result (``RequestResponse``), on the caller's clock.

        The caller's clock (`clock`, default the runtime's) advances by the invocation costs
        and by the function's own work; the function's exception propagates to the caller.
        """
        clock = self.clock if clock is None else clock
        return self._run(name, event, clock, self._start(name, clock, "sync"))

    def invoke_async(self, name: str, event: Any, *, clock: Clock | None = None) -> AsyncInvocation:
        """Submit `name` without waiting (``Event``); its time runs on a fork of the caller's clock.

        The caller's clock is not advanced. The handle gives the result (or the function's
        exception) and the completion time on the fork.
        """
        clock = self.clock if clock is None else clock
        fork = clock.fork()
        submitted = fork.now_ms()
        started = self._start(name, fork, "async")
        future: Future[Any] = Future()
        handle = AsyncInvocation(name, f"{name}#{started.seq}", submitted, future)

        def run() -> None:
            try:
                value = self._run(name, event, fork, started)
            except BaseException as exc:
                handle._completed_ms.append(fork.now_ms())
                future.set_exception(exc)
            else:
                handle._completed_ms.append(fork.now_ms())
                future.set_result(value)

        if self._pool is None:
            run()
        else:
            self._pool.submit(run)
        return handle
