"""`DurableContext`: replay state per context, the SDK's logger API, child and virtual contexts,
the execution context."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, durable_wait_for_callback
from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    ChildConfig,
    CompletionConfig,
    CompletionStatus,
    Duration,
    MapConfig,
    ParallelConfig,
    continue_batch,
)
from aws_durable_execution_sdk_python.exceptions import ValidationError
from aws_durable_execution_sdk_python.logger import Logger
from aws_durable_execution_sdk_python.serdes import (
    EXTENDED_TYPES_SERDES,
    SerDes,
    SerDesContext,
)
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

from durable_sim import run_durable
from durable_sim.attribution import Trace
from durable_sim.clock import VirtualClock, observe_clocks
from durable_sim.durable import HistoryEntry, MemoryJournal
from durable_sim.durable.context import DurableContext as SimContext
from durable_sim.durable.errors import NonDeterminismError
from durable_sim.durable.history import export_history
from durable_sim.durable.result import RunMetrics
from durable_sim.durable.state import ExecutionState
from durable_sim.faults import FaultPlan
from durable_sim.latency import ZERO, Dist, LatencyProfile, Sampler


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


def test_lambda_context_set_by_hand_is_what_the_context_and_its_children_read() -> None:
    """``lambda_context`` is a plain attribute of the SDK's context: what a handler assigns is
    what it (and a child context made afterwards) reads, instead of the invocation's own."""
    seen: list[Any] = []
    mine = object()

    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.lambda_context = mine
        seen.extend([ctx.lambda_context, ctx.create_child_context("7").lambda_context])
        ctx.lambda_context = None  # as outside an invocation
        seen.extend([ctx.lambda_context, ctx.create_child_context("8").lambda_context])

    assert run_durable(handler, None).status == "SUCCEEDED"
    assert seen == [mine, mine, None, None]


def _flip_then_replay(first: Any, second: Any) -> Any:
    """Run a handler whose child context (body, config) is `first` on the first invocation
    and `second` on the next, and return the run."""
    invocations: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> Any:
        body, config = second if invocations else first
        invocations.append(1)
        return ctx.run_in_child_context(body, "c", config)

    return run_durable(handler, None)


def _step(name: str) -> Any:
    """A child's body: a step named `name`, then a wait (the child suspends, still STARTED)."""

    def body(c: DurableContext) -> None:
        c.step(lambda _: 1, name=name)
        c.wait(Duration.from_seconds(1))

    return body


@pytest.mark.parametrize(
    ("first", "second", "journaled", "now"),
    [
        pytest.param(  # the same parent: the operation itself differs
            (_step("a"), None),
            (_step("b"), None),
            "STEP (Step) 'a'",
            "STEP (Step) 'b'",
            id="renamed-in-a-child",
        ),
        pytest.param(  # a FLAT child's step reported to the root; now a real child owns it
            (_step("s"), ChildConfig(is_virtual=True)),
            (_step("s"), None),
            "STEP (Step) 's'",
            "the same operation under parent '1' (journaled under None)",
            id="virtual-child-made-real",
        ),
    ],
)
def test_non_determinism_inside_a_child_names_both_operations(
    first: Any, second: Any, journaled: str, now: str
) -> None:
    run = _flip_then_replay(first, second)
    assert run.status == "FAILED" and isinstance(run.error, NonDeterminismError)
    assert (run.error.op_id, run.error.journaled, run.error.new) == ("1.1", journaled, now)


def test_a_real_child_made_virtual_names_what_the_code_now_does() -> None:
    run = _flip_then_replay((_step("s"), None), (_step("s"), ChildConfig(is_virtual=True)))
    assert run.status == "FAILED" and isinstance(run.error, NonDeterminismError)
    assert (run.error.op_id, run.error.journaled, run.error.new) == (
        "1",
        "CONTEXT (RunInChildContext) 'c'",
        "a virtual (FLAT) child context, which journals no record of its own",
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("check", "`check` is required for wait_for_condition"),
        ("config", "`config` is required for wait_for_condition"),
    ],
)
def test_wait_for_condition_requires_a_check_and_a_config(missing: str, message: str) -> None:
    """The SDK's own validation errors, word for word (its context.py), before any operation."""
    config = WaitForConditionConfig(
        wait_strategy=lambda state, attempt: WaitForConditionDecision.stop_polling(),
        initial_state=0,
    )

    def handler(event: Any, ctx: DurableContext) -> Any:
        check = None if missing == "check" else (lambda state, c: state)
        return ctx.wait_for_condition(check, None if missing == "config" else config)  # type: ignore[arg-type]

    run = run_durable(handler, None)
    assert run.status == "FAILED" and type(run.error) is ValidationError
    assert str(run.error) == message
    assert run.operations == []


def test_map_hands_each_item_its_index_and_the_inputs_and_names_it_with_the_item_namer() -> None:
    """The SDK's map API: ``func(ctx, item, index, inputs)``; ``item_namer(item, index)`` names
    each iteration; a custom completion check sees every item by its index."""
    calls: list[tuple[str, int, Any]] = []
    indexes: list[list[int]] = []
    inputs = ["a", "b", "c"]

    def check(status: CompletionStatus) -> Any:
        indexes.append([item.index for item in status.items])
        return continue_batch()

    def handler(event: Any, ctx: DurableContext) -> Any:
        def item(c: DurableContext, x: str, i: int, xs: Any) -> str:
            calls.append((x, i, xs))
            return x * (i + 1)

        config = MapConfig(
            item_namer=lambda x, i: f"{x}{i}",
            completion_config=CompletionConfig(should_complete=check),
        )
        return ctx.map(inputs, item, name="m", config=config).get_results()

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", ["a", "bb", "ccc"])
    assert calls == [("a", 0, inputs), ("b", 1, inputs), ("c", 2, inputs)]
    assert all(xs is inputs for _, _, xs in calls)
    names = [op.name for op in run.operations if op.sub_type == "MapIteration"]
    assert names == ["a0", "b1", "c2"]
    assert indexes and all(seen == [0, 1, 2] for seen in indexes)


def test_operations_without_a_name_take_the_name_their_sdk_decorator_attaches() -> None:
    """The SDK's naming rule for map and wait_for_callback as for steps: an explicit name, else
    the ``_original_name`` that ``@durable_wait_for_callback`` and its kin attach."""

    @durable_wait_for_callback
    def submit(callback_id: str, context: Any, ticket: str) -> None:
        return None

    def double(c: DurableContext, x: int, i: int, xs: Any) -> int:
        return 2 * x

    double._original_name = "double"  # type: ignore[attr-defined]  # as the SDK's decorators do

    def handler(event: Any, ctx: DurableContext) -> Any:
        ctx.map([1], double)
        return ctx.wait_for_callback(submit("t-1"))

    run = run_durable(handler, None)
    assert run.status == "PENDING"
    ops = {op.id: (op.sub_type, op.name) for op in run.operations}
    assert ops["1"] == ("Map", "double")
    assert (ops["2"], ops["2.1"][1]) == (("WaitForCallback", "submit"), "submit create callback id")


@pytest.mark.parametrize("sub_type", [None, "approval"])
def test_callbacks_and_child_contexts_journal_their_configured_sub_type(
    sub_type: str | None,
) -> None:
    """``config.sub_type`` labels the operation (the SDK's CallbackConfig and ChildConfig), by
    default the SDK's own: ``Callback`` and ``RunInChildContext``."""

    def handler(event: Any, ctx: DurableContext) -> Any:
        ctx.run_in_child_context(lambda c: 1, name="c", config=ChildConfig(sub_type=sub_type))
        ctx.create_callback(name="cb", config=CallbackConfig(sub_type=sub_type))
        ctx.create_callback(name="plain")

    run = run_durable(handler, None)
    ops = {op.name: op.sub_type for op in run.operations}
    assert ops == {
        "c": sub_type or "RunInChildContext",
        "cb": sub_type or "Callback",
        "plain": "Callback",
    }


class _Noting(SerDes[Any]):
    """The SDK's extended-type serdes, noting the operation id of each value it encodes."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        self.encoded.append(serdes_context.operation_id)
        return EXTENDED_TYPES_SERDES.serialize(value, serdes_context)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return EXTENDED_TYPES_SERDES.deserialize(data, serdes_context)


@pytest.mark.parametrize("kind", ["map", "parallel"])
def test_a_batch_uses_its_configs_serdes_and_summary_generator(kind: str) -> None:
    """MapConfig's and ParallelConfig's ``serdes`` encodes the batch's result; over the 256 KiB
    checkpoint limit, the ``summary_generator``'s text is stored under the envelope's
    ``summary`` (the SDK's MapConfig/ParallelConfig docs)."""
    chunk = "x" * 150_000  # two of them are over the limit
    serdes = _Noting()
    summaries: list[Any] = []

    def summary(result: Any) -> str:
        summaries.append(result)
        return f"{len(result.all)} items"

    def handler(event: Any, ctx: DurableContext) -> int:
        if kind == "map":
            config: Any = MapConfig(serdes=serdes, summary_generator=summary)
            result = ctx.map([1, 2], lambda c, x, i, xs: chunk, config=config)
        else:
            config = ParallelConfig(serdes=serdes, summary_generator=summary)
            result = ctx.parallel([lambda c: chunk, lambda c: chunk], config=config)
        return len(result.get_results())

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", 2)
    assert "1" in serdes.encoded
    assert len(summaries) == 1
    batch_op = next(op for op in run.operations if op.id == "1")
    assert json.loads(batch_op.result_json or "")["summary"] == "2 items"


def test_a_child_context_starts_in_its_creators_replay_state() -> None:
    seen: list[tuple[bool, bool, bool]] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        child = ctx.create_child_context("9")
        virtual = ctx.create_child_context("8", is_virtual=True)
        seen.append((ctx.is_replaying(), child.is_replaying(), virtual.is_replaying()))
        ctx.wait(Duration.from_seconds(1))

    assert run_durable(handler, None).status == "SUCCEEDED"
    assert seen == [(False, False, False), (True, True, True)]


def test_an_assigned_logger_is_the_one_child_contexts_and_steps_log_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As in the SDK, where ``logger`` is an attribute that child contexts and steps derive
    their loggers from: a handler's own `Logger` carries over to both."""
    mine = Logger(logging.getLogger("tests.assigned"), {"executionArn": "arn"})

    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.logger = mine
        ctx.logger.info("in handler")
        ctx.run_in_child_context(lambda c: c.logger.info("in child"), name="c")
        ctx.step(lambda s: s.logger.info("in step"), name="s")

    with caplog.at_level(logging.INFO):
        assert run_durable(handler, None).status == "SUCCEEDED"
    lines = [
        (r.name, r.getMessage()) for r in caplog.records if r.name in {"root", "tests.assigned"}
    ]
    assert lines == [
        ("tests.assigned", "in handler"),
        ("tests.assigned", "in child"),
        ("tests.assigned", "in step"),
    ]


class _Charges(Trace):
    """A trace that keeps each charge's label and length, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.charges: list[tuple[str | None, float]] = []

    def advanced(
        self, clock: object, start_ms: float, end_ms: float, *, charge: bool, label: str | None
    ) -> None:
        if charge:
            self.charges.append((label, end_ms - start_ms))
        super().advanced(clock, start_ms, end_ms, charge=charge, label=label)


def test_each_operation_returned_from_the_journal_costs_its_own_replay_draw() -> None:
    """The profile's ``replay_op`` is charged once per completed operation a replay returns
    (two steps and the wait, on the second invocation), a draw of its own for each."""
    profile = LatencyProfile(name="test-replay", replay_op=Dist(5.0, sigma=0.5))

    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.step(lambda _: 1, name="a")
        ctx.step(lambda _: 2, name="b")
        ctx.wait(Duration.from_seconds(1))

    trace = _Charges()
    with observe_clocks(trace):
        run = run_durable(handler, None, profile=profile, seed=3)
    replays = [ms for label, ms in trace.charges if label == "replay_op"]
    assert run.status == "SUCCEEDED" and len(replays) == 3
    assert len(set(replays)) == 3 and all(ms > 0 for ms in replays)
    assert run.metrics.elapsed_ms == pytest.approx(1000.0 + sum(replays))


def test_a_child_replays_on_while_its_own_next_operation_is_journaled() -> None:
    """Replay ends at the first operation the journal lacks in the context's own sequence
    (``1.2`` after ``1.1`` in child ``1``), not at a missing top-level position."""
    seen: list[tuple[str, bool]] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        def child(c: DurableContext) -> None:
            c.step(lambda _: 1, name="a")
            seen.append(("after a", c.is_replaying()))
            c.step(lambda _: 2, name="b")
            seen.append(("after b", c.is_replaying()))
            c.wait(Duration.from_seconds(1))

        ctx.run_in_child_context(child, name="c")

    assert run_durable(handler, None).status == "SUCCEEDED"
    assert seen == [
        ("after a", False),
        ("after b", False),
        ("after a", True),  # 1.2 is journaled: still replaying, though no operation 2 is
        ("after b", True),
    ]


def _state() -> ExecutionState:
    journal = MemoryJournal()
    journal.open_execution("e", "null", HistoryEntry("ExecutionStarted", 0.0))
    return ExecutionState(
        execution_id="e",
        arn="arn:e",
        journal=journal,
        operations={},
        sampler=Sampler(ZERO, 0),
        faults=FaultPlan(),
        metrics=RunMetrics(),
    )


@pytest.mark.parametrize("replaying", [False, True])
def test_a_context_made_with_a_logger_logs_through_it_silent_while_it_replays(
    caplog: pytest.LogCaptureFixture, replaying: bool
) -> None:
    """The SDK's constructor argument: ``logger.with_is_replaying(context.is_replaying)``, the
    given logger's own fields kept, for the context and the child contexts it makes."""
    given = Logger(logging.getLogger("tests.given"), {"executionArn": "given", "tag": 7})
    options = {"replaying": True} if replaying else {}  # not replaying by default
    ctx = SimContext(_state(), VirtualClock(), logger=given, **options)
    child = ctx.create_child_context("1")  # held: a logger outliving its context logs
    with caplog.at_level(logging.INFO):
        ctx.logger.info("parent")
        child.logger.info("child")
    records = [r for r in caplog.records if r.name in {"root", "tests.given"}]
    if replaying:
        assert records == []
    else:
        assert [(r.name, r.getMessage()) for r in records] == [
            ("tests.given", "parent"),
            ("tests.given", "child"),
        ]
        assert (records[0].executionArn, records[0].tag) == ("given", 7)


def test_a_context_made_with_a_parent_id_uses_it_as_its_id_prefix() -> None:
    """The SDK's constructor: ``step_id_prefix`` defaults to ``parent_id``, and a context is
    virtual only when the two differ; a new context is not replaying (``ReplayStatus.NEW``)."""
    state = _state()
    ctx = SimContext(state, VirtualClock(), parent_id="5")
    assert (ctx.is_virtual, ctx.is_replaying()) == (False, False)
    assert ctx.step(lambda _: 1, name="s") == 1
    assert [(op.id, op.parent_id) for op in state.operations.values()] == [("5.1", "5")]
