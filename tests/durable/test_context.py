"""`DurableContext`: replay state per context, the SDK's logger API, child and virtual contexts,
the execution context."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import ChildConfig, Duration

from durable_sim import run_durable
from durable_sim.durable.history import export_history


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


def test_replay_state_belongs_to_each_branch(caplog: pytest.LogCaptureFixture) -> None:
    """A branch doing new work leaves its sibling, still replaying, in replay (fault kind 4)."""
    seen: list[tuple[str, bool]] = []

    def branch(name: str, wait_s: int) -> Any:
        def run(c: DurableContext) -> str:
            c.logger.info(f"{name} starts")
            seen.append((f"{name} start", c.is_replaying()))
            c.step(lambda _: name, name=f"{name}-work")
            c.wait(Duration.from_seconds(wait_s))
            c.logger.info(f"{name} resumes")
            seen.append((f"{name} resume", c.is_replaying()))
            return name

        return run

    def handler(event: Any, ctx: DurableContext) -> list[str]:
        return ctx.parallel([branch("a", 1), branch("b", 2)]).get_results()

    with caplog.at_level(logging.INFO):
        run = run_durable(handler, None)
    assert run.result == ["a", "b"]
    assert run.metrics.invocations == 3
    # Invocation 2 (at 1 s): branch a replays, then does new work; branch b runs after it and
    # must still be replaying, so "b starts" is not logged again.
    lines = [r.getMessage() for r in caplog.records if r.name == "root"]
    assert lines == ["a starts", "b starts", "a resumes", "b resumes"]
    assert seen == [
        ("a start", False),
        ("b start", False),
        ("a start", True),
        ("a resume", False),
        ("b start", True),  # a's new work left b replaying
        ("b start", True),  # invocation 3: a is complete (not re-run), b replays and resumes
        ("b resume", False),
    ]


def test_logger_api_of_the_sdk(caplog: pytest.LogCaptureFixture) -> None:
    custom = logging.getLogger("tests.custom")

    def handler(event: Any, ctx: DurableContext) -> None:
        always = ctx.logger.with_is_replaying(lambda: False)
        always.info("always")  # logged on every invocation
        ctx.set_logger(custom)
        ctx.logger.info("custom")  # deduplicated like the default logger
        ctx.step(lambda s: s.logger.info("in step"), name="s")
        ctx.wait(Duration.from_seconds(1))

    with caplog.at_level(logging.INFO):
        assert run_durable(handler, None).status == "SUCCEEDED"
    lines = [(r.name, r.getMessage()) for r in caplog.records if r.name in {"root", "tests.custom"}]
    assert lines == [
        ("root", "always"),
        ("tests.custom", "custom"),
        ("tests.custom", "in step"),
        ("root", "always"),
    ]
    step_record = next(r for r in caplog.records if r.getMessage() == "in step")
    assert (step_record.operationName, step_record.attempt, step_record.operationId) == (
        "s",
        1,
        "1",
    )


def test_execution_context_child_contexts_and_virtual_contexts() -> None:
    facts: dict[str, Any] = {}

    def handler(event: Any, ctx: DurableContext) -> None:
        facts["arn"] = ctx.execution_context.durable_execution_arn
        facts["lambda_context"] = (
            ctx.lambda_context.function_name,
            ctx.lambda_context.aws_request_id,
        )
        facts["root virtual"] = ctx.is_virtual
        child = ctx.create_child_context("9")
        facts["child"] = (child.is_virtual, child.step(lambda _: 1, name="in-child"))
        virtual = ctx.create_child_context("8", is_virtual=True)
        facts["virtual"] = (virtual.is_virtual, virtual.step(lambda _: 2, name="in-virtual"))
        ctx.run_in_child_context(
            lambda c: c.step(lambda _: 3, name="flat"),
            name="v",
            config=ChildConfig(is_virtual=True),
        )

    run = run_durable(handler, None, execution_id="ctx-1")
    assert run.status == "SUCCEEDED", run.error
    assert facts["arn"].startswith("arn:aws:lambda:us-east-1:123456789012:function:handler:")
    assert "/durable-execution/ctx-1/" in facts["arn"]
    assert facts["lambda_context"][0] == "handler" and len(facts["lambda_context"][1]) == 36
    assert facts["root virtual"] is False
    assert facts["child"] == (False, 1) and facts["virtual"] == (True, 2)
    ops = {op.id: op for op in run.operations}
    assert (ops["9.1"].parent_id, ops["8.1"].parent_id) == ("9", None)
    assert "1" not in ops  # a virtual child context journals no record of its own
    assert (ops["1.1"].name, ops["1.1"].parent_id) == ("flat", None)


def test_a_run_leaves_no_reference_cycles_behind(caplog: pytest.LogCaptureFixture) -> None:
    """Contexts, their loggers, branches and the journal are freed by reference counting when a
    run ends: nothing is left for the cyclic garbage collector, whose passes over thousands of
    live branches would otherwise dominate a large fan-out."""
    import gc

    from aws_durable_execution_sdk_python.config import MapConfig

    def handler(event: Any, ctx: DurableContext) -> int:
        ctx.logger.info("start")

        def item(c: DurableContext, x: int, i: int, xs: Any) -> int:
            c.logger.info("item %s", x)
            if x == 1:
                c.wait(Duration.from_seconds(2))
            return c.step(lambda s: s.logger.info("step") or x * 2, name="double")

        total = sum(ctx.map([1, 2, 3], item, config=MapConfig(max_concurrency=2)).get_results())
        kept: list[Any] = []
        ctx.run_in_child_context(lambda c: kept.append(c.logger), name="keep")
        kept[0].info("a logger kept beyond its context still logs")
        return total + ctx.parallel([lambda c: c.step(lambda _: 1)]).get_results()[0]

    gc.collect()
    gc.disable()
    try:
        with caplog.at_level(logging.INFO):
            run = run_durable(handler, None)
        assert (run.status, run.result) == ("SUCCEEDED", 13)
        del run
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert unreachable == 0
    assert "a logger kept beyond its context still logs" in caplog.messages


def test_lambda_context_is_one_object_per_invocation_whoever_reads_it_first() -> None:
    """Built when first read (by a child context before its parent, here), it is the same
    object in the parent and every child of one invocation, with that invocation's request id;
    the next invocation has its own."""
    seen: list[tuple[int, Any, Any]] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        child = ctx.create_child_context("5")
        grandchild = child.create_child_context("5.1")
        first, parent = grandchild.lambda_context, ctx.lambda_context
        seen.append((len(seen), first, parent))
        assert child.lambda_context is parent
        ctx.wait(Duration.from_seconds(1))

    run = run_durable(handler, None, execution_id="ctx-lambda")
    assert run.status == "SUCCEEDED", run.error
    assert [i for i, _, _ in seen] == [0, 1]  # the wait suspends once
    for _, first, parent in seen:
        assert first is parent and parent.function_name == "handler"
    ids = [parent.aws_request_id for _, _, parent in seen]
    assert len(set(ids)) == 2 and all(len(i) == 36 for i in ids)
    completed = [e for e in export_history(run) if e["EventType"] == "InvocationCompleted"]
    assert [e["InvocationCompletedDetails"]["RequestId"] for e in completed] == ids
