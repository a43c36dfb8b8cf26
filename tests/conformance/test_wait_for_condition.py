"""AWS's ``wait_for_condition`` requirements (6-N), each with our own handler written from its
description."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration, JitterStrategy
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

from .harness import Case, assert_conforms, parameters
from .known import RUNNER_NO_STATE_ON_POLL


def poll_while(
    keep_polling: Callable[[Any], bool], max_attempts: int = 60, delay_s: int = 1
) -> Callable[[Any, int], WaitForConditionDecision]:
    """A fixed-delay strategy (no jitter, no backoff) that polls while `keep_polling(state)`."""
    return create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=keep_polling,
            max_attempts=max_attempts,
            initial_delay=Duration.from_seconds(delay_s),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )


def increment(state: int, check_ctx: Any) -> int:
    return state + 1


def count_to_threshold(event: int, context: DurableContext) -> int:
    config = WaitForConditionConfig(wait_strategy=poll_while(lambda s: s < event), initial_state=0)
    return context.wait_for_condition(increment, config)


def already_satisfied(event: int, context: DurableContext) -> int:
    config = WaitForConditionConfig(wait_strategy=poll_while(lambda s: s < 5), initial_state=5)
    return context.wait_for_condition(lambda state, _: state, config)


def named_poll(event: int, context: DurableContext) -> int:
    config = WaitForConditionConfig(wait_strategy=poll_while(lambda s: s < 2), initial_state=0)
    return context.wait_for_condition(increment, config, name="poll-status")


def seeded_initial_state(event: int, context: DurableContext) -> int:
    config = WaitForConditionConfig(wait_strategy=poll_while(lambda s: s < event), initial_state=5)
    return context.wait_for_condition(increment, config)


def fixed_delay(event: int, context: DurableContext) -> int:
    config = WaitForConditionConfig(
        wait_strategy=poll_while(lambda s: s < event, delay_s=2), initial_state=0
    )
    return context.wait_for_condition(increment, config)


def never_met(event: int, context: DurableContext) -> int:
    config = WaitForConditionConfig(
        wait_strategy=poll_while(lambda s: True, max_attempts=3), initial_state=event
    )
    return context.wait_for_condition(increment, config)


def raising_check(state: int, check_ctx: Any) -> int:
    raise RuntimeError("the check cannot read the status")


def check_raises(event: Any, context: DurableContext) -> int:
    config = WaitForConditionConfig(wait_strategy=poll_while(lambda s: s < 3), initial_state=0)
    return context.wait_for_condition(raising_check, config)


def check_raises_caught(event: Any, context: DurableContext) -> Any:
    config = WaitForConditionConfig(wait_strategy=poll_while(lambda s: s < 3), initial_state=0)
    try:
        return context.wait_for_condition(raising_check, config)
    except Exception:
        return "recovered"


def advance_job(state: dict[str, Any], check_ctx: Any) -> dict[str, Any]:
    attempts = state["attempts"] + 1
    return {"status": "DONE" if attempts >= 2 else "PENDING", "attempts": attempts}


def structured_state(event: Any, context: DurableContext) -> dict[str, Any]:
    config = WaitForConditionConfig(
        wait_strategy=poll_while(lambda s: s["status"] == "PENDING"),
        initial_state={"status": "PENDING", "attempts": 0},
    )
    return context.wait_for_condition(advance_job, config)


def stop_on_first_check(state: Any, attempts_made: int) -> WaitForConditionDecision:
    return WaitForConditionDecision.stop_polling()


def null_state(event: Any, context: DurableContext) -> Any:
    config = WaitForConditionConfig(wait_strategy=stop_on_first_check, initial_state=0)
    return context.wait_for_condition(lambda state, _: None, config)


class PrefixedSerDes(SerDes[str]):
    """Stores a string state as ``"state:<value>"`` and strips the prefix when reading it back."""

    def serialize(self, value: str, serdes_context: SerDesContext) -> str:
        return f"state:{value}"

    def deserialize(self, data: str, serdes_context: SerDesContext) -> str:
        if not data.startswith("state:"):
            raise ValueError(f"not a serialized state: {data!r}")
        return data.removeprefix("state:")


def custom_state_serdes(event: Any, context: DurableContext) -> str:
    config = WaitForConditionConfig(
        wait_strategy=poll_while(lambda s: len(s) < 2), initial_state="", serdes=PrefixedSerDes()
    )
    return context.wait_for_condition(lambda state, _: state + "x", config)


def result_feeds_step(event: int, context: DurableContext) -> int:
    config = WaitForConditionConfig(wait_strategy=poll_while(lambda s: s < event), initial_state=0)
    reached = context.wait_for_condition(increment, config)
    return context.step(lambda _: reached * 10, name="multiply")


def two_conditions(event: Any, context: DurableContext) -> int:
    first = context.wait_for_condition(
        increment,
        WaitForConditionConfig(wait_strategy=poll_while(lambda s: s < 2), initial_state=0),
    )
    return context.wait_for_condition(
        increment,
        WaitForConditionConfig(wait_strategy=poll_while(lambda s: s < 4), initial_state=first),
    )


CASES: dict[str, Case] = {
    "6-1": Case(count_to_threshold, known={"aws-local": RUNNER_NO_STATE_ON_POLL}),
    "6-2": Case(already_satisfied),
    "6-3": Case(named_poll, known={"aws-local": RUNNER_NO_STATE_ON_POLL}),
    "6-4": Case(seeded_initial_state, known={"aws-local": RUNNER_NO_STATE_ON_POLL}),
    "6-5": Case(fixed_delay, known={"aws-local": RUNNER_NO_STATE_ON_POLL}),
    "6-6": Case(never_met),
    "6-7": Case(check_raises),
    "6-8": Case(check_raises_caught),
    "6-9": Case(structured_state),
    "6-10": Case(null_state),
    "6-11": Case(custom_state_serdes),
    "6-12": Case(result_feeds_step, known={"aws-local": RUNNER_NO_STATE_ON_POLL}),
    "6-13": Case(two_conditions, known={"aws-local": RUNNER_NO_STATE_ON_POLL}),
}


@pytest.mark.parametrize(("req_id", "engine"), parameters("wait_for_condition", CASES))
def test_wait_for_condition_requirement(req_id: str, engine: str) -> None:
    assert_conforms(req_id, CASES[req_id], engine)
