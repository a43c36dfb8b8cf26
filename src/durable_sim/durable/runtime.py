"""The runtime: invoke the handler, replay it after every suspension, fire timers, finish.

It plays the part of the Lambda durable service: each pass of the loop is one invocation;
between invocations it runs the executions that chained invokes started, lets time pass to
the earliest thing the service will do by itself (a wait ending, a retry coming due, a callback
answered or timing out, an invoked function finishing) and applies it, as the service does
before it re-invokes the function. With nothing left to happen, the execution stops PENDING
(a callback without timeout that nobody answers).

On the virtual clock a callback's timeout is such a timer, so an unanswered callback with a
timeout times out (``CallbackTimeoutError`` in the workflow), as on the official local runner
with time skipping; on the wall clock the run returns PENDING rather than sleep until then.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType
from aws_durable_execution_sdk_python_testing.model import LambdaContext

from durable_sim.clock import Clock, VirtualClock
from durable_sim.durable.context import DurableContext
from durable_sim.durable.errors import ExecutionInputMismatchError
from durable_sim.durable.journal import ExecutionRecord, HistoryEntry, Journal, OperationRecord
from durable_sim.durable.operation.common import error_fields
from durable_sim.durable.registry import (
    FunctionRegistry,
    deterministic_uuid,
    execution_arn,
    unwrap_handler,
)
from durable_sim.durable.result import DurableRun, OperationView, RunMetrics
from durable_sim.durable.state import ExecutionState, Responder, Suspend
from durable_sim.errors import DurableSimError
from durable_sim.faults import FaultPlan
from durable_sim.latency import Sampler, stable_key_hash

Handler = Callable[[Any, DurableContext], Any]

MAX_INVOCATIONS = 100_000


class TooManyInvocationsError(DurableSimError, RuntimeError):
    """The execution kept suspending; most likely a workflow that never finishes."""


def execute(
    handler: Handler,
    input_payload: str,
    *,
    journal: Journal,
    execution_id: str,
    clock: Clock,
    sampler: Sampler,
    faults: FaultPlan,
    functions: FunctionRegistry | None = None,
    responder: Responder | None = None,
    function_name: str = "handler",
) -> DurableRun:
    """Run one execution to completion, failure, or a wait on the outside world (PENDING).

    `input_payload` is the JSON text of the input event. Starting an execution id again
    resumes it (or returns its outcome if it has one); a different input for an existing id is
    an `ExecutionInputMismatchError`. `functions` are the targets of ``context.invoke``;
    `responder` answers callbacks at virtual times (see `durable_sim.run_durable`).
    """
    started = HistoryEntry("ExecutionStarted", clock.now_ms(), None, {"Input": input_payload})
    execution = journal.open_execution(execution_id, input_payload, started)
    if execution.input != input_payload:
        raise ExecutionInputMismatchError(
            f"execution {execution_id!r} exists with input {execution.input[:80]!r}, "
            f"not {input_payload[:80]!r}; use a new execution id for a new input"
        )
    metrics = RunMetrics()
    if execution.status != "RUNNING":
        return _finished_run(execution, metrics, journal)
    if clock.virtual and execution.operations:  # resuming: time continues from the journal
        clock.sleep_until(_last_time(execution.operations))
    start = clock.now_ms()
    state = ExecutionState(
        execution_id=execution_id,
        arn=execution_arn(function_name, execution_id),
        journal=journal,
        operations=execution.operations,
        sampler=sampler,
        faults=faults,
        metrics=metrics,
        responder=responder,
    )
    runner = _Runner(state, clock, functions or FunctionRegistry(), faults)
    event = json.loads(input_payload) if input_payload else None
    if execution.operations:
        runner.record_crashed_invocation()
    state.fire_due(clock.now_ms())
    invocation = 0
    while True:
        invocation += 1
        metrics.invocations = invocation
        if invocation > MAX_INVOCATIONS:
            error = TooManyInvocationsError(
                f"execution {execution_id!r} suspended {MAX_INVOCATIONS} times without finishing"
            )
            return runner.fail(error, start)
        replaying = state.has_prior_operations()
        if replaying:
            state.count("replays")
        clock.charge(sampler.draw("invoke", invocation))
        clock.charge(sampler.draw("durable_invoke", invocation))
        if invocation == 1:
            clock.charge(sampler.draw("cold_start", invocation))
        began = clock.now_ms()
        state.waiting_callbacks.clear()
        request_id = deterministic_uuid(execution_id, invocation)
        context = DurableContext(state, clock, replaying=replaying)
        context.lambda_context = runner.lambda_context(request_id, function_name)
        try:
            value = handler(event, context)
            state.flush(clock)
        except Suspend:
            state.flush(clock)
            runner.end_invocation(began, request_id)
            if state.fatal is not None:
                return runner.fail(state.fatal, start)
            runner.run_invokes()
            if runner.wait_for_change():
                clock.charge(sampler.draw("resume", invocation))
                continue
            metrics.elapsed_ms = clock.now_ms() - start
            return runner.result(
                "PENDING", pending=sorted(state.waiting_callbacks | runner.child_callbacks)
            )
        except Exception as exc:
            runner.end_invocation(began, request_id)
            return runner.fail(state.fatal or exc, start)
        except BaseException:  # the process dies (a simulated crash): the batcher's last act
            state.settle(clock.now_ms())
            raise
        runner.end_invocation(began, request_id)
        if state.fatal is not None:
            return runner.fail(state.fatal, start)
        try:
            payload = json.dumps(value)
        except (TypeError, ValueError) as exc:
            unencodable = TypeError(
                f"the handler returned a {type(value).__qualname__} that JSON cannot encode "
                f"({exc}); an execution's result is JSON, as on AWS: return JSON data"
            )
            return runner.fail(unencodable, start)
        journal.finish_execution(
            execution_id,
            "SUCCEEDED",
            payload,
            None,
            HistoryEntry("ExecutionSucceeded", clock.now_ms(), None, {"Result": payload}),
        )
        metrics.elapsed_ms = clock.now_ms() - start
        return runner.result("SUCCEEDED", result=json.loads(payload))


class _Runner:
    """The service's work between invocations, and the run's outcome."""

    def __init__(
        self, state: ExecutionState, clock: Clock, functions: FunctionRegistry, faults: FaultPlan
    ) -> None:
        self.state = state
        self.clock = clock
        self.functions = functions
        self.faults = faults
        self.child_callbacks: set[str] = set()

    def lambda_context(self, request_id: str, function_name: str) -> LambdaContext:
        """The Lambda context of one invocation (the AWS fields a handler may read)."""
        return LambdaContext(
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{function_name}",
            function_name=function_name,
            function_version="$LATEST",
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
        )

    def end_invocation(self, began: float, request_id: str) -> None:
        """Join branch threads left running, and record the invocation in the history."""
        state = self.state
        for pool in state.pools:
            pool.shutdown(wait=True)
        state.pools.clear()
        now = self.clock.now_ms()
        details = {"StartTimestamp": began, "EndTimestamp": now, "RequestId": request_id}
        state.journal.append(
            state.execution_id, [HistoryEntry("InvocationCompleted", now, None, details)]
        )

    def wait_for_change(self) -> bool:
        """Let time pass until the service has something the handler can observe (a wait
        ended, an answer, a timeout, an invoke's end); False if nothing will ever happen.

        A state change the handler cannot see (a heartbeat, a retry becoming ready before
        its turn) does not re-invoke the function, as on AWS.
        """
        state, clock = self.state, self.clock
        while True:
            wake = state.next_due(callbacks=clock.virtual)
            if wake is None:
                return False
            clock.sleep_until(wake)
            if state.fire_due(clock.now_ms()):
                return True

    def record_crashed_invocation(self) -> None:
        """If the last invocation ended without completing (its process crashed), record it
        as AWS does: an InvocationCompleted event with a ``Runtime.ExitError``."""
        state = self.state
        history = state.journal.read_history(state.execution_id)
        last = history[-1]
        if last.event_type == "InvocationCompleted":
            return
        began = next(
            entry.at_ms
            for entry in reversed(history)
            if entry.event_type in ("InvocationCompleted", "ExecutionStarted")
        )
        details = {
            "StartTimestamp": began,
            "EndTimestamp": last.at_ms,
            "RequestId": deterministic_uuid(state.execution_id, "crashed", len(history)),
            "Error": {
                "ErrorType": "Runtime.ExitError",
                "ErrorMessage": "the runtime exited before the invocation completed (a crash)",
            },
        }
        state.journal.append(
            state.execution_id, [HistoryEntry("InvocationCompleted", last.at_ms, None, details)]
        )

    def run_invokes(self) -> None:
        """Run the executions of chained invokes that have not ended yet."""
        self.child_callbacks.clear()
        for rec in list(self.state.operations.values()):
            if (
                rec.type is OperationType.CHAINED_INVOKE
                and rec.status is OperationStatus.STARTED
                and rec.due_ms is None
            ):
                self._run_invoke(rec)

    def _run_invoke(self, rec: OperationRecord) -> None:
        state = self.state
        assert rec.function_name is not None and rec.child_execution_id is not None
        handler = self.functions.get(rec.function_name)
        start = rec.start_ms or 0.0
        if handler is None:
            known = sorted(self.functions)
            error = {
                "ErrorType": "ResourceNotFoundException",
                "ErrorMessage": f"Function not found: {rec.function_name} (registered: {known})",
            }
            state.resolve_invoke(rec, start, None, error)
            return
        clock: Clock = VirtualClock(start) if self.clock.virtual else self.clock
        # The child's draws are its own stream, keyed by the invoke's position (not by
        # execution ids, which may be random), so a seed fixes them.
        child_sampler = Sampler(
            state.sampler.profile, stable_key_hash((state.sampler.seed, "invoke", rec.id))
        )
        run = execute(
            unwrap_handler(handler),
            rec.input_payload or "null",
            journal=state.journal,
            execution_id=rec.child_execution_id,
            clock=clock,
            sampler=child_sampler,
            faults=self.faults,
            functions=self.functions,
            responder=state.responder,
            function_name=rec.function_name,
        )
        end = clock.now_ms()
        if run.status == "PENDING":
            self.child_callbacks.update(run.pending_callbacks)
        elif run.status == "SUCCEEDED":
            state.resolve_invoke(rec, end, json.dumps(run.result), None)
        else:
            state.resolve_invoke(rec, end, None, error_fields(run.error or RuntimeError("failed")))

    def fail(self, error: BaseException, start: float) -> DurableRun:
        state = self.state
        fields = error_fields(error)
        state.journal.finish_execution(
            state.execution_id,
            "FAILED",
            None,
            fields,
            HistoryEntry("ExecutionFailed", self.clock.now_ms(), None, {"Error": fields}),
        )
        state.metrics.elapsed_ms = self.clock.now_ms() - start
        return self.result("FAILED", error=error)

    def result(
        self,
        status: Any,
        *,
        result: Any = None,
        error: BaseException | None = None,
        pending: list[str] | None = None,
    ) -> DurableRun:
        state = self.state
        return DurableRun(
            execution_id=state.execution_id,
            engine="sim",
            status=status,
            result=result,
            error=error,
            operations=operation_views(state.operations),
            metrics=state.metrics,
            pending_callbacks=pending or [],
            journal=state.journal,
        )


def _last_time(operations: dict[str, OperationRecord]) -> float:
    return max(max(op.start_ms or 0.0, op.end_ms or 0.0) for op in operations.values())


def _finished_run(execution: ExecutionRecord, metrics: RunMetrics, journal: Journal) -> DurableRun:
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
        journal=journal,
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
                type=rec.type._value_,
                sub_type=rec.sub_type or "",
                name=rec.name,
                status=rec.status._value_,
                attempts=rec.attempt,
                result_json=rec.result,
                error=(rec.error or {}).get("ErrorMessage"),
            )
        )
    return views
