"""An operation's error over AWS's limit for an error object in a checkpoint.

The service refuses an operation update whose ``ErrorObject`` is longer than 32768 characters
as JSON text (the official local runner's ``CheckpointValidator._validate_payload_sizes``:
``len(json.dumps(update.error.to_dict())) > MAX_ERROR_PAYLOAD_SIZE_BYTES`` raises
InvalidParameterValueException "Error object size must be less than 32768 bytes."). Measured
with `run_durable(engine="aws-local")`: a step failing with a 300,000-character message fails
the execution with that exception, after 5 invocations whose FAIL checkpoint was refused, while
a handler's own error of that size fails the execution as it is (it is no checkpoint). Formerly
our engine journaled any size. It now fails the execution at once with the terminal
`ErrorObjectTooLargeError`, as it treats a payload over its limit (`CheckpointTooLargeError`),
writing no FAIL or RETRY record; an error of exactly the limit is journaled.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.retries import RetryDecision
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import run_durable
from durable_sim.durable import MemoryJournal
from durable_sim.durable.errors import ERROR_OBJECT_LIMIT_BYTES, ErrorObjectTooLargeError

# The JSON text of {"ErrorMessage": m, "ErrorType": "ValueError"} is this much longer than m's.
OVERHEAD = len(json.dumps({"ErrorMessage": "", "ErrorType": "ValueError"}))


def _no_retry(error: Exception, attempt: int) -> RetryDecision:
    return RetryDecision.no_retry()


def _retry(error: Exception, attempt: int) -> RetryDecision:
    return RetryDecision.retry(Duration.from_seconds(1)) if attempt < 2 else _no_retry(error, 1)


def _failing(where: str, message: str) -> Any:
    """A handler whose operation `where` fails with ValueError(`message`); it catches what the
    operation raises and returns its type's name."""

    def boom(*args: Any) -> None:
        raise ValueError(message)

    def handler(event: Any, ctx: DurableContext) -> str:
        try:
            if where == "step":
                ctx.step(boom, name="op", config=StepConfig(retry_strategy=_no_retry))
            elif where == "step retry":
                ctx.step(boom, name="op", config=StepConfig(retry_strategy=_retry))
            elif where == "child context":
                ctx.run_in_child_context(boom, name="op")
            else:
                ctx.map([1], lambda child, item, i, items: boom(), name="op").throw_if_error()
        except Exception as exc:
            return type(exc).__name__
        return "no error"

    return handler


WHERE = ["step", "step retry", "child context", "map branch"]


@settings(max_examples=examples(24), derandomize=True, database=None, deadline=None)
@given(
    where=st.sampled_from(WHERE),
    # characters JSON writes as 1 ("a"), 2 ("\n") and 6 ("é" as \u00e9) characters
    unit=st.sampled_from(["a", "\n", "é"]),
    offset=st.integers(-3, 3),
)
def test_an_operation_error_over_the_limit_fails_the_execution_writing_no_failure(
    where: str, unit: str, offset: int
) -> None:
    width = len(json.dumps(unit)) - 2
    message = unit * ((ERROR_OBJECT_LIMIT_BYTES - OVERHEAD) // width + offset)
    size = len(json.dumps({"ErrorMessage": message, "ErrorType": "ValueError"}))
    journal = MemoryJournal()
    run = run_durable(_failing(where, message), None, journal=journal, execution_id="e")
    errors = [
        entry.operation.error
        for entry in journal.read_history("e")
        if entry.operation is not None and entry.operation.error is not None
    ]
    if size <= ERROR_OBJECT_LIMIT_BYTES:
        assert run.status == "SUCCEEDED" and run.result != "no error"
        assert {"ErrorMessage": message, "ErrorType": "ValueError"} in errors
        return
    assert run.status == "FAILED" and isinstance(run.error, ErrorObjectTooLargeError)
    assert f"is {size} characters as JSON" in str(run.error)
    assert all(len(json.dumps(error)) <= ERROR_OBJECT_LIMIT_BYTES for error in errors)
    again = run_durable(_failing(where, message), None, journal=journal, execution_id="e")
    assert (again.status, again.error_object) == ("FAILED", run.error_object)


@pytest.mark.parametrize("over", [0, 1])
def test_the_limit_is_the_official_runners(over: int) -> None:
    """At the limit the step's failure is journaled on both engines; one character over,
    the execution fails on both (on the runner after its 5 refused invocations)."""
    message = "a" * (ERROR_OBJECT_LIMIT_BYTES - OVERHEAD + over)
    reference = run_durable(_failing("step", message), None, engine="aws-local")
    ours = run_durable(_failing("step", message), None)
    if not over:
        assert (reference.status, reference.result) == ("SUCCEEDED", "StepError")
        assert (ours.status, ours.result) == ("SUCCEEDED", "StepError")
        return
    assert reference.status == ours.status == "FAILED"
    assert reference.error_object is not None and reference.error_object.message == (
        f"Error object size must be less than {ERROR_OBJECT_LIMIT_BYTES} bytes."
    )
    assert isinstance(ours.error, ErrorObjectTooLargeError)
