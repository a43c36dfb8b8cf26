"""Chunked dispatch: the same results in item order for any process count, errors and dead
workers reported, and work shared once the workers are ready."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_sim.dispatch import MAX_JOBS, WorkerError, _take, map_chunked


def _square(offset: int, item: int) -> int:
    return item * item + offset


def _marked(shared: tuple[str, int, str], item: int) -> int:
    """Record which process did `item`. In the main process item 0 first waits (at most 60 s)
    for a worker to have done an item, so a worker always gets a share. `mode` makes workers
    misbehave: "raise" raises on their first item, "die" ends their process."""
    directory, main_pid, mode = shared
    pid = os.getpid()
    Path(directory, f"{pid}-{item}").touch()
    if pid != main_pid and mode == "raise":
        raise ValueError(f"worker failed on item {item}")
    if pid != main_pid and mode == "die":
        os._exit(3)
    if pid == main_pid and item == 0:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(not name.startswith(f"{main_pid}-") for name in os.listdir(directory)):
                break
            time.sleep(0.01)
    return item


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(0, 5000), st.integers(1, MAX_JOBS))
def test_guided_chunks_cover_every_item_once_and_shrink(n: int, jobs: int) -> None:
    class Counter:
        value = 0

    class NoLock:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *args: object) -> None:
            return None

    counter, sizes = Counter(), []
    while True:
        start, stop = _take(counter, NoLock(), n, jobs)
        if start >= stop:
            break
        assert start == sum(sizes)
        sizes.append(stop - start)
    assert sum(sizes) == n
    assert sizes == sorted(sizes, reverse=True)
    assert all(size >= 1 for size in sizes)


def test_serial_and_parallel_give_the_same_results_in_order() -> None:
    items = list(range(257))
    expected = [i * i + 7 for i in items]
    assert map_chunked(_square, 7, items, jobs=1) == expected
    assert map_chunked(_square, 7, items, jobs=3, serial_below_s=0) == expected
    assert map_chunked(_square, 7, [], jobs=2) == []


def _pid(offset: int, item: int) -> int:
    return os.getpid()


def test_a_job_shorter_than_a_worker_start_stays_serial() -> None:
    """200 instant items take far less than `SERIAL_BELOW_S`: no worker is started."""
    assert set(map_chunked(_pid, 0, list(range(200)), jobs=4)) == {os.getpid()}


def test_workers_take_a_share_and_progress_counts_every_item(tmp_path: Path) -> None:
    done: list[int] = []
    items = list(range(40))
    shared = (str(tmp_path), os.getpid(), "")
    result = map_chunked(_marked, shared, items, jobs=2, progress=done.append, serial_below_s=0)
    assert result == items
    assert sum(done) == 40
    pids = {name.split("-")[0] for name in os.listdir(tmp_path)}
    assert len(pids) == 2 and str(os.getpid()) in pids
    assert sorted(int(name.split("-")[1]) for name in os.listdir(tmp_path)) == items


def test_an_exception_in_a_worker_is_raised_here(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="worker failed on item"):
        map_chunked(
            _marked,
            (str(tmp_path), os.getpid(), "raise"),
            list(range(40)),
            jobs=2,
            serial_below_s=0,
        )


def test_a_worker_that_dies_holding_items_is_reported(tmp_path: Path) -> None:
    with pytest.raises(WorkerError, match=r"items not returned \(pid \d+: exit code 3\)"):
        map_chunked(
            _marked, (str(tmp_path), os.getpid(), "die"), list(range(40)), jobs=2, serial_below_s=0
        )


def test_an_exception_here_stops_the_workers() -> None:
    with pytest.raises(TypeError):
        map_chunked(_square, 0, ["x"] * 3, jobs=2, serial_below_s=0)  # type: ignore[list-item]


@pytest.mark.parametrize("jobs", [0, MAX_JOBS + 1, True, 1.5])
def test_bad_jobs(jobs: object) -> None:
    with pytest.raises(ValueError, match=rf"bad jobs={jobs!r} \(accepted: an int in 1\.\.256\)"):
        map_chunked(_square, 0, [1], jobs=jobs)  # type: ignore[arg-type]


@contextmanager
def _session(shared: tuple[str, int, str]) -> Iterator[tuple[str, int, str]]:
    """Per-process state: records its entry and exit in `shared`'s third item, a directory."""
    sessions = Path(shared[2])
    (sessions / f"enter-{os.getpid()}").touch()
    yield shared
    (sessions / f"exit-{os.getpid()}").touch()


def _marked_in_session(state: tuple[str, int, str], item: int) -> int:
    assert Path(state[2], f"enter-{os.getpid()}").exists()  # entered before the first item
    return _marked((state[0], state[1], ""), item)


def test_each_process_enters_its_context_once_before_its_items(tmp_path: Path) -> None:
    marks, sessions = tmp_path / "marks", tmp_path / "sessions"
    marks.mkdir()
    sessions.mkdir()
    items = list(range(40))
    shared = (str(marks), os.getpid(), str(sessions))
    result = map_chunked(
        _marked_in_session, shared, items, jobs=2, serial_below_s=0, context=_session
    )
    assert result == items
    computed = sorted({name.split("-")[0] for name in os.listdir(marks)})
    entered = sorted(n.removeprefix("enter-") for n in os.listdir(sessions) if "enter" in n)
    assert entered == computed and str(os.getpid()) in entered and len(entered) == 2
    exited = sorted(n.removeprefix("exit-") for n in os.listdir(sessions) if "exit" in n)
    assert exited == entered  # every process left its context: the workers were not cut short
