"""Where an experiment's runs keep their state: the durable journal and the baseline's store.

An experiment spec names a ``database`` (`check_database`):

``memory``    a `MemoryJournal` and an in-memory store per run (the default; canonical runs).
``sqlite``    a journal file and a store file per run, in the experiment's scratch directory.
``postgres``  one PostgreSQL server for the experiment, started by this project
              (`durable_sim.pgcluster.PostgresCluster`, with fsync on: commits are durable, as
              a deployment's would be) and removed afterwards.
a DSN         a libpq connection string, as a ``postgresql://`` URL or as ``key=value`` pairs
              (``host=db.example dbname=runs``), names a server of one's own. Its secrets
              (a password...) are never written down (`durable_sim.dsn.redact`); libpq also
              reads a password from ``PGPASSWORD`` or a password file (``~/.pgpass``), which
              keeps it out of specs and parameter files altogether.

On Postgres each run gets a schema of its own (created before the run, dropped after it), in
which both its journal and its store live, so a durable run's checkpoint writes and a baseline
run's store calls go to the same server and are measured alike. Opening and closing a run's
storage happens outside the time the run measures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from durable_sim.baseline import KVStore, open_store
from durable_sim.clock import Clock
from durable_sim.dsn import check_dsn, is_postgres_dsn, redact, scrub
from durable_sim.durable import Journal, PostgresJournal, SqliteJournal
from durable_sim.durable.errors import JournalUnavailableError
from durable_sim.errors import SpecError
from durable_sim.latency import Sampler
from durable_sim.pgcluster import PostgresCluster

DATABASES = ("memory", "sqlite", "postgres")
#: What a ``database`` may be (`check_database`).
ACCEPTED_DATABASES = (
    "accepted: 'memory', 'sqlite', 'postgres' (a server this project starts) or a libpq "
    "connection string: a postgresql:// URL or key=value pairs"
)


def check_database(value: object) -> str:
    """`value` if it names where runs keep their state: ``memory``, ``sqlite``, ``postgres``,
    or a libpq connection string (a ``postgresql://`` URL or ``key=value`` pairs,
    `durable_sim.dsn.check_dsn`). Raises ValueError naming the value, its secrets masked
    (`durable_sim.dsn.redact`), and what is accepted."""
    if isinstance(value, str) and value in DATABASES:
        return value
    if isinstance(value, str) and is_postgres_dsn(value):
        return check_dsn(value)
    shown = repr(redact(value)) if isinstance(value, str) else redact(repr(value))
    raise ValueError(f"database {shown} is unknown ({ACCEPTED_DATABASES})")


def in_schema(dsn: str, schema: str) -> str:
    """`dsn` (a URL or ``key=value`` pairs) with ``-csearch_path=<schema>`` added to its
    ``options`` parameter, in libpq's keyword form."""
    from psycopg import conninfo

    given = conninfo.conninfo_to_dict(dsn).get("options")
    options = " ".join(str(o) for o in (given, f"-csearch_path={schema}") if o)
    return conninfo.make_conninfo(dsn, options=options)


@dataclass(frozen=True)
class Storage:
    """An experiment's open storage: its `kind` and where (`root`: the scratch directory for
    SQLite, the server's DSN for Postgres, shown redacted in the object's repr). Picklable, so
    worker processes share it."""

    kind: Literal["memory", "sqlite", "postgres"]
    root: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"Storage(kind={self.kind!r}, root={redact(self.root)!r})"

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
            reason = scrub(" ".join(str(exc).split()), self.root)
            raise JournalUnavailableError(
                f"database {redact(self.root)!r}: cannot {doing}: {reason}"
            ) from None


#: The default: every run in memory.
IN_MEMORY = Storage("memory")


@dataclass(frozen=True)
class RunStorage:
    """One run's journal, and where its store lives (`store_backend` and `store_path` as
    `open_store` takes them; a DSN shown redacted in the object's repr)."""

    journal: Journal
    store_backend: str
    store_path: Path | None

    def __repr__(self) -> str:
        return (
            f"RunStorage(journal={self.journal!r}, store_backend={redact(self.store_backend)!r}, "
            f"store_path={self.store_path!r})"
        )

    def open_store(self, clock: Clock, sampler: Sampler) -> KVStore:
        """The run's counting key-value store on `clock` with `sampler`."""
        return open_store(self.store_backend, clock=clock, sampler=sampler, path=self.store_path)


class DatabaseUnreachableError(SpecError):
    """A ``database`` DSN whose server cannot be reached (or refuses the connection: a wrong
    password, a database that does not exist), found before any run; the message names the DSN
    without its secrets and the server's reason. Bad usage, like any bad spec value."""


#: Seconds to wait for a named server to answer the check before any run (libpq's
#: ``connect_timeout``).
CONNECT_TIMEOUT_S = 10


def check_reachable(dsn: str) -> None:
    """Connect to the server of the connection string `dsn` once and disconnect.

    Raises `DatabaseUnreachableError` naming the DSN (secrets redacted) and the reason."""
    import psycopg  # imported where a database is used: a run in memory never loads it

    from durable_sim import pgconn

    try:
        pgconn.connect(dsn, connect_timeout_s=CONNECT_TIMEOUT_S).close()
    except psycopg.OperationalError as exc:
        reason = scrub(" ".join(str(exc).split()), dsn)
        raise DatabaseUnreachableError(
            f"database {redact(dsn)!r} cannot be reached: {reason} (accepted: the DSN of a "
            "PostgreSQL server that accepts this connection)"
        ) from None


@contextmanager
def open_storages(databases: Iterable[str], scratch: Path) -> Iterator[dict[str, Storage]]:
    """The storage each of `databases` names (`check_database`), by name: one per distinct
    name, so experiments that name ``postgres`` share one server, started here and removed on
    exit. `scratch` (an existing directory) holds SQLite files. A server named by a DSN is
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
