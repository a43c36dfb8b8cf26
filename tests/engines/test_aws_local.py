"""The ``aws-local`` engine: callbacks answered by a responder or left PENDING, the runner's
history (with the details it drops restored), and its outcome mapped to `DurableRun`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import CallbackConfig, Duration, StepConfig
from aws_durable_execution_sdk_python.exceptions import (
    CallbackTimeoutError,
    DurableOperationError,
    StepError,
)
from aws_durable_execution_sdk_python.retries import RetryPresets
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from durable_sim import CallbackAnswer, export_history, run_durable
from durable_sim.durable import OperationRecord


def approval(event: Any, ctx: DurableContext) -> Any:
    return ctx.create_callback(name="approval").result()


def two_callbacks(event: Any, ctx: DurableContext) -> list[Any]:
    first = ctx.create_callback(name="first")
    second = ctx.create_callback(name="second")
    return [first.result(), second.result()]


def event_types(run: Any) -> list[str]:
    return [e["EventType"] for e in export_history(run)]


def test_a_callback_nobody_answers_ends_pending_with_its_id() -> None:
    run = run_durable(approval, None, engine="aws-local")
    started = [e for e in export_history(run) if e["EventType"] == "CallbackStarted"]
    assert run.status == "PENDING"
    assert run.pending_callbacks == [started[0]["CallbackStartedDetails"]["CallbackId"]]
    assert (run.result, run.error) == (None, None)


@pytest.mark.parametrize(
    ("delays", "expected"),
    [
        # Due together: both answers reach the handler in one invocation (as on sim's clock).
        ((0.0, 0.0), ["CallbackSucceeded", "CallbackSucceeded", "InvocationCompleted"]),
        # Due one after the other: each re-invokes the handler.
        (
            (0.0, 1.0),
            [
                "CallbackSucceeded",
                "InvocationCompleted",
                "CallbackSucceeded",
                "InvocationCompleted",
            ],
        ),
    ],
)
def test_responder_answers_arrive_in_after_s_order_and_together_when_due_together(
    delays: tuple[float, float], expected: list[str]
) -> None:
    asked: list[str | None] = []

    def responder(callback_id: str, record: OperationRecord) -> list[CallbackAnswer]:
        asked.append(record.name)
        after_s = delays[0] if record.name == "first" else delays[1]
        return [CallbackAnswer("success", after_s=after_s, result=json.dumps(f"yes {record.name}"))]

    runs = [
        run_durable(two_callbacks, None, engine=engine, responder=responder)
        for engine in ("aws-local", "sim")
    ]
    assert asked == ["first", "second"] * 2  # in creation order, on each engine
    for run in runs:
        assert run.status == "SUCCEEDED"
        assert run.result == ['"yes first"', '"yes second"']  # the SDK passes payloads through
        assert event_types(run)[1:] == [
            "CallbackStarted",
            "CallbackStarted",
            "InvocationCompleted",
            *expected,
            "ExecutionSucceeded",
        ]


def test_a_responder_that_gives_no_terminal_answer_leaves_the_callback_open() -> None:
    seen: list[str] = []

    def only_looks(callback_id: str, record: OperationRecord) -> list[CallbackAnswer]:
        seen.append(callback_id)
        return []

    run = run_durable(approval, None, engine="aws-local", responder=only_looks)
    assert (run.status, run.pending_callbacks) == ("PENDING", seen)


def test_heartbeats_alone_do_not_answer_a_callback_and_its_heartbeat_timeout_fires() -> None:
    def handler(event: Any, ctx: DurableContext) -> Any:
        config = CallbackConfig(heartbeat_timeout=Duration.from_seconds(1))
        return ctx.create_callback(name="approval", config=config).result()

    def heartbeat_only(callback_id: str, record: OperationRecord) -> list[CallbackAnswer]:
        assert record.heartbeat_timeout_s == 1
        return [CallbackAnswer("heartbeat")]

    run = run_durable(handler, None, engine="aws-local", responder=heartbeat_only)
    assert run.status == "FAILED"
    assert isinstance(run.error, CallbackTimeoutError)
    timed_out = [e for e in export_history(run) if e["EventType"] == "CallbackTimedOut"]
    assert timed_out[0]["CallbackTimedOutDetails"]["Error"]["Payload"]["ErrorType"] == (
        "Callback.Heartbeat"
    )


def test_a_failure_answer_carries_the_external_error_type_and_message() -> None:
    def rejects(callback_id: str, record: OperationRecord) -> list[CallbackAnswer]:
        error = {"ErrorType": "RejectedError", "ErrorMessage": "not approved"}
        return [CallbackAnswer("failure", error=error)]

    run = run_durable(approval, None, engine="aws-local", responder=rejects)
    failed = [e for e in export_history(run) if e["EventType"] == "CallbackFailed"]
    assert failed[0]["CallbackFailedDetails"]["Error"]["Payload"] == {
        "ErrorType": "RejectedError",
        "ErrorMessage": "not approved",
    }
    assert run.status == "FAILED"
    assert str(run.error) == "not approved"


class LedgerClosedError(Exception):
    """An error type the SDK does not know."""


def test_errors_keep_the_sdk_class_or_the_original_type_name() -> None:
    def failing_step(event: Any, ctx: DurableContext) -> None:
        def fail(_: Any) -> None:
            raise ValueError("bad input")

        ctx.step(fail, name="check", config=StepConfig(retry_strategy=RetryPresets.none()))

    def failing_handler(event: Any, ctx: DurableContext) -> None:
        raise LedgerClosedError("the ledger is closed")

    step_run = run_durable(failing_step, None, engine="aws-local")
    assert isinstance(step_run.error, StepError)
    assert str(step_run.error) == "bad input"

    handler_run = run_durable(failing_handler, None, engine="aws-local")
    assert type(handler_run.error) is DurableOperationError
    assert handler_run.error.error_type.endswith(".LedgerClosedError")
    assert str(handler_run.error) == "the ledger is closed"


def test_invoke_runs_a_registered_function_as_its_own_execution() -> None:
    def double(event: int, ctx: DurableContext) -> int:
        return ctx.step(lambda _: 2 * event, name="double")

    def caller(event: int, ctx: DurableContext) -> int:
        return ctx.invoke("double", event, name="call-double")

    run = run_durable(caller, 21, engine="aws-local", functions={"double": double})
    assert (run.status, run.result) == ("SUCCEEDED", 42)
    started = [e for e in export_history(run) if e["EventType"] == "ChainedInvokeStarted"]
    assert started[0]["ChainedInvokeStartedDetails"]["FunctionName"] == "double"
    # The caller's invocation ends before the invoked function's result arrives, as on AWS.
    assert event_types(run)[2:4] == ["InvocationCompleted", "ChainedInvokeSucceeded"]


def test_history_restores_the_invocation_details_runner_1_4_drops() -> None:
    @durable_execution
    def handler(event: Any, ctx: DurableContext) -> str:
        ctx.wait(Duration.from_seconds(1))
        return "done"

    with DurableFunctionTestRunner(handler=handler, skip_time=True, poll_interval=0.01) as runner:
        arn = runner.run_async(input="null", execution_timeout=60)
        runner.wait_for_result(arn, timeout=60)
        raw = [e.to_dict() for e in runner.get_execution_history(arn).events]
    # The defect our export repairs; when the runner fixes it, drop the repair.
    assert [e for e in raw if e["EventType"] == "InvocationCompleted"]
    assert all("InvocationCompletedDetails" not in e for e in raw)

    run = run_durable(handler, None, engine="aws-local")
    invocations = [e for e in export_history(run) if e["EventType"] == "InvocationCompleted"]
    assert len(invocations) == run.metrics.invocations == 2
    for event in invocations:
        details = event["InvocationCompletedDetails"]
        assert details["StartTimestamp"] <= details["EndTimestamp"] == event["EventTimestamp"]


def test_a_bad_function_name_is_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="a function name must be a non-empty string, got ''"):
        run_durable(approval, None, engine="aws-local", functions={"": approval})


@durable_execution
def greet_then_fail(event: Any, ctx: DurableContext) -> None:
    ctx.step(lambda _: "héllo", name="greet")  # the SDK's JSON escapes it: '"h\\u00e9llo"', 12
    ctx.step(lambda _: 42, name="answer")  # '42': 2 bytes

    def broken(_: Any) -> None:
        raise ValueError("nö")

    ctx.step(broken, name="broken", config=StepConfig(retry_strategy=RetryPresets.none()))


def test_checkpoint_calls_and_bytes_are_counted_as_on_sim() -> None:
    """Formerly None (the runner does not report them), so the runs' costs were unknown. Each
    step checkpoints START and its outcome (6 calls on both engines, the STARTs not batched);
    the bytes are the payloads' and the error object's UTF-8 bytes (the error's "ö" is 2)."""
    aws = run_durable(greet_then_fail, None, engine="aws-local")
    sim = run_durable(greet_then_fail, None)
    error = json.dumps({"ErrorMessage": "nö", "ErrorType": "ValueError"}, ensure_ascii=False)
    expected = 12 + 2 + len(error.replace(", ", ",").replace(": ", ":").encode())
    assert aws.metrics.checkpoint_bytes == sim.metrics.checkpoint_bytes == expected
    assert aws.metrics.checkpoint_ops == sim.metrics.checkpoint_ops
    assert aws.metrics.checkpoint_ops is not None and aws.metrics.checkpoint_ops >= 3
