"""Callbacks: ``create_callback``/``wait_for_callback``, answers from outside, heartbeats and
AWS's timeout behaviour on the virtual clock."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    Duration,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.exceptions import (
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    DurableOperationError,
)
from aws_durable_execution_sdk_python.retries import RetryPresets
from aws_durable_execution_sdk_python.serdes import JsonSerDes, SerDes, SerDesContext

from durable_sim import (
    CallbackAnswer,
    FaultPlan,
    MemoryJournal,
    SimulatedCrash,
    WallClock,
    export_history,
    export_history_from_journal,
    run_durable,
    send_callback_failure,
    send_callback_heartbeat,
    send_callback_success,
)
from durable_sim.durable import ResponderError
from durable_sim.durable.operation.callback import encode_callback_id
from tests.durable.conftest import JournalBackend


def approval(event: Any, ctx: DurableContext) -> dict[str, Any]:
    cb = ctx.create_callback(name="approval")
    ctx.step(lambda _: cb.callback_id, name="notify")
    try:
        answer = cb.result()
    except CallbackExternalError as exc:
        return {"rejected": exc.message}
    return {"approved": answer}


def test_create_callback_is_pending_until_answered() -> None:
    journal = MemoryJournal()
    first = run_durable(approval, None, journal=journal, execution_id="cb")
    assert first.status == "PENDING"  # no timeout: nothing will ever happen by itself
    (callback_id,) = first.pending_callbacks
    assert first.operation("notify").result == callback_id
    assert first.operation("approval").status == "STARTED"

    again = run_durable(approval, None, journal=journal, execution_id="cb")
    assert (again.status, again.pending_callbacks) == ("PENDING", [callback_id])

    send_callback_success(journal, callback_id, b'{"by": "alice"}')
    done = run_durable(approval, None, journal=journal, execution_id="cb")
    # Without a serdes the payload comes back as it was sent (the SDK's pass-through).
    assert (done.status, done.result) == ("SUCCEEDED", {"approved": '{"by": "alice"}'})
    assert done.metrics.steps_executed == 0  # "notify" is replayed, not re-run
    with pytest.raises(ValueError, match="already SUCCEEDED"):
        send_callback_success(journal, callback_id, "1")


def test_callback_serdes_decodes_the_payload() -> None:
    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.create_callback(config=CallbackConfig(serdes=JsonSerDes())).result()

    def responder(callback_id: str, record: Any) -> list[CallbackAnswer]:
        return [CallbackAnswer("success", after_s=5, result=json.dumps({"n": [1, 2]}))]

    run = run_durable(handler, None, responder=responder)
    assert (run.status, run.result) == ("SUCCEEDED", {"n": [1, 2]})
    assert run.metrics.elapsed_ms == 5000.0


def test_callback_answered_with_a_failure() -> None:
    journal = MemoryJournal()
    first = run_durable(approval, None, journal=journal, execution_id="cb")
    send_callback_failure(journal, first.pending_callbacks[0], PermissionError("no way"))
    done = run_durable(approval, None, journal=journal, execution_id="cb")
    assert (done.status, done.result) == ("SUCCEEDED", {"rejected": "no way"})


def timing_out(event: Any, ctx: DurableContext) -> str:
    config = CallbackConfig(
        timeout=Duration.from_seconds(event["timeout"]),
        heartbeat_timeout=Duration.from_seconds(event["heartbeat"]),
    )
    cb = ctx.create_callback(name="job", config=config)
    try:
        return str(cb.result())
    except CallbackTimeoutError as exc:
        return f"timed out: {exc.message}"


def test_unanswered_callback_times_out_on_the_virtual_clock() -> None:
    run = run_durable(timing_out, {"timeout": 600, "heartbeat": 0})
    assert (run.status, run.result) == ("SUCCEEDED", "timed out: Callback timed out")
    assert run.metrics.elapsed_ms == 600_000.0  # time advanced to the timeout, no further
    assert run.metrics.invocations == 2
    timed_out = [e for e in export_history(run) if e["EventType"] == "CallbackTimedOut"]
    assert timed_out[0]["CallbackTimedOutDetails"]["Error"]["Payload"]["ErrorType"] == (
        "Callback.Timeout"
    )


def test_heartbeat_timeout_and_heartbeats_that_keep_a_callback_alive() -> None:
    silent = run_durable(timing_out, {"timeout": 600, "heartbeat": 60})
    assert silent.result == "timed out: Callback timed out on heartbeat"
    assert silent.metrics.elapsed_ms == 60_000.0

    def beating(callback_id: str, record: Any) -> list[CallbackAnswer]:
        beats = [CallbackAnswer("heartbeat", after_s=50 * k) for k in range(1, 5)]
        return [*beats, CallbackAnswer("success", after_s=230, result="done")]

    alive = run_durable(timing_out, {"timeout": 600, "heartbeat": 60}, responder=beating)
    assert (alive.result, alive.metrics.elapsed_ms) == ("done", 230_000.0)

    def late(callback_id: str, record: Any) -> list[CallbackAnswer]:
        return [CallbackAnswer("heartbeat", after_s=50), CallbackAnswer("success", after_s=200)]

    dead = run_durable(timing_out, {"timeout": 600, "heartbeat": 60}, responder=late)
    assert dead.result == "timed out: Callback timed out on heartbeat"
    assert dead.metrics.elapsed_ms == 110_000.0  # 60 s after the last heartbeat


def test_heartbeat_sent_from_outside_restarts_the_heartbeat_timeout() -> None:
    journal = MemoryJournal()
    first = run_durable(
        timing_out, {"timeout": 0, "heartbeat": 0}, journal=journal, execution_id="h"
    )
    callback_id = first.pending_callbacks[0]
    send_callback_heartbeat(journal, callback_id)  # accepted, changes nothing without a period
    assert journal.get_operation("h", "1").status.value == "STARTED"  # type: ignore[union-attr]
    send_callback_success(journal, callback_id, "ok")
    assert (
        run_durable(
            timing_out, {"timeout": 0, "heartbeat": 0}, journal=journal, execution_id="h"
        ).result
        == "ok"
    )


def test_wall_clock_run_stops_pending_instead_of_sleeping_until_a_timeout() -> None:
    run = run_durable(timing_out, {"timeout": 3600, "heartbeat": 0}, clock=WallClock())
    assert run.status == "PENDING"


def test_answers_reject_unknown_ids() -> None:
    journal = MemoryJournal()
    run_durable(approval, None, journal=journal, execution_id="cb")
    with pytest.raises(ValueError, match="not a callback id"):
        send_callback_success(journal, "%%%", "1")
    with pytest.raises(ValueError, match="kind 'maybe'"):
        CallbackAnswer("maybe")
    with pytest.raises(ValueError, match="after_s=-1"):
        CallbackAnswer("success", after_s=-1)


def test_wait_for_callback_uses_the_sdks_operation_names_and_runs_the_submitter_once() -> None:
    submitted: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> Any:
        def submit(callback_id: str, wctx: Any) -> None:
            submitted.append(callback_id)

        return ctx.wait_for_callback(submit, name="ask")

    journal = MemoryJournal()
    first = run_durable(handler, None, journal=journal, execution_id="w")
    assert first.status == "PENDING"
    assert submitted == first.pending_callbacks
    ops = {op.id: op for op in first.operations}
    assert (ops["1"].sub_type, ops["1"].name) == ("WaitForCallback", "ask")
    assert (ops["1.1"].type, ops["1.1"].name) == ("CALLBACK", "ask create callback id")
    assert (ops["1.2"].type, ops["1.2"].name) == ("STEP", "ask submitter")

    send_callback_success(journal, submitted[0], "[1, 2]")
    done = run_durable(handler, None, journal=journal, execution_id="w")
    assert (done.status, done.result) == ("SUCCEEDED", "[1, 2]")
    assert len(submitted) == 1

    unnamed = run_durable(lambda e, ctx: ctx.wait_for_callback(lambda cid, w: None))
    assert [op.name for op in unnamed.operations] == [None, "create callback id", "submitter"]


def test_wait_for_callback_timeout_and_submitter_failure() -> None:
    def waiting(event: Any, ctx: DurableContext) -> str:
        config = WaitForCallbackConfig(timeout=Duration.from_seconds(30))
        try:
            return str(ctx.wait_for_callback(lambda cid, w: None, config=config))
        except CallbackTimeoutError:
            return "timeout"

    run = run_durable(waiting, None)
    assert (run.status, run.result, run.metrics.elapsed_ms) == ("SUCCEEDED", "timeout", 30_000.0)

    def failing(event: Any, ctx: DurableContext) -> str:
        def submit(callback_id: str, wctx: Any) -> None:
            raise ConnectionError("queue down")

        config = WaitForCallbackConfig(retry_strategy=RetryPresets.none())
        try:
            ctx.wait_for_callback(submit, config=config)
        except CallbackSubmitterError as exc:
            return f"submitter: {exc.message}"
        return "no error"

    assert run_durable(failing, None).result == "submitter: queue down"


def test_a_failure_answer_keeps_its_error_fields_and_a_bare_one_gets_the_sdks_message() -> None:
    """SendDurableExecutionCallbackFailure's ErrorObject (type, message, data, stack trace)
    reaches ``result()``'s CallbackExternalError as sent; without a message, the SDK's
    "Callback failed"."""
    caught: list[tuple[Any, ...]] = []

    def handler(event: Any, ctx: DurableContext) -> str:
        cb = ctx.create_callback(name="job")
        try:
            cb.result()
        except CallbackExternalError as exc:
            caught.append((exc.message, exc.data, exc.stack_trace))
        return "caught"

    sent = {"ErrorType": "Rejected", "ErrorMessage": "no", "ErrorData": "d1", "StackTrace": ["f"]}
    for fields, expected in [
        (sent, ("no", "d1", ["f"])),
        ({"ErrorType": "Rejected"}, ("Callback failed", None, None)),
    ]:
        journal = MemoryJournal()
        first = run_durable(handler, None, journal=journal, execution_id="f")
        send_callback_failure(journal, first.pending_callbacks[0], fields)
        assert run_durable(handler, None, journal=journal, execution_id="f").result == "caught"
        assert caught[-1] == expected
        history = export_history_from_journal(journal, "f")
        failed = [e for e in history if e["EventType"] == "CallbackFailed"]
        assert failed[0]["CallbackFailedDetails"]["Error"]["Payload"]["ErrorType"] == "Rejected"


def test_the_callback_serdes_gets_the_operation_and_the_execution_arn() -> None:
    seen: list[tuple[str, str]] = []
    arns: list[str] = []

    class Recording(SerDes[Any]):
        def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
            return json.dumps(value)

        def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
            seen.append((serdes_context.operation_id, serdes_context.durable_execution_arn))
            return json.loads(data)

    def handler(event: Any, ctx: DurableContext) -> Any:
        arns.append(ctx.execution_context.durable_execution_arn)
        return ctx.create_callback(config=CallbackConfig(serdes=Recording())).result()

    def responder(callback_id: str, record: Any) -> list[CallbackAnswer]:
        return [CallbackAnswer("success", after_s=1, result="[3]")]

    run = run_durable(handler, None, responder=responder)
    assert run.result == [3]
    assert seen and set(seen) == {("1", arns[0])}


def test_the_started_event_carries_the_timeouts_in_seconds() -> None:
    run = run_durable(timing_out, {"timeout": 600, "heartbeat": 60})
    started = next(e for e in export_history(run) if e["EventType"] == "CallbackStarted")
    details = started["CallbackStartedDetails"]
    assert (details["Timeout"], details["HeartbeatTimeout"]) == (600, 60)


def test_the_submitter_step_gets_the_configs_retry_strategy_serdes_and_a_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """wait_for_callback's submitter is a step with the config's retry strategy and serdes (the
    SDK's ``StepConfig(retry_strategy=..., serdes=...)``) and a WaitForCallbackContext whose
    logger carries the step's fields."""
    runs: list[str] = []
    contexts: list[str] = []

    class Recording(SerDes[Any]):
        def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
            contexts.append(serdes_context.operation_id)
            return json.dumps(value)

        def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
            return json.loads(data)

    def handler(event: Any, ctx: DurableContext) -> str:
        def submit(callback_id: str, wctx: Any) -> None:
            runs.append(callback_id)
            wctx.logger.info("submitting")
            if event == "fail":  # the SDK's error with data and a trace, but no message
                raise DurableOperationError("", data="d2", stack_trace=["s"])

        config = WaitForCallbackConfig(
            timeout=Duration.from_seconds(5), retry_strategy=RetryPresets.none(), serdes=Recording()
        )
        try:
            return str(ctx.wait_for_callback(submit, name="ask", config=config))
        except CallbackSubmitterError as exc:
            return f"{exc.message} | {exc.data} | {exc.stack_trace}"
        except CallbackTimeoutError:
            return "timeout"

    with caplog.at_level(logging.INFO):
        assert run_durable(handler, "ok").result == "timeout"
    assert "1.2" in contexts  # the submitter step's result went through the config's serdes
    records = [r for r in caplog.records if r.getMessage() == "submitting"]
    fields = ("operationName", "operationId")
    assert [tuple(getattr(r, f) for f in fields) for r in records] == [("ask submitter", "1.2")]
    runs.clear()
    # No retries: one run of the failing submitter; an error without a message gets the SDK's.
    assert run_durable(handler, "fail").result == "Callback submitter failed | d2 | ['s']"
    assert len(runs) == 1


def test_an_answer_to_a_missing_or_closed_callback_is_refused() -> None:
    journal = MemoryJournal()
    run_durable(approval, None, journal=journal, execution_id="cb")
    with pytest.raises(ValueError, match=r"no callback '.+' in this journal"):
        send_callback_success(journal, encode_callback_id("cb", "9"), "1")
    with pytest.raises(ValueError, match=r"no callback '.+' in this journal"):
        send_callback_success(journal, encode_callback_id("cb", "2"), "1")  # a step

    def abandoning(event: Any, ctx: DurableContext) -> None:
        ctx.create_callback(name="never")
        raise RuntimeError("gave up")

    ended = run_durable(abandoning, None, journal=journal, execution_id="gone")
    assert ended.status == "FAILED"
    (callback_id,) = [op for op in ended.operations if op.name == "never"]
    with pytest.raises(ValueError, match="is closed already"):
        send_callback_success(journal, encode_callback_id("gone", callback_id.id), "1")


def test_an_answer_is_recorded_at_the_time_the_execution_stopped() -> None:
    """An answer from outside lands at the virtual time the execution stopped at (its last
    history entry), and the resumed execution goes on from there."""
    journal = MemoryJournal()

    def handler(event: Any, ctx: DurableContext) -> Any:
        ctx.wait(Duration.from_seconds(7))
        return ctx.create_callback(name="job").result()

    first = run_durable(handler, None, journal=journal, execution_id="t")
    send_callback_success(journal, first.pending_callbacks[0], "x")
    history = export_history_from_journal(journal, "t")
    started = next(e for e in history if e["EventType"] == "CallbackStarted")
    answered = next(e for e in history if e["EventType"] == "CallbackSucceeded")
    assert answered["EventTimestamp"] == started["EventTimestamp"]


def test_a_callback_still_pending_on_replay_is_a_resume_point() -> None:
    """As the SDK's replay-aware operations: a journaled callback that has not completed is where
    the previous invocation stopped, so the context leaves replay right after it, although
    the operation after it is journaled too."""
    seen: list[tuple[str, bool]] = []

    def handler(event: Any, ctx: DurableContext) -> Any:
        callback = ctx.create_callback(name="answer")
        seen.append(("after callback", ctx.is_replaying()))
        ctx.wait(Duration.from_seconds(1), name="pause")
        seen.append(("after wait", ctx.is_replaying()))
        return callback.result()

    run = run_durable(handler, None)
    assert run.status == "PENDING" and run.metrics.invocations == 2
    assert seen == [
        ("after callback", False),
        ("after callback", False),
        ("after wait", False),
    ]


# -- a responder that fails ------------------------------------------------------------------
# The responder stands for the outside world; its failure is none of the workflow's. The
# official runner's engine passes it to the caller and records nothing (measured with
# `run_durable(engine="aws-local")` below); ours fails neither the execution nor an invocation.
# Formerly a responder's ValueError failed the execution with it, and one that could not be
# printed failed an invocation, after which the callback silently timed out.


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str broke")


def _bad_responder(kind: str) -> Any:
    def responder(callback_id: str, record: Any) -> Any:
        if kind == "raises":
            raise ValueError("the harness broke")
        if kind == "raises unprintable":
            raise _Unprintable()
        if kind == "returns None":
            return None
        return [CallbackAnswer("success", result='"ok"'), "ok"]  # a stray value

    return responder


BAD_RESPONDERS = ["raises", "raises unprintable", "returns None", "returns a stray value"]


def _callback_in(where: str) -> Any:
    """A handler that creates one callback `where`, catching every error it can."""

    def create(ctx: DurableContext) -> Any:
        return ctx.create_callback(name="cb").result()

    def handler(event: Any, ctx: DurableContext) -> Any:
        try:
            if where == "handler":
                return create(ctx)
            if where == "wait_for_callback":
                return ctx.wait_for_callback(lambda callback_id, _: None, name="cb")
            if where == "child context":
                return ctx.run_in_child_context(create, name="child")
            return ctx.map([1], lambda child, item, i, items: create(child)).get_results()
        except Exception as exc:  # the workflow cannot catch the responder's failure away
            return f"caught {type(exc).__name__}"

    return handler


@pytest.mark.parametrize("where", ["handler", "wait_for_callback", "child context", "map"])
@pytest.mark.parametrize("kind", BAD_RESPONDERS)
def test_a_failing_responder_stops_the_run_and_records_its_invocation_only(
    kind: str, where: str
) -> None:
    journal = MemoryJournal()
    handler = _callback_in(where)
    with pytest.raises(ResponderError, match="the responder, asked about callback") as raised:
        run_durable(
            handler, None, journal=journal, execution_id="r", responder=_bad_responder(kind)
        )
    if kind.startswith("raises"):
        assert isinstance(raised.value.__cause__, ValueError | _Unprintable)
    else:
        assert "accepted: a list of CallbackAnswer" in str(raised.value)
    execution = journal.get_execution("r")
    assert execution is not None and execution.status == "RUNNING"
    events = [entry.event_type for entry in journal.read_history("r")]
    assert "ExecutionFailed" not in events and "CallbackStarted" in events
    # The invocation it stopped is recorded once, as the runtime's exit (not a counted failure).
    errors = [(e.details or {}).get("Error") for e in journal.read_history("r")]
    assert [error["ErrorType"] for error in errors if error] == ["Runtime.ExitError"]

    # Resumed, the callback can still be answered from outside.
    (callback_id,) = {
        entry.operation.callback_id
        for entry in journal.read_history("r")
        if entry.operation is not None and entry.operation.callback_id is not None
    }
    send_callback_success(journal, callback_id, "late")  # raw text, as the SDK reads it
    run = run_durable(handler, None, journal=journal, execution_id="r")
    assert run.status == "SUCCEEDED"
    assert run.result in ("late", ["late"])


def test_a_failing_responder_is_passed_to_the_caller_on_the_official_runner_too() -> None:
    with pytest.raises(ResponderError) as raised:
        run_durable(
            _callback_in("handler"), None, engine="aws-local", responder=_bad_responder("raises")
        )
    assert isinstance(raised.value.__cause__, ValueError)


# -- callbacks still open when a run resumes the execution ------------------------------------
# The responder's answers live in the run that asked for them. The official runner's engine
# offers every callback it finds open in the execution's history (`_Driver`), whatever ended
# the invocation that created it; formerly a run that resumed the execution asked nothing, so a
# callback whose creating run died before it asked, or before the answer was due, or that a run
# left PENDING, was never answered by the responder (it timed out, or stayed PENDING forever).


def _answers_after(seconds: float, asked: list[str]) -> Any:
    def responder(callback_id: str, record: Any) -> list[CallbackAnswer]:
        asked.append(callback_id)
        return [CallbackAnswer("success", after_s=seconds, result="ok")]

    return responder


def _approval_then_step(event: Any, ctx: DurableContext) -> Any:
    cb = ctx.create_callback(name="cb", config=CallbackConfig(timeout=Duration.from_seconds(60)))
    ctx.step(lambda _: None, name="after")
    return cb.result()


@pytest.mark.parametrize("crash_after", [1, 2])
def test_a_callback_left_open_by_a_dead_run_is_offered_to_the_responder_again(
    backend: JournalBackend, crash_after: int
) -> None:
    """The run dies right after the callback's checkpoint (before the responder is asked), or
    after the next one (the answer, due 10 s later, not yet delivered): the resuming run asks
    again and gets the answer, as on the official runner."""
    asked: list[str] = []
    with pytest.raises(SimulatedCrash):
        run_durable(
            _approval_then_step,
            None,
            journal=backend.open(),
            execution_id="a",
            responder=_answers_after(10, asked),
            faults=FaultPlan(crash_after_checkpoint=crash_after),
        )
    run = run_durable(
        _approval_then_step,
        None,
        journal=backend.open(),
        execution_id="a",
        responder=_answers_after(10, asked),
    )
    assert (run.status, run.result) == ("SUCCEEDED", "ok")
    assert len(asked) == crash_after  # the callback was asked about once per run holding it
    history = backend.open().read_history("a")
    assert [e.event_type for e in history].count("CallbackSucceeded") == 1


def test_a_dead_runs_callback_is_answered_on_the_official_runner_too() -> None:
    asked: list[str] = []
    runs: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> Any:
        runs.append(1)
        cb = ctx.create_callback(
            name="cb", config=CallbackConfig(timeout=Duration.from_seconds(60))
        )
        if len(runs) == 1:
            raise SimulatedCrash("the process dies")
        return cb.result()

    run = run_durable(handler, None, engine="aws-local", responder=_answers_after(10, asked))
    assert (run.status, run.result, len(asked)) == ("SUCCEEDED", "ok", 1)


def test_a_run_resuming_a_pending_execution_asks_the_responder_about_its_open_callbacks() -> None:
    journal = MemoryJournal()
    first = run_durable(
        approval, None, journal=journal, execution_id="p", responder=lambda cb, rec: []
    )
    assert first.status == "PENDING"
    asked: list[str] = []
    run = run_durable(
        approval, None, journal=journal, execution_id="p", responder=_answers_after(0, asked)
    )
    assert (run.status, run.result, asked) == (
        "SUCCEEDED",
        {"approved": "ok"},
        first.pending_callbacks,
    )
