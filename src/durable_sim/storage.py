"""Where an experiment's runs keep their state: the durable journal and the baseline's store.

An experiment spec names a ``database`` (`check_database`):

``memory``    a `MemoryJournal` and an in-memory store per run (the default; canonical runs).
``sqlite``    a journal file and a store file per run, in the experiment's scratch directory.
``postgres``  one PostgreSQL server for the experiment, started by this project
              (`durable_sim.pgcluster.PostgresCluster`, with fsync on: commits are durable, as
              a deployment's would be) and removed afterwards.
a URL         ``postgresql://...`` names a server of one's own.

On Postgres each run gets a schema of its own (created before the run, dropped after it), in
which both its journal and its store live, so a durable run's checkpoint writes and a baseline
run's store calls go to the same server and are measured alike. Opening and closing a run's
storage happens outside the time the run measures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from durable_sim.baseline import KVStore, open_store
from durable_sim.clock import Clock
from durable_sim.dsn import check_dsn, redact
from durable_sim.durable import Journal, PostgresJournal, SqliteJournal
from durable_sim.durable.errors import JournalUnavailableError
from durable_sim.errors import SpecError
from durable_sim.latency import Sampler
from durable_sim.pgcluster import PostgresCluster

DATABASES = ("memory", "sqlite", "postgres")
_URL_SCHEMES = ("postgresql://", "postgres://")


def check_database(value: object) -> str:
    """`value` if it names where runs keep their state: ``memory``, ``sqlite``, ``postgres``,
    or a ``postgresql://`` URL. Raises ValueError naming the value and what is accepted."""
    accepted = (
        "accepted: 'memory', 'sqlite', 'postgres' (a server this project starts) or a "
        "postgresql:// URL"
    )
    if isinstance(value, str) and value in DATABASES:
        return value
    if isinstance(value, str) and value.startswith(_URL_SCHEMES):
        return check_dsn(value)
    raise ValueError(f"database {value!r} is unknown ({accepted})")


def in_schema(url: str, schema: str) -> str:
    """`url` with ``-csearch_path=<schema>`` added to its ``options`` parameter."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = " ".join([v for k, v in query if k == "options"] + [f"-csearch_path={schema}"])
    query = [(k, v) for k, v in query if k != "options"] + [("options", options)]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@dataclass(frozen=True)
class Storage:
    """An experiment's open storage: its `kind` and where (`root`: the scratch directory for
    SQLite, the server's URL for Postgres). Picklable, so worker processes share it."""

    kind: Literal["memory", "sqlite", "postgres"]
    root: str = ""

    @contextmanager
    def for_run(self) -> Iterator[RunStorage | None]:
        """A run's own journal and store location (``None`` for memory: the defaults)."""
        if self.kind == "memory":
            yield None
            return
        name = f"run_{uuid.uuid4().hex[:16]}"
        if self.kind == "sqlite":
            folder = Path(self.root) / name
            folder.mkdir()
            with SqliteJournal(folder / "journal.sqlite") as journal:
                yield RunStorage(journal, "sqlite", folder / "store.sqlite")
            return
        self._schema(f"CREATE SCHEMA {name}", "create the run's schema")
        url = in_schema(self.root, name)
        try:
            with PostgresJournal(url) as journal:
                yield RunStorage(journal, url, None)
        except BaseException:
            with suppress(JournalUnavailableError):  # the run's own error is the one to report
                self._schema(f"DROP SCHEMA {name} CASCADE", "drop the run's schema")
            raise
        self._schema(f"DROP SCHEMA {name} CASCADE", "drop the run's schema")

    def _schema(self, statement: str, doing: str) -> None:
        """Run one schema statement on the server; a server that cannot be reached or does not
        answer in time (`durable_sim.pgconn`'s deadlines) is a `JournalUnavailableError` naming
        the server (password redacted), what was being done and why."""
        import psycopg  # imported where a database is used: a run in memory never loads it

        from durable_sim import pgconn

        try:
            with pgconn.connect(self.root) as conn:
                conn.execute(statement)
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            raise JournalUnavailableError(
                f"database {redact(self.root)!r}: cannot {doing}: {reason}"
            ) from None


#: The default: every run in memory.
IN_MEMORY = Storage("memory")


@dataclass(frozen=True)
class RunStorage:
    """One run's journal, and where its store lives (`store_backend` and `store_path` as
    `open_store` takes them)."""

    journal: Journal
    store_backend: str
    store_path: Path | None

    def open_store(self, clock: Clock, sampler: Sampler) -> KVStore:
        """The run's counting key-value store on `clock` with `sampler`."""
        return open_store(self.store_backend, clock=clock, sampler=sampler, path=self.store_path)


class DatabaseUnreachableError(SpecError):
    """A ``database`` URL whose server cannot be reached (or refuses the connection: a wrong
    password, a database that does not exist), found before any run; the message names the URL
    without its password and the server's reason. Bad usage, like any bad spec value."""


#: Seconds to wait for a named server to answer the check before any run (libpq's
#: ``connect_timeout``).
CONNECT_TIMEOUT_S = 10


def check_reachable(url: str) -> None:
    """Connect to the server of the ``postgresql://`` `url` once and disconnect.

    Raises `DatabaseUnreachableError` naming the URL (password redacted) and the reason."""
    import psycopg  # imported where a database is used: a run in memory never loads it

    from durable_sim import pgconn

    try:
        pgconn.connect(url, connect_timeout_s=CONNECT_TIMEOUT_S).close()
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise DatabaseUnreachableError(
            f"database {redact(url)!r} cannot be reached: {reason} (accepted: the URL of a "
            "PostgreSQL server that accepts this connection)"
        ) from None


@contextmanager
def open_storages(databases: Iterable[str], scratch: Path) -> Iterator[dict[str, Storage]]:
    """The storage each of `databases` names (`check_database`), by name: one per distinct
    name, so experiments that name ``postgres`` share one server, started here and removed on
    exit. `scratch` (an existing directory) holds SQLite files. A server named by URL is
    contacted first (`check_reachable`): `DatabaseUnreachableError` before any run."""
    names = list(dict.fromkeys(check_database(d) for d in databases))
    with ExitStack() as stack:
        opened: dict[str, Storage] = {}
        for name in names:
            if name == "memory":
                opened[name] = IN_MEMORY
            elif name == "sqlite":
                opened[name] = Storage("sqlite", str(scratch))
            elif name == "postgres":
                opened[name] = Storage("postgres", stack.enter_context(PostgresCluster()).dsn)
            else:
                check_reachable(name)
                opened[name] = Storage("postgres", name)
        yield opened
