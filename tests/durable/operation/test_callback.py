"""Callbacks: ``create_callback``/``wait_for_callback``, answers from outside, heartbeats and
AWS's timeout behaviour on the virtual clock."""

from __future__ import annotations

import json
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
)
from aws_durable_execution_sdk_python.retries import RetryPresets
from aws_durable_execution_sdk_python.serdes import JsonSerDes

from durable_sim import (
    CallbackAnswer,
    MemoryJournal,
    WallClock,
    export_history,
    run_durable,
    send_callback_failure,
    send_callback_heartbeat,
    send_callback_success,
)


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
