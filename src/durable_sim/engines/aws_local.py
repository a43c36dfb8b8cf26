"""The ``aws-local`` engine: the official `DurableFunctionTestRunner`, mapped to `DurableRun`.

Time skipping is on, so waits and retry delays pass instantly. The runner reports operations,
their attempts and the outcome; it does not expose checkpoint counts or bytes, nor which steps
replayed, so those metrics are ``None``. Invocations are counted by wrapping the handler.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python.execution import InvocationStatus, durable_execution
from aws_durable_execution_sdk_python_testing.runner import (
    ContextOperation,
    DurableFunctionTestRunner,
    Operation,
    StepOperation,
)

from durable_sim.durable.result import DurableRun, OperationView, RunMetrics, Status

EXECUTION_TIMEOUT_S = 900


def run_on_local_runner(handler: Callable[..., Any], event: Any) -> DurableRun:
    from durable_sim.engines import unwrap_handler

    sdk_handler = handler if unwrap_handler(handler) is not handler else durable_execution(handler)
    invocations = 0

    def counted(lambda_event: Any, lambda_context: Any) -> Any:
        nonlocal invocations
        invocations += 1
        return sdk_handler(lambda_event, lambda_context)

    start = time.perf_counter()
    with DurableFunctionTestRunner(handler=counted, skip_time=True) as runner:
        outcome = runner.run(input=json.dumps(event), execution_timeout=EXECUTION_TIMEOUT_S)
    elapsed_ms = (time.perf_counter() - start) * 1000.0

    views = [view for op in outcome.operations for view in _flatten(op)]
    steps = [v for v in views if v.type == "STEP"]
    status: Status = "SUCCEEDED" if outcome.status is InvocationStatus.SUCCEEDED else "FAILED"
    error = None
    if outcome.error is not None:
        error = RuntimeError(f"{outcome.error.type}: {outcome.error.message}")
    elif status == "FAILED":
        error = RuntimeError(f"execution ended with status {outcome.status.value}")
    return DurableRun(
        execution_id=outcome.operations[0].operation_id if outcome.operations else "",
        engine="aws-local",
        status=status,
        result=json.loads(outcome.result) if outcome.result else None,
        error=error,
        operations=views,
        metrics=RunMetrics(
            invocations=invocations,
            replays=max(0, invocations - 1),
            checkpoint_ops=None,
            checkpoint_bytes=None,
            steps_executed=None,
            steps_replayed=None,
            retries=sum(max(0, v.attempts - 1) for v in steps),
            failed_steps=sum(v.status == "FAILED" for v in steps),
            elapsed_ms=elapsed_ms,
        ),
    )


def _flatten(op: Operation) -> list[OperationView]:
    attempts = op.attempt if isinstance(op, StepOperation) else 0
    result = getattr(op, "result", None)
    error = getattr(op, "error", None)
    view = OperationView(
        id=op.operation_id,
        parent_id=op.parent_id,
        type=op.operation_type.value,
        sub_type=op.sub_type or "",
        name=op.name,
        status=op.status.value,
        attempts=attempts,
        result_json=result or None,
        error=error.message if error is not None else None,
    )
    children = op.child_operations if isinstance(op, ContextOperation) else []
    return [view] + [v for child in children for v in _flatten(child)]
