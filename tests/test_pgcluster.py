"""The throwaway PostgreSQL cluster: lifecycle, crash and restart, who it runs as, clear errors."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from durable_sim import pgcluster
from durable_sim.pgcluster import (
    ClusterError,
    PostgresCluster,
    PostgresNotFound,
    find_bindir,
    server_account,
)

ROOT = Path(__file__).resolve().parent.parent


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for process {pid}")


def _values(dsn: str) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [x for (x,) in conn.execute("SELECT x FROM t ORDER BY x").fetchall()]


def _log_since(cluster: PostgresCluster, offset: int) -> str:
    with cluster.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def test_fast_restart_keeps_data_port_and_drops_clients(scratch_cluster: PostgresCluster) -> None:
    cluster = scratch_cluster
    dsn, pid = cluster.dsn, cluster.pid
    assert dsn == f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"
    expected_uid = os.geteuid() if cluster.account is None else cluster.account.pw_uid
    assert pid is not None and _uid_of(pid) == expected_uid
    assert (cluster.socket_dir / f".s.PGSQL.{cluster.port}").is_socket()
    client = psycopg.connect(dsn, autocommit=True)
    client.execute("CREATE TABLE t (x int)")
    client.execute("INSERT INTO t VALUES (1)")
    cluster.restart(mode="fast")
    assert cluster.dsn == dsn and cluster.pid not in (None, pid)
    with pytest.raises(psycopg.OperationalError):
        client.execute("SELECT 1")  # a fast shutdown disconnects every client
    client.close()
    assert _values(dsn) == [1]


def test_kill_then_start_recovers_committed_work_only(scratch_cluster: PostgresCluster) -> None:
    cluster = scratch_cluster
    dsn = cluster.dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
    open_tx = psycopg.connect(dsn)  # a transaction in flight when the server dies
    open_tx.execute("INSERT INTO t VALUES (2)")
    recovered = "not properly shut down; automatic recovery in progress"
    log_size = cluster.log_path.stat().st_size
    cluster.kill()
    assert not cluster.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
    cluster.start()  # crash recovery; its backends exited, so the shared memory is free
    assert _values(dsn) == [1]
    assert recovered in _log_since(cluster, log_size)
    open_tx.close()
    log_size = cluster.log_path.stat().st_size
    cluster.stop(mode="immediate")  # no shutdown checkpoint: the next start recovers again
    cluster.start()
    assert _values(dsn) == [1]
    assert recovered in _log_since(cluster, log_size)


def test_a_cluster_from_creation_to_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creation survives a port taken meanwhile; as root the server runs as the account named
    in the environment; close stops it and removes its directory."""
    if os.geteuid() == 0:
        monkeypatch.setenv(pgcluster.USER_ENV, "nobody")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        ports = iter([busy])
        real_free_port = pgcluster._free_port
        monkeypatch.setattr(pgcluster, "_free_port", lambda: next(ports, None) or real_free_port())
        pg = PostgresCluster(fsync=False)
    pid, root = pg.pid, pg.root
    assert pid is not None and root.is_dir()
    assert pg.port != busy and "Address already in use" in pg.log_path.read_text()
    expected = os.geteuid() if os.geteuid() != 0 else pwd.getpwnam("nobody").pw_uid
    assert _uid_of(pid) == expected
    pg.close()
    pg.close()  # idempotent
    assert not root.exists()
    assert pgcluster._is_gone(pid)
    assert not pg.running


def test_lifecycle_errors(scratch_cluster: PostgresCluster) -> None:
    cluster = scratch_cluster
    with pytest.raises(ValueError, match=r"bad shutdown mode 'slow' \(accepted: 'smart', 'fast'"):
        cluster.stop(mode="slow")  # type: ignore[arg-type]
    with pytest.raises(ClusterError, match="is already running"):
        cluster.start()
    cluster.stop()
    for call in (cluster.stop, cluster.kill):
        with pytest.raises(ClusterError, match="is not running"):
            call()
    with pytest.raises(ValueError, match=r"bad database name 'a-b' \(accepted: an SQL identifier"):
        cluster.dsn_for("a-b")
    with pytest.raises(ValueError, match=r"bad timeout_s=0 \(accepted: a finite number of sec"):
        PostgresCluster(timeout_s=0)


def test_server_account_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert server_account({}) is None
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    default = server_account({})
    assert default is not None and default.pw_name in ("postgres", "nobody")
    chosen = server_account({pgcluster.USER_ENV: "nobody"})
    assert chosen is not None and chosen.pw_name == "nobody"
    with pytest.raises(ClusterError, match=r"DURABLE_SIM_PG_USER='no-such-user': no such user"):
        server_account({pgcluster.USER_ENV: "no-such-user"})
    with pytest.raises(ClusterError, match=r"DURABLE_SIM_PG_USER='root' is root"):
        server_account({pgcluster.USER_ENV: "root"})


def test_root_with_an_unreachable_base_dir_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # the check applies to root only
    monkeypatch.setenv(pgcluster.USER_ENV, "nobody")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(ClusterError, match=r"user 'nobody'.* cannot enter '/.*': pass base_dir"):
        PostgresCluster(base_dir=private)
    assert list(private.iterdir()) == []  # nothing left behind


def test_find_bindir_search_order(tmp_path: Path) -> None:
    real = find_bindir()
    assert (real / "initdb").exists() and (real / "postgres").exists()
    nothing = tmp_path / "empty"
    nothing.mkdir()
    assert find_bindir({pgcluster.BINDIR_ENV: str(real)}, lib_dir=nothing) == real
    assert find_bindir({"PATH": str(real)}, lib_dir=nothing) == real
    pg_config = tmp_path / "bin" / "pg_config"
    pg_config.parent.mkdir()
    pg_config.write_text(f"#!/bin/sh\necho {real}\n")
    pg_config.chmod(0o755)
    assert find_bindir({"PATH": str(pg_config.parent)}, lib_dir=nothing) == real
    debian = tmp_path / "lib"
    (debian / "9" / "bin").mkdir(parents=True)  # no programs in it: skipped
    (debian / "15").symlink_to(real.parent)
    assert find_bindir({"PATH": ""}, lib_dir=debian).resolve() == real.resolve()


def test_missing_server_programs_say_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(PostgresNotFound, match=r"not found .*install them with `apt install"):
        find_bindir({"PATH": str(tmp_path)}, lib_dir=tmp_path)
    with pytest.raises(PostgresNotFound, match=r"DURABLE_SIM_PG_BINDIR='/nope' holds no .*`apt"):
        find_bindir({pgcluster.BINDIR_ENV: "/nope"})


def test_the_fixture_fails_rather_than_skips_without_a_server() -> None:
    # Plugins are not needed to run one test, and loading them all takes seconds.
    env = {**os.environ, pgcluster.BINDIR_ENV: "/nonexistent/bin"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["COLUMNS"] = "400"  # the short summary repeats the message at any width; -rN drops it
    test = "tests/baseline/test_store.py::test_atomic_add[postgres]"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout
    assert "1 error" in done.stdout and "skipped" not in done.stdout
    assert done.stdout.count("`apt install postgresql-15`") == 1, done.stdout


_OWNER = """
import sys, time
from durable_sim.pgcluster import PostgresCluster
cluster = PostgresCluster(fsync=False)
print(cluster.root, cluster.pid, flush=True)
time.sleep(600)
"""


def _wait_gone(pid: int, path: Path, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() and not path.exists():
            return True
        time.sleep(0.05)
    return False


def test_a_cluster_whose_owner_is_killed_is_stopped_and_removed_by_its_reaper() -> None:
    owner = subprocess.Popen([sys.executable, "-c", _OWNER], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    root, pid = owner.stdout.readline().split()
    assert Path(f"/proc/{pid}").exists() and Path(root).is_dir()
    owner.kill()  # no teardown, no interpreter exit
    owner.wait()
    gone = _wait_gone(int(pid), Path(root))
    if not gone:  # leave nothing running for the next test
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGQUIT)
        shutil.rmtree(root, ignore_errors=True)
    assert gone, f"postmaster {pid} or {root} outlived its owner"


def test_a_closed_cluster_ends_its_reaper() -> None:
    cluster = PostgresCluster(fsync=False)
    reaper = cluster._state.reaper
    assert reaper is not None and reaper.poll() is None
    cluster.close()
    assert reaper.returncode == 0 and not cluster.root.exists()


def test_the_reaper_never_signals_a_process_that_does_not_serve_its_cluster(
    tmp_path: Path,
) -> None:
    """After a kill, postmaster.pid may name a pid reused since by another process."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        root = tmp_path / "durable-sim-pg-x"
        (root / "data").mkdir(parents=True)
        (root / "data" / "postmaster.pid").write_text(f"{bystander.pid}\n{root / 'data'}\n")
        reaper = pgcluster._start_reaper(root)
        assert reaper.stdin is not None
        reaper.stdin.close()
        assert reaper.wait(30) == 0
        assert bystander.poll() is None and not root.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_forked_child_neither_removes_the_cluster_nor_keeps_it_alive() -> None:
    """A child's exit runs no teardown of its parent's cluster, and the child holds no copy
    of the reaper's pipe: the parent's death alone ends the cluster."""
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "from durable_sim.pgcluster import PostgresCluster\n"
            "c = PostgresCluster(fsync=False)\n"
            "if os.fork() == 0:\n"
            "    time.sleep(0.3); sys.exit(0)\n"
            "os.wait()\n"
            "print(c.root, c.pid, c.root.exists() and c.running, flush=True)\n"
            "if os.fork() == 0:\n"
            "    time.sleep(600); os._exit(0)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    root, pid, alive = owner.stdout.readline().split()
    assert alive == "True"  # the first child's exit left the cluster alone
    owner.kill()  # the second child, still sleeping, holds no end of the reaper's pipe
    owner.wait()
    gone = _wait_gone(int(pid), Path(root))
    subprocess.run(["pkill", "-f", "time.sleep(600); os._exit"], check=False)
    if not gone:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGQUIT)
        shutil.rmtree(root, ignore_errors=True)
    assert gone, f"postmaster {pid} or {root} outlived its owner"
