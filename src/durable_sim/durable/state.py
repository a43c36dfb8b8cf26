"""The execution as the running invocation sees it, and the durable service's side of it.

`ExecutionState` holds the operations' latest records, applies the SDK's update actions (START,
SUCCEED, FAIL, RETRY) the way the service does, appends each transition to the journal's
history, and fires the service's timers (waits ending, retries becoming ready, callbacks timing
out, chained invokes completing). Operations talk to it through an `OperationIdentifier` (the
SDK's) and these actions only.

Checkpoints follow the SDK's batcher (``ExecutionState.checkpoint_batches_forever``): an
asynchronous update (the START of a step or a child context) waits for companions; a synchronous
update arriving meanwhile takes it along in one checkpoint call (one journal append, one charge
of the profile's checkpoint latency); otherwise the batch goes by itself once no update has
arrived for 100 ms or 1 s after it opened, in the background (no latency charged to the
workflow). A crash loses only what the batcher had not sent yet.

Checkpoint calls reach the journal in the order they are made: a call takes the waiting batch
and queues its append in one step under the state's lock (after its latency is charged), so a
branch's completion never overtakes an earlier call carrying that branch's START. Calls that
concurrent branches queue while a commit is in flight share the next durable commit (the
journal's group commit); each returns once its own append is durable. Every write is fenced by
the run's lease (`durable_sim.durable.lease`), and a journal error stops the invocation
without recording an outcome.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aws_durable_execution_sdk_python.exceptions import OrphanedChildException, ValidationError
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import (
    CallbackTimeoutType,
    ErrorObject,
    OperationStatus,
    OperationType,
)

from durable_sim.clock import Clock
from durable_sim.durable.codec import describe, payload_bytes
from durable_sim.durable.errors import (
    ERROR_OBJECT_LIMIT_BYTES,
    ErrorObjectTooLargeError,
    JournalError,
    OperationClosedError,
    ResponderError,
)
from durable_sim.durable.journal import HistoryEntry, Journal, OperationRecord
from durable_sim.durable.journal.records import encode_json
from durable_sim.durable.lease import HeldLease, LeaseKeeper
from durable_sim.durable.operation.common import check_error_fields
from durable_sim.durable.result import RunMetrics
from durable_sim.faults import FaultPlan
from durable_sim.latency import Sampler

STARTED = OperationStatus.STARTED
PENDING = OperationStatus.PENDING
READY = OperationStatus.READY
SUCCEEDED = OperationStatus.SUCCEEDED
FAILED = OperationStatus.FAILED
TIMED_OUT = OperationStatus.TIMED_OUT

# The service's own errors for a callback that timed out (the official runner's values).
CALLBACK_TIMEOUT = {
    "ErrorMessage": "Callback timed out",
    "ErrorType": CallbackTimeoutType.TIMEOUT.value,
}
CALLBACK_HEARTBEAT_TIMEOUT = {
    "ErrorMessage": "Callback timed out on heartbeat",
    "ErrorType": CallbackTimeoutType.HEARTBEAT.value,
}

# The SDK's batcher waits this long for the next update before sending what it holds
# (state._STOP_SIGNAL_POLL_SECONDS) and never holds a batch longer than the second
# (CheckpointBatcherConfig.max_batch_time_seconds).
BATCH_GAP_MS = 100.0
BATCH_SPAN_MS = 1000.0

# The history event of each transition, keyed by the enums' values (an enum member's own hash
# is Python code, and these are looked up at every checkpoint).
_STARTED_EVENT = {
    OperationType.STEP.value: "StepStarted",
    OperationType.CONTEXT.value: "ContextStarted",
    OperationType.WAIT.value: "WaitStarted",
    OperationType.CALLBACK.value: "CallbackStarted",
    OperationType.CHAINED_INVOKE.value: "ChainedInvokeStarted",
}
_END_EVENT = {
    (OperationType.STEP.value, SUCCEEDED.value): "StepSucceeded",
    (OperationType.STEP.value, FAILED.value): "StepFailed",
    (OperationType.CONTEXT.value, SUCCEEDED.value): "ContextSucceeded",
    (OperationType.CONTEXT.value, FAILED.value): "ContextFailed",
    (OperationType.WAIT.value, SUCCEEDED.value): "WaitSucceeded",
    (OperationType.CALLBACK.value, SUCCEEDED.value): "CallbackSucceeded",
    (OperationType.CALLBACK.value, FAILED.value): "CallbackFailed",
    (OperationType.CALLBACK.value, TIMED_OUT.value): "CallbackTimedOut",
    (OperationType.CHAINED_INVOKE.value, SUCCEEDED.value): "ChainedInvokeSucceeded",
    (OperationType.CHAINED_INVOKE.value, FAILED.value): "ChainedInvokeFailed",
}


class Suspend(BaseException):
    """Ends the current invocation: the execution waits for a timer (`due_ms`) or for the
    outside world (``None``: a callback, a chained invoke).

    A `BaseException` so that workflow code's ``except Exception`` cannot swallow it.
    """

    def __init__(self, due_ms: float | None = None) -> None:
        super().__init__(due_ms)
        self.due_ms = due_ms


@dataclass(frozen=True)
class CallbackAnswer:
    """What an external system does with a callback, `after_s` seconds after it was created.

    `kind` is ``"success"`` (with the `result` payload string), ``"failure"`` (with `error`,
    the SDK's ``ErrorObject`` fields) or ``"heartbeat"``.
    """

    kind: str
    after_s: float = 0.0
    result: str | None = None
    error: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in {"success", "failure", "heartbeat"}:
            raise ValueError(
                f"callback answer kind {self.kind!r} (accepted: 'success', 'failure', 'heartbeat')"
            )
        if not self.after_s >= 0:
            raise ValueError(f"callback answer after_s={self.after_s} (accepted: >= 0 seconds)")
        if self.kind == "failure" and self.error is not None:
            check_error_fields(self.error, "callback failure answer")


Responder = Callable[[str, OperationRecord], list[CallbackAnswer]]


def ask_responder(
    responder: Responder, callback_id: str, rec: OperationRecord
) -> list[CallbackAnswer] | tuple[CallbackAnswer, ...]:
    """The answers `responder` gives to the new callback `callback_id` (record `rec`).

    Raises `ResponderError` if it raises (chained to its error) or returns anything but a
    list (or tuple) of `CallbackAnswer`: the outside world's stand-in failed, not the workflow.
    """
    asked = f"the responder, asked about callback {callback_id!r},"
    try:
        answers = responder(callback_id, rec)
    except Exception as exc:
        raise ResponderError(
            f"{asked} raised a {type(exc).__name__} (chained below); nothing is recorded as "
            "the execution's outcome: fix the responder"
        ) from exc
    if not isinstance(answers, list | tuple):
        problem = f"a {type(answers).__name__}"
    else:
        strays = [answer for answer in answers if not isinstance(answer, CallbackAnswer)]
        problem = (
            f"a {type(answers).__name__} holding a {type(strays[0]).__name__}" if strays else ""
        )
    if problem:
        raise ResponderError(
            f"{asked} returned {problem} (accepted: a list of CallbackAnswer, possibly "
            "empty); nothing is recorded as the execution's outcome"
        )
    return answers


class ExecutionState:
    """One execution's operations, checkpoints, timers and metrics, as one invocation sees them."""

    def __init__(
        self,
        *,
        execution_id: str,
        arn: str,
        journal: Journal,
        operations: dict[str, OperationRecord],
        sampler: Sampler,
        faults: FaultPlan,
        metrics: RunMetrics,
        responder: Responder | None = None,
        keeper: HeldLease | LeaseKeeper | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.durable_execution_arn = arn
        self.journal = journal
        self.operations = operations
        self.sampler = sampler
        self.faults = faults
        self.metrics = metrics
        self.responder = responder
        self.keeper = keeper
        self.lock = threading.RLock()
        self.checkpoints_this_process = 0
        self.fatal: BaseException | None = None
        self.waiting_callbacks: set[str] = set()
        self.orphaned: set[str] = set()
        self.settled: set[str] = set()  # batch branches that ended, in any invocation so far
        self.pools: list[ThreadPoolExecutor] = []
        self._pending: list[HistoryEntry] = []
        self._pending_bytes = 0
        self.timers: dict[str, float] = {}
        self.answers: list[tuple[float, str, CallbackAnswer]] = []
        self._free = sampler.profile.zero_costs
        for rec in operations.values():
            self._track(rec)

    def charge(self, clock: Clock, cost: str, *key: object) -> None:
        """Charge the profile's `cost` for the occurrence `key` to `clock`."""
        if cost not in self._free:
            clock.charge(self.sampler.draw(cost, *key))

    # -- the journal, under the lease -----------------------------------------------------

    def append(self, entries: Sequence[HistoryEntry]) -> None:
        """Append `entries` to the journal (the service's own records, not a checkpoint call),
        fenced by this run's lease. A journal error stops the invocation (workflow code cannot
        catch it away)."""
        waiter, _ = self._send(list(entries), 0)
        try:
            waiter()
        except JournalError as exc:
            raise self.fail_execution(exc) from None

    def check_lease(self) -> None:
        """Before a step body runs: stop if this process may no longer hold the lease."""
        if self.keeper is not None:
            try:
                self.keeper.check()
            except JournalError as exc:
                raise self.fail_execution(exc) from None

    def adopt(self, record: OperationRecord) -> None:
        """Take an operation's record as the journal holds it (an outside party changed it)."""
        with self.lock:
            self.operations[record.id] = record
            self._track(record)

    # -- reading --------------------------------------------------------------------------

    def get(self, op_id: str) -> OperationRecord | None:
        return self.operations.get(op_id)

    def has_prior_operations(self) -> bool:
        """Whether an earlier invocation journaled any operation (this one then replays)."""
        return bool(self.operations)

    # -- the update actions -----------------------------------------------------------------

    def start(
        self, ident: OperationIdentifier, clock: Clock, *, sync: bool = True, **fields: Any
    ) -> OperationRecord:
        """START: create the operation (or start a step's next attempt).

        `fields` are record fields the action sets (e.g. ``due_ms`` of a wait, a callback's
        ``callback_id`` and deadlines); ``details`` goes to the history entry only.
        """
        details = fields.pop("details", None)
        prev = self.operations.get(ident.operation_id)
        attempt = fields.pop("attempt", prev.attempt if prev is not None else 0)
        return self._checkpoint(
            ident,
            clock,
            STARTED,
            _STARTED_EVENT[ident.operation_type._value_],
            sync=sync,
            details=details,
            attempt=attempt,
            **fields,
        )

    def succeed(
        self,
        ident: OperationIdentifier,
        clock: Clock,
        payload: str | None,
        *,
        replay_children: bool = False,
        details: dict[str, Any] | None = None,
    ) -> OperationRecord:
        """SUCCEED with the serialized `payload` (already size-checked by the caller)."""
        return self._checkpoint(
            ident,
            clock,
            SUCCEEDED,
            _END_EVENT[(ident.operation_type._value_, SUCCEEDED._value_)],
            result=payload,
            replay_children=replay_children,
            payload=payload,
            details=details,
        )

    def fail(
        self, ident: OperationIdentifier, clock: Clock, error: dict[str, Any]
    ) -> OperationRecord:
        """FAIL with the SDK's ``ErrorObject`` fields (`check_error_size`)."""
        self.check_error_size(ident, error)
        return self._checkpoint(
            ident,
            clock,
            FAILED,
            _END_EVENT[(ident.operation_type._value_, FAILED._value_)],
            error=error,
        )

    def retry(
        self,
        ident: OperationIdentifier,
        clock: Clock,
        delay_s: float,
        *,
        error: dict[str, Any] | None = None,
        payload: str | None = None,
    ) -> OperationRecord:
        """RETRY: the step (or wait-for-condition poll) runs again after `delay_s` seconds.

        With an error it is AWS's StepFailed event; without one (a condition poll that keeps
        waiting, carrying its state as `payload`) a StepSucceeded event.
        """
        event = "StepFailed" if error is not None else "StepSucceeded"
        if error is not None:
            self.check_error_size(ident, error)
        return self._checkpoint(
            ident,
            clock,
            PENDING,
            event,
            error=error,
            result=payload if payload is not None else self.operations[ident.operation_id].result,
            payload=payload,
            due_in_s=delay_s,
            details={"NextAttemptDelaySeconds": delay_s},
        )

    def check_error_size(self, ident: OperationIdentifier, error: dict[str, Any]) -> None:
        """Raise a terminal `ErrorObjectTooLargeError` (remembered as the run's fatal error)
        if the error object `error` is longer than AWS accepts in a checkpoint; nothing is
        written then."""
        size = len(json.dumps(ErrorObject.from_dict(error).to_dict()))
        if size > ERROR_OBJECT_LIMIT_BYTES:
            raise self.fail_execution(
                ErrorObjectTooLargeError(ident.operation_id, describe(ident), size)
            )

    def _checkpoint(
        self,
        ident: OperationIdentifier,
        clock: Clock,
        status: OperationStatus,
        event: str,
        *,
        sync: bool = True,
        details: dict[str, Any] | None = None,
        payload: str | None = None,
        due_in_s: float | None = None,
        heartbeat_in_s: float | None = None,
        **fields: Any,
    ) -> OperationRecord:
        op_id = ident.operation_id
        prev = self.operations.get(op_id)
        if sync:
            # Nothing waiting, no lock: an update queued by another thread just after this read
            # goes with the next call, as it would had it been queued just after the lock.
            if self._pending:
                with self.lock:
                    due = self._due(clock.now_ms())
                self._finish(due)
            if "checkpoint" not in self._free:
                attempt = fields.get("attempt", prev.attempt if prev is not None else 0)
                clock.charge(self.sampler.draw("checkpoint", op_id, status._value_, attempt))
        if self.orphaned and self._is_orphan(op_id):
            raise OrphanedChildException(
                "the map/parallel that ran this branch completed; its checkpoint is dropped",
                operation_id=op_id,
            )
        if due_in_s is not None:
            check_seconds(due_in_s, f"{describe(ident)}: due in")
        if heartbeat_in_s is not None:
            check_seconds(heartbeat_in_s, f"{describe(ident)}: heartbeat due in")
        at = clock.now_ms()
        if status is SUCCEEDED or status is FAILED:
            fields["end_ms"] = at
            fields["due_ms"] = fields["heartbeat_due_ms"] = None
        else:
            if due_in_s is not None:
                fields["due_ms"] = at + due_in_s * 1000.0
            if heartbeat_in_s is not None:
                fields["heartbeat_due_ms"] = at + heartbeat_in_s * 1000.0
        if prev is None:
            record = OperationRecord(
                op_id,
                ident.parent_id,
                ident.operation_type,
                ident.sub_type,
                ident.name,
                status,
                start_ms=at,
                **fields,
            )
        else:
            record = prev.evolve(status=status, **fields)
        size = payload_bytes(payload)
        if fields.get("error") is not None:  # the error this update writes, not an earlier one
            size += payload_bytes(encode_json(fields["error"]))
        entry = HistoryEntry(event, at, record, details)
        with self.lock:  # taken and queued at one moment: the journal keeps the calls' order
            self.operations[op_id] = record
            self._track(record)
            if not sync:
                sent = self._due(at)
                self._pending.append(entry)
                self._pending_bytes += size
            else:
                taken, self._pending = self._pending, []
                taken_bytes, self._pending_bytes = self._pending_bytes, 0
                sent = self._send([*taken, entry], taken_bytes + size)
        self._finish(sent)
        return record

    def _send(self, batch: list[HistoryEntry], size: int) -> tuple[Callable[[], None], int]:
        """Queue one checkpoint call's append behind the earlier ones (under the lock, so the
        journal gets them in the order they were made; concurrent ones may share a durable
        commit); returns its waiter and payload bytes."""
        lease = self.keeper.lease if self.keeper is not None else None
        try:
            return self.journal.begin_append(self.execution_id, batch, lease), size
        except JournalError as exc:
            raise self.fail_execution(exc) from None

    def _finish(self, sent: tuple[Callable[[], None], int] | None) -> None:
        """Wait until a queued checkpoint call is durable, count it, and let the fault plan
        crash after it."""
        if sent is None:
            return
        waiter, size = sent
        try:
            waiter()
        except JournalError as exc:
            raise self.fail_execution(exc) from None
        with self.lock:
            self._count_checkpoint(size)
            count = self.checkpoints_this_process
        self.faults.after_checkpoint(count)

    def _due(self, now_ms: float) -> tuple[Callable[[], None], int] | None:
        """Queue the waiting batch if the SDK's batcher would have sent it by `now_ms`."""
        if not self._pending:
            return None
        first, last = self._pending[0].at_ms, self._pending[-1].at_ms
        if min(last + BATCH_GAP_MS, first + BATCH_SPAN_MS) > now_ms:
            return None
        batch, self._pending = self._pending, []
        size, self._pending_bytes = self._pending_bytes, 0
        return self._send(batch, size)

    def settle(self, now_ms: float) -> None:
        """Write what the batcher would have sent by `now_ms` (before a crash takes the rest)."""
        with self.lock:
            sent = self._due(now_ms)
        self._finish(sent)

    def _count_checkpoint(self, size: int) -> None:
        self.metrics.checkpoint_ops += 1  # type: ignore[operator]
        self.metrics.checkpoint_bytes += size  # type: ignore[operator]
        self.checkpoints_this_process += 1

    def flush(self, clock: Clock) -> None:
        """Send the waiting batch (the SDK does before an invocation returns, and waits)."""
        self.settle(clock.now_ms())
        if not self._pending:
            return
        self.charge(clock, "checkpoint", "flush", len(self._pending))
        with self.lock:
            batch, self._pending = self._pending, []
            size, self._pending_bytes = self._pending_bytes, 0
            sent = self._send(batch, size) if batch else None
        self._finish(sent)

    def refresh(self, clock: Clock, key: object) -> None:
        """An empty checkpoint call that fetches the service's state (the SDK's in-process
        resume of branches whose wait or retry came due): one call, no bytes."""
        self.charge(clock, "checkpoint", "refresh", key)
        with self.lock:
            self._count_checkpoint(0)

    # -- orphans, engine errors, metrics ---------------------------------------------------

    def orphan(self, op_id: str) -> None:
        """Drop every later checkpoint of operation `op_id` and of everything inside it (a
        branch still running when its map/parallel completed)."""
        with self.lock:
            self.orphaned.add(op_id)

    def _is_orphan(self, op_id: str) -> bool:
        prefix = op_id
        while True:
            if prefix in self.orphaned:
                return True
            prefix, dot, _ = prefix.rpartition(".")
            if not dot:
                return False

    def fail_execution(self, error: BaseException) -> BaseException:
        """Remember a terminal engine error, so workflow code cannot swallow it."""
        with self.lock:
            if self.fatal is None:
                self.fatal = error
        return error

    def count(self, metric: str, n: int = 1) -> None:
        with self.lock:
            setattr(self.metrics, metric, getattr(self.metrics, metric) + n)

    def count_step(self, replayed: bool) -> None:
        """One more step executed (or returned from the journal)."""
        with self.lock:
            if replayed:
                self.metrics.steps_replayed += 1  # type: ignore[operator]
            else:
                self.metrics.steps_executed += 1  # type: ignore[operator]

    # -- the service's timers -----------------------------------------------------------------

    def resolve_invoke(
        self,
        rec: OperationRecord,
        end_ms: float,
        result: str | None,
        error: dict[str, Any] | None,
    ) -> None:
        """The invoked execution of chained invoke `rec` ended at `end_ms`: the operation
        completes then, with its result or error."""
        resolved = rec.evolve(due_ms=end_ms, result=result, error=error)
        with self.lock:
            self.operations[rec.id] = resolved
            self._track(resolved)
            self.append([HistoryEntry(None, end_ms, resolved)])

    def _track(self, rec: OperationRecord) -> None:
        due = rec.due_ms
        if rec.heartbeat_due_ms is not None:
            due = rec.heartbeat_due_ms if due is None else min(due, rec.heartbeat_due_ms)
        if due is None or rec.terminal or rec.status is READY:
            self.timers.pop(rec.id, None)
        else:
            self.timers[rec.id] = due

    def next_due(self, *, callbacks: bool = True) -> float | None:
        """The earliest time the service will act by itself: a timer or a scheduled callback
        answer. Callback deadlines count only with `callbacks` (a wall-clock run stops
        PENDING instead of sleeping until a callback times out)."""
        dues = [
            due
            for op_id, due in self.timers.items()
            if callbacks or self.operations[op_id].type is not OperationType.CALLBACK
        ]
        dues += [at for at, _, _ in self.answers]
        return min(dues) if dues else None

    def schedule_answers(self, rec: OperationRecord) -> None:
        """Ask the responder (if any) how the outside world answers a new callback.

        Raises `ResponderError` (remembered as the run's fatal error, so workflow code cannot
        swallow it) if the responder raises or returns anything but a list of
        `CallbackAnswer`."""
        if self.responder is None or rec.callback_id is None or rec.start_ms is None:
            return
        try:
            answers = ask_responder(self.responder, rec.callback_id, rec)
        except ResponderError as exc:
            raise self.fail_execution(exc) from exc.__cause__
        for answer in answers:
            self.answers.append((rec.start_ms + answer.after_s * 1000.0, rec.id, answer))
        self.answers.sort(key=lambda item: (item[0], item[1]))

    def fire_due(self, now_ms: float) -> bool:
        """Apply every service-side transition due by `now_ms`, in time order, each at its own
        time: waits end, retries get ready, callbacks get answered or time out, chained invokes
        complete. Returns whether any of them is one the handler can observe (anything but a
        heartbeat)."""
        events: list[tuple[float, str, str, CallbackAnswer | None]] = []
        for op_id, due in self.timers.items():
            if due <= now_ms:
                events.append((due, op_id, "timer", None))
        for at, op_id, scheduled in self.answers:
            if at <= now_ms:
                events.append((at, op_id, scheduled.kind, scheduled))
        if not events:
            return False
        self.answers = [item for item in self.answers if item[0] > now_ms]
        events.sort(key=lambda e: (e[0], e[1], e[2] != "timer"))
        entries: list[HistoryEntry] = []
        with self.lock:
            for at, op_id, _, answer in events:
                rec = self.operations[op_id]
                if rec.terminal:
                    continue
                entry = (
                    answer_callback(rec, at, answer) if answer is not None else self._timer(rec, at)
                )
                if entry is not None and entry.operation is not None:
                    self.operations[op_id] = entry.operation
                    self._track(entry.operation)
                    entries.append(entry)
            entries, adopted = self._apply(entries)
        return adopted or any(
            entry.event_type is not None or entry.operation.type is OperationType.STEP
            for entry in entries
            if entry.operation is not None
        )

    def _apply(self, entries: list[HistoryEntry]) -> tuple[list[HistoryEntry], bool]:
        """Append the service's transitions `entries` (already taken as the records).

        An outside party may have ended one of these operations meanwhile (a callback answered
        while its timeout came due): the journal refuses to replace that terminal record, so
        the journal's record is taken instead and the rest appended. Returns the entries
        appended, and whether a record was taken from the journal.
        """
        adopted = False
        while entries:
            try:
                self.append(entries)
            except OperationClosedError as closed:
                with self.lock:  # not the run's failure: the journal's record wins
                    if self.fatal is closed:
                        self.fatal = None
                for op_id in closed.op_ids:
                    stored = self.journal.get_operation(self.execution_id, op_id)
                    if stored is not None:
                        self.adopt(stored)
                        adopted = True
                ended = set(closed.op_ids)
                entries = [e for e in entries if e.operation is None or e.operation.id not in ended]
                continue
            break
        return entries, adopted

    def _timer(self, rec: OperationRecord, at: float) -> HistoryEntry | None:
        """The transition a due timer makes, or None if it is not due (a moved heartbeat)."""
        if rec.type is OperationType.WAIT:
            done = rec.evolve(status=SUCCEEDED, end_ms=rec.due_ms, due_ms=None)
            return HistoryEntry("WaitSucceeded", at, done)
        if rec.type is OperationType.STEP:
            return HistoryEntry(None, at, rec.evolve(status=READY, due_ms=None))
        if rec.type is OperationType.CALLBACK:
            heartbeat = rec.heartbeat_due_ms is not None and rec.heartbeat_due_ms <= at
            timeout = rec.due_ms is not None and rec.due_ms <= at
            if not (heartbeat or timeout):
                return None
            error = CALLBACK_TIMEOUT if timeout else CALLBACK_HEARTBEAT_TIMEOUT
            done = rec.evolve(
                status=TIMED_OUT, error=dict(error), end_ms=at, due_ms=None, heartbeat_due_ms=None
            )
            return HistoryEntry("CallbackTimedOut", at, done)
        if rec.type is OperationType.CHAINED_INVOKE:
            status = FAILED if rec.error is not None else SUCCEEDED
            done = rec.evolve(status=status, end_ms=at, due_ms=None)
            return HistoryEntry(_END_EVENT[(rec.type._value_, status._value_)], at, done)
        return None


def check_seconds(seconds: float, what: str) -> float:
    """`seconds` if it is a finite number >= 0; the SDK's ValidationError naming it otherwise
    (a Duration of ``inf`` or ``nan`` would end the virtual clock at infinity, or overflow a
    real sleep)."""
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
        raise ValidationError(
            f"{what} {seconds!r} s (accepted: a finite number of seconds >= 0, e.g. "
            "Duration.from_seconds(30))"
        )
    return seconds


def answer_callback(rec: OperationRecord, at: float, answer: CallbackAnswer) -> HistoryEntry:
    """The transition an external system's answer makes to a started callback at time `at`."""
    if answer.kind == "heartbeat":
        due = at + rec.heartbeat_timeout_s * 1000.0 if rec.heartbeat_timeout_s else None
        return HistoryEntry(None, at, rec.evolve(heartbeat_due_ms=due))
    if answer.kind == "success":
        done = rec.evolve(
            status=SUCCEEDED, result=answer.result, end_ms=at, due_ms=None, heartbeat_due_ms=None
        )
        return HistoryEntry("CallbackSucceeded", at, done)
    done = rec.evolve(
        status=FAILED, error=answer.error or {}, end_ms=at, due_ms=None, heartbeat_due_ms=None
    )
    return HistoryEntry("CallbackFailed", at, done)
