"""Parking (``park_after_ms``): a failed invocation's retry parks as a timer does (a chained
invoke's parking: `tests/durable/test_runtime_chained_invokes.py`).

A failed invocation's retry (5 s later, `INVOCATION_RETRY_MS`) parks as a timer does.

With ``park_after_ms`` (workers) a run whose invocation failed gives its lease up and leaves
the execution ready in the journal's queue for the retry's time, instead of sleeping through
the 5 s with its lease held; whichever process claims it then runs the retry, once. Without
``park_after_ms`` the run sleeps through it with its lease held, as through a timer.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext

from durable_sim import run_durable
from durable_sim.clock import VirtualClock
from durable_sim.durable import MemoryJournal, SqliteJournal
from durable_sim.durable.runtime import INVOCATION_RETRY_MS, execute
from durable_sim.durable.worker import submit, wait_for_outcome
from durable_sim.faults import NO_FAULTS
from durable_sim.latency import ZERO, Sampler
from tests.durable.worker_functions import BadStr
from tests.durable.worker_process import start_worker


def _lease_row(path: Path) -> tuple[Any, ...]:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT owner, ready_at FROM executions").fetchone()
    assert row is not None
    return tuple(row)


def test_two_worker_processes_run_a_parked_retry_once_when_it_is_due(tmp_path: Path) -> None:
    """Two `durable-sim worker` processes on one SQLite journal: the first invocation fails;
    during the 5 s before its retry no one holds the lease and the execution is ready at the
    retry's time; then one worker claims it and runs the retry, once, no sooner."""
    path, side, log = tmp_path / "j.sqlite", tmp_path / "side", tmp_path / "log"
    with SqliteJournal(path) as journal:
        submit(journal, "fails_once", {"side": str(side), "id": "f"}, execution_id="f")
        workers = [start_worker(path, log, "--idle-exit-s", "6") for _ in range(2)]
        try:
            failure = None
            deadline = time.monotonic() + 60
            while failure is None:
                assert time.monotonic() < deadline, log.read_text()
                failure = next(
                    (
                        entry
                        for entry in journal.read_history("f")
                        if entry.event_type == "InvocationCompleted"
                    ),
                    None,
                )
                time.sleep(0.02)
            time.sleep(0.2)  # the run parks right after it records the failure
            owner, ready_at = _lease_row(path)
            assert owner is None  # no one sleeps through the retry delay with the lease
            assert ready_at == pytest.approx(
                (failure.at_ms + INVOCATION_RETRY_MS) / 1000.0, abs=1e-6
            )
            outcome = wait_for_outcome(journal, "f", timeout_s=60)
        finally:
            for worker in workers:
                worker.wait(timeout=60)
        assert (outcome.status, outcome.result) == ("SUCCEEDED", '"retried"'), log.read_text()
        lines = [line.split() for line in side.read_text().splitlines()]
        invokes = [line for line in lines if line[1] == "invoke"]
        assert [line[2] for line in invokes] == ["1", "2"]  # the retry ran once
        assert [line[1] for line in lines].count("s") == 2  # the step's body ran once
        assert float(invokes[1][5]) >= ready_at
        completed = [e for e in journal.read_history("f") if e.event_type == "InvocationCompleted"]
        assert [bool((e.details or {}).get("Error")) for e in completed] == [True, False]
        assert all(worker.returncode == 0 for worker in workers), log.read_text()


def _fails_once(ran: list[int]) -> Any:
    def handler(event: Any, ctx: DurableContext) -> str:
        ran.append(1)
        if len(ran) == 1:
            raise BadStr()
        return "retried"

    return handler


def test_a_run_without_park_after_ms_sleeps_through_the_retry_delay() -> None:
    ran: list[int] = []
    run = run_durable(_fails_once(ran), None)
    assert (run.status, run.result, len(ran)) == ("SUCCEEDED", "retried", 2)
    assert run.metrics.elapsed_ms == INVOCATION_RETRY_MS


def _execute(
    handler: Any, journal: MemoryJournal, park_after_ms: float | None, **options: Any
) -> Any:
    return execute(
        handler,
        "null",
        journal=journal,
        execution_id="p",
        clock=VirtualClock(),
        sampler=Sampler(ZERO, 0),
        faults=NO_FAULTS,
        park_after_ms=park_after_ms,
        **options,
    )


def test_a_parked_retry_resumed_early_parks_again_and_runs_when_due() -> None:
    """On the virtual clock (as a timer parks there): the run ends PENDING at the failure; a
    run that resumes the execution with ``park_after_ms`` under 5 s parks again, and one
    with a longer one runs the retry at the failure's time + 5 s."""
    ran: list[int] = []
    journal = MemoryJournal()
    first = _execute(_fails_once(ran), journal, 1.0)
    assert (first.status, len(ran)) == ("PENDING", 1)
    again = _execute(_fails_once(ran), journal, INVOCATION_RETRY_MS - 1)
    assert (again.status, len(ran)) == ("PENDING", 1)
    done = _execute(_fails_once(ran), journal, INVOCATION_RETRY_MS)
    assert (done.status, done.result, len(ran)) == ("SUCCEEDED", "retried", 2)
    starts = [
        (e.details or {})["StartTimestamp"]
        for e in journal.read_history("p")
        if e.event_type == "InvocationCompleted"
    ]
    assert starts == [0.0, INVOCATION_RETRY_MS]
