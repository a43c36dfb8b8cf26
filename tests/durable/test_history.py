"""The history export: AWS's ``GetDurableExecutionHistory`` events, from a run and from disk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy
from aws_durable_execution_sdk_python_testing.model import Event, events_to_operations

from durable_sim import (
    CallbackAnswer,
    MemoryJournal,
    SqliteJournal,
    export_history,
    export_history_from_journal,
    run_durable,
)
from durable_sim.durable import DurableRun, HistoryEntry, OperationRecord
from durable_sim.durable.history import events_from_entries
from durable_sim.durable.registry import execution_arn

from .conftest import STEP_ONLY

RETRY_ONCE = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(2))
    )
)


def flaky(event: Any, ctx: DurableContext) -> str:
    def body(step_ctx: Any) -> str:
        if step_ctx.attempt == 1:
            raise ConnectionError("first attempt fails")
        return "ok"

    value = ctx.step(body, name="flaky", config=RETRY_ONCE)
    ctx.wait(Duration.from_seconds(5), name="pause")
    return value


def shape(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["EventId"], e["EventType"], e.get("Name")) for e in events]


def test_retries_and_waits_become_aws_events_in_order() -> None:
    run = run_durable(flaky, {"x": 1}, execution_id="h1", seed=0)
    assert run.status == "SUCCEEDED", run.error
    events = export_history(run)
    assert shape(events) == [
        (1, "ExecutionStarted", "h1"),
        (2, "StepStarted", "flaky"),
        (3, "StepFailed", "flaky"),
        (4, "InvocationCompleted", None),
        (5, "StepStarted", "flaky"),
        (6, "StepSucceeded", "flaky"),
        (7, "WaitStarted", "pause"),
        (8, "InvocationCompleted", None),
        (9, "WaitSucceeded", "pause"),
        (10, "InvocationCompleted", None),
        (11, "ExecutionSucceeded", "h1"),
    ]
    by_id = {e["EventId"]: e for e in events}
    assert by_id[1]["ExecutionStartedDetails"] == {
        "Input": {"Truncated": False, "Payload": '{"x": 1}'}
    }
    failed = by_id[3]["StepFailedDetails"]
    assert failed["RetryDetails"]["CurrentAttempt"] == 1
    delay = failed["RetryDetails"]["NextAttemptDelaySeconds"]
    assert 1 <= delay <= 2
    assert failed["Error"]["Payload"]["ErrorType"] == "ConnectionError"
    assert by_id[6]["StepSucceededDetails"] == {
        "Result": {"Truncated": False, "Payload": '"ok"'},
        "RetryDetails": {"CurrentAttempt": 2},
    }
    assert by_id[5]["EventTimestamp"] == delay  # the retry ran when its delay was over
    assert by_id[7]["WaitStartedDetails"] == {"Duration": 5, "ScheduledEndTimestamp": delay + 5.0}
    assert (by_id[9]["EventTimestamp"], by_id[9]["WaitSucceededDetails"]) == (
        delay + 5.0,
        {"Duration": 5},
    )
    assert by_id[11]["ExecutionSucceededDetails"]["Result"]["Payload"] == '"ok"'
    assert all(e["SubType"] == "Step" for e in events if e["EventType"].startswith("Step"))
    stamps = [e["EventTimestamp"] for e in events]
    assert stamps == sorted(stamps)


def test_history_from_a_journal_on_disk_equals_the_runs(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with SqliteJournal(path) as journal:
        run = run_durable(flaky, None, journal=journal, execution_id="disk")
        live = export_history(run)
    with SqliteJournal(path) as reopened:
        assert export_history_from_journal(reopened, "disk") == live
        with pytest.raises(KeyError, match="no execution 'other'"):
            export_history_from_journal(reopened, "other")


def test_nested_operations_callbacks_and_failures_carry_their_details() -> None:
    def handler(event: Any, ctx: DurableContext) -> Any:
        def child(c: DurableContext) -> Any:
            return c.create_callback(name="cb").result()

        ctx.map([1, 2], lambda c, x, i, xs: c.step(lambda _: x, name="item"), name="m")
        value = ctx.run_in_child_context(child, name="outer")
        raise ValueError(f"finally {value}")

    def answer(callback_id: str, record: Any) -> list[CallbackAnswer]:
        return [CallbackAnswer("success", after_s=2, result="yes")]

    run = run_durable(handler, None, responder=answer, profile=STEP_ONLY, execution_id="n")
    events = export_history(run)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_type.setdefault(e["EventType"], []).append(e)
    items = [e for e in by_type["ContextStarted"] if e.get("SubType") == "MapIteration"]
    assert [(e["Name"], e["ParentId"]) for e in items] == [("map-item-0", "1"), ("map-item-1", "1")]
    started = by_type["CallbackStarted"][0]
    assert (started["ParentId"], started["Name"]) == ("2", "cb")
    assert started["CallbackStartedDetails"]["CallbackId"]  # the id the outside world answers
    assert started["CallbackStartedDetails"]["Timeout"] == 0
    succeeded = by_type["CallbackSucceeded"][0]
    assert succeeded["CallbackSucceededDetails"]["Result"]["Payload"] == "yes"
    assert succeeded["EventTimestamp"] == started["EventTimestamp"] + 2.0
    failed = by_type["ExecutionFailed"][0]["ExecutionFailedDetails"]["Error"]["Payload"]
    assert (failed["ErrorType"], failed["ErrorMessage"]) == ("ValueError", "finally yes")
    assert events[-1]["EventType"] == "ExecutionFailed"


def test_the_official_runners_history_model_reads_our_events() -> None:
    run = run_durable(flaky, None, execution_id="parse")
    # As a boto3 client would, read the epoch-seconds timestamps as datetimes.
    parsed_events = [
        Event.from_dict({**e, "EventTimestamp": datetime.fromtimestamp(e["EventTimestamp"], UTC)})
        for e in export_history(run)
    ]
    operations = events_to_operations(parsed_events)
    parsed = {
        op.operation_id: op.status.value
        for op in operations
        if op.operation_type.value != "EXECUTION"
    }
    assert parsed == {op.id: op.status for op in run.operations}


def test_a_run_without_a_history_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="neither events nor a journal"):
        export_history(DurableRun(execution_id="x", engine="other", status="SUCCEEDED"))
    events = [{"EventType": "ExecutionStarted", "EventId": 1}]
    reported = DurableRun(execution_id="x", engine="aws-local", status="SUCCEEDED", events=events)
    assert export_history(reported) == events


def test_the_history_is_the_same_from_memory_and_sqlite(tmp_path: Path) -> None:
    memory = export_history(run_durable(flaky, None, journal=MemoryJournal(), execution_id="same"))
    with SqliteJournal(tmp_path / "s.sqlite") as journal:
        disk = export_history(run_durable(flaky, None, journal=journal, execution_id="same"))
    assert memory == disk


def _op(op_id: str, kind: OperationType, status: OperationStatus, **fields: Any) -> Any:
    return OperationRecord(op_id, fields.pop("parent_id", None), kind, "x", None, status, **fields)


def test_each_journal_entry_becomes_its_aws_event() -> None:
    """One entry of every kind, each to the event and details AWS's API defines."""
    step, wait, cb, inv = (
        OperationType.STEP,
        OperationType.WAIT,
        OperationType.CALLBACK,
        OperationType.CHAINED_INVOKE,
    )
    ok, failed, started = OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.STARTED
    error = {"ErrorType": "E", "ErrorMessage": "m"}
    crashed = {"StartTimestamp": 0.0, "EndTimestamp": 500.0, "RequestId": "r0", "Error": error}
    entries = [
        HistoryEntry("ExecutionStarted", 0.0, None, {"Input": '{"n":1}'}),
        HistoryEntry("InvocationCompleted", 500.0, None, crashed),
        HistoryEntry("StepStarted", 1000.0, _op("1", step, started, attempt=2)),
        HistoryEntry(None, 1500.0, _op("1", step, OperationStatus.READY)),  # not reported
        HistoryEntry("StepSucceeded", 2000.0, _op("1", step, ok, attempt=2, result='"r"')),
        HistoryEntry(
            "StepFailed",
            2500.0,
            _op("2", step, OperationStatus.PENDING, attempt=1, error=error),
            {"NextAttemptDelaySeconds": 3},
        ),
        HistoryEntry(
            "WaitStarted", 3000.0, _op("3", wait, started, start_ms=3000.0, due_ms=8000.0)
        ),
        HistoryEntry("WaitSucceeded", 8000.0, _op("3", wait, ok, start_ms=3000.0, end_ms=8000.0)),
        HistoryEntry(
            "CallbackStarted",
            8000.0,
            _op("4", cb, started, callback_id="cb-4", parent_id="3"),
            {"Timeout": 60, "HeartbeatTimeout": 5},
        ),
        HistoryEntry(
            "CallbackTimedOut", 9000.0, _op("4", cb, OperationStatus.TIMED_OUT, error=error)
        ),
        HistoryEntry(
            "ChainedInvokeStarted",
            9000.0,
            _op("5", inv, started, function_name="f", input_payload='{"a":1}'),
            {"TenantId": "t"},
        ),
        HistoryEntry("ChainedInvokeSucceeded", 9500.0, _op("5", inv, ok, result="7")),
        HistoryEntry("ContextStarted", 9600.0, _op("6", OperationType.CONTEXT, started)),
        HistoryEntry("ContextFailed", 9700.0, _op("6", OperationType.CONTEXT, failed, error=error)),
        HistoryEntry("ExecutionFailed", 9800.0, None, {"Error": error}),
    ]
    events = events_from_entries(entries, "run")
    assert [e["EventId"] for e in events] == list(range(1, 15))
    assert [e["EventTimestamp"] for e in events][:3] == [0.0, 0.5, 1.0]
    by_type = {e["EventType"]: e for e in events}
    assert by_type["ExecutionStarted"] == {
        "EventType": "ExecutionStarted",
        "EventId": 1,
        "EventTimestamp": 0.0,
        "Id": "run",
        "Name": "run",
        "ExecutionStartedDetails": {"Input": {"Truncated": False, "Payload": '{"n":1}'}},
    }
    assert by_type["InvocationCompleted"]["InvocationCompletedDetails"] == {
        "StartTimestamp": 0.0,
        "EndTimestamp": 0.5,
        "RequestId": "r0",
        "Error": {"Truncated": False, "Payload": error},
    }
    assert "Id" not in by_type["InvocationCompleted"]
    assert by_type["StepStarted"] == {
        "EventType": "StepStarted",
        "EventId": 3,
        "EventTimestamp": 1.0,
        "Id": "1",
        "SubType": "x",
        "StepStartedDetails": {},
    }
    assert by_type["StepSucceeded"]["StepSucceededDetails"] == {
        "Result": {"Truncated": False, "Payload": '"r"'},
        "RetryDetails": {"CurrentAttempt": 2},
    }
    assert by_type["StepFailed"]["StepFailedDetails"] == {
        "Error": {"Truncated": False, "Payload": error},
        "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 3},
    }
    assert by_type["WaitStarted"]["WaitStartedDetails"] == {
        "Duration": 5,
        "ScheduledEndTimestamp": 8.0,
    }
    assert by_type["WaitSucceeded"]["WaitSucceededDetails"] == {"Duration": 5}
    assert by_type["CallbackStarted"]["ParentId"] == "3"
    assert by_type["CallbackStarted"]["CallbackStartedDetails"] == {
        "CallbackId": "cb-4",
        "Timeout": 60,
        "HeartbeatTimeout": 5,
    }
    assert by_type["CallbackTimedOut"]["CallbackTimedOutDetails"] == {
        "Error": {"Truncated": False, "Payload": error}
    }
    assert by_type["ChainedInvokeStarted"]["ChainedInvokeStartedDetails"] == {
        "FunctionName": "f",
        "Input": {"Truncated": False, "Payload": '{"a":1}'},
        "ExecutedVersion": "$LATEST",
        "DurableExecutionArn": execution_arn("f", "run/invoke-5"),
        "TenantId": "t",
    }
    assert by_type["ChainedInvokeSucceeded"]["ChainedInvokeSucceededDetails"] == {
        "Result": {"Truncated": False, "Payload": "7"}
    }
    assert by_type["ContextStarted"]["ContextStartedDetails"] == {}
    assert by_type["ContextFailed"]["ContextFailedDetails"]["Error"]["Payload"] == error
    assert by_type["ExecutionFailed"]["ExecutionFailedDetails"] == {
        "Error": {"Truncated": False, "Payload": error}
    }


def test_absent_payloads_and_unnamed_operations_leave_their_fields_out() -> None:
    kind, ok = OperationType.CALLBACK, OperationStatus.SUCCEEDED
    entries = [
        HistoryEntry("ExecutionStarted", 0.0),
        HistoryEntry("CallbackStarted", 0.0, _op("1", kind, OperationStatus.STARTED)),
        HistoryEntry("CallbackSucceeded", 1.0, _op("1", kind, ok).evolve(sub_type=None)),
        HistoryEntry("ExecutionSucceeded", 2.0, None, {}),
    ]
    events = events_from_entries(entries, "e")
    assert events[0]["ExecutionStartedDetails"] == {"Input": {"Truncated": False}}
    assert events[1]["CallbackStartedDetails"] == {
        "CallbackId": None,
        "Timeout": 0,
        "HeartbeatTimeout": 0,
    }
    assert set(events[2]) == {
        "EventType",
        "EventId",
        "EventTimestamp",
        "Id",
        "CallbackSucceededDetails",
    }
    assert events[2]["CallbackSucceededDetails"] == {"Result": {"Truncated": False}}
    assert events[3]["ExecutionSucceededDetails"] == {"Result": {"Truncated": False}}


def test_a_run_without_a_history_names_it() -> None:
    run = DurableRun(execution_id="x", engine="other", status="SUCCEEDED")
    with pytest.raises(ValueError) as raised:
        export_history(run)
    assert str(raised.value) == (
        "run 'x' (engine 'other') has no history: it carries neither events nor a journal"
    )
    events = [{"EventType": "ExecutionStarted", "EventId": 1}]
    copied = export_history(DurableRun("x", "aws-local", "SUCCEEDED", events=events))
    assert copied == events and copied[0] is not events[0]  # the caller's list stays its own


def test_the_rarer_details_come_from_the_entry_or_the_record() -> None:
    """A wait's ``Duration`` as the entry states it, else whole seconds from the record (an
    hour here); no ``ScheduledEndTimestamp`` or ``Duration`` without the times; a retried
    step's success with its delay; a chained invoke's details from the record (its child
    execution's id as journaled) when the entry states none; any other event's details as
    the entry holds them."""
    wait, inv, step = OperationType.WAIT, OperationType.CHAINED_INVOKE, OperationType.STEP
    started, ok = OperationStatus.STARTED, OperationStatus.SUCCEEDED
    failed = OperationStatus.FAILED
    hour = 3_600_000.0
    entries = [
        HistoryEntry("WaitStarted", 0.0, _op("1", wait, started, start_ms=0.0, due_ms=hour)),
        HistoryEntry("WaitSucceeded", hour, _op("1", wait, ok, start_ms=0.0, end_ms=hour)),
        HistoryEntry("WaitStarted", hour, _op("2", wait, started), {"Duration": 7}),
        HistoryEntry("WaitSucceeded", hour, _op("2", wait, ok, start_ms=hour)),
        HistoryEntry(
            "StepSucceeded",
            hour,
            _op("3", step, ok, attempt=3, result="1"),
            {"NextAttemptDelaySeconds": 4},
        ),
        HistoryEntry(
            "ChainedInvokeStarted",
            hour,
            _op(
                "4",
                inv,
                started,
                function_name="g",
                input_payload='"in"',
                child_execution_id="journaled-child",
            ),
        ),
        HistoryEntry("ChainedInvokeStarted", hour, _op("5", inv, started)),
        HistoryEntry("ChainedInvokeStarted", hour, _op("6", step, started), {"Odd": 1}),
        HistoryEntry("ChainedInvokeStopped", hour, _op("7", inv, started), {"Reason": "r"}),
        HistoryEntry("ExecutionTimedOut", hour, None, {"Error": "late"}),
    ]
    invocation = {"StartTimestamp": 1500.0, "EndTimestamp": hour, "RequestId": "r1"}
    # AWS's StepStartedDetails and ContextStartedDetails have no fields: stray details go.
    extra = [
        HistoryEntry("InvocationCompleted", hour, None, invocation),
        HistoryEntry("StepStarted", hour, _op("8", step, started), {"Stray": 1}),
        HistoryEntry("ContextStarted", hour, _op("9", OperationType.CONTEXT, started), {"S": 2}),
    ]
    extra += [
        HistoryEntry("ContextSucceeded", hour, _op("9", OperationType.CONTEXT, ok, result="2")),
        HistoryEntry(
            "ChainedInvokeStarted",
            hour,
            _op("10", inv, started, function_name="g", input_payload='"journaled"'),
            {"FunctionName": "h", "Input": '"stated"'},
        ),
        HistoryEntry("ChainedInvokeFailed", hour, _op("10", inv, failed, error={"E": 1})),
    ]
    assert [e[f"{e['EventType']}Details"] for e in events_from_entries(extra, "run")] == [
        {"StartTimestamp": 1.5, "EndTimestamp": 3600.0, "RequestId": "r1"},
        {},
        {},
        {"Result": {"Truncated": False, "Payload": "2"}},
        {
            "FunctionName": "h",
            "Input": {"Truncated": False, "Payload": '"stated"'},
            "ExecutedVersion": "$LATEST",
            "DurableExecutionArn": execution_arn("g", "run/invoke-10"),
        },
        {"Error": {"Truncated": False, "Payload": {"E": 1}}},
    ]
    events = events_from_entries(entries, "run")
    details = [e[f"{e['EventType']}Details"] for e in events]
    assert details[:5] == [
        {"Duration": 3600, "ScheduledEndTimestamp": 3600.0},
        {"Duration": 3600},
        {"Duration": 7},
        {"Duration": None},
        {
            "Result": {"Truncated": False, "Payload": "1"},
            "RetryDetails": {"CurrentAttempt": 3, "NextAttemptDelaySeconds": 4},
        },
    ]
    assert details[5] == {
        "FunctionName": "g",
        "Input": {"Truncated": False, "Payload": '"in"'},
        "ExecutedVersion": "$LATEST",
        "DurableExecutionArn": execution_arn("g", "journaled-child"),
    }
    assert details[6] == {
        "FunctionName": None,
        "Input": {"Truncated": False},
        "ExecutedVersion": "$LATEST",
        "DurableExecutionArn": execution_arn("", "run/invoke-5"),
    }
    assert details[7:] == [{"Odd": 1}, {"Reason": "r"}, {"Error": "late"}]
    assert [e.get("Id") for e in events[-3:]] == ["6", "7", "run"]
    assert events[-1]["Name"] == "run"
