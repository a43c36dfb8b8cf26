"""An error the SDK cannot turn into an ErrorObject (its ``str()`` raises) ends the execution in
a terminal state recorded in the journal, where it failed, as on AWS's local runner.

``ErrorObject.from_exception`` calls ``str()``. In the SDK the exception that raises takes the
failed one's place from there on: a step retries and fails with it, a child context or a
map/parallel branch fails with it (``operation/step.py``, ``operation/child.py``,
``concurrency/executor.py``). Escaping the handler it escapes the SDK's wrapper
(``execution.py``): the invocation fails, and the official runner invokes it again 5 s later,
failing the execution with that error at the fifth failed invocation in a row
(``Executor.MAX_CONSECUTIVE_FAILED_ATTEMPTS = 5``, ``RETRY_BACKOFF_SECONDS = 5``). Formerly it
escaped `run_durable` and every rerun ran the handler again, never ending.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.exceptions import ChildContextError, StepError
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python.retries import RetryDecision
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

from durable_sim import run_durable
from durable_sim.durable import CallbackAnswer, MemoryJournal
from durable_sim.durable.errors import UnprintableError
from durable_sim.durable.operation.common import check_error_fields, recordable
from durable_sim.durable.runtime import MAX_FAILED_INVOCATIONS
from tests.durable.conftest import JournalBackend

STR_BROKE = ErrorObject(message="str broke", type="RuntimeError", data=None, stack_trace=None)


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str broke")


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("str broke")


class WorseStr(Exception):
    """Its str() raises an exception whose str() raises too."""

    def __str__(self) -> str:
        raise BadStr()


def _unprintable(kind: str) -> Exception:
    if kind == "str":
        return BadStr("x")
    if kind == "key repr":  # KeyError prints its key's repr
        return KeyError(BadRepr())
    return ValueError("a", BadRepr())  # several arguments print as their tuple's repr


KINDS = ["str", "key repr", "args repr"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_handlers_unprintable_error_fails_the_execution_after_five_invocations(
    backend: JournalBackend, kind: str
) -> None:
    ran: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        ran.append("handler")
        ctx.step(lambda _: ran.append("step"), name="once")
        raise _unprintable(kind)

    first = run_durable(handler, None, journal=backend.open(), execution_id="u")
    assert (first.status, first.error_object) == ("FAILED", STR_BROKE)
    assert isinstance(first.error, RuntimeError) and str(first.error) == "str broke"
    assert ran == ["handler", "step"] + ["handler"] * 4  # the step's result is journaled
    assert first.metrics.invocations == 5
    assert first.metrics.elapsed_ms == 4 * 5000.0  # the runner's backoff, on the virtual clock
    history = backend.open().read_history("u")
    errors = [e.details.get("Error") for e in history if e.event_type == "InvocationCompleted"]
    assert errors == [{"ErrorType": "RuntimeError", "ErrorMessage": "str broke"}] * 5
    assert [e.event_type for e in history][-1] == "ExecutionFailed"

    again = run_durable(handler, None, journal=backend.open(), execution_id="u")
    assert (again.status, again.error_object, len(ran)) == ("FAILED", STR_BROKE, 6)
    assert type(again.error) is RuntimeError and str(again.error) == "str broke"


def test_a_clean_invocation_between_failed_ones_starts_the_count_again() -> None:
    """The runner resets its count of failed invocations after a clean one (a wait)."""
    ran: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        ran.append(1)
        if len(ran) == 3:
            ctx.wait(Duration.from_seconds(1))
        raise BadStr()

    run = run_durable(handler, None)
    assert (run.status, run.error_object, run.metrics.invocations) == ("FAILED", STR_BROKE, 8)


def _no_retry(error: Exception, attempt: int) -> RetryDecision:
    return RetryDecision.no_retry()


def _raise(kind: str) -> Any:
    def body(*args: Any) -> None:
        raise _unprintable(kind)

    return body


@pytest.mark.parametrize("kind", KINDS)
def test_a_steps_unprintable_error_fails_the_step_with_the_error_str_raised(
    backend: JournalBackend, kind: str
) -> None:
    """The step's retry strategy sees, and its FAIL checkpoint records, what str() raised."""
    seen: list[type] = []

    def strategy(error: Exception, attempt: int) -> RetryDecision:
        seen.append(type(error))
        return RetryDecision.no_retry()

    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.step(_raise(kind), name="s", config=StepConfig(retry_strategy=strategy))

    run = run_durable(handler, None, journal=backend.open(), execution_id="s")
    again = run_durable(handler, None, journal=backend.open(), execution_id="s")
    assert seen == [RuntimeError]
    assert run.status == again.status == "FAILED" and isinstance(run.error, StepError)
    step = run.operation("s")
    assert (step.status, step.error) == ("FAILED", "str broke")
    assert run.error_object == again.error_object
    assert run.error_object == ErrorObject(
        "str broke", f"{StepError.__module__}.StepError", None, None
    )
    assert run.metrics.invocations == 1


@pytest.mark.parametrize("where", ["child", "map", "parallel", "condition"])
def test_a_contexts_unprintable_error_fails_that_context(
    backend: JournalBackend, where: str
) -> None:
    """A child context, a map/parallel branch or a condition check fails with what str()
    raised; a batch that tolerates it succeeds with the item FAILED (as on the local runner)."""
    body = _raise("str")

    def handler(event: Any, ctx: DurableContext) -> Any:
        if where == "child":
            return ctx.run_in_child_context(body, name="c")
        if where == "map":
            return [i.error.message for i in ctx.map([1], body).all if i.error]
        if where == "parallel":
            return [i.error.message for i in ctx.parallel([body]).all if i.error]
        config = WaitForConditionConfig(
            wait_strategy=lambda state, attempt: WaitForConditionDecision.stop_polling(),
            initial_state=0,
        )
        return ctx.wait_for_condition(body, config=config, name="w")

    run = run_durable(handler, None, journal=backend.open(), execution_id="c")
    again = run_durable(handler, None, journal=backend.open(), execution_id="c")
    assert run.metrics.invocations == 1
    failed = [op for op in run.operations if op.status == "FAILED"]
    assert [op.error for op in failed] == ["str broke"]
    if where in ("map", "parallel"):
        assert (run.status, run.result, again.result) == ("SUCCEEDED", ["str broke"], ["str broke"])
        return
    assert run.status == again.status == "FAILED"
    assert run.error_object == again.error_object
    assert run.error_object is not None and run.error_object.message == "str broke"
    if where == "child":
        assert isinstance(run.error, ChildContextError)


def test_an_error_whose_str_failure_cannot_print_either_is_recorded_as_unprintable() -> None:
    recorded = recordable(WorseStr())
    assert isinstance(recorded, UnprintableError)
    assert str(recorded) == (
        f"a {__name__}.WorseStr was raised and its str() raised a {__name__}.BadStr, "
        "whose str() fails too; neither can be recorded"
    )
    run = run_durable(lambda event, ctx: ctx.step(_worse, name="s"), None)
    assert run.status == "FAILED" and run.operation("s").error == str(recorded)


def _worse(step_ctx: Any) -> None:
    raise WorseStr()


@pytest.mark.parametrize("where", ["handler", "step"])
def test_an_error_message_utf8_cannot_encode_is_journaled_with_its_escape(
    backend: JournalBackend, where: str
) -> None:
    """A lone surrogate: formerly the SQLite and Postgres journals refused the text and the
    execution never ended."""

    def handler(event: Any, ctx: DurableContext) -> None:
        if where == "step":
            ctx.step(_surrogate, name="s", config=StepConfig(retry_strategy=_no_retry))
        _surrogate(None)

    run = run_durable(handler, None, journal=backend.open(), execution_id="x")
    again = run_durable(handler, None, journal=backend.open(), execution_id="x")
    assert run.status == again.status == "FAILED"
    assert run.error_object is not None and run.error_object.message == "bad \\ud800 text"
    assert run.error_object == again.error_object


def _surrogate(step_ctx: Any) -> None:
    raise ValueError("bad \ud800 text")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ({"ErrorMessage": object()}, "error field ErrorMessage holds a object"),
        ({"ErrorMessage": "bad \ud800"}, "error field ErrorMessage holds a lone surrogate"),
        ({"StackTrace": ["a", 1]}, "error field StackTrace holds a int"),
        ({"Message": "x"}, "unknown error field 'Message'"),
        (["ErrorMessage"], "a list is not a dict"),
    ],
)
def test_a_callback_failure_answer_with_bad_error_fields_is_refused(
    error: Any, message: str
) -> None:
    """AWS's SendDurableExecutionCallbackFailure takes an ErrorObject: strings, and StackTrace
    a list of strings (the SDK's ``lambda_service.ErrorObject``)."""
    with pytest.raises(ValueError, match="callback failure answer: " + message):
        CallbackAnswer("failure", error=error)
    with pytest.raises(ValueError, match=message):
        check_error_fields(error, "x")


def test_good_error_fields_pass() -> None:
    fields = {"ErrorMessage": "m", "ErrorType": "T", "ErrorData": "{}", "StackTrace": ["a"]}
    assert check_error_fields(fields, "x") is fields


class _StrInterrupts(Exception):
    """An error whose str() raises an interrupt (or an exit) of its own."""

    def __init__(self, raised: type[BaseException]) -> None:
        super().__init__()
        self.raised = raised

    def __str__(self) -> str:
        raise self.raised()


class _WorseInterrupt(KeyboardInterrupt):
    def __str__(self) -> str:
        raise RuntimeError("cannot print either")


PLACES = ["handler", "step", "child", "map", "parallel", "condition", "callback"]


def _interrupting_handler(where: str, raised: type[BaseException]) -> Any:
    def body(*args: Any) -> None:
        raise _StrInterrupts(raised)

    def handler(event: Any, ctx: DurableContext) -> Any:
        if where == "handler":
            ctx.step(lambda _: None, name="once")
            body()
        if where == "step":
            return ctx.step(body, name="s", config=StepConfig(retry_strategy=_no_retry))
        if where == "child":
            return ctx.run_in_child_context(body, name="c")
        if where == "map":
            return ctx.map([1], body).get_results()
        if where == "parallel":
            return ctx.parallel([body]).get_results()
        if where == "callback":
            return ctx.wait_for_callback(body, name="cb")
        config = WaitForConditionConfig(
            wait_strategy=lambda state, attempt: WaitForConditionDecision.stop_polling(),
            initial_state=0,
        )
        return ctx.wait_for_condition(body, config=config, name="w")

    return handler


@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit, GeneratorExit])
@pytest.mark.parametrize("where", PLACES)
def test_an_interrupt_raised_by_printing_an_error_fails_the_invocation(
    where: str, raised: type[BaseException]
) -> None:
    """The rule (`durable_sim.durable.errors.PrintingAborted`): an interrupt or exit that the
    str() of the workflow's exception raises while the engine formats it is the user's code
    failing, not an operator's interrupt. On AWS it escapes the SDK's error paths and the
    runtime dies: the invocation fails, wherever it was raised, and the fifth such invocation
    in a row fails the execution with it. Formerly each run stopped as if interrupted, and the
    execution never ended."""
    handler = _interrupting_handler(where, raised)
    journal = MemoryJournal()
    run = run_durable(handler, None, journal=journal, execution_id="i")
    expected = ErrorObject(message="", type=raised.__name__, data=None, stack_trace=None)
    assert (run.status, run.error_object) == ("FAILED", expected)
    assert run.metrics.invocations == MAX_FAILED_INVOCATIONS
    assert type(run.error) is raised
    failed = [
        (entry.details or {}).get("Error")
        for entry in journal.read_history("i")
        if entry.event_type == "InvocationCompleted"
    ]
    assert failed == [{"ErrorType": raised.__name__, "ErrorMessage": ""}] * 5
    again = run_durable(handler, None, journal=journal, execution_id="i")
    assert (again.status, again.error_object, again.metrics.invocations) == ("FAILED", expected, 0)


def test_an_interrupt_printing_cannot_print_either_is_recorded_as_unprintable() -> None:
    run = run_durable(_interrupting_handler("step", _WorseInterrupt), None)
    assert run.status == "FAILED" and run.metrics.invocations == MAX_FAILED_INVOCATIONS
    assert run.error_object is not None
    assert run.error_object.type == f"{UnprintableError.__module__}.UnprintableError"
    assert "_StrInterrupts was raised and its str() raised a" in (run.error_object.message or "")


@pytest.mark.parametrize("where", ["handler", "step"])
def test_a_real_interrupt_still_stops_the_run_at_once(where: str) -> None:
    """An interrupt the workflow raises (a Ctrl-C) rather than one printing an error raised:
    the run stops in its first invocation, recording no failure of the handler's (the
    invocation it stopped is recorded as the runtime's exit, which does not count), and nothing
    runs on."""
    ran: list[int] = []

    def interrupt(*args: Any) -> None:
        ran.append(1)
        raise KeyboardInterrupt

    def handler(event: Any, ctx: DurableContext) -> Any:
        if where == "step":
            return ctx.step(interrupt, name="s")
        return interrupt()

    journal = MemoryJournal()
    with pytest.raises(KeyboardInterrupt):
        run_durable(handler, None, journal=journal, execution_id="k")
    assert ran == [1]
    history = journal.read_history("k")
    ended = [e.details["Error"] for e in history if e.event_type == "InvocationCompleted"]
    assert [error["ErrorType"] for error in ended] == ["Runtime.ExitError"]
    assert "KeyboardInterrupt" in ended[0]["ErrorMessage"]
    assert history[-1].event_type != "ExecutionFailed"
