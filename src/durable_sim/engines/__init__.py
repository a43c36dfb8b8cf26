"""`run_durable`: one entry point for a durable handler on our engine or on AWS's local runner."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from durable_sim.clock import Clock, VirtualClock
from durable_sim.durable import (
    DurableRun,
    FunctionRegistry,
    Journal,
    LeaseConfig,
    MemoryJournal,
    Responder,
    execute,
    unwrap_handler,
)
from durable_sim.durable.runtime import check_started_execution_id
from durable_sim.faults import NO_FAULTS, FaultPlan
from durable_sim.latency import ZERO, LatencyProfile, Sampler

ENGINES = ("sim", "aws-local")

__all__ = ["ENGINES", "run_durable", "unwrap_handler"]


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
    functions: Mapping[str, Callable[..., Any]] | None = None,
    responder: Responder | None = None,
    lease: LeaseConfig | None = None,
) -> DurableRun:
    """Run a durable handler to its end (or to a wait on the outside world) and report it.

    `handler` is a function decorated with the SDK's ``@durable_execution`` or a plain
    ``(event, context)`` function; `event` must be JSON data. On ``engine="sim"`` the journal
    (memory by default), clock (virtual by default), latency profile and fault plan are ours
    to choose; `seed` fixes every latency draw and retry jitter; `functions` maps names to the
    durable functions ``context.invoke`` may call (each invoked execution runs inside this run,
    on the caller's journal and lease options, to its end or to a wait on the outside world,
    after which the caller stops PENDING too; the child's end, whoever reaches it, makes the
    caller ready for workers: `durable_sim.durable.runtime.execute`);
    `responder(callback_id, record)` returns the `CallbackAnswer` list with which the outside
    world answers each new callback (success, failure, heartbeat, each ``after_s`` seconds
    after the callback was created), and each
    callback still open in an execution the run resumes (an answer already due comes at once).
    On the virtual clock a callback nobody answers times out at its timeout; without a timeout
    the run returns PENDING with its id in ``pending_callbacks``. `execution_id` names the
    execution to start or resume (a non-empty string; ``None`` starts a new one with a random
    id; an id naming a chained invoke's execution, ``<caller>/invoke-<operation id>``, only
    resumes one its invoke started: `check_started_execution_id`); the run holds its lease as
    `lease` says (`durable_sim.durable.lease`: another process
    running it raises `ExecutionBusyError`, or is waited for).

    ``engine="aws-local"`` runs the handler on the official `DurableFunctionTestRunner`
    (`durable_sim.engines.aws_local`); it takes `functions` and `responder` (whose answers it
    sends in ``after_s`` order, since the runner skips time) and none of the sim-only options.
    Raises ValueError for an unknown engine, an option the engine does not take, or a bad
    `execution_id`; a `JournalError` when the journal fails (nothing is recorded as the
    execution's outcome then).
    """
    if engine == "sim":
        registry = (
            functions if isinstance(functions, FunctionRegistry) else FunctionRegistry(functions)
        )
        user_function = unwrap_handler(handler)
        journal = journal if journal is not None else MemoryJournal()
        return execute(
            user_function,
            json.dumps(event),
            journal=journal,
            execution_id=check_started_execution_id(
                journal,
                f"execution-{os.urandom(6).hex()}" if execution_id is None else execution_id,
            ),
            clock=clock if clock is not None else VirtualClock(),
            sampler=Sampler(profile or ZERO, seed),
            faults=faults or NO_FAULTS,
            functions=registry,
            responder=responder,
            function_name=getattr(user_function, "__name__", "handler"),
            lease=lease,
        )
    if engine == "aws-local":
        given = {
            "journal": journal,
            "clock": clock,
            "profile": profile,
            "faults": faults,
            "execution_id": execution_id,
            "lease": lease,
        }
        unsupported = sorted(k for k, v in given.items() if v is not None)
        if unsupported:
            raise ValueError(
                f"engine 'aws-local' does not take {', '.join(unsupported)} "
                "(they are options of engine 'sim')"
            )
        from durable_sim.engines.aws_local import run_on_local_runner

        return run_on_local_runner(handler, event, responder=responder, functions=functions)
    raise ValueError(f"unknown engine {engine!r} (accepted: {', '.join(repr(e) for e in ENGINES)})")
