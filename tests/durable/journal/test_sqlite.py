"""The SQLite journal's own behaviour: the switch of a new file to WAL, retried with back-off
while another connection holds the file (5 ms doubling to 100 ms, up to the busy timeout), the
file's settings, and which journal error an SQLite error becomes."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType

from durable_sim.durable import (
    HistoryEntry,
    JournalCorruptError,
    JournalPathError,
    JournalUnavailableError,
    OperationClosedError,
    OperationRecord,
    SqliteJournal,
)
from durable_sim.durable.journal import sqlite


class HeldFile:
    """Another connection holding a write lock on `path` (SQLite then refuses the switch to WAL
    at once), and a stand-in for `time` whose `sleep` advances a virtual monotonic clock, records
    each pause and lets the file go after `release_after` pauses (``None``: never)."""

    def __init__(self, path: Path, release_after: int | None) -> None:
        self.holder = sqlite3.connect(path, isolation_level=None)
        self.holder.execute("BEGIN IMMEDIATE")
        self.release_after = release_after
        self.pauses: list[float] = []
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        if len(self.pauses) == self.release_after:
            self.holder.execute("COMMIT")

    def close(self) -> None:
        self.holder.close()


def _held(monkeypatch: pytest.MonkeyPatch, path: Path, release_after: int | None) -> HeldFile:
    held = HeldFile(path, release_after)
    stand_in = SimpleNamespace(time=sqlite.time.time, monotonic=held.monotonic, sleep=held.sleep)
    monkeypatch.setattr(sqlite, "time", stand_in)
    return held


def test_the_switch_to_wal_backs_off_from_5_ms_doubling_to_100_ms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.sqlite"
    held = _held(monkeypatch, path, release_after=8)
    try:
        with SqliteJournal(path, busy_timeout_s=10.0) as journal:
            mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
            journal.open_execution("e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}))
    finally:
        held.close()
    assert mode == "wal"
    assert held.pauses == [0.005, 0.01, 0.02, 0.04, 0.08, 0.1, 0.1, 0.1]


def test_a_file_held_past_the_busy_timeout_is_unavailable_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.sqlite"
    held = _held(monkeypatch, path, release_after=None)
    try:
        with pytest.raises(JournalUnavailableError) as info:
            SqliteJournal(path, busy_timeout_s=0.5)
    finally:
        held.close()
    assert str(info.value) == f"cannot open journal {path}: database is locked"
    # Retried until the busy timeout (0.5 s of pauses) had passed, not once more.
    assert sum(held.pauses[:-1]) < 0.5 <= sum(held.pauses)
    assert held.pauses[:3] == [0.005, 0.01, 0.02]


def test_each_commit_is_durable_and_in_wal(tmp_path: Path) -> None:
    """The settings the module promises: WAL, ``synchronous=FULL`` (2), the schema version, and
    the busy timeout a write waits for another process's transaction."""
    with SqliteJournal(tmp_path / "j.sqlite") as journal:
        db = journal._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert db.execute("PRAGMA user_version").fetchone()[0] == sqlite.SCHEMA_VERSION == 3
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000  # 30 s by default
    with SqliteJournal(tmp_path / "j.sqlite", busy_timeout_s=2.5) as journal:
        assert journal._db.execute("PRAGMA busy_timeout").fetchone()[0] == 2_500


def _error(path: Path, exc: sqlite3.Error, doing: str) -> Exception:
    with SqliteJournal(path) as journal:
        return journal._error(exc, doing)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (sqlite3.OperationalError("database is locked"), JournalUnavailableError),
        (sqlite3.OperationalError("database table is locked"), JournalUnavailableError),
        (sqlite3.OperationalError("database is busy"), JournalUnavailableError),
        (sqlite3.OperationalError("disk I/O error"), JournalUnavailableError),
        (sqlite3.OperationalError("unable to open database file"), JournalPathError),
        (sqlite3.OperationalError("attempt to write a readonly database"), JournalPathError),
        (sqlite3.DatabaseError("database disk image is malformed"), JournalCorruptError),
        (sqlite3.OperationalError("no such table: history"), JournalCorruptError),
        (sqlite3.DatabaseError("locked"), JournalCorruptError),  # only operational errors wait
    ],
)
def test_each_sqlite_error_becomes_the_journal_error_it_stands_for(
    tmp_path: Path, exc: sqlite3.Error, kind: type[Exception]
) -> None:
    path = tmp_path / "j.sqlite"
    error = _error(path, exc, "write")
    assert type(error) is kind
    assert str(error).startswith(f"cannot write journal {path}: {exc}")
    if kind is JournalPathError:
        assert str(error).endswith(
            "(accepted: a file path in an existing directory that this process may write)"
        )


def test_an_unreadable_file_is_named_corrupt_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    error = _error(path, sqlite3.DatabaseError("file is not a database"), "open")
    assert str(error) == (
        f"cannot open journal {path}: file is not a database (the file is corrupt or "
        "truncated; restore it or start the execution with a new journal)"
    )
    read = _error(path, sqlite3.DatabaseError("file is not a database"), "read")
    assert str(read) == f"cannot read journal {path}: file is not a database"


def test_an_execution_with_an_unknown_status_is_named(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with SqliteJournal(path) as journal:
        journal.open_execution("e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE executions SET status='PAUSED'")
    with SqliteJournal(path) as journal, pytest.raises(JournalCorruptError) as info:
        journal.open_execution("e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}))
    assert str(info.value) == (
        f"journal {path}: execution 'e' has unknown status 'PAUSED' "
        "(accepted: ['FAILED', 'RUNNING', 'SUCCEEDED'])"
    )


def test_a_journal_of_another_version_names_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE history (seq INTEGER)")
        db.execute("PRAGMA user_version=2")
    with pytest.raises(JournalCorruptError) as info:
        SqliteJournal(path)
    assert str(info.value) == (
        f"{path} is a SQLite file but not a durable_sim journal of schema version 3 (found "
        "version 2, tables ['history']); use a new file or the journal that belongs to this "
        "execution"
    )


def test_many_ended_operations_are_all_named(tmp_path: Path) -> None:
    """An append of more operations than one SQL list holds (500) still finds every ended one."""
    started = HistoryEntry("ExecutionStarted", 0.0, None, {})
    ids = [f"{i:04d}" for i in range(1203)]

    def ops(status: OperationStatus) -> list[HistoryEntry]:
        return [
            HistoryEntry(
                "StepStarted",
                1.0,
                OperationRecord(i, None, OperationType.STEP, "Step", None, status),
            )
            for i in ids
        ]

    with SqliteJournal(tmp_path / "j.sqlite") as journal:
        lease = journal.open_execution("e", "{}", started, owner="o").lease
        journal.append("e", ops(OperationStatus.SUCCEEDED), lease)
        with pytest.raises(OperationClosedError) as info:
            journal.append("e", ops(OperationStatus.STARTED)[::-1], lease)
        assert info.value.op_ids == ids
        journal.release(lease, ready_at=None, watch=ids[-1:])  # ended: ready at once
        claimed = journal.open_execution("e", "{}", started, owner="o2")
        assert claimed.lease is not None and claimed.lease.epoch == 2


def test_a_write_kept_waiting_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with SqliteJournal(path, busy_timeout_s=0.05) as journal:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(JournalUnavailableError) as info:
                journal.open_execution("e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}))
        finally:
            holder.close()
        assert str(info.value) == f"cannot write journal {path}: database is locked"
        assert journal.get_execution("e") is None  # nothing half-written


@pytest.mark.parametrize(("options", "commits"), [({}, 1), ({"group_commit": False}, 3)])
def test_queued_appends_share_one_commit_unless_group_commit_is_off(
    tmp_path: Path, options: dict[str, bool], commits: int
) -> None:
    """Group commit is on by default: appends begun before the first is waited for are written
    in one transaction, in the order they were begun."""
    with SqliteJournal(tmp_path / "j.sqlite", **options) as journal:
        lease = journal.open_execution(
            "e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}), owner="o"
        ).lease
        waits = [
            journal.begin_append(
                "e",
                [
                    HistoryEntry(
                        "StepStarted",
                        1.0,
                        OperationRecord(
                            str(i), None, OperationType.STEP, "Step", None, OperationStatus.STARTED
                        ),
                    )
                ],
                lease,
            )
            for i in range(3)
        ]
        waits[-1]()
        for wait in waits:
            wait()
        assert journal.commits == commits
        history = journal.read_history("e")
        assert [e.operation.id for e in history[1:]] == ["0", "1", "2"]  # type: ignore[union-attr]


class _Refusing:
    """A connection that answers the switch to WAL with `errors` (one per attempt) before
    letting it through; everything else goes to the real connection."""

    def __init__(self, db: sqlite3.Connection, errors: list[str]) -> None:
        self._db = db
        self._errors = errors

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "PRAGMA journal_mode=WAL" and self._errors:
            raise sqlite3.OperationalError(self._errors.pop(0))
        return self._db.execute(sql, *args)

    def close(self) -> None:
        self._db.close()


def _refusing(monkeypatch: pytest.MonkeyPatch, errors: list[str]) -> list[float]:
    """Connections of the SQLite journal answer the WAL switch with `errors`; returns the list
    that records the back-off pauses (slept on a virtual clock)."""
    pauses: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    connect = sqlite3.connect
    stand_in = SimpleNamespace(
        connect=lambda *a, **kw: _Refusing(connect(*a, **kw), errors),
        Error=sqlite3.Error,
        OperationalError=sqlite3.OperationalError,
        Connection=sqlite3.Connection,
    )
    monkeypatch.setattr(sqlite, "sqlite3", stand_in)
    monkeypatch.setattr(
        sqlite,
        "time",
        SimpleNamespace(time=sqlite.time.time, monotonic=lambda: now[0], sleep=sleep),
    )
    return pauses


def test_a_busy_answer_to_the_wal_switch_is_retried_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses = _refusing(monkeypatch, ["database is busy", "database table is locked"])
    with SqliteJournal(tmp_path / "j.sqlite", busy_timeout_s=1.0) as journal:
        assert journal.get_execution("e") is None
    assert pauses == [0.005, 0.01]


def test_any_other_error_of_the_wal_switch_is_raised_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.sqlite"
    pauses = _refusing(monkeypatch, ["disk I/O error"])
    with pytest.raises(JournalUnavailableError) as info:
        SqliteJournal(path, busy_timeout_s=1.0)
    assert str(info.value) == f"cannot open journal {path}: disk I/O error"
    assert pauses == []


def test_a_table_gone_from_under_the_journal_is_named_on_read(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with SqliteJournal(path) as journal:
        journal.open_execution("e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}))
        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE operations")
        with pytest.raises(JournalCorruptError) as info:
            journal.get_operation("e", "1")
        assert str(info.value) == f"cannot read journal {path}: no such table: operations"
        with pytest.raises(JournalCorruptError, match=f"cannot write journal {path}: no such"):
            journal.append("e", [_started_op("1")])


def _started_op(op_id: str) -> HistoryEntry:
    record = OperationRecord(op_id, None, OperationType.STEP, "Step", None, OperationStatus.STARTED)
    return HistoryEntry("StepStarted", 1.0, record)


def test_every_write_kept_waiting_past_the_busy_timeout_names_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    started = HistoryEntry("ExecutionStarted", 0.0, None, {})
    with SqliteJournal(path, busy_timeout_s=0.05) as journal:
        journal.open_execution("q", "{}", started, function_name="fn", ready=True)
        lease = journal.open_execution("e", "{}", started, owner="o").lease
        assert lease is not None
        writes = {
            "open_execution": lambda: journal.open_execution("n", "{}", started),
            "renew": lambda: journal.renew(lease, 30.0),
            "release": lambda: journal.release(lease),
            "claim": lambda: journal.claim("w", 30.0, ["fn"]),
            "append": lambda: journal.append("e", [_started_op("1")], lease),
            "finish_execution": lambda: journal.finish_execution(
                "e", "SUCCEEDED", "1", None, started, lease
            ),
        }
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            for name, write in writes.items():
                with pytest.raises(JournalUnavailableError) as info:
                    write()
                assert str(info.value) == f"cannot write journal {path}: database is locked", name
        finally:
            holder.close()
        assert journal.renew(lease, 30.0).epoch == 1  # nothing of the refused writes stayed
        assert journal.get_operation("e", "1") is None
        assert journal.get_execution("n") is None


def test_every_read_of_a_journal_that_lost_its_tables_names_it(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with SqliteJournal(path) as journal:
        journal.open_execution("e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}))
        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE history")
            db.execute("DROP TABLE executions")
        for read in (
            lambda: journal.read_history("e"),
            lambda: journal.get_execution("e"),
        ):
            with pytest.raises(JournalCorruptError, match=f"^cannot read journal {path}: no such"):
                read()


def test_a_malformed_history_row_names_its_execution_and_sequence_number(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with SqliteJournal(path) as journal:
        journal.open_execution("e", "{}", HistoryEntry("ExecutionStarted", 0.0, None, {}))
    with sqlite3.connect(path) as db:
        (seq,) = db.execute("SELECT seq FROM history").fetchone()
        db.execute("UPDATE history SET entries='[{\"e\": 1}]'")
    with SqliteJournal(path) as journal, pytest.raises(JournalCorruptError) as info:
        journal.read_history("e")
    assert str(info.value).startswith(
        f"journal {path}: history entry {seq} of execution 'e' is malformed: "
    )


# -- paths: each refusal names the path and what is accepted -------------------------------------

_ACCEPTED_PATH = "(accepted: a file path in an existing directory; the file is created if missing)"


def test_a_journal_inside_a_file_is_named_with_its_directory(tmp_path: Path) -> None:
    parent = tmp_path / "file"
    parent.write_text("x")
    with pytest.raises(JournalPathError) as info:
        SqliteJournal(parent / "j.sqlite")
    assert str(info.value) == (
        f"journal path {parent / 'j.sqlite'}: its directory {parent} is not a directory "
        f"{_ACCEPTED_PATH}"
    )


def test_a_file_sqlite_cannot_open_is_named_as_a_path_it_cannot_use(tmp_path: Path) -> None:
    """A dangling link into a missing directory passes the path checks (the link's directory
    takes files), and SQLite cannot open it: a path error naming the path, not a corrupt file."""
    link = tmp_path / "j.sqlite"
    link.symlink_to(tmp_path / "missing" / "j.sqlite")
    with pytest.raises(JournalPathError) as info:
        SqliteJournal(link)
    assert str(info.value) == (
        f"cannot open journal {link}: unable to open database file (accepted: a file path in "
        "an existing directory that this process may write)"
    )


def test_an_existing_journal_opens_in_a_directory_that_takes_no_new_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory's probe is for a file yet to be made: a journal that exists (its WAL files
    held by another process) opens even where no new file can be made (say, a directory this
    user may not write; root passes permission bits, so the refusal is played here)."""
    path = tmp_path / "j.sqlite"
    started = HistoryEntry("ExecutionStarted", 0.0, None, {})
    with SqliteJournal(path) as other:
        other.open_execution("e", "{}", started)
        refusal = f"cannot create files in {tmp_path}: Permission denied"
        monkeypatch.setattr(sqlite, "refuses_files", lambda directory: refusal)
        with SqliteJournal(path) as journal:
            assert journal.get_execution("e") is not None
        with pytest.raises(JournalPathError, match="Permission denied"):
            SqliteJournal(tmp_path / "new.sqlite")


def test_the_switch_to_wal_is_retried_until_its_busy_timeout_and_not_a_moment_longer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timeout of exactly three pauses: the attempt made when it has passed, to the instant,
    is the last."""
    path = tmp_path / "j.sqlite"
    held = _held(monkeypatch, path, release_after=None)
    held.now = 0.0
    try:
        with pytest.raises(JournalUnavailableError, match="database is locked"):
            SqliteJournal(path, busy_timeout_s=0.005 + 0.01 + 0.02)
    finally:
        held.close()
    assert held.pauses == [0.005, 0.01, 0.02]


@pytest.mark.parametrize(
    ("bad", "shown"), [(-1, "-1"), (2_147_484, "2147484"), (float("nan"), "nan"), (True, "True")]
)
def test_a_bad_busy_timeout_is_refused_before_the_file_is_made(
    tmp_path: Path, bad: object, shown: str
) -> None:
    """It was not checked at all: a timeout beyond SQLite's millisecond C int made Python's
    sqlite3 wait not at all, silently."""
    with pytest.raises(ValueError) as info:
        sqlite.SqliteJournal(tmp_path / "j.db", busy_timeout_s=bad)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"bad SQLite journal busy_timeout_s={shown} "
        "(accepted: a number of seconds from 0 to 2147483)"
    )
    assert not (tmp_path / "j.db").exists()


def test_open_journal_checks_its_timeout_whatever_the_journal(tmp_path: Path) -> None:
    from durable_sim.durable.journal import open_journal

    with pytest.raises(ValueError, match=r"^bad timeout_s=0.5 \(accepted: a number of seconds"):
        open_journal(str(tmp_path / "j.db"), timeout_s=0.5)
    assert not (tmp_path / "j.db").exists()


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: os.mkfifo(path), "a FIFO (named pipe)"),
        (lambda path: socket.socket(socket.AF_UNIX).bind(str(path)), "a socket"),
        (lambda path: path.symlink_to("/dev/null"), "a character device"),
    ],
)
def test_a_journal_path_that_is_no_regular_file_is_a_path_error(
    tmp_path: Path, make: Any, kind: str
) -> None:
    """SQLite called a FIFO or a device a "disk I/O error", which the journal reported as
    unavailable for now (a worker retried it for minutes); the docstring promises a path error
    for a path that cannot hold a journal."""
    path = tmp_path / "j.sqlite"
    make(path)
    with pytest.raises(JournalPathError) as info:
        SqliteJournal(path)
    assert str(info.value) == f"journal path {path} is {kind} {_ACCEPTED_PATH}"
