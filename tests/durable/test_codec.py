"""Every payload through the SDK's serdes (fault kind 2) and AWS's 256 KiB limit measured on the
serialized payload in UTF-8 bytes, inclusive (fault kind 3)."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    MapConfig,
    ParallelConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.exceptions import SerDesError
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from aws_durable_execution_sdk_python.waits import WaitForConditionConfig, WaitForConditionDecision
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import CallbackAnswer, CheckpointTooLargeError, MemoryJournal, run_durable
from durable_sim.durable import CHECKPOINT_LIMIT_BYTES


class UpperSerDes(SerDes[str]):
    """Stores a string as is and upper-cases it on the way back."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return value

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data.upper()


class Utf8JsonSerDes(SerDes[Any]):
    """JSON without ASCII escapes: non-ASCII text stays UTF-8 in the payload."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps(value, ensure_ascii=False)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)


def _twice(handler: Any, event: Any = None) -> tuple[Any, Any]:
    """The handler's result on the first run, and on a replay of the finished journal."""
    journal = MemoryJournal()
    first = run_durable(handler, event, journal=journal, execution_id="e")
    assert first.status == "SUCCEEDED", first.error
    return first, journal


def test_a_tuple_step_result_is_a_tuple_on_the_first_run_and_on_replay() -> None:
    seen: list[Any] = []

    def handler(event: Any, ctx: DurableContext) -> str:
        value = ctx.step(lambda _: (1, "a"), name="pair")
        seen.append(value)
        ctx.wait(Duration.from_seconds(1))  # the second invocation replays the step
        return repr(value)

    run = run_durable(handler, None)
    assert seen == [(1, "a"), (1, "a")]
    assert all(type(v) is tuple for v in seen)
    assert run.result == "(1, 'a')"
    assert run.metrics.steps_replayed == 1


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        datetime.date(2025, 1, 2),
        Decimal("12.3400"),
        b"\x00\xffbytes",
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        {"nested": [(1, 2), {"when": datetime.date(2024, 2, 29)}]},
    ],
    ids=["datetime", "date", "decimal", "bytes", "uuid", "nested"],
)
def test_extended_types_round_trip_through_the_sdk_serdes(value: Any) -> None:
    seen: list[Any] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        seen.append(ctx.step(lambda _: value, name="v"))
        ctx.wait(Duration.from_seconds(1))

    run = run_durable(handler, None)
    assert run.status == "SUCCEEDED", run.error
    assert seen == [value, value]
    assert [type(v) for v in seen] == [type(value), type(value)]


def test_a_step_serdes_decides_what_comes_back() -> None:
    def handler(event: Any, ctx: DurableContext) -> list[str]:
        out = [ctx.step(lambda _: "abc", name="s", config=StepConfig(serdes=UpperSerDes()))]
        ctx.wait(Duration.from_seconds(1))
        return out

    run = run_durable(handler, None)
    assert run.result == ["ABC"]  # first run: the round trip the SDK makes before SUCCEED
    assert run.operation("s").result_json == "abc"  # the payload as the serdes wrote it


def test_serdes_is_honoured_on_child_contexts_map_parallel_and_callbacks() -> None:
    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        upper = UpperSerDes()
        child = ctx.run_in_child_context(lambda c: "child", config=ChildConfig(serdes=upper))
        mapped = ctx.map(["m0", "m1"], lambda c, x, i, xs: x, config=MapConfig(item_serdes=upper))
        par = ctx.parallel([lambda c: "p0"], config=ParallelConfig(item_serdes=upper))
        cb = ctx.create_callback(config=CallbackConfig(serdes=upper)).result()
        return {"child": child, "map": mapped.get_results(), "par": par.get_results(), "cb": cb}

    def responder(callback_id: str, record: Any) -> list[CallbackAnswer]:
        return [CallbackAnswer("success", after_s=1, result="answer")]

    run = run_durable(handler, None, responder=responder)
    assert run.result == {"child": "CHILD", "map": ["M0", "M1"], "par": ["P0"], "cb": "ANSWER"}


def test_a_value_no_serdes_can_encode_fails_naming_the_operation_and_the_type() -> None:
    def handler(event: Any, ctx: DurableContext) -> str:
        try:
            ctx.step(lambda _: {"when": datetime.time(12, 0)}, name="clock")
        except SerDesError as exc:
            return str(exc)
        return "no error"

    run = run_durable(handler, None)
    message = run.result
    assert "Step 'clock' (id 1)" in message
    assert "type dict" in message and "datetime.time" in message
    assert run.operation("clock").status == "FAILED"

    def in_a_child(event: Any, ctx: DurableContext) -> None:
        ctx.run_in_child_context(lambda c: {1, 2}, name="sets")

    failed = run_durable(in_a_child, None)
    assert failed.status == "FAILED"
    assert "RunInChildContext 'sets' (id 1)" in str(failed.error)
    assert "type set" in str(failed.error)


def test_wait_for_condition_state_goes_through_its_serdes() -> None:
    class Counter(SerDes[int]):
        def serialize(self, value: int, serdes_context: SerDesContext) -> str:
            return f"n={value}"

        def deserialize(self, data: str, serdes_context: SerDesContext) -> int:
            return int(data.removeprefix("n="))

    def handler(event: Any, ctx: DurableContext) -> int:
        config = WaitForConditionConfig(
            wait_strategy=lambda s, a: (
                WaitForConditionDecision.stop_polling()
                if s >= 2
                else WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))
            ),
            initial_state=0,
            serdes=Counter(),
        )
        return ctx.wait_for_condition(lambda s, c: s + 1, config, name="count")

    run = run_durable(handler, None)
    assert (run.result, run.operation("count").result_json) == (2, "n=2")


# -- the 256 KiB limit: UTF-8 bytes of the serialized payload, inclusive ------------------


def _step_payload(value: Any, serdes: SerDes[Any] | None = None) -> Any:
    def handler(event: Any, ctx: DurableContext) -> int:
        ctx.step(lambda _: value, name="big", config=StepConfig(serdes=serdes))
        return 1

    return run_durable(handler, None)


def test_200001_bytes_of_payload_pass() -> None:
    run = _step_payload(["ab"] * 40_000)  # '["ab","ab",...]': 200,001 bytes
    assert run.status == "SUCCEEDED", run.error
    assert len(run.operation("big").result_json.encode()) == 200_001


def test_exactly_the_limit_passes_and_one_byte_more_fails() -> None:
    exact = _step_payload("x" * (CHECKPOINT_LIMIT_BYTES - 2))  # plus the two quotes
    assert exact.status == "SUCCEEDED", exact.error
    assert len(exact.operation("big").result_json.encode()) == 262_144

    over = _step_payload("x" * (CHECKPOINT_LIMIT_BYTES - 1))
    assert over.status == "FAILED"
    assert isinstance(over.error, CheckpointTooLargeError)
    assert (over.error.size, over.error.limit) == (262_145, 262_144)
    assert "less than or equal to 262144 bytes" in str(over.error)


def test_120_kb_of_non_ascii_text_passes() -> None:
    text = "€" * 40_000  # 120,000 bytes of UTF-8
    assert len(text.encode()) == 120_000
    escaped = _step_payload(text)  # the SDK's JSON escapes it: 240,002 bytes
    assert escaped.status == "SUCCEEDED", escaped.error
    raw = _step_payload(text, Utf8JsonSerDes())  # kept as UTF-8: 120,002 bytes
    assert raw.status == "SUCCEEDED", raw.error
    assert len(raw.operation("big").result_json.encode()) == 120_002


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    text = "é" * 140_000  # 140,000 characters, 280,002 bytes once serialized as UTF-8
    run = _step_payload(text, Utf8JsonSerDes())
    assert run.status == "FAILED"
    assert isinstance(run.error, CheckpointTooLargeError)
    assert run.error.size == 280_002


def test_a_child_result_is_replayed_instead_of_stored_by_the_same_measure() -> None:
    calls: list[str] = []
    utf8 = Utf8JsonSerDes()

    def handler(event: Any, ctx: DurableContext) -> int:
        def body(c: DurableContext) -> str:
            calls.append("body")
            parts = [
                c.step(lambda _: event["part"], name=f"part{i}", config=StepConfig(serdes=utf8))
                for i in range(2)
            ]
            return "".join(parts)

        value = ctx.run_in_child_context(body, name="c", config=ChildConfig(serdes=utf8))
        ctx.wait(Duration.from_seconds(1))
        return len(value)

    # 140,000 characters: below the limit counted in characters, above it in UTF-8 bytes.
    big = run_durable(handler, {"part": "é" * 70_000})
    assert big.result == 140_000
    assert big.operation("c").result_json == ""  # ReplayChildren: not stored
    assert calls == ["body", "body"]  # so replay ran the body again

    calls.clear()
    small = run_durable(handler, {"part": "e" * 70_000})  # 140,002 bytes: stored
    stored = small.operation("c").result_json
    assert stored is not None and len(stored) == 140_002
    assert calls == ["body"]


plain = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=5),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
    ),
    max_leaves=12,
)


def batch_results(results: Any) -> Any:
    from aws_durable_execution_sdk_python.concurrency.models import (
        BatchItem,
        BatchResult,
        CompletionReason,
    )
    from aws_durable_execution_sdk_python.config import BatchItemStatus
    from aws_durable_execution_sdk_python.lambda_service import ErrorObject

    def item(index: int, value: Any) -> Any:
        if index % 3 == 1:
            return BatchItem(index, BatchItemStatus.FAILED, error=ErrorObject("m", "T", None, None))
        if index % 3 == 2:
            return BatchItem(index, BatchItemStatus.STARTED)
        return BatchItem(index, BatchItemStatus.SUCCEEDED, value)

    return BatchResult(
        [item(i, v) for i, v in enumerate(results)], CompletionReason.MIN_SUCCESSFUL_REACHED
    )


@settings(max_examples=examples(300), derandomize=True, database=None, deadline=None)
@given(st.one_of(plain, st.lists(plain, max_size=4).map(batch_results)))
def test_the_codecs_fast_path_writes_and_reads_what_the_sdk_does(value: Any) -> None:
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import OperationType
    from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES

    from durable_sim.durable.codec import decode, encode

    ident = OperationIdentifier("1", "Step", operation_type=OperationType.STEP)
    ours = encode(value, None, ident, "arn", "result")
    assert ours == EXTENDED_TYPES_SERDES.serialize(value)
    assert ours is not None
    back = decode(ours, None, ident, "arn")
    assert back == EXTENDED_TYPES_SERDES.deserialize(ours)
    assert type(back) is type(EXTENDED_TYPES_SERDES.deserialize(ours))


def _same_shape(a: Any, b: Any) -> bool:
    """Equal, with the same type at every level (a tuple is not a list)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_shape(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same_shape(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _containers(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [id(value), *(i for v in value.values() for i in _containers(v))]
    if isinstance(value, list):
        return [id(value), *(i for v in value for i in _containers(v))]
    if isinstance(value, tuple):
        return [i for v in value for i in _containers(v)]
    return []


@settings(max_examples=examples(300), derandomize=True, database=None, deadline=None)
@given(st.one_of(plain, st.lists(plain, max_size=4).map(batch_results)))
def test_a_round_trip_returns_the_payload_and_what_replay_decodes(value: Any) -> None:
    """The first run returns what replay decodes (types included), as a copy of the value."""
    from aws_durable_execution_sdk_python.concurrency.models import BatchResult
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import OperationType

    from durable_sim.durable.codec import decode, encode, round_trip

    ident = OperationIdentifier("1", "Step", operation_type=OperationType.STEP)
    payload, back = round_trip(value, None, ident, "arn", "result")
    assert payload == encode(value, None, ident, "arn", "result")
    replayed = decode(payload, None, ident, "arn")
    if isinstance(value, BatchResult):
        assert type(back) is BatchResult and _same_shape(back.to_dict(), replayed.to_dict())
        assert back == replayed  # items, statuses, errors and the completion reason
        assert not set(_containers(back.to_dict())) & set(_containers(value.to_dict()))
    else:
        assert _same_shape(back, replayed)
        assert not set(_containers(back)) & set(_containers(value))  # nothing shared


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        -0.0,
        1e300,
        5e-324,
        2**70,
        -(2**70),
        True,
        'naïve \u2028 \U0001f600 "quoted" \\ \n',
        {"é": [float("-inf"), 2**64, None, False, "\x00"]},
        (float("nan"), {"k": ("x", -1.5)}),
    ],
)
def test_odd_primitives_are_written_as_the_sdk_writes_them(value: Any) -> None:
    """NaN and the infinities by their JavaScript names, big integers, escaped non-ASCII text:
    the fast path writes the SDK's text, bare or inside its envelope."""
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import OperationType
    from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES

    from durable_sim.durable.codec import encode, round_trip

    ident = OperationIdentifier("1", "Step", operation_type=OperationType.STEP)
    payload = EXTENDED_TYPES_SERDES.serialize(value)
    assert encode(value, None, ident, "arn", "result") == payload
    assert round_trip(value, None, ident, "arn", "result")[0] == payload


def test_a_batch_result_copy_is_what_the_sdk_decodes_item_by_item() -> None:
    """A batch result's round trip rebuilds every item as the SDK's ``from_dict`` does: the
    same statuses and completion reason, errors with their data and stack trace, nothing
    shared with the original."""
    from aws_durable_execution_sdk_python.concurrency.models import (
        BatchItem,
        BatchResult,
        CompletionReason,
    )
    from aws_durable_execution_sdk_python.config import BatchItemStatus
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import ErrorObject, OperationType
    from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES

    from durable_sim.durable.codec import round_trip

    error = ErrorObject("boom", "ValueError", "data", ["frame 1", "frame 2"])
    value = BatchResult(
        [
            BatchItem(0, BatchItemStatus.SUCCEEDED, {"a": [1, (2, "b")]}),
            BatchItem(1, BatchItemStatus.FAILED, error=error),
            BatchItem(2, BatchItemStatus.STARTED),
        ],
        CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
    )
    ident = OperationIdentifier("1", "Map", operation_type=OperationType.CONTEXT)
    payload, back = round_trip(value, None, ident, "arn", "result")
    assert payload == EXTENDED_TYPES_SERDES.serialize(value)
    assert back == EXTENDED_TYPES_SERDES.deserialize(payload) == value
    assert back.all[1].error is not error
    assert back.all[1].error.stack_trace is not error.stack_trace
    assert back.all[0].result["a"] is not value.all[0].result["a"]
    assert back.all[0].status is BatchItemStatus.SUCCEEDED


def test_a_round_trip_of_other_values_decodes_the_payload() -> None:
    """Values beyond plain data (extended types, subclasses, a custom serdes) are decoded from
    their payload, as replay does."""
    import enum

    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import OperationType

    from durable_sim.durable.codec import round_trip

    class Level(enum.IntEnum):
        HIGH = 3

    ident = OperationIdentifier("1", "Step", operation_type=OperationType.STEP)
    day = datetime.date(2025, 1, 2)
    assert round_trip({"d": day}, None, ident, "arn", "result")[1] == {"d": day}
    level = round_trip(Level.HIGH, None, ident, "arn", "result")[1]
    assert level == 3 and type(level) is int  # the SDK's plain JSON: the base type comes back
    assert type(round_trip([True, Level.HIGH], None, ident, "arn", "result")[1][1]) is int
    assert round_trip("abc", UpperSerDes(), ident, "arn", "result") == ("abc", "ABC")


class RefusingSerDes(SerDes[Any]):
    """Writes a long payload, and can read nothing back."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        if value == "refuse":
            raise ValueError("will not write this")
        return "0123456789" * 7

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        raise ValueError("cannot read this")


def test_serdes_failures_name_the_operation_the_value_the_payload_and_the_serdes() -> None:
    def handler(event: Any, ctx: DurableContext) -> str:
        try:
            ctx.step(lambda _: event, name="s", config=StepConfig(serdes=RefusingSerDes()))
        except SerDesError as exc:
            return str(exc)
        return "no error"

    written = run_durable(handler, "refuse").result
    assert written.startswith(
        "Step 's' (id 1): cannot serialize its result of type str with RefusingSerDes: "
        "Serialization failed for id: 1"
    )
    read = run_durable(handler, "anything").result
    assert read.startswith(
        "Step 's' (id 1): cannot deserialize its payload "
        f"{('0123456789' * 6)!r} with RefusingSerDes: Deserialization failed for id: 1, "
        "error: cannot read this."
    )


def test_a_payload_the_default_serdes_cannot_read_names_the_default_serdes() -> None:
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import OperationType

    from durable_sim.durable.codec import decode

    ident = OperationIdentifier(
        "4", "Step", parent_id="3", name="fetch", operation_type=OperationType.STEP
    )
    with pytest.raises(SerDesError) as err:
        decode("not json", None, ident, "arn")
    assert str(err.value).startswith(
        "Step 'fetch' (id 4): cannot deserialize its payload 'not json' with ExtendedTypeSerDes: "
    )


@pytest.mark.parametrize(
    ("payload", "size"), [(None, 0), ("", 0), ("abc", 3), ('"é"', 4), ('"€x"', 6)]
)
def test_payload_bytes_are_utf8_bytes(payload: str | None, size: int) -> None:
    from durable_sim.durable.codec import payload_bytes

    assert payload_bytes(payload) == size


class Opaque:
    """A value no serdes knows."""


def test_an_unnamed_operation_and_a_non_builtin_type_in_a_failure() -> None:
    def handler(event: Any, ctx: DurableContext) -> str:
        try:
            ctx.step(lambda _: Opaque())
        except SerDesError as exc:
            return str(exc)
        return "no error"

    message = run_durable(handler, None).result
    assert message.startswith(
        f"Step (id 1): cannot serialize its result of type {__name__}.Opaque with "
        "ExtendedTypeSerDes: "
    )


@pytest.mark.parametrize(
    "payload",
    [
        '["t","v"]',
        "[1]",
        '{"t":"l","v":[["t","v"]]}',
        '{"t":"l","v":[1]}',
        '{"t":"s"}',
        '{"v":1}',
        '{"t":"x","v":1}',
        '{"t":"s","v":"a","x":1}',
    ],
)
def test_odd_payloads_decode_as_the_sdk_decodes_them(payload: str) -> None:
    """Payloads our encoder never writes (a journal written by other code): the same value as
    the SDK's ``deserialize``, or a `SerDesError` where it raises one."""
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import OperationType
    from aws_durable_execution_sdk_python.serdes import deserialize

    from durable_sim.durable.codec import decode

    ident = OperationIdentifier("1", "Step", operation_type=OperationType.STEP)
    try:
        expected = deserialize(None, payload, "1", "arn")
    except SerDesError:
        with pytest.raises(SerDesError):
            decode(payload, None, ident, "arn")
    else:
        assert decode(payload, None, ident, "arn") == expected


def _generic_codec_called(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("plain data reached the SDK's generic serialize/deserialize")


@settings(max_examples=examples(300), derandomize=True, database=None, deadline=None)
@given(st.one_of(plain, st.lists(plain, max_size=4).map(batch_results)))
def test_plain_data_never_reaches_the_sdks_generic_codec(value: Any) -> None:
    """The module's contract: plain data under the default serdes is written and read without
    the SDK's generic ``serialize``/``deserialize`` (the same text and values, checked against
    the SDK above), in `encode`, `decode` and `round_trip` alike."""
    from unittest import mock

    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import OperationType
    from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES

    from durable_sim.durable import codec

    ident = OperationIdentifier("1", "Step", operation_type=OperationType.STEP)
    text = EXTENDED_TYPES_SERDES.serialize(value)
    expected = EXTENDED_TYPES_SERDES.deserialize(text)
    with (
        mock.patch.object(codec, "serialize", _generic_codec_called),
        mock.patch.object(codec, "deserialize", _generic_codec_called),
    ):
        payload = codec.encode(value, None, ident, "arn", "result")
        back = codec.decode(text, None, ident, "arn")
        first_run = codec.round_trip(value, None, ident, "arn", "result")
    assert payload == text and first_run[0] == text
    assert back == expected and first_run[1] == expected
    assert type(back) is type(expected) and type(first_run[1]) is type(expected)


class _Refusing(SerDes[Any]):
    """A serdes that refuses every value with a classified SerDesError carrying data."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        raise SerDesError("cannot write it", data="written-data")

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        raise SerDesError("cannot read it", data="read-data")


def test_a_serdes_failure_keeps_the_data_the_serdes_attached() -> None:
    """The SDK propagates a serdes' own SerDesError unchanged "so metadata (data, stack_trace)
    survives into the checkpoint": ours adds the operation to the message and keeps `data`."""
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import OperationType

    from durable_sim.durable.codec import decode, encode

    ident = OperationIdentifier("4", "Step", None, "s", operation_type=OperationType.STEP)
    with pytest.raises(SerDesError) as written:
        encode(1, _Refusing(), ident, "arn", "result")
    assert written.value.data == "written-data"
    assert str(written.value) == (
        "Step 's' (id 4): cannot serialize its result of type int with _Refusing: cannot write it"
    )
    with pytest.raises(SerDesError) as read:
        decode("1", _Refusing(), ident, "arn")
    assert read.value.data == "read-data"
    assert str(read.value) == (
        "Step 's' (id 4): cannot deserialize its payload '1' with _Refusing: cannot read it"
    )


class _RefusingWithTrace(SerDes[Any]):
    """A serdes whose SerDesError carries a stack trace of its own."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        raise SerDesError(
            "cannot write it", "custom.WriteRefused", data="d", stack_trace=["remote frame 1"]
        )

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        raise SerDesError(
            "cannot read it", "custom.ReadRefused", data="d", stack_trace=["remote frame 2"]
        )


def test_a_serdes_failure_keeps_the_stack_trace_the_serdes_attached() -> None:
    """The SDK (serdes.serialize/deserialize) re-raises a serdes' SerDesError unchanged "so
    metadata (data, stack_trace) survives into the checkpoint"."""
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier
    from aws_durable_execution_sdk_python.lambda_service import OperationType

    from durable_sim.durable.codec import decode, encode

    ident = OperationIdentifier("4", "Step", None, "s", operation_type=OperationType.STEP)
    with pytest.raises(SerDesError) as written:
        encode(1, _RefusingWithTrace(), ident, "arn", "result")
    with pytest.raises(SerDesError) as read:
        decode("1", _RefusingWithTrace(), ident, "arn")
    assert (written.value.stack_trace, read.value.stack_trace) == (
        ["remote frame 1"],
        ["remote frame 2"],
    )
    assert (written.value.error_type, read.value.error_type) == (
        "custom.WriteRefused",
        "custom.ReadRefused",
    )
