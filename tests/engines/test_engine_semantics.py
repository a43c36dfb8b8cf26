"""The SDK semantics our engine models (issue 7's fault kinds and the operations it added) give
the same results and the same operations on the official local runner."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    ChildConfig,
    CompletionConfig,
    CompletionStatus,
    Duration,
    MapConfig,
    NestingType,
    ParallelConfig,
    StepConfig,
    complete_batch,
    continue_batch,
)
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from aws_durable_execution_sdk_python.waits import WaitForConditionConfig, WaitForConditionDecision

from durable_sim import DurableRun, run_durable


class Upper(SerDes[str]):
    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return value

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        return data.upper()


def completion(event: Any, ctx: DurableContext) -> dict[str, Any]:
    first = CompletionConfig(min_successful=1)

    def two_successes(status: CompletionStatus) -> Any:
        return complete_batch() if status.success_count >= 2 else continue_batch()

    mapped = ctx.map([0, 1, 2], lambda c, x, i, xs: x, config=MapConfig(completion_config=first))
    par = ctx.parallel(
        [lambda c: "a", lambda c: "b", lambda c: "c"],
        config=ParallelConfig(completion_config=first),
    )
    custom = ctx.map(
        [1, 2, 3, 4],
        lambda c, x, i, xs: x,
        config=MapConfig(
            max_concurrency=1, completion_config=CompletionConfig(should_complete=two_successes)
        ),
    )

    def maybe_fail(c: DurableContext, x: int, i: int, xs: Any) -> int:
        if x == 1:
            raise ValueError("one")
        return x

    tolerant = ctx.map(
        [0, 1, 2],
        maybe_fail,
        config=MapConfig(
            max_concurrency=1, completion_config=CompletionConfig(tolerated_failure_count=0)
        ),
    )
    # Without a concurrency limit, which branches end before the decision is a race on threads
    # (the runner) and an instant on the virtual clock (ours): compare the reasons there.
    return {
        "map": mapped.completion_reason.value,
        "parallel": par.completion_reason.value,
        "custom": [custom.completion_reason.value, [i.status.value for i in custom.all]],
        "tolerant": [tolerant.completion_reason.value, [i.status.value for i in tolerant.all]],
    }


def flat_and_virtual(event: Any, ctx: DurableContext) -> dict[str, Any]:
    def item(c: DurableContext, x: int, i: int, xs: Any) -> int:
        v = c.step(lambda _: x * 10, name="v")
        c.wait(Duration.from_seconds(1))
        return v

    flat = ctx.map([1, 2], item, config=MapConfig(nesting_type=NestingType.FLAT))
    virtual = ctx.run_in_child_context(
        lambda c: [c.is_virtual, c.step(lambda _: 7, name="inside")],
        name="virtual",
        config=ChildConfig(is_virtual=True),
    )
    return {"flat": flat.get_results(), "virtual": virtual}


def serdes_and_sizes(event: Any, ctx: DurableContext) -> dict[str, Any]:
    pair = ctx.step(lambda _: (1, "a"), name="pair")
    upper = ctx.step(lambda _: "abc", name="upper", config=StepConfig(serdes=Upper()))
    child = ctx.run_in_child_context(
        lambda c: "child", name="c", config=ChildConfig(serdes=Upper())
    )
    items = ctx.map(["x", "y"], lambda c, x, i, xs: x, config=MapConfig(item_serdes=Upper()))
    big = ctx.step(lambda _: ["ab"] * 40_000, name="big")  # 200,001 bytes of payload
    ctx.wait(Duration.from_seconds(1))  # everything above comes back from the journal too
    return {
        "pair": [type(pair).__name__, list(pair)],
        "upper": upper,
        "child": child,
        "items": items.get_results(),
        "big": len(big),
    }


def polling(event: Any, ctx: DurableContext) -> dict[str, int]:
    def strategy(state: dict[str, int], attempt: int) -> WaitForConditionDecision:
        if state["n"] >= 3:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(2))

    config = WaitForConditionConfig(wait_strategy=strategy, initial_state={"n": 0})
    return ctx.wait_for_condition(lambda s, c: {"n": s["n"] + 1}, config, name="poll")


def branch_logging(event: Any, ctx: DurableContext) -> list[str]:
    def branch(name: str, wait_s: int) -> Any:
        def run(c: DurableContext) -> str:
            c.logger.info("%s starts", name)
            c.step(lambda _: name, name=f"{name}-work")
            c.wait(Duration.from_seconds(wait_s))
            c.logger.info("%s resumes", name)
            return name

        return run

    return ctx.parallel([branch("a", 1), branch("b", 2)]).get_results()


HANDLERS = {
    "completion": completion,
    "flat_and_virtual": flat_and_virtual,
    "serdes_and_sizes": serdes_and_sizes,
    "polling": polling,
    "branch_logging": branch_logging,
}


def _operations(run: DurableRun) -> list[tuple[Any, ...]]:
    return sorted((op.type, op.sub_type, op.name, op.status) for op in run.operations)


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_both_engines_agree(name: str, caplog: pytest.LogCaptureFixture) -> None:
    runs = {}
    lines = {}
    for engine in ("sim", "aws-local"):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            runs[engine] = run_durable(HANDLERS[name], None, engine=engine)
        lines[engine] = sorted(
            r.getMessage() for r in caplog.records if r.getMessage().endswith(("starts", "resumes"))
        )
    sim, aws = runs["sim"], runs["aws-local"]
    assert (sim.status, sim.error) == ("SUCCEEDED", None)
    assert (aws.status, aws.result) == (sim.status, sim.result)
    if name != "completion":  # see `completion`: the unlimited batches' items race on threads
        assert _operations(aws) == _operations(sim)
    assert lines["aws-local"] == lines["sim"]


def test_the_values_are_the_sdks() -> None:
    run = run_durable(completion, None)
    assert run.result == {
        "map": "MIN_SUCCESSFUL_REACHED",
        "parallel": "MIN_SUCCESSFUL_REACHED",
        "custom": ["CUSTOM_COMPLETION_SUCCEEDED", ["SUCCEEDED"] * 2],
        "tolerant": ["FAILURE_TOLERANCE_EXCEEDED", ["SUCCEEDED", "FAILED"]],
    }
    assert run_durable(serdes_and_sizes, None).result == {
        "pair": ["tuple", [1, "a"]],
        "upper": "ABC",
        "child": "CHILD",
        "items": ["X", "Y"],
        "big": 40_000,
    }
    assert run_durable(polling, None).result == {"n": 3}
    assert run_durable(flat_and_virtual, None).result == {"flat": [10, 20], "virtual": [True, 7]}
