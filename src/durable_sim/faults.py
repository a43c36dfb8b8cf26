"""Fault injection: seeded step failures and crashes at checkpoint boundaries.

Every decision is keyed by *which* step attempt or checkpoint it concerns, so a plan gives the
same faults whatever order branches run in.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from durable_sim.latency import stable_key_hash


class InjectedFault(RuntimeError):
    """The exception a faulty step attempt raises."""


class SimulatedCrash(BaseException):
    """An in-process stand-in for a crash: unwinds everything, nothing is caught on the way.

    A `BaseException` so that workflow code's `except Exception` cannot swallow it.
    """


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject into a run.

    - ``step_failures``: step name or operation id -> the attempt numbers (1-based) that raise.
    - ``failure_probability``: chance that any step attempt raises, drawn per (op id, attempt).
    - ``crash_after_checkpoint``: crash right after the k-th checkpoint this process writes.
    - ``crash_mode``: ``"kill"`` sends SIGKILL to the process (a real crash); ``"raise"``
      raises `SimulatedCrash` (for in-process tests).
    """

    seed: int = 0
    step_failures: Mapping[str, frozenset[int] | set[int] | tuple[int, ...]] = field(
        default_factory=dict
    )
    failure_probability: float = 0.0
    crash_after_checkpoint: int | None = None
    crash_mode: Literal["kill", "raise"] = "kill"

    def __post_init__(self) -> None:
        if not 0.0 <= self.failure_probability < 1.0:
            raise ValueError(
                f"failure_probability must be in [0, 1), got {self.failure_probability}"
            )
        if self.crash_after_checkpoint is not None and self.crash_after_checkpoint < 1:
            raise ValueError(
                f"crash_after_checkpoint must be >= 1, got {self.crash_after_checkpoint}"
            )
        if self.crash_mode not in ("kill", "raise"):
            raise ValueError(f"crash_mode must be 'kill' or 'raise', got {self.crash_mode!r}")
        for target, attempts in self.step_failures.items():
            bad = [a for a in attempts if not isinstance(a, int) or a < 1]
            if bad:
                raise ValueError(f"step_failures[{target!r}] has attempts {bad} (accepted: >= 1)")

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
        """Crash if `count` (checkpoints written by this process so far) is the chosen one."""
        if self.crash_after_checkpoint is None or count != self.crash_after_checkpoint:
            return
        if self.crash_mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise SimulatedCrash(f"simulated crash after checkpoint {count}")


NO_FAULTS = FaultPlan()
