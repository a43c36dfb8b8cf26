"""The durable journal: an append-only history of every checkpoint, each operation's latest
record (what replay reads), and each execution's lease.

Each checkpoint call appends its entries in one atomic write (`Journal.append` takes a batch, so
the updates a checkpoint groups together commit together). The history is what
`durable_sim.durable.history` exports as AWS's execution history; the latest records are a view
of it kept for fast replay. Three backends: `MemoryJournal` (for fast experiments),
`SqliteJournal` (one file shared by the processes of a machine; WAL, one durable commit per
checkpoint or per group of concurrent ones) and `PostgresJournal` (a database shared by
machines). `open_journal` picks one from a string.

Every backend gives an invocation a lease on its execution and fences every write by the
lease's epoch (`durable_sim.durable.lease` states the guarantees); a terminal record (an
operation's or the execution's) is never replaced. Executions submitted with a function name
form a queue that workers (`durable_sim.durable.worker`) take them from.
"""

from __future__ import annotations

import threading
from pathlib import Path

from durable_sim.dsn import DEFAULT_QUERY_TIMEOUT_S, Interrupt, check_timeout
from durable_sim.durable.journal.base import READY_NOW, Journal
from durable_sim.durable.journal.memory import MemoryJournal
from durable_sim.durable.journal.postgres import PostgresJournal, is_postgres_dsn
from durable_sim.durable.journal.records import (
    TERMINAL,
    ExecutionRecord,
    HistoryEntry,
    OperationRecord,
)
from durable_sim.durable.journal.sqlite import SqliteJournal


def open_journal(
    where: str | Path,
    *,
    group_commit: bool = True,
    timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
    interrupt: threading.Event | Interrupt | None = None,
) -> Journal:
    """The journal `where` names: ``"memory"``, a ``postgresql://`` URL or libpq connection
    string (``host=... dbname=...``), or the path of a SQLite file. For Postgres, `timeout_s`
    (1 s to 2**31 - 1 s, `durable_sim.dsn.check_timeout`; 10 s by default) bounds each wait
    for the server, to connect and for each answer, and `interrupt` cuts a wait short
    (`PostgresJournal`); `timeout_s` is checked whatever the journal (ValueError). Raises the
    backend's error for a bad path or an unreachable server."""
    timeout_s = check_timeout("timeout_s", timeout_s)
    if isinstance(where, str) and where == "memory":
        return MemoryJournal()
    if isinstance(where, str) and is_postgres_dsn(where):
        return PostgresJournal(
            where,
            group_commit=group_commit,
            connect_timeout_s=timeout_s,
            query_timeout_s=timeout_s,
            interrupt=interrupt,
        )
    return SqliteJournal(where, group_commit=group_commit)


__all__ = [
    "READY_NOW",
    "TERMINAL",
    "ExecutionRecord",
    "HistoryEntry",
    "Journal",
    "MemoryJournal",
    "OperationRecord",
    "PostgresJournal",
    "SqliteJournal",
    "open_journal",
]
