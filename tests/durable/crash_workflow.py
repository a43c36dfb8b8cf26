"""Helper script for the crash-recovery tests: a 12-step workflow on a SQLite journal.

usage: python crash_workflow.py JOURNAL SIDE_CHANNEL [CRASH_AFTER_CHECKPOINT]
Each step body appends its name to SIDE_CHANNEL; the result is printed as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aws_durable_execution_sdk_python import DurableContext

from durable_sim import FaultPlan, LeaseConfig, SqliteJournal, run_durable

STEPS = 12
EXECUTION_ID = "crash-recovery"
# The killed process's lease blocks the next one until it expires: a short one, waited for.
LEASE = LeaseConfig(duration_s=2.0, on_busy="wait")


def main() -> None:
    journal_path, side_channel = sys.argv[1], sys.argv[2]
    crash_at = int(sys.argv[3]) if len(sys.argv) > 3 else None

    def handler(event: Any, ctx: DurableContext) -> dict[str, Any]:
        total = event["start"]
        for i in range(STEPS):

            def body(_: Any, i: int = i, total: int = total) -> int:
                with open(side_channel, "a") as f:
                    f.write(f"s{i}\n")
                return total * 3 + i

            total = ctx.step(body, name=f"s{i}") % 100_003
        return {"total": total}

    faults = FaultPlan(crash_after_checkpoint=crash_at, crash_mode="kill") if crash_at else None
    with SqliteJournal(journal_path) as journal:
        run = run_durable(
            handler,
            {"start": 7},
            journal=journal,
            execution_id=EXECUTION_ID,
            faults=faults,
            lease=LEASE,
        )
    print(json.dumps({"status": run.status, "result": run.result}))


if __name__ == "__main__":
    main()
