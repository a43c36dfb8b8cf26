"""AWS's ``wait_for_callback`` requirements (7-N), each with our own handler written from its
description."""

from __future__ import annotations

from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    Duration,
    JitterStrategy,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy
from aws_durable_execution_sdk_python.serdes import JsonSerDes
from aws_durable_execution_sdk_python.types import WaitForCallbackContext

from .harness import Case, assert_conforms, parameters
from .known import RUNNER_NO_CALLBACK_TIMEOUTS_IN_HISTORY as TIMEOUTS


def register(callback_id: str, submit_ctx: WaitForCallbackContext) -> None:
    """The submitter: hands the id to the outside world (here: nothing durable to do)."""
    submit_ctx.logger.info(f"callback {callback_id} registered")


def broken_submitter(callback_id: str, submit_ctx: WaitForCallbackContext) -> None:
    raise ConnectionError("the approval system is unreachable")


def wait_named_by_input(event: str, context: DurableContext) -> Any:
    return context.wait_for_callback(register, name=event)


def wait_named_approval(event: Any, context: DurableContext) -> Any:
    return context.wait_for_callback(register, name="approval")


def wait_anonymous(event: Any, context: DurableContext) -> Any:
    return context.wait_for_callback(lambda callback_id, submit_ctx: None)


def wait_with_timeout(event: str, context: DurableContext) -> Any:
    config = WaitForCallbackConfig(timeout=Duration.from_seconds(3))
    return context.wait_for_callback(register, name=event, config=config)


def failure_caught(event: str, context: DurableContext) -> Any:
    try:
        return context.wait_for_callback(register, name=event)
    except Exception:
        return "recovered"


def submitter_retries_exhausted(event: str, context: DurableContext) -> Any:
    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=2,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    config = WaitForCallbackConfig(retry_strategy=retry)
    return context.wait_for_callback(broken_submitter, name=event, config=config)


def inside_child(event: str, context: DurableContext) -> Any:
    return context.run_in_child_context(
        lambda child: child.wait_for_callback(register, name=event), name="wrapper"
    )


def two_in_sequence(event: Any, context: DurableContext) -> Any:
    context.wait_for_callback(register, name="first")
    return context.wait_for_callback(register, name="second")


def after_wait_and_step(event: str, context: DurableContext) -> Any:
    context.wait(Duration.from_seconds(1))
    context.step(lambda _: {"prepared": True}, name="prepare")
    return context.wait_for_callback(register, name=event)


def json_payload(event: str, context: DurableContext) -> Any:
    config = WaitForCallbackConfig(serdes=JsonSerDes())
    return context.wait_for_callback(register, name=event, config=config)["status"]


def heartbeat_timeout(event: str, context: DurableContext) -> Any:
    config = WaitForCallbackConfig(heartbeat_timeout=Duration.from_seconds(5))
    return context.wait_for_callback(register, name=event, config=config)


def heartbeat_kept_alive(event: str, context: DurableContext) -> Any:
    config = WaitForCallbackConfig(heartbeat_timeout=Duration.from_seconds(10))
    return context.wait_for_callback(register, name=event, config=config)


def timeout_caught(event: str, context: DurableContext) -> Any:
    config = WaitForCallbackConfig(timeout=Duration.from_seconds(3))
    try:
        return context.wait_for_callback(register, name=event, config=config)
    except Exception:
        return "timed-out-handled"


CASES: dict[str, Case] = {
    "7-1": Case(wait_named_by_input),
    "7-2": Case(wait_named_approval),
    "7-3": Case(wait_anonymous),
    "7-4": Case(wait_named_by_input),
    "7-5": Case(wait_with_timeout, known={"aws-local": TIMEOUTS}),
    "7-6": Case(failure_caught),
    "7-7": Case(submitter_retries_exhausted),
    "7-8": Case(inside_child),
    "7-9": Case(two_in_sequence),
    "7-10": Case(after_wait_and_step),
    "7-11": Case(json_payload),
    "7-12": Case(heartbeat_timeout, known={"aws-local": TIMEOUTS}),
    "7-13": Case(heartbeat_kept_alive, known={"aws-local": TIMEOUTS}),
    "7-14": Case(timeout_caught, known={"aws-local": TIMEOUTS}),
    "7-15": Case(wait_named_by_input),
}


@pytest.mark.parametrize(("req_id", "engine"), parameters("wait_for_callback", CASES))
def test_wait_for_callback_requirement(req_id: str, engine: str) -> None:
    assert_conforms(req_id, CASES[req_id], engine)
