"""A user's own workload and latency profile, written as a reader of the docs would.

An order in three steps (reserve the items, charge for them, ship them), in both models: a
durable workflow whose state is its local variables, and a baseline whose three functions keep
the order in the key-value store. Importing the module registers `ORDER` by function (as
``order``), `OrderByDecorator` by decorator (as ``order-class``) and `MY_LAB` (``my-lab``): a
one-core host whose durable invocations and checkpoints cost more than ``paper-local``'s.
"""

from dataclasses import replace
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution

from durable_sim.latency import PAPER_LOCAL, Dist, register_profile
from durable_sim.machine import Machine
from durable_sim.workloads import (
    Platform,
    RunEnv,
    RunValues,
    Workload,
    durable_values,
    no_labels,
    register_workload,
    run_baseline_workflow,
    run_durable_workflow,
)

ITEMS, PRICE = 3, 10


@durable_execution
def order_workflow(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    items = context.step(lambda _: event["items"], name="reserve")
    charged = context.step(lambda _: items * PRICE, name="charge")
    shipped = context.step(lambda _: items, name="ship")
    return {"charged": charged, "shipped": shipped}


def run_durable_order(spec: Any, env: RunEnv) -> RunValues:
    run = run_durable_workflow(order_workflow, {"items": ITEMS}, spec, env)
    values = durable_values(run)
    charged = run.result["charged"] if run.result else None
    return {**values, "final_value": charged, "ok": values["ok"] and charged == ITEMS * PRICE}


def run_baseline_order(spec: Any, env: RunEnv) -> RunValues:
    def body(platform: Platform) -> RunValues:
        def step(event: dict[str, Any], ctx: Any) -> int:
            table = platform.store.bind(ctx.clock)
            order = table.get("orders", event["id"], purpose="order_read") or {"items": ITEMS}
            if event["step"] == "charge":
                order = {**order, "charged": order["items"] * PRICE}
            table.put("orders", event["id"], {**order, event["step"]: True}, purpose="order_write")
            return int(order.get("charged", 0))

        platform.runtime.register("order-step", step)
        for name in ("reserve", "charge", "ship"):
            charged = platform.runtime.invoke("order-step", {"id": f"o{env.run_id}", "step": name})
        return {"steps": 3, "final_value": charged, "ok": charged == ITEMS * PRICE}

    return run_baseline_workflow(env, body)


ORDER = register_workload(
    Workload(
        name="order",
        phase="order",
        runners={"durable": run_durable_order, "baseline": run_baseline_order},
        store_purposes=("order_read", "order_write"),
        labels=no_labels,
        description="an order: reserve, charge, ship",
    )
)


@register_workload("order-class", phase="order", store_purposes=("order_read", "order_write"))
class OrderByDecorator:
    """The same order, registered by decorator."""

    durable = staticmethod(run_durable_order)
    baseline = staticmethod(run_baseline_order)


MY_LAB = register_profile(
    replace(
        PAPER_LOCAL,
        name="my-lab",
        machine=Machine("host", cores=1),
        durable_invoke=Dist(150.0, 0.05),
        checkpoint=Dist(2.0, 0.2),
    )
)
