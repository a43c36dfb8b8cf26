"""`DurableContext`: replay state and the replay-aware logger."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration

from durable_sim import run_durable


def test_is_replaying_tracks_the_journal() -> None:
    seen: list[tuple[str, bool]] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        seen.append(("start", ctx.is_replaying()))
        ctx.step(lambda _: 1, name="one")
        seen.append(("after one", ctx.is_replaying()))
        ctx.wait(Duration.from_seconds(3))
        seen.append(("after wait", ctx.is_replaying()))
        ctx.step(lambda _: 2, name="two")
        seen.append(("after two", ctx.is_replaying()))

    assert run_durable(handler, None).status == "SUCCEEDED"
    assert seen == [
        ("start", False),
        ("after one", False),
        ("start", True),
        ("after one", True),
        ("after wait", False),  # the wait was the last journaled operation
        ("after two", False),
    ]


def test_replay_continues_into_a_started_child_and_ends_after_its_last_operation() -> None:
    seen: list[tuple[str, bool]] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        def child(c: DurableContext) -> None:
            seen.append(("child start", c.is_replaying()))
            c.step(lambda _: 1, name="inner")
            c.wait(Duration.from_seconds(1))
            seen.append(("child end", c.is_replaying()))

        ctx.run_in_child_context(child, name="c")
        ctx.step(lambda _: 1, name="after-child")
        seen.append(("end", ctx.is_replaying()))

    assert run_durable(handler, None).status == "SUCCEEDED"
    assert seen == [
        ("child start", False),
        ("child start", True),  # the child context is STARTED: its operations replay
        ("child end", False),
        ("end", False),
    ]


def test_logger_is_silent_during_replay(caplog: pytest.LogCaptureFixture) -> None:
    def handler(event: Any, ctx: DurableContext) -> str:
        ctx.logger.info("starting %s", event["who"])
        ctx.step(lambda _: 1, name="one")
        ctx.logger.warning("before wait")
        ctx.wait(Duration.from_seconds(3))
        ctx.logger.info("after wait")
        ctx.step(lambda s: s.logger.info("inside step") or 2, name="two")
        ctx.wait(Duration.from_seconds(3))
        ctx.logger.info("done")
        return "ok"

    with caplog.at_level(logging.DEBUG):
        run = run_durable(handler, {"who": "bob"}, execution_id="log-1")
    assert run.metrics.invocations == 3
    records = [r for r in caplog.records if r.name == "root"]
    assert [r.getMessage() for r in records] == [
        "starting bob",
        "before wait",
        "after wait",
        "inside step",
        "done",
    ]
    assert {getattr(r, "executionArn", "").split("/")[-2] for r in records} == {"log-1"}
