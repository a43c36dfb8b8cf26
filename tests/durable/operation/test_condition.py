"""``wait_for_condition``: polls as attempts of one STEP, state carried in the checkpoints."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.exceptions import SerDesError, WaitForConditionError
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

from durable_sim import MemoryJournal, SimulatedCrash, export_history, run_durable
from durable_sim.clock import current_clock
from durable_sim.durable import CHECKPOINT_LIMIT_BYTES, CheckpointTooLargeError
from durable_sim.latency import Dist, LatencyProfile

from ..conftest import STEP_MS


def until(threshold: int, delay_s: int = 5) -> Any:
    def strategy(state: dict[str, int], attempt: int) -> WaitForConditionDecision:
        if state["n"] >= threshold:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(delay_s))

    return strategy


def test_polls_until_the_strategy_stops_threading_the_state() -> None:
    checks: list[tuple[int, int]] = []

    def handler(event: Any, ctx: DurableContext) -> dict[str, int]:
        def check(state: dict[str, int], check_ctx: Any) -> dict[str, int]:
            checks.append((state["n"], check_ctx.attempt))
            return {"n": state["n"] + 1}

        config = WaitForConditionConfig(wait_strategy=until(3), initial_state={"n": 0})
        return ctx.wait_for_condition(check, config, name="poll")

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", {"n": 3})
    assert checks == [(0, 1), (1, 2), (2, 3)]  # each check runs once, in its own invocation
    assert run.metrics.invocations == 3
    assert run.metrics.elapsed_ms == 10_000.0  # two 5 s waits between the polls
    op = run.operation("poll")
    assert (op.type, op.sub_type, op.attempts, op.result) == (
        "STEP",
        "WaitForCondition",
        3,
        {"n": 3},
    )
    kinds = [
        (e["EventType"], e.get("StepSucceededDetails", {}).get("RetryDetails"))
        for e in export_history(run)
        if e.get("Id") == op.id
    ]
    assert kinds == [
        ("StepStarted", None),
        ("StepSucceeded", {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 5}),
        ("StepStarted", None),
        ("StepSucceeded", {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 5}),
        ("StepStarted", None),
        ("StepSucceeded", {"CurrentAttempt": 3}),
    ]


def test_a_condition_met_at_once_takes_one_check() -> None:
    def handler(event: Any, ctx: DurableContext) -> dict[str, int]:
        config = WaitForConditionConfig(wait_strategy=until(0), initial_state={"n": 7})
        return ctx.wait_for_condition(lambda s, c: s, config)

    run = run_durable(handler, None)
    assert (run.result, run.metrics.invocations, run.operations[0].name) == ({"n": 7}, 1, None)


def test_max_attempts_and_a_failing_check_raise_wait_for_condition_error() -> None:
    def exhausted(event: Any, ctx: DurableContext) -> str:
        strategy = create_wait_strategy(
            WaitStrategyConfig(
                should_continue_polling=lambda s: True,
                max_attempts=3,
                initial_delay=Duration.from_seconds(1),
            )
        )
        config = WaitForConditionConfig(wait_strategy=strategy, initial_state=0)
        try:
            ctx.wait_for_condition(lambda s, c: s + 1, config)
        except WaitForConditionError as exc:
            return str(exc.message)
        return "no error"

    run = run_durable(exhausted, None, seed=3)
    assert run.result == "wait_for_condition exhausted 3 attempts before the condition was met"
    assert run.operations[0].attempts == 3 and run.operations[0].status == "FAILED"
    # The SDK's full jitter draws its delays: a seed fixes them.
    assert run_durable(exhausted, None, seed=3).metrics.elapsed_ms == run.metrics.elapsed_ms

    def broken(event: Any, ctx: DurableContext) -> None:
        def check(state: int, c: Any) -> int:
            raise LookupError("no such job")

        ctx.wait_for_condition(
            check, WaitForConditionConfig(wait_strategy=until(1), initial_state=0)
        )

    failed = run_durable(broken, None)
    assert isinstance(failed.error, WaitForConditionError)
    assert failed.error.message == "no such job"


class Tagged(SerDes[Any]):
    """A serdes whose payloads plain JSON cannot read back, recording each call's context."""

    def __init__(self, seen: list[tuple[str, str, str]]) -> None:
        self.seen = seen

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        self.seen.append(("out", serdes_context.operation_id, serdes_context.durable_execution_arn))
        return "T:" + json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        self.seen.append(("in", serdes_context.operation_id, serdes_context.durable_execution_arn))
        assert data.startswith("T:"), data
        return json.loads(data[2:])


def test_the_state_goes_through_the_serdes_with_the_operations_context_and_replays() -> None:
    """The SDK passes the condition's serdes a SerDesContext naming the operation and the
    execution's ARN; replay after the condition returns the journaled final state through it."""
    seen: list[tuple[str, str, str]] = []
    arns: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> Any:
        arns.append(ctx.execution_context.durable_execution_arn)
        config = WaitForConditionConfig(
            wait_strategy=until(2, delay_s=1), initial_state={"n": 0}, serdes=Tagged(seen)
        )
        state = ctx.wait_for_condition(lambda s, c: {"n": s["n"] + 1}, config, name="poll")
        ctx.wait(Duration.from_seconds(1))
        return state

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", {"n": 2})
    assert {(op, arn) for _, op, arn in seen} == {("1", arns[0])}
    # Encoded: the initial state before the first check, then each poll's state; the last
    # invocation replays the succeeded condition: one decode of its journaled state.
    assert [what for what, _, _ in seen].count("out") == 1 + 2
    assert seen[-1][0] == "in"


def test_a_failed_condition_raises_the_same_error_on_replay() -> None:
    seen: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> str:
        def check(state: int, c: Any) -> int:
            raise LookupError("no such job")

        try:
            ctx.wait_for_condition(
                check, WaitForConditionConfig(wait_strategy=until(1), initial_state=0)
            )
        except WaitForConditionError as exc:
            seen.append(f"{type(exc).__name__}: {exc.error_type}: {exc.message}")
        ctx.wait(Duration.from_seconds(1))
        return seen[-1]

    run = run_durable(handler, None)
    assert run.result == "WaitForConditionError: LookupError: no such job"
    assert seen == [run.result, run.result]
    assert run.operations[0].error is not None and "no such job" in run.operations[0].error


@pytest.mark.parametrize(("refuse", "what"), [("initial", "initial state"), ("polled", "state")])
def test_a_state_the_serdes_refuses_fails_naming_which_state(refuse: str, what: str) -> None:
    class Refusing(SerDes[Any]):
        def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
            if (refuse == "initial") == (value == 0):
                raise SerDesError("no")
            return json.dumps(value)

        def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
            return json.loads(data)

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = WaitForConditionConfig(wait_strategy=until(1), initial_state=0, serdes=Refusing())
        return ctx.wait_for_condition(lambda s, c: s + 1, config, name="poll")

    run = run_durable(handler, None)
    assert isinstance(run.error, SerDesError)  # as the SDK surfaces a serdes failure
    assert f"WaitForCondition 'poll' (id 1): cannot serialize its {what} of type int" in str(
        run.error.message
    )


def test_a_poll_is_one_step_execution_and_only_its_end_blocks_on_a_checkpoint() -> None:
    """The SDK checkpoints a poll's START without blocking (is_sync=False) and its SUCCEED
    blocking: one checkpoint's time on the timeline, besides the poll's step time. Each poll
    counts as a step executed."""

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = WaitForConditionConfig(wait_strategy=until(0), initial_state={"n": 1})
        return ctx.wait_for_condition(lambda s, c: s, config)

    profile = LatencyProfile(name="step-and-checkpoint", step=Dist(STEP_MS), checkpoint=Dist(30.0))
    run = run_durable(handler, None, profile=profile)
    assert (run.metrics.steps_executed, run.metrics.steps_replayed) == (1, 0)
    assert run.metrics.elapsed_ms == STEP_MS + 30.0


def test_the_check_runs_on_the_runs_clock_and_logs_with_the_sdks_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    arns: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> Any:
        arns.append(ctx.execution_context.durable_execution_arn)

        def check(state: dict[str, int], c: Any) -> dict[str, int]:
            c.logger.info("polled")
            clock = current_clock()
            clock.charge(250.0)  # modelled work in the check, on the run's virtual clock
            return {"n": state["n"] + 1, "t": int(clock.now_ms())}

        config = WaitForConditionConfig(wait_strategy=until(2, delay_s=1), initial_state={"n": 0})
        return ctx.wait_for_condition(check, config, name="poll")

    with caplog.at_level(logging.INFO):
        run = run_durable(handler, None)
    # two checks of 250 ms each around a 1 s wait
    assert run.result == {"n": 2, "t": 250 + 1000 + 250}
    fields = [
        {f: getattr(r, f) for f in ("executionArn", "operationName", "attempt", "operationId")}
        for r in caplog.records
        if r.getMessage() == "polled"
    ]
    assert fields == [
        {"executionArn": arns[0], "operationName": "poll", "attempt": a, "operationId": "1"}
        for a in (1, 2)
    ]


def test_a_polling_delay_that_is_no_duration_fails_naming_the_condition() -> None:
    def endless(state: Any, attempt: int) -> WaitForConditionDecision:
        return WaitForConditionDecision.continue_waiting(Duration(seconds=float("inf")))

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = WaitForConditionConfig(wait_strategy=endless, initial_state=0)
        return ctx.wait_for_condition(lambda s, c: s, config, name="poll")

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert "WaitForCondition 'poll' (id 1): polling delay inf s (accepted: a finite" in str(
        run.error
    )


def test_each_poll_draws_its_own_step_latency_and_jitter() -> None:
    """A poll costs a step's time, drawn per (operation, attempt); the wait strategy's jitter
    (the SDK draws it from `random`) comes from one seeded stream per (operation, attempt)."""
    noisy = LatencyProfile(name="noisy-step", step=Dist(100.0, 0.5))
    jitter: dict[tuple[int, int], float] = {}

    def strategy_for(index: int, polls: int) -> Any:
        def strategy(state: int, attempt: int) -> WaitForConditionDecision:
            jitter[(index, attempt)] = random.random()
            if attempt >= polls:
                return WaitForConditionDecision.stop_polling()
            return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

        return strategy

    def handler(event: Any, ctx: DurableContext) -> Any:
        for index in range(event["conditions"]):
            config = WaitForConditionConfig(
                wait_strategy=strategy_for(index, event["polls"]), initial_state=0
            )
            ctx.wait_for_condition(lambda s, c: s, config)

    def elapsed(conditions: int, polls: int) -> float:
        event = {"conditions": conditions, "polls": polls}
        run = run_durable(handler, event, profile=noisy)
        assert run.status == "SUCCEEDED" and run.metrics.elapsed_ms is not None
        return run.metrics.elapsed_ms - 1000.0 * conditions * (polls - 1)  # the polls' own time

    one = elapsed(1, 1)
    assert elapsed(2, 1) != pytest.approx(2 * one)  # the second condition's poll is another draw
    assert elapsed(1, 2) != pytest.approx(2 * one)  # so is the second poll of one condition
    jitter.clear()
    run_durable(handler, {"conditions": 2, "polls": 2}, seed=3)
    assert len(jitter) == 4 and len(set(jitter.values())) == 4


@pytest.mark.parametrize("polls", [1, 2])
def test_a_state_over_the_checkpoint_limit_fails_the_execution(polls: int) -> None:
    """The state is a checkpoint payload (the RETRY's while polling, the SUCCEED's at the end):
    over AWS's 256 KiB it is a terminal CheckpointTooLargeError naming the condition."""

    def grow(state: str, c: Any) -> str:
        return state + "x" * CHECKPOINT_LIMIT_BYTES  # over at the first poll

    def strategy(state: str, attempt: int) -> WaitForConditionDecision:
        if attempt >= polls:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = WaitForConditionConfig(wait_strategy=strategy, initial_state="")
        return ctx.wait_for_condition(grow, config, name="poll")

    run = run_durable(handler, None)
    assert run.status == "FAILED" and isinstance(run.error, CheckpointTooLargeError)
    assert "WaitForCondition 'poll'" in str(run.error)


def test_a_zero_polling_delay_waits_the_services_minimum_of_one_second() -> None:
    def handler(event: Any, ctx: DurableContext) -> Any:
        config = WaitForConditionConfig(wait_strategy=until(2, delay_s=0), initial_state={"n": 0})
        return ctx.wait_for_condition(lambda s, c: {"n": s["n"] + 1}, config)

    run = run_durable(handler, None)
    assert (run.result, run.metrics.elapsed_ms) == ({"n": 2}, 1000.0)


@pytest.mark.parametrize(
    ("other", "invocations", "elapsed_s"),
    [("work 5 s", 1, 5), ("wait 1 s", 3, 2), ("wait 1 s, work 5 s", 2, 6)],
)
def test_a_polling_branch_of_a_parallel_resumes_at_its_time(
    other: str, invocations: int, elapsed_s: int
) -> None:
    """In a parallel, a condition waiting 2 s between polls resumes in the same invocation
    while the other branch still works, from its first poll or from its replayed pending
    retry; when nothing else runs, at its time on a re-invocation."""

    def working(c: DurableContext) -> str:
        if "wait" in other:
            c.wait(Duration.from_seconds(1))
        if "work" in other:
            c.step(lambda _: current_clock().charge(5000.0), name="work")
        return "worked"

    def polling(c: DurableContext) -> Any:
        config = WaitForConditionConfig(wait_strategy=until(2, delay_s=2), initial_state={"n": 0})
        return c.wait_for_condition(lambda s, _: {"n": s["n"] + 1}, config, name="poll")

    def handler(event: Any, ctx: DurableContext) -> Any:
        return ctx.parallel([working, polling]).get_results()

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", ["worked", {"n": 2}])
    assert (run.metrics.invocations, run.metrics.elapsed_ms) == (invocations, elapsed_s * 1000.0)


def test_a_poll_interrupted_after_its_start_was_written_reruns_as_the_same_attempt() -> None:
    """A check that outlasts the checkpoint batcher's window gets its START written before the
    process dies in it: the next invocation polls again as that same attempt."""
    attempts: list[int] = []

    def check(state: dict[str, int], check_ctx: Any) -> dict[str, int]:
        attempts.append(check_ctx.attempt)
        current_clock().charge(5000.0)  # the batcher sends the START meanwhile
        if len(attempts) == 1:
            raise SimulatedCrash("process died inside the check")
        return {"n": state["n"] + 1}

    def handler(event: Any, ctx: DurableContext) -> Any:
        config = WaitForConditionConfig(wait_strategy=until(1), initial_state={"n": 0})
        return ctx.wait_for_condition(check, config=config, name="poll")

    journal = MemoryJournal()
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="e")
    run = run_durable(handler, None, journal=journal, execution_id="e")
    assert (run.status, run.result, attempts) == ("SUCCEEDED", {"n": 1}, [1, 1])
    assert run.operation("poll").attempts == 1


# -- a wait strategy that misbehaves ----------------------------------------------------------
# The SDK evaluates the strategy and its decision inside the operation's try (its
# ``operation/wait_for_condition.py``): an error there fails the condition with
# WaitForConditionError, as a failing check does. The strategy is no user function the SDK wraps
# (``ExecutionState.wrap_user_function`` wraps the check), so an error the SDK cannot print
# reaches the operation's own ``ErrorObject.from_exception``, which raises: what ``str()``
# raised escapes the operation, which records no FAIL. Expected values measured with
# `run_durable(engine="aws-local")` (runner 1.4.0, SDK 3.0.0); formerly a decision that was no
# WaitForConditionDecision escaped as a raw AttributeError, leaving the condition STARTED, and an
# unprintable strategy error failed the condition.


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str broke")


def _misbehaving(kind: str) -> Any:
    def strategy(state: Any, attempt: int) -> Any:
        if kind == "returns None":
            return None
        if kind == "returns a string":
            return "stop"
        if kind == "raises":
            raise ValueError("strategy broke")
        raise _Unprintable()

    return strategy


# kind -> (what the workflow catches: type, message, error_type), the condition's status
MISBEHAVIOURS = {
    "returns None": (
        ("WaitForConditionError", "'NoneType' object has no attribute 'should_continue'"),
        "AttributeError",
        "FAILED",
    ),
    "returns a string": (
        ("WaitForConditionError", "'str' object has no attribute 'should_continue'"),
        "AttributeError",
        "FAILED",
    ),
    "raises": (("WaitForConditionError", "strategy broke"), "ValueError", "FAILED"),
    "raises unprintable": (("RuntimeError", "str broke"), None, "STARTED"),
}


@pytest.mark.parametrize("engine", ["sim", "aws-local"])
@pytest.mark.parametrize("kind", sorted(MISBEHAVIOURS))
def test_a_misbehaving_wait_strategy_ends_the_condition_as_in_the_sdk(
    kind: str, engine: str
) -> None:
    """The workflow catches the same error in its first invocation and, after a wait, in its
    replay (from the journal, or from polling again when nothing was recorded)."""
    caught: list[Any] = []

    def handler(event: Any, ctx: DurableContext) -> str:
        config = WaitForConditionConfig(wait_strategy=_misbehaving(kind), initial_state=0)
        try:
            ctx.wait_for_condition(lambda s, c: s + 1, config, name="poll")
        except Exception as exc:
            caught.append(((type(exc).__name__, str(exc)), getattr(exc, "error_type", None)))
        ctx.wait(Duration.from_seconds(1), name="pause")
        return "done"

    run = run_durable(handler, None, engine=engine)
    assert (run.status, run.result) == ("SUCCEEDED", "done")
    condition = next(op for op in run.operations if op.name == "poll")
    caught_as, error_type, status = MISBEHAVIOURS[kind]
    assert caught == [(caught_as, error_type)] * 2
    assert condition.status == status
