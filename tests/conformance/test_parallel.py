"""AWS's ``parallel`` requirements (8-N), each with our own handler written from its description."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    CompletionConfig,
    Duration,
    NestingType,
    ParallelBranch,
    ParallelConfig,
)

from .batches import WrappingSerDes, fail, project
from .harness import Case, assert_conforms, parameters

Branch = Callable[[DurableContext], Any]
ALL_FIELDS = ("completionReason", "status", "successCount", "failureCount", "totalCount")
COUNTS = ("completionReason", "successCount", "failureCount", "totalCount")


def returns(value: Any) -> Branch:
    """A branch that returns `value` directly (no durable operation)."""
    return lambda ctx: value


def step_returns(value: Any) -> Branch:
    """A branch that runs one step returning `value`."""
    return lambda ctx: ctx.step(lambda _: value, name=f"produce-{value}")


def sequential(**completion: Any) -> ParallelConfig:
    """One branch at a time, in index order, with the given completion criteria."""
    return ParallelConfig(max_concurrency=1, completion_config=CompletionConfig(**completion))


def parallel_basic(event: Any, context: DurableContext) -> list[Any]:
    branches = [step_returns("task-1"), step_returns("task-2")]
    return context.parallel(branches, name="parallel", config=sequential()).get_results()


def parallel_unnamed(event: Any, context: DurableContext) -> list[Any]:
    return context.parallel([returns("alpha"), returns("beta")], config=sequential()).get_results()


def parallel_named_branches(event: Any, context: DurableContext) -> list[Any]:
    branches = [
        ParallelBranch(returns("one"), name="first"),
        ParallelBranch(returns("two"), name="second"),
    ]
    return context.parallel(branches, name="named", config=sequential()).get_results()


def parallel_mixed_types(event: Any, context: DurableContext) -> list[Any]:
    branches = [returns("hello"), returns(42), returns({"k": "v"})]
    return context.parallel(branches, name="hetero", config=sequential()).get_results()


def parallel_empty(event: Any, context: DurableContext) -> list[Any]:
    return context.parallel([], name="empty").get_results()


def parallel_fail_fast(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.parallel(
        [returns("ok"), fail, returns("never")],
        name="failfast",
        config=sequential(tolerated_failure_count=0),
    )
    return project(batch, *ALL_FIELDS)


def parallel_rethrow(event: Any, context: DurableContext) -> Any:
    batch = context.parallel(
        [fail, returns("never")], name="throwing", config=sequential(tolerated_failure_count=0)
    )
    batch.throw_if_error()
    return batch.get_results()


def parallel_min_successful(event: Any, context: DurableContext) -> dict[str, Any]:
    branches = [returns(f"b{i}") for i in range(4)]
    batch = context.parallel(branches, name="min-successful", config=sequential(min_successful=2))
    return project(batch, "completionReason", "successCount", "totalCount")


def parallel_tolerated(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.parallel(
        [returns("ok"), fail, returns("ok")],
        name="tolerated",
        config=sequential(tolerated_failure_count=1),
    )
    return project(batch, *ALL_FIELDS)


def parallel_tolerance_exceeded(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.parallel(
        [fail, fail, returns("never")],
        name="tolerated-exceeded",
        config=sequential(tolerated_failure_count=1),
    )
    return project(batch, *COUNTS)


def parallel_concurrent(event: Any, context: DurableContext) -> list[Any]:
    branches = [returns("r0"), returns("r1"), returns("r2")]
    return context.parallel(
        branches, name="concurrent", config=ParallelConfig(max_concurrency=2)
    ).get_results()


def parallel_flat(event: Any, context: DurableContext) -> list[Any]:
    config = ParallelConfig(max_concurrency=1, nesting_type=NestingType.FLAT)
    branches = [step_returns("fa"), step_returns("fb")]
    return context.parallel(branches, name="flat", config=config).get_results()


def parallel_percentage_exceeded(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.parallel(
        [fail, fail, returns("never"), returns("never")],
        name="tolerated-pct",
        config=sequential(tolerated_failure_percentage=25),
    )
    return project(batch, *COUNTS)


def parallel_suspending_branch(event: Any, context: DurableContext) -> list[Any]:
    def waits_then_returns(ctx: DurableContext) -> str:
        ctx.wait(Duration.from_seconds(2))
        return "b1"

    branches = [step_returns("b0"), waits_then_returns]
    return context.parallel(branches, name="replay", config=sequential()).get_results()


def parallel_item_serdes(event: Any, context: DurableContext) -> list[Any]:
    config = ParallelConfig(max_concurrency=1, item_serdes=WrappingSerDes())
    return context.parallel([returns("x"), returns("y")], name="serde", config=config).get_results()


def parallel_all_fail_tolerated(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.parallel(
        [fail, fail, fail], name="all-fail", config=sequential(tolerated_failure_count=3)
    )
    return project(batch, *ALL_FIELDS)


def parallel_min_not_reached(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.parallel(
        [returns("ok"), fail, returns("ok")],
        name="min-not-reached",
        config=sequential(min_successful=3),
    )
    return project(batch, *ALL_FIELDS)


def parallel_combined_criteria(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.parallel(
        [fail, fail, returns("never"), returns("never")],
        name="combined",
        config=sequential(min_successful=3, tolerated_failure_count=1),
    )
    return project(batch, *COUNTS)


def parallel_zero_concurrency(event: Any, context: DurableContext) -> list[Any]:
    config = ParallelConfig(max_concurrency=0)
    return context.parallel(
        [returns("a"), returns("b")], name="bad-concurrency", config=config
    ).get_results()


def parallel_accessors(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.parallel(
        [returns("ok"), fail, returns("ok")],
        name="accessors",
        config=sequential(tolerated_failure_count=1),
    )
    return {
        "hasFailure": batch.has_failure,
        "successCount": len(batch.succeeded()),
        "failureCount": len(batch.failed()),
        "errorCount": len(batch.get_errors()),
    }


def parallel_nested(event: Any, context: DurableContext) -> list[Any]:
    def inner(ctx: DurableContext) -> list[Any]:
        branches = [step_returns("i1"), step_returns("i2")]
        return ctx.parallel(branches, name="inner", config=sequential()).get_results()

    return context.parallel([inner], name="outer", config=sequential()).get_results()


def parallel_percentage_boundary(event: Any, context: DurableContext) -> dict[str, Any]:
    batch = context.parallel(
        [fail, returns("ok"), returns("ok"), returns("ok")],
        name="pct-boundary",
        config=sequential(tolerated_failure_percentage=25),
    )
    return project(batch, *ALL_FIELDS)


CASES: dict[str, Case] = {
    "8-1": Case(parallel_basic),
    "8-2": Case(parallel_unnamed),
    "8-3": Case(parallel_named_branches),
    "8-4": Case(parallel_mixed_types),
    "8-5": Case(parallel_empty),
    "8-6": Case(parallel_fail_fast),
    "8-7": Case(parallel_rethrow),
    "8-8": Case(parallel_min_successful),
    "8-9": Case(parallel_tolerated),
    "8-10": Case(parallel_tolerance_exceeded),
    "8-11": Case(parallel_concurrent),
    "8-12": Case(parallel_flat),
    "8-13": Case(parallel_percentage_exceeded),
    "8-14": Case(parallel_suspending_branch),
    "8-15": Case(parallel_item_serdes),
    "8-16": Case(parallel_all_fail_tolerated),
    "8-17": Case(parallel_min_not_reached),
    "8-18": Case(parallel_combined_criteria),
    "8-19": Case(parallel_zero_concurrency),
    "8-20": Case(parallel_accessors),
    "8-21": Case(parallel_nested),
    "8-22": Case(parallel_percentage_boundary),
}


@pytest.mark.parametrize(("req_id", "engine"), parameters("parallel", CASES))
def test_parallel_requirement(req_id: str, engine: str) -> None:
    assert_conforms(req_id, CASES[req_id], engine)
