"""Chained invokes under workers: a child execution that parks (a timer beyond
``park_after_ms``, a callback) parks its caller too, and the child's end, whichever process
reaches it, wakes the caller once (AWS's service appends ChainedInvokeSucceeded or
ChainedInvokeFailed to the caller and invokes it); no step of caller or child runs twice.

Formerly the caller was never woken: a worker that finished the child left the caller RUNNING
with no lease and nothing to make it ready, for good.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import (
    FaultPlan,
    SimulatedCrash,
    run_durable,
    send_callback_failure,
    send_callback_success,
)
from durable_sim.clock import VirtualClock, WallClock
from durable_sim.durable import (
    FunctionRegistry,
    HistoryEntry,
    Journal,
    LeaseConfig,
    MemoryJournal,
    SqliteJournal,
)
from durable_sim.durable.operation.invoke import child_execution_id
from durable_sim.durable.runtime import execute
from durable_sim.durable.worker import run_worker, submit, wait_for_outcome
from durable_sim.faults import NO_FAULTS
from durable_sim.latency import ZERO, Sampler
from tests.durable.conftest import JournalBackend
from tests.durable.worker_functions import FUNCTIONS
from tests.durable.worker_process import start_worker


def _execute(
    handler: Any, journal: Journal, execution_id: str, at_ms: float = 0.0, **options: Any
) -> Any:
    return execute(
        handler,
        "null",
        journal=journal,
        execution_id=execution_id,
        clock=VirtualClock(at_ms),
        sampler=Sampler(ZERO, 0),
        faults=NO_FAULTS,
        **options,
    )


def _completed(journal: Journal, execution_id: str) -> int:
    """How many invocations of the execution completed (its InvocationCompleted entries)."""
    return sum(e.event_type == "InvocationCompleted" for e in journal.read_history(execution_id))


def test_a_parked_child_parks_its_caller_and_its_end_wakes_the_caller_once() -> None:
    """On the virtual clock with ``park_after_ms`` below the child's 60 s wait: the child parks
    (it is not slept through with both leases held), and so does its caller. A run of the
    child alone when its wait is due (as a worker's) finishes it, and that end makes the
    caller ready; the caller's next run takes the child's result in its first invocation,
    without running the child again."""
    ran: list[str] = []

    def child(event: Any, ctx: DurableContext) -> str:
        ran.append("child")
        ctx.wait(Duration.from_seconds(60))
        return "child done"

    def caller(event: Any, ctx: DurableContext) -> Any:
        ran.append("caller")
        return ctx.invoke("child", None, name="call")

    journal = MemoryJournal()
    functions = FunctionRegistry({"child": child})
    first = _execute(caller, journal, "p", functions=functions, park_after_ms=1.0)
    assert first.status == "PENDING" and ran == ["caller", "child"]
    child_id = child_execution_id("p", "1")
    assert journal.get_execution(child_id).status == "RUNNING"  # type: ignore[union-attr]
    assert journal.claim("w", 30.0, ["handler"]) is None  # the caller waits for its child
    finished = _execute(child, journal, child_id, 60_000.0, function_name="child")  # when due
    assert (finished.status, finished.result) == ("SUCCEEDED", "child done")
    woken = journal.claim("w", 30.0, ["handler"])
    assert woken is not None and woken.execution_id == "p"
    journal.release(woken.lease)  # type: ignore[arg-type]
    done = _execute(caller, journal, "p", functions=functions)
    assert (done.status, done.result) == ("SUCCEEDED", "child done")
    assert ran == ["caller", "child", "child", "caller"]  # the child did not run again
    assert _completed(journal, "p") == 2  # one invocation, and one after the child's end
    invoke = next(e for e in journal.read_history("p") if e.event_type == "ChainedInvokeSucceeded")
    assert invoke.at_ms == 60_000.0  # when the child ended, on its clock from the invoke's start


def test_an_execution_named_like_a_child_but_started_by_no_invoke_wakes_no_one() -> None:
    journal = MemoryJournal()
    journal.open_execution("a", "null", _started(), function_name="fn", ready=True)
    held = journal.claim("w", 30.0, ["fn"])
    journal.release(held.lease)  # type: ignore[union-attr, arg-type]
    run = _execute(lambda event, ctx: 1, journal, child_execution_id("a", "1"))
    assert run.status == "SUCCEEDED"
    assert journal.claim("w", 30.0, ["fn"]) is None


def test_a_caller_sleeping_until_a_timer_takes_its_childs_end_from_another_process(
    tmp_path: Path,
) -> None:
    """On the wall clock a run of the caller that holds its lease until a 3 s wait in a
    parallel branch is due, while another process runs its child, takes the child's end when
    it comes, as AWS's service invokes the caller once a child ends: its history has
    ChainedInvokeSucceeded (at the child's end) before WaitSucceeded, each followed by an
    invocation of its own. Formerly the run slept through to the wait and appended the
    child's end after WaitSucceeded, with an earlier timestamp, one invocation seeing both."""
    path = tmp_path / "j.sqlite"
    running, go = threading.Event(), threading.Event()

    def child(event: Any, ctx: DurableContext) -> str:
        ctx.wait(Duration.from_seconds(1))

        def held(_: Any) -> None:
            running.set()
            assert go.wait(30)

        ctx.step(held, name="held")
        return "child done"

    def caller(event: Any, ctx: DurableContext) -> Any:
        return ctx.parallel(
            [
                lambda c: c.invoke("child", None, name="k"),
                lambda c: c.wait(Duration.from_seconds(3)),
            ]
        ).get_results()

    def run(handler: Any, execution_id: str, park_after_ms: float | None) -> Any:
        return execute(
            handler,
            "null",
            journal=SqliteJournal(path),
            execution_id=execution_id,
            clock=WallClock(),
            sampler=Sampler(ZERO, 0),
            faults=NO_FAULTS,
            functions=FunctionRegistry({"child": child}),
            park_after_ms=park_after_ms,
        )

    assert run(caller, "x", 100.0).status == "PENDING"  # the child parks, and so does x
    journal = SqliteJournal(path)
    (kid,) = [
        op.child_execution_id
        for op in journal.open_execution("x", "null", _started()).operations.values()
        if op.child_execution_id is not None
    ]
    time.sleep(1.05)  # the child's wait is due
    elsewhere = threading.Thread(target=run, args=(child, kid, 100.0))
    elsewhere.start()
    assert running.wait(30)  # another process holds the child
    threading.Timer(0.3, go.set).start()
    done = run(caller, "x", None)
    elsewhere.join(30)
    assert (done.status, done.result) == ("SUCCEEDED", ["child done", None])
    events = [e.event_type for e in journal.read_history("x")]
    assert events.index("ChainedInvokeSucceeded") < events.index("WaitSucceeded"), events
    # the first run's, the resuming run's, the child's end's and the wait's end's
    assert _completed(journal, "x") == 4


def test_an_execution_forged_with_a_childs_id_before_its_invoke_starts_it_is_refused() -> None:
    """An id of a chained invoke's execution (``<caller>/invoke-<op>``) started from outside
    before the invoke starts it was formerly taken by the invoke as its own execution: the
    caller resumed it and returned the forger's result ("forged"), or, with another input,
    failed with ExecutionInputMismatchError on every run. AWS's service names a chained
    invoke's execution itself (the official runner's executor records its parent when it
    creates it), so no one else can start it: run_durable and submit refuse such an id unless
    the execution exists, and write nothing."""
    journal = MemoryJournal()
    forged = child_execution_id("X", "1")

    def forger(event: Any, ctx: DurableContext) -> str:
        return "forged"

    def child(event: Any, ctx: DurableContext) -> str:
        return f"honest:{event}"

    def caller(event: Any, ctx: DurableContext) -> str:
        return ctx.invoke("child", "x")

    for event in ("x", "y"):
        with pytest.raises(ValueError, match=r"bad execution_id 'X/invoke-1' .*only that invoke"):
            run_durable(forger, event, journal=journal, execution_id=forged)
        with pytest.raises(ValueError, match=r"bad execution_id 'X/invoke-1'"):
            submit(journal, "child", event, execution_id=forged)
        assert journal.get_execution(forged) is None  # nothing half-written
    run = run_durable(caller, None, journal=journal, execution_id="X", functions={"child": child})
    assert (run.status, run.result) == ("SUCCEEDED", "honest:x")
    # The invoke's own execution, once it exists, may be resumed from outside (its outcome).
    again = run_durable(child, "x", journal=journal, execution_id=forged)
    assert (again.status, again.result) == ("SUCCEEDED", "honest:x")


def _started() -> HistoryEntry:
    return HistoryEntry("ExecutionStarted", 0.0, None, {"Input": "null"})


# -- under workers: four kinds of child, on every journal ------------------------------------


def _events(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The callers of each kind of child, by execution id: a child that waits on a callback
    answered from outside (successfully, or with a failure, which fails the child), a child
    that waits on a timer longer than ``park_after_ms``, and a child that invokes a
    grandchild waiting on a callback."""
    side = str(tmp_path / "side")

    def caller(name: str, target: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"side": side, "id": name, "target": target, "payload": payload}

    return {
        "answered": caller("answered", "asks", {"inbox": str(tmp_path / "answered")}),
        "refused": caller("refused", "asks", {"inbox": str(tmp_path / "refused")}),
        "timer": caller("timer", "waits", {"wait_s": 1, "side": side, "id": "timer/child"}),
        "nested": caller(
            "nested",
            "invokes",
            {
                "side": side,
                "id": "nested/child",
                "target": "asks",
                "payload": {"inbox": str(tmp_path / "nested")},
            },
        ),
    }


EXPECTED = {
    "answered": '"got answered yes"',
    "refused": '"failed: no"',
    "timer": '"got woke"',
    "nested": '"got got answered yes"',
}


def _answer(journal: Journal, tmp_path: Path, deadline: float) -> None:
    """Answer the three callbacks once their ids are published (one with a failure)."""
    pending = {"answered": "yes", "refused": None, "nested": "yes"}
    while pending:
        assert time.monotonic() < deadline, f"callbacks never asked: {sorted(pending)}"
        for name, answer in list(pending.items()):
            inbox = tmp_path / name
            if inbox.exists() and inbox.read_text():
                if answer is None:
                    send_callback_failure(journal, inbox.read_text(), {"ErrorMessage": "no"})
                else:
                    send_callback_success(journal, inbox.read_text(), answer)
                del pending[name]
        time.sleep(0.02)


def _check(journal: Journal, tmp_path: Path, names: list[str]) -> None:
    """Every caller's outcome; every step body ran once; every caller (and the nested child)
    completed exactly two invocations: the one that started its invoke, and the one its
    child's end woke."""
    outcomes = {name: wait_for_outcome(journal, name, timeout_s=60) for name in names}
    assert {n: (o.status, o.result) for n, o in outcomes.items()} == {
        n: ("SUCCEEDED", EXPECTED[n]) for n in names
    }
    bodies = [line.split() for line in (tmp_path / "side").read_text().splitlines()]
    ends = sorted((line[0], line[1]) for line in bodies if line[4] == "end")
    expected = [(n, s) for n in names for s in ("before", "after")]
    expected += [("timer/child", "before"), ("timer/child", "after")] if "timer" in names else []
    if "nested" in names:
        expected += [("nested/child", "before"), ("nested/child", "after")]
    assert ends == sorted(expected)
    assert [line for line in bodies if line[4] == "begin"] and len(bodies) == 2 * len(ends)
    for name in names:
        assert _completed(journal, name) == 2, name
    if "nested" in names:
        assert _completed(journal, child_execution_id("nested", "2")) == 2


@pytest.mark.parametrize("kind", ["answered", "refused", "timer", "nested"])
def test_workers_wake_a_caller_once_its_child_ends(
    backend: JournalBackend, tmp_path: Path, kind: str
) -> None:
    """Two worker threads on one journal (each its own handle): the child parks, the caller
    parks, the outside world (or the timer) ends the wait, a worker finishes the child, and
    the caller, woken by that end, finishes too."""
    journal = backend.open()
    submit(journal, "invokes", _events(tmp_path)[kind], execution_id=kind)
    stop = threading.Event()
    workers = [
        threading.Thread(
            target=run_worker,
            args=(backend.open(), FUNCTIONS),
            kwargs={"poll_s": 0.02, "park_after_ms": 100.0, "stop": stop},
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        if kind != "timer":
            _answer_one(journal, tmp_path, kind)
        _check(journal, tmp_path, [kind])
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)


def _answer_one(journal: Journal, tmp_path: Path, kind: str) -> None:
    inbox = tmp_path / kind
    deadline = time.monotonic() + 60
    while not (inbox.exists() and inbox.read_text()):
        assert time.monotonic() < deadline, "the child never asked"
        time.sleep(0.02)
    if kind == "refused":
        send_callback_failure(journal, inbox.read_text(), {"ErrorMessage": "no"})
    else:
        send_callback_success(journal, inbox.read_text(), "yes")


def test_two_worker_processes_wake_each_caller_once_its_child_ends(tmp_path: Path) -> None:
    """Two `durable-sim worker` processes on one SQLite journal run the four kinds of caller
    at once: every caller finishes, woken once by its child's end, and no step runs twice."""
    path, log = tmp_path / "j.sqlite", tmp_path / "log"
    events = _events(tmp_path)
    with SqliteJournal(path) as journal:
        for name, event in events.items():
            submit(journal, "invokes", event, execution_id=name)
        workers = [
            start_worker(path, log, "--park-after-ms", "100", "--idle-exit-s", "4")
            for _ in range(2)
        ]
        try:
            _answer(journal, tmp_path, time.monotonic() + 60)
            _check(journal, tmp_path, list(events))
        finally:
            for worker in workers:
                worker.wait(timeout=60)
        assert all(worker.returncode == 0 for worker in workers), log.read_text()


# -- property: random chains of invokes, driven by what wakes them, with kill points ----------

OPS = st.sampled_from(["step", "wait", "callback", "invoke"])
CHAINS = st.lists(st.lists(OPS, min_size=1, max_size=4), min_size=1, max_size=3)
PROPERTY = settings(
    max_examples=examples(60),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Chain:
    """Level ``i`` of `levels` is a function ``f{i}`` running its operations in order: a step
    (it returns its key), a 1 s wait (slept through: ``park_after_ms`` is 1000), a callback
    (answered "ok"), a chained invoke of ``f{i+1}`` (a step at the last level). Each function
    returns its operations' results; step bodies count their completions."""

    def __init__(self, levels: list[list[str]]) -> None:
        self.levels = levels
        self.completed: Counter[str] = Counter()
        self.functions = FunctionRegistry({f"f{i}": self._handler(i) for i in range(len(levels))})

    def _op(self, i: int, j: int) -> str:
        op = self.levels[i][j]
        return "step" if op == "invoke" and i + 1 == len(self.levels) else op

    def _handler(self, i: int) -> Any:
        def handler(path: str, ctx: DurableContext) -> list[Any]:
            out: list[Any] = []
            for j in range(len(self.levels[i])):
                op, key = self._op(i, j), f"{path}:{j}"
                if op == "step":
                    out.append(ctx.step(lambda _, key=key: self._body(key), name=f"s{j}"))
                elif op == "wait":
                    ctx.wait(Duration.from_seconds(1))
                    out.append(None)
                elif op == "callback":
                    out.append(ctx.wait_for_callback(lambda cid, _: None, name=f"c{j}"))
                else:
                    out.append(ctx.invoke(f"f{i + 1}", f"{path}/{j}", name=f"i{j}"))
            return out

        return handler

    def _body(self, key: str) -> str:
        self.completed[key] += 1
        return key

    def expected(self, i: int = 0, path: str = "r") -> list[Any]:
        results = {"step": lambda j: f"{path}:{j}", "wait": lambda j: None}
        results["callback"] = lambda j: "ok"
        results["invoke"] = lambda j: self.expected(i + 1, f"{path}/{j}")
        return [results[self._op(i, j)](j) for j in range(len(self.levels[i]))]

    def steps(self, i: int = 0, path: str = "r") -> list[str]:
        keys: list[str] = []
        for j in range(len(self.levels[i])):
            op = self._op(i, j)
            keys += [f"{path}:{j}"] if op == "step" else []
            keys += self.steps(i + 1, f"{path}/{j}") if op == "invoke" else []
        return keys


@PROPERTY
@given(levels=CHAINS, data=st.data())
def test_random_chains_of_invokes_finish_when_driven_only_by_their_wakes(
    levels: list[list[str]], data: st.DataObject
) -> None:
    """A worker that runs only what the journal's queue offers (ready, or a crashed run's
    lapsed lease), and an outside world that answers open callbacks in a drawn order,
    interleaved with the runs: the top execution always finishes with the model's result (a
    caller never left without a wake: the queue is never empty while work remains), each step
    body completes once whatever the kill points (a crash after a drawn checkpoint of a run),
    and without crashes an execution is claimed at most once more than it has callbacks and
    invokes (no run without something new)."""
    chain = Chain(levels)
    journal = MemoryJournal()
    submit(journal, "f0", "r", execution_id="top")
    names = sorted(chain.functions)
    callbacks: set[str] = set()
    claims: Counter[str] = Counter()
    crashes = 0
    for _ in range(500):
        top = journal.get_execution("top")
        assert top is not None
        if top.status != "RUNNING":
            break
        claimed = None
        if not (callbacks and data.draw(st.booleans(), label="answer first")):
            claimed = journal.claim("worker", 30.0, names)
        if claimed is None:
            assert callbacks, "nothing is ready and no callback is open: a caller was lost"
            answer = data.draw(st.sampled_from(sorted(callbacks)), label="callback")
            send_callback_success(journal, answer, "ok")
            callbacks.discard(answer)
            continue
        claims[claimed.execution_id] += 1
        crash = data.draw(st.none() | st.integers(1, 6), label="crash after checkpoint")
        try:
            run = execute(
                chain.functions[claimed.function_name or ""],
                claimed.input,
                journal=journal,
                execution_id=claimed.execution_id,
                clock=VirtualClock(),
                sampler=Sampler(ZERO, 0),
                faults=FaultPlan(crash_after_checkpoint=crash),
                functions=chain.functions,
                function_name=claimed.function_name or "",
                lease=LeaseConfig(owner="worker"),
                park_after_ms=1000.0,
                taken_over=claimed.lease is not None and claimed.lease.taken_over,
            )
        except SimulatedCrash:
            crashes += 1
            continue
        callbacks |= set(run.pending_callbacks)
    final = journal.get_execution("top")
    assert final is not None and (final.status, final.result) == (
        "SUCCEEDED",
        json.dumps(chain.expected()),
    )
    assert chain.completed == Counter(chain.steps())
    if not crashes:
        for execution_id, count in claims.items():
            ops = [e.operation for e in journal.read_history(execution_id) if e.operation]
            waits_on = {op.id for op in ops if op.type.value in ("CALLBACK", "CHAINED_INVOKE")}
            assert count <= 1 + len(waits_on), execution_id
