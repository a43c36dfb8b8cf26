"""``map`` and ``parallel``: fan out branches as child contexts, fan in a BatchResult.

Branches honour ``max_concurrency`` and the completion config (the SDK's own
`CompletionPolicy`); results come back in input order. On a virtual clock the branches run one
after another in input order while their *time* is list-scheduled on ``max_concurrency``
slots, each on a forked clock, so the batch costs what concurrent branches would cost and the
outcome is deterministic. On the wall clock they run on a thread pool, as the SDK does.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.concurrency.models import (
    BatchItem,
    BatchResult,
    CompletionPolicy,
)
from aws_durable_execution_sdk_python.config import BatchItemStatus, CompletionConfig
from aws_durable_execution_sdk_python.exceptions import ChildContextError

from durable_sim.clock import Clock, VirtualClock
from durable_sim.durable.operation.child import run_child
from durable_sim.durable.operation.common import error_object
from durable_sim.durable.state import Suspend

if TYPE_CHECKING:
    from durable_sim.durable.context import DurableContext

Branch = tuple[str | None, Callable[["DurableContext"], Any]]


@dataclass
class _Outcome:
    status: str  # "ok", "failed", "suspended", "not_started"
    value: Any = None
    error: dict[str, Any] | None = None


def run_batch(
    ctx: DurableContext,
    branches: Sequence[Branch],
    *,
    name: str | None,
    sub_type: str,
    item_sub_type: str,
    max_concurrency: int | None,
    completion: CompletionConfig | None,
) -> BatchResult:
    total = len(branches)
    slots = max(1, min(max_concurrency or total or 1, total or 1))
    policy = CompletionPolicy.from_config(total, completion)

    def body(batch_ctx: DurableContext) -> BatchResult:
        ids = [batch_ctx._next_id() for _ in branches]
        runner = _run_virtual if batch_ctx.clock.virtual else _run_threaded
        outcomes = runner(batch_ctx, branches, ids, item_sub_type, slots, policy)
        succeeded = sum(o.status == "ok" for o in outcomes)
        failed = sum(o.status == "failed" for o in outcomes)
        suspended = any(o.status == "suspended" for o in outcomes)
        if suspended and not _complete(policy, succeeded, failed):
            raise Suspend()
        items = [_item(i, o) for i, o in enumerate(outcomes) if o.status != "not_started"]
        return BatchResult(items, policy.reason(succeeded, failed))

    return run_child(
        ctx,
        body,
        name,
        sub_type,
        encode=lambda result: result.to_dict(),
        decode=lambda data: BatchResult.from_dict(data, completion),
    )


def _complete(policy: CompletionPolicy, succeeded: int, failed: int) -> bool:
    """Whether the batch is done: its completion criterion met, or its failure tolerance spent."""
    return policy.is_complete(succeeded, failed) or not policy.should_continue(failed)


def _item(index: int, outcome: _Outcome) -> BatchItem:
    if outcome.status == "ok":
        return BatchItem(index, BatchItemStatus.SUCCEEDED, outcome.value)
    if outcome.status == "failed":
        return BatchItem(index, BatchItemStatus.FAILED, error=error_object(outcome.error))
    return BatchItem(index, BatchItemStatus.STARTED)


def _run_branch(
    batch_ctx: DurableContext, branch: Branch, op_id: str, sub_type: str, clock: Clock
) -> _Outcome:
    name, func = branch
    try:
        value = run_child(batch_ctx, func, name, sub_type, op_id=op_id, clock=clock)
    except Suspend:
        return _Outcome("suspended")
    except ChildContextError as exc:
        if batch_ctx.state.fatal is not None:
            raise
        cause = exc.__cause__ or exc
        return _Outcome("failed", error={"ErrorType": exc.error_type, "ErrorMessage": str(cause)})
    return _Outcome("ok", value)


def _run_virtual(
    batch_ctx: DurableContext,
    branches: Sequence[Branch],
    ids: list[str],
    sub_type: str,
    slots: int,
    policy: CompletionPolicy,
) -> list[_Outcome]:
    """Run branches in input order; start each at the earliest free slot in virtual time.

    Once the completion policy is met at time T, branches that would take a slot freed at or
    after T are not started; those already running finish, as they would on a real pool, and
    so do those launched at the batch's start (all of them, without a concurrency limit).
    """
    start = batch_ctx.clock.now_ms()
    free = [start] * slots
    outcomes: list[_Outcome] = []
    ends = [start]
    succeeded = failed = 0
    complete_at: float | None = None
    for index, (branch, op_id) in enumerate(zip(branches, ids, strict=True)):
        begin = heapq.heappop(free)
        launched_first = index < slots  # started with the batch, before any completion
        if complete_at is not None and begin >= complete_at and not launched_first:
            outcomes.append(_Outcome("not_started"))
            heapq.heappush(free, begin)
            continue
        clock = VirtualClock(begin)
        outcome = _run_branch(batch_ctx, branch, op_id, sub_type, clock)
        heapq.heappush(free, clock.now_ms())
        ends.append(clock.now_ms())
        outcomes.append(outcome)
        succeeded += outcome.status == "ok"
        failed += outcome.status == "failed"
        if complete_at is None and _complete(policy, succeeded, failed):
            complete_at = clock.now_ms()
    batch_ctx.clock.sleep_until(max(ends))
    return outcomes


def _run_threaded(
    batch_ctx: DurableContext,
    branches: Sequence[Branch],
    ids: list[str],
    sub_type: str,
    slots: int,
    policy: CompletionPolicy,
) -> list[_Outcome]:
    """Run branches on a pool of `slots` threads; stop starting new ones once complete."""
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0}

    def work(index: int) -> _Outcome:
        with lock:
            if _complete(policy, counts["ok"], counts["failed"]):
                return _Outcome("not_started")
        outcome = _run_branch(batch_ctx, branches[index], ids[index], sub_type, batch_ctx.clock)
        with lock:
            if outcome.status in counts:
                counts[outcome.status] += 1
        return outcome

    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="durable-branch") as pool:
        return list(pool.map(work, range(len(branches))))
