"""Fault injection: seeded step failures and crashes at checkpoint boundaries.

Every decision is keyed by *which* step attempt or checkpoint it concerns, so a plan gives the
same faults whatever order branches run in.

A crash (``crash_after_checkpoint=k``) is in-process by default: `SimulatedCrash` unwinds the
run right after its k-th checkpoint, and the caller resumes it with the same journal and
execution id. That is safe in a notebook or a test process. A real crash (``crash_mode="kill"``,
SIGKILL to the process itself) must be asked for explicitly *and* happens only in a dedicated
subprocess: one whose parent started it with `dedicated_crash_env` (the environment variable
`CRASH_PROCESS_ENV` set to ``"1"``). Anywhere else ``crash_mode="kill"`` is a `FaultPlanError`,
so a Jupyter kernel or a test runner is never killed by a fault plan.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from durable_sim.errors import DurableSimError, DurableSimInterrupt, FaultPlanError
from durable_sim.latency import stable_key_hash

#: Environment variable through which a parent marks a subprocess as dedicated to crash tests.
CRASH_PROCESS_ENV = "DURABLE_SIM_CRASH_PROCESS"


class InjectedFault(DurableSimError, RuntimeError):
    """The exception a faulty step attempt raises."""


class SimulatedCrash(DurableSimInterrupt):
    """An in-process stand-in for a crash: unwinds everything, nothing is caught on the way.

    A `BaseException` (through `DurableSimInterrupt`) so that workflow code's
    ``except Exception`` cannot swallow it. After catching it, run the same execution id on
    the same journal again to recover, as a restarted process would.
    """


def is_dedicated_crash_process() -> bool:
    """Whether this process was started as a dedicated crash subprocess (`dedicated_crash_env`)."""
    return os.environ.get(CRASH_PROCESS_ENV) == "1"


def dedicated_crash_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a subprocess that may SIGKILL itself with ``crash_mode="kill"``.

    `base` defaults to this process's environment; the result is a new dict with
    `CRASH_PROCESS_ENV` set, for ``subprocess.run(..., env=dedicated_crash_env())``.
    """
    env = dict(os.environ if base is None else base)
    env[CRASH_PROCESS_ENV] = "1"
    return env


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject into a run.

    - ``seed``: seeds the keyed failure draws (any int numpy accepts as a seed, e.g. 0..2**32-1).
    - ``step_failures``: step name or operation id -> the attempt numbers (1-based) that raise.
    - ``failure_probability``: chance that any step attempt raises, drawn per (op id, attempt).
    - ``crash_after_checkpoint``: crash right after the k-th checkpoint this process writes
      (k >= 1).
    - ``crash_mode``: ``"raise"`` (the default) raises `SimulatedCrash`, an in-process crash;
      ``"kill"`` sends SIGKILL to this process, a real crash, and is accepted only in a
      dedicated subprocess (`is_dedicated_crash_process`).

    Raises `FaultPlanError` (a `ValueError`) naming a bad value and its accepted range, or a
    ``"kill"`` asked for outside a dedicated subprocess.
    """

    seed: int = 0
    step_failures: Mapping[str, frozenset[int] | set[int] | tuple[int, ...]] = field(
        default_factory=dict
    )
    failure_probability: float = 0.0
    crash_after_checkpoint: int | None = None
    crash_mode: Literal["raise", "kill"] = "raise"

    def __post_init__(self) -> None:
        if not 0.0 <= self.failure_probability < 1.0:
            raise FaultPlanError(
                f"failure_probability must be in [0, 1), got {self.failure_probability}"
            )
        if self.crash_after_checkpoint is not None and self.crash_after_checkpoint < 1:
            raise FaultPlanError(
                f"crash_after_checkpoint must be >= 1, got {self.crash_after_checkpoint}"
            )
        if self.crash_mode not in ("raise", "kill"):
            raise FaultPlanError(f"crash_mode must be 'raise' or 'kill', got {self.crash_mode!r}")
        if self.crash_mode == "kill":
            _check_kill_allowed()
        for target, attempts in self.step_failures.items():
            bad = [a for a in attempts if not isinstance(a, int) or a < 1]
            if bad:
                raise FaultPlanError(
                    f"step_failures[{target!r}] has attempts {bad} (accepted: >= 1)"
                )

    def step_attempt_fails(self, op_id: str, name: str | None, attempt: int) -> bool:
        """Whether this step attempt should raise `InjectedFault`."""
        for target in (op_id, name):
            if target is not None and attempt in self.step_failures.get(target, ()):
                return True
        if self.failure_probability > 0.0:
            rng = np.random.default_rng([self.seed, stable_key_hash(("fault", op_id, attempt))])
            return bool(rng.random() < self.failure_probability)
        return False

    def after_checkpoint(self, count: int) -> None:
        """Crash if `count` (checkpoints written by this process so far) is the chosen one.

        Raises `SimulatedCrash` (mode ``"raise"``), or kills this process with SIGKILL (mode
        ``"kill"``, re-checked here in case the plan was built in another process).
        """
        if self.crash_after_checkpoint is None or count != self.crash_after_checkpoint:
            return
        if self.crash_mode == "kill":
            _check_kill_allowed()
            os.kill(os.getpid(), signal.SIGKILL)
        raise SimulatedCrash(f"simulated crash after checkpoint {count}")


def _check_kill_allowed() -> None:
    if not is_dedicated_crash_process():
        raise FaultPlanError(
            f"crash_mode='kill' would SIGKILL this process (pid {os.getpid()}), which is not a "
            f"dedicated subprocess (accepted: crash_mode='raise' here, or 'kill' in a subprocess "
            f"started with env=dedicated_crash_env(), which sets {CRASH_PROCESS_ENV}=1)"
        )


NO_FAULTS = FaultPlan()
"""A plan that injects nothing."""
