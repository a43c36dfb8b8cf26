"""Callbacks: ``create_callback``/``wait_for_callback``, completion from outside, timeouts."""

from __future__ import annotations

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

from durable_sim import MemoryJournal, VirtualClock, complete_callback, run_durable


def approval(event: Any, ctx: DurableContext) -> dict[str, Any]:
    cb = ctx.create_callback(name="approval")
    ctx.step(lambda _: cb.callback_id, name="notify")
    try:
        answer = cb.result()
    except CallbackExternalError as exc:
        return {"rejected": exc.message}
    return {"approved": answer}


def test_create_callback_is_pending_until_completed() -> None:
    journal = MemoryJournal()
    first = run_durable(approval, None, journal=journal, execution_id="cb")
    assert first.status == "PENDING"
    (callback_id,) = first.pending_callbacks
    assert first.operation("notify").result == callback_id
    assert first.operation("approval").status == "STARTED"

    again = run_durable(approval, None, journal=journal, execution_id="cb")
    assert (again.status, again.pending_callbacks) == ("PENDING", [callback_id])

    complete_callback(journal, callback_id, result={"by": "alice"})
    done = run_durable(approval, None, journal=journal, execution_id="cb")
    assert (done.status, done.result) == ("SUCCEEDED", {"approved": {"by": "alice"}})
    assert done.metrics.steps_executed == 0  # "notify" is replayed, not re-run
    with pytest.raises(ValueError, match="already SUCCEEDED"):
        complete_callback(journal, callback_id, result=1)


def test_callback_completed_with_error() -> None:
    journal = MemoryJournal()
    first = run_durable(approval, None, journal=journal, execution_id="cb")
    complete_callback(journal, first.pending_callbacks[0], error=PermissionError("no way"))
    done = run_durable(approval, None, journal=journal, execution_id="cb")
    assert (done.status, done.result) == ("SUCCEEDED", {"rejected": "no way"})


def test_callback_timeout_fires_on_the_virtual_clock() -> None:
    def handler(event: Any, ctx: DurableContext) -> str:
        cb = ctx.create_callback(config=CallbackConfig(timeout=Duration.from_minutes(10)))
        try:
            return str(cb.result())
        except CallbackTimeoutError:
            return "timed out"

    journal = MemoryJournal()
    first = run_durable(handler, None, journal=journal, execution_id="t")
    assert first.status == "PENDING"  # only the caller can answer a callback
    early = run_durable(
        handler, None, journal=journal, execution_id="t", clock=VirtualClock(599_999.0)
    )
    assert early.status == "PENDING"
    late = run_durable(
        handler, None, journal=journal, execution_id="t", clock=VirtualClock(600_000.0)
    )
    assert (late.status, late.result) == ("SUCCEEDED", "timed out")
    assert late.operations[0].status == "TIMED_OUT"


def test_complete_callback_timed_out_from_outside() -> None:
    journal = MemoryJournal()
    first = run_durable(approval, None, journal=journal, execution_id="cb")
    complete_callback(journal, first.pending_callbacks[0], timed_out=True)
    done = run_durable(approval, None, journal=journal, execution_id="cb")
    assert done.status == "FAILED"
    assert isinstance(done.error, CallbackTimeoutError)


def test_complete_callback_rejects_unknown_ids() -> None:
    journal = MemoryJournal()
    run_durable(approval, None, journal=journal, execution_id="cb")
    with pytest.raises(ValueError, match="not a callback id"):
        complete_callback(journal, "%%%", result=1)


def test_wait_for_callback_runs_submitter_once_and_resumes() -> None:
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
    assert (ops["1.1"].type, ops["1.2"].name) == ("CALLBACK", "submitter")

    complete_callback(journal, submitted[0], result=[1, 2])
    done = run_durable(handler, None, journal=journal, execution_id="w")
    assert (done.status, done.result) == ("SUCCEEDED", [1, 2])
    assert len(submitted) == 1


def test_wait_for_callback_timeout_and_submitter_failure() -> None:
    def timing_out(event: Any, ctx: DurableContext) -> str:
        config = WaitForCallbackConfig(timeout=Duration.from_seconds(30))
        try:
            return str(ctx.wait_for_callback(lambda cid, w: None, config=config))
        except CallbackTimeoutError:
            return "timeout"

    journal = MemoryJournal()
    assert run_durable(timing_out, None, journal=journal, execution_id="w").status == "PENDING"
    run = run_durable(
        timing_out, None, journal=journal, execution_id="w", clock=VirtualClock(30_000.0)
    )
    assert (run.status, run.result) == ("SUCCEEDED", "timeout")

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
