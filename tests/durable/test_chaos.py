"""Chaos: many processes on one journal, processes killed at random moments, a database that
restarts and crashes under running workers. Every step body logs itself to a side channel (one
O_APPEND write per line), and each chaos step returns a token naming its body run, so the
journal says whose completion it kept.

What must hold (`durable_sim.durable.lease`): every execution completes with the journal's
result for every caller; no two processes ever run bodies of one execution at the same time;
no completed step runs again (the completion the journal kept is the last body run of its step);
each step completes once in the history.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from durable_sim import send_callback_success
from durable_sim.durable import Journal, JournalError, PostgresJournal, SqliteJournal
from durable_sim.durable.worker import submit, wait_for_outcome
from durable_sim.pgcluster import PostgresCluster
from tests.durable.worker_process import start_worker

HERE = Path(__file__).parent


@dataclass
class Body:
    """One step body run: when it began, and when it ended (or its process died)."""

    execution: str
    step: str
    pid: int
    token: str
    begin: float
    end: float | None = None


def read_bodies(side: Path, deaths: dict[int, float]) -> list[Body]:
    """The body runs in the side channel, in the order they began; one that never ended ends
    when its process was killed (`deaths`: pid -> time)."""
    bodies: dict[str, Body] = {}
    for line in side.read_text().splitlines():
        execution, step, _, pid, phase, at, token = line.split()
        if phase == "begin":
            bodies[token] = Body(execution, step, int(pid), token, float(at))
        else:
            bodies[token].end = float(at)
    for body in bodies.values():
        if body.end is None:
            assert body.pid in deaths, f"body {body} never ended, yet its process lived"
            body.end = deaths[body.pid]
    return sorted(bodies.values(), key=lambda b: b.begin)


def check(journal: Journal, bodies: list[Body], outcomes: dict[str, Any]) -> None:
    """The guarantees, for every execution of `outcomes` (id -> expected step names)."""
    by_execution: dict[str, list[Body]] = {}
    for body in bodies:
        by_execution.setdefault(body.execution, []).append(body)
    for execution_id, steps in outcomes.items():
        runs = by_execution.get(execution_id, [])
        # one executor at a time: bodies of different processes never overlap
        for i, a in enumerate(runs):
            for b in runs[i + 1 :]:
                if a.pid != b.pid:
                    assert a.end is not None and b.end is not None
                    assert a.end <= b.begin or b.end <= a.begin, (execution_id, a, b)
        record = journal.open_execution(execution_id, "", None)  # type: ignore[arg-type]
        assert record.status == "SUCCEEDED", (execution_id, record.status)
        kept = {op.name: json.loads(op.result or "null") for op in record.operations.values()}
        history = journal.read_history(execution_id)
        completions = [e.operation.name for e in history if e.event_type == "StepSucceeded"]  # type: ignore[union-attr]
        assert sorted(completions) == sorted(steps), execution_id  # each completes once
        for step in steps:
            step_runs = [b for b in runs if b.step == step]
            # the kept completion is the last run: nothing ran after the step completed
            assert step_runs and step_runs[-1].token == kept[step], (execution_id, step)
        assert json.loads(record.result or "null") == [kept[s] for s in steps]


# -- (a) N processes resume one execution again and again ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 4, 8])
def test_processes_resuming_one_execution_run_each_step_once(
    processes: int, tmp_path: Path
) -> None:
    steps = 24
    journal_path, side = tmp_path / "j.sqlite", tmp_path / "side"
    helper, start = HERE / "chaos_process.py", tmp_path / "start"
    start.mkdir()
    args = [str(helper), str(journal_path), str(side), str(steps)]
    procs = [
        subprocess.Popen(
            [sys.executable, *args, str(seed), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(processes)
    ]
    deadline = time.monotonic() + 120
    while len(list(start.iterdir())) < processes and time.monotonic() < deadline:
        time.sleep(0.01)
    (start / "go").touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    bodies = read_bodies(side, {})
    with SqliteJournal(journal_path) as journal:
        check(journal, bodies, {"one": [f"s{i}" for i in range(steps)]})
        expected = json.loads(journal.get_execution("one").result)  # type: ignore[union-attr]
    assert results == [{"status": "SUCCEEDED", "result": expected}] * processes
    assert len(bodies) == steps  # zero duplicate bodies: crashes came after checkpoints
    assert len({b.pid for b in bodies}) > 1  # the execution really changed hands


# -- workers under SIGKILL (b) and under database restarts (c) --------------------------------


#: The workers' lease (s): longer than any stall of a live worker on a loaded 2-core host, so that
#: only the killed ones lose theirs (a stalled live owner's body may overlap its successor's).
LEASE_S = 2.0


def _submit_all(journal: Journal, side: Path, count: int, **event: Any) -> dict[str, Any]:
    steps = [f"s{i}" for i in range(event["n"])] + [f"m{x}" for x in range(event.get("fan", 0))]
    outcomes = {}
    for i in range(count):
        execution_id = f"w{i:03d}"
        submit(
            journal,
            "chaos",
            {**event, "side": str(side), "id": execution_id},
            execution_id=execution_id,
        )
        outcomes[execution_id] = steps
    return outcomes


def _running_steps(side: Path, workers: list[subprocess.Popen[bytes]]) -> list[Any]:
    """The workers that have run step bodies already (they are past their start-up)."""
    seen = {line.split()[3] for line in side.read_text().splitlines()} if side.exists() else set()
    return [w for w in workers if str(w.pid) in seen]


def _unfinished(journal: Journal, ids: Any) -> int:
    """How many of the executions `ids` are still running (asking again after a lost
    connection: the server may have just restarted)."""
    for _ in range(50):
        try:
            return sum(journal.get_execution(e).status == "RUNNING" for e in ids)  # type: ignore[union-attr]
        except JournalError:
            time.sleep(0.1)
    raise AssertionError("the journal stayed unreachable")


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in workers:
        proc.wait(timeout=30)


@pytest.mark.slow
def test_workers_killed_at_random_moments_lose_nothing(tmp_path: Path) -> None:
    """(b) SIGKILL at random moments (in step bodies, in group commits, between them) across a
    batch of workflows; other worker processes take the dead one's executions over."""
    journal_path, side = tmp_path / "j.sqlite", tmp_path / "side"
    rng = np.random.default_rng(2024)
    with SqliteJournal(journal_path) as journal:
        outcomes = _submit_all(journal, side, 24, n=3, fan=3, work_s=0.01)
        log = tmp_path / "workers.log"
        workers = [start_worker(journal_path, log, "--lease-s", str(LEASE_S)) for _ in range(3)]
        deaths: dict[int, float] = {}
        kills = 0
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if _unfinished(journal, outcomes) == 0:
                break
            busy = _running_steps(side, workers)  # a victim in the midst of its work
            if kills == 12 or not busy:
                time.sleep(0.05)
                continue
            time.sleep(float(rng.uniform(0.0, 0.05)))  # a random moment of that work
            victim = busy[int(rng.integers(len(busy)))]
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            deaths[victim.pid] = time.time()
            kills += 1
            workers.remove(victim)
            workers.append(start_worker(journal_path, log, "--lease-s", str(LEASE_S)))
        _stop(workers)
        assert kills == 12
        bodies = read_bodies(side, deaths)
        check(journal, bodies, outcomes)
        assert any(b.pid in deaths and b.end == deaths[b.pid] for b in bodies)  # killed mid-body


@pytest.mark.slow
def test_workers_survive_database_restarts_and_crashes(
    scratch_cluster: PostgresCluster, tmp_path: Path
) -> None:
    """(c) The Postgres server restarts (fast shutdown) and crashes (kill -9 of the
    postmaster) several times while two workers run 300 workflows."""
    side = tmp_path / "side"
    dsn = scratch_cluster.dsn
    journal = PostgresJournal(dsn)
    outcomes = _submit_all(journal, side, 300, n=3, work_s=0.02)
    log = tmp_path / "workers.log"
    workers = [start_worker(dsn, log, "--lease-s", "5.0") for _ in range(2)]
    for round_ in range(6):
        time.sleep(0.5)
        assert _unfinished(journal, outcomes) > 0  # the server goes down under running workflows
        if round_ % 2 == 0:
            scratch_cluster.restart(mode="fast")
        else:
            scratch_cluster.kill()
            scratch_cluster.start()
    try:
        finished = [wait_for_outcome(journal, e, timeout_s=120) for e in outcomes]
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; workers said: {log.read_text()[-2000:]}") from exc
    finally:
        _stop(workers)
    assert all(record.status == "SUCCEEDED" for record in finished)  # none stuck
    journal = PostgresJournal(dsn)
    check(journal, read_bodies(side, {}), outcomes)
    journal.close()


# -- (d) chains of chained invokes under SIGKILL ----------------------------------------------


def _chains(tmp_path: Path, side: Path, leaves: Path) -> dict[str, dict[str, Any]]:
    """Callers (worker_functions' ``invokes``) by id: of a child that parks on a 2 s timer, of
    a child that waits on a callback answered from outside, and of a child that itself invokes
    a chaos execution (three deep: two steps and a map of two)."""
    kinds = {
        "timer": ("waits", {"wait_s": 2}),
        "asks": ("asks", {}),
        "deep": ("invokes", {}),
    }
    events = {}
    for i in range(9):
        kind = list(kinds)[i % 3]
        name = f"{kind}{i}"
        target, payload = kinds[kind]
        child = f"{name}/invoke-2"  # the invoke is the caller's second operation
        payload = {**payload, "side": str(side), "id": child}
        if kind == "asks":
            payload["inbox"] = str(tmp_path / f"inbox-{name}")
        if kind == "deep":
            leaf = {
                "side": str(leaves),
                "id": f"{child}/invoke-2",
                "n": 2,
                "fan": 2,
                "work_s": 0.01,
            }
            payload = {**payload, "target": "chaos", "payload": leaf}
        events[name] = {"side": str(side), "id": name, "target": target, "payload": payload}
    return events


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_workers_killed_at_random_moments_finish_every_chain_of_invokes(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """(d) Three workers on one SQLite journal, or on one Postgres database, run callers whose
    chained invokes park on timers, wait on callbacks answered at random moments, or invoke a
    third execution; workers are killed at random moments (mid-step, between a child's end and
    its caller's resume, while a caller parks). Every caller ends with its child's result;
    every step of every execution of each chain completes once in its history; the chaos
    leaves keep their last body run; no execution is left RUNNING."""
    side, leaves = tmp_path / "side", tmp_path / "leaves"
    target = (
        str(tmp_path / "j.sqlite") if store == "sqlite" else request.getfixturevalue("postgres_dsn")
    )
    opened = SqliteJournal(target) if store == "sqlite" else PostgresJournal(target)
    rng = np.random.default_rng(12)
    events = _chains(tmp_path, side, leaves)
    with opened as journal:
        for name, event in events.items():
            submit(journal, "invokes", event, execution_id=name)
        log = tmp_path / "workers.log"
        workers = [start_worker(target, log, "--lease-s", str(LEASE_S)) for _ in range(3)]
        deaths: dict[int, float] = {}
        answered: set[str] = set()
        kills = 0
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and _unfinished(journal, events):
            for inbox in tmp_path.glob("inbox-*"):
                if inbox.name not in answered and inbox.read_text() and rng.random() < 0.2:
                    send_callback_success(journal, inbox.read_text(), "yes")
                    answered.add(inbox.name)
            if kills < 10 and rng.random() < 0.25:
                victim = workers[int(rng.integers(len(workers)))]
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                deaths[victim.pid] = time.time()
                kills += 1
                workers.remove(victim)
                workers.append(start_worker(target, log, "--lease-s", str(LEASE_S)))
            time.sleep(0.05)
        _stop(workers)
        # the timer callers alone take 2 s: 40 draws at 1 in 4 kill (one fixed seed)
        assert kills >= 1 and len(answered) == 3, (kills, sorted(answered))
        for name in events:
            record = journal.get_execution(name)
            assert record is not None and record.status == "SUCCEEDED", (name, log.read_text())
            got = json.loads(record.result or "null")
            if name.startswith("timer"):
                assert got == "got woke"
            elif name.startswith("asks"):
                assert got == "got answered yes"
            else:
                leaf = journal.get_execution(f"{name}/invoke-2/invoke-2")
                assert leaf is not None and got == f"got got {json.loads(leaf.result or '0')}"
            for execution_id in (name, f"{name}/invoke-2"):
                child = journal.get_execution(execution_id)
                assert child is not None and child.status != "RUNNING", execution_id
                history = journal.read_history(execution_id)
                done = [e.operation.name for e in history if e.event_type == "StepSucceeded"]  # type: ignore[union-attr]
                assert len(done) == len(set(done)), (execution_id, done)  # each completes once
                assert execution_id != name or sorted(done) == ["after", "before"]
        steps = ["s0", "s1", "m0", "m1"]
        deep = {f"{n}/invoke-2/invoke-2": steps for n in events if n.startswith("deep")}
        check(journal, read_bodies(leaves, deaths), deep)
