"""Durable functions that the worker and chaos tests run in worker processes
(``durable-sim worker --functions tests/durable/worker_functions.py:FUNCTIONS``); ``invokes``
calls another of them by a chained invoke.

Every step body appends ``execution step attempt pid begin|end time token`` to the side channel
named in the event (one O_APPEND write per line, atomic between processes), so a test can count
step bodies and check that none ran twice or concurrently; a ``chaos`` step returns its token, so
the journal says which body's completion it kept.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext
from aws_durable_execution_sdk_python.config import Duration, MapConfig
from aws_durable_execution_sdk_python.exceptions import InvokeError

from durable_sim.durable import FunctionRegistry

FUNCTIONS = FunctionRegistry()


def record(
    side: str, execution: str, step: str, attempt: int, phase: str, token: str = "-"
) -> None:
    line = f"{execution} {step} {attempt} {os.getpid()} {phase} {time.time():.6f} {token}\n"
    fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def body(event: dict[str, Any], step: str, value: int, work_s: float = 0.0) -> Any:
    def run(ctx: StepContext) -> int:
        record(event["side"], event["id"], step, ctx.attempt, "begin")
        if work_s:
            time.sleep(work_s)
        record(event["side"], event["id"], step, ctx.attempt, "end")
        return value

    return run


@FUNCTIONS.register("steps")
def steps(event: dict[str, Any], ctx: DurableContext) -> int:
    """`n` steps in a row, each `work_s` seconds long; returns the sum of their indices."""
    return sum(
        ctx.step(body(event, f"s{i}", i, event.get("work_s", 0.0)), name=f"s{i}")
        for i in range(event["n"])
    )


def token_body(event: dict[str, Any], step: str, work_s: float) -> Any:
    def run(ctx: StepContext) -> str:
        token = f"{os.getpid()}.{time.monotonic_ns()}"
        record(event["side"], event["id"], step, ctx.attempt, "begin", token)
        time.sleep(work_s)
        record(event["side"], event["id"], step, ctx.attempt, "end", token)
        return token

    return run


@FUNCTIONS.register("chaos")
def chaos(event: dict[str, Any], ctx: DurableContext) -> list[str]:
    """`n` steps in a row, then a map of `fan` branches of one step each (on threads on the
    wall clock); every step body takes `work_s` seconds and returns its token."""
    work = event.get("work_s", 0.0)
    tokens = [ctx.step(token_body(event, f"s{i}", work), name=f"s{i}") for i in range(event["n"])]
    fan = event.get("fan", 0)
    if fan:
        branches = ctx.map(
            list(range(fan)),
            lambda c, x, i, xs: c.step(token_body(event, f"m{x}", work), name=f"m{x}"),
            config=MapConfig(max_concurrency=fan),
        )
        tokens += branches.get_results()
    return tokens


@FUNCTIONS.register("waits")
def waits(event: dict[str, Any], ctx: DurableContext) -> str:
    """A step, a wait of `wait_s` seconds, a step."""
    ctx.step(body(event, "before", 1), name="before")
    ctx.wait(Duration.from_seconds(event["wait_s"]))
    ctx.step(body(event, "after", 2), name="after")
    return "woke"


@FUNCTIONS.register("asks")
def asks(event: dict[str, Any], ctx: DurableContext) -> str:
    """Waits for a callback; its id goes to the file named in the event."""

    def publish(callback_id: str, _: Any) -> None:
        with open(event["inbox"], "w") as inbox:
            inbox.write(callback_id)

    answer: str = ctx.wait_for_callback(publish, name="question")
    return f"answered {answer}"


@FUNCTIONS.register("invokes")
def invokes(event: dict[str, Any], ctx: DurableContext) -> str:
    """A step, a chained invoke of the function `target` with the event `payload`, a step;
    returns what the invoked function returned, or the message of its `InvokeError`."""
    ctx.step(body(event, "before", 1), name="before")
    try:
        got = f"got {ctx.invoke(event['target'], event['payload'], name='call')}"
    except InvokeError as exc:
        got = f"failed: {exc}"
    ctx.step(body(event, "after", 2), name="after")
    return got


class BadStr(Exception):
    """An error the SDK cannot print: its invocation fails, and is run again 5 s later."""

    def __str__(self) -> str:
        raise RuntimeError("str broke")


@FUNCTIONS.register("fails_once")
def fails_once(event: dict[str, Any], ctx: DurableContext) -> str:
    """Records each invocation (step ``invoke``, attempt = how many the side channel had), runs
    one step, and fails its first invocation with an error the SDK cannot print."""
    with open(event["side"], "a+") as side:
        side.seek(0)
        before = sum(line.split()[1] == "invoke" for line in side if line.strip())
    record(event["side"], event["id"], "invoke", before + 1, "begin")
    ctx.step(body(event, "s", 1), name="s")
    if before == 0:
        raise BadStr()
    return "retried"
