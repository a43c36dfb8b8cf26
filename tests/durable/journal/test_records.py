"""What a journal stores: operation records and history entries round-trip through their JSON
form with defaults left out, terminal statuses are AWS's, and rows a database journal cannot
read back are named (journal, row, and what a row needs)."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim.durable import JournalCorruptError
from durable_sim.durable.journal.records import (
    EXECUTION_STATUSES,
    TERMINAL,
    ExecutionRecord,
    HistoryEntry,
    OperationRecord,
    RowDecoder,
    encode_json,
    invocations_in,
    latest_records,
    wakes,
)

TEXT = st.text(max_size=8)
MS = st.floats(min_value=0, max_value=1e12, allow_nan=False)
ERROR = st.fixed_dictionaries({"ErrorType": TEXT, "ErrorMessage": TEXT})

RECORDS = st.builds(
    OperationRecord,
    id=TEXT,
    parent_id=st.none() | TEXT,
    type=st.sampled_from(OperationType),
    sub_type=st.none() | TEXT,
    name=st.none() | TEXT,
    status=st.sampled_from(OperationStatus),
    attempt=st.integers(0, 5),
    result=st.none() | TEXT,
    error=st.none() | ERROR,
    start_ms=st.none() | MS,
    end_ms=st.none() | MS,
    due_ms=st.none() | MS,
    callback_id=st.none() | TEXT,
    heartbeat_timeout_s=st.integers(0, 3),
    heartbeat_due_ms=st.none() | MS,
    replay_children=st.booleans(),
    function_name=st.none() | TEXT,
    child_execution_id=st.none() | TEXT,
    input_payload=st.none() | TEXT,
)
ENTRIES = st.builds(
    HistoryEntry,
    event_type=st.none() | st.sampled_from(["StepStarted", "StepSucceeded", "WaitStarted"]),
    at_ms=MS,
    operation=st.none() | RECORDS,
    details=st.none() | st.dictionaries(TEXT, st.integers() | TEXT, max_size=2),
)

#: The statuses AWS's Durable Execution API lists as ending an operation (the SDK's
#: ``OperationStatus``: every status but STARTED, PENDING and READY).
AWS_TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "STOPPED"}


def _record(op_id: str = "1", status: OperationStatus = OperationStatus.STARTED) -> OperationRecord:
    return OperationRecord(op_id, None, OperationType.STEP, "Step", "s", status)


@settings(max_examples=examples(200), deadline=None, derandomize=True)
@given(RECORDS)
def test_a_record_round_trips_and_leaves_out_exactly_its_defaults(record: OperationRecord) -> None:
    data = record.to_dict()
    assert OperationRecord.from_dict(json.loads(encode_json(data))) == record
    defaults = {f.name: f.default for f in fields(OperationRecord)}
    kept = {"id", "type", "status"} | {k for k, v in defaults.items() if getattr(record, k) != v}
    assert set(data) == kept
    assert (data["type"], data["status"]) == (record.type.value, record.status.value)


def test_a_minimal_row_reads_back_with_the_records_defaults() -> None:
    """A row without the fields that have defaults (and without parent, sub-type and name,
    which rows of older journals lack) reads back whole."""
    read = OperationRecord.from_dict({"id": "7", "type": "STEP", "status": "STARTED"})
    assert read == OperationRecord(
        "7", None, OperationType.STEP, None, None, OperationStatus.STARTED
    )
    assert (read.attempt, read.heartbeat_timeout_s, read.replay_children) == (0, 0, False)
    assert read.to_dict() == {
        "id": "7",
        "type": "STEP",
        "status": "STARTED",
        "parent_id": None,
        "sub_type": None,
        "name": None,
    }


@settings(max_examples=examples(200), deadline=None, derandomize=True)
@given(ENTRIES)
def test_a_history_entry_round_trips_as_compact_json(entry: HistoryEntry) -> None:
    text = entry.to_json()
    data = json.loads(text)
    assert set(data) == {"e", "t", "op", "d"}
    assert HistoryEntry.from_data(data) == entry
    assert text == json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("status", list(OperationStatus))
def test_the_terminal_statuses_are_awss(status: OperationStatus) -> None:
    assert _record(status=status).terminal is (status.value in AWS_TERMINAL)
    assert (status in TERMINAL) is (status.value in AWS_TERMINAL)


def test_an_execution_is_running_or_has_succeeded_or_failed() -> None:
    assert {"RUNNING", "SUCCEEDED", "FAILED"} == EXECUTION_STATUSES
    fresh = ExecutionRecord("e", "{}")
    assert (fresh.status, fresh.result, fresh.error, fresh.operations) == (
        "RUNNING",
        None,
        None,
        {},
    )
    assert (fresh.function_name, fresh.invocations, fresh.lease) == (None, 0, None)


def test_journal_json_is_compact_and_keeps_utf8() -> None:
    assert encode_json({"a": [1, "é ✓"], "b": None}) == '{"a":[1,"é ✓"],"b":null}'
    entry = HistoryEntry("StepStarted", 2.5, _record(), {"k": "ü"})
    assert entry.to_json() == (
        '{"e":"StepStarted","t":2.5,"op":{"id":"1","type":"STEP","status":"STARTED",'
        '"parent_id":null,"sub_type":"Step","name":"s"},"d":{"k":"ü"}}'
    )


def test_what_an_append_does_to_its_execution() -> None:
    """The counters and the latest records a journal derives from one append's entries."""
    started, ended = _record("1"), _record("1", OperationStatus.SUCCEEDED)
    done = HistoryEntry("InvocationCompleted", 3.0, None, {})
    entries = [
        HistoryEntry("StepStarted", 1.0, started),
        HistoryEntry(None, 1.5, _record("2")),
        HistoryEntry("StepSucceeded", 2.0, ended),
        done,
        done,
    ]
    assert invocations_in(entries) == 2
    assert invocations_in(entries[:3]) == 0
    assert latest_records(entries) == {"1": ended, "2": _record("2")}
    assert latest_records([done]) == {}
    assert wakes(entries) is True
    assert wakes(entries[:2]) is False
    assert wakes([done]) is False


# -- rows a database journal cannot read back ---------------------------------------------------

ROWS = RowDecoder("journal /tmp/j.sqlite")


def test_unreadable_json_names_the_journal_and_the_text() -> None:
    text = "{" + "x" * 100
    with pytest.raises(JournalCorruptError) as info:
        ROWS.json(text)
    message = str(info.value)
    assert message.startswith(f"journal /tmp/j.sqlite: unreadable JSON {text[:60]!r}: ")
    assert text[:61] not in message  # the first 60 characters only
    assert ROWS.json('{"a":1}') == {"a": 1}


@pytest.mark.parametrize(
    "data",
    [
        {"type": "STEP", "status": "STARTED"},  # no id
        {"id": "1", "type": "NOT_A_TYPE", "status": "STARTED"},
        {"id": "1", "type": "STEP", "status": "NOT_A_STATUS"},
        {"id": "1", "type": "STEP", "status": "STARTED", "colour": "red"},
        ["1", "STEP"],
    ],
)
def test_a_malformed_record_names_the_operation_and_what_a_record_needs(data: Any) -> None:
    with pytest.raises(JournalCorruptError) as info:
        ROWS.record("1", json.dumps(data))
    message = str(info.value)
    assert message.startswith("journal /tmp/j.sqlite: operation 1 is malformed: ")
    assert message.endswith(
        "(a record needs an id, a type and a status of the SDK's OperationType and OperationStatus)"
    )


def test_a_row_holding_another_operation_is_named() -> None:
    text = encode_json(_record("2").to_dict())
    with pytest.raises(JournalCorruptError) as info:
        ROWS.record("1", text)
    assert str(info.value) == "journal /tmp/j.sqlite: the row of operation 1 holds operation 2"
    assert ROWS.record("2", text) == _record("2")


def test_history_rows_are_read_in_order_and_a_malformed_one_is_named() -> None:
    a = HistoryEntry("StepStarted", 1.0, _record("1"))
    b = HistoryEntry("StepSucceeded", 2.0, _record("1", OperationStatus.SUCCEEDED))
    c = HistoryEntry("InvocationCompleted", 3.0, None, {"n": 1})
    rows = [(1, f"[{a.to_json()},{b.to_json()}]"), (4, f"[{c.to_json()}]")]
    assert ROWS.history("e", rows) == [a, b, c]
    for bad in ('[{"e": "StepStarted"}]', "[1]", "not json", '[{"e":null,"t":1,"op":{},"d":null}]'):
        with pytest.raises(JournalCorruptError) as info:
            ROWS.history("e", [*rows, (9, bad)])
        assert str(info.value).startswith(
            "journal /tmp/j.sqlite: history entry 9 of execution 'e' is malformed: "
        )


def test_an_execution_row_reads_back_with_its_operations_and_lease() -> None:
    ops = {"1": _record("1")}
    lease: Any = object()
    row = ("{}", "FAILED", None, '{"ErrorType":"E"}', "fn", 3, "owner", 2, 9.0)
    read = ROWS.execution("e", row, ops, lease)
    assert read == ExecutionRecord(
        "e", "{}", "FAILED", None, {"ErrorType": "E"}, ops, "fn", 3, lease
    )
    bare = ROWS.execution("e", ('"in"', "SUCCEEDED", '"out"', None, None, 0))
    assert bare == ExecutionRecord("e", '"in"', "SUCCEEDED", '"out"', None, {}, None, 0, None)
    assert ROWS.execution("e", ("{}", "FAILED", None, "", None, 0)).error is None
