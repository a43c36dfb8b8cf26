"""AWS's ``map`` requirements (9-N), each with our own handler written from its description."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.concurrency.models import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionReason,
)
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    MapConfig,
    NestingType,
)
from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES, SerDes, SerDesContext

from .batches import project
from .harness import Case, assert_conforms, parameters

ALL_FIELDS = ("completionReason", "status", "successCount", "failureCount", "totalCount")
COUNTS = ("completionReason", "successCount", "failureCount", "totalCount")
LARGE_ITEM_CHARS = 70 * 1024  # four of them exceed the 256 KiB checkpoint limit together


def sequential(**completion: Any) -> MapConfig:
    """One item at a time, in index order, with the given completion criteria."""
    return MapConfig(max_concurrency=1, completion_config=CompletionConfig(**completion))


def identity_or_fail(ctx: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
    """Returns the item; the item ``"fail"`` raises."""
    if item == "fail":
        raise RuntimeError(f"item {index} fails")
    return item


def map_basic(event: list[str], context: DurableContext) -> list[Any]:
    def greet(ctx: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
        return ctx.step(lambda _: f"Hello, {item}!", name=f"greet-{index}")

    return context.map(event, greet, name="map", config=sequential()).get_results()


def map_unnamed(event: list[int], context: DurableContext) -> list[Any]:
    def double(ctx: DurableContext, item: int, index: int, items: Sequence[int]) -> int:
        return 2 * item

    return context.map(event, double, config=sequential()).get_results()


def map_indexed(event: list[int], context: DurableContext) -> list[Any]:
    def add_index(ctx: DurableContext, item: int, index: int, items: Sequence[int]) -> int:
        return item + index

    return context.map(event, add_index, name="indexed", config=sequential()).get_results()


def map_empty(event: list[Any], context: DurableContext) -> list[Any]:
    return context.map(event, identity_or_fail, name="empty").get_results()


def map_fail_fast(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.map(
        ["ok", "fail", "never"],
        identity_or_fail,
        name="failfast",
        config=sequential(tolerated_failure_count=0),
    )
    return project(batch, *ALL_FIELDS)


def map_rethrow(event: Any, context: DurableContext) -> Any:
    batch = context.map(
        ["fail", "never"],
        identity_or_fail,
        name="throwing",
        config=sequential(tolerated_failure_count=0),
    )
    batch.throw_if_error()
    return batch.get_results()


def map_min_successful(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.map(
        ["i0", "i1", "i2", "i3"],
        identity_or_fail,
        name="min-successful",
        config=sequential(min_successful=2),
    )
    return project(batch, "completionReason", "successCount", "totalCount")


def map_tolerated(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.map(
        ["ok", "fail", "ok"],
        identity_or_fail,
        name="tolerated",
        config=sequential(tolerated_failure_count=1),
    )
    return project(batch, *ALL_FIELDS)


def map_tolerance_exceeded(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.map(
        ["fail", "fail", "never"],
        identity_or_fail,
        name="tolerated-exceeded",
        config=sequential(tolerated_failure_count=1),
    )
    return project(batch, *COUNTS)


def map_percentage_exceeded(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.map(
        ["fail", "fail", "never", "never"],
        identity_or_fail,
        name="tolerated-pct",
        config=sequential(tolerated_failure_percentage=25),
    )
    return project(batch, *COUNTS)


def map_concurrent(event: Any, context: DurableContext) -> list[Any]:
    return context.map(
        ["r0", "r1", "r2"], identity_or_fail, name="concurrent", config=MapConfig(max_concurrency=2)
    ).get_results()


def map_flat(event: Any, context: DurableContext) -> list[Any]:
    def produce(ctx: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
        return ctx.step(lambda _: item, name=f"produce-{index}")

    config = MapConfig(max_concurrency=1, nesting_type=NestingType.FLAT)
    return context.map(["fa", "fb"], produce, name="flat", config=config).get_results()


def map_item_namer(event: list[int], context: DurableContext) -> list[Any]:
    def times_ten(ctx: DurableContext, item: int, index: int, items: Sequence[int]) -> int:
        return item * 10

    config = MapConfig(max_concurrency=1, item_namer=lambda item, index: f"item-{item}")
    return context.map(event, times_ten, name="named-items", config=config).get_results()


class PrefixSerDes(SerDes[str]):
    """Writes a string item result as ``wrapped:<value>`` and strips the prefix on reading."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return f"wrapped:{value}"

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        if not data.startswith("wrapped:"):
            raise ValueError(f"not a wrapped item: {data!r}")
        return data.removeprefix("wrapped:")


def upper(ctx: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
    return item.upper()


def map_item_serdes(event: Any, context: DurableContext) -> list[Any]:
    config = MapConfig(max_concurrency=1, item_serdes=PrefixSerDes())
    return context.map(["x", "y"], upper, name="serdes", config=config).get_results()


def map_suspending_item(event: Any, context: DurableContext) -> list[Any]:
    def produce(ctx: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
        if index == 1:
            ctx.wait(Duration.from_seconds(1))
        return ctx.step(lambda _: item, name=f"produce-{index}")

    return context.map(["r0", "r1"], produce, name="suspend", config=sequential()).get_results()


def map_large_result(event: Any, context: DurableContext) -> dict[str, Any]:
    def large(ctx: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
        return item * LARGE_ITEM_CHARS

    batch = context.map(["a", "b", "c", "d"], large, name="large", config=sequential())
    return project(batch, "successCount", "totalCount")


def map_then_wait(event: Any, context: DurableContext) -> list[Any]:
    results = context.map(["a", "b"], upper, name="then-wait", config=sequential()).get_results()
    context.wait(Duration.from_seconds(1))
    return results


def map_failure_then_wait(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.map(
        ["ok", "fail"],
        identity_or_fail,
        name="fail-then-wait",
        config=sequential(tolerated_failure_count=1),
    )
    context.wait(Duration.from_seconds(1))
    return project(batch, *ALL_FIELDS)


class OperationSerDes(SerDes[BatchResult[str]]):
    """Writes a whole map result of strings as ``OPSERDE:`` + the comma-joined results, and reads
    that text back into a batch of succeeded items."""

    def serialize(self, value: BatchResult[str], serdes_context: SerDesContext) -> str:
        return "OPSERDE:" + ",".join(value.get_results())

    def deserialize(self, data: str, serdes_context: SerDesContext) -> BatchResult[str]:
        if not data.startswith("OPSERDE:"):
            raise ValueError(f"not an OPSERDE map result: {data!r}")
        values = data.removeprefix("OPSERDE:").split(",")
        items = [BatchItem(i, BatchItemStatus.SUCCEEDED, v) for i, v in enumerate(values)]
        return BatchResult(items, CompletionReason.ALL_COMPLETED)


def operation_serdes_only() -> MapConfig:
    """The whole result through `OperationSerDes`; the items through the SDK's default serdes
    (the Python SDK would otherwise use ``serdes`` for the items too)."""
    return MapConfig(max_concurrency=1, serdes=OperationSerDes(), item_serdes=EXTENDED_TYPES_SERDES)


def map_operation_serdes(event: Any, context: DurableContext) -> list[Any]:
    config = operation_serdes_only()
    return context.map(["x", "y"], upper, name="op-serde", config=config).get_results()


def map_operation_serdes_replayed(event: Any, context: DurableContext) -> list[Any]:
    config = operation_serdes_only()
    results = context.map(["x", "y"], upper, name="op-serde-replay", config=config).get_results()
    context.wait(Duration.from_seconds(1))
    return results


CASES: dict[str, Case] = {
    "9-1": Case(map_basic),
    "9-2": Case(map_unnamed),
    "9-3": Case(map_indexed),
    "9-4": Case(map_empty),
    "9-5": Case(map_fail_fast),
    "9-6": Case(map_rethrow),
    "9-7": Case(map_min_successful),
    "9-8": Case(map_tolerated),
    "9-9": Case(map_tolerance_exceeded),
    "9-10": Case(map_percentage_exceeded),
    "9-11": Case(map_concurrent),
    "9-12": Case(map_flat),
    "9-13": Case(map_item_namer),
    "9-14": Case(map_item_serdes),
    "9-15": Case(map_suspending_item),
    "9-16": Case(map_large_result),
    "9-17": Case(map_then_wait),
    "9-18": Case(map_failure_then_wait),
    "9-19": Case(map_operation_serdes),
    "9-20": Case(map_operation_serdes_replayed),
}


@pytest.mark.parametrize(("req_id", "engine"), parameters("map", CASES))
def test_map_requirement(req_id: str, engine: str) -> None:
    assert_conforms(req_id, CASES[req_id], engine)
