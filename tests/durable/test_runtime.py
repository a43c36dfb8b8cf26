"""The runtime across invocations and resumptions: the execution's own invocation count, callbacks
answered while an invocation runs, a finished execution's outcome, and bad ids and durations."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    CompletionConfig,
    Duration,
    InvokeConfig,
    ParallelConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.exceptions import (
    DurableOperationError,
    StepError,
    ValidationError,
)
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python.retries import RetryDecision
from aws_durable_execution_sdk_python.serdes import PassThroughSerDes
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

from durable_sim import (
    MemoryJournal,
    SqliteJournal,
    VirtualClock,
    WallClock,
    export_history,
    run_durable,
    send_callback_heartbeat,
    send_callback_success,
)
from durable_sim.attribution import Trace
from durable_sim.clock import observe_clocks
from durable_sim.durable import (
    CallbackAnswer,
    ExecutionBusyError,
    ExecutionInputMismatchError,
    HistoryEntry,
    JournalCorruptError,
    JournalUnavailableError,
    LeaseConfig,
    LeaseLostError,
    execute,
)
from durable_sim.durable import lease as lease_module
from durable_sim.durable.journal import READY_NOW
from durable_sim.durable.runtime import rebuild_error
from durable_sim.faults import NO_FAULTS, FaultPlan, SimulatedCrash
from durable_sim.latency import ZERO, Dist, LatencyProfile, Sampler
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


def test_each_resumption_draws_its_own_orchestration_latency() -> None:
    noisy = LatencyProfile(name="noisy", durable_invoke=Dist(INVOKE_MS, 0.5))
    runs = _resume_until_done(MemoryJournal(), profile=noisy, seed=3)
    assert len({r.metrics.elapsed_ms for r in runs}) == 3


def test_a_crash_makes_the_next_invocation_cold() -> None:
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

    rebuilt = rebuild_error({**record.error, "ErrorType": "gone.module.LostError"})
    assert type(rebuilt) is DurableOperationError
    assert (rebuilt.error_type, rebuilt.message) == ("gone.module.LostError", "bad input 7")


def test_an_unknown_error_type_keeps_the_error_objects_data_and_stack_trace() -> None:
    fields = ErrorObject("lost", "gone.module.LostError", '{"k": 1}', ["at f()"]).to_dict()
    rebuilt = rebuild_error(fields)
    assert type(rebuilt) is DurableOperationError
    assert (rebuilt.message, rebuilt.error_type, rebuilt.data, rebuilt.stack_trace) == (
        "lost",
        "gone.module.LostError",
        '{"k": 1}',
        ["at f()"],
    )


class Coded(Exception):
    """A workflow error that reads its message in ``__new__`` (its code is the message's head)."""

    def __new__(cls, message: str) -> Coded:
        error = super().__new__(cls, message)
        error.code = message.split(":")[0]
        return error

    code: str


def test_a_rebuilt_error_is_made_by_its_classs_new_from_its_message() -> None:
    """Its message is its only argument, to ``__new__`` as to the exception."""
    rebuilt = rebuild_error({"ErrorType": f"{__name__}.Coded", "ErrorMessage": "E42: no stock"})
    assert type(rebuilt) is Coded
    assert (rebuilt.code, rebuilt.args, str(rebuilt)) == (
        "E42",
        ("E42: no stock",),
        "E42: no stock",
    )


@pytest.mark.parametrize("error_type", ["ValueError", "gone.module.LostError"])
def test_an_error_object_without_a_message_rebuilds_with_an_empty_one(error_type: str) -> None:
    rebuilt = rebuild_error({"ErrorType": error_type})
    assert str(rebuilt) == "" and rebuilt.args == ("",)


def test_a_rebuilt_operation_error_has_the_journaled_error_type() -> None:
    journal = MemoryJournal()
    first = run_durable(_error_raiser("data"), None, journal=journal, execution_id="t")
    again = run_durable(_error_raiser("data"), None, journal=journal, execution_id="t")
    assert first.error_object is not None and isinstance(again.error, LedgerError)
    assert again.error.error_type == first.error_object.type == f"{__name__}.LedgerError"
    assert again.error.message == "ledger closed"


def _raises_group(event: Any, ctx: DurableContext) -> None:
    raise ExceptionGroup("two failures", [ValueError("a"), KeyError("b")])


def _decodes_bad_bytes(event: Any, ctx: DurableContext) -> str:
    return b"\xff".decode()


def test_a_failed_execution_that_raised_an_exception_group_can_be_started_again() -> None:
    journal = MemoryJournal()
    first = run_durable(_raises_group, None, journal=journal, execution_id="g")
    again = run_durable(_raises_group, None, journal=journal, execution_id="g")
    assert again.status == "FAILED" and again.error_object == first.error_object
    assert str(again.error) == str(first.error)
    # A group cannot be built from a message alone: the SDK's error, naming the original type.
    assert type(again.error) is DurableOperationError
    assert again.error.error_type == "ExceptionGroup"


class _PrintsAField(Exception):
    """An error whose text is made from a field its constructor sets."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return f"code {self.code}"


def test_an_error_whose_text_cannot_be_made_from_its_message_comes_back_as_the_sdks() -> None:
    fields = {"ErrorType": f"{__name__}._PrintsAField", "ErrorMessage": "code 7"}
    rebuilt = rebuild_error(fields)
    assert type(rebuilt) is DurableOperationError and str(rebuilt) == "code 7"
    assert rebuilt.error_type == f"{__name__}._PrintsAField"
    plain = rebuild_error({"ErrorType": "ValueError", "ErrorMessage": "bad x"})
    assert type(plain) is ValueError and str(plain) == "bad x"


def test_a_failed_execution_that_raised_a_unicode_error_keeps_its_message() -> None:
    journal = MemoryJournal()
    first = run_durable(_decodes_bad_bytes, None, journal=journal, execution_id="u")
    again = run_durable(_decodes_bad_bytes, None, journal=journal, execution_id="u")
    # Its text is made from five fields, not its arguments: it comes back as the SDK's error
    # carrying the original type's name, with the message intact.
    assert type(first.error) is UnicodeDecodeError and again.error_object == first.error_object
    assert type(again.error) is DurableOperationError
    assert again.error.error_type == "UnicodeDecodeError"
    assert str(again.error) == str(first.error) != ""


@pytest.mark.parametrize("execution_id", ["", 7, b"e", None])
def test_an_execution_id_must_be_a_non_empty_string(execution_id: Any) -> None:
    """Formerly "" silently became a random id, so "resuming" re-ran everything."""
    with pytest.raises(ValueError) as bad:
        execute(
            _two_messages,
            "null",
            journal=MemoryJournal(),
            execution_id=execution_id,
            clock=VirtualClock(),
            sampler=Sampler(ZERO, 0),
            faults=NO_FAULTS,
        )
    assert str(bad.value) == (
        f"bad execution_id {execution_id!r} (accepted: a non-empty string; to start a new "
        "execution with a random id, pass None to run_durable)"
    )


def test_a_new_input_for_an_existing_execution_names_both_and_runs_nothing() -> None:
    """Each input is shown as its first 80 characters. A waiting execution is left as it was:
    it resumes at once with its own input."""
    journal = MemoryJournal()
    first, other = {"order": "x" * 100}, {"order": "y" * 100}
    assert run_durable(_two_messages, first, journal=journal, execution_id="m").status == "PENDING"
    with pytest.raises(ExecutionInputMismatchError) as mismatch:
        run_durable(_two_messages, other, journal=journal, execution_id="m")
    shown, new = json.dumps(first)[:80], json.dumps(other)[:80]
    assert str(mismatch.value) == (
        f"execution 'm' exists with input {shown!r}, not {new!r}; use a new execution id for a "
        "new input"
    )
    assert journal.read_history("m")[-1].event_type == "InvocationCompleted"  # nothing ran
    record = journal.get_operation("m", "1")
    assert record is not None and record.callback_id is not None
    send_callback_success(journal, record.callback_id, "a")
    resumed = run_durable(_two_messages, first, journal=journal, execution_id="m")
    assert (resumed.status, resumed.metrics.invocations) == ("PENDING", 1)
    assert resumed.operation("m0").result == "a"


def test_a_new_input_leaves_the_execution_as_it_was(backend: JournalBackend) -> None:
    """A refused open changes nothing of the execution it found: an execution queued for
    workers stays claimable (formerly the open took its lease, clearing its queue place, and
    gave it back with no ready time, so no worker would ever run it), and one whose lease
    another owner holds reports the mismatch, not the busy lease, leaving the holder's lease
    valid. Its history stays as it was."""
    from durable_sim.durable.worker import submit

    journal = backend.open()
    submit(journal, "queued", {"n": 1}, execution_id="q")
    before = journal.read_history("q")
    with pytest.raises(ExecutionInputMismatchError):
        run_durable(_two_messages, {"n": 2}, journal=journal, execution_id="q")
    assert journal.read_history("q") == before
    claimed = journal.claim("worker", 30.0, ["queued"])
    assert claimed is not None and claimed.execution_id == "q"
    with pytest.raises(ExecutionInputMismatchError):  # held by "worker" meanwhile
        run_durable(_two_messages, {"n": 3}, journal=journal, execution_id="q")
    assert claimed.lease is not None
    journal.renew(claimed.lease, 30.0)  # still the holder's: no LeaseLostError
    journal.release(claimed.lease, ready_at=READY_NOW)
    assert journal.read_history("q") == before


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


def test_each_invocations_lambda_context_has_lambdas_fields_for_the_function() -> None:
    """What Lambda gives an unqualified invoke of the function: its name, version ``$LATEST``,
    its default log group ``/aws/lambda/<name>``, the function's ARN as invoked (the durable
    execution's ARN without the qualifier and the execution part), and the request id the
    history records for that invocation."""
    seen: list[Any] = []

    def billing(event: Any, ctx: DurableContext) -> None:
        seen.append((ctx.lambda_context, ctx.execution_context.durable_execution_arn))
        ctx.wait(Duration.from_seconds(1))

    journal = MemoryJournal()
    run = run_durable(billing, None, journal=journal, execution_id="lc")
    assert run.status == "SUCCEEDED", run.error
    requests = [
        e.details["RequestId"]
        for e in journal.read_history("lc")
        if e.event_type == "InvocationCompleted"
    ]
    assert [context.aws_request_id for context, _ in seen] == requests
    assert len(set(requests)) == 2
    for context, execution_arn in seen:
        function_arn = execution_arn.split(":$LATEST/durable-execution/")[0]
        assert function_arn == "arn:aws:lambda:us-east-1:123456789012:function:billing"
        assert (
            context.function_name,
            context.function_version,
            context.log_group_name,
            context.invoked_function_arn,
        ) == ("billing", "$LATEST", "/aws/lambda/billing", function_arn)


def _leaf(event: Any, ctx: DurableContext) -> str:
    """Waits for an approval, as its own execution, and names itself."""
    approval = ctx.create_callback(name="approval").result()
    return f"{ctx.lambda_context.function_name}:{approval}:{event}"


def _relay(event: Any, ctx: DurableContext) -> str:
    """Invokes the leaf in turn: an invoked function may invoke the caller's functions."""
    mine = ctx.step(lambda _: ctx.lambda_context.function_name, name="me")
    return f"{mine}>{ctx.invoke('leaf', event, name='to-leaf')}"


CHAIN = {"relay": _relay, "leaf": _leaf}


def test_an_invoked_function_has_its_own_name_and_the_callers_functions_and_responder() -> None:
    def caller(event: Any, ctx: DurableContext) -> str:
        return ctx.invoke("relay", 7, name="to-relay")

    def approve(callback_id: str, record: Any) -> list[CallbackAnswer]:
        return [CallbackAnswer("success", after_s=2.0, result="yes")]

    journal = MemoryJournal()
    run = run_durable(
        caller, None, journal=journal, execution_id="c", functions=CHAIN, responder=approve
    )
    assert (run.status, run.result) == ("SUCCEEDED", "relay>leaf:yes:7"), run.error
    for execution_id, name in [("c/invoke-1", "relay"), ("c/invoke-1/invoke-2", "leaf")]:
        record = journal.get_execution(execution_id)
        assert record is not None and (record.status, record.function_name) == ("SUCCEEDED", name)


@pytest.mark.parametrize(
    ("clock", "timeout_s"), [("virtual", None), ("wall", 2)], ids=["virtual", "wall"]
)
def test_a_caller_waits_pending_on_its_invoked_functions_callback(
    clock: str, timeout_s: int | None
) -> None:
    """The invoked execution waits on the outside world, so the caller does: PENDING, naming
    the invoked execution's callback. On the wall clock the callback's timeout is not waited
    for (the run returns PENDING rather than sleep), in the invoked execution too; the answer
    sent before the caller resumes stands even if the timeout has passed by then."""

    def leaf(event: Any, ctx: DurableContext) -> str:
        timeout = None if timeout_s is None else Duration.from_seconds(timeout_s)
        config = CallbackConfig(timeout=timeout) if timeout is not None else None
        return ctx.create_callback(name="approval", config=config).result()

    def caller(event: Any, ctx: DurableContext) -> str:
        return ctx.invoke("leaf", None, name="to-leaf")

    journal = MemoryJournal()

    def start() -> Any:
        return run_durable(
            caller,
            None,
            journal=journal,
            execution_id="p",
            functions={"leaf": leaf},
            clock=VirtualClock() if clock == "virtual" else WallClock(),
        )

    first = start()
    callback = journal.get_operation("p/invoke-1", "1")
    assert callback is not None and callback.callback_id is not None
    assert (first.status, first.pending_callbacks) == ("PENDING", [callback.callback_id])
    assert first.operation("to-leaf").status == "STARTED"
    send_callback_success(journal, callback.callback_id, "approved")
    again = start()
    assert (again.status, again.result) == ("SUCCEEDED", "approved")


def test_an_invoke_whose_payload_serializes_to_nothing_gets_a_null_event() -> None:
    """A payload serialized to ``None`` or ``""`` reaches the invoked function as ``None``, as
    on AWS's local runner (``json.loads(payload) if payload else None``)."""
    events: list[Any] = []

    def leaf(event: Any, ctx: DurableContext) -> str:
        events.append(event)
        return "done"

    def caller(event: Any, ctx: DurableContext) -> list[str]:
        config = InvokeConfig[Any, Any](serdes_payload=PassThroughSerDes())
        return [ctx.invoke("leaf", payload, config=config) for payload in (None, "")]

    run = run_durable(caller, None, functions={"leaf": leaf})
    assert (run.status, run.result, events) == ("SUCCEEDED", ["done", "done"], [None, None])


def test_an_invoked_execution_takes_its_lease_as_the_callers_lease_config_says() -> None:
    """With ``on_busy="wait"`` an invoked execution that another owner holds (a worker took it
    from the queue) is waited for, as the caller would wait for its own."""
    journal = MemoryJournal()

    def leaf(event: Any, ctx: DurableContext) -> str:
        return "ran"

    def caller(event: Any, ctx: DurableContext) -> str:
        started = HistoryEntry("ExecutionStarted", 0.0, None, {"Input": "null"})
        journal.open_execution("w/invoke-2", "null", started, owner="worker-9", lease_s=0.1)
        ctx.step(lambda _: None, name="before")
        return ctx.invoke("leaf", None)

    run = run_durable(
        caller,
        None,
        journal=journal,
        execution_id="w",
        functions={"leaf": leaf},
        lease=LeaseConfig(on_busy="wait"),
    )
    assert (run.status, run.result) == ("SUCCEEDED", "ran"), run.error


def _first_step_then_wait(event: Any, ctx: DurableContext) -> int:
    value = ctx.step(lambda _: 1, name="a")
    ctx.wait(Duration.from_seconds(1))
    return value


class _BreaksAtFirstStep(MemoryJournal):
    """Fails the first append that carries an operation record (a step's checkpoint) with
    `error`; with `taken_over`, another owner takes the execution's lease first (the stopped
    invocation's lease ran out meanwhile)."""

    def __init__(self, error: BaseException, *, taken_over: bool = False) -> None:
        super().__init__()
        self.error, self.taken_over, self.armed = error, taken_over, True

    def append(self, execution_id: str, entries: Any, lease: Any = None) -> None:
        if self.armed and any(e.operation is not None for e in entries):
            self.armed = False
            if self.taken_over:
                self.renew(lease, 0.0)
                started = HistoryEntry("ExecutionStarted", 0.0, None, {"Input": "null"})
                self.open_execution(execution_id, "null", started, owner="other", lease_s=30.0)
            raise self.error
        super().append(execution_id, entries, lease)


def _completions(journal: MemoryJournal, execution_id: str) -> list[dict[str, Any]]:
    return [
        e.details
        for e in journal.read_history(execution_id)
        if e.event_type == "InvocationCompleted"
    ]


def test_an_invocation_stopped_by_an_outage_records_its_end_and_is_ready_at_once() -> None:
    """Its InvocationCompleted entry has AWS's fields (start, end, request id) with the outage
    as its error; the lease is given up ready for a worker at once, and the next run resumes
    without recording a crash."""
    journal = _BreaksAtFirstStep(JournalUnavailableError("lost the connection"))
    profile = LatencyProfile(
        name="const", invoke=Dist(INVOKE_MS), cold_start=Dist(COLD_MS), step=Dist(100.0)
    )
    request_ids: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> int:
        request_ids.append(ctx.lambda_context.aws_request_id)
        return _first_step_then_wait(event, ctx)

    with pytest.raises(JournalUnavailableError, match=r"^lost the connection$"):
        run_durable(handler, None, journal=journal, execution_id="o", profile=profile)
    assert _completions(journal, "o") == [
        {
            "StartTimestamp": COLD_MS + INVOKE_MS,
            "EndTimestamp": COLD_MS + INVOKE_MS + 100.0,  # the step ran before its checkpoint
            "RequestId": request_ids[0],
            "Error": {
                "ErrorType": "JournalUnavailableError",
                "ErrorMessage": "the invocation was stopped by the journal: lost the connection",
            },
        }
    ]
    claimed = journal.claim("worker", 30.0, ["handler"])
    assert claimed is not None and claimed.execution_id == "o"
    journal.release(claimed.lease, ready_at=READY_NOW)  # type: ignore[arg-type]
    run = run_durable(handler, None, journal=journal, execution_id="o", profile=profile)
    assert (run.status, run.result) == ("SUCCEEDED", 1)
    errors = [details.get("Error") for details in _completions(journal, "o")]
    assert errors[1:] == [None, None]  # no crash recorded


def test_an_invocation_stopped_after_its_lease_was_taken_over_writes_nothing_more() -> None:
    journal = _BreaksAtFirstStep(JournalUnavailableError("lost the connection"), taken_over=True)
    with pytest.raises(JournalUnavailableError):
        run_durable(_first_step_then_wait, None, journal=journal, execution_id="t")
    assert _completions(journal, "t") == []  # the new owner records what it finds


def test_an_outage_after_the_invocation_ended_records_no_stopped_invocation() -> None:
    """The invocation completed (its entry is written); the outage hit the execution's end."""

    class _FinishFails(MemoryJournal):
        def finish_execution(self, *args: Any, **kwargs: Any) -> None:
            raise JournalUnavailableError("lost the connection")

    journal = _FinishFails()
    with pytest.raises(JournalUnavailableError, match=r"^lost the connection$"):
        run_durable(lambda event, ctx: "done", None, journal=journal, execution_id="f")
    assert [details.get("Error") for details in _completions(journal, "f")] == [None]
    assert journal.claim("worker", 30.0, ["<lambda>"]) is not None  # ready at once


def test_a_corrupt_journal_stops_the_run_and_waits_for_a_repair() -> None:
    """Any journal error other than an outage gives the lease up without queueing the
    execution: it is not ready for a worker until the outside world changes it."""
    journal = _BreaksAtFirstStep(JournalCorruptError("operation 1: bad bytes"))
    with pytest.raises(JournalCorruptError, match=r"^operation 1: bad bytes$"):
        run_durable(_first_step_then_wait, None, journal=journal, execution_id="c")
    assert journal.claim("worker", 30.0, ["_first_step_then_wait"]) is None
    assert _completions(journal, "c") == []
    again = run_durable(_first_step_then_wait, None, journal=journal, execution_id="c")
    assert (again.status, again.result) == ("SUCCEEDED", 1)  # the lease was given up


@pytest.mark.parametrize("release_fails", [False, True])
def test_an_interrupted_run_gives_its_lease_up_ready_at_once(release_fails: bool) -> None:
    """The interrupt propagates as it is, even when the journal cannot take the lease back
    (the lease then expires by itself)."""

    class _Journal(MemoryJournal):
        def release(self, *args: Any, **kwargs: Any) -> None:
            if release_fails:
                raise JournalUnavailableError("lost the connection")
            super().release(*args, **kwargs)

    def interrupted(event: Any, ctx: DurableContext) -> None:
        ctx.step(lambda _: 1, name="a")
        raise KeyboardInterrupt

    journal = _Journal()
    with pytest.raises(KeyboardInterrupt):
        run_durable(interrupted, None, journal=journal, execution_id="k")
    claimed = journal.claim("worker", 30.0, ["interrupted"])
    assert (claimed is None) is release_fails  # a lease still held is not claimable


def test_a_crashed_invocation_is_recorded_as_aws_records_it_when_the_execution_resumes() -> None:
    """AWS appends an InvocationCompleted event with a ``Runtime.ExitError`` for an invocation
    whose runtime exited: from its start (here the end of the invocation before it, which
    re-invoked at once) to its last checkpoint, with a request id of its own. The next
    invocation is a new runtime (a cold start)."""
    profile = LatencyProfile(name="const", cold_start=Dist(COLD_MS), step=Dist(1000.0))
    journal = MemoryJournal()
    request_ids: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> str:
        request_ids.append(ctx.lambda_context.aws_request_id)
        callback = ctx.create_callback(name="reply")
        ctx.step(lambda _: send_callback_success(journal, callback.callback_id, "hi"), "send")
        answer = callback.result()  # answered already: invoked again at once
        return ctx.step(lambda _: answer, name="after")  # the crash follows its checkpoint

    crash = FaultPlan(crash_after_checkpoint=5)
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="x", profile=profile, faults=crash)
    run = run_durable(handler, None, journal=journal, execution_id="x", profile=profile)
    assert (run.status, run.result, run.metrics.elapsed_ms) == ("SUCCEEDED", "hi", COLD_MS)
    completed = [e for e in journal.read_history("x") if e.event_type == "InvocationCompleted"]
    assert [e.at_ms for e in completed] == [1100.0, 2100.0, 2200.0]
    crash_id = completed[1].details["RequestId"]  # type: ignore[index]
    assert [e.details for e in completed] == [
        {"StartTimestamp": 100.0, "EndTimestamp": 1100.0, "RequestId": request_ids[0]},
        {
            "StartTimestamp": 1100.0,
            "EndTimestamp": 2100.0,
            "RequestId": crash_id,
            "Error": {
                "ErrorType": "Runtime.ExitError",
                "ErrorMessage": "the runtime exited before the invocation completed (a crash)",
            },
        },
        {"StartTimestamp": 2200.0, "EndTimestamp": 2200.0, "RequestId": request_ids[2]},
    ]
    assert len({*request_ids, crash_id}) == 4  # the crashed one read its own id too


def _steps_and_waits(event: Any, ctx: DurableContext) -> int:
    for i in range(12):
        ctx.step(lambda _, i=i: i, name=f"s{i}")
        ctx.wait(Duration.from_seconds(1))
    return 12


def _crash_twice_then_finish(journal: MemoryJournal, execution_id: str) -> list[str]:
    for k in (4, 2):
        with pytest.raises(SimulatedCrash):
            faults = FaultPlan(crash_after_checkpoint=k)
            run_durable(
                _steps_and_waits, None, journal=journal, execution_id=execution_id, faults=faults
            )
    run = run_durable(_steps_and_waits, None, journal=journal, execution_id=execution_id)
    assert run.status == "SUCCEEDED", run.error
    return [details["RequestId"] for details in _completions(journal, execution_id)]


def test_every_invocation_has_a_request_id_of_its_own_crashed_ones_too() -> None:
    """Unique within an execution (two crashes, a dozen invocations) and across executions
    that crash at the same points."""
    journal = MemoryJournal()
    first, second = (_crash_twice_then_finish(journal, name) for name in ("a", "b"))
    errors = [details.get("Error") for details in _completions(journal, "a")]
    assert sum(error is not None for error in errors) == 2 and len(first) > 12
    assert len(set(first)) == len(first) and len(set(second)) == len(second)
    assert not set(first) & set(second)


def _callback_crash_callback(journal: MemoryJournal, profile: LatencyProfile) -> list[float]:
    """Execution "k" of `_two_messages`: PENDING on m0; answered; a crash in the invocation
    that creates m1; resumed (the crash recorded) to PENDING on m1; answered; finished. The
    cold starts charged by each call (ms), on a traced virtual clock."""
    colds = []

    def call(faults: FaultPlan = NO_FAULTS) -> Any:
        with observe_clocks(Trace()) as trace:
            try:
                return run_durable(
                    _two_messages,
                    None,
                    journal=journal,
                    execution_id="k",
                    faults=faults,
                    profile=profile,
                    seed=5,
                )
            finally:
                colds.append(trace.charged_ms("cold_start"))

    first = call()
    send_callback_success(journal, first.pending_callbacks[0], "one")
    with pytest.raises(SimulatedCrash):
        call(FaultPlan(crash_after_checkpoint=1, crash_mode="raise"))
    resumed = call()
    assert resumed.status == "PENDING" and resumed.pending_callbacks != first.pending_callbacks
    send_callback_success(journal, resumed.pending_callbacks[0], "two")
    assert call().result == ["one", "two"]
    return colds


def test_invocations_after_a_recorded_crash_keep_their_own_request_ids_and_draws() -> None:
    """The crashed invocation counts as one: the invocations after it are numbered on from it,
    so a later resumption reuses no earlier invocation's request id, and each cold start (the
    first invocation's, and the one after the crash) draws its own latency."""
    journal = MemoryJournal()
    noisy = LatencyProfile(name="noisy", invoke=Dist(INVOKE_MS), cold_start=Dist(COLD_MS, 0.5))
    colds = _callback_crash_callback(journal, noisy)
    requests = [details["RequestId"] for details in _completions(journal, "k")]
    crashed = [d for d in _completions(journal, "k") if d.get("Error")]
    assert len(requests) == 4 and len(crashed) == 1
    assert len(set(requests)) == 4
    assert colds[1] == colds[3] == 0.0 and colds[0] > 0.0 and colds[2] > 0.0  # cold: 1st, 3rd
    assert colds[0] != colds[2]  # the first invocation's cold start and the one after the crash


def test_a_resumption_numbers_its_invocations_on_from_every_earlier_one() -> None:
    """A call that ran two invocations (a wait between them) and then a later call: three
    invocations, three request ids."""

    def handler(event: Any, ctx: DurableContext) -> str:
        ctx.wait(Duration.from_seconds(1))
        return ctx.create_callback(name="reply").result()

    journal = MemoryJournal()
    first = run_durable(handler, None, journal=journal, execution_id="n")
    assert first.status == "PENDING" and first.metrics.invocations == 2
    send_callback_success(journal, first.pending_callbacks[0], "hi")
    assert run_durable(handler, None, journal=journal, execution_id="n").result == "hi"
    requests = [details["RequestId"] for details in _completions(journal, "n")]
    assert len(requests) == len(set(requests)) == 3


def test_a_crashed_invocation_after_a_wait_does_not_start_before_the_wait_ended() -> None:
    journal = MemoryJournal()

    def handler(event: Any, ctx: DurableContext) -> str:
        ctx.wait(Duration.from_seconds(60))
        return ctx.step(lambda _: "done", name="after")

    with pytest.raises(SimulatedCrash):
        faults = FaultPlan(crash_after_checkpoint=2)
        run_durable(handler, None, journal=journal, execution_id="w", faults=faults)
    run_durable(handler, None, journal=journal, execution_id="w")
    history = journal.read_history("w")
    waited = next(e.at_ms for e in history if e.event_type == "WaitSucceeded")
    crashed = [d for d in _completions(journal, "w") if d.get("Error")]
    assert len(crashed) == 1 and crashed[0]["StartTimestamp"] >= waited == 60_000.0


def test_a_resumed_execution_continues_from_its_last_recorded_time() -> None:
    """Here a step that started (its last record) before the crash: the resumed invocation
    begins after it, not at the end of the wait before it."""
    profile = LatencyProfile(
        name="const", invoke=Dist(INVOKE_MS), cold_start=Dist(COLD_MS), step=Dist(100.0)
    )

    def handler(event: Any, ctx: DurableContext) -> int:
        ctx.step(lambda _: 1, name="a")
        ctx.wait(Duration.from_seconds(1))  # ends at 1210 ms
        return ctx.step(lambda _: 2, name="b")  # starts at 1220 ms; the crash follows

    journal = MemoryJournal()
    with pytest.raises(SimulatedCrash):
        faults = FaultPlan(crash_after_checkpoint=4)
        run_durable(
            handler, None, journal=journal, execution_id="r", profile=profile, faults=faults
        )
    started = journal.get_operation("r", "3")
    assert started is not None and (started.status.value, started.start_ms) == ("STARTED", 1220.0)
    run = run_durable(handler, None, journal=journal, execution_id="r", profile=profile)
    assert (run.status, run.result) == ("SUCCEEDED", 2)
    last = _completions(journal, "r")[-1]
    begins = 1220.0 + COLD_MS + INVOKE_MS
    assert (last["StartTimestamp"], last["EndTimestamp"]) == (begins, begins + 100.0)


def test_without_latencies_a_resumed_execution_stays_at_time_zero() -> None:
    journal = MemoryJournal()
    runs = _resume_until_done(journal)
    assert [r.status for r in runs] == ["PENDING", "PENDING", "SUCCEEDED"]
    assert {e.at_ms for e in journal.read_history("a")} == {0.0}


def test_a_resumed_run_that_fails_counts_only_its_own_time() -> None:
    profile = LatencyProfile(name="const", invoke=Dist(INVOKE_MS))
    journal = MemoryJournal()

    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.wait(Duration.from_seconds(5))
        raise ValueError(ctx.create_callback(name="m").result())

    first = run_durable(handler, None, journal=journal, execution_id="f", profile=profile)
    assert first.status == "PENDING"
    record = journal.get_operation("f", "2")
    assert record is not None and record.callback_id is not None
    send_callback_success(journal, record.callback_id, "no")
    again = run_durable(handler, None, journal=journal, execution_id="f", profile=profile)
    assert (again.status, str(again.error), again.metrics.elapsed_ms) == ("FAILED", "no", INVOKE_MS)


class _TakenOverAtTheEnd(MemoryJournal):
    """Loses the lease to another owner right after an invocation's end is written."""

    def append(self, execution_id: str, entries: Any, lease: Any = None) -> None:
        super().append(execution_id, entries, lease)
        if any(e.event_type == "InvocationCompleted" for e in entries):
            self.renew(lease, 0.0)
            started = HistoryEntry("ExecutionStarted", 0.0, None, {"Input": "null"})
            self.open_execution(execution_id, "null", started, owner="other", lease_s=30.0)


def _raises_late(event: Any, ctx: DurableContext) -> None:
    raise ValueError("late")


@pytest.mark.parametrize(
    ("handler", "outcome"),
    [(_raises_late, "error"), (lambda event, ctx: "done", "result")],
    ids=["failure", "success"],
)
def test_an_outcome_is_not_recorded_by_an_owner_whose_lease_was_taken_over(
    handler: Any, outcome: str
) -> None:
    """The lease is lost after the invocation's end was written, before the failure or the
    success is: the write is fenced (LeaseLostError) and the execution stays the new owner's,
    running."""
    journal = _TakenOverAtTheEnd()
    with pytest.raises(LeaseLostError):
        run_durable(handler, None, journal=journal, execution_id="l")
    record = journal.get_execution("l")
    assert record is not None and (record.status, getattr(record, outcome)) == ("RUNNING", None)


def test_a_finished_execution_started_again_reports_itself_on_its_journal() -> None:
    journal = MemoryJournal()
    first = run_durable(_raiser("value"), None, journal=journal, execution_id="h")
    again = run_durable(_raiser("value"), None, journal=journal, execution_id="h")
    assert (again.execution_id, again.engine, again.journal) == ("h", "sim", journal)
    assert export_history(again) == export_history(first)


class Ledger:
    """Stands for a workflow module's namespace (registered in `sys.modules` by the test)."""

    class Error(Exception):
        pass


class BooksError(Exception):
    pass


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("ledger.Error", BooksError),  # a top-level module's class
        ("ledger.Ledger.Error", Ledger.Error),  # a nested class
        ("ledger.books.BooksError", BooksError),  # a submodule its package does not name
        ("ledger.books.Ledger.Error", Ledger.Error),
    ],
)
def test_an_error_type_is_found_in_the_modules_this_process_imported(
    monkeypatch: pytest.MonkeyPatch, error_type: str, expected: type[Exception]
) -> None:
    package, books = types.ModuleType("ledger"), types.ModuleType("ledger.books")
    package.Error, package.Ledger = BooksError, Ledger  # type: ignore[attr-defined]
    books.BooksError, books.Ledger = BooksError, Ledger  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ledger", package)
    monkeypatch.setitem(sys.modules, "ledger.books", books)
    rebuilt = rebuild_error({"ErrorType": error_type, "ErrorMessage": "m"})
    assert type(rebuilt) is expected and str(rebuilt) == "m"


@pytest.mark.parametrize(
    "error_type",
    ["LostError", "print", "int", "json.dumps", "json.NoSuchError", "json.decoder.Nope.Error"],
)
def test_a_name_that_is_no_exception_class_comes_back_as_the_sdks_operation_error(
    error_type: str,
) -> None:
    rebuilt = rebuild_error({"ErrorType": error_type, "ErrorMessage": "m"})
    assert type(rebuilt) is DurableOperationError
    assert (rebuilt.error_type, rebuilt.message) == (error_type, "m")


def _clock_park(clock: Any) -> Any:
    return execute(
        _waits(Duration.from_seconds(3600)),
        "null",
        journal=MemoryJournal(),
        execution_id="p",
        clock=clock,
        sampler=Sampler(ZERO, 0),
        faults=NO_FAULTS,
        function_name="parked",
        park_after_ms=1000.0,
    )


def test_a_run_parked_on_the_virtual_clock_is_not_queued_for_its_timer() -> None:
    """Virtual time means nothing to a worker: only a parked run on a real clock is left
    ready in the queue for its next timer."""
    run = _clock_park(VirtualClock())
    assert run.status == "PENDING"
    assert run.journal.claim("worker", 30.0, ["parked"]) is None  # type: ignore[union-attr]


def test_a_pending_run_is_ready_at_once_when_its_callback_is_answered_as_it_ends() -> None:
    """The answer arrives while the lease is given up: the execution is queued at once. A
    callback answered earlier does not make a waiting execution ready."""

    class _AnsweredAtRelease(MemoryJournal):
        answer_at_release = False

        def release(self, lease: Any, **kwargs: Any) -> None:
            record = self.get_operation(lease.execution_id, "2")
            if self.answer_at_release and record is not None and not record.terminal:
                send_callback_success(self, record.callback_id, "late")  # type: ignore[arg-type]
            super().release(lease, **kwargs)

    def waiter(event: Any, ctx: DurableContext) -> list[str]:
        return [ctx.create_callback(name=f"m{i}").result() for i in range(2)]

    journal = _AnsweredAtRelease()
    assert run_durable(waiter, None, journal=journal, execution_id="q").status == "PENDING"
    first = journal.get_operation("q", "1")
    assert first is not None and first.callback_id is not None
    send_callback_success(journal, first.callback_id, "early")
    journal.release(journal.claim("w", 30.0, ["waiter"]).lease)  # type: ignore[union-attr,arg-type]
    assert run_durable(waiter, None, journal=journal, execution_id="q").status == "PENDING"
    assert journal.claim("worker", 30.0, ["waiter"]) is None  # waits on the second callback
    journal.answer_at_release = True
    assert run_durable(waiter, None, journal=journal, execution_id="q").status == "PENDING"
    claimed = journal.claim("worker", 30.0, ["waiter"])
    assert claimed is not None and claimed.execution_id == "q"


def test_each_invocation_pays_the_platforms_and_the_services_costs() -> None:
    """Every invocation: Lambda's invoke and the service's orchestration; the first also a cold
    start; a re-invocation after a suspension the resume delay from its due time."""
    profile = LatencyProfile(
        name="const",
        invoke=Dist(10.0),
        durable_invoke=Dist(20.0),
        cold_start=Dist(100.0),
        resume=Dist(1000.0),
    )
    run = run_durable(_waits(Duration.from_seconds(5)), None, profile=profile)
    assert run.status == "SUCCEEDED"
    first = 10.0 + 20.0 + 100.0
    assert run.metrics.elapsed_ms == first + 5000.0 + 1000.0 + 10.0 + 20.0


def test_a_callback_answered_during_the_invocation_resumes_after_the_resume_delay() -> None:
    profile = LatencyProfile(name="const", invoke=Dist(10.0), resume=Dist(1000.0))
    journal = MemoryJournal()

    def handler(event: Any, ctx: DurableContext) -> str:
        callback = ctx.create_callback(name="reply")
        ctx.step(lambda _: send_callback_success(journal, callback.callback_id, "hi"), "send")
        return callback.result()

    run = run_durable(handler, None, journal=journal, profile=profile)
    assert (run.status, run.metrics.invocations) == ("SUCCEEDED", 2)
    assert run.metrics.elapsed_ms == 10.0 + 1000.0 + 10.0


def test_a_pending_run_names_only_the_callbacks_its_last_invocation_waits_on() -> None:
    journal = MemoryJournal()

    def handler(event: Any, ctx: DurableContext) -> str:
        first = ctx.create_callback(name="first")
        ctx.step(lambda _: send_callback_success(journal, first.callback_id, "hi"), "send")
        return first.result() + ctx.create_callback(name="second").result()

    run = run_durable(handler, None, journal=journal, execution_id="n")
    second = journal.get_operation("n", "3")
    assert second is not None and second.name == "second"
    assert (run.status, run.pending_callbacks) == ("PENDING", [second.callback_id])


def _circular() -> list[Any]:
    items: list[Any] = []
    items.append(items)
    return items


@pytest.mark.parametrize(
    ("value", "kind", "reason"),
    [
        ({1, 2}, "set", "Object of type set is not JSON serializable"),
        (_circular(), "list", "Circular reference detected"),
    ],
)
def test_a_result_json_cannot_encode_fails_the_execution_naming_its_type(
    value: Any, kind: str, reason: str
) -> None:
    journal = MemoryJournal()
    run = run_durable(lambda event, ctx: value, None, journal=journal, execution_id="j")
    assert run.status == "FAILED" and type(run.error) is TypeError
    assert str(run.error) == (
        f"the handler returned a {kind} that JSON cannot encode ({reason}); an execution's "
        "result is JSON, as on AWS: return JSON data"
    )
    record = journal.get_execution("j")
    assert record is not None and record.status == "FAILED"


def test_a_workflow_cannot_catch_a_journal_error_away() -> None:
    """The invocation stops with it, whatever the workflow does; no outcome is recorded."""
    journal = _BreaksAtFirstStep(JournalCorruptError("operation 1: bad bytes"))

    def swallowing(event: Any, ctx: DurableContext) -> str:
        try:  # noqa: SIM105 - workflow code trying to swallow the error
            ctx.step(lambda _: 1, name="a")
        except Exception:
            pass
        return "pretends to succeed"

    with pytest.raises(JournalCorruptError, match=r"^operation 1: bad bytes$"):
        run_durable(swallowing, None, journal=journal, execution_id="s")
    record = journal.get_execution("s")
    assert record is not None and (record.status, record.result) == ("RUNNING", None)


def test_a_resumed_run_that_parks_counts_only_its_own_time() -> None:
    profile = LatencyProfile(name="const", invoke=Dist(INVOKE_MS))
    journal = MemoryJournal()

    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.create_callback(name="go").result()
        ctx.wait(Duration.from_seconds(3600))

    def start() -> Any:
        return execute(
            handler,
            "null",
            journal=journal,
            execution_id="pk",
            clock=VirtualClock(),
            sampler=Sampler(profile, 0),
            faults=NO_FAULTS,
            park_after_ms=1000.0,
        )

    assert start().status == "PENDING"
    record = journal.get_operation("pk", "1")
    assert record is not None and record.callback_id is not None
    send_callback_success(journal, record.callback_id, "go")
    parked = start()
    assert (parked.status, parked.metrics.elapsed_ms) == ("PENDING", INVOKE_MS)
    assert journal.get_operation("pk", "2").status.value == "STARTED"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("make", "delay_s"),
    [
        (lambda: _waits(Duration.from_seconds(3600)), 3600.0),
        (lambda: _times_out(Duration.from_seconds(3600)), 3600.0),  # to time the callback out
        (lambda: _two_messages, None),  # only the outside world can move it on
    ],
    ids=["wait", "callback timeout", "callback"],
)
def test_a_parked_run_on_the_wall_clock_is_queued_for_its_next_timer(
    make: Any, delay_s: float | None
) -> None:
    class _Releases(MemoryJournal):
        def __init__(self) -> None:
            super().__init__()
            self.ready_at: list[float | None] = []

        def release(self, lease: Any, **kwargs: Any) -> None:
            self.ready_at.append(kwargs.get("ready_at"))
            super().release(lease, **kwargs)

    journal = _Releases()
    before = time.time()
    run = execute(
        make(),
        "null",
        journal=journal,
        execution_id="wp",
        clock=WallClock(),
        sampler=Sampler(ZERO, 0),
        faults=NO_FAULTS,
        park_after_ms=1000.0,
    )
    after = time.time()
    assert run.status == "PENDING" and len(journal.ready_at) == 1
    ready = journal.ready_at[0]
    if delay_s is None:
        assert ready is None
    else:
        assert ready is not None and before + delay_s <= ready <= after + delay_s


def test_a_heartbeat_during_the_invocation_does_not_invoke_the_function_again() -> None:
    """The handler cannot observe a heartbeat: the run ends PENDING after one invocation (on
    the wall clock, which does not wait for the heartbeat timeout either)."""
    journal = MemoryJournal()

    def handler(event: Any, ctx: DurableContext) -> str:
        config = CallbackConfig(heartbeat_timeout=Duration.from_seconds(600))
        callback = ctx.create_callback(name="reply", config=config)
        ctx.step(lambda _: send_callback_heartbeat(journal, callback.callback_id), "beat")
        return callback.result()

    run = run_durable(handler, None, journal=journal, execution_id="hb", clock=WallClock())
    assert (run.status, run.metrics.invocations) == ("PENDING", 1)


def test_on_the_wall_clock_a_callback_timeout_is_not_waited_for() -> None:
    """The run returns PENDING rather than sleep until the timeout (module docstring)."""
    started = time.monotonic()
    run = run_durable(_times_out(Duration.from_seconds(3600)), None, clock=WallClock())
    assert run.status == "PENDING" and len(run.pending_callbacks) == 1
    assert time.monotonic() - started < 600  # far from the hour the timeout is away


@pytest.mark.parametrize(("wait_ms", "status"), [(1000, "SUCCEEDED"), (1001, "PENDING")])
def test_a_run_parks_only_for_a_timer_further_away_than_park_after_ms(
    wait_ms: int, status: str
) -> None:
    run = execute(
        _waits(Duration(seconds=wait_ms / 1000)),  # type: ignore[arg-type]
        "null",
        journal=MemoryJournal(),
        execution_id="b",
        clock=VirtualClock(),
        sampler=Sampler(ZERO, 0),
        faults=NO_FAULTS,
        park_after_ms=1000.0,
    )
    assert run.status == status


@pytest.mark.parametrize("handler", [_raiser("value"), lambda event, ctx: "done"])
def test_a_finished_run_keeps_no_lease_renewal_going(handler: Any) -> None:
    """The run stops renewing its lease when it ends: with a 0.3 s lease (renewed every 0.1 s)
    no renewal starts once the run has returned."""

    class _Renewals(MemoryJournal):
        def __init__(self) -> None:
            super().__init__()
            self.renewed_at: list[float] = []

        def renew(self, lease: Any, lease_s: float) -> Any:
            self.renewed_at.append(time.monotonic())
            return super().renew(lease, lease_s)

    journal = _Renewals()
    run = run_durable(handler, None, journal=journal, lease=LeaseConfig(duration_s=0.3))
    returned = time.monotonic()
    assert run.status in ("SUCCEEDED", "FAILED")
    time.sleep(0.3)  # the renewal period three times over: a keeper left running renews
    assert [t for t in journal.renewed_at if t > returned + 0.01] == []


def test_a_run_returns_only_after_the_branches_its_batches_left_running_have_ended() -> None:
    """A wall-clock parallel decided by its first branch leaves the other running; the
    invocation joins it before it ends, so nothing of the run outlives run_durable."""
    started, ended = threading.Event(), threading.Event()

    def first(ctx: DurableContext) -> str:
        assert started.wait(10), "the second branch never started"
        return "first"

    def second(ctx: DurableContext) -> str:
        started.set()
        time.sleep(0.2)  # still running when the first branch decides the batch
        ended.set()
        return "second"

    def handler(event: Any, ctx: DurableContext) -> str:
        config = ParallelConfig(completion_config=CompletionConfig(min_successful=1))
        return ctx.parallel([first, second], config=config).completion_reason.value

    run = run_durable(handler, None, journal=MemoryJournal(), clock=WallClock())
    assert (run.status, run.result) == ("SUCCEEDED", "MIN_SUCCESSFUL_REACHED")
    assert ended.is_set()


def _consecutive_waits(count: int) -> Any:
    def handler(event: Any, ctx: DurableContext) -> int:
        for i in range(count):
            ctx.wait(Duration.from_seconds(1), name=f"w{i}")
        return count

    return handler


def test_each_resumption_after_a_timer_draws_its_own_resume_latency() -> None:
    """One wait costs one resume draw, two waits two: the second is not the first again."""
    noisy = LatencyProfile(name="noisy", resume=Dist(50.0, 0.5))

    def resumes(count: int) -> float:
        with observe_clocks(Trace()) as trace:
            run = run_durable(
                _consecutive_waits(count), None, execution_id="r", profile=noisy, seed=11
            )
        assert (run.status, run.metrics.invocations) == ("SUCCEEDED", count + 1)
        return trace.charged_ms("resume")

    one, two = resumes(1), resumes(2)
    assert one > 0.0 and two > one and two != pytest.approx(2 * one, abs=1e-6)


def test_an_engine_error_caught_by_the_workflow_fails_the_execution_when_it_suspends() -> None:
    """A checkpoint too large is terminal: the workflow catches it and waits, and the run
    fails with it at the suspension, having waited for nothing."""

    def handler(event: Any, ctx: DurableContext) -> str:
        try:  # noqa: SIM105 - workflow code trying to swallow the error
            ctx.step(lambda _: "x" * 300_000, name="big")
        except Exception:
            pass
        ctx.wait(Duration.from_seconds(5), name="later")
        return "done"

    constant = LatencyProfile(name="const", invoke=Dist(INVOKE_MS))
    run = run_durable(handler, None, execution_id="f", profile=constant)
    assert run.status == "FAILED" and run.error_object is not None
    assert run.error_object.type is not None and "CheckpointTooLarge" in run.error_object.type
    assert run.metrics.elapsed_ms == INVOKE_MS  # it never waited
    assert type(run.error).__name__ == "CheckpointTooLargeError"


def test_each_resumption_for_an_answered_callback_draws_its_own_resume_latency() -> None:
    """A callback answered while the invocation runs means another invocation at once, after a
    resume draw of its own: two such answers cost two different draws."""
    noisy = LatencyProfile(name="noisy", resume=Dist(50.0, 0.5))

    def resumes(count: int) -> float:
        journal = MemoryJournal()

        def handler(event: Any, ctx: DurableContext) -> list[str]:
            replies = []
            for i in range(count):
                callback = ctx.create_callback(name=f"reply{i}")
                ctx.step(
                    lambda _, c=callback, i=i: send_callback_success(journal, c.callback_id, i),
                    name=f"send{i}",
                )
                replies.append(callback.result())
            return replies

        with observe_clocks(Trace()) as trace:
            run = run_durable(handler, None, journal=journal, execution_id="c", profile=noisy)
        assert (run.status, run.metrics.invocations) == ("SUCCEEDED", count + 1)
        return trace.charged_ms("resume")

    one, two = resumes(1), resumes(2)
    assert one > 0.0 and two > one and two != pytest.approx(2 * one, abs=1e-6)


def _execute(handler: Any, journal: Any, **options: Any) -> Any:
    return execute(
        handler,
        "null",
        journal=journal,
        execution_id="x",
        clock=VirtualClock(),
        sampler=Sampler(ZERO, 0),
        faults=NO_FAULTS,
        **options,
    )


def test_execute_names_the_function_handler_unless_told_otherwise() -> None:
    names: list[str] = []

    def workflow(event: Any, ctx: DurableContext) -> None:
        names.append(ctx.lambda_context.function_name)

    _execute(workflow, MemoryJournal())
    assert names == ["handler"]


def test_a_run_on_a_shared_journal_renews_its_lease_while_it_runs(tmp_path: Path) -> None:
    """On a journal other processes can open, the run's lease is renewed while a step runs
    longer than the lease (here 0.1 s, renewed every third of it)."""
    renewals: list[float] = []

    class _Counting(SqliteJournal):
        def renew(self, lease: Any, lease_s: float) -> Any:
            renewals.append(lease_s)
            return super().renew(lease, lease_s)

    journal = _Counting(tmp_path / "j.sqlite")

    def slow(event: Any, ctx: DurableContext) -> str:
        return ctx.step(lambda _: time.sleep(0.35) or "done", name="slow")

    run = run_durable(
        slow,
        None,
        journal=journal,
        execution_id="r",
        clock=WallClock(),
        lease=LeaseConfig(duration_s=0.1),
    )
    assert (run.status, run.result) == ("SUCCEEDED", "done")
    assert renewals.count(0.1) >= 2  # every third of 0.1 s, over 0.35 s


def test_a_crash_whose_lease_cannot_be_given_up_is_still_reported_as_the_crash() -> None:
    """The journal is out of reach as the crashed run lets its lease lapse: the lease then
    expires by itself, and the caller sees the crash, not the outage."""

    class _Unreachable(MemoryJournal):
        def renew(self, lease: Any, lease_s: float) -> Any:
            if lease_s == 0.0:
                raise JournalUnavailableError("lost the connection")
            return super().renew(lease, lease_s)

    with pytest.raises(SimulatedCrash):
        run_durable(
            lambda event, ctx: ctx.step(lambda _: 1, name="a") + ctx.step(lambda _: 2, name="b"),
            None,
            journal=_Unreachable(),
            execution_id="c",
            faults=FaultPlan(crash_after_checkpoint=1, crash_mode="raise"),
        )


def test_an_outage_before_the_first_invocation_leaves_the_execution_ready_at_once() -> None:
    """The journal fails as a resumed run records the previous invocation's crash, before any
    invocation of its own began: the outage propagates, and the execution is left ready for
    a worker (no invocation of this run to record)."""

    class _OutageOnTheCrashRecord(MemoryJournal):
        def append(self, execution_id: str, entries: Any, lease: Any = None) -> None:
            if any(
                (e.details or {}).get("Error", {}).get("ErrorType") == "Runtime.ExitError"
                for e in entries
            ):
                raise JournalUnavailableError("lost the connection")
            super().append(execution_id, entries, lease)

    def two_steps(event: Any, ctx: DurableContext) -> int:
        return ctx.step(lambda _: 1, name="a") + ctx.step(lambda _: 2, name="b")

    journal = _OutageOnTheCrashRecord()
    with pytest.raises(SimulatedCrash):
        run_durable(
            two_steps,
            None,
            journal=journal,
            execution_id="o",
            faults=FaultPlan(crash_after_checkpoint=1, crash_mode="raise"),
        )
    with pytest.raises(JournalUnavailableError):
        run_durable(two_steps, None, journal=journal, execution_id="o")
    assert journal.claim("worker", 30.0, ["two_steps"]) is not None
