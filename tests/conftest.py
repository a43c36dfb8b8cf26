"""Suite-wide fixtures: a throwaway PostgreSQL cluster, and a fresh schema in it per test.

One cluster per pytest process, so under pytest-xdist one per worker: workers never share a
server, its lifetime or its teardown, and a worker's cluster starts only when one of its tests
asks for Postgres (about a second). Tests that stop, restart or kill a server use a second one,
`scratch_cluster`, so that the first one never goes down. A machine without the server programs
fails these tests with one line saying what to install; they never skip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest

from durable_sim.pgcluster import PostgresCluster, PostgresNotFound


def _cluster_or_fail() -> PostgresCluster:
    """A new cluster without fsync: no test here simulates an operating-system crash, and a
    killed server loses nothing the kernel already holds. No server programs: the test fails."""
    try:
        return PostgresCluster(fsync=False)
    except PostgresNotFound as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """This process's cluster for tests that only connect to it (never stopped before the end)."""
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


@pytest.fixture
def postgres_dsn(
    postgres_cluster: PostgresCluster, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A URL whose search_path is a new, empty schema of this test's own (dropped afterwards)."""
    schema = "test_" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:20]
    with psycopg.connect(postgres_cluster.dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    yield schema_dsn(postgres_cluster.dsn, schema)
    with psycopg.connect(postgres_cluster.dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
