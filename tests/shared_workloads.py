"""Test plumbing for ``jobs=2``: user workloads whose runs make sure a spawned worker takes part.

`shared(workload, name)` wraps each runner: every run leaves a mark ``<pid>-<run_id>`` in the
directory named by the environment variable `MARKS` (``<parent pid>:<directory>``, set by the
test and inherited by the workers), and the parent's run 0 waits (at most 60 s) until a worker
has left one. Without the wait the parent could finish every run before a worker has started,
and a test of what reaches the workers would pass without one. Importing the module registers
``order-shared`` (from `user_workload.ORDER`) and ``order-class-shared`` (from the decorated
class) at its top level, so workers get them by importing it.
"""

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from user_workload import ORDER

from durable_sim.workloads import RunEnv, RunValues, Workload, get_workload, register_workload

MARKS = "DURABLE_SIM_TEST_MARKS"


def _marking(runner: Callable[[Any, RunEnv], RunValues]) -> Callable[[Any, RunEnv], RunValues]:
    def run(spec: Any, env: RunEnv) -> RunValues:
        parent, _, directory = os.environ[MARKS].partition(":")
        Path(directory, f"{os.getpid()}-{env.run_id}").touch()
        if str(os.getpid()) == parent and env.run_id == 0:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(not mark.startswith(f"{parent}-") for mark in os.listdir(directory)):
                    break
                time.sleep(0.01)
        return runner(spec, env)

    return run


def shared(workload: Workload, name: str) -> Workload:
    """`workload` under `name` with marking runners (see the module docstring)."""
    runners = {model: _marking(runner) for model, runner in workload.runners.items()}
    return replace(workload, name=name, runners=runners)


def worker_pids(directory: Path) -> set[str]:
    """The pids that left marks in `directory`."""
    return {mark.split("-")[0] for mark in os.listdir(directory)}


register_workload(shared(ORDER, "order-shared"))
register_workload(shared(get_workload("order-class"), "order-class-shared"))
