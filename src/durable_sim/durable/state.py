"""Per-execution state shared by every context of one invocation: journal view, metrics, timers."""

from __future__ import annotations

import json
import threading
from typing import Any

from durable_sim.clock import Clock
from durable_sim.durable.errors import CHECKPOINT_LIMIT_BYTES, CheckpointTooLargeError
from durable_sim.durable.journal import Journal, OperationRecord
from durable_sim.durable.result import RunMetrics
from durable_sim.faults import FaultPlan
from durable_sim.latency import Sampler


class Suspend(BaseException):
    """Ends the current invocation: the execution waits for a timer or a callback.

    A `BaseException` so that workflow code's ``except Exception`` cannot swallow it.
    """


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def dumps(value: Any) -> str:
    """The journal's serialization of a value (JSON, compact)."""
    return _COMPACT.encode(value)


class ExecutionState:
    """The journal of one execution as seen by the running invocation, plus its metrics."""

    def __init__(
        self,
        *,
        execution_id: str,
        journal: Journal,
        operations: dict[str, OperationRecord],
        sampler: Sampler,
        faults: FaultPlan,
        metrics: RunMetrics,
    ) -> None:
        self.execution_id = execution_id
        self.journal = journal
        self.operations = operations
        self.sampler = sampler
        self.faults = faults
        self.metrics = metrics
        self.lock = threading.RLock()
        self.checkpoints_this_process = 0
        self.replaying = False
        self.unvisited: set[str] = set()
        self.due: list[float] = []
        self.waiting_callbacks: set[str] = set()
        self.fatal: BaseException | None = None

    def start_replay(self) -> None:
        """Start an invocation: it replays until it has visited every journaled operation it
        will reach (completed ones not inside a completed child context), then runs new code."""
        ops = self.operations

        def reached(parent_id: str | None) -> bool:
            while parent_id is not None:
                parent = ops.get(parent_id)
                if parent is None:
                    return True
                if parent.terminal and not parent.replay_children:
                    return False
                parent_id = parent.parent_id
            return True

        self.unvisited = {i for i, rec in ops.items() if rec.terminal and reached(rec.parent_id)}
        self.replaying = bool(self.unvisited)

    def visit_replayed(self, op_id: str) -> None:
        """A journaled, completed operation was reached again; the last one ends the replay."""
        with self.lock:
            self.unvisited.discard(op_id)
            if not self.unvisited:
                self.replaying = False

    def get(self, op_id: str) -> OperationRecord | None:
        return self.operations.get(op_id)

    def checkpoint(self, record: OperationRecord, clock: Clock) -> OperationRecord:
        """Persist `record` as one checkpoint: size limit, cost, journal write, crash point."""
        clock.charge(self.sampler.draw("checkpoint", record.id, record.status, record.attempt))
        record = record.evolve(at_ms=clock.now_ms())
        text = record.to_json()
        size = len(text.encode())
        if size > CHECKPOINT_LIMIT_BYTES:
            raise self.fail(CheckpointTooLargeError(record.id, record.name, size))
        with self.lock:
            self.journal.save_operation(self.execution_id, record, text)
            self.operations[record.id] = record
            self.metrics.checkpoint_ops += 1  # type: ignore[operator]
            self.metrics.checkpoint_bytes += size  # type: ignore[operator]
            self.checkpoints_this_process += 1
            count = self.checkpoints_this_process
        self.faults.after_checkpoint(count)
        return record

    def fail(self, error: BaseException) -> BaseException:
        """Remember a terminal engine error, so workflow code cannot swallow it."""
        with self.lock:
            if self.fatal is None:
                self.fatal = error
        return error

    def count(self, metric: str, n: int = 1) -> None:
        with self.lock:
            setattr(self.metrics, metric, getattr(self.metrics, metric) + n)

    def suspend_until(self, due_ms: float | None) -> Suspend:
        """Register a timer (none for a callback) and build the signal that ends the invocation."""
        if due_ms is not None:
            with self.lock:
                self.due.append(due_ms)
        return Suspend()
