"""tests/conftest.py: the Postgres fixtures use a cluster a tool names (`SHARED_CLUSTER_ENV`)
instead of starting their own, and every test's schema is its own across processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from durable_sim.pgcluster import PostgresCluster
from tests.conftest import SHARED_CLUSTER_ENV, SharedCluster, schema_name, shared_cluster

ROOT = Path(__file__).resolve().parent.parent


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_schema_is_unique_per_test_and_per_process() -> None:
    names = {
        schema_name(nodeid, pid)
        for nodeid in ("tests/a.py::t", "tests/a.py::u", "tests/b.py::t[1-x]")
        for pid in (1, 4194304)  # Linux's highest pid_max
    }
    assert len(names) == 6
    for name in names:
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name) and len(name) <= 33, name


@pytest.mark.parametrize("environ", [{}, {SHARED_CLUSTER_ENV: ""}])
def test_without_the_variable_no_shared_cluster_is_used(environ: dict[str, str]) -> None:
    assert shared_cluster(environ) is None


def test_the_variable_names_the_cluster_to_use(
    postgres_cluster: PostgresCluster | SharedCluster,
) -> None:
    assert shared_cluster({SHARED_CLUSTER_ENV: postgres_cluster.dsn}) == SharedCluster(
        postgres_cluster.dsn
    )


def test_a_shared_cluster_that_does_not_answer_fails_naming_the_variable_and_dsn() -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
    with pytest.raises(pytest.fail.Exception) as failed:
        shared_cluster({SHARED_CLUSTER_ENV: dsn})
    message = str(failed.value)
    assert message.startswith(f"{SHARED_CLUSTER_ENV}={dsn!r}: cannot connect (")
    assert "or be unset for the tests to start their own" in message
    assert "\n" not in message


def test_a_session_given_the_variable_uses_that_cluster_and_a_schema_of_its_own(
    tmp_path: Path,
) -> None:
    """A pytest session (as mutmut starts one per mutant) with the variable set starts no
    cluster: its tests' DSNs point at the named one, in a schema named with the session's pid."""
    test = tmp_path / "test_shared.py"
    test.write_text(
        textwrap.dedent(
            """
            import os

            import psycopg


            def test_it(postgres_cluster, postgres_dsn):
                assert postgres_cluster.dsn == os.environ["DURABLE_SIM_TEST_PG_DSN"]
                assert postgres_dsn.startswith(postgres_cluster.dsn + "?")
                with psycopg.connect(postgres_dsn) as conn:
                    (schema,) = conn.execute("SELECT current_schema()").fetchone()
                assert schema.startswith(f"test_{os.getpid()}_"), schema
            """
        )
    )
    with PostgresCluster(fsync=False) as cluster:
        env = dict(os.environ, **{SHARED_CLUSTER_ENV: cluster.dsn})
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest"),
                *("-p", "no:xdist", "-p", "no:cacheprovider", str(test)),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            left = conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'test\\_%'"
            ).fetchone()
        assert left == (0,)  # the session dropped its schema on the shared cluster
