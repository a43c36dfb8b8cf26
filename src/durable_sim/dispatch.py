"""Independent tasks spread over processes: chunks pulled by whichever process is ready.

`map_chunked(task, shared, items, jobs=N)` computes ``[task(shared, item) for item in items]``
on up to N processes: this one and N - 1 spawned workers.

1. Probe: this process runs items itself for `PROBE_S` (wall time) and measures the CPU time
   they took (`time.process_time`, all of this process's threads): on a busy machine the
   wall time of a short probe mostly measures the other processes.
2. Choose: if the items left would take less than `SERIAL_BELOW_S` of CPU at that pace, it
   finishes them alone: a spawned worker spends about a second of CPU importing the package
   before its first item, so it cannot pay off on shorter jobs. (Items that mostly wait
   rather than compute, such as wall-clock runs on AWS's local runner, therefore stay serial
   unless there are many.)
3. Share: otherwise it starts N - 1 workers and goes on working while they start; every process
   takes its next chunk from a shared counter when it is ready. Chunks follow guided
   self-scheduling (Polychronopoulos and Kuck, 1987): ``ceil(remaining / (2 N))`` items each,
   large first and shrinking, which balances the finish.

Results come back in item order and do not depend on N or on the choice, provided `task` is a
pure function of its arguments. Per-process state (an open session, warm-up runs) comes from an
optional `context`, entered once by each process that computes items.
"""

from __future__ import annotations

import math
import os
import pickle
import queue
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from multiprocessing import get_context
from multiprocessing.context import SpawnProcess
from typing import Any, TypeVar

from durable_sim.errors import DurableSimError

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

#: A per-process context: a function of the shared value returning a context manager.
Context = Callable[[Any], AbstractContextManager[Any]]
_NOT_ENTERED = object()

#: Largest accepted process count.
MAX_JOBS = 256
#: Seconds this process times items for before choosing serial or shared work.
PROBE_S = 0.05
#: Jobs whose items left after the probe would take less CPU than this (s, at the probe's
#: pace) finish serially. Twice the CPU a spawned worker spends before its first item: importing
#: ``durable_sim.experiments`` takes 0.75 s user + 0.1 s system CPU on the project's 2-core
#: machine (``/usr/bin/time python -c "import durable_sim.experiments"``, Nov 2026), and while a
#: worker imports, it competes with this process for the cores.
SERIAL_BELOW_S = 2.0
#: How often (s) the waiting process checks that the workers holding chunks are alive.
_LIVENESS_INTERVAL_S = 0.5
#: How long (s) a worker that has done its share gets to close its context and exit.
_LEAVE_S = 30.0


class WorkerError(DurableSimError, RuntimeError):
    """A worker process died or sent an exception that could not be transferred."""


def _take(next_index: Any, lock: Any, n: int, jobs: int) -> tuple[int, int]:
    """The next chunk ``[start, stop)`` by guided self-scheduling; empty when none is left."""
    with lock:
        start = next_index.value
        size = max(1, math.ceil((n - start) / (2 * jobs)))
        stop = min(n, start + size)
        next_index.value = stop
    return start, stop


def _transferable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        text = "".join(traceback.format_exception(exc))
        return WorkerError(f"a worker raised an exception that cannot be pickled:\n{text}")
    return exc


def _worker(
    task: Callable[[Any, Any], Any],
    shared: Any,
    context: Context | None,
    items: Sequence[Any],
    jobs: int,
    next_index: Any,
    lock: Any,
    results: Any,
) -> None:
    """A worker's loop: take a chunk, announce it, compute it, send it; until none is left.
    The per-process `context` is entered before the first chunk (not at all without one)."""
    pid = os.getpid()
    with ExitStack() as stack:
        state: Any = _NOT_ENTERED
        while True:
            start, stop = _take(next_index, lock, len(items), jobs)
            if start >= stop:
                return
            results.put(("taken", start, stop, pid))
            try:
                if state is _NOT_ENTERED:
                    state = stack.enter_context(context(shared)) if context else shared
                values = [task(state, items[i]) for i in range(start, stop)]
            except BaseException as exc:
                results.put(("failed", start, stop, _transferable(exc)))
                return
            results.put(("done", start, stop, values))


def map_chunked(
    task: Callable[[Any, T], R],
    shared: S,
    items: Sequence[T],
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    serial_below_s: float | None = None,
    context: Callable[[S], AbstractContextManager[Any]] | None = None,
) -> list[R]:
    """``[task(shared, item) for item in items]`` on up to `jobs` processes (this one included).

    With a `context` (a module-level function of `shared` returning a context manager), each
    process that computes items enters ``context(shared)`` once, before its first item, and
    passes what it yields to `task` in place of `shared`: per-process state such as an open
    session after its warm-up runs.

    `task` must be a module-level function and `shared` and `items` picklable (workers are
    spawned, not forked; a script that calls this needs the ``if __name__ == "__main__":``
    guard). `jobs` is 1..`MAX_JOBS`; 1 runs everything here. With more, the job stays serial
    if the items left after a probe of `PROBE_S` would take less than `serial_below_s` CPU seconds
    (None: `SERIAL_BELOW_S`, read at each call; 0 shares at once, without a probe).
    `progress` is called with the number of items just finished. An exception in any task is
    raised here (the first to arrive); a worker that dies holding a chunk raises
    `WorkerError`; the workers are stopped on return and on any error.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise ValueError(f"bad jobs={jobs!r} (accepted: an int in 1..{MAX_JOBS})")
    if serial_below_s is None:
        serial_below_s = SERIAL_BELOW_S
    if not items:
        return []
    with context(shared) if context else nullcontext(shared) as state:
        out: list[R] = []
        begin, cpu_begin = time.perf_counter(), time.process_time()
        probe_s = min(PROBE_S, serial_below_s) if jobs > 1 else math.inf
        while len(out) < len(items) and time.perf_counter() - begin < probe_s:
            out.append(task(state, items[len(out)]))
            if progress:
                progress(1)
        rest = items[len(out) :]
        if not rest:
            return out
        pace = (time.process_time() - cpu_begin) / len(out) if out else 0.0
        if jobs == 1 or len(rest) == 1 or pace * len(rest) < serial_below_s:
            for item in rest:
                out.append(task(state, item))
                if progress:
                    progress(1)
            return out
        return out + _shared(task, shared, state, context, rest, jobs, progress)


def _shared(
    task: Callable[[Any, T], R],
    shared: Any,
    state: Any,
    context: Context | None,
    items: Sequence[T],
    jobs: int,
    progress: Callable[[int], None] | None,
) -> list[R]:
    """`items` on this process (with its `state`) and `jobs` - 1 spawned workers (each with
    its own ``context(shared)``), in guided chunks."""
    n = len(items)
    ctx = get_context("spawn")
    next_index = ctx.Value("q", 0, lock=False)
    lock = ctx.Lock()
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=_worker,
            args=(task, shared, context, items, jobs, next_index, lock, results),
            daemon=False,  # a task may start processes of its own (the real encoder's pool)
        )
        for _ in range(jobs - 1)
    ]
    for worker in workers:
        worker.start()
    collector = _Collector(n, progress, workers, results)
    finished = False
    try:
        while True:
            start, stop = _take(next_index, lock, n, jobs)
            if start >= stop:
                break
            collector.done(start, stop, [task(state, items[i]) for i in range(start, stop)])
            collector.drain(block=False)
        while collector.missing:
            collector.drain(block=True)
        finished = True
    finally:
        _stop(workers, results, leaving=collector.busy if finished else set())
    return collector.values


class _Collector:
    """The results that have arrived, and which worker holds each chunk still missing."""

    def __init__(
        self,
        n: int,
        progress: Callable[[int], None] | None,
        workers: list[SpawnProcess],
        results: Any,
    ) -> None:
        self.values: list[Any] = [None] * n
        self.missing = n
        self._progress = progress
        self._workers = workers
        self._results = results
        self._holders: dict[int, int] = {}  # chunk start -> pid of the worker computing it
        self.busy: set[int] = set()  # workers that took a chunk (and so entered their context)

    def done(self, start: int, stop: int, values: list[Any]) -> None:
        self.values[start:stop] = values
        self.missing -= stop - start
        self._holders.pop(start, None)
        if self._progress:
            self._progress(stop - start)

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind, start, stop, payload = message
        if kind == "taken":
            self._holders[start] = payload
            self.busy.add(payload)
        elif kind == "done":
            self.done(start, stop, payload)
        else:
            raise payload

    def drain(self, *, block: bool) -> None:
        """Handle every message that has arrived; with `block`, wait for at least one, checking
        every `_LIVENESS_INTERVAL_S` that a worker is still there to send it."""
        waiting = block
        while True:
            try:
                message = self._results.get(block=waiting, timeout=_LIVENESS_INTERVAL_S)
            except queue.Empty:
                if not waiting:
                    return
                self._check_alive()
                continue
            self._handle(message)
            waiting = False

    def _check_alive(self) -> None:
        alive = {w.pid for w in self._workers if w.exitcode is None}
        lost = sorted(start for start, pid in self._holders.items() if pid not in alive)
        if lost or not alive:
            try:  # a worker's last messages may have arrived just after the wait timed out
                self._handle(self._results.get(timeout=_LIVENESS_INTERVAL_S))
                return
            except queue.Empty:
                pass
            codes = ", ".join(f"pid {w.pid}: exit code {w.exitcode}" for w in self._workers)
            raise WorkerError(
                f"worker processes ended with {self.missing} items not returned ({codes})"
            )


def _stop(workers: list[SpawnProcess], results: Any, leaving: set[int]) -> None:
    """Stop the workers: those `leaving` (they worked, and all work is done) get
    `_LEAVE_S` to leave their context and exit; the rest (still starting, or abandoned after
    an error) are terminated at once."""
    for worker in workers:
        if worker.pid in leaving:
            worker.join(timeout=_LEAVE_S)
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join()
    results.close()
    results.cancel_join_thread()
