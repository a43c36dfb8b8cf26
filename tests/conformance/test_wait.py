"""AWS's ``wait`` requirements (2-N), each with our own handler written from its description."""

from __future__ import annotations

from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration

from .harness import Case, assert_conforms, parameters


def wait_basic(event: Any, context: DurableContext) -> None:
    context.wait(Duration.from_seconds(2))


def wait_named(event: Any, context: DurableContext) -> None:
    context.wait(Duration.from_seconds(2), name="custom_wait_name")


def sequential_waits(event: Any, context: DurableContext) -> dict[str, int]:
    context.wait(Duration.from_seconds(2), name="wait-1")
    context.wait(Duration.from_seconds(2), name="wait-2")
    return {"completedWaits": 2}


def wait_minutes(event: Any, context: DurableContext) -> None:
    context.wait(Duration.from_minutes(1))


def wait_hours(event: Any, context: DurableContext) -> None:
    context.wait(Duration.from_hours(1))


CASES: dict[str, Case] = {
    "2-1": Case(wait_basic),
    "2-2": Case(wait_named),
    "2-3": Case(sequential_waits),
    "2-4": Case(wait_minutes),
    "2-5": Case(wait_hours),
}


@pytest.mark.parametrize(("req_id", "engine"), parameters("wait", CASES))
def test_wait_requirement(req_id: str, engine: str) -> None:
    assert_conforms(req_id, CASES[req_id], engine)
