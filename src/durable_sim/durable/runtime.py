"""The runtime: invoke the handler, replay it after every suspension, fire timers, finish.

It plays the part of the Lambda durable service: each pass of the loop is one invocation;
between invocations it lets (virtual) time pass to the earliest timer and completes the
timers that are due, as the service does before it re-invokes the function.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from durable_sim.clock import Clock
from durable_sim.durable.context import DurableContext
from durable_sim.durable.errors import ExecutionInputMismatchError
from durable_sim.durable.journal import ExecutionRecord, Journal, OperationRecord
from durable_sim.durable.operation.common import error_fields
from durable_sim.durable.result import DurableRun, OperationView, RunMetrics
from durable_sim.durable.state import ExecutionState, Suspend, dumps
from durable_sim.errors import DurableSimError
from durable_sim.faults import FaultPlan
from durable_sim.latency import Sampler

Handler = Callable[[Any, DurableContext], Any]

MAX_INVOCATIONS = 100_000


class TooManyInvocationsError(DurableSimError, RuntimeError):
    """The execution kept suspending; most likely a workflow that never finishes."""


def execute(
    handler: Handler,
    event: Any,
    *,
    journal: Journal,
    execution_id: str,
    clock: Clock,
    sampler: Sampler,
    faults: FaultPlan,
) -> DurableRun:
    """Run one execution to completion, failure, or a wait on the outside world (PENDING).

    An execution that waits for a callback returns PENDING even if the callback has a timeout:
    only the caller can answer it. Resuming with a clock past the timeout lets it fire.
    """
    input_json = dumps(event)
    execution = journal.open_execution(execution_id, input_json)
    if execution.input != input_json:
        raise ExecutionInputMismatchError(
            f"execution {execution_id!r} exists with input {execution.input[:80]!r}, "
            f"not {input_json[:80]!r}; use a new execution id for a new input"
        )
    metrics = RunMetrics()
    if execution.status != "RUNNING":
        return _finished_run(execution, metrics)
    if clock.virtual and execution.operations:  # resuming: time continues from the journal
        clock.sleep_until(max(op.at_ms for op in execution.operations.values()))
    start = clock.now_ms()
    state = ExecutionState(
        execution_id=execution_id,
        journal=journal,
        operations=execution.operations,
        sampler=sampler,
        faults=faults,
        metrics=metrics,
    )
    event_data = json.loads(input_json)
    while True:
        _fire_timers(state, clock.now_ms())
        invocation = metrics.invocations = (metrics.invocations or 0) + 1
        if invocation > MAX_INVOCATIONS:
            error = TooManyInvocationsError(
                f"execution {execution_id!r} suspended {MAX_INVOCATIONS} times without finishing"
            )
            return _fail(state, execution_id, error, clock.now_ms() - start)
        has_prior = any(op.terminal for op in state.operations.values())
        if has_prior:
            state.count("replays")
        clock.charge(sampler.draw("invoke", invocation))
        clock.charge(sampler.draw("durable_invoke", invocation))
        if invocation == 1:
            clock.charge(sampler.draw("cold_start", invocation))
        state.start_replay()
        state.due.clear()
        state.waiting_callbacks.clear()
        try:
            value = handler(event_data, DurableContext(state, clock))
        except Suspend:
            if state.fatal is not None:
                return _fail(state, execution_id, state.fatal, clock.now_ms() - start)
            if state.due and not state.waiting_callbacks:
                clock.sleep_until(min(state.due))
                clock.charge(sampler.draw("resume", invocation))
                continue
            metrics.elapsed_ms = clock.now_ms() - start
            return _run(state, "PENDING", metrics, pending=sorted(state.waiting_callbacks))
        except Exception as exc:
            return _fail(state, execution_id, state.fatal or exc, clock.now_ms() - start)
        if state.fatal is not None:
            return _fail(state, execution_id, state.fatal, clock.now_ms() - start)
        payload = dumps(value)
        journal.finish_execution(execution_id, "SUCCEEDED", payload, None)
        metrics.elapsed_ms = clock.now_ms() - start
        return _run(state, "SUCCEEDED", metrics, result=json.loads(payload))


def _fire_timers(state: ExecutionState, now_ms: float) -> None:
    """Complete due timers as the service does: waits end, retries get ready, callbacks time out."""
    for rec in list(state.operations.values()):
        if rec.due_ms is None or rec.due_ms > now_ms or rec.terminal:
            continue
        fired: OperationRecord | None = None
        if rec.type == "WAIT" and rec.status == "STARTED":
            fired = rec.evolve(status="SUCCEEDED")
        elif rec.type == "STEP" and rec.status == "PENDING":
            fired = rec.evolve(status="READY")
        elif rec.type == "CALLBACK" and rec.status == "STARTED":
            fired = rec.evolve(status="TIMED_OUT", error={"ErrorMessage": "callback timed out"})
        if fired is not None:
            state.journal.save_operation(state.execution_id, fired)
            state.operations[rec.id] = fired


def _fail(
    state: ExecutionState, execution_id: str, error: BaseException, elapsed: float
) -> DurableRun:
    state.journal.finish_execution(execution_id, "FAILED", None, error_fields(error))
    state.metrics.elapsed_ms = elapsed
    return _run(state, "FAILED", state.metrics, error=error)


def _run(
    state: ExecutionState,
    status: Any,
    metrics: RunMetrics,
    *,
    result: Any = None,
    error: BaseException | None = None,
    pending: list[str] | None = None,
) -> DurableRun:
    return DurableRun(
        execution_id=state.execution_id,
        engine="sim",
        status=status,
        result=result,
        error=error,
        operations=operation_views(state.operations),
        metrics=metrics,
        pending_callbacks=pending or [],
    )


def _finished_run(execution: ExecutionRecord, metrics: RunMetrics) -> DurableRun:
    """An execution that already finished: return its outcome, run nothing (idempotent start)."""
    error = None
    if execution.error:
        error = RuntimeError(execution.error.get("ErrorMessage") or "execution failed")
    return DurableRun(
        execution_id=execution.execution_id,
        engine="sim",
        status="SUCCEEDED" if execution.status == "SUCCEEDED" else "FAILED",
        result=json.loads(execution.result) if execution.result is not None else None,
        error=error,
        operations=operation_views(execution.operations),
        metrics=metrics,
    )


def _order(op_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in op_id.split("."))


def operation_views(operations: dict[str, OperationRecord]) -> list[OperationView]:
    """Journal records as the caller sees them, in execution order (parents before children)."""
    views = []
    for op_id in sorted(operations, key=_order):
        rec = operations[op_id]
        views.append(
            OperationView(
                id=rec.id,
                parent_id=rec.parent_id,
                type=rec.type,
                sub_type=rec.sub_type,
                name=rec.name,
                status=rec.status,
                attempts=rec.attempt,
                result_json=rec.result,
                error=(rec.error or {}).get("ErrorMessage"),
            )
        )
    return views
