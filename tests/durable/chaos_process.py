"""Helper for chaos test (a): one of N processes that resume one execution again and again.

usage: python chaos_process.py JOURNAL SIDE_CHANNEL STEPS SEED START_DIR

The process marks itself ready in START_DIR and starts once the file ``go`` appears there, so
all processes start together. Each round it resumes execution ``one`` (waiting for the lease
while another process holds it) and crashes in-process after a random number of checkpoints
(its lease then lapses at once, as a dead process's would after its duration), then restarts
after a random pause, until the execution has an outcome. It prints that outcome as JSON. Step
bodies log to SIDE_CHANNEL (`worker_functions.record`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from aws_durable_execution_sdk_python import DurableContext

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from durable_sim import FaultPlan, LeaseConfig, SimulatedCrash, SqliteJournal, run_durable
from tests.durable.worker_functions import token_body

EXECUTION_ID = "one"


def main() -> None:
    journal_path, side, steps, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    start = Path(sys.argv[5])
    rng = np.random.default_rng(seed)
    event = {"side": side, "id": EXECUTION_ID}

    def handler(_: Any, ctx: DurableContext) -> list[str]:
        return [ctx.step(token_body(event, f"s{i}", 0.002), name=f"s{i}") for i in range(steps)]

    lease = LeaseConfig(duration_s=5.0, on_busy="wait", poll_s=0.005)
    (start / str(seed)).touch()
    while not (start / "go").exists():
        time.sleep(0.005)
    with SqliteJournal(journal_path) as journal:
        while True:
            crash = FaultPlan(crash_after_checkpoint=int(rng.integers(1, 4)), crash_mode="raise")
            try:
                run = run_durable(
                    handler,
                    None,
                    journal=journal,
                    execution_id=EXECUTION_ID,
                    lease=lease,
                    faults=crash,
                )
            except SimulatedCrash:
                # A restarting process takes a moment: 20-100 ms, many of the others' 5 ms polls,
                # so the lease changes hands even when a loaded host schedules them late (with
                # 0-20 ms, one process of two ran every step at load 25).
                time.sleep(float(rng.uniform(0.02, 0.1)))
                continue
            break
    print(json.dumps({"status": run.status, "result": run.result}))


if __name__ == "__main__":
    main()
