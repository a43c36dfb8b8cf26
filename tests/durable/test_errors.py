"""Terminal errors with clear messages: non-determinism, oversized checkpoints, input mismatch."""

from __future__ import annotations

from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.exceptions import NonDeterministicExecutionError

from durable_sim import (
    CheckpointTooLargeError,
    MemoryJournal,
    NonDeterminismError,
    run_durable,
)
from durable_sim.durable import (
    ExecutionBusyError,
    ExecutionInputMismatchError,
    OperationClosedError,
)


def _first_version(event: Any, ctx: DurableContext) -> str:
    ctx.step(lambda _: 1, name="fetch")
    ctx.wait(Duration.from_seconds(5))
    ctx.step(lambda _: 2, name="store")
    return "done"


def _replay_with(handler: Any) -> Any:
    """Run the first version up to its wait, then resume the execution with `handler`."""
    journal = MemoryJournal()
    crash_after_wait: list[int] = []

    def until_wait(event: Any, ctx: DurableContext) -> str:
        ctx.step(lambda _: 1, name="fetch")
        ctx.wait(Duration.from_seconds(5))
        crash_after_wait.append(1)
        raise KeyboardInterrupt  # stop the first run at its replay, like a deploy in between

    with pytest.raises(KeyboardInterrupt):
        run_durable(until_wait, None, journal=journal, execution_id="nd")
    return run_durable(handler, None, journal=journal, execution_id="nd")


def test_renamed_step_is_non_deterministic() -> None:
    def renamed(event: Any, ctx: DurableContext) -> str:
        ctx.step(lambda _: 1, name="fetch-v2")
        return "unreachable"

    run = _replay_with(renamed)
    assert run.status == "FAILED"
    assert isinstance(run.error, NonDeterminismError)
    message = str(run.error)
    assert "operation 1 (position 1)" in message
    assert "the journal has STEP (Step) 'fetch'" in message
    assert "the code now calls STEP (Step) 'fetch-v2'" in message


def test_wait_replaced_by_step_even_when_caught() -> None:
    after: list[str] = []

    def swallowing(event: Any, ctx: DurableContext) -> str:
        ctx.step(lambda _: 1, name="fetch")
        try:
            ctx.step(lambda _: 0, name="sleep-step")
        except Exception:
            after.append("caught")
        return "pretends to succeed"

    run = _replay_with(swallowing)
    assert after == ["caught"]
    assert run.status == "FAILED"
    assert isinstance(run.error, NonDeterminismError)
    assert (run.error.op_id, run.error.journaled, run.error.new) == (
        "2",
        "WAIT (Wait) without a name",
        "STEP (Step) 'sleep-step'",
    )


def test_non_determinism_in_child_names_the_position_in_the_child() -> None:
    def second(event: Any, ctx: DurableContext) -> None:
        def child(c: DurableContext) -> None:
            c.step(lambda _: 1, name="a")
            c.step(lambda _: 1, name="b")

        ctx.run_in_child_context(child, name="c")

    journal2 = MemoryJournal()
    with pytest.raises(KeyboardInterrupt):

        def partial(event: Any, ctx: DurableContext) -> None:
            def child(c: DurableContext) -> None:
                c.step(lambda _: 1, name="a")
                c.wait(Duration.from_seconds(1))
                raise KeyboardInterrupt

            ctx.run_in_child_context(child, name="c")

        run_durable(partial, None, journal=journal2, execution_id="y")
    run = run_durable(second, None, journal=journal2, execution_id="y")
    assert isinstance(run.error, NonDeterminismError)
    assert "operation 1.2 (position 2 of child context 1)" in str(run.error)


def test_oversized_step_result_fails_with_size_and_limit() -> None:
    def handler(event: Any, ctx: DurableContext) -> None:
        try:  # noqa: SIM105 - workflow code trying to swallow the error
            ctx.step(lambda _: "x" * 300_000, name="blob")
        except Exception:
            pass

    run = run_durable(handler, None)
    assert run.status == "FAILED"
    assert isinstance(run.error, CheckpointTooLargeError)
    message = str(run.error)
    assert "operation 1 (Step 'blob' (id 1))" in message
    assert "less than or equal to 262144 bytes" in message
    assert run.error.size == 300_002  # the serialized payload: the string and its quotes


def test_same_execution_id_with_different_input() -> None:
    journal = MemoryJournal()
    handler = _first_version
    assert run_durable(handler, {"n": 1}, journal=journal, execution_id="e").status == ("SUCCEEDED")
    with pytest.raises(ExecutionInputMismatchError, match=r"exists with input '\{\"n\": 1\}'"):
        run_durable(handler, {"n": 2}, journal=journal, execution_id="e")
    again = run_durable(handler, {"n": 1}, journal=journal, execution_id="e")
    assert (again.status, again.result, again.metrics.invocations) == ("SUCCEEDED", "done", 0)


def test_non_determinism_error_names_the_operation_and_both_versions() -> None:
    error = NonDeterminismError("3.1.2", "STEP (Step) 'a'", "WAIT (Wait) without a name")
    assert str(error) == (
        "non-deterministic replay at operation 3.1.2 (position 2 of child context 3.1): the "
        "journal has STEP (Step) 'a', the code now calls WAIT (Wait) without a name. Workflow "
        "code must issue the same operations in the same order on every replay; move "
        "non-deterministic logic into steps."
    )
    assert isinstance(error, NonDeterministicExecutionError) and error.step_id == "3.1.2"
    assert (error.op_id, error.journaled, error.new) == (
        "3.1.2",
        "STEP (Step) 'a'",
        "WAIT (Wait) without a name",
    )
    assert "at operation 4 (position 4):" in str(NonDeterminismError("4", "x", "y"))


def test_checkpoint_too_large_error_states_size_and_limit() -> None:
    error = CheckpointTooLargeError("2", "result", 262_145)
    assert str(error) == (
        "checkpoint payload of operation 2 (result) is 262145 bytes; a payload must be less "
        "than or equal to 262144 bytes (UTF-8 of the serialized value). Return a reference "
        "(e.g. a blob key) instead of the data"
    )
    assert (error.op_id, error.size, error.limit) == ("2", 262_145, 262_144)
    assert CheckpointTooLargeError("2", "input", 5, limit=4).limit == 4


def test_execution_busy_error_names_the_holder_and_the_time_left() -> None:
    error = ExecutionBusyError("e", "worker-2", 7, 12.36)
    assert str(error) == (
        "execution 'e' is being run by worker-2 (lease epoch 7, 12.4 s left unless renewed); "
        "no step was run. Wait for it (LeaseConfig(on_busy='wait')) or try again after the "
        "lease ends"
    )
    assert (error.execution_id, error.owner, error.epoch, error.expires_in_s) == (
        "e",
        "worker-2",
        7,
        12.36,
    )
    assert "(lease epoch 1, 0.0 s left" in str(ExecutionBusyError("e", "w", 1, -3.0))


def test_operation_closed_error_lists_the_ended_operations() -> None:
    error = OperationClosedError("e", ["1", "2.1"])
    assert str(error) == (
        "execution 'e': operation(s) ['1', '2.1'] already ended in the journal; a terminal "
        "record is never replaced, and nothing of this append was written"
    )
    assert (error.execution_id, error.op_ids) == ("e", ["1", "2.1"])
