"""Journals: SQLite round trip, and corrupt or truncated files named in the error."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration

from durable_sim import JournalCorruptError, SqliteJournal, run_durable


def _workflow(event: Any, ctx: DurableContext) -> int:
    total = 0
    for i in range(event["n"]):
        total += ctx.step(lambda _, i=i: {"i": i, "pad": "p" * 200}, name=f"s{i}")["i"]
    ctx.wait(Duration.from_seconds(2))
    return total


def test_sqlite_journal_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with SqliteJournal(path) as journal:
        run = run_durable(_workflow, {"n": 5}, journal=journal, execution_id="e")
    assert (run.status, run.result) == ("SUCCEEDED", 10)
    with SqliteJournal(path) as journal:
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
