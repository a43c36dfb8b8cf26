"""`run_durable`: one entry point for a durable handler on our engine or on AWS's local runner."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from durable_sim.clock import Clock, VirtualClock
from durable_sim.durable import DurableRun, Journal, MemoryJournal, execute
from durable_sim.faults import NO_FAULTS, FaultPlan
from durable_sim.latency import ZERO, LatencyProfile, Sampler

ENGINES = ("sim", "aws-local")


def unwrap_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The user function behind the SDK's ``@durable_execution`` wrapper (or `handler` itself)."""
    code = getattr(handler, "__code__", None)
    is_sdk_wrapper = (
        code is not None
        and code.co_name == "wrapper"
        and code.co_filename.replace("\\", "/").endswith(
            "aws_durable_execution_sdk_python/execution.py"
        )
    )
    return handler.__wrapped__ if is_sdk_wrapper else handler  # type: ignore[attr-defined]


def run_durable(
    handler: Callable[..., Any],
    event: Any = None,
    *,
    engine: str = "sim",
    journal: Journal | None = None,
    clock: Clock | None = None,
    profile: LatencyProfile | None = None,
    faults: FaultPlan | None = None,
    execution_id: str | None = None,
    seed: int = 0,
) -> DurableRun:
    """Run a durable handler to its end (or to a wait on a callback) and report what happened.

    `handler` is a function decorated with the SDK's ``@durable_execution`` or a plain
    ``(event, context)`` function. On ``engine="sim"`` the journal (memory by default),
    clock (virtual by default), latency profile and fault plan are ours to choose; `seed`
    fixes every latency draw and retry jitter. ``engine="aws-local"`` runs the handler on the
    official `DurableFunctionTestRunner`; it accepts none of the sim-only options.
    """
    if engine == "sim":
        return execute(
            unwrap_handler(handler),
            event,
            journal=journal if journal is not None else MemoryJournal(),
            execution_id=execution_id or f"execution-{uuid.uuid4().hex[:12]}",
            clock=clock if clock is not None else VirtualClock(),
            sampler=Sampler(profile or ZERO, seed),
            faults=faults or NO_FAULTS,
        )
    if engine == "aws-local":
        given = {
            "journal": journal,
            "clock": clock,
            "profile": profile,
            "faults": faults,
            "execution_id": execution_id,
        }
        unsupported = sorted(k for k, v in given.items() if v is not None)
        if unsupported:
            raise ValueError(
                f"engine 'aws-local' does not take {', '.join(unsupported)} "
                "(they are options of engine 'sim')"
            )
        from durable_sim.engines.aws_local import run_on_local_runner

        return run_on_local_runner(handler, event)
    raise ValueError(f"unknown engine {engine!r} (accepted: {', '.join(repr(e) for e in ENGINES)})")
