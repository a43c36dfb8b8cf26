"""Group commit: concurrent appends share durable commits, within AWS's batch limits; a refused
append leaves its batch-mates written; a crash loses at most the batch in flight."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType

from durable_sim.durable import HistoryEntry, LeaseLostError, OperationRecord, SqliteJournal
from durable_sim.durable.journal.group import (
    MAX_BATCH_BYTES,
    MAX_BATCH_OPERATIONS,
    Append,
    GroupCommit,
)
from durable_sim.faults import dedicated_crash_env
from tests.durable.conftest import JournalBackend

HELPER = Path(__file__).with_name("group_crash_workflow.py")


def _entry(op_id: str, pad: int = 0) -> HistoryEntry:
    record = OperationRecord(
        op_id, None, OperationType.STEP, "Step", "s", OperationStatus.SUCCEEDED, 1, "x" * pad
    )
    return HistoryEntry("StepSucceeded", 1.0, record)


def _hammer(journal: Any, threads: int, per_thread: int, lease: Any) -> None:
    def work(t: int) -> None:
        for i in range(per_thread):
            journal.append("x", [_entry(f"{t}.{i}")], lease)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


@pytest.mark.parametrize("group", [True, False])
def test_concurrent_appends_share_durable_commits(
    shared_backend: JournalBackend, group: bool
) -> None:
    location = shared_backend.location
    journal: Any = (
        SqliteJournal(location, group_commit=group)
        if shared_backend.name == "sqlite"
        else __import__("durable_sim").PostgresJournal(location, group_commit=group)
    )
    started = HistoryEntry("ExecutionStarted", 0.0, None, {})
    lease = journal.open_execution("x", "{}", started, owner="o").lease
    _hammer(journal, threads=8, per_thread=25, lease=lease)
    assert len(journal.open_execution("x", "{}", started).operations) == 200  # all durable
    if group:
        assert journal.commits < 200  # appends that waited went together
    else:
        assert journal.commits == 200  # one durable commit per checkpoint
    journal.close()


def test_batches_stay_within_awss_limits() -> None:
    sizes: list[tuple[int, int]] = []
    gate = threading.Event()

    def commit(batch: list[Append]) -> None:
        gate.wait(5)  # the first commit is slow: everything else queues behind it
        sizes.append((sum(len(a.entries) for a in batch), sum(a.size for a in batch)))

    group = GroupCommit(commit)
    appends = [Append.of("x", [_entry(str(i))], None) for i in range(600)]
    appends.append(Append.of("x", [_entry("big", pad=300_000)], None))
    appends += [Append.of("x", [_entry("big2", pad=300_000)], None) for _ in range(3)]
    appends.append(Append.of("x", [_entry(str(i)) for i in range(300)], None))  # one, too big
    threads = [threading.Thread(target=group.submit, args=(a,)) for a in appends]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    gate.set()
    for thread in threads:
        thread.join()
    assert all(a.done and a.error is None for a in appends)
    assert sum(n for n, _ in sizes) == 600 + 4 + 300
    assert group.commits == len(sizes) < len(appends) / 2
    for operations, size in sizes:
        alone = operations == 300  # an append is never split: too big, it goes alone
        assert alone or (operations <= MAX_BATCH_OPERATIONS and size <= MAX_BATCH_BYTES)


def test_a_refused_append_leaves_its_batch_mates_written(shared_backend: JournalBackend) -> None:
    journal = shared_backend.open()
    started = HistoryEntry("ExecutionStarted", 0.0, None, {})
    stale = journal.open_execution("old", "{}", started, owner="a", lease_s=0.1).lease
    time.sleep(0.2)
    journal.open_execution("old", "{}", started, owner="b")  # taken over
    live = journal.open_execution("new", "{}", started, owner="a").lease
    errors: list[BaseException] = []

    def append(execution_id: str, lease: Any, op: str) -> None:
        try:
            journal.append(execution_id, [_entry(op)], lease)
        except LeaseLostError as exc:
            errors.append(exc)

    threads = [
        threading.Thread(
            target=append, args=("old" if i % 2 else "new", stale if i % 2 else live, str(i))
        )
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 10
    assert sorted(journal.open_execution("new", "{}", started).operations, key=int) == [
        str(i) for i in range(0, 20, 2)
    ]
    assert journal.open_execution("old", "{}", started).operations == {}


# -- the crash matrix: SIGKILL after checkpoint k of a concurrent map on SQLite ------------------


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HELPER), str(tmp / "j.sqlite"), str(tmp / "side"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dedicated_crash_env(),
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("clean")
    proc = _run(tmp)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def _bodies(path: Path) -> list[tuple[str, str, int, int]]:
    """(item, step, attempt, pid) of every body run, in the order they ran."""
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(item, step, int(attempt), int(pid)) for item, step, attempt, pid in rows]


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 4, 9, 15, 22, 30, 37])
def test_sigkill_after_checkpoint_k_of_a_concurrent_map(
    k: int, tmp_path: Path, clean: dict[str, Any]
) -> None:
    crashed = _run(tmp_path, str(k))
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    with SqliteJournal(tmp_path / "j.sqlite") as journal:  # what the crash left durable
        durable = journal.open_execution("map", "null", HistoryEntry(None, 0, None)).operations
    before = _bodies(tmp_path / "side")
    resumed = _run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == clean  # the same result
    after = _bodies(tmp_path / "side")[len(before) :]
    for item, step, attempt, _ in before:  # an at-most-once START is durable before its body
        if step == "b":
            rec = durable.get(f"1.{int(item) + 1}.2")
            assert rec is not None and rec.attempt >= attempt, (item, attempt)
    for item, step, attempt, _ in after:
        rec = durable.get(f"1.{int(item) + 1}.{1 if step == 'a' else 2}")
        # no step whose completion was durable runs again ...
        assert rec is None or rec.status is not OperationStatus.SUCCEEDED, (item, step)
        # ... and an interrupted at-most-once attempt is never re-run: only a new attempt
        if step == "b" and rec is not None:
            assert attempt > rec.attempt, (item, attempt)
    reruns = {(i, s) for i, s, _, _ in after} & {(i, s) for i, s, _, _ in before}
    lost = {
        (item, step)
        for item, step in reruns
        if durable.get(f"1.{int(item) + 1}.{1 if step == 'a' else 2}") is None
        or durable[f"1.{int(item) + 1}.{1 if step == 'a' else 2}"].status
        is not OperationStatus.SUCCEEDED
    }
    assert reruns == lost  # only steps whose completion had not reached the journal re-ran


# -- batching, deterministically: appends queued before a leader commits ------------------------


def test_the_limits_are_the_sdks_checkpoint_batcher_defaults() -> None:
    from aws_durable_execution_sdk_python.state import CheckpointBatcherConfig

    sdk = CheckpointBatcherConfig()
    assert (MAX_BATCH_OPERATIONS, MAX_BATCH_BYTES) == (250, 750 * 1024)
    assert (sdk.max_batch_operations, sdk.max_batch_size_bytes) == (250, 750 * 1024)
    group = GroupCommit(lambda batch: None)
    assert (group.enabled, group.max_operations, group.max_bytes) == (True, 250, 750 * 1024)


class _Recorder:
    """A commit function that records each batch it is given (as lists of op ids)."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    def __call__(self, batch: list[Append]) -> None:
        self.batches.append([e.operation.id for a in batch for e in a.entries])  # type: ignore[union-attr]
        if self.fail is not None:
            raise self.fail


def _queued(group: GroupCommit, *ops: int | list[str]) -> list[Append]:
    appends = []
    for op in ops:
        names = [str(op)] if isinstance(op, int) else op
        append = Append.of("x", [_entry(name) for name in names], None)
        group.enqueue(append)
        appends.append(append)
    return appends


def test_a_batch_takes_queued_appends_in_order_up_to_the_operation_limit() -> None:
    commit = _Recorder()
    group = GroupCommit(commit, max_operations=3)
    a, b, c, d = _queued(group, ["1", "2"], 3, 4, 5)
    group.wait(c)  # the leader commits the oldest first
    assert commit.batches == [["1", "2", "3"], ["4", "5"]]  # 3 operations fit, a 4th does not
    assert (a.done, b.done, c.done, d.done, group.commits) == (True, True, True, True, 2)
    group.wait(d)  # already durable: no commit
    assert group.commits == 2


def test_a_batch_stays_within_the_byte_limit_and_a_large_append_goes_alone() -> None:
    commit = _Recorder()
    one = Append.of("x", [_entry("1")], None).size
    group = GroupCommit(commit, max_bytes=2 * one)
    appends = _queued(group, 1, 2, 3, ["4", "5", "6"], 7)
    group.wait(appends[-1])
    assert commit.batches == [["1", "2"], ["3"], ["4", "5", "6"], ["7"]]
    assert group.commits == 4


def test_without_group_commit_every_append_commits_alone() -> None:
    commit = _Recorder()
    group = GroupCommit(commit, enabled=False)
    appends = _queued(group, 1, 2, 3)
    group.wait(appends[-1])
    assert commit.batches == [["1"], ["2"], ["3"]] and group.commits == 3


def test_a_failed_commit_fails_its_whole_batch_and_counts_no_commit() -> None:
    boom = OSError("disk full")
    commit = _Recorder(fail=boom)
    group = GroupCommit(commit)
    a, b = _queued(group, 1, 2)
    with pytest.raises(OSError, match="disk full"):
        group.wait(b)
    assert (a.error, b.error, a.done, group.commits) == (boom, boom, True, 0)
    with pytest.raises(OSError, match="disk full"):
        group.wait(a)


def test_an_append_the_commit_refused_keeps_its_own_error() -> None:
    refused = LeaseLostError("taken over")

    def commit(batch: list[Append]) -> None:
        batch[0].error = refused

    group = GroupCommit(commit)
    a, b = _queued(group, 1, 2)
    with pytest.raises(LeaseLostError, match="taken over"):
        group.wait(a)
    group.wait(b)  # its batch-mate was written
    assert b.error is None and group.commits == 1


def test_an_append_is_encoded_once_with_what_it_does_to_its_execution() -> None:
    started = OperationRecord("1", None, OperationType.STEP, "Step", "s", OperationStatus.STARTED)
    entries = [
        HistoryEntry("StepStarted", 1.0, started),
        _entry("1"),
        HistoryEntry("InvocationCompleted", 2.0, None, {}),
    ]
    lease: Any = object()
    append = Append.of("x", entries, lease)
    assert append.entries_json == "[" + ",".join(e.to_json() for e in entries) + "]"
    assert json.loads(append.entries_json)[1]["op"]["status"] == "SUCCEEDED"
    assert append.size == len(append.entries_json)
    ended = entries[1].operation
    assert ended is not None
    assert append.records == {"1": (json.dumps(ended.to_dict(), separators=(",", ":")), True)}
    assert (append.execution_id, append.lease, append.invocations) == ("x", lease, 1)
    assert (append.wake, append.done, append.error) == (False, False, None)
    assert Append.of("x", entries, None).wake is True  # the outside world ended an operation
    assert Append.of("x", entries[:1], None).wake is False
    assert Append.of("x", [], None).entries_json == "[]"
