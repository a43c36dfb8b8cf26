"""Helper for the group-commit crash matrix: a map of concurrent branches on a SQLite journal,
on the wall clock (branches on threads, their checkpoints group-committed).

usage: python group_crash_workflow.py JOURNAL SIDE_CHANNEL [CRASH_AFTER_CHECKPOINT]
Each branch runs step ``a`` (at-least-once) and step ``b`` (at-most-once per retry); every body
appends ``item step attempt pid`` to SIDE_CHANNEL in one O_APPEND write. Prints the result.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    Duration,
    MapConfig,
    StepConfig,
    StepSemantics,
)
from aws_durable_execution_sdk_python.retries import RetryDecision

from durable_sim import FaultPlan, LeaseConfig, SqliteJournal, WallClock, run_durable

ITEMS = 12


def _again_after_a_second(error: Exception, attempt: int) -> RetryDecision:
    return RetryDecision(should_retry=attempt < 3, delay=Duration.from_seconds(1))


AT_MOST_ONCE = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=_again_after_a_second
)


def main() -> None:
    journal_path, side = sys.argv[1], sys.argv[2]
    crash_at = int(sys.argv[3]) if len(sys.argv) > 3 else None
    channel = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def body(item: int, step: str, attempt: int, value: int) -> int:
        os.write(channel, f"{item} {step} {attempt} {os.getpid()}\n".encode())
        time.sleep(0.002)  # some work, so branches overlap
        return value

    def branch(ctx: DurableContext, item: int, index: int, items: list[int]) -> int:
        a = ctx.step(lambda s: body(item, "a", s.attempt, item * 10), name="a")
        b = ctx.step(lambda s: body(item, "b", s.attempt, a + 1), name="b", config=AT_MOST_ONCE)
        return b

    def handler(event: Any, ctx: DurableContext) -> list[int]:
        result = ctx.map(list(range(ITEMS)), branch, config=MapConfig(max_concurrency=6))
        return result.get_results()

    faults = FaultPlan(crash_after_checkpoint=crash_at, crash_mode="kill") if crash_at else None
    with SqliteJournal(journal_path) as journal:
        run = run_durable(
            handler,
            None,
            journal=journal,
            execution_id="map",
            clock=WallClock(),
            faults=faults,
            lease=LeaseConfig(duration_s=2.0, on_busy="wait", poll_s=0.02),
        )
    print(json.dumps({"status": run.status, "result": run.result}))


if __name__ == "__main__":
    main()
