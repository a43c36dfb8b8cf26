"""A workload whose runs wait at a gate: for tests that must stop a process while its runs are
known to be in progress (a sweep killed while its pool workers run points).

Importing the module registers ``gated``: `user_workload`'s order in both models, except that
each run first writes ``started-<pid>`` into the directory named by the environment variable
`GATE_ENV` and waits until a file ``open`` appears there (at most `GATE_WAIT_S` seconds). With
the variable unset, runs do not wait.
"""

import os
import time
from pathlib import Path
from typing import Any

from user_workload import run_baseline_order, run_durable_order

from durable_sim.workloads import RunEnv, RunValues, Workload, no_labels, register_workload

GATE_ENV = "DURABLE_SIM_TEST_GATE"
GATE_WAIT_S = 120.0


def _wait_at_gate() -> None:
    gate = os.environ.get(GATE_ENV)
    if not gate:
        return
    (Path(gate) / f"started-{os.getpid()}").touch()
    deadline = time.monotonic() + GATE_WAIT_S
    while not (Path(gate) / "open").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def run_durable_gated(spec: Any, env: RunEnv) -> RunValues:
    _wait_at_gate()
    return run_durable_order(spec, env)


def run_baseline_gated(spec: Any, env: RunEnv) -> RunValues:
    _wait_at_gate()
    return run_baseline_order(spec, env)


GATED = register_workload(
    Workload(
        name="gated",
        phase="order",
        runners={"durable": run_durable_gated, "baseline": run_baseline_gated},
        store_purposes=("order_read", "order_write"),
        labels=no_labels,
        description="an order whose runs wait at a gate",
    )
)
