"""Journals: the contract on every backend (memory, SQLite, Postgres): round trips, leases and
fenced writes, terminal records, the queue; and SQLite's own faults (corrupt, truncated, foreign
or misplaced files, many processes creating one file at once)."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

from durable_sim import (
    JournalCorruptError,
    MemoryJournal,
    SqliteJournal,
    run_durable,
    send_callback_success,
)
from durable_sim.durable import (
    ExecutionBusyError,
    ExecutionClosedError,
    HistoryEntry,
    Journal,
    JournalPathError,
    LeaseLostError,
    OperationClosedError,
    OperationRecord,
)
from durable_sim.durable.errors import JournalUnavailableError, resource_cause
from durable_sim.durable.journal import ExecutionRecord
from durable_sim.durable.journal.records import encode_json
from tests.durable.conftest import JournalBackend


def _workflow(event: Any, ctx: DurableContext) -> int:
    total = 0
    for i in range(event["n"]):
        total += ctx.step(lambda _, i=i: {"i": i, "pad": "p" * 200}, name=f"s{i}")["i"]
    ctx.wait(Duration.from_seconds(2))
    return total


def test_a_journal_survives_reopen(backend: JournalBackend) -> None:
    run = run_durable(_workflow, {"n": 5}, journal=backend.open(), execution_id="e")
    assert (run.status, run.result) == ("SUCCEEDED", 10)
    journal = backend.open()
    again = run_durable(_workflow, {"n": 5}, journal=journal, execution_id="e")
    record = journal.get_operation("e", "3")
    assert (again.status, again.result, again.metrics.invocations) == ("SUCCEEDED", 10, 0)
    assert [op.name for op in again.operations][:2] == ["s0", "s1"]
    assert record is not None and record.name == "s2" and record.status.value == "SUCCEEDED"


def test_random_bytes_are_a_corrupt_journal(tmp_path: Path) -> None:
    path = tmp_path / "noise.sqlite"
    path.write_bytes(random.Random(7).randbytes(8192))
    with pytest.raises(JournalCorruptError, match=f"cannot open journal {path}") as info:
        SqliteJournal(path)
    assert "corrupt or truncated" in str(info.value)


def test_truncated_journal_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "cut.sqlite"
    with SqliteJournal(path) as journal:
        run_durable(_workflow, {"n": 200}, journal=journal, execution_id="e")
    assert not Path(f"{path}-wal").exists() or os.path.getsize(f"{path}-wal") == 0
    size = path.stat().st_size
    assert size > 16 * 4096  # many pages, so half of the file loses table pages
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(JournalCorruptError, match=str(path)), SqliteJournal(path) as journal:
        run_durable(_workflow, {"n": 200}, journal=journal, execution_id="e")


def test_sqlite_file_of_another_application(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(JournalCorruptError, match="not a durable_sim journal"):
        SqliteJournal(path)


def test_a_journal_of_the_previous_schema_is_named_as_such(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE executions (execution_id TEXT PRIMARY KEY)")
        db.execute("CREATE TABLE operations (execution_id TEXT, op_id TEXT, record TEXT)")
        db.execute("PRAGMA user_version=1")
    with pytest.raises(JournalCorruptError, match="schema version 3 \\(found version 1"):
        SqliteJournal(path)


def test_the_history_is_append_only_and_each_checkpoint_one_commit(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "h.sqlite"
    with SqliteJournal(path) as journal:
        run = run_durable(_workflow, {"n": 3}, journal=journal, execution_id="e")
        entries = journal.read_history("e")
    assert run.metrics.checkpoint_ops == 4  # three steps (START batched with SUCCEED), the wait
    kinds = [e.event_type for e in entries]
    assert kinds[:3] == ["ExecutionStarted", "StepStarted", "StepSucceeded"]
    assert kinds.count("InvocationCompleted") == run.metrics.invocations == 2
    with sqlite3.connect(path) as db:
        seqs = [row[0] for row in db.execute("SELECT seq FROM history ORDER BY seq")]
        db.execute("UPDATE history SET entries='[{\"not\": 1}]' WHERE seq=?", (seqs[1],))
    with SqliteJournal(path) as journal, pytest.raises(JournalCorruptError, match="is malformed"):
        journal.read_history("e")


def test_a_record_evolves_into_a_copy_with_every_field() -> None:
    from dataclasses import fields

    from durable_sim.durable.journal import OperationRecord

    record = OperationRecord(*[f"value-{i}" for i in range(len(fields(OperationRecord)))])  # type: ignore[arg-type]
    copy = record.evolve(name="renamed")
    assert [getattr(copy, f.name) for f in fields(OperationRecord) if f.name != "name"] == [
        getattr(record, f.name) for f in fields(OperationRecord) if f.name != "name"
    ]
    assert (copy.name, record.name, copy is record) == ("renamed", "value-4", False)


# -- the contract on every backend: leases, fenced writes, terminal records, the queue ---------

STEP = OperationType.STEP


def _started() -> HistoryEntry:
    return HistoryEntry("ExecutionStarted", 0.0, None, {"Input": "{}"})


def _op(op_id: str, status: OperationStatus, result: str | None = None) -> HistoryEntry:
    record = OperationRecord(op_id, None, STEP, "Step", f"s{op_id}", status, 1, result)
    event = "StepSucceeded" if status is OperationStatus.SUCCEEDED else "StepStarted"
    return HistoryEntry(event, 1.0, record)


def _open(journal: Journal, owner: str | None, lease_s: float = 30.0, **kw: Any) -> Any:
    return journal.open_execution("x", "{}", _started(), owner=owner, lease_s=lease_s, **kw)


def test_get_execution_gives_the_execution_without_its_operations(
    backend: JournalBackend,
) -> None:
    """The Journal contract: status, outcome and counters, without the operations and without
    a lease, alike on every backend (formerly the memory journal returned the operations)."""
    journal = backend.open()
    lease = _open(journal, "owner-a", function_name="job").lease
    done = HistoryEntry("InvocationCompleted", 2.0, None, {})
    journal.append("x", [_op("1", OperationStatus.STARTED), done], lease)
    journal.append("x", [_op("1", OperationStatus.SUCCEEDED, "1")], lease)
    running = ExecutionRecord("x", "{}", function_name="job", invocations=1)
    assert journal.get_execution("x") == running
    end = HistoryEntry("ExecutionSucceeded", 3.0, None, {"Result": '"r"'})
    journal.finish_execution("x", "SUCCEEDED", '"r"', None, end, lease)
    ended = ExecutionRecord("x", "{}", "SUCCEEDED", '"r"', function_name="job", invocations=1)
    assert backend.open().get_execution("x") == ended
    assert set(backend.open().open_execution("x", "{}", _started()).operations) == {"1"}


def test_a_live_lease_makes_a_second_owner_busy(backend: JournalBackend) -> None:
    a, b = backend.open(), backend.open()
    first = _open(a, "owner-a")
    assert first.lease is not None and (first.lease.owner, first.lease.epoch) == ("owner-a", 1)
    with pytest.raises(ExecutionBusyError, match=r"'x' is being run by owner-a \(lease epoch 1"):
        _open(b, "owner-b")
    again = _open(a, "owner-a")  # the holder itself may take a new epoch
    assert again.lease is not None and again.lease.epoch == 2


def test_an_expired_lease_is_taken_over_and_the_old_owner_is_fenced(
    backend: JournalBackend,
) -> None:
    a, b = backend.open(), backend.open()
    old = _open(a, "owner-a", lease_s=0.2).lease
    a.append("x", [_op("1", OperationStatus.STARTED)], old)
    time.sleep(0.3)  # owner-a stopped renewing: it crashed
    taken = _open(b, "owner-b")
    assert taken.lease is not None and taken.lease.epoch == 2
    assert taken.operations["1"].status is OperationStatus.STARTED  # the journal at takeover
    before = len(b.read_history("x"))
    with pytest.raises(LeaseLostError, match="epoch 1 of owner-a was taken over"):
        a.append("x", [_op("1", OperationStatus.SUCCEEDED, "1")], old)
    with pytest.raises(LeaseLostError):
        a.renew(old, 30.0)
    with pytest.raises(LeaseLostError):
        a.finish_execution("x", "SUCCEEDED", "1", None, _op("9", OperationStatus.STARTED), old)
    a.release(old)  # giving up a lease taken over already does nothing
    assert len(b.read_history("x")) == before
    record = b.get_execution("x")
    assert record is not None and record.status == "RUNNING"
    b.append("x", [_op("1", OperationStatus.SUCCEEDED, "1")], taken.lease)
    assert b.get_operation("x", "1").status is OperationStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_renewed_lease_stays_and_a_released_one_is_free(backend: JournalBackend) -> None:
    a, b = backend.open(), backend.open()
    lease = _open(a, "owner-a", lease_s=2.0).lease
    for _ in range(3):
        time.sleep(0.3)  # each renewal well within the lease, even on a loaded host
        lease = a.renew(lease, 2.0)
        with pytest.raises(ExecutionBusyError):
            _open(b, "owner-b")
    a.release(lease)
    assert _open(b, "owner-b").lease.epoch == 2


def test_a_terminal_record_is_never_replaced(backend: JournalBackend) -> None:
    journal = backend.open()
    lease = _open(journal, "owner").lease
    journal.append("x", [_op("1", OperationStatus.SUCCEEDED, "1")], lease)
    before = journal.read_history("x")
    with pytest.raises(OperationClosedError, match=r"operation\(s\) \['1'\] already ended"):
        journal.append(
            "x", [_op("2", OperationStatus.STARTED), _op("1", OperationStatus.STARTED)], lease
        )
    assert journal.read_history("x") == before  # nothing of the refused append was written
    assert journal.get_operation("x", "2") is None
    assert journal.get_operation("x", "1").result == "1"  # type: ignore[union-attr]
    journal.finish_execution("x", "SUCCEEDED", "1", None, _op("9", OperationStatus.STARTED), lease)
    with pytest.raises(ExecutionClosedError, match="already ended"):
        journal.finish_execution("x", "FAILED", None, {}, _op("9", OperationStatus.STARTED))
    with pytest.raises(ExecutionClosedError):
        journal.append("x", [_op("3", OperationStatus.STARTED)])
    finished = _open(journal, "late")
    assert (finished.status, finished.result, finished.lease) == ("SUCCEEDED", "1", None)


def test_the_invocation_count_is_kept_with_the_execution(backend: JournalBackend) -> None:
    journal = backend.open()
    lease = _open(journal, "owner").lease
    done = HistoryEntry("InvocationCompleted", 2.0, None, {})
    journal.append("x", [done], lease)
    journal.append("x", [_op("1", OperationStatus.STARTED), done], lease)
    assert _open(backend.open(), "owner").invocations == 2


def test_the_queue_hands_each_ready_execution_to_one_worker(backend: JournalBackend) -> None:
    a, b = backend.open(), backend.open()
    for name in ("first", "second"):
        a.open_execution(name, "{}", _started(), function_name="fn", ready=True)
    a.open_execution("other", "{}", _started(), function_name="elsewhere", ready=True)
    one = a.claim("worker-a", 30.0, ["fn"])
    two = b.claim("worker-b", 30.0, ["fn"])
    assert {one.execution_id, two.execution_id} == {"first", "second"}  # type: ignore[union-attr]
    assert b.claim("worker-c", 30.0, ["fn"]) is None  # both are leased
    assert b.claim("worker-c", 30.0, []) is None
    # A worker takes back what it holds itself (after a journal error stopped its run).
    assert b.claim("worker-b", 30.0, ["fn"]).execution_id == two.execution_id  # type: ignore[union-attr]
    # Released to wait for a timer: ready when it is due, not before.
    a.release(one.lease, ready_at=time.time() + 0.4)  # type: ignore[union-attr]
    assert b.claim("worker-c", 30.0, ["fn"]) is None
    time.sleep(0.5)
    assert b.claim("worker-c", 30.0, ["fn"]).execution_id == one.execution_id  # type: ignore[union-attr]


def test_a_callback_answer_wakes_a_parked_execution(backend: JournalBackend) -> None:
    journal = backend.open()
    journal.open_execution("x", "{}", _started(), function_name="fn", ready=True)
    lease = journal.claim("worker", 30.0, ["fn"]).lease  # type: ignore[union-attr]
    journal.append("x", [_op("1", OperationStatus.STARTED)], lease)
    journal.release(lease, ready_at=None, watch=["1"])
    assert journal.claim("worker", 30.0, ["fn"]) is None  # waits for the outside world
    journal.append("x", [_op("1", OperationStatus.SUCCEEDED, "answer")])  # no lease: outside
    assert journal.claim("worker", 30.0, ["fn"]).execution_id == "x"  # type: ignore[union-attr]


def test_an_answer_before_the_release_is_not_lost(backend: JournalBackend) -> None:
    """The answer lands between the owner's last look and its release: ready at once."""
    journal = backend.open()
    journal.open_execution("x", "{}", _started(), function_name="fn", ready=True)
    lease = journal.claim("worker", 30.0, ["fn"]).lease  # type: ignore[union-attr]
    journal.append("x", [_op("1", OperationStatus.STARTED)], lease)
    journal.append("x", [_op("1", OperationStatus.SUCCEEDED, "answer")])
    journal.release(lease, ready_at=None, watch=["1"])
    assert journal.claim("worker", 30.0, ["fn"]) is not None


def _end(journal: Journal, execution_id: str, **options: Any) -> None:
    """Finish `execution_id` (RUNNING, unleased) as SUCCEEDED."""
    entry = HistoryEntry("ExecutionSucceeded", 1.0, None, {"Result": "1"})
    journal.finish_execution(execution_id, "SUCCEEDED", "1", None, entry, **options)


def test_a_childs_end_wakes_its_parked_parent_in_the_same_write(backend: JournalBackend) -> None:
    """The child ends after its parent released its lease: the child's terminal write makes
    the parent ready (at once, even if it was parked for a later time); an execution that is
    held, has ended, or does not exist is left as it is."""
    journal = backend.open()
    journal.open_execution("p", "{}", _started(), function_name="fn", ready=True)
    journal.open_execution("c", "{}", _started(), function_name="child")
    lease = journal.claim("worker", 30.0, ["fn"]).lease  # type: ignore[union-attr]
    journal.release(lease, ready_at=time.time() + 3600.0, children=["c"])
    assert journal.claim("worker", 30.0, ["fn"]) is None  # the child runs: not ready
    _end(journal, "c", parent="p")
    assert journal.claim("worker", 30.0, ["fn"]).execution_id == "p"  # type: ignore[union-attr]
    journal.open_execution("c2", "{}", _started(), function_name="child")
    _end(journal, "c2", parent="p")  # p is held by the claim above: its release decides
    record = journal.get_execution("p")
    assert record is not None and record.status == "RUNNING"
    journal.open_execution("c3", "{}", _started(), function_name="child")
    _end(journal, "c3", parent="nowhere")  # an unknown parent is no error
    assert journal.get_execution("c3").status == "SUCCEEDED"  # type: ignore[union-attr]


def test_a_childs_end_before_its_parents_release_is_not_lost(backend: JournalBackend) -> None:
    """The child ends while its parent holds its lease (the end cannot wake it then); the
    parent's release, listing the child among its children, finds it ended: ready at once.
    A release whose children all run keeps its time."""
    journal = backend.open()
    journal.open_execution("p", "{}", _started(), function_name="fn", ready=True)
    journal.open_execution("c", "{}", _started(), function_name="child")
    journal.open_execution("d", "{}", _started(), function_name="child")
    lease = journal.claim("worker", 30.0, ["fn"]).lease  # type: ignore[union-attr]
    journal.release(lease, ready_at=None, children=["c", "d", "unknown"])
    assert journal.claim("worker", 30.0, ["fn"]) is None
    lease = journal.open_execution("p", "{}", _started(), owner="run").lease
    _end(journal, "c", parent="p")
    journal.release(lease, ready_at=None, children=["c", "d"])  # type: ignore[arg-type]
    assert journal.claim("worker", 30.0, ["fn"]).execution_id == "p"  # type: ignore[union-attr]


def test_a_dead_workers_execution_is_claimed_once_its_lease_expires(
    backend: JournalBackend,
) -> None:
    journal = backend.open()
    journal.open_execution("x", "{}", _started(), function_name="fn", ready=True)
    assert journal.claim("dead", 0.2, ["fn"]) is not None
    assert journal.claim("alive", 30.0, ["fn"]) is None
    time.sleep(0.3)
    claimed = journal.claim("alive", 30.0, ["fn"])
    assert claimed is not None and claimed.lease.epoch == 2  # type: ignore[union-attr]


# -- SQLite: many creators, misplaced paths ------------------------------------------------------


def _create_and_run(path: str, index: int, start_at: float) -> str:
    time.sleep(max(0.0, start_at - time.time()))  # all processes open the new file at once
    with SqliteJournal(path) as journal:
        run = run_durable(_workflow, {"n": 2}, journal=journal, execution_id=f"p{index}")
    return f"{run.status} {run.result}"


@pytest.mark.slow  # sixteen processes racing: timing-sensitive under load
def test_sixteen_processes_create_one_new_journal_at_once(tmp_path: Path) -> None:
    """The schema and its version stamp are one transaction: no process sees a half-made
    journal (formerly a false 'schema version 0' JournalCorruptError)."""
    path = str(tmp_path / "new.sqlite")
    start_at = time.time() + 1.0
    with multiprocessing.get_context("fork").Pool(16) as pool:
        outcomes = pool.starmap(_create_and_run, [(path, i, start_at) for i in range(16)])
    assert outcomes == ["SUCCEEDED 1"] * 16
    with SqliteJournal(path) as journal:
        assert all(journal.get_execution(f"p{i}") is not None for i in range(16))


def test_a_directory_is_not_a_journal_file(tmp_path: Path) -> None:
    with pytest.raises(JournalPathError, match=f"journal path {tmp_path} is a directory") as info:
        SqliteJournal(tmp_path)
    assert not isinstance(info.value, JournalCorruptError)
    assert "accepted: a file path in an existing directory" in str(info.value)


def test_a_journal_in_a_missing_directory_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "j.sqlite"
    with pytest.raises(JournalPathError, match=f"directory {tmp_path / 'missing'} does not exist"):
        SqliteJournal(path)
    assert not (tmp_path / "missing").exists()  # nothing half-made
    inside_a_file = tmp_path / "file"
    inside_a_file.write_text("x")
    with pytest.raises(JournalPathError, match="is not a directory"):
        SqliteJournal(inside_a_file / "j.sqlite")


def test_a_new_journal_held_by_another_connection_opens_once_it_is_let_go(
    tmp_path: Path,
) -> None:
    """Several processes opening one new journal together each switch it to WAL, which needs an
    exclusive lock: the open waits (up to its busy timeout) instead of failing with "database
    is locked"."""
    import sqlite3

    path = tmp_path / "j.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    letting_go = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    letting_go.start()
    try:
        with SqliteJournal(path, busy_timeout_s=10.0) as journal:
            mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        letting_go.join()
        holder.close()
    assert mode == "wal"


def test_a_journal_in_a_directory_that_refuses_files_is_named_before_sqlite_runs() -> None:
    """/proc refuses new files whatever its permission bits say (and root passes os.access
    everywhere): the journal is refused with the OS's reason, not as a corrupt database."""
    with pytest.raises(
        JournalPathError, match=r"cannot create files in /proc: .+ \(accepted: a file"
    ):
        SqliteJournal(Path("/proc") / "j.sqlite")


# -- a journaled result that no longer decodes -------------------------------------------------


def _waits_for_a_callback(event: Any, ctx: DurableContext) -> Any:
    first = ctx.step(lambda _: {"n": 1}, name="first")
    answer = ctx.create_callback(name="answer").result()
    return [first, answer]


def _set_record(backend: JournalBackend, op_id: str, record: str) -> None:
    """Overwrite one stored operation record, as a disk fault or a careless hand would."""
    if backend.name == "sqlite":
        import sqlite3

        with sqlite3.connect(backend.location) as db:
            db.execute("UPDATE operations SET record=? WHERE op_id=?", (record, op_id))
        return
    import psycopg

    with psycopg.connect(backend.location, autocommit=True) as conn:
        conn.execute("UPDATE durable_operations SET record=%s WHERE op_id=%s", (record, op_id))


def test_a_result_that_does_not_decode_stops_the_run_and_leaves_the_execution(
    shared_backend: JournalBackend,
) -> None:
    journal = shared_backend.open()
    first = run_durable(_waits_for_a_callback, None, journal=journal, execution_id="c")
    assert first.status == "PENDING"
    good = journal.get_operation("c", "1")
    assert good is not None and good.result is not None
    history = journal.read_history("c")
    broken = good.evolve(result='{"t":"m","v":{"n":{"t":"zz","v":1}}}')  # unknown type tag
    _set_record(shared_backend, "1", encode_json(broken.to_dict()))
    with pytest.raises(JournalCorruptError, match=r"Step 'first' \(id 1\) cannot be decoded"):
        run_durable(_waits_for_a_callback, None, journal=journal, execution_id="c")
    record = journal.get_execution("c")
    assert record is not None and record.status == "RUNNING"  # no FAILED outcome stored
    assert journal.read_history("c") == history  # nothing appended
    _set_record(shared_backend, "1", encode_json(good.to_dict()))  # repaired
    pending = run_durable(_waits_for_a_callback, None, journal=journal, execution_id="c")
    send_callback_success(journal, pending.pending_callbacks[0], "yes")
    done = run_durable(_waits_for_a_callback, None, journal=journal, execution_id="c")
    assert (done.status, done.result) == ("SUCCEEDED", [{"n": 1}, "yes"])


def _fanned_out_retries(event: Any, ctx: DurableContext) -> list[int]:
    from aws_durable_execution_sdk_python.config import MapConfig

    return ctx.map(
        list(range(10)),
        lambda c, x, i, xs: c.step(lambda _: x * 2, name="work"),
        config=MapConfig(max_concurrency=10),
    ).get_results()


@pytest.mark.parametrize("seed", range(8))
def test_concurrent_branches_checkpoints_reach_the_journal_in_order(
    backend: JournalBackend, seed: int
) -> None:
    """A branch's pending START was once written after another branch's step completion had
    overtaken it (taken before a checkpoint's latency, written after), leaving the journal
    with a STARTED record for a completed step: after a crash it would have run again."""
    from durable_sim import FaultPlan
    from durable_sim.latency import Dist, LatencyProfile

    # checkpoint calls of very different lengths: a long one is overtaken by short ones
    uneven = LatencyProfile(name="uneven", checkpoint=Dist(20.0, 1.5), step=Dist(5.0, 1.0))
    journal = backend.open()
    run = run_durable(
        _fanned_out_retries,
        None,
        journal=journal,
        profile=uneven,
        faults=FaultPlan(seed=seed, failure_probability=0.2),
        seed=seed,
        execution_id=f"fan-{seed}",
    )
    assert (run.status, run.result) == ("SUCCEEDED", [x * 2 for x in range(10)])
    for view in run.operations:
        stored = journal.get_operation(f"fan-{seed}", view.id)
        assert stored is not None and stored.status.value == view.status == "SUCCEEDED", view.id


# -- open_journal: which backend a string names ----------------------------------------------------


def test_memory_names_a_memory_journal_and_anything_else_not_a_dsn_a_file(tmp_path: Path) -> None:
    from durable_sim.durable import MemoryJournal, open_journal

    assert isinstance(open_journal("memory"), MemoryJournal)
    for where in (tmp_path / "memory", str(tmp_path / "j.sqlite"), tmp_path / "k"):
        journal = open_journal(where)
        assert isinstance(journal, SqliteJournal) and journal.path == Path(where)
        journal.close()


def _queued_commits(journal: Journal, execution_id: str) -> int:
    """Durable commits of three appends begun before any is waited for."""
    lease = journal.open_execution(execution_id, "{}", _started(), owner="o").lease
    waits = [
        journal.begin_append(execution_id, [_op(str(i), OperationStatus.STARTED)], lease)
        for i in range(3)
    ]
    for wait in waits[::-1]:
        wait()
    return journal.commits  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("group_commit", [True, False])
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_open_journal_passes_group_commit_on_and_groups_by_default(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, group_commit: bool
) -> None:
    from durable_sim.durable import open_journal

    where = tmp_path / "j.sqlite" if kind == "sqlite" else request.getfixturevalue("postgres_dsn")
    default = open_journal(where)
    chosen = open_journal(where, group_commit=group_commit)
    try:
        assert _queued_commits(default, "d") == 1
        assert _queued_commits(chosen, "c") == (1 if group_commit else 3)
    finally:
        default.close()
        chosen.close()


@pytest.mark.parametrize(
    "dsn", ["postgresql://u:secret@127.0.0.1:{port}/db", "host=127.0.0.1 port={port} dbname=db"]
)
def test_a_postgres_dsn_names_a_postgres_journal(dsn: str) -> None:
    """A URL or a libpq connection string goes to Postgres (here: a port nothing listens on)."""
    import socket

    from durable_sim.durable import JournalUnavailableError, open_journal

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(JournalUnavailableError, match=r"127\.0\.0\.1"):
        open_journal(dsn.format(port=port))


def test_open_journal_hands_postgres_its_timeout_and_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`timeout_s` bounds both the connect and each answer; `interrupt` cuts a wait short."""
    from durable_sim.durable import journal as journals

    made: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        journals, "PostgresJournal", lambda where, **options: made.append((where, options))
    )
    stop = threading.Event()
    dsn = "postgresql://u@127.0.0.1:1/db"
    journals.open_journal(dsn, timeout_s=3.5, interrupt=stop, group_commit=False)
    journals.open_journal(dsn)
    assert made == [
        (
            dsn,
            {
                "group_commit": False,
                "connect_timeout_s": 3.5,
                "query_timeout_s": 3.5,
                "interrupt": stop,
            },
        ),
        (
            dsn,
            {
                "group_commit": True,
                "connect_timeout_s": 10.0,
                "query_timeout_s": 10.0,
                "interrupt": None,
            },
        ),
    ]


# -- a resource error is no corruption ---------------------------------------------------------


class _Starved(SerDes[Any]):
    """JSON, except that reading fails with `error` while `starved` is set (memory or I/O
    running out as the journal is read)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.starved = False

    def serialize(self, value: Any, _: SerDesContext) -> str:
        return json.dumps(value)

    def deserialize(self, data: str, _: SerDesContext) -> Any:
        if self.starved:
            raise self.error
        return json.loads(data)


@pytest.mark.parametrize(
    "error",
    [MemoryError(), OSError(errno.EIO, "Input/output error"), OSError(errno.ENOSPC, "full")],
    ids=["MemoryError", "EIO", "ENOSPC"],
)
def test_a_resource_error_while_a_result_is_read_is_not_called_corruption(
    error: BaseException,
) -> None:
    """Formerly a MemoryError (which the SDK's serdes wraps in SerDesError) was reported as a
    corrupt record; it stops the invocation as `JournalUnavailableError`, the execution as it
    was, and the next invocation goes on."""
    serdes = _Starved(error)

    def workflow(event: Any, ctx: DurableContext) -> Any:
        first = ctx.step(lambda _: {"n": 1}, name="first", config=StepConfig(serdes=serdes))
        return [first, ctx.create_callback(name="answer").result()]

    journal = MemoryJournal()
    assert run_durable(workflow, None, journal=journal, execution_id="r").status == "PENDING"
    history = journal.read_history("r")
    serdes.starved = True
    with pytest.raises(JournalUnavailableError, match=type(error).__name__) as caught:
        run_durable(workflow, None, journal=journal, execution_id="r")
    assert not isinstance(caught.value, JournalCorruptError)
    assert "not a corrupt record" in str(caught.value)
    record = journal.get_execution("r")
    assert record is not None and record.status == "RUNNING"
    now = journal.read_history("r")
    assert now[: len(history)] == history  # only the stopped invocation's end was added
    (ended,) = now[len(history) :]
    assert ended.event_type == "InvocationCompleted"
    assert ended.details["Error"]["ErrorType"] == "JournalUnavailableError"  # not a crash
    serdes.starved = False
    pending = run_durable(workflow, None, journal=journal, execution_id="r")
    send_callback_success(journal, pending.pending_callbacks[0], "yes")
    done = run_durable(workflow, None, journal=journal, execution_id="r")
    assert (done.status, done.result) == ("SUCCEEDED", [{"n": 1}, "yes"])


def test_a_full_disk_is_no_corrupt_journal(tmp_path: Path) -> None:
    """SQLite's SQLITE_FULL ("database or disk is full") was reported as corruption."""
    journal = SqliteJournal(tmp_path / "j.sqlite")
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute(f"PRAGMA max_page_count = {pages}")  # the file may grow no more
    started = HistoryEntry("ExecutionStarted", 0.0, None, {"Input": "x" * 100_000})
    with pytest.raises(JournalUnavailableError, match="full") as caught:
        journal.open_execution("e", "x" * 100_000, started)
    assert not isinstance(caught.value, JournalCorruptError)
    journal.close()


def test_a_resource_cause_is_found_through_the_chain() -> None:
    def chained(inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise ValueError("wrapped") from exc
        except ValueError as outer:
            return outer

    memory = MemoryError()
    assert resource_cause(chained(memory)) is memory
    assert resource_cause(ValueError("bad bytes")) is None
    assert resource_cause(chained(KeyError("k"))) is None
