"""An execution's history as the events of AWS's ``GetDurableExecutionHistory``.

`export_history(run)` and `export_history_from_journal(journal, execution_id)` return a list of
dicts, one event each, with the API's field names: ``EventType``, ``EventId`` (1, 2, ... in the
order things happened), ``EventTimestamp`` (seconds on our clock: the virtual clock starts at
0), ``Id``, ``Name``, ``ParentId``, ``SubType`` and one ``<EventType>Details`` object. Payloads
are included (as with ``IncludeExecutionData=true``): ``{"Payload": ..., "Truncated": false}``.

The event types and their details follow AWS's API (and the official local runner, which models
it): ExecutionStarted/Succeeded/Failed, InvocationCompleted (one per invocation), Step*,
Context*, Wait*, Callback* and ChainedInvoke* events. Where the runner (1.4.0) and AWS's
published conformance histories differ, we follow AWS's, the service being what the engine
models: StepSucceeded carries ``RetryDetails`` with the attempt; CallbackStarted carries
``Timeout`` and ``HeartbeatTimeout``; ChainedInvokeStarted carries ``ExecutedVersion`` (and
``TenantId`` when given); an invocation whose process crashed gets an InvocationCompleted with
a ``Runtime.ExitError`` (recorded when the execution resumes); one that an error escaped (the
SDK could not print the handler's error, a retryable ``InvocationError``, an interrupt that
printing an error raised) gets one with that error. Here the runner (1.4.0) records no
InvocationCompleted event for a failed invocation at all (it keeps the failure in its own
retry count), while AWS's API reference gives the event an optional ``Error``, "Details about
the invocation failure" (``InvocationCompletedDetails``, an ``EventError``): we follow AWS's
reference, as the event is how AWS's history tells a failed invocation from a clean one.
One stopped by a journal
outage gets an InvocationCompleted whose error is the outage (``JournalUnavailableError`` and
its message), written by the process it stopped once the journal answers again
(`durable_sim.durable.runtime`, `durable_sim.durable.worker`): AWS's history has no event type
of its own for it, so the type stays and the reason is in the details. A process that dies or
loses its lease before it can write that entry leaves the gap to be recorded as a crash, the
next invocation having no way to tell. Transitions AWS does not report (a retry becoming ready,
a callback heartbeat) are kept in the journal but not exported.
"""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python.lambda_service import OperationType

from durable_sim.durable.journal import HistoryEntry, Journal, OperationRecord
from durable_sim.durable.operation.invoke import child_execution_id
from durable_sim.durable.registry import execution_arn
from durable_sim.durable.result import DurableRun

__all__ = ["events_from_entries", "export_history", "export_history_from_journal"]


def export_history(run: DurableRun) -> list[dict[str, Any]]:
    """The history of `run`: the events its engine reported, or those of its journal.

    Raises ValueError for a run that carries neither.
    """
    if run.events is not None:
        return [dict(event) for event in run.events]
    if run.journal is None:
        raise ValueError(
            f"run {run.execution_id!r} (engine {run.engine!r}) has no history: it carries "
            "neither events nor a journal"
        )
    return export_history_from_journal(run.journal, run.execution_id)


def export_history_from_journal(journal: Journal, execution_id: str) -> list[dict[str, Any]]:
    """The history of execution `execution_id` as stored in `journal` (memory or on disk).

    Raises KeyError for an execution the journal does not hold, and `JournalCorruptError` for
    an entry that cannot be read back.
    """
    return events_from_entries(journal.read_history(execution_id), execution_id)


def events_from_entries(entries: list[HistoryEntry], execution_id: str) -> list[dict[str, Any]]:
    """Journal entries (in append order) to AWS history events, numbered from 1."""
    events: list[dict[str, Any]] = []
    for entry in entries:
        if entry.event_type is None:
            continue
        event: dict[str, Any] = {
            "EventType": entry.event_type,
            "EventId": len(events) + 1,
            "EventTimestamp": entry.at_ms / 1000.0,
        }
        rec = entry.operation
        if rec is not None:
            event["Id"] = rec.id
            if rec.name:
                event["Name"] = rec.name
            if rec.parent_id:
                event["ParentId"] = rec.parent_id
            if rec.sub_type:
                event["SubType"] = rec.sub_type
            details = _operation_details(entry, rec, execution_id)
        else:
            if entry.event_type.startswith("Execution"):
                event["Id"] = execution_id
                event["Name"] = execution_id
            details = _execution_details(entry)
        event[f"{entry.event_type}Details"] = details
        events.append(event)
    return events


def _payload(payload: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"Truncated": False}
    if payload is not None:
        out["Payload"] = payload
    return out


def _error(error: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"Truncated": False}
    if error is not None:
        out["Payload"] = dict(error)
    return out


def _execution_details(entry: HistoryEntry) -> dict[str, Any]:
    details = entry.details or {}
    if entry.event_type == "ExecutionStarted":
        return {"Input": _payload(details.get("Input"))}
    if entry.event_type == "ExecutionSucceeded":
        return {"Result": _payload(details.get("Result"))}
    if entry.event_type == "ExecutionFailed":
        return {"Error": _error(details.get("Error"))}
    if entry.event_type == "InvocationCompleted":
        completed = {
            "StartTimestamp": details["StartTimestamp"] / 1000.0,
            "EndTimestamp": details["EndTimestamp"] / 1000.0,
            "RequestId": details["RequestId"],
        }
        if "Error" in details:
            completed["Error"] = _error(details["Error"])
        return completed
    return dict(details)


def _seconds(start_ms: float | None, end_ms: float | None) -> int | None:
    if start_ms is None or end_ms is None:
        return None
    return round((end_ms - start_ms) / 1000.0)


def _operation_details(
    entry: HistoryEntry, rec: OperationRecord, execution_id: str
) -> dict[str, Any]:
    kind = entry.event_type
    extra = entry.details or {}
    if kind in ("StepStarted", "ContextStarted"):
        return {}
    if kind == "StepSucceeded":
        retry: dict[str, Any] = {"CurrentAttempt": rec.attempt}
        if "NextAttemptDelaySeconds" in extra:
            retry["NextAttemptDelaySeconds"] = extra["NextAttemptDelaySeconds"]
        return {"Result": _payload(rec.result), "RetryDetails": retry}
    if kind == "StepFailed":
        retry = {"CurrentAttempt": rec.attempt}
        if "NextAttemptDelaySeconds" in extra:
            retry["NextAttemptDelaySeconds"] = extra["NextAttemptDelaySeconds"]
        return {"Error": _error(rec.error), "RetryDetails": retry}
    if kind in ("ContextSucceeded", "CallbackSucceeded", "ChainedInvokeSucceeded"):
        return {"Result": _payload(rec.result)}
    if kind in ("ContextFailed", "CallbackFailed", "CallbackTimedOut", "ChainedInvokeFailed"):
        return {"Error": _error(rec.error)}
    if kind == "WaitStarted":
        details: dict[str, Any] = {
            "Duration": extra.get("Duration", _seconds(rec.start_ms, rec.due_ms))
        }
        if rec.due_ms is not None:
            details["ScheduledEndTimestamp"] = rec.due_ms / 1000.0
        return details
    if kind == "WaitSucceeded":
        return {"Duration": _seconds(rec.start_ms, rec.end_ms)}
    if kind == "CallbackStarted":
        return {
            "CallbackId": rec.callback_id,
            "Timeout": extra.get("Timeout", 0),
            "HeartbeatTimeout": extra.get("HeartbeatTimeout", 0),
        }
    if kind == "ChainedInvokeStarted" and rec.type is OperationType.CHAINED_INVOKE:
        child = rec.child_execution_id or child_execution_id(execution_id, rec.id)
        started: dict[str, Any] = {
            "FunctionName": extra.get("FunctionName", rec.function_name),
            "Input": _payload(extra.get("Input", rec.input_payload)),
            "ExecutedVersion": "$LATEST",
            "DurableExecutionArn": execution_arn(rec.function_name or "", child),
        }
        if "TenantId" in extra:
            started["TenantId"] = extra["TenantId"]
        return started
    return dict(extra)
