"""Suite-wide fixtures: a throwaway PostgreSQL cluster, and a fresh schema in it per test.

One cluster per pytest process, so under pytest-xdist one per worker: workers never share a
server, its lifetime or its teardown, and a worker's cluster starts only when one of its tests
asks for Postgres (about a second). Tests that stop, restart or kill a server use a second one,
`scratch_cluster`, so that the first one never goes down. A machine without the server programs
fails these tests with one line saying what to install; they never skip.

A tool that runs the suite many times over (``tools/mutate.py``: one pytest session per mutant)
starts one cluster for all of them and names it in `SHARED_CLUSTER_ENV`; `postgres_cluster` then
connects to that one instead of starting its own. Each test's schema carries this process's id,
so sessions running at once on the shared cluster never meet. `scratch_cluster` always starts its
own (its tests stop and kill the server). The variable is for tools only: unset (as in
``make test``), every session starts its own cluster.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
import pytest

from durable_sim.pgcluster import PostgresCluster, PostgresNotFound

#: A running cluster's superuser DSN that `postgres_cluster` uses instead of starting one
#: (set by tools/mutate.py for its runs; tools/mutate.py has the same name).
SHARED_CLUSTER_ENV = "DURABLE_SIM_TEST_PG_DSN"


def _cluster_or_fail() -> PostgresCluster:
    """A new cluster without fsync: no test here simulates an operating-system crash, and a
    killed server loses nothing the kernel already holds. No server programs: the test fails."""
    try:
        return PostgresCluster(fsync=False)
    except PostgresNotFound as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)


@dataclass(frozen=True)
class SharedCluster:
    """A cluster another process started and will remove (`SHARED_CLUSTER_ENV`): its DSN only."""

    dsn: str


def shared_cluster(environ: Mapping[str, str]) -> SharedCluster | None:
    """The cluster `SHARED_CLUSTER_ENV` names in `environ` once a connection to it succeeds, or
    None when the variable is unset or empty. A DSN that does not connect fails the test with one
    line naming the variable, the DSN and the server's answer."""
    dsn = environ.get(SHARED_CLUSTER_ENV)
    if not dsn:
        return None
    try:
        psycopg.connect(dsn, autocommit=True, connect_timeout=10).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        pytest.fail(
            f"{SHARED_CLUSTER_ENV}={dsn!r}: cannot connect ({reason}); it must name a running "
            "cluster's superuser, or be unset for the tests to start their own",
            pytrace=False,
        )
    return SharedCluster(dsn)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster | SharedCluster]:
    """The cluster for tests that only connect to it (never stopped before the end): the one
    `SHARED_CLUSTER_ENV` names if set, else this process's own."""
    shared = shared_cluster(os.environ)
    if shared is not None:
        yield shared
        return
    with _cluster_or_fail() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def _scratch_cluster_for_session() -> Iterator[PostgresCluster]:
    with _cluster_or_fail() as cluster:
        yield cluster


@pytest.fixture
def scratch_cluster(_scratch_cluster_for_session: PostgresCluster) -> Iterator[PostgresCluster]:
    """A cluster this test may stop, restart or kill, running and with an empty public schema
    when the test starts (tests of one process take turns on it; it is restarted if a test left
    it down)."""
    cluster = _scratch_cluster_for_session
    if not cluster.running:
        cluster.start()
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    yield cluster
    if not cluster.running:
        cluster.start()


def schema_dsn(dsn: str, schema: str) -> str:
    """`dsn` (a URL without query) with its search_path set to `schema`."""
    return f"{dsn}?options={quote(f'-csearch_path={schema}', safe='')}"


def schema_name(nodeid: str, pid: int) -> str:
    """The schema of test `nodeid` in process `pid`: unique among the tests of one session and
    among sessions running at once on one cluster (an SQL identifier, at most 33 characters)."""
    return f"test_{pid}_{hashlib.sha256(nodeid.encode()).hexdigest()[:20]}"


@pytest.fixture
def postgres_dsn(
    postgres_cluster: PostgresCluster | SharedCluster, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A URL whose search_path is a new, empty schema of this test's own (dropped afterwards)."""
    schema = schema_name(request.node.nodeid, os.getpid())
    with psycopg.connect(postgres_cluster.dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    yield schema_dsn(postgres_cluster.dsn, schema)
    with psycopg.connect(postgres_cluster.dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
