"""An invocation whose process dies before it writes anything is recorded as crashed when the
execution resumes, as AWS records a runtime that exited: an InvocationCompleted event with a
``Runtime.ExitError`` (``durable_sim.durable.history``). Formerly only a death after the
invocation's first checkpoint was recorded; one that came right after a failed invocation (its
retry), right after a wait ended, or in the very first invocation left no trace (the
execution's invocation count short by the dead ones, no cold start charged after them).

The trace is the lease: a dead holder never released it (`Lease.taken_over`). The failed
invocation count stays break8's: a death neither counts nor resets it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import LeaseConfig, run_durable
from durable_sim.durable import MemoryJournal
from durable_sim.durable.journal import HistoryEntry
from durable_sim.durable.runtime import INVOCATION_RETRY_MS, MAX_FAILED_INVOCATIONS
from durable_sim.faults import SimulatedCrash, dedicated_crash_env
from durable_sim.latency import Dist, LatencyProfile
from tests.durable.conftest import JournalBackend

HELPER = Path(__file__).with_name("silent_crash_process.py")
EXIT_ERROR = "Runtime.ExitError"
COLD_MS = 250.0


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str broke")


def _kinds(history: list[HistoryEntry]) -> list[str | None]:
    """The ErrorType of each recorded invocation, None for a clean one."""
    return [
        ((entry.details or {}).get("Error") or {}).get("ErrorType")
        for entry in history
        if entry.event_type == "InvocationCompleted"
    ]


def test_a_retry_killed_before_it_wrote_anything_is_recorded_as_crashed(
    shared_backend: JournalBackend, tmp_path: Path
) -> None:
    """A real process: its first invocation fails, its retry (5 s later, virtual) blocks before
    any checkpoint and is killed with SIGKILL. The run that resumes the execution records the
    retry as crashed (from when it was due to the last thing recorded), charges a cold start,
    and the execution's invocation count includes it; the failure count goes on (one failure,
    the death passed over: four more end the execution)."""
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, str(HELPER), shared_backend.name, shared_backend.location, str(ready)],
        env=dedicated_crash_env(),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the retry never began"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    ran: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> str:
        ran.append(1)
        ctx.step(lambda _: "a", name="a")
        raise BadStr()

    profile = LatencyProfile(name="cold", cold_start=Dist(COLD_MS))
    lease = LeaseConfig(duration_s=1.0, on_busy="wait", wait_timeout_s=30.0)
    journal = shared_backend.open()
    run = run_durable(
        handler, None, journal=journal, execution_id="silent", lease=lease, profile=profile
    )
    assert run.status == "FAILED"
    history = journal.read_history("silent")
    kinds = _kinds(history)
    assert kinds == ["RuntimeError", EXIT_ERROR] + ["RuntimeError"] * 4
    assert len(ran) == MAX_FAILED_INVOCATIONS - 1  # this run's four
    completed = [e for e in history if e.event_type == "InvocationCompleted"]
    failed_at = completed[0].at_ms
    crash = completed[1].details or {}
    assert crash["StartTimestamp"] == failed_at + INVOCATION_RETRY_MS  # when the retry was due
    assert crash["EndTimestamp"] >= crash["StartTimestamp"]
    # A new runtime after the death: the first invocation of this run begins after a cold start.
    assert (completed[2].details or {})["StartTimestamp"] == crash["EndTimestamp"] + COLD_MS
    assert journal.get_execution("silent").invocations == len(completed) == 6  # type: ignore[union-attr]


@settings(max_examples=examples(60), derandomize=True, database=None, deadline=None)
@given(
    plan=st.lists(st.sampled_from(["die", "fail", "ok"]), min_size=1, max_size=9),
)
def test_every_invocation_begun_is_recorded_once_whatever_dies_where(plan: list[str]) -> None:
    """A workflow (a step, a 1 s wait, a step) whose invocation n does what `plan[n]` says at
    its start (dies before writing anything, goes on and fails after the wait, or goes on;
    "ok" past the plan): each death is resumed by a new run. Every invocation the handler
    began is recorded exactly once, in order, as what it did (a death as AWS's
    ``Runtime.ExitError``); the execution fails exactly when five invocations in a row failed,
    deaths passed over."""
    did: list[str] = []  # what each invocation did: died, failed, suspended, succeeded

    def handler(event: Any, ctx: DurableContext) -> str:
        n = len(did)
        act = plan[n] if n < len(plan) else "ok"
        did.append("suspended")
        if act == "die":
            did[-1] = "died"
            raise SimulatedCrash("the process dies")
        ctx.step(lambda _: 1, name="a")
        ctx.wait(Duration.from_seconds(1))
        if act == "fail":
            did[-1] = "failed"
            raise BadStr()
        ctx.step(lambda _: 2, name="b")
        did[-1] = "succeeded"
        return "done"

    journal = MemoryJournal()
    for _ in range(len(plan) + 1):
        try:
            run = run_durable(handler, None, journal=journal, execution_id="p")
            break
        except SimulatedCrash:
            continue
    kind = {"died": EXIT_ERROR, "failed": "RuntimeError", "suspended": None, "succeeded": None}
    assert _kinds(journal.read_history("p")) == [kind[d] for d in did]
    run_of_failures, longest = 0, 0
    for d in did:
        if d == "failed":
            run_of_failures += 1
        elif d != "died":
            run_of_failures = 0
        longest = max(longest, run_of_failures)
    assert run.status == ("FAILED" if longest >= MAX_FAILED_INVOCATIONS else "SUCCEEDED")
    assert journal.get_execution("p").invocations == len(did)  # type: ignore[union-attr]


def test_a_take_tells_whether_its_holder_released_the_lease(backend: JournalBackend) -> None:
    """`Lease.taken_over` on each journal: False for the first take and after a release, True
    after a holder let its lease lapse without releasing it (a dead process)."""
    journal = backend.open()
    started = HistoryEntry("ExecutionStarted", 0.0, None, {"Input": "null"})

    def take(owner: str) -> Any:
        return journal.open_execution("t", "null", started, owner=owner, lease_s=30.0).lease

    first = take("a")
    assert first.taken_over is False
    journal.renew(first, 0.0)  # lapsed, never released
    second = take("b")
    assert second.taken_over is True
    journal.release(second)
    assert take("c").taken_over is False
