"""Independent tasks spread over processes: chunks pulled by whichever process is ready.

`map_chunked(task, shared, items, jobs=N)` computes ``[task(shared, item) for item in items]``
on N processes in all: this one and N - 1 spawned workers. This process starts on the first
chunk at once, while the workers start (a spawned worker imports the package before it can do
anything, about a second on this project's 2-core machine); every process then takes the next
chunk from a shared counter when it is ready. Chunks follow guided self-scheduling
(Polychronopoulos and Kuck, 1987): each takes ``ceil(remaining / (2 N))`` items, so chunks
start large and shrink towards the end, which balances the finish.

So a short job is done by this process alone before any worker is ready (and the workers are
stopped unused): with N > 1 it is never slower than serial by more than the cost of starting
the workers' processes, and a long job is shared by all N. Results come back in item order and
do not depend on N, provided `task` is a pure function of its arguments.
"""

from __future__ import annotations

import math
import os
import pickle
import queue
import traceback
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from multiprocessing.context import SpawnProcess
from typing import Any, TypeVar

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

#: Largest accepted process count.
MAX_JOBS = 256
#: How often (s) the waiting process checks that the workers holding chunks are alive.
_LIVENESS_INTERVAL_S = 0.5


class WorkerError(RuntimeError):
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
    items: Sequence[Any],
    jobs: int,
    next_index: Any,
    lock: Any,
    results: Any,
) -> None:
    """A worker's loop: take a chunk, announce it, compute it, send it; until none is left."""
    pid = os.getpid()
    while True:
        start, stop = _take(next_index, lock, len(items), jobs)
        if start >= stop:
            return
        results.put(("taken", start, stop, pid))
        try:
            values = [task(shared, items[i]) for i in range(start, stop)]
        except BaseException as exc:
            results.put(("failed", start, stop, _transferable(exc)))
            return
        results.put(("done", start, stop, values))


def map_chunked(
    task: Callable[[S, T], R],
    shared: S,
    items: Sequence[T],
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """``[task(shared, item) for item in items]`` on `jobs` processes (this one included).

    `task` must be a module-level function and `shared` and `items` picklable (workers are
    spawned, not forked). `jobs` is 1..`MAX_JOBS`; 1 runs everything here. `progress` is
    called with the number of items just finished. An exception in any task is raised here
    (the first to arrive); a worker that dies holding a chunk raises `WorkerError`. The workers
    are stopped on return and on any error.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise ValueError(f"bad jobs={jobs!r} (accepted: an int in 1..{MAX_JOBS})")
    n = len(items)
    if jobs == 1 or n <= 1:
        out: list[R] = []
        for item in items:
            out.append(task(shared, item))
            if progress:
                progress(1)
        return out
    ctx = get_context("spawn")
    next_index = ctx.Value("q", 0, lock=False)
    lock = ctx.Lock()
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=_worker,
            args=(task, shared, items, jobs, next_index, lock, results),
            daemon=False,  # a task may start processes of its own (the real encoder's pool)
        )
        for _ in range(jobs - 1)
    ]
    for worker in workers:
        worker.start()
    collector = _Collector(n, progress, workers, results)
    try:
        while True:
            start, stop = _take(next_index, lock, n, jobs)
            if start >= stop:
                break
            collector.done(start, stop, [task(shared, items[i]) for i in range(start, stop)])
            collector.drain(block=False)
        while collector.missing:
            collector.drain(block=True)
    finally:
        _stop(workers, results)
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


def _stop(workers: list[SpawnProcess], results: Any) -> None:
    for worker in workers:
        if worker.is_alive():
            worker.terminate()  # idle, still starting, or abandoned after an error
    for worker in workers:
        worker.join()
    results.close()
    results.cancel_join_thread()
