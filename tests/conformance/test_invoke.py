"""AWS's ``invoke`` requirements (5-N), each with our own handler written from its description.

The invoked functions are durable handlers registered by name: on ``sim`` in our engine's function
registry, on ``aws-local`` as the runner's chained-invoke targets.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration, InvokeConfig
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

from .harness import Case, assert_conforms, parameters
from .known import RUNNER_CHAINED_INVOKE_DETAILS

LARGE_PAYLOAD_CHARS = 200_000  # near the 256 KiB limit of a checkpointed payload


def echo(event: Any, context: DurableContext) -> Any:
    """The echo target: returns whatever it receives."""
    return event


def fail(event: Any, context: DurableContext) -> Any:
    """A target that always fails."""
    raise RuntimeError("the invoked function fails")


def measure(event: Any, context: DurableContext) -> int:
    """A target that processes a large payload: returns its length."""
    return len(event)


TARGETS = {"echo": echo, "fail": fail, "measure": measure}


def invoke_basic(event: Any, context: DurableContext) -> Any:
    return context.invoke("echo", event)


def invoke_named(event: dict[str, Any], context: DurableContext) -> Any:
    return context.invoke("echo", event["payload"], name=event["name"])


def invoke_failing(event: Any, context: DurableContext) -> Any:
    return context.invoke("fail", event)


def invoke_failing_caught(event: Any, context: DurableContext) -> str:
    try:
        return str(context.invoke("fail", event))
    except Exception:
        return "fallback"


def invoke_large_payload(event: Any, context: DurableContext) -> int:
    return context.invoke("measure", "x" * LARGE_PAYLOAD_CHARS)


def invoke_with_tenant(event: dict[str, Any], context: DurableContext) -> Any:
    return context.invoke(
        "echo", event["payload"], config=InvokeConfig(tenant_id=event["tenantId"])
    )


def invoke_then_wait(event: Any, context: DurableContext) -> Any:
    value = context.invoke("echo", "cached")
    context.wait(Duration.from_seconds(1))
    return value


def invoke_failure_caught_then_wait(event: Any, context: DurableContext) -> str:
    try:
        outcome = str(context.invoke("fail", event))
    except Exception as exc:
        outcome = f"caught {type(exc).__name__}"
    context.wait(Duration.from_seconds(1))
    return outcome


def step_then_invoke(event: Any, context: DurableContext) -> Any:
    value = context.step(lambda _: "from the step", name="prepare")
    return context.invoke("echo", value)


def invoke_then_step(event: Any, context: DurableContext) -> Any:
    value = context.invoke("echo", "from the invoke")
    return context.step(lambda _: f"processed {value}", name="process")


def invoke_in_child(event: Any, context: DurableContext) -> Any:
    return context.run_in_child_context(
        lambda child: child.invoke("echo", "inside a child"), name="invoking-child"
    )


def sequential_invokes(event: Any, context: DurableContext) -> list[Any]:
    first = context.invoke("echo", "first")
    second = context.invoke("measure", f"{first} then second")
    return [first, second]


class UppercaseJsonSerDes(SerDes[str]):
    """Writes a string as the JSON of its upper-cased value; reads JSON."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return json.dumps(value.upper())

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return str(json.loads(data))


def invoke_payload_serdes(event: dict[str, str], context: DurableContext) -> Any:
    return context.invoke(
        "echo", event["data"], config=InvokeConfig(serdes_payload=UppercaseJsonSerDes())
    )


class UppercaseTextSerDes(SerDes[str]):
    """Reads a result's serialized text upper-cased, as it is (no JSON decoding)."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return value

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data.upper()


def invoke_result_serdes(event: str, context: DurableContext) -> Any:
    return context.invoke("echo", event, config=InvokeConfig(serdes_result=UppercaseTextSerDes()))


def case(handler: Any) -> Case:
    return Case(handler, functions=TARGETS, known={"aws-local": RUNNER_CHAINED_INVOKE_DETAILS})


CASES: dict[str, Case] = {
    "5-1": case(invoke_basic),
    "5-2": case(invoke_named),
    "5-3": case(invoke_basic),
    "5-4": case(invoke_basic),
    "5-5": case(invoke_failing),
    "5-6": case(invoke_failing_caught),
    "5-7": case(invoke_large_payload),
    "5-8": Case(
        invoke_with_tenant,
        functions=TARGETS,
        known={"aws-local": RUNNER_CHAINED_INVOKE_DETAILS},
    ),
    "5-9": case(invoke_then_wait),
    "5-10": case(invoke_failure_caught_then_wait),
    "5-11": case(step_then_invoke),
    "5-12": case(invoke_then_step),
    "5-13": case(invoke_in_child),
    "5-14": case(sequential_invokes),
    "5-15": case(invoke_payload_serdes),
    "5-16": case(invoke_result_serdes),
}


@pytest.mark.parametrize(("req_id", "engine"), parameters("invoke", CASES))
def test_invoke_requirement(req_id: str, engine: str) -> None:
    assert_conforms(req_id, CASES[req_id], engine)
