"""The runtime across invocations and resumptions: the execution's own invocation count, callbacks
answered while an invocation runs, a finished execution's outcome, and bad ids and durations."""

from __future__ import annotations

import math
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import CallbackConfig, Duration, StepConfig
from aws_durable_execution_sdk_python.exceptions import (
    DurableOperationError,
    StepError,
    ValidationError,
)
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python.retries import RetryDecision
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

from durable_sim import (
    FaultPlan,
    MemoryJournal,
    SimulatedCrash,
    VirtualClock,
    WallClock,
    run_durable,
    send_callback_success,
)
from durable_sim.durable import ExecutionBusyError
from durable_sim.durable import lease as lease_module
from durable_sim.latency import Dist, LatencyProfile
from tests.durable.conftest import JournalBackend

COLD_MS, INVOKE_MS = 100.0, 10.0


def _two_messages(event: Any, ctx: DurableContext) -> list[str]:
    return [ctx.create_callback(name=f"m{i}").result() for i in range(2)]


def _resume_until_done(journal: Any, **options: Any) -> list[Any]:
    runs = [run_durable(_two_messages, None, journal=journal, execution_id="a", **options)]
    while runs[-1].status == "PENDING":
        send_callback_success(journal, runs[-1].pending_callbacks[0], f"msg{len(runs)}")
        runs.append(run_durable(_two_messages, None, journal=journal, execution_id="a", **options))
    return runs


def test_resumptions_continue_the_executions_invocation_count(backend: JournalBackend) -> None:
    """Formerly each run_durable call restarted the count at 1: every resumption paid a cold
    start with the same latency draws and the same request id."""
    constant = LatencyProfile(name="const", invoke=Dist(INVOKE_MS), cold_start=Dist(COLD_MS))
    journal = backend.open()
    runs = _resume_until_done(journal, profile=constant)
    assert [r.status for r in runs] == ["PENDING", "PENDING", "SUCCEEDED"]
    assert runs[-1].result == ["msg1", "msg2"]
    # one cold start, on the execution's first invocation only
    assert [r.metrics.elapsed_ms for r in runs] == [COLD_MS + INVOKE_MS, INVOKE_MS, INVOKE_MS]
    history = journal.read_history("a")
    requests = [e.details["RequestId"] for e in history if e.event_type == "InvocationCompleted"]
    assert len(requests) == len(set(requests)) == 3
    assert journal.get_execution("a").invocations == 3  # type: ignore[union-attr]


def test_each_resumption_draws_its_own_latencies() -> None:
    noisy = LatencyProfile(name="noisy", invoke=Dist(INVOKE_MS, 0.5))
    runs = _resume_until_done(MemoryJournal(), profile=noisy, seed=3)
    times = [r.metrics.elapsed_ms for r in runs]
    assert len(set(times)) == 3
    again = _resume_until_done(MemoryJournal(), profile=noisy, seed=3)
    assert [r.metrics.elapsed_ms for r in again] == times  # and a seed still fixes them


def test_a_crash_makes_the_next_invocation_cold() -> None:
    from durable_sim import FaultPlan, SimulatedCrash

    constant = LatencyProfile(name="const", invoke=Dist(INVOKE_MS), cold_start=Dist(COLD_MS))

    def handler(event: Any, ctx: DurableContext) -> int:
        return sum(ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(3))

    journal = MemoryJournal()
    crash = FaultPlan(crash_after_checkpoint=1, crash_mode="raise")
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="c", faults=crash)
    run = run_durable(handler, None, journal=journal, execution_id="c", profile=constant)
    assert run.metrics.elapsed_ms == COLD_MS + INVOKE_MS  # a new runtime after the crash
    errors = [e.details.get("Error") for e in journal.read_history("c") if e.details]
    assert any(err and err["ErrorType"] == "Runtime.ExitError" for err in errors)


def test_a_callback_answered_during_the_invocation_is_seen_before_it_ends(
    backend: JournalBackend,
) -> None:
    """Formerly the run ended PENDING naming a callback that was already complete; the service
    re-checks before it lets an invocation end PENDING and invokes again."""
    journal = backend.open()

    def handler(event: Any, ctx: DurableContext) -> str:
        callback = ctx.create_callback(name="reply")
        ctx.step(lambda _: send_callback_success(journal, callback.callback_id, "hi"), "send")
        return callback.result()

    run = run_durable(handler, None, journal=journal, execution_id="r")
    assert (run.status, run.result, run.pending_callbacks) == ("SUCCEEDED", "hi", [])
    assert run.metrics.invocations == 2


def test_an_answer_seen_before_the_end_does_not_wait_for_a_later_timer(
    backend: JournalBackend,
) -> None:
    """An invocation answered while it ran is invoked again at once: it does not first sleep
    until its next timer (here the callback's own one-hour timeout)."""
    journal = backend.open()

    def handler(event: Any, ctx: DurableContext) -> str:
        callback = ctx.create_callback(
            name="reply", config=CallbackConfig(timeout=Duration.from_seconds(3600))
        )
        ctx.step(lambda _: send_callback_success(journal, callback.callback_id, "hi"), "send")
        return callback.result()

    run = run_durable(handler, None, journal=journal, execution_id="w")
    assert (run.status, run.result, run.metrics.invocations) == ("SUCCEEDED", "hi", 2)
    assert run.metrics.elapsed_ms < 3_600_000


def test_an_answer_racing_a_timeout_keeps_the_journals_record(backend: JournalBackend) -> None:
    """The outside world answers while the callback's timeout comes due: the answer that
    reached the journal first stands (a terminal record is never replaced)."""
    journal = backend.open()

    def handler(event: Any, ctx: DurableContext) -> str:
        callback = ctx.create_callback(
            name="reply", config=CallbackConfig(timeout=Duration.from_seconds(5))
        )
        ctx.step(lambda _: send_callback_success(journal, callback.callback_id, "in time"), "s")
        ctx.wait(Duration.from_seconds(10))  # the runtime's timer would time the callback out
        return callback.result()

    run = run_durable(handler, None, journal=journal, execution_id="t")
    assert (run.status, run.result) == ("SUCCEEDED", "in time")


class PaymentDeclined(Exception):
    def __init__(self, code: int, reason: str) -> None:  # a constructor that wants more
        super().__init__(f"declined {code}: {reason}")


def _raiser(kind: str) -> Any:
    def handler(event: Any, ctx: DurableContext) -> None:
        if kind == "value":
            raise ValueError("bad input 7")
        if kind == "custom":
            raise PaymentDeclined(51, "insufficient funds")
        ctx.step(lambda _: 1 / 0, name="divide", config=StepConfig(retry_strategy=_no_retry))

    return handler


def _no_retry(error: Exception, attempt: int) -> RetryDecision:
    return RetryDecision.no_retry()


@pytest.mark.parametrize(
    ("kind", "error_type", "message"),
    [
        ("value", ValueError, "bad input 7"),
        ("custom", PaymentDeclined, "declined 51: insufficient funds"),
        ("step", StepError, "division by zero"),
    ],
)
def test_a_failed_execution_started_again_returns_its_original_error(
    backend: JournalBackend, kind: str, error_type: type[Exception], message: str
) -> None:
    """Formerly a RuntimeError; now the same type and message as the first caller got."""
    first = run_durable(_raiser(kind), None, journal=backend.open(), execution_id="f")
    again = run_durable(_raiser(kind), None, journal=backend.open(), execution_id="f")
    assert first.status == again.status == "FAILED"
    assert type(first.error) is type(again.error) is error_type
    assert str(again.error) == str(first.error) == message
    assert again.metrics.invocations == 0  # nothing ran


class LedgerError(DurableOperationError):
    """A handler's own operation error that carries data and a stack trace."""


def _error_raiser(kind: str) -> Any:
    def handler(event: Any, ctx: DurableContext) -> None:
        if kind == "key":  # str(KeyError("k")) is "'k'": rebuilt from the text it is not
            raise KeyError("k")
        if kind == "custom":
            raise PaymentDeclined(51, "insufficient funds")
        if kind == "data":
            raise LedgerError("ledger closed", "LedgerClosed", '{"ledger": 7}', ["at close()"])
        ctx.step(lambda _: 1 / 0, name="divide", config=StepConfig(retry_strategy=_no_retry))

    return handler


@pytest.mark.parametrize("kind", ["key", "custom", "data", "step"])
def test_a_failed_execution_run_again_returns_the_same_error_object_as_aws(
    backend: JournalBackend, kind: str
) -> None:
    """Formerly a re-invoked FAILED execution returned only an exception rebuilt from the
    journal: KeyError("k")'s message came back as "\"'k'\"" and a StepError's error_type as
    the wrapper's class. AWS's GetDurableExecution returns the checkpointed ErrorObject, the
    same on every call: the first run's error_object, the journal's, and every later run's are
    equal, field for field."""
    first = run_durable(_error_raiser(kind), None, journal=backend.open(), execution_id="e")
    again = run_durable(_error_raiser(kind), None, journal=backend.open(), execution_id="e")
    third = run_durable(_error_raiser(kind), None, journal=backend.open(), execution_id="e")
    assert first.status == again.status == third.status == "FAILED"
    assert first.error is not None and first.error_object is not None
    expected = ErrorObject.from_exception(first.error)  # the SDK's own wire form
    assert first.error_object == again.error_object == third.error_object == expected
    record = backend.open().get_execution("e")
    assert record is not None and record.error is not None
    assert ErrorObject.from_dict(record.error) == expected
    assert again.error is not None and type(again.error) is type(first.error)


def test_a_failed_executions_error_object_keeps_data_and_stack_trace() -> None:
    journal = MemoryJournal()
    run_durable(_error_raiser("data"), None, journal=journal, execution_id="d")
    again = run_durable(_error_raiser("data"), None, journal=journal, execution_id="d")
    assert again.error_object == ErrorObject(
        message="ledger closed",
        type=f"{__name__}.LedgerError",
        data='{"ledger": 7}',
        stack_trace=["at close()"],
    )
    assert isinstance(again.error, LedgerError)
    assert (again.error.data, again.error.stack_trace) == ('{"ledger": 7}', ["at close()"])


def test_a_run_that_did_not_fail_has_no_error_object() -> None:
    run = run_durable(lambda event, ctx: 1, None)
    assert run.status == "SUCCEEDED" and run.error_object is None


def test_an_error_of_an_unknown_type_comes_back_as_the_sdks_operation_error() -> None:
    from aws_durable_execution_sdk_python.exceptions import DurableOperationError

    journal = MemoryJournal()
    run = run_durable(_raiser("value"), None, journal=journal, execution_id="u")
    assert isinstance(run.error, ValueError)
    record = journal.get_execution("u")
    assert record is not None and record.error is not None
    from durable_sim.durable.runtime import rebuild_error

    rebuilt = rebuild_error({**record.error, "ErrorType": "gone.module.LostError"})
    assert type(rebuilt) is DurableOperationError
    assert (rebuilt.error_type, rebuilt.message) == ("gone.module.LostError", "bad input 7")


@pytest.mark.parametrize("execution_id", ["", 7, b"e"])
def test_an_execution_id_must_be_a_non_empty_string(execution_id: Any) -> None:
    """Formerly "" silently became a random id, so "resuming" re-ran everything."""
    with pytest.raises(ValueError, match=f"bad execution_id {execution_id!r}.*non-empty string"):
        run_durable(_two_messages, None, execution_id=execution_id)


def _waits(duration: Duration) -> Any:
    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.wait(duration)

    return handler


def _times_out(timeout: Duration) -> Any:
    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.create_callback(config=CallbackConfig(timeout=timeout)).result()

    return handler


def _retries(delay: Duration) -> Any:
    def strategy(error: Exception, attempt: int) -> RetryDecision:  # a strategy of one's own
        return RetryDecision.retry(delay)

    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.step(lambda _: 1 / 0, config=StepConfig(retry_strategy=strategy))

    return handler


def _polls(delay: Duration) -> Any:
    config = WaitForConditionConfig(
        wait_strategy=lambda state, attempt: WaitForConditionDecision.continue_waiting(delay),
        initial_state=0,
    )

    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.wait_for_condition(lambda state, c: state + 1, config)

    return handler


@pytest.mark.parametrize("clock", ["virtual", "wall"])
@pytest.mark.parametrize("seconds", [math.inf, math.nan])
@pytest.mark.parametrize("make", [_waits, _times_out, _retries, _polls])
def test_an_infinite_or_nan_duration_is_one_clear_error_on_both_clocks(
    clock: str, seconds: float, make: Any
) -> None:
    """Formerly the virtual clock ended at elapsed_ms=inf and the wall clock raised a raw
    OverflowError from its sleep."""
    run = run_durable(
        make(Duration(seconds=seconds)),  # type: ignore[arg-type]
        None,
        clock=VirtualClock() if clock == "virtual" else WallClock(),
    )
    assert run.status == "FAILED"
    assert isinstance(run.error, ValidationError), run.error
    assert repr(seconds) in str(run.error) and "finite number of seconds" in str(run.error)
    assert math.isfinite(run.metrics.elapsed_ms)  # type: ignore[arg-type]


class _Starts:
    """Stands in for the process's lease renewal starter: counts the keepers made."""

    def __init__(self) -> None:
        self.keepers = 0

    def add(self, due: float, keeper: Any) -> list[Any]:
        self.keepers += 1
        return [due, 0, keeper]

    def cancel(self, entry: list[Any]) -> None:
        entry[2] = None


class _OwnJournal(MemoryJournal):
    """A memory journal of a subclass (one that may simulate outages, as tests do)."""


def test_a_run_on_a_plain_memory_journal_holds_its_lease_until_it_releases_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    starts = _Starts()
    monkeypatch.setattr(lease_module, "_RENEWAL_STARTS", starts)
    journal = MemoryJournal()
    seen: list[ExecutionBusyError] = []

    def handler(event: Any, ctx: DurableContext) -> int:
        def other_caller(_: Any) -> int:
            with pytest.raises(ExecutionBusyError) as busy:
                run_durable(handler, None, journal=journal, execution_id="e")
            seen.append(busy.value)
            return 1

        return ctx.step(other_caller, name="s")

    run = run_durable(handler, None, journal=journal, execution_id="e")
    assert (run.status, run.result, starts.keepers) == ("SUCCEEDED", 1, 0)  # no keeper made
    assert seen[0].expires_in_s == math.inf and seen[0].epoch == 1
    assert "(lease epoch 1, held until released); no step was run" in str(seen[0])
    # released at its end: the next caller gets the outcome at once
    assert run_durable(handler, None, journal=journal, execution_id="e").result == 1
    run_durable(lambda event, ctx: ctx.step(lambda _: 2), None, journal=_OwnJournal())
    assert starts.keepers == 1  # any other journal's lease is renewed by a keeper


def test_a_simulated_crash_lapses_a_lease_held_until_released() -> None:
    journal = MemoryJournal()

    def handler(event: Any, ctx: DurableContext) -> int:
        return ctx.step(lambda _: 1, name="a") + ctx.step(lambda _: 2, name="b")

    with pytest.raises(SimulatedCrash):
        run_durable(
            handler,
            None,
            journal=journal,
            execution_id="e",
            faults=FaultPlan(crash_after_checkpoint=1, crash_mode="raise"),
        )
    assert run_durable(handler, None, journal=journal, execution_id="e").result == 3
