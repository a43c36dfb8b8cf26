"""``context.step`` on the sim engine: results, names, retries, attempts, step semantics."""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_step
from aws_durable_execution_sdk_python.config import Duration, StepConfig, StepSemantics
from aws_durable_execution_sdk_python.exceptions import SerDesError, StepError
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)

from durable_sim import FaultPlan, MemoryJournal, SimulatedCrash, run_durable
from durable_sim.clock import current_clock
from durable_sim.latency import Dist, LatencyProfile

NO_JITTER = JitterStrategy.NONE


def retry(max_attempts: int, delay_s: int = 2, backoff: float = 2.0) -> Any:
    return create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=max_attempts,
            initial_delay=Duration.from_seconds(delay_s),
            backoff_rate=backoff,
            jitter_strategy=NO_JITTER,
        )
    )


@durable_step
def add(step_ctx: StepContext, a: int, b: int) -> int:
    return a + b


def test_step_returns_result_and_takes_name_from_durable_step() -> None:
    def handler(event: Any, ctx: DurableContext) -> int:
        x = ctx.step(add(event["a"], 2))
        return ctx.step(lambda _: x * 10, name="times-ten")

    run = run_durable(handler, {"a": 1})
    assert (run.status, run.result) == ("SUCCEEDED", 30)
    assert [(op.id, op.name, op.result, op.attempts) for op in run.operations] == [
        ("1", "add", 3, 1),
        ("2", "times-ten", 30, 1),
    ]
    assert run.metrics.steps_executed == 2
    assert run.metrics.invocations == 1


def test_explicit_name_overrides_durable_step_name() -> None:
    run = run_durable(lambda e, ctx: ctx.step(add(1, 1), name="custom"), None)
    assert run.operations[0].name == "custom"


def test_unnamed_lambda_step_has_no_name() -> None:
    run = run_durable(lambda e, ctx: ctx.step(lambda _: 5), None)
    assert (run.result, run.operations[0].name) == (5, None)


def test_retry_strategy_counts_attempts_and_waits_backoff_in_virtual_time() -> None:
    seen: list[int] = []

    def flaky(step_ctx: StepContext) -> str:
        seen.append(step_ctx.attempt)
        if step_ctx.attempt < 3:
            raise ConnectionError(f"attempt {step_ctx.attempt}")
        return "ok"

    def handler(event: Any, ctx: DurableContext) -> str:
        return ctx.step(flaky, name="flaky", config=StepConfig(retry_strategy=retry(5)))

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", "ok")
    assert seen == [1, 2, 3]
    assert run.operation("flaky").attempts == 3
    assert run.metrics.retries == 2
    assert run.metrics.elapsed_ms == 2000.0 + 4000.0  # backoff 2 s then 4 s, no jitter
    assert run.metrics.invocations == 3  # each retry delay suspends the execution


def test_exhausted_retries_raise_step_error_with_original_type() -> None:
    seen: list[int] = []

    def always(step_ctx: StepContext) -> None:
        seen.append(step_ctx.attempt)
        raise KeyError("missing-key")

    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.step(always, name="always", config=StepConfig(retry_strategy=retry(3, delay_s=1)))

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert isinstance(run.error, StepError)
    assert run.error.error_type == "KeyError"
    assert "missing-key" in str(run.error)
    assert seen == [1, 2, 3]
    op = run.operation("always")
    assert (op.status, op.attempts) == ("FAILED", 3)
    assert run.metrics.failed_steps == 1


def test_step_error_can_be_caught_by_workflow_and_is_the_same_on_replay() -> None:
    caught: list[tuple[str, str]] = []

    def handler(event: Any, ctx: DurableContext) -> str:
        try:
            ctx.step(lambda _: int("x"), name="parse", config=StepConfig(RetryPresets.none()))
        except StepError as exc:
            caught.append((exc.error_type, type(exc.__cause__).__name__))
        ctx.wait(Duration.from_seconds(1))  # forces a replay of the failed step
        return "handled"

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", "handled")
    assert caught == [("ValueError", "DurableOperationError")] * 2


def test_retry_presets_none_fails_after_one_attempt() -> None:
    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.step(lambda _: 1 / 0, name="div", config=StepConfig(RetryPresets.none()))

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert isinstance(run.error, StepError)
    assert run.error.error_type == "ZeroDivisionError"
    assert run.operation("div").attempts == 1


def test_default_retry_strategy_retries_injected_faults() -> None:
    faults = FaultPlan(step_failures={"s": {1, 2}})
    run = run_durable(lambda e, ctx: ctx.step(lambda _: "v", name="s"), None, faults=faults)
    assert (run.status, run.result, run.operation("s").attempts) == ("SUCCEEDED", "v", 3)


def test_retryable_error_types_filter() -> None:
    strategy = create_retry_strategy(
        RetryStrategyConfig(max_attempts=5, retryable_error_types=[ConnectionError])
    )
    seen: list[int] = []

    def body(step_ctx: StepContext) -> None:
        seen.append(step_ctx.attempt)
        raise ValueError("not retryable")

    run = run_durable(lambda e, ctx: ctx.step(body, name="v", config=StepConfig(strategy)), None)
    assert run.status == "FAILED"
    assert seen == [1]


def test_retry_jitter_is_reproducible_by_seed() -> None:
    strategy = create_retry_strategy(RetryStrategyConfig(max_attempts=4))  # FULL jitter
    faults = FaultPlan(step_failures={"j": {1, 2, 3}})

    def handler(event: Any, ctx: DurableContext) -> int:
        return ctx.step(lambda _: 1, name="j", config=StepConfig(strategy))

    elapsed = [
        run_durable(handler, None, faults=faults, seed=seed).metrics.elapsed_ms
        for seed in (1, 1, 2)
    ]
    assert elapsed[0] == elapsed[1]
    assert all(e is not None and e >= 3000.0 for e in elapsed)  # at least 1 s per retry


def _crash_mid_body(calls: Counter[str], semantics: StepSemantics) -> Any:
    def body(step_ctx: StepContext) -> int:
        calls[f"attempt-{step_ctx.attempt}"] += 1
        if calls.total() == 1:
            raise SimulatedCrash("process died inside the step body")
        return step_ctx.attempt

    def handler(event: Any, ctx: DurableContext) -> int:
        config = StepConfig(retry_strategy=retry(3, delay_s=1), step_semantics=semantics)
        return ctx.step(body, name="charge", config=config)

    return handler


def test_at_least_once_reruns_an_interrupted_attempt(calls: Counter[str]) -> None:
    handler = _crash_mid_body(calls, StepSemantics.AT_LEAST_ONCE_PER_RETRY)
    journal = MemoryJournal()
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="e")
    run = run_durable(handler, None, journal=journal, execution_id="e")
    assert (run.status, run.result) == ("SUCCEEDED", 1)
    assert calls == {"attempt-1": 2}  # the same attempt ran again, silently
    assert run.metrics.retries == 0


def test_at_most_once_sends_an_interrupted_attempt_through_the_retry_strategy(
    calls: Counter[str],
) -> None:
    handler = _crash_mid_body(calls, StepSemantics.AT_MOST_ONCE_PER_RETRY)
    journal = MemoryJournal()
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="e")
    run = run_durable(handler, None, journal=journal, execution_id="e")
    assert (run.status, run.result) == ("SUCCEEDED", 2)
    assert calls == {"attempt-1": 1, "attempt-2": 1}  # attempt 1 was not rerun
    assert run.metrics.retries == 1
    assert run.operation("charge").attempts == 2


def test_at_most_once_crash_after_start_checkpoint_without_retries_fails() -> None:
    calls: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> int:
        config = StepConfig(
            retry_strategy=RetryPresets.none(),
            step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        )
        return ctx.step(lambda s: calls.append(s.attempt) or 7, name="once", config=config)

    journal = MemoryJournal()
    crash = FaultPlan(crash_after_checkpoint=1, crash_mode="raise")  # right after START
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="e", faults=crash)
    assert calls == []
    run = run_durable(handler, None, journal=journal, execution_id="e")
    assert run.status == "FAILED"
    assert isinstance(run.error, StepError)
    assert run.error.error_type.endswith(".StepInterruptedError")
    assert calls == []  # never silently re-executed


def test_at_most_once_writes_a_start_checkpoint() -> None:
    def handler(event: Any, ctx: DurableContext) -> int:
        ctx.step(lambda _: 1, name="a")
        sem = StepSemantics.AT_MOST_ONCE_PER_RETRY
        return ctx.step(lambda _: 2, name="b", config=StepConfig(step_semantics=sem))

    run = run_durable(handler, None)
    assert run.metrics.checkpoint_ops == 3  # a: SUCCEEDED; b: STARTED + SUCCEEDED


def test_a_step_logger_carries_the_sdks_log_fields(caplog: pytest.LogCaptureFixture) -> None:
    """The fields of the SDK's ``Logger.from_log_info``: the execution's ARN always; the parent
    id and the name only when the operation has them; the attempt and the operation id."""
    import logging

    arns: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        arns.append(ctx.execution_context.durable_execution_arn)
        ctx.step(lambda s: s.logger.info("root, unnamed"))
        ctx.run_in_child_context(
            lambda c: c.step(lambda s: s.logger.info("child, named"), name="inner"), name="c"
        )

    with caplog.at_level(logging.INFO):
        assert run_durable(handler, None, execution_id="log-1").status == "SUCCEEDED"
    fields = ("executionArn", "parentId", "operationName", "attempt", "operationId")
    seen = {
        r.getMessage(): {f: getattr(r, f) for f in fields if hasattr(r, f)}
        for r in caplog.records
        if r.getMessage() in {"root, unnamed", "child, named"}
    }
    assert seen == {
        "root, unnamed": {"executionArn": arns[0], "attempt": 1, "operationId": "1"},
        "child, named": {
            "executionArn": arns[0],
            "parentId": "2",
            "operationName": "inner",
            "attempt": 1,
            "operationId": "2.1",
        },
    }


NAMES = [f"s{i}" for i in range(20)]


def test_a_retry_strategy_gets_the_error_and_draws_its_jitter_per_operation_and_attempt() -> None:
    """The SDK calls the retry strategy with the step's exception and the attempt, and its
    jitter draws from `random`: here each (operation, attempt) draws from its own seeded stream,
    so two steps failing at once, or two attempts of one step, do not share their jitter, and a
    seed fixes all of it. Each stream's seed has 63 bits: the 60 draws here never collide (with
    a seed of 7 bits they would, almost surely)."""
    draws: dict[tuple[str, int], float] = {}
    errors: list[str] = []

    def strategy_for(name: str) -> Any:
        def strategy(exc: Exception, attempt: int) -> RetryDecision:
            errors.append(f"{type(exc).__name__}: {exc}")
            draws[(name, attempt)] = random.random()
            return (
                RetryDecision.retry(Duration.from_seconds(1))
                if attempt < 3
                else (RetryDecision.no_retry())
            )

        return strategy

    def handler(event: Any, ctx: DurableContext) -> int:
        def failing(_: Any) -> int:
            raise LookupError("down")

        for name in NAMES:
            with contextlib.suppress(StepError):
                ctx.step(failing, name=name, config=StepConfig(strategy_for(name)))
        return 0

    run_durable(handler, None, seed=5)
    first = dict(draws)
    assert set(errors) == {"LookupError: down"} and len(errors) == 3 * len(NAMES)
    assert len(set(first.values())) == 3 * len(NAMES)  # no two (operation, attempt) share one
    draws.clear()
    run_durable(handler, None, seed=5)
    assert draws == first


def test_a_retry_delay_that_is_no_duration_fails_naming_the_step() -> None:
    def handler(event: Any, ctx: DurableContext) -> int:
        def failing(_: Any) -> int:
            raise LookupError("down")

        endless = lambda exc, attempt: RetryDecision.retry(Duration(seconds=float("inf")))  # noqa: E731
        return ctx.step(failing, name="j", config=StepConfig(endless))

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert "Step 'j' (id 1): retry delay inf s (accepted: a finite number" in str(run.error)


def test_a_step_retried_after_a_crash_waits_for_its_journaled_retry_time() -> None:
    """A process that dies after a retry's PENDING checkpoint: the next invocation finds the
    step waiting for its retry timer and suspends until the journaled time, then runs the next
    attempt then (the service re-invokes at the timer, not before and never not at all)."""
    seen: list[tuple[int, float]] = []

    def body(step_ctx: StepContext) -> int:
        seen.append((step_ctx.attempt, current_clock().now_ms()))
        if step_ctx.attempt == 1:
            raise LookupError("down")
        return step_ctx.attempt

    def handler(event: Any, ctx: DurableContext) -> int:
        return ctx.step(body, name="r", config=StepConfig(retry_strategy=retry(3, delay_s=7)))

    journal = MemoryJournal()
    crash = FaultPlan(crash_after_checkpoint=1, crash_mode="raise")  # right after the RETRY
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="e", faults=crash)
    run = run_durable(handler, None, journal=journal, execution_id="e")
    assert (run.status, run.result) == ("SUCCEEDED", 2)
    assert [attempt for attempt, _ in seen] == [1, 2]
    assert seen[1][1] >= 7000.0  # not before the journaled retry time
    assert run.operation("r").attempts == 2


def test_at_least_once_reruns_a_journaled_started_attempt_under_its_own_number() -> None:
    """A body that outlasts the checkpoint batcher's window gets its START written before the
    process dies in it: the rerun is the same attempt, under the same number."""
    seen: list[int] = []

    def body(step_ctx: StepContext) -> int:
        seen.append(step_ctx.attempt)
        current_clock().charge(5000.0)  # the batcher sends the START meanwhile
        if len(seen) == 1:
            raise SimulatedCrash("process died inside the step body")
        return step_ctx.attempt

    def handler(event: Any, ctx: DurableContext) -> int:
        return ctx.step(body, name="long", config=StepConfig(retry_strategy=retry(3)))

    journal = MemoryJournal()
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="e")
    run = run_durable(handler, None, journal=journal, execution_id="e")
    assert (run.status, run.result, seen) == ("SUCCEEDED", 1, [1, 1])
    assert (run.operation("long").attempts, run.metrics.retries) == (1, 0)


def test_an_interrupted_at_most_once_attempt_reaches_the_retry_strategy_named() -> None:
    """The SDK's `StepInterruptedError` goes through the retry strategy like any failure: it
    carries the step's id and a message naming the step and its attempt."""
    seen: list[tuple[str, str, str | None, int]] = []

    def strategy(exc: Exception, attempt: int) -> RetryDecision:
        seen.append((type(exc).__name__, str(exc), getattr(exc, "step_id", None), attempt))
        return RetryDecision.retry(Duration.from_seconds(1))

    def handler(event: Any, ctx: DurableContext) -> int:
        sem = StepSemantics.AT_MOST_ONCE_PER_RETRY
        return ctx.step(
            lambda s: s.attempt, name="once", config=StepConfig(strategy, step_semantics=sem)
        )

    journal = MemoryJournal()
    crash = FaultPlan(crash_after_checkpoint=1, crash_mode="raise")  # right after START
    with pytest.raises(SimulatedCrash):
        run_durable(handler, None, journal=journal, execution_id="e", faults=crash)
    run = run_durable(handler, None, journal=journal, execution_id="e")
    assert (run.status, run.result) == ("SUCCEEDED", 2)
    assert seen == [
        (
            "StepInterruptedError",
            "step 1 (once) attempt 1 was interrupted; "
            "at-most-once semantics forbid running it again silently",
            "1",
            1,
        )
    ]


def test_an_injected_fault_names_the_step_and_its_attempt() -> None:
    faults = FaultPlan(step_failures={"f": {1}})

    def handler(event: Any, ctx: DurableContext) -> int:
        return ctx.step(lambda _: 1, name="f", config=StepConfig(RetryPresets.none()))

    run = run_durable(handler, None, faults=faults)
    assert run.status == "FAILED"
    assert isinstance(run.error, StepError)
    assert run.error.error_type.endswith(".InjectedFault")
    assert str(run.error.message) == "injected fault in step 1 (f) attempt 1"


def test_step_latency_is_drawn_per_operation_and_per_attempt() -> None:
    """Each step attempt's overhead is its own draw from the profile's `step` distribution:
    two steps, or two attempts of one step, do not share one (log-normal draws never tie)."""
    profile = LatencyProfile(name="test-random-step", step=Dist(100.0, 0.5))
    starts: dict[tuple[str, int], float] = {}

    def timed(name: str, fail_first: bool) -> Any:
        def body(step_ctx: StepContext) -> int:
            starts[(name, step_ctx.attempt)] = current_clock().now_ms()
            if fail_first and step_ctx.attempt == 1:
                raise LookupError("down")
            return 0

        return body

    def handler(event: Any, ctx: DurableContext) -> int:
        ctx.step(timed("a", False), name="a")
        ctx.step(timed("b", False), name="b")
        return ctx.step(timed("c", True), name="c", config=StepConfig(retry(2, delay_s=1)))

    run_durable(handler, None, profile=profile, seed=3)
    draw_a = starts[("a", 1)]
    draw_b = starts[("b", 1)] - draw_a
    assert draw_a > 0 and draw_b > 0 and draw_a != pytest.approx(draw_b)
    c_first = starts[("c", 1)] - starts[("b", 1)]
    c_second = starts[("c", 2)] - starts[("c", 1)] - 1000.0
    assert c_first > 0 and c_second > 0 and c_first != pytest.approx(c_second)


def test_a_result_the_serdes_refuses_fails_the_step_the_same_on_replay() -> None:
    """A permanent serdes failure fails the step without its retry strategy; the FAIL
    checkpoint keeps the error, so replay raises the same `SerDesError` the first run did."""
    caught: list[tuple[str, str]] = []

    def handler(event: Any, ctx: DurableContext) -> int:
        try:
            ctx.step(lambda _: object(), name="opaque")
        except SerDesError as exc:
            caught.append((type(exc).__name__, str(exc.message)))
        ctx.wait(Duration.from_seconds(1), name="later")  # the next invocation replays
        return len(caught)

    run = run_durable(handler, None)
    assert (run.status, run.result) == ("SUCCEEDED", 2)
    assert run.metrics.invocations == 2 and caught[0] == caught[1]
    assert run.operation("opaque").status == "FAILED" and run.operation("opaque").attempts == 1
