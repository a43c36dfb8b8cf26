"""The durable service's side of an execution (`ExecutionState`), driven through its update
actions on a virtual clock: the SDK batcher's timing, the checkpoint counters, the history
events of each transition, the service's timers and callback answers, and bad durations."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from aws_durable_execution_sdk_python.exceptions import OrphanedChildException, ValidationError
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType

from durable_sim.clock import VirtualClock
from durable_sim.durable import (
    CallbackAnswer,
    HistoryEntry,
    Journal,
    MemoryJournal,
    OperationRecord,
    send_callback_success,
)
from durable_sim.durable.errors import LeaseLostError
from durable_sim.durable.lease import LeaseKeeper
from durable_sim.durable.operation.callback import encode_callback_id
from durable_sim.durable.result import RunMetrics
from durable_sim.durable.state import (
    BATCH_GAP_MS,
    BATCH_SPAN_MS,
    ExecutionState,
    Suspend,
    answer_callback,
    check_seconds,
)
from durable_sim.faults import FaultPlan
from durable_sim.latency import ZERO, Dist, LatencyProfile, Sampler
from tests.durable.conftest import JournalBackend

CHECKPOINT_MS = 7.0
COSTLY = LatencyProfile(name="checkpoint-only", checkpoint=Dist(CHECKPOINT_MS))


def _state(
    profile: LatencyProfile = ZERO, journal: Journal | None = None, **options: Any
) -> ExecutionState:
    journal = journal or MemoryJournal()
    journal.open_execution("e", "null", HistoryEntry("ExecutionStarted", 0.0))
    return ExecutionState(
        execution_id="e",
        arn="arn:e",
        journal=journal,
        operations={},
        sampler=Sampler(profile, 0),
        faults=FaultPlan(),
        metrics=RunMetrics(),
        **options,
    )


def _ident(op_id: str, kind: OperationType = OperationType.STEP, name: str = "s") -> Any:
    sub_type = {OperationType.STEP: "Step", OperationType.CALLBACK: "Callback"}.get(kind, "x")
    return OperationIdentifier(op_id, sub_type, None, name, operation_type=kind)


def _events(state: ExecutionState) -> list[str | None]:
    return [e.event_type for e in state.journal.read_history("e")][1:]


# -- the SDK's batcher ----------------------------------------------------------------------


def test_a_synchronous_update_takes_the_waiting_asynchronous_start_along() -> None:
    state, clock = _state(COSTLY), VirtualClock()
    state.start(_ident("1"), clock, sync=False)
    assert _events(state) == [] and state.metrics.checkpoint_ops == 0
    assert clock.now_ms() == 0.0  # an asynchronous START is charged nothing
    clock.charge(BATCH_GAP_MS - 1)
    state.succeed(_ident("1"), clock, '"x"')
    assert _events(state) == ["StepStarted", "StepSucceeded"]
    assert state.metrics.checkpoint_ops == 1  # one call carried both
    assert clock.now_ms() == BATCH_GAP_MS - 1 + CHECKPOINT_MS


def test_the_batch_goes_alone_once_no_update_came_for_the_gap() -> None:
    """The SDK sends what it holds 100 ms after the last update (and at most a second after
    the first): a later synchronous update is a second call."""
    assert (BATCH_GAP_MS, BATCH_SPAN_MS) == (100.0, 1000.0)
    state, clock = _state(), VirtualClock()
    state.start(_ident("1"), clock, sync=False)
    clock.charge(BATCH_GAP_MS)
    state.succeed(_ident("1"), clock, '"x"')
    assert _events(state) == ["StepStarted", "StepSucceeded"]
    assert state.metrics.checkpoint_ops == 2


def test_settle_sends_a_batch_at_its_gap_or_span_and_not_before() -> None:
    state, clock = _state(), VirtualClock()
    for k in range(11):  # an update every 90 ms keeps the gap open; the span ends it at 1 s
        state.start(_ident(str(k + 1)), clock, sync=False)
        clock.charge(90.0)
    state.settle(BATCH_SPAN_MS - 0.5)
    assert state.metrics.checkpoint_ops == 0
    state.settle(BATCH_SPAN_MS)
    assert state.metrics.checkpoint_ops == 1 and len(_events(state)) == 11
    state.start(_ident("x"), clock, sync=False)
    last = clock.now_ms()
    state.settle(last + BATCH_GAP_MS - 0.5)
    assert state.metrics.checkpoint_ops == 1
    state.settle(last + BATCH_GAP_MS)
    assert state.metrics.checkpoint_ops == 2


def test_flush_sends_the_waiting_batch_as_one_charged_call() -> None:
    state, clock = _state(COSTLY), VirtualClock()
    state.flush(clock)  # nothing waiting: no call, no charge
    assert (state.metrics.checkpoint_ops, clock.now_ms()) == (0, 0.0)
    state.start(_ident("1"), clock, sync=False)
    state.start(_ident("2"), clock, sync=False)
    state.flush(clock)
    assert _events(state) == ["StepStarted", "StepStarted"]
    assert (state.metrics.checkpoint_ops, clock.now_ms()) == (1, CHECKPOINT_MS)
    assert state.checkpoints_this_process == 1


def test_refresh_is_one_charged_call_of_no_bytes() -> None:
    state, clock = _state(COSTLY), VirtualClock()
    state.refresh(clock, "k")
    assert (state.metrics.checkpoint_ops, state.metrics.checkpoint_bytes) == (1, 0)
    assert clock.now_ms() == CHECKPOINT_MS and _events(state) == []


def test_each_refresh_draws_its_own_latency() -> None:
    """Every occurrence has its own seeded draw: refreshes of two waves cost independent
    amounts; the same wave, on another run with the seed, the same amount."""
    noisy = LatencyProfile(name="noisy", checkpoint=Dist(CHECKPOINT_MS, 0.5))

    def costs() -> list[float]:
        state, clock = _state(noisy), VirtualClock()
        out = []
        for key in (("1", 0.0), ("1", 5.0), ("2", 0.0)):
            before = clock.now_ms()
            state.refresh(clock, key)
            out.append(clock.now_ms() - before)
        return out

    first = costs()
    assert len(set(first)) == 3 and costs() == first


def test_flushes_of_different_sizes_draw_their_own_latencies() -> None:
    """A flush's draw is keyed by the number of updates it sends: batches of different sizes
    cost independent amounts, fixed by the seed."""
    noisy = LatencyProfile(name="noisy", checkpoint=Dist(CHECKPOINT_MS, 0.5))

    def costs() -> list[float]:
        state, clock = _state(noisy), VirtualClock()
        out = []
        for size in (1, 2, 3):
            for k in range(size):
                state.start(_ident(f"{size}.{k}"), clock, sync=False)
            before = clock.now_ms()
            state.flush(clock)
            out.append(round(clock.now_ms() - before, 6))  # the clock's sums are not exact
        return out

    first = costs()
    assert len(set(first)) == 3 and costs() == first


class _BranchClock(VirtualClock):
    """A virtual clock on which, while the first charge is paid, a concurrent branch makes a
    synchronous update (as a sibling on its own clock would, at that moment)."""

    def __init__(self, update: Any) -> None:
        super().__init__()
        self.update = update

    def charge(self, ms: float) -> None:
        update, self.update = self.update, None
        if update is not None:
            update()
        super().charge(ms)


def test_a_flush_whose_batch_a_concurrent_update_took_sends_nothing() -> None:
    state = _state(COSTLY)
    clock = _BranchClock(lambda: state.succeed(_ident("1"), VirtualClock(), '"x"'))
    state.start(_ident("1"), clock, sync=False)
    state.flush(clock)  # its charge lets the branch's update carry the START along
    assert _events(state) == ["StepStarted", "StepSucceeded"]
    assert state.metrics.checkpoint_ops == 1  # one call: no empty second one
    assert state.journal.get_operation("e", "1") == state.get("1")


def test_an_asynchronous_update_after_the_gap_sends_the_waiting_batch_first() -> None:
    state, clock = _state(), VirtualClock()
    state.start(_ident("1"), clock, sync=False)
    clock.charge(BATCH_GAP_MS)
    state.start(_ident("2"), clock, sync=False)  # the batcher sent "1" before this arrived
    assert _events(state) == ["StepStarted"] and state.metrics.checkpoint_ops == 1
    assert state.journal.get_operation("e", "2") is None
    state.succeed(_ident("2"), clock, '"ab"')  # takes "2" along: only its payload's bytes
    assert (state.metrics.checkpoint_ops, state.metrics.checkpoint_bytes) == (2, 4)


def test_a_retry_counts_both_the_state_and_the_error_it_writes() -> None:
    state, clock = _state(), VirtualClock()
    state.start(_ident("1"), clock, attempt=1)
    before = state.metrics.checkpoint_bytes
    error = {"ErrorMessage": "not yet"}
    state.retry(_ident("1"), clock, 1.0, error=error, payload='"s"')
    written = len('"s"') + len(json.dumps(error, separators=(",", ":")))
    assert state.metrics.checkpoint_bytes - before == written


def test_a_flushed_batchs_bytes_are_counted_once() -> None:
    state, clock = _state(), VirtualClock()
    state.start(_ident("c", OperationType.CONTEXT), clock, sync=False)
    state.succeed(_ident("c", OperationType.CONTEXT), clock, '"ab"', details={"k": 1})
    assert state.metrics.checkpoint_bytes == 4
    state.start(_ident("d", OperationType.CONTEXT), clock, sync=False)
    state.flush(clock)
    state.start(_ident("e", OperationType.CONTEXT), clock, sync=False)
    state.flush(clock)
    assert (state.metrics.checkpoint_ops, state.metrics.checkpoint_bytes) == (3, 4)


def test_checkpoint_bytes_count_the_payloads_and_errors_written() -> None:
    """AWS limits and bills the UTF-8 bytes of the payloads and error objects written."""
    state, clock = _state(), VirtualClock()
    state.start(_ident("1"), clock)
    state.succeed(_ident("1"), clock, '"héllo"')
    assert state.metrics.checkpoint_bytes == len('"héllo"'.encode())
    error = {"ErrorType": "E", "ErrorMessage": "ü"}
    state.start(_ident("2"), clock)
    state.fail(_ident("2"), clock, error)
    written = len(json.dumps(error, separators=(",", ":"), ensure_ascii=False).encode())
    assert state.metrics.checkpoint_bytes == len('"héllo"'.encode()) + written
    assert state.metrics.checkpoint_ops == 4


def test_an_asynchronous_batchs_bytes_are_counted_when_it_is_sent() -> None:
    state, clock = _state(), VirtualClock()
    state.start(_ident("1"), clock)
    state.retry(_ident("1"), clock, 0.5, payload='"ab"')
    assert state.metrics.checkpoint_bytes == 4
    state.start(_ident("c", OperationType.CONTEXT), clock, sync=False)
    state.succeed(_ident("c", OperationType.CONTEXT), clock, '"xyz"')
    assert state.metrics.checkpoint_bytes == 4 + 5
    assert state.metrics.checkpoint_ops == 3


# -- the update actions ---------------------------------------------------------------------


def test_retry_schedules_the_next_attempt_as_aws_records_it() -> None:
    state, clock = _state(), VirtualClock(1000.0)
    state.start(_ident("1"), clock, attempt=1)
    failed = state.retry(_ident("1"), clock, 2.5, error={"ErrorMessage": "boom"})
    assert failed.status is OperationStatus.PENDING
    assert (failed.due_ms, failed.attempt, failed.error) == (3500.0, 1, {"ErrorMessage": "boom"})
    assert state.timers == {"1": 3500.0}
    history = state.journal.read_history("e")
    assert history[-1].event_type == "StepFailed"
    assert history[-1].details == {"NextAttemptDelaySeconds": 2.5}
    state.start(_ident("1"), clock, attempt=2)
    kept = state.retry(_ident("1"), clock, 0.0, payload='{"n":1}')
    assert _events(state)[-1] == "StepSucceeded"  # a poll that keeps waiting
    assert (kept.result, kept.due_ms) == ('{"n":1}', 1000.0)
    state.start(_ident("1"), clock, attempt=3)
    assert state.retry(_ident("1"), clock, 1.0).result == '{"n":1}'  # the state carries over


def test_start_keeps_the_attempt_and_ending_clears_the_timers() -> None:
    state, clock = _state(), VirtualClock()
    state.start(_ident("1"), clock, attempt=2)
    state.retry(_ident("1"), clock, 1.0, error={"ErrorMessage": "x"})
    again = state.start(_ident("1"), clock)
    assert again.attempt == 2 and again.start_ms == 0.0
    clock.charge(40.0)
    done = state.succeed(_ident("1"), clock, None)
    assert (done.end_ms, done.due_ms, done.heartbeat_due_ms) == (40.0, None, None)
    assert state.timers == {} and state.next_due() is None


def test_each_attempts_checkpoints_draw_their_own_latencies() -> None:
    """Every checkpoint call is an occurrence of its own: each attempt's START, and each RETRY
    (which names no attempt: it is the started one's), draws its own latency."""
    noisy = LatencyProfile(name="noisy", checkpoint=Dist(CHECKPOINT_MS, 0.5))
    state, clock = _state(noisy), VirtualClock()
    starts, retries = [], []
    for attempt in (1, 2, 3):
        before = clock.now_ms()
        state.start(_ident("1"), clock, attempt=attempt)
        starts.append(round(clock.now_ms() - before, 6))  # rounded: the clock's sums are not exact
        before = clock.now_ms()
        state.retry(_ident("1"), clock, 0.0, error={"ErrorMessage": "again"})
        retries.append(round(clock.now_ms() - before, 6))
    assert len(set(starts)) == 3 and len(set(retries)) == 3
    costs = []
    for op_id in ("2", "3"):  # other operations, and each action of one, are other occurrences
        before = clock.now_ms()
        state.start(_ident(op_id), clock)
        middle = clock.now_ms()
        state.succeed(_ident(op_id), clock, None)
        costs += [round(middle - before, 6), round(clock.now_ms() - middle, 6)]
    assert len(set(costs)) == 4


def test_an_update_records_what_its_action_says_and_nothing_else() -> None:
    """A new operation started without an attempt has had none (attempts are 1-based); a
    SUCCEED marks no replay of children unless asked; ``details`` go to the history entry."""
    state, clock = _state(), VirtualClock()
    assert state.start(_ident("w", OperationType.WAIT), clock, due_in_s=1.0).attempt == 0
    state.start(_ident("c", OperationType.CONTEXT), clock)
    assert state.succeed(_ident("c", OperationType.CONTEXT), clock, '"x"').replay_children is False
    state.start(_ident("d", OperationType.CONTEXT), clock)
    big = state.succeed(
        _ident("d", OperationType.CONTEXT), clock, None, replay_children=True, details={"k": 1}
    )
    assert big.replay_children is True
    assert state.journal.read_history("e")[-1].details == {"k": 1}


@pytest.mark.parametrize(
    ("kind", "start", "succeeded", "failed"),
    [
        (OperationType.STEP, "StepStarted", "StepSucceeded", "StepFailed"),
        (OperationType.CONTEXT, "ContextStarted", "ContextSucceeded", "ContextFailed"),
        (OperationType.CALLBACK, "CallbackStarted", "CallbackSucceeded", "CallbackFailed"),
        (
            OperationType.CHAINED_INVOKE,
            "ChainedInvokeStarted",
            "ChainedInvokeSucceeded",
            "ChainedInvokeFailed",
        ),
    ],
)
def test_each_transition_is_its_aws_history_event(
    kind: OperationType, start: str, succeeded: str, failed: str
) -> None:
    state, clock = _state(), VirtualClock()
    state.start(_ident("1", kind), clock)
    state.succeed(_ident("1", kind), clock, None)
    state.start(_ident("2", kind), clock)
    state.fail(_ident("2", kind), clock, {"ErrorMessage": "no"})
    assert _events(state) == [start, succeeded, start, failed]


def test_a_bad_delay_names_the_operation_and_the_accepted_range() -> None:
    state, clock = _state(), VirtualClock()
    state.start(_ident("7", name="fetch"), clock)
    with pytest.raises(ValidationError, match=r"Step 'fetch' \(id 7\): due in inf s \(accepted"):
        state.retry(_ident("7", name="fetch"), clock, math.inf)
    assert state.get("7").status is OperationStatus.STARTED  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match=r"\(id 7\): heartbeat due in -1 s"):
        state.start(_ident("7", name="fetch"), clock, heartbeat_in_s=-1)


def test_a_heartbeat_deadline_is_tracked_before_the_timeout() -> None:
    state, clock = _state(), VirtualClock(10.0)
    rec = state.start(_ident("1", OperationType.CALLBACK), clock, due_in_s=60.0, heartbeat_in_s=5.0)
    assert (rec.due_ms, rec.heartbeat_due_ms) == (60010.0, 5010.0)
    assert state.next_due() == 5010.0
    assert state.next_due(callbacks=False) is None


# -- orphans, engine errors -----------------------------------------------------------------


def test_an_orphaned_branch_and_everything_inside_it_checkpoint_nothing() -> None:
    state, clock = _state(), VirtualClock()
    state.orphan("1.2")
    for op_id in ("1.2", "1.2.3", "1.2.3.4"):
        with pytest.raises(OrphanedChildException) as raised:
            state.start(_ident(op_id), clock)
        assert raised.value.operation_id == op_id
        assert str(raised.value) == (
            "the map/parallel that ran this branch completed; its checkpoint is dropped"
        )
    for op_id in ("1", "1.20", "1.3.2", "2"):  # its parent, siblings and look-alikes go on
        state.start(_ident(op_id), clock)
    assert len(_events(state)) == 4


def test_a_step_body_runs_only_while_the_lease_is_held() -> None:
    """With no lease (a run that does not write) there is nothing to check; a keeper that
    could not confirm its lease stops the invocation, and the error is the run's."""
    _state().check_lease()
    journal = MemoryJournal()
    record = journal.open_execution(
        "e", "null", HistoryEntry("ExecutionStarted", 0.0), owner="o", lease_s=30.0
    )
    assert record.lease is not None
    keeper = LeaseKeeper(journal, record.lease, 0.0)  # no renewal can be confirmed in 0 s
    state = ExecutionState(
        execution_id="e",
        arn="arn:e",
        journal=journal,
        operations={},
        sampler=Sampler(ZERO, 0),
        faults=FaultPlan(),
        metrics=RunMetrics(),
        keeper=keeper,
    )
    try:
        with pytest.raises(LeaseLostError, match=r"not renewed within its 0 s") as lost:
            state.check_lease()
        assert state.fatal is lost.value
    finally:
        keeper.stop()


def test_only_an_operation_still_running_has_a_timer() -> None:
    """Records taken from the journal: an ended operation (even one that kept its deadline)
    and a step READY to run are nothing the service will act on."""
    state, clock = _state(), VirtualClock()
    base = state.start(_ident("w", OperationType.WAIT), clock, due_in_s=5.0)
    assert state.timers == {"w": 5000.0}
    state.adopt(base.evolve(status=OperationStatus.SUCCEEDED, end_ms=5000.0))
    ready = base.evolve(id="s", type=OperationType.STEP, status=OperationStatus.READY)
    state.adopt(ready)
    assert state.timers == {} and state.next_due() is None


def test_the_first_terminal_engine_error_is_kept() -> None:
    state = _state()
    first, second = RuntimeError("first"), RuntimeError("second")
    assert state.fail_execution(first) is first
    assert state.fail_execution(second) is second
    assert state.fatal is first


def test_counters() -> None:
    state = _state()
    state.count("retries")
    state.count("retries", 3)
    state.count_step(replayed=False)
    state.count_step(replayed=True)
    state.count_step(replayed=True)
    m = state.metrics
    assert (m.retries, m.steps_executed, m.steps_replayed) == (4, 1, 2)
    assert Suspend(12.5).due_ms == 12.5 and Suspend().due_ms is None


# -- the service's timers and callback answers ---------------------------------------------


def test_due_timers_fire_in_time_order_each_at_its_own_time() -> None:
    state, clock = _state(), VirtualClock()
    state.start(_ident("w", OperationType.WAIT), clock, due_in_s=2.0)
    state.start(_ident("s"), clock, attempt=1)
    state.retry(_ident("s"), clock, 1.0, error={"ErrorMessage": "x"})
    state.start(_ident("later", OperationType.WAIT), clock, due_in_s=9.0)
    assert state.next_due() == 1000.0
    assert state.fire_due(999.0) is False
    assert state.fire_due(2000.0) is True
    history = state.journal.read_history("e")[-2:]
    assert [(e.event_type, e.at_ms) for e in history] == [(None, 1000.0), ("WaitSucceeded", 2000.0)]
    assert state.get("s").status is OperationStatus.READY  # type: ignore[union-attr]
    wait = state.get("w")
    assert (wait.status, wait.end_ms, wait.due_ms) == (OperationStatus.SUCCEEDED, 2000.0, None)  # type: ignore[union-attr]
    assert state.timers == {"later": 9000.0}
    state.start(_ident("s"), clock, attempt=2)  # a running attempt: the service waits for it
    assert state.next_due() == 9000.0


def test_a_chained_invoke_completes_when_its_execution_ends() -> None:
    state, clock = _state(), VirtualClock()
    kind = OperationType.CHAINED_INVOKE
    ok = state.start(_ident("a", kind), clock)
    bad = state.start(_ident("b", kind), clock)
    state.resolve_invoke(ok, 300.0, '"r"', None)
    state.resolve_invoke(bad, 200.0, None, {"ErrorMessage": "e"})
    resolved = state.journal.read_history("e")[-2:]  # the service's records, at the ends
    assert [(e.event_type, e.at_ms) for e in resolved] == [(None, 300.0), (None, 200.0)]
    assert state.journal.get_operation("e", "a") == state.get("a")
    assert state.get("a").due_ms == 300.0  # type: ignore[union-attr]
    assert state.next_due() == 200.0
    assert state.fire_due(300.0) is True
    assert _events(state)[-2:] == ["ChainedInvokeFailed", "ChainedInvokeSucceeded"]
    a, b = state.get("a"), state.get("b")
    assert (a.status, a.result, a.end_ms) == (OperationStatus.SUCCEEDED, '"r"', 300.0)  # type: ignore[union-attr]
    assert (b.status, b.error, b.end_ms) == (OperationStatus.FAILED, {"ErrorMessage": "e"}, 200.0)  # type: ignore[union-attr]
    assert a.due_ms is None and b.due_ms is None  # type: ignore[union-attr]  # completed: nothing due
    assert state.timers == {} and state.next_due() is None


def _callback(state: ExecutionState, clock: VirtualClock, **fields: Any) -> OperationRecord:
    return state.start(_ident("cb", OperationType.CALLBACK), clock, callback_id="id-cb", **fields)


def test_a_callback_times_out_with_the_services_error() -> None:
    """The official local runner's errors: a timeout, and a missed heartbeat."""
    state, clock = _state(), VirtualClock()
    _callback(state, clock, due_in_s=10.0)
    assert state.fire_due(10_000.0) is True
    rec = state.get("cb")
    assert rec.status is OperationStatus.TIMED_OUT  # type: ignore[union-attr]
    assert rec.error == {"ErrorMessage": "Callback timed out", "ErrorType": "Callback.Timeout"}  # type: ignore[union-attr]
    assert (rec.end_ms, rec.due_ms, rec.heartbeat_due_ms) == (10_000.0, None, None)  # type: ignore[union-attr]
    assert _events(state)[-1] == "CallbackTimedOut"

    state, clock = _state(), VirtualClock()
    _callback(state, clock, due_in_s=10.0, heartbeat_in_s=2.0)
    state.fire_due(2000.0)
    rec = state.get("cb")
    assert rec.error == {  # type: ignore[union-attr]
        "ErrorMessage": "Callback timed out on heartbeat",
        "ErrorType": "Callback.Heartbeat",
    }
    # A timed-out callback keeps no deadline, neither the one that fired nor the other.
    assert (rec.end_ms, rec.due_ms, rec.heartbeat_due_ms) == (2000.0, None, None)  # type: ignore[union-attr]

    state, clock = _state(), VirtualClock()
    _callback(state, clock, due_in_s=10.0, heartbeat_in_s=30.0)
    assert state.fire_due(10_000.0) is True
    rec = state.get("cb")
    assert rec.error["ErrorType"] == "Callback.Timeout"  # type: ignore[index, union-attr]
    assert (rec.end_ms, rec.due_ms, rec.heartbeat_due_ms) == (10_000.0, None, None)  # type: ignore[union-attr]
    assert state.timers == {} and state.next_due() is None


@pytest.mark.parametrize("also_wait", [False, True])
def test_a_timeout_losing_to_an_answer_in_the_journal_takes_the_answer(
    backend: JournalBackend, also_wait: bool
) -> None:
    """The outside world answered in the journal while the timeout came due: the journal's
    record stands, it is a change the handler can observe, and the service's other transitions
    due then (a wait ending) are still written."""
    state, clock = _state(journal=backend.open()), VirtualClock()
    callback_id = encode_callback_id("e", "cb")
    state.start(_ident("cb", OperationType.CALLBACK), clock, callback_id=callback_id, due_in_s=5)
    if also_wait:
        state.start(_ident("w", OperationType.WAIT), clock, due_in_s=5.0)
    send_callback_success(state.journal, callback_id, '"in time"')
    assert state.fire_due(5000.0) is True
    rec = state.get("cb")
    assert (rec.status, rec.result) == (OperationStatus.SUCCEEDED, '"in time"')  # type: ignore[union-attr]
    assert state.fatal is None and state.timers == {}
    assert "CallbackTimedOut" not in _events(state)
    if also_wait:
        assert _events(state)[-2:] == ["CallbackSucceeded", "WaitSucceeded"]
        assert state.journal.get_operation("e", "w") == state.get("w")
        assert state.get("w").status is OperationStatus.SUCCEEDED  # type: ignore[union-attr]


def test_the_outside_worlds_answers_fire_at_their_times() -> None:
    answers = [
        CallbackAnswer("heartbeat", after_s=1.0),
        CallbackAnswer("heartbeat", after_s=2.5),
        CallbackAnswer("success", after_s=4.0, result='"ok"'),
    ]
    state = _state(responder=lambda callback_id, rec: answers if callback_id == "id-cb" else [])
    clock = VirtualClock(100.0)
    rec = _callback(state, clock, heartbeat_timeout_s=2, heartbeat_in_s=2.0)
    state.schedule_answers(rec)
    assert [at for at, _, _ in state.answers] == [1100.0, 2600.0, 4100.0]
    assert state.next_due(callbacks=False) == 1100.0
    assert state.fire_due(1100.0) is False  # a heartbeat is nothing the handler can observe
    assert state.get("cb").heartbeat_due_ms == 3100.0  # type: ignore[union-attr]
    assert state.fire_due(2600.0) is False
    assert state.get("cb").heartbeat_due_ms == 4600.0  # type: ignore[union-attr]
    assert state.fire_due(4100.0) is True
    done = state.get("cb")
    assert (done.status, done.result, done.end_ms) == (OperationStatus.SUCCEEDED, '"ok"', 4100.0)  # type: ignore[union-attr]
    assert state.answers == [] and state.next_due() is None


def test_a_heartbeat_that_moved_a_deadline_makes_the_old_deadline_pass_without_a_timeout() -> None:
    """One late call sees the heartbeat (1.1 s) and the heartbeat deadline it replaced (2.1 s):
    that deadline no longer holds, so nothing times out, and the new one (3.1 s) is due next."""
    answers = [CallbackAnswer("heartbeat", after_s=1.0)]
    state = _state(responder=lambda callback_id, rec: answers if callback_id == "id-cb" else [])
    clock = VirtualClock(100.0)
    state.schedule_answers(_callback(state, clock, heartbeat_timeout_s=2, heartbeat_in_s=2.0))
    assert state.fire_due(2600.0) is False
    rec = state.get("cb")
    assert (rec.status, rec.heartbeat_due_ms) == (OperationStatus.STARTED, 3100.0)  # type: ignore[union-attr]
    assert "CallbackTimedOut" not in _events(state)


def test_a_deadline_of_an_ended_callback_does_not_hold_up_later_transitions() -> None:
    """Answered at 1.1 s, the callback's heartbeat deadline (2.1 s) is moot; a wait due at 2.6 s
    in the same call still ends."""
    answers = [CallbackAnswer("success", after_s=1.0, result='"ok"')]
    state = _state(responder=lambda callback_id, rec: answers if callback_id == "id-cb" else [])
    clock = VirtualClock(100.0)
    state.schedule_answers(_callback(state, clock, heartbeat_timeout_s=2, heartbeat_in_s=2.0))
    state.start(_ident("w", OperationType.WAIT), clock, due_in_s=2.5)
    assert state.fire_due(3000.0) is True
    assert state.get("cb").status is OperationStatus.SUCCEEDED  # type: ignore[union-attr]
    assert state.get("w").status is OperationStatus.SUCCEEDED  # type: ignore[union-attr]
    assert _events(state)[-2:] == ["CallbackSucceeded", "WaitSucceeded"]


def test_answers_at_one_instant_apply_in_the_responders_order() -> None:
    answers = [CallbackAnswer("heartbeat", after_s=3.0), CallbackAnswer("success", after_s=3.0)]
    state = _state(responder=lambda _, rec: answers)
    clock = VirtualClock()
    state.schedule_answers(_callback(state, clock, heartbeat_timeout_s=1, heartbeat_in_s=5.0))
    assert state.fire_due(3000.0) is True
    assert state.get("cb").status is OperationStatus.SUCCEEDED  # type: ignore[union-attr]


def test_only_a_started_callback_with_an_id_is_answered() -> None:
    asked: list[str] = []

    def responder(callback_id: str, rec: OperationRecord) -> list[CallbackAnswer]:
        asked.append(callback_id)
        return [CallbackAnswer("success")]

    state, clock = _state(responder=responder), VirtualClock()
    state.schedule_answers(state.start(_ident("cb", OperationType.CALLBACK), clock))
    state.schedule_answers(_callback(state, clock).evolve(start_ms=None))
    assert asked == [] and state.answers == []
    _state().schedule_answers(_callback(state, clock))  # no responder: nothing to ask
    assert asked == []


def test_an_answer_due_with_a_timeout_wins_only_if_earlier() -> None:
    """At the same instant the timer fires first (the service's deadline is checked first)."""
    state = _state(responder=lambda _, rec: [CallbackAnswer("success", after_s=10.0)])
    clock = VirtualClock()
    state.schedule_answers(_callback(state, clock, due_in_s=10.0))
    state.fire_due(10_000.0)
    assert state.get("cb").status is OperationStatus.TIMED_OUT  # type: ignore[union-attr]


def test_answer_callback_applies_each_kind() -> None:
    base = OperationRecord(
        "cb", None, OperationType.CALLBACK, "Callback", "c", OperationStatus.STARTED,
        due_ms=9e9, heartbeat_due_ms=5.0, heartbeat_timeout_s=3,
    )  # fmt: skip
    beat = answer_callback(base, 100.0, CallbackAnswer("heartbeat"))
    assert beat.event_type is None and beat.operation.heartbeat_due_ms == 3100.0  # type: ignore[union-attr]
    quiet = answer_callback(base.evolve(heartbeat_timeout_s=0), 100.0, CallbackAnswer("heartbeat"))
    assert quiet.operation.heartbeat_due_ms is None  # type: ignore[union-attr]
    succeeded = answer_callback(base, 60.0, CallbackAnswer("success", result='"y"'))
    assert succeeded.event_type == "CallbackSucceeded"
    rec = succeeded.operation
    assert (rec.status, rec.result, rec.end_ms, rec.due_ms, rec.heartbeat_due_ms) == (  # type: ignore[union-attr]
        OperationStatus.SUCCEEDED, '"y"', 60.0, None, None,
    )  # fmt: skip
    failed = answer_callback(base, 50.0, CallbackAnswer("failure"))
    assert failed.event_type == "CallbackFailed"
    rec = failed.operation
    assert (rec.status, rec.error, rec.end_ms, rec.due_ms, rec.heartbeat_due_ms) == (  # type: ignore[union-attr]
        OperationStatus.FAILED, {}, 50.0, None, None,
    )  # fmt: skip
    error = {"ErrorMessage": "denied"}
    assert (
        answer_callback(base, 1.0, CallbackAnswer("failure", error=error)).operation.error == error
    )  # type: ignore[union-attr]


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, -0.001, "3", None])
def test_check_seconds_refuses_what_is_no_finite_duration(bad: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        check_seconds(bad, "wait 'w' (id 1): duration")
    assert str(raised.value) == (
        f"wait 'w' (id 1): duration {bad!r} s (accepted: a finite number of seconds >= 0, "
        "e.g. Duration.from_seconds(30))"
    )


@pytest.mark.parametrize("good", [0, 0.0, 1e-9, 30, 86400.5])
def test_check_seconds_returns_a_finite_duration(good: float) -> None:
    assert check_seconds(good, "x") == good


def test_a_callback_answer_names_a_bad_kind_or_time() -> None:
    with pytest.raises(ValueError) as kind:
        CallbackAnswer("succeed")
    assert str(kind.value) == (
        "callback answer kind 'succeed' (accepted: 'success', 'failure', 'heartbeat')"
    )
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError) as when:
            CallbackAnswer("success", after_s=bad)
        assert str(when.value) == f"callback answer after_s={bad} (accepted: >= 0 seconds)"
    assert CallbackAnswer("failure").after_s == 0.0
    assert CallbackAnswer("heartbeat", after_s=0).result is None
