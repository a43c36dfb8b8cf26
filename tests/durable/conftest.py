"""Shared helpers for the durable engine's tests: constant costs, body-execution counters, and
a journal on each backend."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from durable_sim.durable import Journal, MemoryJournal, PostgresJournal, SqliteJournal
from durable_sim.latency import Dist, LatencyProfile

STEP_MS = 100.0

# Only a step costs time, so elapsed virtual time counts step executions exactly.
STEP_ONLY = LatencyProfile(name="test-step-only", step=Dist(STEP_MS))


@pytest.fixture
def calls() -> Counter[str]:
    """A side channel: step bodies count their executions here, keyed by their identity."""
    return Counter()


class JournalBackend:
    """A fresh journal location on one backend; `open` gives another handle on it, as another
    process would have (the memory journal: the same object, it has one)."""

    def __init__(self, name: str, opener: Callable[[], Journal], location: str = "") -> None:
        self.name = name
        self.location = location  # the SQLite path or the Postgres DSN
        self._opener = opener
        self._handles: list[Journal] = []

    def open(self) -> Journal:
        journal = self._opener()
        self._handles.append(journal)
        return journal

    def close(self) -> None:
        for journal in self._handles:
            journal.close()


JOURNALS = ["memory", "sqlite", "postgres"]
SHARED_JOURNALS = ["sqlite", "postgres"]  # several handles, or processes, on one location


def journal_backend(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> JournalBackend:
    if name == "memory":
        shared = MemoryJournal()
        return JournalBackend(name, lambda: shared)
    if name == "sqlite":
        path = str(tmp_path / "journal.sqlite")
        return JournalBackend(name, lambda: SqliteJournal(path), path)
    dsn = request.getfixturevalue("postgres_dsn")  # a new schema: only Postgres tests start one
    return JournalBackend(name, lambda: PostgresJournal(dsn), dsn)


@pytest.fixture(params=JOURNALS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JournalBackend]:
    """A fresh, empty journal location on each backend in turn."""
    location = journal_backend(request, request.param, tmp_path)
    yield location
    location.close()


@pytest.fixture(params=SHARED_JOURNALS)
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JournalBackend]:
    """A fresh journal location that several processes can open (SQLite, Postgres)."""
    location = journal_backend(request, request.param, tmp_path)
    yield location
    location.close()
