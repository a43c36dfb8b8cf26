"""Sweeps: a process pool's workers end with the sweep that started them, whenever it dies, and
never publish a point after its death (real SIGKILLs of the sweep's process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import yaml

from durable_sim import sweeps
from durable_sim.experiments import ExperimentSpec, environment_record
from durable_sim.files import PublishWithdrawnError, publish_pair
from durable_sim.sweeps import INDEX_FILE, run_sweep

TESTS = Path(__file__).resolve().parent
#: How long a pool worker may outlive its sweep: the reaper wakes at the end of file on the
#: lifeline's pipe and scans /proc once (6-48 ms measured at load 3.5); the rest is margin for a
#: host loaded by a parallel test run. A spawned worker's import, which the workers' own check
#: used to wait out, takes 1-7 s.
BOUND_S = 2.0


def _children(pid: int, runs: Callable[[bytes], bool]) -> list[int]:
    """The pids of `pid`'s children whose command line (NUL-separated) `runs` accepts."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != pid:
                continue
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if runs(cmdline):
            found.append(int(stat.parent.name))
    return found


def _workers(pid: int) -> list[int]:
    """The pids of `pid`'s spawned pool workers (children started with --multiprocessing-fork,
    not the pool's resource tracker)."""
    return _children(
        pid, lambda cmd: b"--multiprocessing-fork" in cmd and b"resource_tracker" not in cmd
    )


def _reapers(pid: int) -> list[int]:
    """The pids of `pid`'s children that run a lifeline's reaper (``python -I -S -c ...``)."""
    return _children(pid, lambda cmd: b"\0-I\0-S\0-c\0" in cmd)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        if time.monotonic() > deadline:
            return found
        time.sleep(0.005)
    return found


def _published(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*") if not p.name.startswith(".")}


def _kill_and_watch(sweep: subprocess.Popen[bytes], workers: list[int], out: Path) -> float:
    """SIGKILL `sweep`, reap it, and return how long its `workers` outlived it; assert that no
    point was published (nor republished) after its death."""
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    died = time.monotonic()
    published = _published(out) if out.exists() else {}
    gone = _wait_for(lambda: not any(map(_alive, workers)), 30)
    outlived = time.monotonic() - died
    assert gone, "the pool's workers outlived their sweep by 30 s"
    time.sleep(0.5)  # a worker left running would publish by now
    assert (_published(out) if out.exists() else {}) == published
    return outlived


def _start(
    tmp_path: Path, document: dict[str, Any], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(document))
    command = [sys.executable, "-m", "durable_sim.cli", "--import", "gated_workload", "sweep"]
    options = ["--out", str(tmp_path / "out"), "--workers", "2", "-q"]
    return subprocess.Popen(
        [*command, str(tmp_path / "s.yaml"), *options],
        cwd=TESTS,
        env={**os.environ, **env},
        stderr=subprocess.DEVNULL,
    )


GATED = {
    "base": {"workload": "gated", "runs": 1, "model": "durable"},
    "grid": {"seed": list(range(8))},
}


def test_workers_killed_while_importing_end_with_their_sweep(tmp_path: Path) -> None:
    """Last session's leftover: spawned workers of a sweep killed while they import the package
    outlived it by up to 6.8 s (their parent check starts after the import). The sweep is
    killed as soon as both workers exist, long before they can have imported anything."""
    sweep = _start(tmp_path, GATED, {"DURABLE_SIM_TEST_GATE": ""})
    try:
        workers = _wait_for(lambda: len(_workers(sweep.pid)) == 2 and _workers(sweep.pid), 120)
        assert workers, "no pool workers started"
    finally:
        outlived = _kill_and_watch(sweep, _workers(sweep.pid) or [], tmp_path / "out")
    assert outlived < BOUND_S, f"the workers outlived their sweep by {outlived:.2f} s"


def test_workers_killed_while_running_points_end_at_once_and_publish_nothing(
    tmp_path: Path,
) -> None:
    """SIGKILL of ``sweep --workers 2`` while both workers run a point (they wait at a gate, which
    opens at the kill): they end within the bound and publish nothing after the kill."""
    gate = tmp_path / "gate"
    gate.mkdir()
    sweep = _start(tmp_path, GATED, {"DURABLE_SIM_TEST_GATE": str(gate)})
    workers: list[int] = []
    try:
        assert _wait_for(lambda: len(list(gate.glob("started-*"))) == 2, 180), "no runs began"
        workers = _workers(sweep.pid)
        (gate / "open").touch()  # the runs go on to save their points as the sweep dies
    finally:
        outlived = _kill_and_watch(sweep, workers, tmp_path / "out")
    assert len(workers) == 2
    assert outlived < BOUND_S, f"the workers outlived their sweep by {outlived:.2f} s"
    assert not (tmp_path / "out" / INDEX_FILE).exists()


@pytest.mark.parametrize("moment_s", [0.3, 0.6, 0.9, 1.2, 1.5, 2.0, 2.5])
def test_a_sweep_killed_at_any_moment_leaves_no_worker_and_no_late_point(
    tmp_path: Path, moment_s: float
) -> None:
    """Kills at moments from the workers' start to their last points: no worker outlives the
    bound, no point appears after the kill, and a rerun completes the sweep."""
    document = {
        "base": {"workload": "counter", "model": "durable", "runs": 40},
        "grid": {"seed": list(range(12))},
    }
    sweep = _start(tmp_path, document, {})
    workers: list[int] = []
    try:
        _wait_for(lambda: len(_workers(sweep.pid)) == 2, 120)
        workers = _workers(sweep.pid)
        time.sleep(moment_s)
        workers = sorted(set(workers) | set(_workers(sweep.pid)))
    finally:
        outlived = _kill_and_watch(sweep, workers, tmp_path / "out")
    assert outlived < BOUND_S, f"the workers outlived their sweep by {outlived:.2f} s"
    result = run_sweep(tmp_path / "s.yaml", tmp_path / "out", progress=False)
    assert result.ran + result.skipped == 12


def test_a_point_is_not_published_once_its_sweep_has_let_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit point asks again: a sweep that lets go of its directory (dies) after the
    worker's checks before the save (here the save lock's is passed), while the point is being
    written, gets nothing published; the batch ends there, with no file and no leftover."""
    spec = ExperimentSpec.parse({"workload": "counter", "model": "durable", "runs": 1})
    asked: list[bool] = []

    def still_held(out: Path, token: str) -> bool:
        asked.append(not asked)  # held at the check before the run, gone at the commit
        return asked[-1]

    monkeypatch.setattr(sweeps, "_still_held", still_held)
    monkeypatch.setattr(sweeps, "_saving", lambda out, token: _held())
    done = sweeps._run_points(tmp_path, [(0, spec, "p.csv")], environment_record(), "token")
    assert done == sweeps._Done([]) and asked == [True, False]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


class _held:
    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        return None


def test_publish_pair_commits_only_if_asked(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    publish_pair(path, b"x\n1\n", {"v": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(PublishWithdrawnError):
        publish_pair(path, b"x\n2\n", {"v": 2}, commit_if=lambda: False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    publish_pair(path, b"x\n3\n", {"v": 3}, commit_if=lambda: True)
    assert path.read_bytes() == b"x\n3\n"


@pytest.mark.parametrize("how", ["fork", "popen"])
def test_a_process_a_worker_started_is_not_reaped_with_the_pool(how: str) -> None:
    """The reaper kills the sweep's workers, nothing else: a process a workload started in a
    worker (by a fork, or a subprocess keeping the worker's descriptors) outlives the sweep's
    end. Formerly it had inherited the lifeline's read end, and the reaper SIGKILLed it."""
    from descendant_job import start_descendant

    with sweeps._pool_on_lifeline(1) as pool:
        descendant = pool.submit(start_descendant, how).result()
    try:
        time.sleep(0.3)  # the reaper has scanned /proc by now (6-48 ms measured)
        assert _alive(descendant)
    finally:
        os.kill(descendant, signal.SIGKILL)


def _lifeline_process(mode: str) -> tuple[subprocess.Popen[str], int]:
    """`lifeline_process` in `mode`, and the pid of the child it forked."""
    process = subprocess.Popen(
        [sys.executable, str(TESTS / "lifeline_process.py"), mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def _kill_and_check_workers_end(process: subprocess.Popen[str], workers: list[int]) -> None:
    """SIGKILL the sweep `process`; its `workers` must all end within `BOUND_S`."""
    process.kill()
    process.wait()
    died = time.monotonic()
    assert _wait_for(lambda: not any(map(_alive, workers)), 30)
    outlived = time.monotonic() - died
    assert outlived < BOUND_S, f"the workers outlived their sweep by {outlived:.2f} s"


def test_a_child_forked_from_the_sweep_neither_delays_its_end_nor_is_reaped() -> None:
    """A process forked from the sweep's while its pool runs holds both ends of the lifeline.
    The pool's end is not delayed until that child ends, and the child is not killed: formerly
    the sweep waited for the reaper, which waited for the end of file that the child's write end
    held off (run_sweep returned 15 s late, when a thread's forked child ended)."""
    process, child = _lifeline_process("end")
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ended\n"
        assert process.wait(timeout=20) == 0
        assert _alive(child)
    finally:
        process.kill()
        with suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_workers_end_with_their_sweep_while_a_child_forked_from_it_lives() -> None:
    """A SIGKILLed sweep whose forked child still holds the lifeline's write end: its workers
    end within the bound all the same (the reaper watches the sweep itself), and the child,
    not the sweep's worker, lives on. Formerly the workers lived as long as the child."""
    process, child = _lifeline_process("wait")
    try:
        workers = _wait_for(lambda: len(_workers(process.pid)) == 2 and _workers(process.pid), 60)
        assert workers, "no pool workers started"
        _kill_and_check_workers_end(process, workers)
        assert _alive(child)
    finally:
        process.kill()
        with suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_without_proc_the_workers_end_themselves_with_their_sweep() -> None:
    """A host without ``/proc`` (simulated) starts no reaper: each running worker ends itself at
    the end of file on its lifeline (`sweeps._exit_with_parent`), within the bound."""
    process, _ = _lifeline_process("wait-without-proc")
    try:
        workers = _wait_for(lambda: len(_workers(process.pid)) == 2 and _workers(process.pid), 60)
        assert workers, "no pool workers started"
        assert not _reapers(process.pid)
        time.sleep(3.0)  # past their import: the workers' own watch has started
        _kill_and_check_workers_end(process, workers)
    finally:
        process.kill()
