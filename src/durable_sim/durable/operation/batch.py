"""``map`` and ``parallel``: fan out branches as child contexts, fan in a ``BatchResult``.

The rules are the SDK's own (``concurrency/executor.py``), with its `CompletionPolicy`:

- branches start in index order while fewer than ``max_concurrency`` are in flight; a branch that
  suspends (a wait, a retry, a callback, a chained invoke) keeps its slot until it ends;
- the completion criterion is checked after every branch event, and the batch completes at the
  moment it fires: the completion reason is the one of that moment (a ``should_complete`` check
  sees every item's state, and is consulted before the first branch starts); branches not yet
  started are left out of the result, branches still running are reported STARTED and their
  later checkpoints are dropped (orphans), branches that ended at that same instant keep their
  outcome;
- a branch suspended until a time resumes in the same invocation when its time comes while
  other branches still run (after one empty checkpoint call that fetches the service's state);
  when every branch in flight is suspended, the batch (and the invocation) suspends;
- each branch's result goes through ``item_serdes`` (else ``serdes``), the batch's through
  ``serdes``; a batch result over the checkpoint limit is stored as the SDK's summary envelope
  with ``ReplayChildren``, and replay rebuilds it from the recorded completion decision.

On a virtual clock the branches are coroutines on the virtual timeline
(`durable_sim.durable.scheduler`): each event happens at its virtual time, deterministically.
Each branch has one clock for the batch's run in an invocation, forked from the coordinator's
when the batch starts, so a branch's time is attributed as any timeline's
(`durable_sim.attribution`): a branch started later waits for a ``max_concurrency`` slot
(``queueing``); a branch resumed in-process waited for its timer (unlabelled: a durable timer)
and then for the refresh call (``checkpoint``); the coordinator's own waits (``join``) each end
when a branch's event ends them. On the wall clock they run on a thread pool, as the
SDK's do.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import queue
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import greenlet
from aws_durable_execution_sdk_python.concurrency.models import (
    BatchItem,
    BatchResult,
    CompletionPolicy,
    CompletionReason,
    CompletionRecord,
    envelope_summary_generator,
)
from aws_durable_execution_sdk_python.config import (
    BatchItemStatus,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    NestingType,
)
from aws_durable_execution_sdk_python.exceptions import (
    DurableOperationError,
    OrphanedChildException,
    ValidationError,
)
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import (
    ErrorObject,
    OperationStatus,
    OperationType,
)
from aws_durable_execution_sdk_python.serdes import SerDes
from aws_durable_execution_sdk_python.types import SummaryGenerator

from durable_sim.attribution import JOIN
from durable_sim.clock import Clock, VirtualClock
from durable_sim.collector import collector_paused
from durable_sim.durable.errors import NonDeterminismError
from durable_sim.durable.operation.child import run_child
from durable_sim.durable.operation.common import error_fields, retries_invocation
from durable_sim.durable.scheduler import YIELD, Task, TaskClock
from durable_sim.durable.state import Suspend
from durable_sim.machine import QUEUEING

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext
    from durable_sim.durable.journal import OperationRecord


@dataclass(frozen=True)
class Branch:
    """One branch: its index, its name in the history, and its body."""

    index: int
    name: str | None
    func: Callable[[DurableContext], Any]


#: What a branch resumed in-process waits for after its timer: the coordinator's refresh call
#: (a sleep label; the profile's checkpoint cost, `durable_sim.attribution.COMPONENT_OF`).
REFRESH = "checkpoint"

# Branch states, as the SDK's coordinator tracks them.
_PENDING, _RUNNING, _SUSPENDED, _DONE, _FAILED = "pending", "running", "suspended", "done", "failed"


@dataclass
class _Outcome:
    """How one run of a branch ended."""

    kind: str  # "completed", "failed", "suspended", "orphaned", "fatal"
    value: Any = None
    error: BaseException | None = None
    resume_at: float | None = None  # for a suspension until a time


def run_batch(
    ctx: DurableContext,
    ident: OperationIdentifier,
    branches: Sequence[Branch],
    *,
    item_sub_type: str,
    result_type: str,
    max_concurrency: int | None,
    completion: CompletionConfig | None,
    serdes: SerDes[Any] | None,
    item_serdes: SerDes[Any] | None,
    summary_generator: SummaryGenerator | None,
    nesting: NestingType,
) -> BatchResult[Any]:
    """Run `branches` as the map/parallel operation `ident` (a CONTEXT) and return its result."""
    if max_concurrency is not None and max_concurrency < 1:
        raise ValidationError(
            f"max_concurrency must be at least 1 (or None for no limit), got {max_concurrency}"
        )
    batch = _Batch(
        ctx,
        ident,
        branches,
        item_sub_type,
        max_concurrency,
        completion,
        item_serdes or serdes,
        nesting,
    )
    return run_child(
        ctx,
        ident,
        batch.body,
        serdes=serdes,
        summary=envelope_summary_generator(result_type, summary_generator),
    )


class _Batch:
    """One map/parallel: its branches' states, the completion policy, and the coordinators."""

    def __init__(
        self,
        ctx: DurableContext,
        ident: OperationIdentifier,
        branches: Sequence[Branch],
        item_sub_type: str,
        max_concurrency: int | None,
        completion: CompletionConfig | None,
        item_serdes: SerDes[Any] | None,
        nesting: NestingType,
    ) -> None:
        self.state = ctx.state
        self.ident = ident
        self.branches = list(branches)
        self.item_sub_type = item_sub_type
        self.max_in_flight = max_concurrency or len(branches)
        self.completion = completion
        self.policy = CompletionPolicy.from_config(len(branches), completion)
        self.item_serdes = item_serdes
        self.flat = nesting is NestingType.FLAT
        self.status = [_PENDING] * len(branches)
        self.results: list[Any] = [None] * len(branches)
        self.errors: list[BaseException | None] = [None] * len(branches)
        self.succeeded = 0
        self.failed = 0
        self.decision: CompletionDecision | None = None
        self.snapshot: tuple[CompletionItemStatus, ...] = ()
        # The last branch error that retries the invocation (`retries_invocation`): the branch
        # is FAILED like any other, and the error is raised once the batch has completed.
        self.retry_error: BaseException | None = None

    # -- one branch ---------------------------------------------------------------------

    def branch_id(self, index: int) -> str:
        return f"{self.ident.operation_id}.{index + 1}"

    def branch_ident(self, batch_ctx: DurableContext, index: int) -> OperationIdentifier:
        return batch_ctx._identify(
            OperationType.CONTEXT,
            self.item_sub_type,
            self.branches[index].name,
            self.branch_id(index),
        )

    def run_branch(self, batch_ctx: DurableContext, index: int, clock: Clock) -> _Outcome:
        """Run branch `index` once (first run, replay or resume) and report how it ended."""
        state = self.state
        try:
            value = run_child(
                batch_ctx,
                self.branch_ident(batch_ctx, index),
                self.branches[index].func,
                serdes=self.item_serdes,
                is_virtual=self.flat,
                clock=clock,
                branch=True,
            )
        except Suspend as suspend:
            return _Outcome("suspended", resume_at=suspend.due_ms)
        except OrphanedChildException:
            return _Outcome("orphaned")
        except greenlet.GreenletExit:
            raise
        except Exception as exc:
            if state.fatal is not None:
                return _Outcome("fatal", error=state.fatal)
            return _Outcome("failed", error=exc)
        except BaseException as exc:  # a simulated crash, an interpreter exit
            return _Outcome("fatal", error=exc)
        return _Outcome("completed", value=value)

    # -- the coordinator ------------------------------------------------------------------

    def body(self, batch_ctx: DurableContext) -> BatchResult[Any]:
        rec = self.state.get(self.ident.operation_id)
        if rec is not None and rec.status is OperationStatus.SUCCEEDED:  # ReplayChildren
            return self.replay(batch_ctx, rec.result)
        if not self.branches:
            return BatchResult([], self.policy.reason(0, 0))
        if batch_ctx.clock.virtual:
            with collector_paused():
                reason = self.run_virtual(batch_ctx)
        else:
            reason = self.run_threaded(batch_ctx)
        if self.retry_error is not None:
            raise self.retry_error
        return BatchResult(self.items(), reason)

    def refresh(self) -> None:
        """Re-evaluate the completion check after a change of branch states."""
        if self.policy.should_complete is not None:
            self.snapshot = tuple(
                CompletionItemStatus(index=b.index, name=b.name, status=_ITEM_STATUS[s])
                for b, s in zip(self.branches, self.status, strict=True)
            )
        self.decision = self.policy.evaluate(self.succeeded, self.failed, self.snapshot)

    def complete(self) -> bool:
        return self.policy.is_complete(
            self.succeeded, self.failed, self.snapshot, self.decision
        ) or not self.policy.should_continue(self.failed)

    def apply(self, index: int, outcome: _Outcome, *, count: bool = True) -> None:
        """Record a branch's terminal outcome; `count` is False for raced events."""
        self.state.settled.add(self.branch_id(index))
        if outcome.kind == "completed":
            self.status[index], self.results[index] = _DONE, outcome.value
            self.succeeded += count
        else:
            self.status[index], self.errors[index] = _FAILED, outcome.error
            self.failed += count
            if outcome.error is not None and retries_invocation(outcome.error):
                self.retry_error = outcome.error

    def reason(self) -> CompletionReason:
        return self.policy.reason(self.succeeded, self.failed, self.snapshot, self.decision)

    def items(self) -> list[BatchItem[Any]]:
        items: list[BatchItem[Any]] = []
        for index, status in enumerate(self.status):
            if status == _DONE:
                items.append(BatchItem(index, BatchItemStatus.SUCCEEDED, self.results[index]))
            elif status == _FAILED:
                error = self.errors[index]
                assert error is not None
                items.append(BatchItem(index, BatchItemStatus.FAILED, error=_error_object(error)))
            elif status != _PENDING:
                items.append(BatchItem(index, BatchItemStatus.STARTED))
        return items

    def run_virtual(self, batch_ctx: DurableContext) -> CompletionReason:
        """The SDK's coordinator loop as a discrete-event simulation on the virtual clock."""
        clock = batch_ctx.clock
        started_at = clock.now_ms()
        clocks: dict[int, TaskClock] = {}  # each branch's timeline, from `started_at`
        pending = deque(range(len(self.branches)))
        # (time, rank, index, tiebreak, task): at equal times a branch that already ended in an
        # earlier invocation (rank 0: it only replays, with no call to the service) reports
        # before new work; then branches go in index order.
        ready: list[tuple[float, int, int, int, Task]] = []
        order = itertools.count()
        waves: dict[float, list[int]] = {}
        in_flight = running = 0
        settled = self.state.settled
        # Without a completion check of the user's, whether the batch is complete changes only
        # with the counts (`changed`); a check of the user's is asked at every turn, as before.
        asks_user = self.policy.should_complete is not None
        # A branch whose time moved may run on without yielding while the loop below would
        # resume it next at once: no check of the user's to ask at that turn, and a
        # coordinator whose own clock never yields (not itself a branch of a batch).
        turns_kept = (
            not asks_user
            and isinstance(clock, VirtualClock)
            and type(clock)._moved is VirtualClock._moved
        )
        looping = True

        def keeps_turn(rank: int, index: int, now: float) -> bool:
            """Whether branch `index` (of `rank`), its time just moved to `now`, is the loop's
            next turn at once: it would come first in `ready`, and no wave of resumptions is
            due by then. The coordinator's clock then waits until `now`, as the loop does."""
            if not looping:
                return False
            if ready:
                head = ready[0]
                if now > head[0] or (now == head[0] and (rank, index) > (head[1], head[2])):
                    return False
            if waves and min(waves) <= now:
                return False
            clock.sleep_until(now, JOIN)
            return True

        def launch(index: int, waited: str | None) -> None:
            """Start branch `index` now; its clock waited for this since it last moved."""
            self.status[index] = _RUNNING
            branch_clock = clocks.get(index)
            if branch_clock is None:
                branch_clock = clocks[index] = TaskClock(clock, started_at)
            branch_clock.catch_up(clock.now_ms(), waited)
            task = Task(branch_clock, self.run_branch, batch_ctx, index)
            rank = 0 if self.branch_id(index) in settled else 1
            if turns_kept:
                branch_clock.keeps_turn = functools.partial(keeps_turn, rank, index)
            heapq.heappush(ready, (task.now_ms, rank, index, next(order), task))

        try:
            changed = done = True
            while True:
                if changed:
                    self.refresh()
                    changed = False
                    done = self.complete()
                elif asks_user:
                    done = self.complete()
                if done:
                    break
                while (
                    pending
                    and in_flight < self.max_in_flight
                    and self.policy.should_continue(self.failed)
                ):
                    launch(pending.popleft(), QUEUEING)  # a max_concurrency slot
                    in_flight += 1
                    running += 1
                    changed = True
                if running == 0:
                    raise Suspend(min(waves) if waves else None)
                wave_at = min(waves) if waves else None
                if wave_at is not None and wave_at <= ready[0][0]:
                    clock.sleep_until(wave_at, JOIN)
                    self.state.refresh(clock, (self.ident.operation_id, wave_at))
                    self.state.fire_due(clock.now_ms())
                    for index in sorted(waves.pop(wave_at)):
                        clocks[index].catch_up(wave_at, None)  # its timer
                        launch(index, REFRESH)
                        running += 1
                    continue
                at, rank, index, _, task = heapq.heappop(ready)
                clock.sleep_until(at, JOIN)
                result = task.resume()
                if result is YIELD:
                    heapq.heappush(ready, (task.now_ms, rank, index, next(order), task))
                    continue
                outcome: _Outcome = result
                running -= 1
                changed = True
                if outcome.kind == "fatal":
                    assert outcome.error is not None
                    raise outcome.error
                if outcome.kind == "suspended":
                    self.status[index] = _SUSPENDED
                    if outcome.resume_at is not None:
                        waves.setdefault(outcome.resume_at, []).append(index)
                    continue
                in_flight -= 1
                self.apply(index, outcome)
            looping = False
            reason = self.reason()
            # Branches that end at the instant the batch completed keep their outcome.
            now = clock.now_ms()
            later: list[tuple[float, int, int, int, Task]] = []
            while ready and ready[0][0] <= now:
                item = heapq.heappop(ready)
                result = item[4].resume()
                if result is YIELD:
                    later.append(item)
                else:
                    self._raced(item[2], result)
            # The rest are orphans: they run on to their next checkpoint, which is dropped.
            ready[:] = sorted(later + ready, key=lambda item: item[2])
            for _, _, index, _, task in list(ready):
                self.state.orphan(self.branch_id(index))
                task.clock.free = True
                result = task.resume()
                if result.kind == "fatal":
                    raise result.error
                self.status[index] = _RUNNING  # it ended after the decision: STARTED
            return reason
        finally:
            looping = False
            for *_, task in ready:
                task.kill()

    def _raced(self, index: int, outcome: _Outcome) -> None:
        """A branch event after the decision: it updates the item, never the reason."""
        if outcome.kind == "fatal":
            assert outcome.error is not None
            raise outcome.error
        if outcome.kind in ("completed", "failed"):
            self.apply(index, outcome, count=False)
        elif outcome.kind == "suspended":
            self.status[index] = _SUSPENDED

    def run_threaded(self, batch_ctx: DurableContext) -> CompletionReason:
        """The SDK's coordinator loop with branches on a thread pool (wall clock)."""
        clock = batch_ctx.clock
        state = self.state
        events: queue.Queue[tuple[int, _Outcome]] = queue.Queue()
        pending = deque(range(len(self.branches)))
        waves: dict[float, list[int]] = {}
        in_flight = running = 0
        pool = ThreadPoolExecutor(
            max_workers=self.max_in_flight, thread_name_prefix="durable-branch"
        )
        state.pools.append(pool)

        def work(index: int) -> None:
            events.put((index, self.run_branch(batch_ctx, index, clock)))

        def submit(index: int) -> None:
            self.status[index] = _RUNNING
            pool.submit(work, index)

        try:
            changed = True
            while True:
                if changed:
                    self.refresh()
                    changed = False
                if self.complete():
                    break
                while (
                    pending
                    and in_flight < self.max_in_flight
                    and self.policy.should_continue(self.failed)
                ):
                    submit(pending.popleft())
                    in_flight += 1
                    running += 1
                    changed = True
                now = clock.now_ms()
                due = sorted(t for t in waves if t <= now)
                for wave_at in due:
                    state.refresh(clock, (self.ident.operation_id, wave_at))
                    state.fire_due(clock.now_ms())
                    for index in sorted(waves.pop(wave_at)):
                        submit(index)
                        running += 1
                if due:
                    continue
                if running == 0:
                    raise Suspend(min(waves) if waves else None)
                timeout = (min(waves) - now) / 1000.0 if waves else None
                try:
                    index, outcome = events.get(timeout=timeout)
                except queue.Empty:
                    continue
                running -= 1
                changed = True
                if outcome.kind == "fatal":
                    assert outcome.error is not None
                    raise outcome.error
                if outcome.kind == "suspended":
                    self.status[index] = _SUSPENDED
                    if outcome.resume_at is not None:
                        waves.setdefault(outcome.resume_at, []).append(index)
                    continue
                in_flight -= 1
                self.apply(index, outcome)
            reason = self.reason()
            for index, status in enumerate(self.status):
                if status == _RUNNING:
                    state.orphan(self.branch_id(index))
            while True:  # terminal events that raced the decision keep their outcome
                try:
                    index, outcome = events.get_nowait()
                except queue.Empty:
                    break
                self._raced(index, outcome)
            return reason
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- replay of a ReplayChildren batch ---------------------------------------------------

    def replay(self, batch_ctx: DurableContext, summary: str | None) -> BatchResult[Any]:
        """Rebuild a result too large to store (the SDK's ``ConcurrentExecutor.replay``).

        With the completion decision recorded in `summary`: the branches it started, in index
        order; those recorded STARTED are reported STARTED without running, the others are
        re-derived from their own checkpoints (`_replay_terminal`); the reason is the recorded
        one. Without a record (a summary written before the SDK recorded decisions, the SDK's
        ``_replay_from_checkpoints``): every branch, each from its own checkpoint: SUCCEEDED
        and FAILED ones as terminal, any other (still running, never started, or FLAT, which
        journals no checkpoint of its own) STARTED without running; the reason is inferred
        from the items and the completion config (``BatchResult.from_items``)."""
        record = CompletionRecord.from_summary_payload(summary)
        items: list[BatchItem[Any]] = []
        if record is None:
            for index in range(len(self.branches)):
                rec = self._branch_record(batch_ctx, index)
                if rec is not None and rec.terminal:
                    items.append(self._replay_terminal(batch_ctx, index))
                else:
                    items.append(BatchItem(index, BatchItemStatus.STARTED))
            return BatchResult.from_items(items, self.completion)
        for index in range(min(record.started_total, len(self.branches))):
            if index in record.started_indexes:
                self._branch_record(batch_ctx, index)
                items.append(BatchItem(index, BatchItemStatus.STARTED))
                continue
            rec = self._branch_record(batch_ctx, index)
            if not self.flat and (rec is None or not rec.terminal):
                found = "no checkpoint" if rec is None else f"status {rec.status.value}"
                raise self.state.fail_execution(
                    NonDeterminismError(
                        self.branch_id(index),
                        f"{found} for a branch that the batch's recorded completion decision "
                        "says ended",
                        "a replay of the batch from that decision, which needs the branch's "
                        "terminal checkpoint",
                    )
                )
            items.append(self._replay_terminal(batch_ctx, index))
        return BatchResult(items, record.completion_reason)

    def _branch_record(self, batch_ctx: DurableContext, index: int) -> OperationRecord | None:
        """Branch `index`'s own checkpoint, its identity checked against the journal's (a
        FLAT branch must have none); `NonDeterminismError` otherwise."""
        ident = self.branch_ident(batch_ctx, index)
        rec = self.state.get(ident.operation_id)
        if rec is not None:
            batch_ctx._begin(ident, is_virtual=self.flat, branch=True)
        return rec

    def _replay_terminal(self, batch_ctx: DurableContext, index: int) -> BatchItem[Any]:
        """A branch that ended, re-derived by running it over its checkpoints (a NESTED branch
        returns its journaled outcome; a FLAT one re-runs its body over its inner ones)."""
        outcome = self.run_branch(batch_ctx, index, batch_ctx.clock)
        if outcome.kind == "completed":
            return BatchItem(index, BatchItemStatus.SUCCEEDED, outcome.value)
        if outcome.kind == "failed":
            assert outcome.error is not None
            if retries_invocation(outcome.error):
                raise outcome.error
            return BatchItem(index, BatchItemStatus.FAILED, error=_error_object(outcome.error))
        if outcome.kind == "fatal":
            assert outcome.error is not None
            raise outcome.error
        return BatchItem(index, BatchItemStatus.STARTED)


_ITEM_STATUS = {
    _PENDING: None,
    _RUNNING: BatchItemStatus.STARTED,
    _SUSPENDED: BatchItemStatus.STARTED,
    _DONE: BatchItemStatus.SUCCEEDED,
    _FAILED: BatchItemStatus.FAILED,
}


def _error_object(err: BaseException) -> ErrorObject:
    """A failed branch's error as the SDK records it: the escaping error's own type."""
    if isinstance(err, DurableOperationError):
        return ErrorObject(err.message, err.error_type, err.data, err.stack_trace)
    return ErrorObject.from_dict(error_fields(err))
