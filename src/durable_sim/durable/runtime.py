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

import ast
import builtins
import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.exceptions import DurableOperationError, SerDesError
from aws_durable_execution_sdk_python.lambda_service import (
    ErrorObject,
    OperationStatus,
    OperationType,
)

from durable_sim.attribution import RETRY_BACKOFF
from durable_sim.clock import Clock, VirtualClock
from durable_sim.durable.context import DurableContext
from durable_sim.durable.errors import (
    ExecutionBusyError,
    ExecutionInputMismatchError,
    InvocationStoppedError,
    JournalError,
    JournalUnavailableError,
    LeaseLostError,
    PrintingAborted,
    ResponderError,
)
from durable_sim.durable.journal import (
    READY_NOW,
    ExecutionRecord,
    HistoryEntry,
    Journal,
    MemoryJournal,
    OperationRecord,
)
from durable_sim.durable.lease import HeldLease, Lease, LeaseConfig, LeaseKeeper, open_leased
from durable_sim.durable.operation.common import error_fields, recordable, retries_invocation
from durable_sim.durable.operation.invoke import invoked_by
from durable_sim.durable.registry import (
    FunctionRegistry,
    deterministic_uuid,
    execution_arn,
    unwrap_handler,
)
from durable_sim.durable.result import DurableRun, OperationView, RunMetrics
from durable_sim.durable.state import ExecutionState, Responder, Suspend
from durable_sim.errors import DurableSimError
from durable_sim.faults import FaultPlan, SimulatedCrash
from durable_sim.latency import Sampler, stable_key_hash

if TYPE_CHECKING:  # the SDK testing package is imported when a handler reads the context
    from aws_durable_execution_sdk_python_testing.model import LambdaContext

Handler = Callable[[Any, DurableContext], Any]

MAX_INVOCATIONS = 100_000
# Errors that are not the workflow's: they stop the invocation where it is, record nothing as
# the execution's outcome, and the run raises them (a journal that failed, a responder that did).
_STOPS = (JournalError, ResponderError)
# The ErrorType of an InvocationCompleted entry for an invocation whose process died (a crash,
# recorded when the execution resumes) or was stopped by a journal outage: no answer of the
# handler's, so it does not count towards MAX_FAILED_INVOCATIONS. The design promises that an
# execution killed at any checkpoint boundary and started again finishes, however often; the
# official local runner, which counts a dead runtime as a failed invoke, would fail it at the
# fifth death in a row.
_STOPPED_BY_JOURNAL = frozenset({JournalUnavailableError.__name__, InvocationStoppedError.__name__})
_PROCESS_ERRORS = _STOPPED_BY_JOURNAL | {"Runtime.ExitError"}
# An invocation that fails (an error escapes the SDK's wrapper) is run again after 5 s; the
# fifth failure in a row fails the execution with its error (the official local runner's
# `Executor.MAX_CONSECUTIVE_FAILED_ATTEMPTS` and `RETRY_BACKOFF_SECONDS`).
MAX_FAILED_INVOCATIONS = 5
INVOCATION_RETRY_MS = 5_000.0
_DEFAULT_LEASE = LeaseConfig()
# History events the service or the outside world appends between invocations (timers firing,
# callback answers and heartbeats, chained invokes ending), not the work of an invocation.
_SERVICE_EVENTS = frozenset(
    {
        "WaitSucceeded",
        "CallbackSucceeded",
        "CallbackFailed",
        "CallbackTimedOut",
        "ChainedInvokeSucceeded",
        "ChainedInvokeFailed",
        None,
    }
)


class TooManyInvocationsError(DurableSimError, RuntimeError):
    """The execution kept suspending; most likely a workflow that never finishes."""


def check_execution_id(execution_id: object) -> str:
    """`execution_id` if it is a non-empty string; ValueError naming it otherwise."""
    if not isinstance(execution_id, str) or not execution_id:
        raise ValueError(
            f"bad execution_id {execution_id!r} (accepted: a non-empty string; to start a new "
            "execution with a random id, pass None to run_durable)"
        )
    return execution_id


def check_started_execution_id(journal: Journal, execution_id: object) -> str:
    """`execution_id` as `check_execution_id` accepts it, for a run or submission from outside
    (``run_durable``, ``submit``): an id of the form of a chained invoke's execution
    (``<caller>/invoke-<operation id>``, `invoked_by`) only resumes that execution, which its
    invoke alone starts (AWS's service names and starts a chained invoke's execution itself,
    recording its parent). Raises ValueError naming the id if no such execution exists in
    `journal`: one started from outside first would be taken as the invoke's own, its
    outcome as the invoke's."""
    execution_id = check_execution_id(execution_id)
    if invoked_by(execution_id) is not None and journal.get_execution(execution_id) is None:
        raise ValueError(
            f"bad execution_id {execution_id!r} (accepted: an id not of the form "
            "'<caller>/invoke-<operation id>', which names a chained invoke's execution: only "
            "that invoke starts it, and an existing one may only be resumed)"
        )
    return execution_id


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
    lease: LeaseConfig | None = None,
    park_after_ms: float | None = None,
    taken_over: bool | None = None,
) -> DurableRun:
    """Run one execution to completion, failure, or a wait on the outside world (PENDING).

    `input_payload` is the JSON text of the input event. Starting an execution id again
    resumes it (or returns its outcome if it has one: its result, or its error rebuilt with its
    original type, and the journaled ``error_object`` unchanged); a different input for an
    existing id is an `ExecutionInputMismatchError`, raised without taking the execution's
    lease (its queue place, lease and history stay as they were).
    `functions` are the targets of ``context.invoke``; `responder` answers callbacks at
    virtual times (see `durable_sim.run_durable`).

    The run holds the execution's lease (`lease`; see `durable_sim.durable.lease`) from the
    start to its end: another owner's live lease raises `ExecutionBusyError` (or is waited
    for) before anything runs. On a plain `MemoryJournal` (this process's own) the lease has
    no expiry and nothing renews it (`durable_sim.durable.lease.HeldLease`); on any other
    journal a `LeaseKeeper` renews it. With `park_after_ms`, an execution whose next timer is
    further away than that (or that waits on a callback), or whose failed invocation's retry
    is (5 s later, `INVOCATION_RETRY_MS`), returns PENDING and leaves itself ready in the
    journal's queue for that time, instead of sleeping with its lease held (for workers).
    The execution of a chained invoke runs inside this run (`_Runner._run_invoke`), under the
    same `park_after_ms`: one that parks (or waits on a callback, or is held by another
    process) leaves the invoke open, and the caller parks too. The child's end, in whichever
    process (this run, a worker, a `run_durable` of the child), makes the caller ready in the
    same journal write (``finish_execution``'s ``parent``), or, if the caller's lease is held
    then, at the holder's release (``release``'s ``children``), as AWS's service invokes the
    caller once a child ends; the caller's next run takes the child's outcome before its
    first invocation.

    An error the SDK cannot record (its ``str()`` raises) or a retryable ``InvocationError``
    (the SDK's `RetryableSerDesError`) fails the invocation instead of the execution, as it
    escapes the SDK's wrapper; the service runs it again 5 s later, and the fifth such
    invocation in a row fails the execution with that error (what ``str()`` raised, for the
    first kind; the official local runner's rule; `MAX_FAILED_INVOCATIONS`). The count is the
    journal's history's, so a run that resumes an execution in its invocation retries goes on
    counting (and starts its first invocation no sooner than 5 s after the last failed one); an
    invocation whose process died or lost the journal is passed over (`_PROCESS_ERRORS`).

    A run that takes the lease from a holder that never released it records that holder's
    invocation as crashed, if one had begun (`_Runner.record_crashed_invocation`).
    `taken_over` says whether the caller's own take just before found the lease so held (a
    worker's claim: this run's take then finds the worker's claim); ``None``: as this run's
    take finds it.

    Raises ValueError for a bad `execution_id`, and a `JournalError` (corrupt record, lost
    lease, unreachable database) that stops the invocation without recording an outcome.
    """
    check_execution_id(execution_id)
    config = lease or _DEFAULT_LEASE
    started = HistoryEntry("ExecutionStarted", clock.now_ms(), None, {"Input": input_payload})
    # A plain memory journal lives and dies with this process: its lease needs no renewal.
    local = type(journal) is MemoryJournal
    execution = open_leased(
        journal,
        execution_id,
        input_payload,
        started,
        config,
        function_name=function_name,
        until_released=local,
    )
    if execution.input != input_payload:  # found without a lease: nothing of it changed
        raise ExecutionInputMismatchError(
            f"execution {execution_id!r} exists with input {execution.input[:80]!r}, "
            f"not {input_payload[:80]!r}; use a new execution id for a new input"
        )
    if execution.status != "RUNNING" or execution.lease is None:
        return _finished_run(execution, journal)
    keeper: HeldLease | LeaseKeeper = (
        HeldLease(execution.lease)
        if local
        else LeaseKeeper(journal, execution.lease, config.duration_s)
    )
    state = ExecutionState(
        execution_id=execution_id,
        arn=execution_arn(function_name, execution_id),
        journal=journal,
        operations=execution.operations,
        sampler=sampler,
        faults=faults,
        metrics=RunMetrics(),
        responder=responder,
        keeper=keeper,
    )
    runner = _Runner(state, clock, functions or FunctionRegistry(), faults, config, park_after_ms)
    try:
        if taken_over is None:
            taken_over = execution.lease.taken_over
        run = _invoke(runner, handler, input_payload, execution, function_name, taken_over)
    except _STOPS as exc:
        runner.abandon(exc)
        raise
    except SimulatedCrash:
        # An in-process stand-in for a dead process: its lease lapses at once, as if its
        # duration had passed (a real crash leaves it to expire).
        with contextlib.suppress(JournalError):
            journal.renew(keeper.stop(), 0.0)
        raise
    except BaseException as exc:  # an interrupt: nothing runs on after it
        runner.abandon(exc)
        raise
    return run


def _invoke(
    runner: _Runner,
    handler: Handler,
    input_payload: str,
    execution: ExecutionRecord,
    function_name: str,
    taken_over: bool,
) -> DurableRun:
    """Invoke the handler until the execution ends or waits on something (the service's loop);
    `taken_over` as `execute` found the lease."""
    state, clock = runner.state, runner.clock
    metrics, execution_id = state.metrics, state.execution_id
    if clock.virtual and execution.operations:  # resuming: time continues from the journal
        clock.sleep_until(_last_time(execution.operations))
    start = clock.now_ms()
    event = json.loads(input_payload) if input_payload else None
    # The execution's own invocation count: draws and request ids are keyed by it, so every
    # resumption has draws of its own; the first invocation and the first after a crash start
    # a new Lambda runtime (a cold start).
    invocation = execution.invocations
    cold = invocation == 0
    # Invocations the handler failed in a row (a clean invocation resets the count, as on
    # AWS): the journal's count, so a run that resumes an execution in its invocation retries
    # goes on where the last one stopped, as the official runner keeps the count with the
    # execution (``Execution.consecutive_failed_invocation_attempts``).
    failed_invocations = 0
    if execution.operations or invocation or taken_over:
        history = state.journal.read_history(execution_id)
        failed_invocations, last_failure = _failed_invocations(history)
        if failed_invocations >= MAX_FAILED_INVOCATIONS and last_failure is not None:
            # A run recorded the fifth failure and stopped before it recorded the outcome.
            fields = dict((last_failure.details or {})["Error"])
            return runner.fail(rebuild_error(fields), start, fields)
        if runner.record_crashed_invocation(history, taken_over=taken_over):
            invocation += 1
            cold = True
        if last_failure is not None:  # its retry is due 5 s after it, not before
            due = last_failure.at_ms + INVOCATION_RETRY_MS
            if runner.park(retry_ms=due):
                metrics.elapsed_ms = clock.now_ms() - start
                return runner.pending(park=True)
            clock.sleep_until(due, RETRY_BACKOFF)
        runner.offer_open_callbacks()
        # The service appends a chained invoke's end before it invokes the caller: a child
        # that ended while the caller was parked is taken before the first invocation.
        runner.run_invokes()
    state.fire_due(clock.now_ms())
    while True:
        invocation += 1
        metrics.invocations += 1  # type: ignore[operator]
        if metrics.invocations > MAX_INVOCATIONS:
            too_many = TooManyInvocationsError(
                f"execution {execution_id!r} suspended {MAX_INVOCATIONS} times without finishing"
            )
            return runner.fail(too_many, start)
        replaying = state.has_prior_operations()
        if replaying:
            state.count("replays")
        state.charge(clock, "invoke", invocation)
        state.charge(clock, "durable_invoke", invocation)
        if cold:
            state.charge(clock, "cold_start", invocation)
            cold = False
        began = clock.now_ms()
        state.waiting_callbacks.clear()
        request_id = deterministic_uuid(execution_id, invocation)
        runner.invocation = (began, request_id)
        context = DurableContext(state, clock, replaying=replaying)
        context.set_lambda_context_builder(
            functools.partial(runner.lambda_context, request_id, function_name)
        )
        try:
            value = handler(event, context)
            state.flush(clock)
        except Suspend:
            state.flush(clock)
            runner.end_invocation(began, request_id)
            failed_invocations = 0
            if state.fatal is not None:
                return runner.fail(state.fatal, start)
            runner.run_invokes()
            # The service looks at the journal before it lets the invocation end: a callback
            # answered meanwhile means another invocation, at once.
            if runner.reload_callbacks():
                state.charge(clock, "resume", invocation)
                continue
            if runner.park():
                metrics.elapsed_ms = clock.now_ms() - start
                return runner.pending(park=True)
            if runner.wait_for_change():
                state.charge(clock, "resume", invocation)
                continue
            metrics.elapsed_ms = clock.now_ms() - start
            return runner.pending(park=False)
        except (Exception, PrintingAborted) as exc:
            error = state.fatal or exc
            if isinstance(error, JournalError):
                raise error from None
            if isinstance(error, ResponderError):
                raise error from error.__cause__  # what the responder raised
            try:  # an error whose str() raised an interrupt is the user's code failing
                recorded = (
                    error.recorded if isinstance(error, PrintingAborted) else recordable(error)
                )
            except PrintingAborted as aborted:
                recorded = aborted.recorded
            if recorded is error and not retries_invocation(error):
                runner.end_invocation(began, request_id)
                return runner.fail(error, start)
            # The invocation fails and the service runs it again: the SDK's wrapper re-raises a
            # retryable `InvocationError` (a `RetryableSerDesError`, say) "to trigger Lambda
            # retry" (its execution.py), and it cannot build the ErrorObject of an error whose
            # str() raised, so what str() raised escapes it (an interrupt str() raised, from
            # wherever the SDK formats an error: `PrintingAborted`).
            state.flush(clock)
            ended = runner.end_invocation(began, request_id, recorded)
            failed_invocations += 1
            if failed_invocations >= MAX_FAILED_INVOCATIONS:
                return runner.fail(recorded, start)
            due = ended + INVOCATION_RETRY_MS
            if runner.park(retry_ms=due):  # the retry parks as a timer does
                metrics.elapsed_ms = clock.now_ms() - start
                return runner.pending(park=True)
            clock.sleep_until(due, RETRY_BACKOFF)
            continue
        except BaseException:  # the process dies (a simulated crash): the batcher's last act
            state.settle(clock.now_ms())
            raise
        if isinstance(state.fatal, _STOPS):
            raise state.fatal
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
        state.journal.finish_execution(
            execution_id,
            "SUCCEEDED",
            payload,
            None,
            HistoryEntry("ExecutionSucceeded", clock.now_ms(), None, {"Result": payload}),
            runner.lease(),
            parent=runner.parent(),
        )
        metrics.elapsed_ms = clock.now_ms() - start
        return runner.result("SUCCEEDED", result=json.loads(payload))


class _Runner:
    """The service's work between invocations, and the run's outcome."""

    def __init__(
        self,
        state: ExecutionState,
        clock: Clock,
        functions: FunctionRegistry,
        faults: FaultPlan,
        config: LeaseConfig,
        park_after_ms: float | None,
    ) -> None:
        self.state = state
        self.clock = clock
        self.functions = functions
        self.faults = faults
        self.config = config
        self.park_after_ms = park_after_ms
        self.child_callbacks: set[str] = set()
        self._ready_ms: float | None = None
        #: The invocation in progress, until its InvocationCompleted entry is written: its
        #: start (ms) and request id.
        self.invocation: tuple[float, str] | None = None

    def lease(self) -> Lease:
        """The lease this run holds (as last renewed)."""
        keeper = self.state.keeper
        assert keeper is not None, "a run that writes holds a lease"
        return keeper.lease

    def parent(self) -> str | None:
        """The execution whose chained invoke started this one (the journal's record of that
        invoke names this execution as its child), which this one's end wakes; None for an
        execution no invoke started. As the official runner finds a child's parent: the link
        the child's id carries, checked against the parent's own record of the invoke."""
        state = self.state
        link = invoked_by(state.execution_id)
        if link is None:
            return None
        caller, op_id = link
        rec = state.journal.get_operation(caller, op_id)
        if (
            rec is None
            or rec.type is not OperationType.CHAINED_INVOKE
            or rec.child_execution_id != state.execution_id
        ):
            return None
        return caller

    def open_children(self) -> list[str]:
        """The executions of the chained invokes still waiting for their end (no outcome taken
        yet), whose end wakes this one."""
        return sorted(
            rec.child_execution_id
            for rec in self.state.operations.values()
            if rec.type is OperationType.CHAINED_INVOKE
            and rec.status is OperationStatus.STARTED
            and rec.due_ms is None
            and rec.child_execution_id is not None
        )

    def _join_branches(self) -> None:
        state = self.state
        for pool in state.pools:
            pool.shutdown(wait=True)
        state.pools.clear()

    def lambda_context(self, request_id: str, function_name: str) -> LambdaContext:
        """The Lambda context of one invocation (the AWS fields a handler may read)."""
        # Imported here: the SDK testing package (~0.1 s to import) is needed only by a
        # handler that reads `DurableContext.lambda_context`, which builds it on first read.
        from aws_durable_execution_sdk_python_testing.model import LambdaContext

        return LambdaContext(
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{function_name}",
            function_name=function_name,
            function_version="$LATEST",
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
        )

    def end_invocation(
        self, began: float, request_id: str, error: BaseException | None = None
    ) -> float:
        """Join branch threads left running, and record the invocation in the history; with
        the `error` that failed it, if one escaped the SDK's wrapper (``ErrorType`` and
        ``ErrorMessage``, as Lambda reports an invocation's unhandled error). Returns the
        time it recorded as the invocation's end (ms)."""
        self._join_branches()
        now = self.clock.now_ms()
        details: dict[str, Any] = {
            "StartTimestamp": began,
            "EndTimestamp": now,
            "RequestId": request_id,
        }
        if error is not None:
            fields = error_fields(error)
            details["Error"] = {key: fields[key] for key in ("ErrorType", "ErrorMessage")}
        self.state.append([HistoryEntry("InvocationCompleted", now, None, details)])
        self.invocation = None
        return now

    def wait_for_change(self) -> bool:
        """Let time pass until the service has something the handler can observe (a wait
        ended, an answer, a timeout, an invoke's end); False if nothing will ever happen.

        A state change the handler cannot see (a heartbeat, a retry becoming ready before
        its turn) does not re-invoke the function, as on AWS.

        On the wall clock, a chained invoke whose execution another process runs (left open
        by `run_invokes`) ends when that process ends it: the journal is looked at every
        ``poll_s`` seconds of the run's `LeaseConfig` while such an invoke is open, and its
        end is taken then (AWS's service invokes the caller once a child ends), not at the
        next timer.
        """
        state, clock = self.state, self.clock
        while True:
            wake = state.next_due(callbacks=clock.virtual)
            if wake is None:
                return False
            children = [] if clock.virtual else self.open_children()
            if children:
                look = clock.now_ms() + self.config.poll_s * 1000.0
                if look < wake:
                    clock.sleep_until(look)
                    if self._any_ended(children):
                        self.run_invokes()  # the invoke's end: due when the child ended
                    continue
            clock.sleep_until(wake)
            if state.fire_due(clock.now_ms()):
                return True

    def _any_ended(self, execution_ids: list[str]) -> bool:
        """Whether the journal has an outcome for any of `execution_ids`."""
        journal = self.state.journal
        return any(
            (record := journal.get_execution(execution_id)) is not None
            and record.status != "RUNNING"
            for execution_id in execution_ids
        )

    def reload_callbacks(self) -> bool:
        """Re-read the started callbacks from the journal, as the service does before it lets
        an invocation end PENDING: True if the outside world answered one meanwhile (the
        service then invokes the function again)."""
        state = self.state
        answered = False
        for op_id, rec in list(state.operations.items()):
            if rec.type is OperationType.CALLBACK and not rec.terminal:
                stored = state.journal.get_operation(state.execution_id, op_id)
                if stored is not None and stored != rec:
                    state.adopt(stored)
                    answered = answered or stored.terminal
        return answered

    def park(self, *, retry_ms: float | None = None) -> bool:
        """Whether to end the run here and leave the execution in the journal's queue: with
        the run's ``park_after_ms``, when nothing is due within that many ms (the run then
        records when the execution is next ready). With `retry_ms` (ms) the next thing due
        is the retry of a failed invocation then, which parks as a timer would: the run gives
        its lease up, the execution is ready again at `retry_ms`, and whichever process claims
        it then runs the retry (the one that parked it runs nothing more)."""
        park_after_ms = self.park_after_ms
        if park_after_ms is None:
            return False
        wake = self.state.next_due(callbacks=True) if retry_ms is None else retry_ms
        if wake is not None and wake - self.clock.now_ms() <= park_after_ms:
            return False
        self._ready_ms = wake
        return True

    def pending(self, *, park: bool) -> DurableRun:
        """End the run PENDING: give the lease up, ready again when the next timer is due (a
        parked run on a real clock), when the outside world answers a callback, or when the
        execution of a chained invoke ends (`open_children`; whichever process ends it)."""
        state = self.state
        lease = self.lease()
        state.keeper.stop()  # type: ignore[union-attr]
        ready = self._ready_ms if park and not self.clock.virtual else None
        watch = [
            op_id
            for op_id, rec in state.operations.items()
            if rec.type is OperationType.CALLBACK and not rec.terminal
        ]
        state.journal.release(
            lease,
            ready_at=None if ready is None else ready / 1000.0,
            watch=watch,
            children=self.open_children(),
        )
        return self.result(
            "PENDING", pending=sorted(state.waiting_callbacks | self.child_callbacks)
        )

    def abandon(self, error: BaseException) -> None:
        """Stop after `error` (a journal error, or an interrupt): join branch threads and stop
        renewing the lease, then, unless the lease was lost (another owner's now), give it up
        if the journal can still be reached: ready at once for a worker after an interrupt or
        an outage (the execution did not end), and not before the outside world changes it
        after any other journal error (a corrupt record needs repair first). An interrupt
        first records the invocation it stopped, if one was in progress (`_interrupted`), and so
        does a failing callback responder (`ResponderError`: the harness, not the function,
        stopped it).

        An outage (`JournalUnavailableError`) that stopped an invocation is first recorded as
        that invocation's end: an InvocationCompleted entry whose error is the outage
        (``ErrorType`` its class's name, as Lambda names the unhandled exception that ended an
        invocation; on AWS the SDK's ``CheckpointError`` would end it), fenced by the lease.
        AWS's history has no other event for the end of an invocation, and without this entry
        the next invocation would record the gap as a crash (``Runtime.ExitError``). Raises
        `InvocationStoppedError`, carrying the entry and the lease, when the journal cannot
        take them yet."""
        self._join_branches()
        keeper = self.state.keeper
        assert keeper is not None
        lease = keeper.stop()
        if isinstance(error, LeaseLostError):
            return  # the lease is another owner's now: nothing more is written
        state = self.state
        if not isinstance(error, JournalUnavailableError):
            ready = None if isinstance(error, JournalError) else READY_NOW
            with contextlib.suppress(JournalError):  # else the lease expires by itself
                stopped = isinstance(error, ResponderError) or not isinstance(error, Exception)
                if stopped and self.invocation is not None:
                    state.journal.append(state.execution_id, [self._interrupted(error)], lease)
                state.journal.release(lease, ready_at=ready)
            return
        entry = None
        if self.invocation is not None:
            entry = self._ended_by(
                type(error).__name__, f"the invocation was stopped by the journal: {error}"
            )
        try:
            if entry is not None:
                state.journal.append(state.execution_id, [entry], lease)
            state.journal.release(lease, ready_at=READY_NOW)
        except JournalUnavailableError:
            if entry is None:
                return  # the lease expires by itself
            raise InvocationStoppedError(str(error), lease, entry) from error
        except JournalError:
            return  # taken over or ended meanwhile: the new owner records what it finds

    def _interrupted(self, error: BaseException) -> HistoryEntry:
        """The end of the invocation in progress that `error` (an interrupt, or a failing
        responder) stopped: as a crash is recorded (`record_crashed_invocation`), a
        ``Runtime.ExitError`` (Lambda's error type for a runtime that exits during an
        invocation), which does not count towards `MAX_FAILED_INVOCATIONS`. Without it, an
        invocation stopped before its first write left no trace in the history (its lease
        released, the run resuming it saw none)."""
        return self._ended_by(
            "Runtime.ExitError",
            f"the runtime was stopped ({type(error).__name__}) before the invocation completed",
        )

    def _ended_by(self, error_type: str, message: str) -> HistoryEntry:
        """The InvocationCompleted entry of the invocation in progress, ending now with an
        error of AWS's shape (``ErrorType``, ``ErrorMessage``)."""
        assert self.invocation is not None
        began, request_id = self.invocation
        now = self.clock.now_ms()
        details = {
            "StartTimestamp": began,
            "EndTimestamp": now,
            "RequestId": request_id,
            "Error": {"ErrorType": error_type, "ErrorMessage": message},
        }
        return HistoryEntry("InvocationCompleted", now, None, details)

    def record_crashed_invocation(self, history: list[HistoryEntry], *, taken_over: bool) -> bool:
        """If the last invocation ended without completing (its process died), record it as
        AWS does: an InvocationCompleted event with a ``Runtime.ExitError``; True if so.
        `history` is the execution's, as the journal holds it; `taken_over` whether this run
        took the lease from a holder that never released it (`Lease.taken_over`).

        An invocation died if it wrote something after the last InvocationCompleted, or if it
        wrote nothing and its holder never released the lease while the history shows that an
        invocation had begun: the execution had just started, the invocation before it failed
        (its retry runs with the lease held; a parked retry releases it), or the service woke
        the execution after the last invocation (a wait ended, a step retry came due, a
        callback was answered, an invoke ended). A holder that died between invocations
        (sleeping until a timer, with its lease held) or that released its lease (a PENDING or
        parked end; an interrupt, which recorded the invocation it stopped, `abandon`) records
        nothing. What the service and the outside
        world appended (timers, answers) is not the invocation's work. One case the history
        cannot tell apart: a run on the wall clock without ``park_after_ms`` that dies during
        the 5 s before a failed invocation's retry is recorded as a crashed retry.
        """
        state = self.state
        work = [entry for entry in history if entry.event_type not in _SERVICE_EVENTS]
        last = work[-1] if work else history[-1]
        wrote = last.event_type != "InvocationCompleted" and (
            last.event_type != "ExecutionStarted" or bool(state.operations)
        )
        if not wrote and not (taken_over and _invocation_began(history)):
            return False
        began = _crashed_invocation_start(history)
        end = max(last.at_ms, began)
        details = {
            "StartTimestamp": began,
            "EndTimestamp": end,
            "RequestId": deterministic_uuid(state.execution_id, "crashed", len(history)),
            "Error": {
                "ErrorType": "Runtime.ExitError",
                "ErrorMessage": "the runtime exited before the invocation completed (a crash)",
            },
        }
        state.append([HistoryEntry("InvocationCompleted", end, None, details)])
        return True

    def offer_open_callbacks(self) -> None:
        """Ask the responder about every callback the execution has open, as a run resuming it
        finds them: the answers a responder gave live in the run that asked for them, so those
        of a run that died, or that left the execution PENDING, are gone (the official runner's
        engine likewise offers every callback open in the history). An answer due before now is
        delivered at once. Raises `ResponderError` as `ExecutionState.schedule_answers` does."""
        state = self.state
        for op_id in sorted(state.operations, key=_order):
            rec = state.operations[op_id]
            if rec.type is OperationType.CALLBACK and not rec.terminal:
                state.schedule_answers(rec)

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
        """Run the execution a chained invoke started, under the caller's run options: its
        `LeaseConfig` whole (duration, ``on_busy``, ``poll_s``, ``wait_timeout_s``, owner),
        ``park_after_ms``, fault plan, responder and registry, on its clock (a virtual clock
        of its own from the invoke's start), with latency draws of its own; and resolve the
        invoke if it has ended (here, or earlier in another process: it then ended when its
        terminal entry says). A child that parks or waits on the outside world, or that
        another process holds (`ExecutionBusyError`), leaves the invoke open: its end wakes
        the caller (`parent`, `open_children`)."""
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
        try:
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
                lease=self.config,  # every lease option of the caller's, as one object
                park_after_ms=self.park_after_ms,
            )
        except ExecutionBusyError:
            return  # another process runs it: its end wakes this execution
        end = clock.now_ms()
        if run.status != "PENDING" and run.metrics.invocations == 0:  # it had ended already
            end = max(state.journal.read_history(rec.child_execution_id)[-1].at_ms, start)
            if self.clock.virtual:  # so this run, which comes after that end, is past it
                self.clock.sleep_until(end)
        if run.status == "PENDING":
            self.child_callbacks.update(run.pending_callbacks)
        elif run.status == "SUCCEEDED":
            state.resolve_invoke(rec, end, json.dumps(run.result), None)
        else:
            assert run.error_object is not None, "a FAILED run has its ErrorObject"
            state.resolve_invoke(rec, end, None, dict(run.error_object.to_dict()))

    def fail(
        self, error: BaseException, start: float, fields: dict[str, Any] | None = None
    ) -> DurableRun:
        """Record the execution's failure with `error`, as its wire `fields` (by default
        `error_fields` of it); a journal error is raised instead: the execution is left as it
        was."""
        if isinstance(error, _STOPS):
            raise error
        state = self.state
        fields = error_fields(error) if fields is None else fields
        state.journal.finish_execution(
            state.execution_id,
            "FAILED",
            None,
            fields,
            HistoryEntry("ExecutionFailed", self.clock.now_ms(), None, {"Error": fields}),
            self.lease(),
            parent=self.parent(),
        )
        state.metrics.elapsed_ms = self.clock.now_ms() - start
        return self.result("FAILED", error=error, error_object=ErrorObject.from_dict(fields))

    def result(
        self,
        status: Any,
        *,
        result: Any = None,
        error: BaseException | None = None,
        error_object: ErrorObject | None = None,
        pending: list[str] | None = None,
    ) -> DurableRun:
        state = self.state
        if state.keeper is not None:
            state.keeper.stop()
        return DurableRun(
            execution_id=state.execution_id,
            engine="sim",
            status=status,
            result=result,
            error=error,
            error_object=error_object,
            operations=functools.partial(operation_views, dict(state.operations)),
            metrics=state.metrics,
            pending_callbacks=pending or [],
            journal=state.journal,
        )


def _last_time(operations: dict[str, OperationRecord]) -> float:
    return max(max(op.start_ms or 0.0, op.end_ms or 0.0) for op in operations.values())


def _finished_run(execution: ExecutionRecord, journal: Journal) -> DurableRun:
    """An execution that already finished: return its outcome, run nothing (idempotent start;
    every counter of its metrics is 0)."""
    error = rebuild_error(execution.error) if execution.error else None
    error_object = ErrorObject.from_dict(execution.error) if execution.error else None
    return DurableRun(
        execution_id=execution.execution_id,
        engine="sim",
        status="SUCCEEDED" if execution.status == "SUCCEEDED" else "FAILED",
        result=json.loads(execution.result) if execution.result is not None else None,
        error=error,
        error_object=error_object,
        operations=functools.partial(operation_views, execution.operations),
        metrics=RunMetrics(),
        journal=journal,
    )


def _failed_invocations(history: list[HistoryEntry]) -> tuple[int, HistoryEntry | None]:
    """How many invocations at the end of `history` the handler failed in a row (their
    InvocationCompleted entries carry the error that escaped it), and the last of them (None if
    there is none). An invocation whose process died (`_PROCESS_ERRORS`) is passed over: it
    neither counts nor ends the run of failures."""
    failed, last = 0, None
    for entry in reversed(history):
        if entry.event_type != "InvocationCompleted":
            continue
        error = (entry.details or {}).get("Error")
        if not error:
            break
        if error.get("ErrorType") in _PROCESS_ERRORS:
            continue
        failed += 1
        last = last or entry
    return failed, last


def _invocation_began(history: list[HistoryEntry]) -> bool:
    """Whether `history`, ending with no work after its last InvocationCompleted (or its
    ExecutionStarted), shows an invocation begun since: the execution's first, the retry of an
    invocation the handler failed (not one a journal outage stopped: its holder wrote that
    entry as its last act), or one the service woke by a transition the handler can observe
    (any history event, or a step retry coming due; not a heartbeat)."""
    for entry in reversed(history):
        if entry.event_type == "ExecutionStarted":
            return True
        if entry.event_type == "InvocationCompleted":
            error = (entry.details or {}).get("Error") or {}
            return bool(error) and error.get("ErrorType") not in _STOPPED_BY_JOURNAL
        operation = entry.operation
        if entry.event_type is not None or (
            operation is not None and operation.type is OperationType.STEP
        ):
            return True
    return False


def _crashed_invocation_start(history: list[HistoryEntry]) -> float:
    """When the invocation that ended the history without completing started, as far as the
    history tells (ms): no earlier than the end of the invocation before it (or the execution's
    start; 5 s after it if the handler failed it, when its retry was due), nor than the service
    events recorded between that end and the invocation's first work (the timer or answer that
    woke it)."""
    last = max(
        i
        for i, entry in enumerate(history)
        if entry.event_type in ("InvocationCompleted", "ExecutionStarted")
    )
    began = history[last].at_ms
    error = (history[last].details or {}).get("Error") or {}
    if error and error.get("ErrorType") not in _PROCESS_ERRORS:
        began += INVOCATION_RETRY_MS
    for entry in history[last + 1 :]:
        if entry.event_type not in _SERVICE_EVENTS:
            break
        began = max(began, entry.at_ms)
    return began


def rebuild_error(fields: dict[str, Any]) -> BaseException:
    """The error an execution failed with, rebuilt from its journaled ``ErrorObject`` fields.

    The SDK keeps two things of an exception (``ErrorObject.from_exception``): its type's name
    and its ``str()`` as the message, plus ``data`` and ``stack_trace`` for its own operation
    errors. On replay it rebuilds a stand-in that keeps exactly these: a
    `DurableOperationError` whose ``str()`` is the message and whose ``error_type`` names the
    original type (``DurableOperationError.from_error_fields``; ``raise_as_operation_error``
    chains it as the cause of a failed step replayed). So does this function, with the original
    type where it can keep both: a builtin exception, one of the SDK's errors, or a class of a
    module this process has imported (the workflow's own), built by its class's ``__new__``
    (its own ``__init__`` may want other arguments) from arguments whose ``str()`` is the
    message: the message itself, or else the Python literal it prints (``KeyError`` prints its
    key's ``repr``: ``'k'`` is rebuilt as ``KeyError('k')``, not ``KeyError("'k'")``), or else
    no argument (an empty message). Any other error comes back as the SDK's stand-in: a type
    that cannot be found, one that cannot print its message from arguments (``ExceptionGroup``
    wants its sub-exceptions; ``UnicodeDecodeError`` prints five fields; a key whose ``repr``
    is no literal), or one whose constructor refuses them. So ``str()`` of the rebuilt error is
    always the journaled message, and its type is the original or the stand-in naming it."""
    error = ErrorObject.from_dict(fields)
    kind = _exception_class(error.type or "")
    message = error.message or ""
    if kind is not None:
        for args in _printing_args(message):
            with contextlib.suppress(Exception):  # a refusal: it cannot be rebuilt this way
                rebuilt = kind.__new__(kind, *args)
                BaseException.__init__(rebuilt, *args)
                if isinstance(rebuilt, DurableOperationError | SerDesError):
                    rebuilt.message, rebuilt.error_type = message, error.type or ""
                    rebuilt.data, rebuilt.stack_trace = error.data, error.stack_trace
                if str(rebuilt) == message:
                    return rebuilt
    return DurableOperationError(message, error.type, error.data, error.stack_trace)


def _printing_args(message: str) -> Iterator[tuple[object, ...]]:
    """Argument tuples an exception may have printed as `message`, the likeliest first."""
    yield (message,)
    if not message:
        yield ()
        return
    try:
        literal = ast.literal_eval(message)
    except Exception:  # not a literal (or too deep to parse)
        return
    yield (literal,)


def _exception_class(error_type: str) -> type[BaseException] | None:
    """The exception class a wire ErrorType names (``ValueError``, ``pkg.mod.Outer.Error``),
    looked up in builtins and in modules already imported; None if not found."""
    parts = error_type.split(".")
    found: object = None
    if len(parts) == 1:
        found = getattr(builtins, error_type, None)
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            found = module
            for name in parts[cut:]:
                found = getattr(found, name, None)
            break
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _order(op_id: str) -> tuple[int, ...]:
    return tuple(map(int, op_id.split(".")))


def operation_views(operations: dict[str, OperationRecord]) -> list[OperationView]:
    """Journal records as the caller sees them, in execution order (parents before children)."""
    view = OperationView.of
    return [view(operations[op_id]) for op_id in sorted(operations, key=_order)]
