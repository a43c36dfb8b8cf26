"""What a run returns: the view of a journal record (equal to the one its constructor builds), a
run's operations by name (built once, when first read, from its records at its end), and the
counters of a run that ran nothing."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType
from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES, SerDesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_sim import MemoryJournal, run_durable
from durable_sim.durable.journal import HistoryEntry, OperationRecord
from durable_sim.durable.result import DurableRun, OperationView, RunMetrics
from durable_sim.durable.runtime import operation_views

_text = st.none() | st.text(max_size=8)
_records = st.builds(
    OperationRecord,
    id=st.lists(st.integers(1, 12), min_size=1, max_size=3).map(lambda p: ".".join(map(str, p))),
    parent_id=_text,
    type=st.sampled_from(OperationType),
    sub_type=_text,
    name=_text,
    status=st.sampled_from(OperationStatus),
    attempt=st.integers(0, 5),
    result=_text,
    error=st.none() | st.fixed_dictionaries({}, optional={"ErrorMessage": st.text(max_size=8)}),
)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(_records)
def test_a_view_of_a_record_equals_the_constructed_view(rec: OperationRecord) -> None:
    """The fast constructor builds the dataclass's view, with AWS's ``StepDetails`` rules: a
    STARTED step's attempts are those that ended (one fewer than the journal's number of the
    attempt running), and a STARTED or SUCCEEDED operation shows no earlier attempt's error."""
    view = OperationView.of(rec)
    running = rec.status is OperationStatus.STARTED
    cleared = running or rec.status is OperationStatus.SUCCEEDED
    expected = OperationView(
        id=rec.id,
        parent_id=rec.parent_id,
        type=rec.type.value,
        sub_type=rec.sub_type or "",
        name=rec.name,
        status=rec.status.value,
        attempts=rec.attempt - (running and rec.type is OperationType.STEP),
        result_json=rec.result,
        error=None if cleared else (rec.error or {}).get("ErrorMessage"),
    )
    assert view == expected and hash(view) == hash(expected) and repr(view) == repr(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.status = "FAILED"  # type: ignore[misc]


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.lists(_records, max_size=12))
def test_views_come_in_execution_order(records: list[OperationRecord]) -> None:
    by_id = {rec.id: rec for rec in records}
    views = operation_views(by_id)
    order = [tuple(int(part) for part in view.id.split(".")) for view in views]
    assert order == sorted(order) and {view.id for view in views} == set(by_id)


def _view(result_json: str | None) -> OperationView:
    record = OperationRecord(
        "1", None, OperationType.STEP, "Step", "s", OperationStatus.SUCCEEDED, result=result_json
    )
    return OperationView.of(record)


def test_a_views_result_is_decoded_by_the_sdks_serdes_then_as_json_then_raw() -> None:
    sdk = EXTENDED_TYPES_SERDES.serialize({"d": Decimal("1.5"), "t": (1, 2)}, SerDesContext())
    assert _view(sdk).result == {"d": Decimal("1.5"), "t": (1, 2)}
    assert _view('{"a": [1, 2]}').result == {"a": [1, 2]}  # plain JSON (an invoke's result)
    assert _view("not json").result == "not json"  # a callback's raw payload
    assert _view(None).result is None


def test_a_run_finds_its_first_operation_by_name() -> None:
    views = [_view('"a"'), dataclasses.replace(_view('"b"'), id="2", name="t"), _view('"c"')]
    run = DurableRun(execution_id="e", engine="sim", status="SUCCEEDED", operations=views)
    assert run.operation("s") is views[0] and run.operation("t") is views[1]
    with pytest.raises(KeyError) as missing:
        run.operation("u")
    assert missing.value.args[0] == "no operation named 'u' (names: ['s', 't'])"


def test_operations_given_as_a_function_are_built_once_when_first_read() -> None:
    built: list[int] = []
    views = [_view('"a"')]

    def build() -> list[OperationView]:
        built.append(1)
        return views

    run = DurableRun(execution_id="e", engine="sim", status="SUCCEEDED", operations=build)
    assert built == []  # nothing is built until someone reads the operations
    assert run.operations is views and run.operations is views and built == [1]
    eager = DurableRun(execution_id="e", engine="sim", status="SUCCEEDED", operations=views)
    assert run == eager and repr(run) == repr(eager)
    assert DurableRun(execution_id="e", engine="sim", status="SUCCEEDED").operations == []
    lazy_later = DurableRun(execution_id="e", engine="sim", status="SUCCEEDED", operations=build)
    assert dataclasses.replace(lazy_later).operations == views


def test_a_runs_operations_are_its_journal_records_at_its_end() -> None:
    def handler(event: Any, ctx: DurableContext) -> int:
        return ctx.step(lambda _: 1, name="a") + ctx.step(lambda _: 2, name="b")

    journal = MemoryJournal()
    run = run_durable(handler, None, journal=journal, execution_id="e")
    records = journal.open_execution("e", "null", HistoryEntry("ExecutionStarted", 0, None, {}))
    assert run.operations == operation_views(records.operations)
    assert [(op.name, op.result) for op in run.operations] == [("a", 1), ("b", 2)]
    again = run_durable(handler, None, journal=journal, execution_id="e")  # the outcome, read back
    assert again.operations == run.operations


def test_a_run_that_runs_nothing_counts_nothing() -> None:
    """A finished execution started again runs no code: every counter is 0 (not None, which
    stands for a metric the engine cannot observe)."""
    journal = MemoryJournal()
    run_durable(
        lambda event, ctx: ctx.step(lambda _: 1, name="s"), None, journal=journal, execution_id="e"
    )
    again = run_durable(lambda event, ctx: 0, None, journal=journal, execution_id="e")
    assert (again.status, again.result) == ("SUCCEEDED", 1)
    counters = dataclasses.asdict(again.metrics)
    assert counters == {name: 0 for name in counters} and again.metrics.elapsed_ms == 0.0
    assert type(again.metrics.elapsed_ms) is float
    assert dataclasses.asdict(RunMetrics()) == counters
