"""Phase 1: a stateful counter (increment 1, increment 2, read, decrement 1 -> 2).

Durable form: each operation is a step; the value lives in the workflow's local variable and
the journal. Baseline form: each operation is a stateless function invocation that keeps the
value in the key-value store. Its store calls, and so its store-op count, are:

==================  ================================  =====
operation           store call                        count
==================  ================================  =====
create the counter  ``put`` (value = initial)         1
increment 1         ``add`` (atomic, one round trip)  1
increment 2         ``add``                           1
read                ``get``                           1
decrement 1         ``add`` (delta -1)                1
==================  ================================  =====

five calls per run, the paper's "approximately five". Atomic adds (DynamoDB ``ADD``) avoid a
read-modify-write per update, which would cost eight calls and race under concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.context import durable_step

from durable_sim.baseline import FunctionRuntime, InvocationContext, KVStore
from durable_sim.workloads.base import (
    Platform,
    RunEnv,
    RunSpec,
    RunValues,
    Workload,
    durable_values,
    run_baseline_workflow,
    run_durable_workflow,
)

DEFAULT_OPS: tuple[tuple[str, int], ...] = (
    ("increment", 1),
    ("increment", 2),
    ("read", 0),
    ("decrement", 1),
)
TABLE = "counters"


def apply(value: int, op: str, amount: int) -> int:
    """The counter's transition function, shared by both models."""
    if op == "increment":
        return value + amount
    if op == "decrement":
        return value - amount
    if op == "read":
        return value
    raise ValueError(f"unknown counter operation {op!r} (accepted: increment, decrement, read)")


@durable_step
def counter_op(step_ctx: StepContext, value: int, op: str, amount: int) -> int:
    """One counter operation as a durable step."""
    return apply(value, op, amount)


@durable_execution
def durable_counter(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """The counter as a durable workflow: one step per operation, no store calls."""
    value = int(event.get("initial", 0))
    ops = event.get("ops", DEFAULT_OPS)
    for index, (op, amount) in enumerate(ops):
        value = context.step(counter_op(value, op, amount), name=f"{index}-{op}")
    return {"value": value, "ops": len(ops)}


@dataclass(frozen=True)
class BaselineCounterResult:
    """What the baseline counter returns: the counter's final `value` (as the last operation
    read or wrote it in the store) and the number of operations applied, `ops`."""

    value: int
    ops: int


def _create(event: dict[str, Any], ctx: InvocationContext, store: KVStore) -> None:
    store.bind(ctx.clock).put(
        TABLE, event["counter_id"], {"value": event["initial"]}, purpose="counter_create"
    )


def _operate(event: dict[str, Any], ctx: InvocationContext, store: KVStore) -> int:
    view = store.bind(ctx.clock)
    op, amount = event["op"], event["amount"]
    if op == "read":
        item = view.get(TABLE, event["counter_id"], purpose="counter_read")
        if item is None:
            raise LookupError(f"counter {event['counter_id']!r} does not exist")
        return int(item["value"])
    delta = apply(0, op, amount)
    return int(view.add(TABLE, event["counter_id"], "value", delta, purpose="counter_update"))


def run_baseline_counter(
    runtime: FunctionRuntime,
    store: KVStore,
    *,
    counter_id: str,
    initial: int = 0,
    ops: tuple[tuple[str, int], ...] = DEFAULT_OPS,
) -> BaselineCounterResult:
    """The counter as stateless functions over the store: one invocation per operation."""
    runtime.register("counter-create", lambda e, c: _create(e, c, store))
    runtime.register("counter-op", lambda e, c: _operate(e, c, store))
    runtime.invoke("counter-create", {"counter_id": counter_id, "initial": initial})
    value = initial
    for op, amount in ops:
        value = runtime.invoke("counter-op", {"counter_id": counter_id, "op": op, "amount": amount})
    return BaselineCounterResult(value=value, ops=len(ops))


def expected_value(initial: int = 0, ops: tuple[tuple[str, int], ...] = DEFAULT_OPS) -> int:
    """The value a correct run ends with: `apply` folded over `ops` from `initial`."""
    value = initial
    for op, amount in ops:
        value = apply(value, op, amount)
    return value


def _durable_runner(spec: RunSpec, env: RunEnv) -> RunValues:
    run = run_durable_workflow(durable_counter, {}, spec, env)
    values = durable_values(run)
    value = run.result["value"] if run.result else None
    values["final_value"] = value
    if values["ok"] and value != expected_value():
        values["ok"] = False
        values["error"] = f"final value {value}, expected {expected_value()}"
    return values


def _baseline_runner(spec: RunSpec, env: RunEnv) -> RunValues:
    def body(platform: Platform) -> RunValues:
        result = run_baseline_counter(
            platform.runtime, platform.store, counter_id=f"counter-{env.run_id}"
        )
        ok = result.value == expected_value()
        error = None if ok else f"final value {result.value}, expected {expected_value()}"
        return {"steps": result.ops, "final_value": result.value, "ok": ok, "error": error}

    return run_baseline_workflow(env, body)


#: The counter as the experiment harness runs it (phase 1 of the paper).
COUNTER = Workload(
    name="counter",
    phase="counter",
    runners={"durable": _durable_runner, "baseline": _baseline_runner},
    store_purposes=("counter_create", "counter_update", "counter_read"),
    labels=lambda spec: {},
    description="the paper's phase 1: a stateful counter, four operations (+1, +2, read, -1)",
)
