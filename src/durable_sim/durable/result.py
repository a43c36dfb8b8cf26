"""What a durable run returns: status, result, operations and metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["SUCCEEDED", "FAILED", "PENDING"]


@dataclass
class RunMetrics:
    """Counters of one durable run. A metric an engine cannot observe is ``None``."""

    invocations: int | None = 0
    replays: int | None = 0
    checkpoint_ops: int | None = 0
    checkpoint_bytes: int | None = 0
    steps_executed: int | None = 0
    steps_replayed: int | None = 0
    retries: int | None = 0
    failed_steps: int | None = 0
    elapsed_ms: float | None = 0.0


@dataclass(frozen=True)
class OperationView:
    """One operation as the caller sees it (results decoded to Python data)."""

    id: str
    parent_id: str | None
    type: str
    sub_type: str
    name: str | None
    status: str
    attempts: int
    result_json: str | None = None  # the result as journaled; `result` decodes it on demand
    error: str | None = None

    @property
    def result(self) -> Any:
        return json.loads(self.result_json) if self.result_json is not None else None


@dataclass
class DurableRun:
    """The outcome of `run_durable`."""

    execution_id: str
    engine: str
    status: Status
    result: Any = None
    error: BaseException | None = None
    operations: list[OperationView] = field(default_factory=list)
    metrics: RunMetrics = field(default_factory=RunMetrics)
    pending_callbacks: list[str] = field(default_factory=list)

    def operation(self, name: str) -> OperationView:
        """The first operation with this name."""
        for op in self.operations:
            if op.name == name:
                return op
        names = sorted({op.name for op in self.operations if op.name})
        raise KeyError(f"no operation named {name!r} (names: {names})")
