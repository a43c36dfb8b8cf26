"""The same SDK-decorated handlers on our engine and on AWS's local runner agree, also when
callbacks are answered from outside and functions invoke each other."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from aws_durable_execution_sdk_python import (
    DurableContext,
    StepContext,
    durable_execution,
    durable_step,
)
from aws_durable_execution_sdk_python.config import (
    Duration,
    MapConfig,
    ParallelConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.exceptions import (
    CallbackError,
    DurableOperationError,
    RetryableSerDesError,
)
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryDecision,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import CallbackAnswer, DurableRun, MemoryJournal, export_history, run_durable
from durable_sim.durable import OperationRecord

RETRY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)


@durable_step
def flaky_double(step_ctx: StepContext, x: int) -> int:
    if step_ctx.attempt == 1:
        raise ConnectionError(f"first attempt for {x}")
    return 2 * x


@durable_step
def add(step_ctx: StepContext, a: int, b: int) -> int:
    return a + b


@durable_execution
def steps_and_retries(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    a = context.step(add(event["x"], 1))
    b = context.step(flaky_double(a), config=RETRY)
    context.wait(Duration.from_seconds(10))
    c = context.step(add(b, 100), name="final")
    return {"a": a, "b": b, "c": c}


@durable_execution
def children_and_waits(event: dict[str, Any], context: DurableContext) -> list[int]:
    def inner(ctx: DurableContext) -> int:
        v = ctx.step(add(1, 2))
        ctx.wait(Duration.from_seconds(2))
        return ctx.step(add(v, 10), name="inner-final")

    def outer(ctx: DurableContext) -> int:
        return ctx.run_in_child_context(inner, name="inner") * 2

    return [context.run_in_child_context(outer, name="outer"), context.step(add(0, 7))]


@durable_execution
def map_and_parallel(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    def item(ctx: DurableContext, x: int, index: int, items: Sequence[int]) -> int:
        return ctx.step(flaky_double(x), config=RETRY)

    mapped = context.map(event["items"], item, name="doubles", config=MapConfig(max_concurrency=2))

    def left(ctx: DurableContext) -> str:
        return ctx.step(lambda _: "L", name="left-step")

    def right(ctx: DurableContext) -> str:
        ctx.wait(Duration.from_seconds(1))
        return ctx.step(lambda _: "R", name="right-step")

    par = context.parallel([left, right], name="pair", config=ParallelConfig(max_concurrency=1))
    return {"mapped": mapped.get_results(), "parallel": par.get_results()}


@durable_execution
def fails_after_retries(event: dict[str, Any], context: DurableContext) -> None:
    def always(step_ctx: StepContext) -> None:
        raise ValueError(f"broken on attempt {step_ctx.attempt}")

    context.step(always, name="always", config=RETRY)


CASES = {
    "steps_and_retries": (steps_and_retries, {"x": 4}),
    "children_and_waits": (children_and_waits, {}),
    "map_and_parallel": (map_and_parallel, {"items": [1, 2, 3]}),
    "fails_after_retries": (fails_after_retries, {}),
}


def _steps(run: DurableRun) -> list[tuple[str | None, str, int]]:
    return sorted((op.name, op.status, op.attempts) for op in run.operations if op.type == "STEP")


def _shape(run: DurableRun) -> list[tuple[str, str | None, str]]:
    return sorted((op.type, op.name, op.status) for op in run.operations)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sim_and_aws_local_agree(case: str) -> None:
    handler, event = CASES[case]
    sim = run_durable(handler, event, engine="sim")
    aws = run_durable(handler, event, engine="aws-local")
    assert (sim.status, sim.result) == (aws.status, aws.result)
    assert _steps(sim) == _steps(aws)
    assert _shape(sim) == _shape(aws)
    assert sim.metrics.retries == aws.metrics.retries
    assert sim.metrics.failed_steps == aws.metrics.failed_steps
    # The payload bytes the SDK sends in checkpoint calls do not depend on how calls are
    # batched (the runner batches concurrent branches by real time, so its call count varies):
    # an update carries its own result or error, never an earlier attempt's error.
    assert sim.metrics.checkpoint_bytes == aws.metrics.checkpoint_bytes
    if sim.status == "FAILED":
        assert sim.error is not None and aws.error is not None
        assert "broken on attempt 3" in str(sim.error)
        assert "broken on attempt 3" in str(aws.error)


class LedgerError(DurableOperationError):
    """A handler's own operation error that carries data and a stack trace."""


@durable_execution
def fails_with_data(event: dict[str, Any], context: DurableContext) -> None:
    raise LedgerError("ledger closed", "LedgerClosed", '{"ledger": 7}', ["at close()"])


@durable_execution
def fails_with_key(event: dict[str, Any], context: DurableContext) -> None:
    raise KeyError("k")


@pytest.mark.parametrize("handler", [fails_after_retries, fails_with_data, fails_with_key])
def test_a_failed_executions_error_object_is_the_same_on_both_engines(handler: Any) -> None:
    """The ErrorObject AWS returns for a failed execution (GetDurableExecution's Error): the
    local runner's equals ours, first run and re-run, field for field."""
    aws = run_durable(handler, {}, engine="aws-local")
    journal = MemoryJournal()
    sim = run_durable(handler, {}, journal=journal, execution_id="x")
    again = run_durable(handler, {}, journal=journal, execution_id="x")
    assert aws.status == sim.status == again.status == "FAILED"
    assert aws.error_object is not None
    assert aws.error_object == sim.error_object == again.error_object
    assert aws.error_object.message  # not lost on the way


def test_expected_values_on_sim() -> None:
    """The agreed values are the right ones (so agreement cannot hide a shared mistake)."""
    runs = {case: run_durable(h, e) for case, (h, e) in CASES.items()}
    assert runs["steps_and_retries"].result == {"a": 5, "b": 10, "c": 110}
    assert _steps(runs["steps_and_retries"]) == [
        ("add", "SUCCEEDED", 1),
        ("final", "SUCCEEDED", 1),
        ("flaky_double", "SUCCEEDED", 2),
    ]
    assert runs["children_and_waits"].result == [26, 7]
    assert runs["map_and_parallel"].result == {"mapped": [2, 4, 6], "parallel": ["L", "R"]}
    assert runs["map_and_parallel"].metrics.retries == 3
    # A retried step's SUCCEED update carries its result only (the SDK's OperationUpdate for
    # SUCCEED has no error): 74 bytes, the retry's error counted once, on its RETRY update.
    assert runs["steps_and_retries"].metrics.checkpoint_bytes == 74
    assert runs["fails_after_retries"].status == "FAILED"
    assert _steps(runs["fails_after_retries"]) == [("always", "FAILED", 3)]


def approve_all(callback_id: str, record: OperationRecord) -> list[CallbackAnswer]:
    return [CallbackAnswer("success", result=json.dumps({"approved_by": "alice"}))]


def reject_all(callback_id: str, record: OperationRecord) -> list[CallbackAnswer]:
    error = {"ErrorType": "RejectedError", "ErrorMessage": f"{record.name} not approved"}
    return [CallbackAnswer("failure", error=error)]


@durable_execution
def approval_then_step(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    callback = context.create_callback(name="approval")
    context.step(lambda _: "notified", name="notify")
    answer = json.loads(callback.result())
    return {"answer": answer, "after": context.step(add(1, 2))}


@durable_execution
def wait_for_rejection(event: dict[str, Any], context: DurableContext) -> str:
    try:
        return str(context.wait_for_callback(lambda cid, ctx: None, name="review"))
    except CallbackError as exc:
        return f"caught: {exc}"


@durable_execution
def invoke_twice(event: dict[str, Any], context: DurableContext) -> list[int]:
    first = context.invoke("double", event["x"], name="first")
    return [first, context.invoke("double", first, name="second")]


@durable_execution
def double_it(event: int, context: DurableContext) -> int:
    return context.step(lambda _: 2 * event, name="double")


OUTSIDE_WORLD_CASES = {
    "approval_then_step": (approval_then_step, approve_all, {}),
    "wait_for_rejection": (wait_for_rejection, reject_all, {}),
    "invoke_twice": (invoke_twice, None, {"double": double_it}),
}


@pytest.mark.parametrize("case", sorted(OUTSIDE_WORLD_CASES))
def test_callbacks_and_invokes_agree_event_by_event(case: str) -> None:
    """The same responder and function registry on both engines: same outcome, same history
    (event types in order, with the same operation names; the execution's own name differs)."""
    handler, responder, functions = OUTSIDE_WORLD_CASES[case]
    runs = [
        run_durable(handler, {"x": 5}, engine=engine, responder=responder, functions=functions)
        for engine in ("sim", "aws-local")
    ]
    sim, aws = ([(e["EventType"], e.get("Name")) for e in export_history(r)[1:-1]] for r in runs)
    assert (runs[0].status, runs[0].result) == (runs[1].status, runs[1].result)
    assert sim == aws


def test_outside_world_values_are_the_right_ones() -> None:
    runs = {
        case: run_durable(h, {"x": 5}, responder=r, functions=f)
        for case, (h, r, f) in OUTSIDE_WORLD_CASES.items()
    }
    assert runs["approval_then_step"].result == {"answer": {"approved_by": "alice"}, "after": 3}
    # The callback inside wait_for_callback is named as the SDK names it.
    assert runs["wait_for_rejection"].result == "caught: review create callback id not approved"
    assert runs["invoke_twice"].result == [10, 20]


# A random workflow: blocks run one after another; a callback block creates callbacks and awaits
# them (in creation order or reversed) before the next block starts, so no wait is pending while a
# callback is open (the runner's time skipping would end such a wait before any answer arrives).
# A callback's name says how the outside world answers it.
ANSWERS = ("success", "failure", "silent")
blocks = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.integers(0, 9)),
        st.tuples(st.just("wait"), st.integers(1, 3)),
        st.tuples(
            st.just("callbacks"),
            st.lists(st.sampled_from(ANSWERS), min_size=1, max_size=2),
            st.booleans(),
        ),
    ),
    min_size=1,
    max_size=3,
)


def scripted_workflow(event: list[list[Any]], context: DurableContext) -> list[Any]:
    seen: list[Any] = []
    for index, block in enumerate(event):
        if block[0] == "step":
            value = block[1]
            seen.append(context.step(lambda _, v=value: v * 10, name=f"step-{index}"))
        elif block[0] == "wait":
            context.wait(Duration.from_seconds(block[1]))
        else:
            callbacks = [
                context.create_callback(name=f"cb-{index}-{i}-{answer}")
                for i, answer in enumerate(block[1])
            ]
            for callback in reversed(callbacks) if block[2] else callbacks:
                try:
                    seen.append(callback.result())
                except CallbackError as exc:
                    seen.append(f"failed: {exc}")
    return seen


def answer_by_name(callback_id: str, record: OperationRecord) -> list[CallbackAnswer]:
    name = str(record.name)
    if name.endswith("-success"):
        return [CallbackAnswer("success", result=json.dumps(name))]
    if name.endswith("-failure"):
        return [CallbackAnswer("failure", error={"ErrorType": "Rejected", "ErrorMessage": name})]
    return []


@settings(max_examples=examples(12), derandomize=True, deadline=None)
@given(workflow=blocks)
def test_random_callback_workflows_agree_on_both_engines(workflow: list[Any]) -> None:
    spec = json.loads(json.dumps(workflow))  # as the handler receives it: tuples become lists
    runs = [
        run_durable(scripted_workflow, spec, engine=engine, responder=answer_by_name)
        for engine in ("sim", "aws-local")
    ]
    histories = [[(e["EventType"], e.get("Name")) for e in export_history(run)] for run in runs]
    operations_only = [[e for e in h if not e[0].startswith("Execution")] for h in histories]
    assert operations_only[0] == operations_only[1]
    assert [(r.status, r.result, len(r.pending_callbacks)) for r in runs] == [
        (runs[0].status, runs[0].result, len(runs[0].pending_callbacks))
    ] * 2
    silent = sum(answer == "silent" for b in spec if b[0] == "callbacks" for answer in b[1])
    assert (runs[0].status == "PENDING") == (silent > 0)


class Unprintable(Exception):
    """An error whose str() raises, so the SDK cannot build its ErrorObject."""

    def __str__(self) -> str:
        raise RuntimeError("str broke")


def _unprintable(*args: Any) -> None:
    raise Unprintable()


UNPRINTABLE = {
    "step": durable_execution(lambda event, ctx: ctx.step(_unprintable, name="s")),
    "child": durable_execution(lambda event, ctx: ctx.run_in_child_context(_unprintable)),
    "map": durable_execution(lambda event, ctx: ctx.map([1], _unprintable).get_results()),
    "parallel": durable_execution(lambda event, ctx: ctx.parallel([_unprintable]).get_results()),
}


@pytest.mark.parametrize("where", sorted(UNPRINTABLE))
def test_an_unprintable_error_ends_the_same_on_both_engines(where: str) -> None:
    """What its str() raised fails the step (after its retries), the child context or the
    branch, on both engines. (Escaping the handler, it fails the invocation; the runner's
    retries of it take 20 s of real time, so that case is checked against the runner's
    constants in tests/durable/test_runtime_unprintable_errors.py.)"""
    handler = UNPRINTABLE[where]
    aws = run_durable(handler, {}, engine="aws-local")
    sim = run_durable(handler, {}, engine="sim")
    assert (sim.status, sim.result, sim.error_object) == (aws.status, aws.result, aws.error_object)
    assert _outcomes(sim) == _outcomes(aws)


def _outcomes(run: DurableRun) -> list[tuple[str, str, int, str]]:
    return sorted((op.type, op.status, op.attempts, op.error or "") for op in run.operations)


class _StoreDownOnce(SerDes[Any]):
    """A step serdes whose payload store is down for its first write only."""

    def __init__(self) -> None:
        self.down = True

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        if self.down:
            self.down = False
            raise RetryableSerDesError("the payload store is briefly down")
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)


def _over_a_store_down_once(calls: list[int]) -> Any:
    serdes = _StoreDownOnce()

    @durable_execution
    def handler(event: Any, ctx: DurableContext) -> Any:
        calls.append(1)
        return ctx.step(lambda _: 7, name="s", config=StepConfig(serdes=serdes))

    return handler


def test_a_retryable_invocation_error_reruns_the_invocation_on_both_engines() -> None:
    """A `RetryableSerDesError` escaping the handler fails the invocation, and the service runs
    it again 5 s later (on the runner, 5 s of real time): the handler runs twice and the
    execution succeeds with the step's result, on both engines."""
    results: dict[str, tuple[Any, ...]] = {}
    for engine in ("aws-local", "sim"):
        calls: list[int] = []
        run = run_durable(_over_a_store_down_once(calls), {}, engine=engine)
        results[engine] = (run.status, run.result, run.error_object, len(calls), _outcomes(run))
    assert results["sim"] == results["aws-local"]
    assert results["sim"][:4] == ("SUCCEEDED", 7, None, 2)


def test_a_failed_invocation_has_its_invocation_completed_event_with_the_error() -> None:
    """The decision (`durable_sim.durable.history`): AWS's ``InvocationCompletedDetails`` has an
    ``Error`` ("Details about the invocation failure", an ``EventError``), so our history
    gives the failed invocation its InvocationCompleted event with the error that escaped the
    handler, then one for the clean retry. The runner 1.4.0 records the clean one only (its
    history, measured here, so a runner that starts recording it shows up)."""
    histories = {}
    for engine in ("aws-local", "sim"):
        run = run_durable(_over_a_store_down_once([]), {}, engine=engine)
        histories[engine] = [
            event.get("InvocationCompletedDetails", {}).get("Error")
            for event in export_history(run)
            if event["EventType"] == "InvocationCompleted"
        ]
    error = {
        "ErrorType": f"{RetryableSerDesError.__module__}.RetryableSerDesError",
        "ErrorMessage": "the payload store is briefly down",
    }
    assert histories["sim"] == [{"Truncated": False, "Payload": error}, None]
    assert len(histories["aws-local"]) == 1


class _BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str broke")


def _boom(step_ctx: StepContext) -> None:
    raise ValueError("boom")


def _third_time_lucky(step_ctx: StepContext) -> int:
    if step_ctx.attempt < 3:
        raise ValueError("not yet")
    return step_ctx.attempt


def _retries(count: int, *, then_raise: bool = False) -> StepConfig:
    """Retry after 1 s until attempt `count`; then stop, or raise an error that cannot be
    printed (the step stays STARTED and the invocation fails)."""

    def strategy(error: Exception, attempt: int) -> RetryDecision:
        if attempt < count:
            return RetryDecision.retry(Duration.from_seconds(1))
        if then_raise:
            raise _BadStr()
        return RetryDecision.no_retry()

    return StepConfig(retry_strategy=strategy)


def _polls(state: int, attempt: int) -> WaitForConditionDecision:
    if state >= 3:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


ATTEMPT_PATHS: dict[str, Any] = {
    "first attempt succeeds": lambda ctx: ctx.step(lambda _: 1, name="s"),
    "succeeds on the third": lambda ctx: ctx.step(_third_time_lucky, name="s", config=_retries(5)),
    "fails after three": lambda ctx: ctx.step(_boom, name="s", config=_retries(3)),
    "left STARTED in attempt 1": lambda ctx: ctx.step(
        _boom, name="s", config=_retries(1, then_raise=True)
    ),
    "left STARTED in attempt 2": lambda ctx: ctx.step(
        _boom, name="s", config=_retries(2, then_raise=True)
    ),
    "condition polled 3 times": lambda ctx: ctx.wait_for_condition(
        lambda state, check: state + 1,
        config=WaitForConditionConfig(wait_strategy=_polls, initial_state=0),
        name="w",
    ),
    "steps in map branches": lambda ctx: ctx.map(
        [1, 2], lambda c, x, i, xs: c.step(lambda _: x, name=f"m{x}")
    ).get_results(),
}


@pytest.mark.parametrize("path", sorted(ATTEMPT_PATHS))
def test_attempts_are_the_runners_on_every_path(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`OperationView.attempts` is AWS's ``StepDetails.Attempt``: the attempts that ended
    (the runner adds one at RETRY, SUCCEED and FAIL, none at START); a step left STARTED in its
    first attempt has 0. Formerly ours gave a STARTED step the number of the attempt running
    (1 where the runner has 0). The runner's 5 s between failed invocations is set to 0 here:
    only the count matters."""
    from aws_durable_execution_sdk_python_testing.executor import Executor

    monkeypatch.setattr(Executor, "RETRY_BACKOFF_SECONDS", 0)
    body = ATTEMPT_PATHS[path]
    handler = durable_execution(lambda event, ctx: body(ctx))
    sim = run_durable(handler, {}, engine="sim")
    aws = run_durable(handler, {}, engine="aws-local")
    assert sim.status == aws.status
    assert _outcomes(sim) == _outcomes(aws)
