"""The ``aws-local`` engine: the official `DurableFunctionTestRunner`, mapped to `DurableRun`.

The runner skips time for waits and retry delays, so they pass at once; callback timeouts and
heartbeat timeouts, which it arms on its scheduler directly, take their real duration
(``skip_time=False`` runs everything on the wall clock).

Callbacks are answered by the same `Responder` as on ``sim``: ``responder(callback_id, record)``
returns the `CallbackAnswer` list of the external system. It is asked once per callback, in
creation order, as soon as the invocation that created the callback has ended (AWS accepts
answers only then). The runner's skipped time cannot place an answer ``after_s`` seconds after
its callback's creation, so answers are sent in that order instead: heartbeats at once, and the
successes and failures due together (as on our engine's virtual clock) in one batch that reaches
the handler in one invocation; the next batch waits for that invocation to end. Without a
responder, or when the open callbacks get no success or failure and none of them can time out,
the run returns PENDING with their ids instead of blocking until the execution timeout; the
runner's execution ends with the call, so such callbacks cannot be answered later.

``functions`` registers named durable handlers as chained-invoke targets (`context.invoke`). A
target's first invocation starts once the invocation that invoked it has ended: on AWS the caller
suspends while the target's own Lambda starts, and the runner, which starts both at once, would
otherwise let a quick target finish first. A `SimulatedCrash` escaping the handler stands for the
Lambda process dying: the runner sees a failed invocation and invokes again (after its 5 s
back-off).

The run carries the execution's history (``DurableRun.events``; see
`durable_sim.durable.history.export_history`): the runner's ``GetDurableExecutionHistory`` answer
in AWS's JSON shape (timestamps as ISO-8601 strings), with one repair. Runner 1.4.0 computes each
``InvocationCompleted`` event's details and then drops them when it renumbers the events
(``HistoryEvent.from_event_with_id`` omits the field); they are restored from the runner's own
record of invocations (start, end, request id), matched by end timestamp.

The runner reports operations, their attempts, the outcome and the history, but not which steps
replayed, so ``steps_executed`` and ``steps_replayed`` are ``None``. Invocations are counted by
wrapping the handler; checkpoint calls and bytes by wrapping the runner's in-process service
client (`_CheckpointMeter`, on runner 1.4.0's ``_service_client``): every ``checkpoint`` call the
SDK makes for the execution counts once, with the UTF-8 bytes of its updates' payloads and error
objects, the data AWS limits per checkpoint and bills as data written (the quantities
`durable_sim.durable.result.RunMetrics` defines, counted on ``sim`` by our runtime).

A failed execution's error is the SDK's own exception class for the runner's ``ErrorType``
where the SDK knows it (``DurableOperationError.from_error_fields``), else a
``DurableOperationError`` whose ``error_type`` keeps the original type name; its
``error_object`` is the runner's ErrorObject as it is.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_durable_execution_sdk_python.exceptions import DurableOperationError
from aws_durable_execution_sdk_python.execution import InvocationStatus, durable_execution
from aws_durable_execution_sdk_python.lambda_service import (
    CheckpointOutput,
    ErrorObject,
    OperationStatus,
    OperationType,
    OperationUpdate,
)
from aws_durable_execution_sdk_python_testing.exceptions import ResourceNotFoundException
from aws_durable_execution_sdk_python_testing.execution import Execution
from aws_durable_execution_sdk_python_testing.runner import (
    ContextOperation,
    DurableFunctionTestRunner,
    Operation,
    StepOperation,
    create_operation,
)
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore

from durable_sim.durable import (
    CallbackAnswer,
    FunctionRegistry,
    OperationRecord,
    Responder,
    unwrap_handler,
)
from durable_sim.durable.codec import payload_bytes
from durable_sim.durable.journal.records import encode_json
from durable_sim.durable.result import DurableRun, OperationView, RunMetrics, Status
from durable_sim.durable.state import ask_responder
from durable_sim.faults import SimulatedCrash

EXECUTION_TIMEOUT_S = 900
POLL_S = 0.005  # real seconds between two looks at the runner's state
SETTLE_POLLS = 4  # unchanged looks in a row before an execution waiting on callbacks is PENDING
_TERMINAL_CALLBACK_EVENTS = ("CallbackSucceeded", "CallbackFailed", "CallbackTimedOut")


def run_on_local_runner(
    handler: Callable[..., Any],
    event: Any,
    *,
    responder: Responder | None = None,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    skip_time: bool = True,
) -> DurableRun:
    """Run `handler` with `event` on the official local runner (see the module docstring).

    `functions` is checked as `FunctionRegistry` checks it (ValueError naming a bad name).
    Raises `TimeoutError` if the execution is still running after `EXECUTION_TIMEOUT_S` seconds,
    and `RuntimeError` if its history outgrows the runner's single page of 100 events (the
    runner's history call takes no page marker).
    """
    sdk_handler = _as_sdk_handler(handler)
    invocations = 0

    def counted(lambda_event: Any, lambda_context: Any) -> Any:
        nonlocal invocations
        invocations += 1
        try:
            return sdk_handler(lambda_event, lambda_context)
        except SimulatedCrash as crash:
            # The process died mid-invocation: to the runner that is a failed invoke (it retries).
            raise RuntimeError(f"Runtime.ExitError: {crash}") from crash

    store = InMemoryExecutionStore()
    start = time.perf_counter()
    with DurableFunctionTestRunner(
        handler=counted, skip_time=skip_time, poll_interval=POLL_S, store=store
    ) as runner:
        meter = _CheckpointMeter(runner)
        for name, target in sorted(FunctionRegistry(functions).items()):
            runner.register_durable_function(name, _after_caller_suspends(runner, store, target))
        arn = runner.run_async(input=json.dumps(event), execution_timeout=EXECUTION_TIMEOUT_S)
        pending = _Driver(runner, store, arn, responder).run()
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        execution = store.load(arn)
        history = _history(runner, execution)
    views = _operation_views(execution)
    steps = [v for v in views if v.type == "STEP"]
    metrics = RunMetrics(
        invocations=invocations,
        replays=max(0, invocations - 1),
        checkpoint_ops=meter.calls.get(arn, 0),
        checkpoint_bytes=meter.bytes.get(arn, 0),
        steps_executed=None,
        steps_replayed=None,
        retries=sum(max(0, v.attempts - 1) for v in steps),
        failed_steps=sum(v.status == "FAILED" for v in steps),
        elapsed_ms=elapsed_ms,
    )
    status, result, error = _outcome(execution, pending)
    output = execution.result
    return DurableRun(
        execution_id=arn,
        engine="aws-local",
        status=status,
        result=result,
        error=error,
        error_object=output.error if output is not None and status == "FAILED" else None,
        operations=views,
        metrics=metrics,
        pending_callbacks=pending or [],
        events=history,
    )


def _as_sdk_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    return handler if unwrap_handler(handler) is not handler else durable_execution(handler)


def _after_caller_suspends(
    runner: DurableFunctionTestRunner, store: InMemoryExecutionStore, target: Callable[..., Any]
) -> Callable[..., Any]:
    """`target` as a chained-invoke target whose first invocation waits until the invocation
    that invoked it has ended."""
    sdk_handler = _as_sdk_handler(target)

    def invoked(lambda_event: Any, lambda_context: Any) -> Any:
        child = store.load(lambda_event.durable_execution_arn)
        caller = child.parent_execution_arn
        if caller is not None and not child.invocation_completions:
            deadline = time.monotonic() + EXECUTION_TIMEOUT_S
            while not _caller_suspended(runner, caller, child.durable_execution_arn):
                if time.monotonic() > deadline:
                    break
                time.sleep(POLL_S)
        return sdk_handler(lambda_event, lambda_context)

    return invoked


def _caller_suspended(runner: DurableFunctionTestRunner, caller_arn: str, child_arn: str) -> bool:
    events = _runner_events(runner, caller_arn)
    for i, event in enumerate(events):
        details = event.get("ChainedInvokeStartedDetails") or {}
        if details.get("DurableExecutionArn") == child_arn:
            return any(e["EventType"] == "InvocationCompleted" for e in events[i + 1 :])
    return False


class _Driver:
    """Offers callbacks to the responder and sends its answers until the execution ends.

    An answer is due ``after_s`` after its callback was created, and the runner's skipped time
    cannot place it; so answers are sent in the order (creating invocation, ``after_s``), and
    the successes and failures due together (same creating invocation and ``after_s``, as on
    our engine's virtual clock) reach the handler in one invocation: the execution is paused
    while they are sent. The next ones wait for that invocation to end.
    """

    def __init__(
        self,
        runner: DurableFunctionTestRunner,
        store: InMemoryExecutionStore,
        arn: str,
        responder: Responder | None,
    ) -> None:
        self.runner = runner
        self.store = store
        self.arn = arn
        self.responder = responder
        self.offered: set[str] = set()
        self.answered: set[str] = set()  # callbacks that got (or will get) a success or failure
        # ((creating invocation, after_s), order asked, callback id, answer), sent in that order
        self.queue: list[tuple[tuple[int, float], int, str, CallbackAnswer]] = []
        self.asked = 0
        self.terminal_sent_at = -1  # InvocationCompleted count when the last success/failure went

    def run(self) -> list[str] | None:
        """``None`` once the execution has ended; the open callbacks' ids if it can only wait."""
        deadline = time.monotonic() + EXECUTION_TIMEOUT_S
        seen, unchanged = None, 0
        pending: list[str] | None = None
        while not (execution := self.store.load(self.arn)).is_complete:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"aws-local: execution still running after {EXECUTION_TIMEOUT_S} s "
                    "(its timeout)"
                )
            # The history is rebuilt only when the runner's state moved.
            state = (execution.seq_counter, len(execution.invocation_completions), len(self.queue))
            if state != seen:
                seen, unchanged = state, 0
                pending = self._step(execution)
            else:
                unchanged += 1
            if pending is not None and unchanged >= SETTLE_POLLS:
                return pending
            time.sleep(POLL_S)
        return None

    def _step(self, execution: Execution) -> list[str] | None:
        """Offer new callbacks and send what is due; the open callbacks' ids if nothing but
        them is left to happen (nobody answers them and none can time out)."""
        events = _runner_events(self.runner, self.arn)
        self._offer(events, execution)
        self._send(sum(e["EventType"] == "InvocationCompleted" for e in events))
        open_callbacks = _open_callbacks(events)
        timeouts = _callback_timeouts(execution)
        waiting_only_on_callbacks = (
            bool(open_callbacks)
            and not open_callbacks.keys() & self.answered
            and not self.queue
            and events[-1]["EventType"] == "InvocationCompleted"
            and not any(any(timeouts.get(op, (0, 0))) for op in open_callbacks.values())
            and not _timer_or_invoke_pending(execution)
        )
        return sorted(open_callbacks) if waiting_only_on_callbacks else None

    def _offer(self, events: list[dict[str, Any]], execution: Execution) -> None:
        timeouts = _callback_timeouts(execution)
        for invocation, started in _ready_callbacks(events):
            callback_id = started["CallbackStartedDetails"]["CallbackId"]
            if callback_id in self.offered:
                continue
            self.offered.add(callback_id)
            if self.responder is None:
                continue
            created = started["EventTimestamp"].timestamp()
            timeout, heartbeat = timeouts.get(started["Id"], (0, 0))
            record = OperationRecord(
                id=started["Id"],
                parent_id=started.get("ParentId"),
                type=OperationType.CALLBACK,
                sub_type=started.get("SubType"),
                name=started.get("Name"),
                status=OperationStatus.STARTED,
                start_ms=created * 1000.0,
                due_ms=(created + timeout) * 1000.0 if timeout else None,
                callback_id=callback_id,
                heartbeat_timeout_s=heartbeat,
                heartbeat_due_ms=(created + heartbeat) * 1000.0 if heartbeat else None,
            )
            for answer in ask_responder(self.responder, callback_id, record):
                self.asked += 1
                self.queue.append(((invocation, answer.after_s), self.asked, callback_id, answer))
                if answer.kind != "heartbeat":
                    self.answered.add(callback_id)
        self.queue.sort(key=lambda item: item[:2])

    def _send(self, completed_invocations: int) -> None:
        while self.queue and self.queue[0][3].kind == "heartbeat":
            self._deliver(*self.queue.pop(0)[2:])
        if not self.queue or completed_invocations <= self.terminal_sent_at:
            return  # the answers already sent have yet to reach the handler
        due = self.queue[0][0]
        group = [item for item in self.queue if item[0] == due]
        self.queue = [item for item in self.queue if item[0] != due]
        together = sum(answer.kind != "heartbeat" for *_, answer in group) > 1
        if together:
            self.runner.pause_execution(self.arn)
        try:
            for *_, callback_id, answer in group:
                self._deliver(callback_id, answer)
        finally:
            if together:
                self.runner.resume_execution(self.arn)
        self.terminal_sent_at = completed_invocations

    def _deliver(self, callback_id: str, answer: CallbackAnswer) -> None:
        try:
            if answer.kind == "heartbeat":
                self.runner.send_callback_heartbeat(callback_id)
            elif answer.kind == "success":
                payload = answer.result.encode() if answer.result is not None else None
                self.runner.send_callback_success(callback_id, payload)
            else:
                error = ErrorObject.from_dict(dict(answer.error or {}))
                self.runner.send_callback_failure(callback_id, error)
        except ResourceNotFoundException:
            pass  # the callback already timed out: AWS rejects the late answer too


def _runner_events(runner: DurableFunctionTestRunner, arn: str) -> list[dict[str, Any]]:
    page = runner.get_execution_history(arn, include_execution_data=True)
    if page.next_marker is not None:
        raise RuntimeError(
            f"aws-local: execution {arn} has more than {len(page.events)} history events, more "
            "than the runner's get_execution_history returns (it takes no page marker)"
        )
    return [event.to_dict() for event in page.events]


def _ready_callbacks(events: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """``CallbackStarted`` events whose creating invocation has ended, in creation order, each
    with that invocation's number (0 for the first)."""
    ready = []
    invocation = 0
    for i, event in enumerate(events):
        if event["EventType"] == "InvocationCompleted":
            invocation += 1
        elif event["EventType"] == "CallbackStarted" and any(
            later["EventType"] == "InvocationCompleted" for later in events[i + 1 :]
        ):
            ready.append((invocation, event))
    return ready


def _open_callbacks(events: list[dict[str, Any]]) -> dict[str, str]:
    """Callback id -> operation id of every callback not yet answered or timed out."""
    closed = {e.get("Id") for e in events if e["EventType"] in _TERMINAL_CALLBACK_EVENTS}
    return {
        e["CallbackStartedDetails"]["CallbackId"]: e["Id"]
        for e in events
        if e["EventType"] == "CallbackStarted" and e.get("Id") not in closed
    }


def _callback_timeouts(execution: Execution) -> dict[str, tuple[int, int]]:
    """Operation id -> (timeout, heartbeat timeout) in seconds, from the callbacks' START updates
    (the runner's CallbackStarted events do not carry them)."""
    found = {}
    for update in execution.updates:
        options = update.callback_options
        if options is not None:
            found[update.operation_id] = (
                options.timeout_seconds,
                options.heartbeat_timeout_seconds,
            )
    return found


def _timer_or_invoke_pending(execution: Execution) -> bool:
    """A wait or a retry the runner will fire, or a chained invoke still running."""
    for op in execution.operations:
        kind, status = op.operation_type, op.status
        if kind is OperationType.WAIT and status is OperationStatus.STARTED:
            return True
        if kind is OperationType.STEP and status in (
            OperationStatus.PENDING,
            OperationStatus.READY,
        ):
            return True
        if kind is OperationType.CHAINED_INVOKE and status in (
            OperationStatus.STARTED,
            OperationStatus.PENDING,
        ):
            return True
    return False


class _CheckpointMeter:
    """Counts, per execution ARN, the ``checkpoint`` calls the SDK makes to the runner's service
    client that succeed (`calls`) and the UTF-8 bytes of their updates' payloads and error
    objects (`bytes`), the same quantities our runtime counts (see the module docstring)."""

    def __init__(self, runner: DurableFunctionTestRunner) -> None:
        self.calls: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self._lock = threading.Lock()
        client = runner._service_client  # runner 1.4.0: the client every invocation uses
        sent = client.checkpoint

        def checkpoint(
            durable_execution_arn: str,
            checkpoint_token: str,
            updates: list[OperationUpdate],
            client_token: str | None,
        ) -> CheckpointOutput:
            output = sent(durable_execution_arn, checkpoint_token, updates, client_token)
            size = sum(_update_bytes(update) for update in updates)
            with self._lock:
                self.calls[durable_execution_arn] = self.calls.get(durable_execution_arn, 0) + 1
                self.bytes[durable_execution_arn] = self.bytes.get(durable_execution_arn, 0) + size
            return output

        client.checkpoint = checkpoint  # type: ignore[method-assign]


def _update_bytes(update: OperationUpdate) -> int:
    """An update's data written: its payload's UTF-8 bytes plus its error object's (as JSON)."""
    size = payload_bytes(update.payload)
    if update.error is not None:
        size += payload_bytes(encode_json(dict(update.error.to_dict())))
    return size


def _outcome(execution: Execution, pending: list[str] | None) -> tuple[Status, Any, Any]:
    """Status, decoded result and error of the runner's execution record."""
    if pending is not None:
        return "PENDING", None, None
    output = execution.result
    if output is not None and output.status is InvocationStatus.SUCCEEDED:
        return "SUCCEEDED", _decode(output.result), None
    err = output.error if output is not None else None
    if err is not None:
        return (
            "FAILED",
            None,
            DurableOperationError.from_error_fields(
                err.type, err.message, err.data, err.stack_trace
            ),
        )
    status = execution.close_status.value if execution.close_status is not None else "unknown"
    return "FAILED", None, RuntimeError(f"execution ended with status {status}")


def _decode(payload: str | None) -> Any:
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def _operation_views(execution: Execution) -> list[OperationView]:
    svc_ops = [
        op for op in execution.operations if op.operation_type is not OperationType.EXECUTION
    ]
    roots = [create_operation(op, svc_ops) for op in svc_ops if op.parent_id is None]
    return [view for op in roots for view in _flatten(op)]


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


def _history(runner: DurableFunctionTestRunner, execution: Execution) -> list[dict[str, Any]]:
    invocations = {c.end_timestamp: c for c in execution.invocation_completions}
    events = []
    for event in _runner_events(runner, execution.durable_execution_arn):
        if (
            event["EventType"] == "InvocationCompleted"
            and "InvocationCompletedDetails" not in event
        ):
            done = invocations.get(event["EventTimestamp"])
            if done is not None:
                event["InvocationCompletedDetails"] = done.to_dict()
        events.append(_jsonable(event))
    return events


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value
