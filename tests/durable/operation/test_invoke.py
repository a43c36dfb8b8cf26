"""``invoke``: chained invokes of registered durable functions, run as their own executions."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, InvokeConfig, MapConfig, StepConfig
from aws_durable_execution_sdk_python.exceptions import InvokeError, SerDesError
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

from durable_sim import FunctionRegistry, MemoryJournal, export_history, run_durable
from durable_sim.durable import ExecutionBusyError, HistoryEntry, LeaseConfig, runtime
from durable_sim.durable.errors import CHAINED_INVOKE_LIMIT_BYTES, CheckpointTooLargeError
from durable_sim.durable.lease import open_leased
from durable_sim.durable.operation.invoke import child_execution_id, invoked_by
from durable_sim.latency import Dist, LatencyProfile

from ..conftest import STEP_MS, STEP_ONLY


def double(event: Any, ctx: DurableContext) -> dict[str, int]:
    value = ctx.step(lambda _: event["n"] * 2, name="double")
    ctx.wait(Duration.from_seconds(3))
    return {"doubled": value}


@durable_execution
def explode(event: Any, ctx: DurableContext) -> None:
    ctx.step(lambda _: 1, name="before")
    raise RuntimeError(f"exploded on {event}")


FUNCTIONS = FunctionRegistry({"double": double, "explode": explode})


def test_the_invoked_function_runs_as_its_own_execution_and_the_caller_resumes() -> None:
    calls: list[str] = []

    def caller(event: Any, ctx: DurableContext) -> Any:
        calls.append("caller")
        first = ctx.invoke("double", {"n": 21}, name="call")
        return ctx.step(lambda _: first["doubled"] + 1, name="after")

    journal = MemoryJournal()
    run = run_durable(
        caller, None, functions=FUNCTIONS, journal=journal, profile=STEP_ONLY, execution_id="c"
    )
    assert (run.status, run.result) == ("SUCCEEDED", 43)
    assert calls == ["caller", "caller"]  # suspended at the invoke, re-invoked with its result
    # The child's step (100 ms) and its 3 s wait, then the caller's step.
    assert run.metrics.elapsed_ms == STEP_MS + 3000 + STEP_MS
    op = run.operation("call")
    assert (op.type, op.sub_type, op.status, op.result) == (
        "CHAINED_INVOKE",
        "ChainedInvoke",
        "SUCCEEDED",
        {"doubled": 42},
    )
    child_events = [e["EventType"] for e in export_history_of(journal, "c/invoke-1")]
    assert child_events[0] == "ExecutionStarted" and child_events[-1] == "ExecutionSucceeded"
    started = next(e for e in export_history(run) if e["EventType"] == "ChainedInvokeStarted")
    details = started["ChainedInvokeStartedDetails"]
    assert (details["FunctionName"], details["Input"]["Payload"]) == ("double", '{"n": 21}')
    assert "/durable-execution/c/invoke-1/" in details["DurableExecutionArn"]


def export_history_of(journal: MemoryJournal, execution_id: str) -> list[dict[str, Any]]:
    from durable_sim import export_history_from_journal

    return export_history_from_journal(journal, execution_id)


def test_a_failed_invoke_raises_invoke_error_on_the_first_run_and_on_replay() -> None:
    seen: list[str] = []

    def caller(event: Any, ctx: DurableContext) -> str:
        try:
            ctx.invoke("explode", "x")
        except InvokeError as exc:
            seen.append(f"{exc.error_type}: {exc.message}")
        ctx.wait(Duration.from_seconds(1))
        return seen[-1]

    run = run_durable(caller, None, functions=FUNCTIONS)
    assert run.result == "RuntimeError: exploded on x"
    assert seen == [run.result, run.result]


def test_an_unknown_function_fails_the_operation_as_the_lambda_api_does() -> None:
    def caller(event: Any, ctx: DurableContext) -> Any:
        return ctx.invoke("nowhere", 1)

    run = run_durable(caller, None, functions=FUNCTIONS)
    assert isinstance(run.error, InvokeError)
    assert run.error.error_type == "ResourceNotFoundException"
    assert "nowhere" in str(run.error.message) and "double" in str(run.error.message)


def test_invoke_serdes_and_invokes_inside_map_branches() -> None:
    class Prefixed(SerDes[Any]):
        def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
            return f'{{"n": {value}}}'

        def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
            return f"got {data}"

    def caller(event: Any, ctx: DurableContext) -> Any:
        config = InvokeConfig(serdes_payload=Prefixed(), serdes_result=Prefixed())
        one = ctx.invoke("double", 5, config=config)
        many = ctx.map(
            [1, 2, 3],
            lambda c, x, i, xs: c.invoke("double", {"n": x})["doubled"],
            config=MapConfig(max_concurrency=2),
        )
        return [one, many.get_results()]

    run = run_durable(caller, None, functions=FUNCTIONS)
    assert run.result == ['got {"doubled": 10}', [2, 4, 6]]
    # The first invoke, then the three branches' invokes at concurrency 2: three rounds of a
    # child's 3 s wait (a branch waiting on an invoke keeps its slot).
    assert run.metrics.elapsed_ms == 3 * 3000


def test_registry_rejects_bad_names() -> None:
    registry = FunctionRegistry()

    @registry.register("ok")
    def handler(event: Any, ctx: DurableContext) -> None:
        return None

    assert list(registry) == ["ok"] and registry["ok"] is handler
    with pytest.raises(ValueError, match="already registered"):
        registry.register("ok", handler)
    with pytest.raises(ValueError, match="non-empty string"):
        registry.register("", handler)


def test_child_latency_draws_are_its_own() -> None:
    profile = LatencyProfile(name="noisy", step=Dist(100.0, 0.5))

    def caller(event: Any, ctx: DurableContext) -> Any:
        mine = ctx.step(lambda _: 1, name="double")
        return [mine, ctx.invoke("double", {"n": 1})]

    run = run_durable(caller, None, functions=FUNCTIONS, profile=profile, seed=1)
    again = run_durable(caller, None, functions=FUNCTIONS, profile=profile, seed=1)
    assert run.metrics.elapsed_ms == again.metrics.elapsed_ms  # a seed fixes every draw


class Recording(SerDes[Any]):
    """JSON, recording each call's SerDesContext: (what, operation id, execution ARN)."""

    def __init__(self, seen: list[tuple[str, str, str]]) -> None:
        self.seen = seen

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        self.seen.append(
            ("serialize", serdes_context.operation_id, serdes_context.durable_execution_arn)
        )
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        self.seen.append(
            ("deserialize", serdes_context.operation_id, serdes_context.durable_execution_arn)
        )
        return json.loads(data)


def test_the_invoke_serdes_get_the_callers_operation_id_and_execution_arn() -> None:
    """The SDK passes every serdes call a SerDesContext naming the operation and the caller's
    durable execution ARN: for the invoke's payload and its result as for a step's result."""
    seen: list[tuple[str, str, str]] = []

    def caller(event: Any, ctx: DurableContext) -> Any:
        ctx.step(lambda _: 1, name="first", config=StepConfig(serdes=Recording(seen)))
        config = InvokeConfig(serdes_payload=Recording(seen), serdes_result=Recording(seen))
        return ctx.invoke("double", {"n": 2}, name="call", config=config)

    run = run_durable(caller, None, functions=FUNCTIONS, execution_id="c")
    assert run.result == {"doubled": 4}
    step_arn = seen[0][2]
    assert step_arn.startswith("arn:aws:lambda:") and "/durable-execution/c/" in step_arn
    invoke_calls = {(what, op, arn) for what, op, arn in seen if op == "2"}
    assert invoke_calls == {("serialize", "2", step_arn), ("deserialize", "2", step_arn)}


def test_a_payload_that_cannot_be_serialized_fails_naming_it_as_the_payload() -> None:
    class Refusing(SerDes[Any]):
        def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
            raise SerDesError("no")

        def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
            return data

    def caller(event: Any, ctx: DurableContext) -> Any:
        return ctx.invoke("double", 5, name="call", config=InvokeConfig(serdes_payload=Refusing()))

    run = run_durable(caller, None, functions=FUNCTIONS)
    assert run.status == "FAILED"
    assert "ChainedInvoke 'call' (id 1): cannot serialize its payload of type int" in str(run.error)


def test_an_invoke_payload_may_be_one_mib_and_no_more() -> None:
    """AWS's chained-invoke input limit is 1 MiB (1048576 bytes, inclusive), four times the
    256 KiB of an ordinary checkpoint; beyond it the execution fails naming size and limit."""

    def caller(event: Any, ctx: DurableContext) -> Any:
        return ctx.invoke("echo", "x" * event, name="call")

    functions = FunctionRegistry({"echo": lambda event, ctx: len(event)})
    quoted = 2  # the JSON payload's quotes
    fits = run_durable(caller, CHAINED_INVOKE_LIMIT_BYTES - quoted, functions=functions)
    assert (fits.status, fits.result) == ("SUCCEEDED", CHAINED_INVOKE_LIMIT_BYTES - quoted)
    over = run_durable(caller, CHAINED_INVOKE_LIMIT_BYTES - quoted + 1, functions=functions)
    assert over.status == "FAILED" and isinstance(over.error, CheckpointTooLargeError)
    assert (over.error.size, over.error.limit) == (CHAINED_INVOKE_LIMIT_BYTES + 1, 1048576)
    assert "ChainedInvoke 'call' (id 1)" in str(over.error)


@pytest.mark.parametrize("tenant", [None, "tenant-7"])
def test_the_started_event_carries_the_tenant_id_only_when_one_is_given(
    tenant: str | None,
) -> None:
    def caller(event: Any, ctx: DurableContext) -> Any:
        return ctx.invoke("double", {"n": 1}, name="call", config=InvokeConfig(tenant_id=tenant))

    run = run_durable(caller, None, functions=FUNCTIONS)
    started = next(e for e in export_history(run) if e["EventType"] == "ChainedInvokeStarted")
    details = started["ChainedInvokeStartedDetails"]
    assert details.get("TenantId", "absent") == (tenant or "absent")


#: A value other than the default for every `LeaseConfig` field: a field added without one
#: fails `test_the_invoked_execution_runs_under_each_of_the_callers_lease_options`.
LEASE_OPTIONS = {
    "duration_s": 7.0,
    "on_busy": "wait",
    "wait_timeout_s": 2.5,
    "poll_s": 0.02,
    "owner": "worker-7",
}


@pytest.mark.parametrize("option", [field.name for field in dataclasses.fields(LeaseConfig)])
def test_the_invoked_execution_runs_under_each_of_the_callers_lease_options(
    monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    """Formerly only the lease duration and ``on_busy`` reached the invoked execution:
    ``poll_s``, ``wait_timeout_s`` and the owner were the defaults (an unbounded wait)."""
    assert option in LEASE_OPTIONS, f"give LeaseConfig.{option} a value in LEASE_OPTIONS"
    taken: dict[str, LeaseConfig] = {}

    def spy(journal: Any, execution_id: str, *args: Any, **kwargs: Any) -> Any:
        taken[execution_id] = args[2]
        return open_leased(journal, execution_id, *args, **kwargs)

    monkeypatch.setattr(runtime, "open_leased", spy)
    config = LeaseConfig(**{option: LEASE_OPTIONS[option]})  # type: ignore[arg-type]
    caller = _invoking("double")
    run = run_durable(caller, None, functions=FUNCTIONS, execution_id="c", lease=config)
    assert run.status == "SUCCEEDED" and set(taken) == {"c", "c/invoke-1"}
    assert getattr(taken["c/invoke-1"], option) == LEASE_OPTIONS[option]
    assert taken["c/invoke-1"] == config


def _invoking(name: str) -> Any:
    def caller(event: Any, ctx: DurableContext) -> Any:
        return ctx.invoke(name, {"n": 21}, name="call")

    return caller


def test_an_invoked_execution_held_elsewhere_is_waited_for_only_as_long_as_the_caller_says() -> (
    None
):
    """The invoked execution is busy (another owner's live lease): the caller's
    ``wait_timeout_s`` bounds the wait, polled every ``poll_s`` (formerly it waited forever);
    then the caller ends PENDING, its invoke open (the other owner runs the child, and the
    child's end wakes the caller), rather than failing with the child's `ExecutionBusyError`."""
    journal = MemoryJournal()
    started = HistoryEntry("ExecutionStarted", 0.0, None, {"Input": '{"n": 21}'})
    journal.open_execution("c/invoke-1", '{"n": 21}', started, owner="elsewhere", lease_s=600.0)
    config = LeaseConfig(on_busy="wait", wait_timeout_s=0.2, poll_s=0.05)
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(
                run_durable(
                    _invoking("double"),
                    None,
                    functions=FUNCTIONS,
                    journal=journal,
                    execution_id="c",
                    lease=config,
                )
            )
        except ExecutionBusyError as busy:
            outcome.append(busy)

    caller = threading.Thread(target=run, daemon=True)
    caller.start()
    caller.join(60)  # a wait bounded at 0.2 s ends well within this, even on a loaded host
    assert not caller.is_alive(), "the invoked execution's wait for its lease had no bound"
    assert len(outcome) == 1 and outcome[0].status == "PENDING"
    assert [op.status for op in outcome[0].operations] == ["STARTED"]


@pytest.mark.parametrize(
    ("execution_id", "link"),
    [
        (child_execution_id("p", "1"), ("p", "1")),
        (child_execution_id("p", "2.1.3"), ("p", "2.1.3")),
        (
            child_execution_id(child_execution_id("p", "1"), "4"),
            (child_execution_id("p", "1"), "4"),
        ),
        ("p", None),
        ("/invoke-1", None),  # no caller
        ("p/invoke-", None),  # no operation
        ("p/invoke-1a", None),  # not an operation id
        ("p/invoke-1.", None),
    ],
)
def test_a_child_execution_id_names_its_caller_and_invoke(
    execution_id: str, link: tuple[str, str] | None
) -> None:
    assert invoked_by(execution_id) == link
