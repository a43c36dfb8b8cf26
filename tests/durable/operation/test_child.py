"""``run_in_child_context``: nesting, no re-run once complete, oversized results replayed."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, durable_with_child_context
from aws_durable_execution_sdk_python.config import ChildConfig, Duration
from aws_durable_execution_sdk_python.exceptions import ChildContextError, SerDesError
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

from durable_sim import MemoryJournal, SimulatedCrash, run_durable
from durable_sim.durable import CHECKPOINT_LIMIT_BYTES


def test_nested_child_contexts_have_nested_ids_and_results(calls: Counter[str]) -> None:
    def inner(c: DurableContext) -> int:
        calls["inner"] += 1
        return c.step(lambda _: 5, name="leaf")

    def outer(c: DurableContext) -> int:
        calls["outer"] += 1
        return c.run_in_child_context(inner, name="inner") + c.step(lambda _: 1, name="one")

    def handler(event: Any, ctx: DurableContext) -> int:
        value = ctx.run_in_child_context(outer, name="outer")
        ctx.wait(Duration.from_seconds(1))
        return value

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", 6)
    assert [(op.id, op.parent_id, op.type, op.name) for op in run.operations] == [
        ("1", None, "CONTEXT", "outer"),
        ("1.1", "1", "CONTEXT", "inner"),
        ("1.1.1", "1.1", "STEP", "leaf"),
        ("1.2", "1", "STEP", "one"),
        ("2", None, "WAIT", None),
    ]
    # The replay after the wait returns the completed child without running its body.
    assert calls == {"outer": 1, "inner": 1}
    assert run.metrics.steps_executed == 2
    assert run.metrics.steps_replayed == 0


def test_child_context_name_from_decorator() -> None:
    @durable_with_child_context
    def grouped(c: DurableContext, n: int) -> int:
        return c.step(lambda _: n + 1, name="inc")

    run = run_durable(lambda e, ctx: ctx.run_in_child_context(grouped(1)), None)
    assert run.result == 2
    assert run.operations[0].name == "grouped"


def test_failing_child_raises_child_context_error_with_original_type() -> None:
    def bad(c: DurableContext) -> None:
        raise LookupError("nothing here")

    def handler(event: Any, ctx: DurableContext) -> str:
        try:
            ctx.run_in_child_context(bad, name="bad")
        except ChildContextError as exc:
            return exc.error_type
        return "no error"

    run = run_durable(handler, None)
    assert run.result == "LookupError"
    assert run.operation("bad").status == "FAILED"


def test_oversized_child_result_is_not_stored_and_replay_reruns_body(
    calls: Counter[str],
) -> None:
    chunk = "x" * (100 * 1024)

    def big(c: DurableContext) -> list[str]:
        calls["body"] += 1
        parts = [c.step(lambda _, i=i: chunk + str(i), name=f"part{i}") for i in range(3)]
        return parts

    def handler(event: Any, ctx: DurableContext) -> int:
        parts = ctx.run_in_child_context(big, name="big")
        ctx.wait(Duration.from_seconds(1))
        return sum(len(p) for p in parts)

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", 3 * (100 * 1024 + 1))
    assert CHECKPOINT_LIMIT_BYTES < 3 * 100 * 1024
    assert run.operation("big").result_json == ""  # not stored: the SDK's empty summary
    assert calls == {"body": 2}  # the replay re-ran the body ...
    assert run.metrics.steps_executed == 3  # ... with its steps from the journal
    assert run.metrics.steps_replayed == 3


def test_an_oversized_child_result_is_stored_as_the_configs_summary() -> None:
    """With ``ChildConfig(summary_generator=...)`` the SDK checkpoints the summary in place of a
    result over the checkpoint limit (and replays the children for the value)."""

    def big(c: DurableContext) -> str:
        return "".join(c.step(lambda _: "y" * (150 * 1024), name=f"part{i}") for i in range(2))

    def handler(event: Any, ctx: DurableContext) -> int:
        config = ChildConfig(summary_generator=lambda value: f"{len(value)} chars")
        value = ctx.run_in_child_context(big, name="big", config=config)
        ctx.wait(Duration.from_seconds(1))
        return len(value)

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", 300 * 1024)
    assert run.operation("big").result_json == f"{300 * 1024} chars"


@pytest.mark.parametrize(("extra", "stored"), [(0, True), (1, False)])
def test_a_child_result_of_exactly_the_limit_is_stored_and_one_byte_more_is_not(
    extra: int, stored: bool
) -> None:
    """AWS's checkpoint limit is inclusive: a payload of exactly 256 KiB (UTF-8 of the
    serialized value) is checkpointed; one byte more and the child is replayed instead."""
    size = CHECKPOINT_LIMIT_BYTES - 2 + extra  # the JSON string's quotes make up the rest

    def handler(event: Any, ctx: DurableContext) -> int:
        return len(ctx.run_in_child_context(lambda c: "x" * size, name="big"))

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", size)
    assert (run.operation("big").result_json != "") == stored


def test_a_child_result_the_serdes_refuses_fails_naming_it_as_the_result() -> None:
    seen: list[tuple[str, str]] = []

    class Refusing(SerDes[Any]):
        def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
            seen.append((serdes_context.operation_id, serdes_context.durable_execution_arn))
            raise SerDesError("no")

        def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
            return data

    arns: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> Any:
        arns.append(ctx.execution_context.durable_execution_arn)
        return ctx.run_in_child_context(
            lambda c: 5, name="c", config=ChildConfig(serdes=Refusing())
        )

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert "Context 'c' (id 1): cannot serialize its result of type int" in str(run.error)
    assert seen == [("1", arns[0])]


def test_a_summary_over_the_checkpoint_limit_fails_the_execution_naming_the_child() -> None:
    def handler(event: Any, ctx: DurableContext) -> int:
        config = ChildConfig(summary_generator=lambda value: "s" * (CHECKPOINT_LIMIT_BYTES + 1))
        ctx.run_in_child_context(lambda c: "x" * (CHECKPOINT_LIMIT_BYTES + 1), "big", config)
        return 0

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert type(run.error).__name__ == "CheckpointTooLargeError"
    assert str(run.error).startswith(
        "checkpoint payload of operation 1 (RunInChildContext 'big' (id 1)) is 262145 bytes; "
        "a payload must be less than or equal to 262144 bytes"
    )


def test_a_child_context_that_turns_virtual_on_replay_is_nondeterminism() -> None:
    """A virtual (FLAT) child journals no record of its own: one that finds the record of a
    real child context at its id is different code, as the SDK's replay check reports."""
    virtual = [False]

    def handler(event: Any, ctx: DurableContext) -> int:
        config = ChildConfig(is_virtual=virtual[0])
        ctx.run_in_child_context(lambda c: c.step(lambda _: 1, name="s"), "c", config)
        virtual[0] = True
        ctx.wait(Duration.from_seconds(1))  # the next invocation replays the child
        return 0

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert type(run.error).__name__ == "NonDeterminismError"
    assert "a virtual (FLAT) child context, which journals no record of its own" in str(run.error)


def test_a_new_child_context_starts_out_of_replay() -> None:
    """As the SDK's replay-aware operations: a brand-new operation (no checkpoint) moves its
    context out of replay before it runs. Here the outer child context was started by a process
    that died in it (its START sent by the batcher meanwhile), so it replays, and the inner
    child is new."""
    seen: list[bool] = []
    crashed: list[bool] = []

    def outer(c: DurableContext) -> int:
        if not crashed:
            crashed.append(True)
            c.clock.charge(5000.0)  # the batcher sends the START meanwhile
            raise SimulatedCrash("process died in the child context")
        return c.run_in_child_context(lambda g: seen.append(c.is_replaying()) or 1, "inner")

    def handler(event: Any, ctx: DurableContext) -> int:
        return ctx.run_in_child_context(outer, "outer")

    journal = MemoryJournal()
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="e")
    assert journal.get_operation("e", "1") is not None
    run = run_durable(handler, None, journal=journal, execution_id="e")
    assert (run.status, run.result) == ("SUCCEEDED", 1)
    assert seen == [False]
