"""AWS's ``callback`` requirements (4-N), each with our own handler written from its description."""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import CallbackConfig, Duration
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

from .harness import Case, assert_conforms, parameters
from .known import RUNNER_NO_CALLBACK_TIMEOUTS_IN_HISTORY as TIMEOUTS

ANSWER_DURING_WAIT = (
    "the answer (or the callback's timeout) must come while the handler's wait is pending, and "
    "the runner's time skipping ends that wait at once"
)


def seconds(n: int) -> Duration:
    return Duration.from_seconds(n)


def callback_basic(event: str, context: DurableContext) -> Any:
    return context.create_callback(name=event).result()


def callback_named(event: Any, context: DurableContext) -> Any:
    return context.create_callback(name="approval").result()


def callback_timeout(event: str, context: DurableContext) -> Any:
    return context.create_callback(name=event, config=CallbackConfig(timeout=seconds(5))).result()


def callback_heartbeat_timeout(event: str, context: DurableContext) -> Any:
    config = CallbackConfig(heartbeat_timeout=seconds(5))
    return context.create_callback(name=event, config=config).result()


def callback_heartbeat_kept_alive(event: str, context: DurableContext) -> Any:
    config = CallbackConfig(heartbeat_timeout=seconds(10))
    return context.create_callback(name=event, config=config).result()


def callback_then_step(event: str, context: DurableContext) -> Any:
    callback = context.create_callback(name=event)
    context.step(lambda _: "side work", name="between")
    return callback.result()


def callback_timeout_then_step(event: str, context: DurableContext) -> Any:
    callback = context.create_callback(name=event, config=CallbackConfig(timeout=seconds(5)))
    context.step(lambda _: "side work", name="between")
    return callback.result()


def callback_then_wait(event: str, context: DurableContext) -> Any:
    callback = context.create_callback(name=event)
    context.wait(seconds(5))
    return callback.result()


def callback_times_out_during_wait(event: str, context: DurableContext) -> Any:
    callback = context.create_callback(name=event, config=CallbackConfig(timeout=seconds(3)))
    context.wait(seconds(6))
    return callback.result()


def callback_result_then_wait(event: str, context: DurableContext) -> Any:
    value = context.create_callback(name=event).result()
    context.wait(seconds(2))
    return value


def callback_failure_caught_then_wait(event: str, context: DurableContext) -> str:
    try:
        message = str(context.create_callback(name=event).result())
    except Exception as exc:
        message = f"callback failed: {exc}"
    context.wait(seconds(2))
    return message


def callback_timeout_caught_then_wait(event: str, context: DurableContext) -> str:
    try:
        context.create_callback(name=event, config=CallbackConfig(timeout=seconds(3))).result()
        message = "answered"
    except Exception as exc:
        message = f"callback timed out: {exc}"
    context.wait(seconds(2))
    return message


@dataclass(frozen=True)
class Received:
    """The typed object 4-15's deserializer builds; ``timestamp`` in seconds since the epoch."""

    id: str
    message: str
    timestamp: int


class ReceivedSerDes(SerDes[Received]):
    """Reads a JSON callback payload into `Received`, its ISO-8601 timestamp into epoch seconds."""

    def serialize(self, value: Received, serdes_context: SerDesContext) -> str:
        moment = datetime.datetime.fromtimestamp(value.timestamp, tz=datetime.UTC)
        return json.dumps({**asdict(value), "timestamp": moment.isoformat()})

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Received:
        raw = json.loads(data)
        moment = datetime.datetime.fromisoformat(raw["timestamp"])
        return Received(str(raw["id"]), str(raw["message"]), int(moment.timestamp()))


def callback_typed_payload(event: str, context: DurableContext) -> dict[str, Any]:
    received = context.create_callback(
        name=event, config=CallbackConfig(serdes=ReceivedSerDes())
    ).result()
    return {"received": asdict(received)}


class NumberSerDes(SerDes[int]):
    """Reads a callback payload as an integer."""

    def serialize(self, value: int, serdes_context: SerDesContext) -> str:
        return str(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> int:
        return int(json.loads(data))


def callback_number_payload(event: str, context: DurableContext) -> dict[str, int]:
    count = context.create_callback(name=event, config=CallbackConfig(serdes=NumberSerDes()))
    value = count.result()
    return {"count": value, "doubled": 2 * value}


def callbacks_one_after_another(event: list[str], context: DurableContext) -> list[Any]:
    a = context.create_callback(name=event[0]).result()
    b = context.create_callback(name=event[1]).result()
    return [a, b]


def callbacks_created_together(event: list[str], context: DurableContext) -> list[Any]:
    a = context.create_callback(name=event[0])
    b = context.create_callback(name=event[1])
    return [a.result(), b.result()]


def callbacks_awaited_in_reverse(event: list[str], context: DurableContext) -> list[Any]:
    a = context.create_callback(name=event[0])
    b = context.create_callback(name=event[1])
    second = b.result()
    return [a.result(), second]


CASES: dict[str, Case] = {
    "4-1": Case(callback_basic),
    "4-2": Case(callback_named),
    "4-3": Case(callback_timeout, known={"aws-local": TIMEOUTS}),
    "4-4": Case(callback_heartbeat_timeout, known={"aws-local": TIMEOUTS}),
    "4-5": Case(callback_heartbeat_kept_alive, known={"aws-local": TIMEOUTS}),
    "4-6": Case(callback_basic),
    "4-7": Case(callback_then_step),
    "4-8": Case(callback_timeout_then_step, known={"aws-local": TIMEOUTS}),
    "4-9": Case(callback_then_wait, real_time=ANSWER_DURING_WAIT),
    "4-10": Case(callback_then_wait, real_time=ANSWER_DURING_WAIT),
    "4-11": Case(
        callback_times_out_during_wait, real_time=ANSWER_DURING_WAIT, known={"aws-local": TIMEOUTS}
    ),
    "4-12": Case(callback_result_then_wait),
    "4-13": Case(callback_failure_caught_then_wait),
    "4-14": Case(callback_timeout_caught_then_wait, known={"aws-local": TIMEOUTS}),
    "4-15": Case(callback_typed_payload),
    "4-16": Case(callback_number_payload),
    "4-17": Case(callbacks_one_after_another),
    "4-18": Case(callbacks_created_together),
    "4-19": Case(callbacks_awaited_in_reverse),
}


@pytest.mark.parametrize(("req_id", "engine"), parameters("callback", CASES))
def test_callback_requirement(req_id: str, engine: str) -> None:
    assert_conforms(req_id, CASES[req_id], engine)
