"""A retryable ``InvocationError`` that escapes the handler fails the invocation, not the
execution: the service runs the invocation again.

The SDK's wrapper re-raises a retryable `InvocationError` ("Throw the error to trigger Lambda
retry", ``execution.py`` of aws-durable-execution-sdk-python) and fails the execution at once
only for a non-retryable one. The official local runner then runs the invocation again 5 s
later and fails the execution at the fifth failed invocation in a row
(``Executor.MAX_CONSECUTIVE_FAILED_ATTEMPTS``, ``RETRY_BACKOFF_SECONDS``). The SDK's own such
error is `RetryableSerDesError`, "a transient SerDes failure that should retry the invocation".
Formerly our engine failed the execution at the first one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import StepConfig
from aws_durable_execution_sdk_python.exceptions import InvocationError, RetryableSerDesError
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

from durable_sim import export_history, run_durable
from durable_sim.durable import MemoryJournal
from durable_sim.durable.runtime import INVOCATION_RETRY_MS, MAX_FAILED_INVOCATIONS
from tests.durable.conftest import JournalBackend


class _StoreDown(SerDes[Any]):
    """A serdes whose payload store is down for its first `failures` writes."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise RetryableSerDesError("the payload store is briefly down")
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)


class _Permanent(InvocationError):
    def is_retryable(self) -> bool:
        return False


def _invocation_errors(run: Any) -> list[str | None]:
    """Each recorded invocation's error message (None for a clean one), in order."""
    return [
        ((event["InvocationCompletedDetails"].get("Error") or {}).get("Payload") or {}).get(
            "ErrorMessage"
        )
        for event in export_history(run)
        if event["EventType"] == "InvocationCompleted"
    ]


def _stepping(serdes: SerDes[Any], calls: list[int]) -> Any:
    def handler(event: Any, ctx: DurableContext) -> Any:
        calls.append(1)
        return ctx.step(lambda _: 7, name="s", config=StepConfig(serdes=serdes))

    return handler


@pytest.mark.parametrize("failures", [1, 2, MAX_FAILED_INVOCATIONS - 1])
def test_a_store_that_comes_back_within_the_retries_lets_the_execution_succeed(
    failures: int,
) -> None:
    """Measured on the official runner (`run_durable(engine="aws-local")`) with one failure:
    the handler ran twice, 5 s apart, and the execution SUCCEEDED with the step's result."""
    calls: list[int] = []
    run = run_durable(_stepping(_StoreDown(failures), calls), {})
    assert (run.status, run.result, len(calls)) == ("SUCCEEDED", 7, failures + 1)
    assert run.metrics.elapsed_ms == failures * INVOCATION_RETRY_MS
    assert _invocation_errors(run) == ["the payload store is briefly down"] * failures + [None]


def test_a_store_that_stays_down_fails_the_execution_at_the_fifth_failed_invocation() -> None:
    calls: list[int] = []
    journal = MemoryJournal()
    run = run_durable(_stepping(_StoreDown(10**6), calls), {}, journal=journal)
    assert (run.status, len(calls)) == ("FAILED", MAX_FAILED_INVOCATIONS)
    assert isinstance(run.error, RetryableSerDesError)
    assert run.error_object is not None
    assert (
        run.error_object.type == "aws_durable_execution_sdk_python.exceptions.RetryableSerDesError"
    )
    assert run.metrics.elapsed_ms == (MAX_FAILED_INVOCATIONS - 1) * INVOCATION_RETRY_MS
    assert _invocation_errors(run) == ["the payload store is briefly down"] * 5
    # An ended execution is not run again.
    again = run_durable(
        _stepping(_StoreDown(0), calls), {}, journal=journal, execution_id=run.execution_id
    )
    assert again.status == "FAILED" and len(calls) == MAX_FAILED_INVOCATIONS


def test_a_non_retryable_invocation_error_fails_the_execution_at_once() -> None:
    calls: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> Any:
        calls.append(1)
        raise _Permanent("bad configuration")

    run = run_durable(handler, {})
    assert (run.status, len(calls), run.metrics.elapsed_ms) == ("FAILED", 1, 0.0)
    assert _invocation_errors(run) == [None]


@pytest.mark.parametrize("failures", [2, 10**6])
def test_invocation_retries_are_counted_alike_on_every_journal(
    backend: JournalBackend, failures: int
) -> None:
    """The failed invocations are journaled on each backend as on the memory journal: two
    failures then the step's result, or the fifth failure in a row failing the execution; and
    a run on another handle of an ended execution runs nothing."""
    calls: list[int] = []
    run = run_durable(_stepping(_StoreDown(failures), calls), {}, journal=backend.open())
    retried = min(failures, MAX_FAILED_INVOCATIONS - 1)
    if failures < MAX_FAILED_INVOCATIONS:
        assert (run.status, run.result, len(calls)) == ("SUCCEEDED", 7, failures + 1)
        assert _invocation_errors(run) == ["the payload store is briefly down"] * failures + [None]
    else:
        assert (run.status, len(calls)) == ("FAILED", MAX_FAILED_INVOCATIONS)
        assert isinstance(run.error, RetryableSerDesError)
        assert _invocation_errors(run) == ["the payload store is briefly down"] * 5
    assert run.metrics.elapsed_ms == retried * INVOCATION_RETRY_MS
    again = run_durable(
        _stepping(_StoreDown(0), calls),
        {},
        journal=backend.open(),
        execution_id=run.execution_id,
    )
    assert (again.status, again.result) == (run.status, run.result)
    assert len(calls) == min(failures + 1, MAX_FAILED_INVOCATIONS)
