"""Sweeps: what a sweep reports when a grid point fails, on every executor, and every error path
of a sweep file and of the experiment spec it holds: one line naming the value and the accepted
range."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_sim import sweeps
from durable_sim.experiments import run_experiment
from durable_sim.sweeps import (
    PointFailedError,
    SweepError,
    local_cluster,
    parse_sweep,
    run_sweep,
)

ROOT = Path(__file__).resolve().parent.parent


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a running one-worker cluster (for ``--scheduler``)."""
    with local_cluster(1) as cluster:
        yield cluster.scheduler_address


EXECUTORS = {
    "serial": [],
    "process pool": ["--workers", "2"],
    "dask LocalCluster": ["--executor", "dask", "--workers", "2"],
    "dask --scheduler": ["--executor", "dask", "--scheduler", "{scheduler}"],
}


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_an_unreachable_database_is_one_line_naming_the_grid_point(
    executor: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The reviewer's: under Dask, distributed's "Compute Failed" block (the worker's traceback)
    came before our line, even with -q, and our line named the DSN's host, not the grid point.
    Now the CLI's whole stderr is one line, on every executor, naming the sweep, the point (its
    DSN masked), what is wrong and what is accepted; the point before it is saved, no index."""
    port = _closed_port()
    dsn = f"postgresql://su:S3cretPassw0rd@127.0.0.1:{port}/db"
    sweep = tmp_path / "db.yaml"
    sweep.write_text(
        "base: {workload: counter, model: durable, runs: 1}\n"
        f"grid: {{database: [memory, '{dsn}']}}\n"
    )
    options = EXECUTORS[executor]
    if "{scheduler}" in options:
        address = request.getfixturevalue("scheduler")
        options = [address if o == "{scheduler}" else o for o in options]
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "durable_sim.cli", "sweep", str(sweep), "--out", str(out), "-q"]
        + options,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    shown = f"user=su password=*** dbname=db host=127.0.0.1 port={port}"  # as the spec keeps it
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"durable-sim: sweep {sweep}: grid point database='{shown}': database cannot be "
        f"reached: connection failed: connection to server at \"127.0.0.1\", port {port} "
        "failed: Connection refused Is the server running on that host and accepting TCP/IP "
        "connections? (accepted: the DSN of a PostgreSQL server that accepts this connection)\n"
    )
    assert "S3cretPassw0rd" not in done.stderr
    assert not (out / "index.csv").exists()


def _fail_at_seed_2(spec: Any) -> Any:
    if spec.seed == 2:
        raise ZeroDivisionError("division by zero at seed 2")
    return run_experiment(spec)


SMALL = {
    "base": {"workload": "counter", "runs": 1, "model": "durable"},
    "grid": {"seed": [0, 1, 2, 3]},
}


def test_an_unexpected_error_names_the_point_and_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A point whose run raises something that is no error of ours (a bug) ends the sweep with
    `PointFailedError` naming the point, the error's type and message, and its traceback in
    `details`; the points before it stay saved."""
    monkeypatch.setattr(sweeps, "run_experiment", _fail_at_seed_2)
    with pytest.raises(PointFailedError) as info:
        run_sweep(parse_sweep(SMALL, source="s.yaml"), tmp_path, progress=False)
    assert str(info.value) == (
        "sweep s.yaml: grid point seed=2: unexpected ZeroDivisionError: division by zero at seed 2"
    )
    assert "_fail_at_seed_2" in info.value.details
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["seed=0.csv", "seed=1.csv"]


def test_an_error_of_ours_names_the_point_and_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from durable_sim.errors import WorkloadError

    def failing(spec: Any) -> Any:
        raise WorkloadError(f"workload 'counter' raised at seed {spec.seed}")

    monkeypatch.setattr(sweeps, "run_experiment", failing)
    with pytest.raises(PointFailedError) as info:
        run_sweep(parse_sweep(SMALL, source="s.yaml"), tmp_path, progress=False)
    assert str(info.value) == (
        "sweep s.yaml: grid point seed=0: WorkloadError: workload 'counter' raised at seed 0"
    )
    assert info.value.details == ""


def test_a_failed_point_under_the_cli_is_one_line_and_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from durable_sim.cli import TRACEBACK_ENV, main

    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: {workload: counter, runs: 1, model: durable}\ngrid: {seed: [1, 2]}\n")
    monkeypatch.setattr(sweeps, "run_experiment", _fail_at_seed_2)
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "o"), "-q"]) == 1
    assert capsys.readouterr().err == (
        f"durable-sim: PointFailedError: sweep {sweep}: grid point seed=2: unexpected "
        "ZeroDivisionError: division by zero at seed 2 (set DURABLE_SIM_TRACEBACK=1 for the "
        "traceback)\n"
    )
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "o"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "in _fail_at_seed_2" in err
    assert err.endswith(
        f"durable-sim: PointFailedError: sweep {sweep}: grid point seed=2: unexpected "
        "ZeroDivisionError: division by zero at seed 2\n"
    )


def test_a_worker_that_cannot_see_the_directory_is_one_sweep_error(tmp_path: Path) -> None:
    """An error before a batch's first point (the worker's checks) is returned as a value too,
    and raised by the sweep as it was raised, with no point named."""
    sweep = parse_sweep(SMALL)
    task = (str(tmp_path), "another-token", sweep.code_sha256, (), [])
    done = sweeps._run_batch(task)
    assert done.saved == [] and done.failure is not None
    with pytest.raises(SweepError, match=r"^a worker on host .* cannot see the output directory"):
        sweeps._raise(done.failure, sweep)
