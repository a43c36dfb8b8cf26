"""Sweeps: sweep files, grid expansion, digests, executors, incremental and interrupted reruns."""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing import forkserver, resource_tracker
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd
import psutil
import pytest
import yaml
from distributed import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_sim import sweeps
from durable_sim.cli import main
from durable_sim.experiments import (
    ExperimentSpec,
    code_digest,
    environment_record,
    run_experiment,
    save_rows,
)
from durable_sim.files import read_pair
from durable_sim.sweeps import (
    INDEX_FILE,
    LOCK_FILE,
    MAX_POINTS,
    SAVE_LOCK_FILE,
    SweepError,
    collect_sweep,
    load_sweep,
    local_cluster,
    parse_sweep,
    read_sweep,
    run_sweep,
    spec_digest,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "params" / "sweeps" / "example.yaml"
# Counter runs take milliseconds: sweeps of these test the machinery, not the workloads.
SMALL = {
    "base": {"workload": "counter", "runs": 2},
    "grid": {"model": ["durable", "baseline"], "seed": [0, 1, 2]},
}


def files(out: Path) -> dict[str, bytes]:
    """Every visible file of a sweep's output directory, by name."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if not p.name.startswith(".")}


def mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, bytes]:
    """The example sweep's files, written by the serial executor."""
    out = tmp_path_factory.mktemp("reference")
    run_sweep(EXAMPLE, out, progress=False)
    return files(out)


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("small")
    run_sweep(parse_sweep(SMALL), out, progress=False)
    return files(out)


# --- sweep files and their validation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], "[1, 2] is no mapping (accepted: a mapping with keys ['base', 'grid'])"),
        ({"base": {}, "grid": {}, "runs": 3}, "unknown key 'runs' (accepted: exactly"),
        (
            {"base": {"workload": "counter"}},
            "missing key 'grid' (accepted: exactly ['base', 'grid'])",
        ),
        ({"base": [1], "grid": {}}, "base must be a mapping, got [1]"),
        ({"base": {}, "grid": {"chunkz": [1]}}, "grid key 'chunkz' is not an experiment spec"),
        ({"base": {"colour": "red"}, "grid": {}}, "base key 'colour' is not an experiment spec"),
        (
            {"base": {"workload": "video", "chunks": 2}, "grid": {"chunks": [1]}},
            "key 'chunks' is in both base and grid (accepted: one of them)",
        ),
        (
            {"base": {"workload": "video"}, "grid": {"chunks": []}},
            "grid key 'chunks' has [] (accepted: a non-empty list of values)",
        ),
        (
            {"base": {"workload": "video"}, "grid": {"chunks": 10}},
            "grid key 'chunks' has 10 (accepted: a non-empty list of values)",
        ),
        (
            {"base": {"workload": "video"}, "grid": {"model": ["durable"], "chunks": [1, 0]}},
            "grid point model='durable', chunks=0: chunks is out of range (accepted: an int in "
            "1..1000000)",
        ),
        (
            {"base": {"workload": "video", "model": "durable"}, "grid": {"chunks": [10, 400]}},
            "grid point chunks=400: chunks exceeds the frames of the video (accepted: 1..300",
        ),
        (
            {"base": {"workload": "video"}, "grid": {"model": ["durable", "actor"]}},
            "grid point model='actor': model is not one of the accepted values (accepted: "
            "'durable' or 'baseline')",
        ),
        (
            {
                "base": {"workload": "video", "model": "baseline"},
                "grid": {"poll_interval_ms": [100, 100.0]},
            },
            "grid key 'poll_interval_ms' lists 100 and 100.0, which are the same value 100.0 "
            "(accepted: distinct values)",
        ),
        (  # the reviewer's: two byte-identical CSVs under different digests, before
            {"base": {"workload": "counter", "model": "durable"}, "grid": {"chunks": [10, 20]}},
            "grid point chunks=20: chunks does not apply to workload 'counter' (accepted: "
            "only with workload video; else leave it at its default 10)",
        ),
        (
            {
                "base": {"workload": "video", "model": "baseline"},
                "grid": {"fanout": ["map", "sequential"]},
            },
            "grid key 'fanout' applies to none of the grid's points (accepted: only with "
            "workload video; model durable)",
        ),
        (
            {"base": {"workload": "counter", "model": "durable", "runs": True}, "grid": {}},
            "runs=True: a boolean is never a number (accepted: an int in 1..1000000)",
        ),
        (  # the reviewer's: wrote the first point, then died without an index
            {
                "base": {
                    "workload": "video",
                    "model": "baseline",
                    "encoder": "real",
                    "video_seconds": 1,
                },
                "grid": {"chunks": [1, 2]},
            },
            "grid point chunks=2: chunks does not fit the real encoder's video",
        ),
        (
            {"base": {"workload": "counter", "model": "durable"}, "grid": {"seed": [True, False]}},
            "grid point seed=True: seed: a boolean is never a number",
        ),
        (
            {
                "base": {"workload": "video"},
                "grid": {"seed": list(range(1001)), "runs": list(range(1, 1001))},
            },
            f"the grid has 1,001,000 points (accepted: at most {MAX_POINTS:,})",
        ),
    ],
)
def test_bad_sweeps_fail_with_one_clear_line(document, message):
    with pytest.raises(SweepError) as info:
        parse_sweep(document, source="s.yaml")
    text = str(info.value)
    assert text.startswith("bad sweep s.yaml: ")
    assert message in text
    assert "\n" not in text


def test_a_bad_sweep_file_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: {workload: video}\ngrid: {chunks: [1, 0]}\n")
    out = tmp_path / "out"
    assert main(["sweep", str(bad), "--out", str(out), "--quiet"]) == 2
    assert not out.exists()


def test_unreadable_and_invalid_yaml_files(tmp_path):
    with pytest.raises(
        SweepError, match=r"No such file or directory \(accepted: a readable UTF-8 YAML"
    ):
        load_sweep(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("base: {workload: video\ngrid: {}\n")
    with pytest.raises(SweepError, match=r"broken.yaml': .* at line 2, column 5 \(accepted: "):
        load_sweep(broken)
    twice = tmp_path / "twice.yaml"
    twice.write_text("base: {workload: counter}\ngrid: {runs: [1]}\ngrid: {seed: [1, 2]}\n")
    with pytest.raises(SweepError, match=r"key 'grid' given twice \(lines 2 and 3.* at line 3"):
        load_sweep(twice)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"executor": "spark"}, "bad executor 'spark' (accepted: one of ['local', 'dask'])"),
        ({"workers": 0}, "bad workers=0 (accepted: an int in 1..256)"),
        ({"workers": True}, "bad workers=True (accepted: an int in 1..256)"),
        ({"scheduler": "tcp://h:8786"}, "scheduler='tcp://h:8786' needs executor 'dask'"),
        (
            {"executor": "dask", "scheduler": "tcp://h:8786", "workers": 2},
            "a running cluster has its own workers (accepted: workers or scheduler, not both)",
        ),
        ({"batch_size": 0}, "bad batch_size=0 (accepted: an int in 1..1,000,000)"),
    ],
)
def test_bad_arguments_fail_before_anything_is_written(tmp_path, arguments, message):
    out = tmp_path / "out"
    with pytest.raises(SweepError) as info:
        run_sweep(parse_sweep(SMALL), out, progress=False, **arguments)
    assert message in str(info.value)
    assert not out.exists()


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(SweepError, match="it is a file"):
        run_sweep(parse_sweep(SMALL), target, progress=False)


def test_an_unreachable_scheduler_is_one_clear_error_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    for address in ("nonsense://somewhere", "tcp://127.0.0.1:9"):
        with pytest.raises(SweepError, match=f"cannot reach the Dask scheduler at '{address}'"):
            run_sweep(parse_sweep(SMALL), out, executor="dask", scheduler=address, progress=False)
    assert not out.exists()


@contextlib.contextmanager
def _impostor(answer: bytes | None) -> Iterator[str]:
    """The address of a TCP server that is no Dask scheduler: it sends `answer` to each
    connection (an HTTP server's reply, say), or nothing (None: it accepts and stays silent)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)  # a closed server does not wake a blocked accept: look again
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(conn)
            if answer is not None:
                with contextlib.suppress(OSError):  # the client has gone
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        server.close()
        for conn in accepted:
            conn.close()


def test_a_scheduler_address_where_no_scheduler_answers_is_one_clear_error_in_bounded_time(
    tmp_path, monkeypatch, running_cluster
):
    """An address where something else listens: an HTTP server's reply formerly ended the sweep
    with a MemoryError (its bytes read as a Dask frame's length, 3 EiB) and a traceback at exit,
    a server that accepts and says nothing hung it for good, and a Dask worker is no scheduler.
    Each is one SweepError naming the address, within `SCHEDULER_TIMEOUT_S`, nothing written."""
    monkeypatch.setattr(sweeps, "SCHEDULER_TIMEOUT_S", 2.0)
    out = tmp_path / "out"
    http = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4
    worker = next(iter(running_cluster.scheduler_info["workers"]))
    cases = [(_impostor(http), "protocol"), (_impostor(None), "no answer within 2.0 s")]
    cases.append((contextlib.nullcontext(worker), "a Dask Worker, not a scheduler"))
    for impostor, why in cases:
        with impostor as address:
            started = time.monotonic()
            with pytest.raises(SweepError) as info:
                run_sweep(
                    parse_sweep(SMALL), out, executor="dask", scheduler=address, progress=False
                )
            assert time.monotonic() - started < 10.0
        message = str(info.value)
        assert message.startswith(f"cannot reach the Dask scheduler at '{address}': "), message
        assert why in message and "\n" not in message
    assert not out.exists()


# --- grid expansion and digests ------------------------------------------------------------------

VALUES = {
    "chunks": st.integers(1, 300),
    "failure_probability": st.floats(0.0, 1.0, exclude_max=True),
    "poll_interval_ms": st.floats(0.001, 3_600_000.0),
    "seed": st.integers(0, 2**32 - 1),
    "fanout": st.sampled_from(["map", "sequential"]),
    "max_concurrency": st.one_of(st.none(), st.integers(1, 64)),
}


@st.composite
def grids(draw):
    """Both models first, so that every drawn key applies to some point (a key that applies to
    none is refused: `test_bad_sweeps_fail_with_one_clear_line`)."""
    keys = draw(st.lists(st.sampled_from(sorted(VALUES)), unique=True, max_size=3))
    return {
        "model": ["durable", "baseline"],
        **{key: draw(st.lists(VALUES[key], min_size=1, max_size=3, unique=True)) for key in keys},
    }


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(grid=grids())
def test_a_grid_expands_to_its_cartesian_product_in_order(grid):
    base = {"workload": "video", "runs": 1}
    sweep = parse_sweep({"base": base, "grid": grid})
    keys = list(grid)
    combos = list(itertools.product(*grid.values()))
    assert len(sweep.points) == len(combos)
    code = code_digest()
    for point, combo in zip(sweep.points, combos, strict=True):
        expected = ExperimentSpec.parse({**base, **dict(zip(keys, combo, strict=True))})
        assert point.spec == expected
        assert list(point.values) == keys
        assert point.digest == spec_digest(expected, code, expected.prices_sha256())
        assert re.fullmatch(r"[A-Za-z0-9.+%=_~-]{1,150}", point.point_id)
        assert point.file == f"{point.point_id}.csv"
    assert len({p.point_id for p in sweep.points}) == len(combos)
    assert len({p.digest for p in sweep.points}) == len(combos)


def test_point_ids_read_as_the_grid_values_and_survive_odd_characters():
    sweep = parse_sweep(
        {
            "base": {"workload": "video", "model": "durable"},
            "grid": {"fanout": ["map"], "max_concurrency": [None, 4], "failure_probability": [0.1]},
        }
    )
    assert [p.point_id for p in sweep.points] == [
        "fanout=map__max_concurrency=null__failure_probability=0.1",
        "fanout=map__max_concurrency=4__failure_probability=0.1",
    ]
    assert sweeps._point_id({"profile": "a/b_c=d"}) == "profile=a%2Fb%5Fc%3Dd"
    long = sweeps._point_id({"profile": "x" * 300})
    assert len(long) == 137 and long.startswith("profile=xxx") and "~" in long
    assert (
        parse_sweep({"base": {"workload": "counter", "model": "durable"}, "grid": {}})
        .points[0]
        .point_id
        == "base"
    )


def test_spec_digest_is_sha256_of_the_canonical_spec_code_and_prices():
    spec = ExperimentSpec.parse({"workload": "counter", "model": "durable"})
    canonical = json.dumps(
        {"code_sha256": "c0de", "prices_sha256": "face", "spec": spec.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
    )
    assert spec_digest(spec, "c0de", "face") == hashlib.sha256(canonical.encode()).hexdigest()
    assert spec_digest(spec, "c0df", "face") != spec_digest(spec, "c0de", "face")
    assert spec_digest(spec, "c0de", "fade") != spec_digest(spec, "c0de", "face")
    other = ExperimentSpec.parse({"workload": "counter", "model": "durable", "seed": 1})
    assert spec_digest(other, "c0de", "face") != spec_digest(spec, "c0de", "face")


def test_a_changed_price_table_reruns_its_points_and_reprices_them(tmp_path: Path):
    """The rows' costs depend on the price table's content, not on its name: editing the
    table makes every point that names it stale."""
    table = tmp_path / "prices.yaml"
    table.write_bytes((ROOT / "data" / "prices" / "aws-us-east-1.yaml").read_bytes())
    document = {**SMALL, "base": {**SMALL["base"], "prices": str(table)}}
    out = tmp_path / "out"
    first = run_sweep(parse_sweep(document), out, progress=False)
    assert (first.ran, first.skipped) == (6, 0)
    before = read_sweep(out)
    again = run_sweep(parse_sweep(document), out, progress=False)
    assert (again.ran, again.skipped) == (0, 6)
    doc = yaml.safe_load(table.read_text())
    doc["prices"]["lambda_request"]["usd"] = 0.4  # twice the price of a request
    table.write_text(yaml.safe_dump(doc))
    third = run_sweep(parse_sweep(document), out, progress=False)
    assert (third.ran, third.skipped) == (6, 0)
    after = read_sweep(out)
    doubled = 2 * before["cost_lambda_requests_usd"]
    assert after["cost_lambda_requests_usd"].to_numpy() == pytest.approx(doubled.to_numpy())
    assert (after["time_ms"] == before["time_ms"]).all()


# --- running: the example, executors, files -------------------------------------------------------


def test_the_example_sweep_writes_what_each_experiment_gives(tmp_path, reference):
    sweep = load_sweep(EXAMPLE)
    assert sweep.grid_keys == ("model", "chunks", "failure_probability")
    assert len(sweep.points) == 12
    index = pd.read_csv(io.BytesIO(reference[INDEX_FILE]))
    assert list(index.columns) == [
        "point",
        "digest",
        "model",
        "chunks",
        "failure_probability",
        "file",
        "rows",
        "sha256",
    ]
    assert list(index.point) == [p.point_id for p in sweep.points]
    assert list(index.digest) == [p.digest for p in sweep.points]
    assert (index.rows == 3).all()
    assert list(index.sha256) == [hashlib.sha256(reference[f]).hexdigest() for f in index.file]
    assert set(reference) == {INDEX_FILE} | {
        name for p in sweep.points for name in (p.file, f"{p.point_id}.meta.json")
    }
    (tmp_path / "direct").mkdir()
    for point in sweep.points:  # the same file name: a sidecar may record it
        direct = save_rows(
            run_experiment(point.spec), [point.spec], tmp_path / "direct" / point.file
        )
        assert reference[point.file] == direct.read_bytes()
        assert (
            reference[f"{point.point_id}.meta.json"]
            == direct.with_suffix(".meta.json").read_bytes()
        )
    rows = read_sweep_from(reference, tmp_path / "copy")
    assert len(rows) == 36 and list(rows.columns[:2]) == ["point", "run_id"]
    assert rows.groupby("point").ok.all().all()


def read_sweep_from(contents: dict[str, bytes], out: Path) -> pd.DataFrame:
    out.mkdir()
    for name, data in contents.items():
        (out / name).write_bytes(data)
    return read_sweep(out)


@pytest.fixture(scope="module")
def running_cluster():
    with local_cluster(1) as cluster:
        yield cluster


def _profiling(dask_worker) -> bool:
    return "profile" in dask_worker.periodic_callbacks


def _tick_ms(server) -> float:
    return server.periodic_callbacks["tick"].callback_time


def _worker_tick_ms(dask_worker) -> float:
    return _tick_ms(dask_worker)


def test_a_local_cluster_is_single_threaded_workers_without_the_profiler(running_cluster):
    """One thread per worker, no statistical profiler, and every server's event loop (the
    scheduler's, the nannies', the workers') timed once a second, not every 20 ms."""
    with Client(running_cluster, set_as_default=False) as client:
        assert list(client.nthreads().values()) == [1]
        assert list(client.run(_profiling).values()) == [False]
        assert list(client.run(_worker_tick_ms).values()) == [1000]
    nannies = list(running_cluster.workers.values())
    assert [_tick_ms(server) for server in [running_cluster.scheduler, *nannies]] == [1000, 1000]
    with pytest.raises(SweepError, match=r"bad workers=0 \(accepted: an int in 1..256\)"):
        local_cluster(0)


@pytest.mark.skipif(
    not Path("/proc/self/cmdline").is_file()
    or "forkserver" not in multiprocessing.get_all_start_methods(),
    reason="needs /proc and the forkserver start method",
)
def test_a_local_cluster_forks_its_workers_from_a_server_that_imported_the_sweep_module():
    """A worker's parent is the fork server, not this process, and the worker has the sweep
    module before any task has brought it (a spawned worker would import it with its first)."""

    def start() -> tuple[int, str, bool]:  # nested: sent by value, importing nothing of ours
        parent = os.getppid()
        cmdline = Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        return parent, cmdline, "durable_sim.sweeps" in sys.modules

    with local_cluster(1) as cluster, Client(cluster, set_as_default=False) as client:
        ((parent, cmdline, imported),) = client.run(start).values()
    assert parent != os.getpid()
    assert "multiprocessing.forkserver" in cmdline
    assert imported


def test_a_sweep_whose_local_cluster_workers_cannot_start_fails_cleanly(tmp_path, monkeypatch):
    """A sweep sends its tasks while its LocalCluster's workers start; a worker that does not
    start (here its process dies while starting, as one the OOM killer picks) ends the sweep
    with one error naming it: no point written, the directory let go (a rerun runs), and no
    nanny or worker process left behind."""
    preload = tmp_path / "die.py"  # run by the worker as it starts (a failing one only logs)
    preload.write_text("import os\n\ndef dask_setup(worker):\n    os._exit(3)\n")
    settings = {**sweeps.DASK_CONFIG, "distributed.worker.preload": [str(preload)]}
    monkeypatch.setattr(sweeps, "DASK_CONFIG", MappingProxyType(settings))
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    out = tmp_path / "out"
    with pytest.raises(SweepError, match=r"LocalCluster's workers \['0'\] did not start"):
        run_sweep(parse_sweep(SMALL), out, executor="dask", workers=1, progress=False)
    assert files(out) == {}
    # This process's own fork server and resource tracker outlive its clusters, as designed.
    services = {forkserver._forkserver._forkserver_pid, resource_tracker._resource_tracker._pid}
    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before | services and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert [" ".join(p.cmdline()) for p in left] == []
    assert run_sweep(parse_sweep(SMALL), out, progress=False).ran == 6


def test_a_sweep_whose_local_cluster_worker_hangs_while_starting_gives_up(tmp_path, monkeypatch):
    """A worker that never finishes starting (here its preload blocks) ends the sweep with one
    error naming it once `WORKER_START_TIMEOUT_S` has passed, instead of waiting forever; no
    nanny or worker process is left behind, and a rerun runs."""
    preload = tmp_path / "hang.py"
    preload.write_text("import time\n\ndef dask_setup(worker):\n    time.sleep(600)\n")
    settings = {**sweeps.DASK_CONFIG, "distributed.worker.preload": [str(preload)]}
    monkeypatch.setattr(sweeps, "DASK_CONFIG", MappingProxyType(settings))
    monkeypatch.setattr(sweeps, "WORKER_START_TIMEOUT_S", 3.0)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    out = tmp_path / "out"
    started = time.monotonic()
    with pytest.raises(SweepError, match=r"workers \['0'\] did not start within 3 s"):
        run_sweep(parse_sweep(SMALL), out, executor="dask", workers=1, progress=False)
    assert time.monotonic() - started < 60
    assert files(out) == {}
    services = {forkserver._forkserver._forkserver_pid, resource_tracker._resource_tracker._pid}
    deadline = time.monotonic() + 10
    while True:
        left = [
            p
            for p in psutil.Process().children(recursive=True)
            if p.pid not in before | services and p.status() != psutil.STATUS_ZOMBIE
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [" ".join(p.cmdline()) for p in left] == []
    assert run_sweep(parse_sweep(SMALL), out, progress=False).ran == 6


def test_files_are_byte_identical_whatever_the_executor_and_workers(
    tmp_path, reference, running_cluster
):
    address = running_cluster.scheduler_address
    runs = {
        "pool-2": {"workers": 2},
        "pool-2-batch-5": {"workers": 2, "batch_size": 5},
        "dask-2": {"executor": "dask", "workers": 2},
        "dask-2-batch-1": {"executor": "dask", "workers": 2, "batch_size": 1},
        "running-cluster": {"executor": "dask", "scheduler": address},
        "running-cluster-batch-7": {"executor": "dask", "scheduler": address, "batch_size": 7},
        "running-cluster-one-batch": {"executor": "dask", "scheduler": address, "batch_size": 12},
    }
    for name, arguments in runs.items():
        result = run_sweep(EXAMPLE, tmp_path / name, progress=False, **arguments)
        assert (result.ran, result.skipped) == (12, 0), name
        assert files(tmp_path / name) == reference, name


def test_a_task_that_fails_on_a_dask_worker_raises_its_error_and_a_rerun_finishes(
    tmp_path, small_reference, running_cluster
):
    """A point that fails on a worker ends the sweep with that point's error; the points saved
    before it stay valid, and a rerun on the mended worker runs the rest."""

    def break_seed_2() -> None:  # nested: sent by value
        module = sys.modules["durable_sim.sweeps"]
        real = module.run_experiment

        def failing(spec):
            if spec.seed == 2:
                raise RuntimeError(f"power cut at seed {spec.seed}")
            return real(spec)

        module.run_experiment = failing

    def mend() -> None:
        sys.modules["durable_sim.sweeps"].run_experiment = run_experiment

    out = tmp_path / "out"
    address = running_cluster.scheduler_address
    with Client(address, set_as_default=False) as client:
        client.run(break_seed_2)
        try:
            with pytest.raises(RuntimeError, match="power cut at seed 2"):
                run_sweep(
                    parse_sweep(SMALL),
                    out,
                    executor="dask",
                    scheduler=address,
                    batch_size=1,
                    progress=False,
                )
        finally:
            client.run(mend)
    assert not (out / INDEX_FILE).exists()
    result = run_sweep(parse_sweep(SMALL), out, executor="dask", scheduler=address, progress=False)
    assert result.ran >= 2 and result.ran + result.skipped == 6
    assert files(out) == small_reference


def test_a_local_cluster_made_in_a_new_process_leaves_dasks_configuration_whole() -> None:
    """`local_cluster` in a process that has not imported distributed: its settings, set while
    it starts and then unset, leave distributed's defaults in place for its servers, which read
    them later (the scheduler as its workers leave, at close)."""
    script = (
        "import dask\n"
        "from durable_sim.sweeps import local_cluster\n"
        "with local_cluster(1):\n"
        "    pass\n"
        "print(dask.config.get('distributed.scheduler.events-cleanup-delay'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "1h\n", "")


def test_dask_sweeps_back_to_back_in_one_process_leave_dasks_configuration_as_it_was(
    tmp_path, small_reference
):
    """Sweeps on a LocalCluster each, one after another in one process (a notebook's kernel):
    each runs and leaves `dask.config` as it found it. Formerly every cluster's scheduler added
    a route to distributed's list of HTTP routes where bokeh is not installed (distributed
    appends to the configured list itself), so the list grew by one per sweep."""
    import dask

    before = copy.deepcopy(dask.config.config)
    for n, workers in enumerate([2, 1, 2]):
        result = run_sweep(
            parse_sweep(SMALL), tmp_path / str(n), executor="dask", workers=workers, progress=False
        )
        assert (result.ran, files(tmp_path / str(n))) == (6, small_reference)
        assert dask.config.config == before, n
    with local_cluster(1):
        pass
    assert dask.config.config == before


def test_the_cli_runs_a_sweep_on_a_local_cluster_it_starts(tmp_path, small_reference):
    """``durable-sim sweep --executor dask`` in a new process, which imports dask only when the
    sweep starts its cluster: nothing logged, and the files are the serial sweep's."""
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "durable_sim.cli", "sweep", str(sweep_file), "--out", str(out)]
    done = subprocess.run(
        [*command, "--executor", "dask", "--workers", "1", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert files(out) == small_reference


def test_the_cli_runs_a_sweep_on_a_running_dask_cluster(
    tmp_path, capsys, small_reference, running_cluster
):
    sweep_file = tmp_path / "small.yaml"
    sweep_file.write_text(yaml.safe_dump(SMALL, sort_keys=False))
    out = tmp_path / "out"
    address = running_cluster.scheduler_address
    argv = ["sweep", str(sweep_file), "--out", str(out), "--executor", "dask"]
    assert main([*argv, "--scheduler", address, "--quiet"]) == 0
    assert capsys.readouterr().out == f"6 points run, 0 already present: {out}/index.csv\n"
    assert files(out) == small_reference
    assert main(["sweep", str(sweep_file), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == f"0 points run, 6 already present: {out}/index.csv\n"


def test_read_sweep_checks_the_index_and_the_files(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SweepError, match=r"no index.csv in .*: the sweep has not finished"):
        read_sweep(out)
    run_sweep(parse_sweep(SMALL), out, progress=False)
    rows = read_sweep(out)
    assert len(rows) == 12
    assert list(rows.point.unique()) == [p.point_id for p in parse_sweep(SMALL).points]
    victim = out / "model=baseline__seed=1.csv"
    victim.write_text("\n".join(victim.read_text().splitlines()[:2]) + "\n")
    with pytest.raises(SweepError, match="point 'model=baseline__seed=1' has another CSV than"):
        read_sweep(out)


# --- incremental and interrupted sweeps -----------------------------------------------------


def test_a_rerun_skips_present_points_and_touches_no_file(tmp_path, small_reference):
    out = tmp_path / "out"
    run_sweep(parse_sweep(SMALL), out, progress=False)
    before = mtimes(out)
    result = run_sweep(parse_sweep(SMALL), out, progress=False)
    assert (result.ran, result.skipped) == (0, 6)
    assert mtimes(out) == before
    assert files(out) == small_reference


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_points_are_fsynced_together_before_the_index(tmp_path, monkeypatch, small_reference):
    """No fsync while points are published; then each point's CSV and sidecar once, then the
    output directory, and only after them the index (its temporary file, then the directory)."""
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    out = tmp_path / "out"
    monkeypatch.setattr(sweeps.os, "fsync", fsync)  # the one `os` module every caller shares
    run_sweep(parse_sweep(SMALL), out, progress=False)
    assert files(out) == small_reference
    names = [Path(path).name for path in synced]
    assert names[0] == LOCK_FILE
    points = sorted(name for name in small_reference if name != INDEX_FILE)
    assert sorted(names[1 : 1 + len(points)]) == points  # 6 CSVs and 6 sidecars, once each
    index_tmp = names[1 + len(points) + 1]
    assert names[1 + len(points) :] == [out.name, index_tmp, out.name]
    assert index_tmp.startswith(f".{INDEX_FILE}.") and index_tmp.endswith(".tmp")


def test_a_worker_running_in_memory_points_imports_no_database_driver_or_sdk_test_kit(tmp_path):
    """What a worker process imports to run a sweep's in-memory model-encoder points: neither
    psycopg (a Postgres database's driver), nor the SDK's testing package (read for a Lambda
    context only), nor PyAV (the real encoder's)."""
    script = f"""
import sys
from durable_sim.sweeps import parse_sweep, run_sweep
document = {{"base": {{"workload": "video", "encoder": "model", "runs": 1, "chunks": 3}},
            "grid": {{"model": ["durable", "baseline"]}}}}
run_sweep(parse_sweep(document), {str(tmp_path / "out")!r}, progress=False)
unneeded = ("av", "psycopg", "aws_durable_execution_sdk_python_testing")
print(sorted(m for m in unneeded if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_extending_a_grid_runs_only_the_new_points(tmp_path):
    out = tmp_path / "out"
    run_sweep(parse_sweep(SMALL), out, progress=False)
    before = mtimes(out)
    bigger = {
        "base": SMALL["base"],
        "grid": {"model": ["durable", "baseline"], "seed": [0, 1, 2, 3]},
    }
    result = run_sweep(parse_sweep(bigger), out, progress=False)
    assert (result.ran, result.skipped) == (2, 6)
    after = mtimes(out)
    assert all(after[name] == stamp for name, stamp in before.items() if name != INDEX_FILE)
    fresh = tmp_path / "fresh"
    run_sweep(parse_sweep(bigger), fresh, progress=False)
    assert files(out) == files(fresh)


def test_a_changed_base_reruns_every_point(tmp_path):
    out = tmp_path / "out"
    run_sweep(parse_sweep(SMALL), out, progress=False)
    changed = {"base": {**SMALL["base"], "runs": 3}, "grid": SMALL["grid"]}
    result = run_sweep(parse_sweep(changed), out, progress=False)
    assert (result.ran, result.skipped) == (6, 0)
    assert (read_sweep(out).groupby("point").size() == 3).all()


@pytest.mark.parametrize(
    "damage",
    ["no sidecar", "no csv", "short csv", "other point's csv", "other point's sidecar", "bad json"],
)
def test_a_damaged_point_is_rerun_and_repaired(tmp_path, small_reference, damage):
    out = tmp_path / "out"
    run_sweep(parse_sweep(SMALL), out, progress=False)
    csv, meta = out / "model=durable__seed=1.csv", out / "model=durable__seed=1.meta.json"
    other = out / "model=durable__seed=2.csv"
    if damage == "no sidecar":
        meta.unlink()
    elif damage == "no csv":
        csv.unlink()
    elif damage == "short csv":
        csv.write_text("\n".join(csv.read_text().splitlines()[:-1]) + "\n")
    elif damage == "other point's csv":
        csv.write_bytes(other.read_bytes())
    elif damage == "other point's sidecar":
        meta.write_bytes(other.with_suffix(".meta.json").read_bytes())
    else:
        meta.write_text("{")
    result = run_sweep(parse_sweep(SMALL), out, progress=False)
    assert (result.ran, result.skipped) == (1, 5)
    assert files(out) == small_reference


def test_a_sweep_that_fails_midway_resumes_where_it_stopped(tmp_path, monkeypatch, small_reference):
    out = tmp_path / "out"
    calls = []

    def failing(spec):
        if len(calls) == 4:
            raise RuntimeError("power cut")
        calls.append(spec)
        return run_experiment(spec)

    monkeypatch.setattr(sweeps, "run_experiment", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        run_sweep(parse_sweep(SMALL), out, progress=False)
    assert not (out / INDEX_FILE).exists()
    assert len(list(out.glob("*.meta.json"))) == len(list(out.glob("*.csv"))) == 4
    monkeypatch.setattr(sweeps, "run_experiment", run_experiment)
    result = run_sweep(parse_sweep(SMALL), out, progress=False)
    assert (result.ran, result.skipped) == (2, 4)
    assert files(out) == small_reference


def test_a_killed_sweep_resumes_with_the_same_files(tmp_path):
    """SIGKILL the CLI mid-sweep, then rerun it: the files are those of an uninterrupted sweep."""
    document = {
        "base": {"workload": "counter", "runs": 1},
        "grid": {"model": ["durable", "baseline"], "seed": list(range(40))},
    }
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "durable_sim.cli", "sweep", str(sweep_file), "--out", str(out)]
    process = subprocess.Popen([*command, "--quiet"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list(out.glob("*.meta.json"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / INDEX_FILE).exists(), "the sweep finished before it could be killed"
    done = subprocess.run([*command, "--quiet"], capture_output=True, text=True, check=True)
    ran, skipped = map(int, re.match(r"(\d+) points run, (\d+) already", done.stdout).groups())
    # A killed serial sweep leaves at most one point mid-publish (its sidecar renamed, its CSV
    # not yet): that point runs again, so at least 4 of the 5 sidecars seen are finished points.
    assert ran + skipped == 80 and skipped >= 4
    fresh = tmp_path / "fresh"
    run_sweep(parse_sweep(document), fresh, progress=False)
    assert files(out) == files(fresh)


class _Interrupt:
    """A progress bar that raises KeyboardInterrupt (Ctrl-C) when the first batch comes back."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, count):
        raise KeyboardInterrupt

    def close(self):
        pass


MEDIUM = {
    "base": {"workload": "counter", "runs": 1},
    "grid": {"model": ["durable", "baseline"], "seed": list(range(8))},
}


@pytest.fixture(scope="module")
def medium_reference(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("medium")
    run_sweep(parse_sweep(MEDIUM), out, progress=False)
    return files(out)


@pytest.mark.parametrize(
    ("interrupted", "resumed"),
    [
        ({"workers": 2, "batch_size": 2}, {"executor": "dask", "workers": 2, "batch_size": 3}),
        ({"executor": "dask", "workers": 2, "batch_size": 3}, {"workers": 2}),
    ],
    ids=["pool-then-dask", "dask-then-pool"],
)
def test_an_interrupted_parallel_sweep_resumes_with_the_same_files(
    tmp_path, monkeypatch, medium_reference, interrupted, resumed
):
    """Ctrl-C as the first batch comes back: the points saved so far stay (a killed cluster's
    half-published ones are settled), and a rerun on another executor and batch size runs only
    the rest and ends with the files of an uninterrupted serial sweep."""
    out = tmp_path / "out"
    monkeypatch.setattr(sweeps, "tqdm", _Interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(parse_sweep(MEDIUM), out, progress=False, **interrupted)
    monkeypatch.undo()
    assert not (out / INDEX_FILE).exists()
    assert (out / LOCK_FILE).read_text() == ""
    saved = len(list(out.glob("*.meta.json")))
    # Dask cannot stop a batch a worker has started, and a worker may take its next ones before
    # the sweep's interrupt reaches the scheduler: under load it may have run them all by then.
    assert interrupted["batch_size"] <= saved <= 16
    result = run_sweep(parse_sweep(MEDIUM), out, progress=False, **resumed)
    assert result.skipped >= interrupted["batch_size"] and result.ran + result.skipped == 16
    assert files(out) == medium_reference


@contextlib.contextmanager
def _held_by_sweep(out: Path, token: str) -> Iterator[None]:
    """`out`'s lock held, with `token` in it, as a running sweep holds it."""
    with (out / LOCK_FILE).open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.truncate(0)
        handle.write(token)
        handle.flush()
        yield


def test_a_batch_stops_once_its_sweep_lets_go_of_the_directory(tmp_path, monkeypatch):
    """A worker's batch outlives a cancelled sweep (Dask cannot stop a running task): it saves
    no point after the sweep's token has left the lock file, not even the point that was
    running then (it was saved after its sweep had gone, over a rerun's files)."""
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(sweeps, "_still_held", lambda o, t: sweeps._lock_token(o) == t)
    (out / LOCK_FILE).write_text("client-token")
    points = parse_sweep(SMALL).points[:3]
    items = [(i, point.spec, point.file) for i, point in enumerate(points)]
    calls = []

    def letting_go(spec):
        calls.append(spec)
        (out / LOCK_FILE).write_text("")  # the sweep stopped after this point began
        return run_experiment(spec)

    monkeypatch.setattr(sweeps, "run_experiment", letting_go)
    done = sweeps._run_batch((str(out), "client-token", code_digest(), (), items))
    assert done == sweeps._Done([]) and len(calls) == 1
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == []


# --- one writer, shared filesystem, same code -----------------------------------------------


def test_one_sweep_at_a_time_per_output_directory(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with (out / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SweepError, match="held by another sweep or by a durable-sim recover"):
            run_sweep(parse_sweep(SMALL), out, progress=False)
    assert run_sweep(parse_sweep(SMALL), out, progress=False).ran == 6
    assert (out / LOCK_FILE).read_text() == ""


def test_a_worker_that_cannot_see_the_output_directory_or_runs_other_code_refuses(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    point = parse_sweep(SMALL).points[0]
    item = [(0, point.spec, point.file)]
    sweep = parse_sweep(SMALL)
    with _held_by_sweep(out, "client-token"):
        for task, message in [
            ((str(out), "another-token", code_digest(), (), item), "cannot see the output dir"),
            (
                (str(out), "client-token", "0" * 64, (), item),
                r"runs durable-sim code \w{12}, the client 0{12}",
            ),
        ]:
            done = sweeps._run_batch(task)  # the error is returned: no failed task to log
            assert done.saved == [] and done.failure is not None
            with pytest.raises(SweepError, match=message):
                sweeps._raise(done.failure, sweep)
        [saved] = sweeps._run_batch((str(out), "client-token", code_digest(), (), item)).saved
    data = (out / point.file).read_bytes()
    assert (saved.position, saved.rows, saved.sha256) == (0, 2, hashlib.sha256(data).hexdigest())


def test_a_worker_makes_its_environment_record_once_for_all_its_batches(tmp_path, monkeypatch):
    """The code digest and package versions a worker's sidecars record are read on its first
    batch only (tens of milliseconds each time), and are the process's `environment_record`."""
    made = []

    def counting() -> dict:
        made.append(1)
        return environment_record()

    out = tmp_path / "out"
    out.mkdir()
    points = parse_sweep(SMALL).points
    monkeypatch.setattr(sweeps, "environment_record", counting)
    sweeps._process_environment.cache_clear()
    try:
        with _held_by_sweep(out, "client-token"):
            for position in (0, 1, 2):
                item = [(position, points[position].spec, points[position].file)]
                sweeps._run_batch((str(out), "client-token", code_digest(), (), item))
    finally:
        sweeps._process_environment.cache_clear()
    assert len(made) == 1
    _, meta = read_pair(out / points[2].file)
    assert {key: meta[key] for key in ("python", "packages", "code_sha256")} == environment_record()


def test_read_sweep_can_give_each_row_its_grid_values(tmp_path: Path):
    """A durable row labels the poll interval it never uses 0; with grid_values it carries the
    interval of its grid point, as its baseline twin does."""
    document = {
        "base": {"workload": "video", "runs": 2},
        "grid": {"model": ["durable", "baseline"], "poll_interval_ms": [50, 200]},
    }
    run_sweep(parse_sweep(document), tmp_path, progress=False)
    plain = read_sweep(tmp_path)
    assert (plain.loc[plain["model"] == "durable", "poll_interval_ms"] == 0).all()
    rows = read_sweep(tmp_path, grid_values=True)
    assert rows.drop(columns="poll_interval_ms").equals(plain.drop(columns="poll_interval_ms"))
    for point, group in rows.groupby("point"):
        assert set(group["poll_interval_ms"]) == {float(point.split("poll_interval_ms=")[1])}


def test_collect_sweep_returns_the_rows_run_sweep_writes_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    run_sweep(parse_sweep(SMALL), out, progress=False)
    private = tmp_path / "tmp"  # this test's own temp dir: other sweeps on the host stay out
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    swept = collect_sweep(parse_sweep(SMALL))
    assert list(private.iterdir()) == []
    assert swept.rows.equals(read_sweep(out, grid_values=True))
    assert swept.specs == [p.spec for p in parse_sweep(SMALL).points]
    assert swept.index.equals(pd.read_csv(out / INDEX_FILE))


def test_a_rerun_removes_the_hidden_leftovers_of_an_interrupted_sweep(tmp_path, small_reference):
    """The reviewer's SIGTERM'd sweep left ``.<point>.csv.*.tmp`` files no rerun removed. Here
    a finished sweep is given what a kill at each step of a publish leaves: a temporary data
    file, a temporary sidecar, and a pending data file past the commit point (the sidecar
    already names it); the rerun settles them all and its files are the reference's."""
    out = tmp_path / "out"
    run_sweep(parse_sweep(SMALL), out, progress=False)
    names = sorted(name for name in files(out) if name.endswith(".csv") and name != "index.csv")
    first, second, third = (out / name for name in names[:3])
    (out / f".{first.name}.k3j2x9.tmp").write_bytes(b"half a csv")
    (out / f".{second.stem}.meta.json.q8w7e6.tmp").write_bytes(b'{"half": ')
    data = third.read_bytes()
    pending = out / f".{third.name}.{hashlib.sha256(data).hexdigest()}.pending"
    third.rename(pending)  # killed between the sidecar (the commit point) and the rename
    run_sweep(parse_sweep(SMALL), out, progress=False)
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert hidden == [LOCK_FILE, SAVE_LOCK_FILE]
    assert files(out) == small_reference


def test_a_dask_cluster_that_closes_late_warns_and_does_not_fail_a_finished_sweep() -> None:
    """A LocalCluster whose starved workers answer its close late raises TimeoutError (seen at
    load 35); the sweep's files are all written by then, so the close warns instead."""
    closed: list[str] = []

    class Cluster:
        def close(self) -> None:
            closed.append("cluster")
            raise TimeoutError("workers did not stop within 10 s")

    class Client:
        def close(self) -> None:
            closed.append("client")

    with pytest.warns(RuntimeWarning, match="did not close in time.*files are unaffected"):
        sweeps._close_dask(Client(), Cluster())
    assert closed == ["client", "cluster"]


def test_a_batch_of_a_killed_sweep_saves_nothing(tmp_path):
    """A sweep killed with SIGKILL leaves its token in the lock file but not its lock (the
    kernel drops it with the process): its pool workers, reparented, ran on and kept writing
    beside a rerun. A batch runs only while the lock is held."""
    out = tmp_path / "out"
    out.mkdir()
    token = f"{socket.gethostname()}:1234:5678"
    (out / LOCK_FILE).write_text(token)  # the token of a sweep that is gone
    point = parse_sweep(SMALL).points[0]
    done = sweeps._run_batch((str(out), token, code_digest(), (), [(0, point.spec, point.file)]))
    assert done == sweeps._Done([])
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    with _held_by_sweep(out, token):
        assert sweeps._still_held(out, token)
        assert not sweeps._still_held(out, "another-token")
    (out / LOCK_FILE).write_text("another-host:1234:5678")  # its lock is that host's to see
    assert sweeps._still_held(out, "another-host:1234:5678")


def test_a_starting_sweep_waits_for_a_save_in_flight_and_later_saves_see_its_token(tmp_path):
    """A worker of a killed sweep may decide to save a point just as a rerun takes the lock:
    the old token is still in the file and the lock is held (by the rerun). Its save is then
    made before the rerun writes its token, because the decision and the save are made under
    the save lock, which a starting sweep takes exclusively to write its token; a worker that
    decides after that sees the new token and saves nothing."""
    out = tmp_path / "out"
    out.mkdir()
    old = f"{socket.gethostname()}:1234:5678"  # the killed sweep's token; its lock is gone
    (out / LOCK_FILE).write_text(old)
    rerun: list[str] = []
    with (out / SAVE_LOCK_FILE).open("a+") as other_save:
        fcntl.flock(other_save, fcntl.LOCK_SH)  # another save in flight holds the rerun off
        thread = threading.Thread(target=lambda: rerun.append(_start_and_stop(out)))
        thread.start()
        assert _wait_for(lambda: _lock_is_held(out), 30)  # the rerun holds the sweep's lock
        with sweeps._saving(out, old) as held:
            assert held  # the old token, a held lock: the worker saves...
            time.sleep(0.3)
            assert (out / LOCK_FILE).read_text() == old and rerun == []  # ...before the rerun
    thread.join(timeout=30)
    assert rerun == ["started"]
    with _held_by_sweep(out, "the rerun's token"), sweeps._saving(out, old) as held:
        assert not held


def _lock_is_held(out: Path) -> bool:
    with (out / LOCK_FILE).open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def _start_and_stop(out: Path) -> str:
    with sweeps._locked(out):
        return "started"


def test_a_starting_sweep_names_a_save_that_never_ends(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(sweeps, "SAVE_WAIT_S", 0.2)
    with (out / SAVE_LOCK_FILE).open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)  # a worker stopped while saving
        with pytest.raises(SweepError) as err, sweeps._locked(out):
            pass
    assert str(err.value) == (
        f"output directory {str(out)!r}: a point being saved there has not been saved within "
        "0.2 s (a worker of an earlier sweep, stopped mid-save?) (accepted: a directory no "
        "stopped process is saving into)"
    )


def _children(pid: int) -> list[int]:
    """The pids of `pid`'s child processes (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and is no zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_the_pool_of_a_sigkilled_sweep_exits_and_saves_nothing_over_a_rerun(tmp_path):
    """The reviewer's kill: ``sweep --workers 2``, SIGKILL of the sweep while both workers run a
    point, and a rerun with fewer runs at once. The orphaned workers published their points
    over the rerun's files (its index's sha256 no longer matched them), then waited forever on
    the pool's queue beside the pool's resource tracker. Here the runs wait at a gate, so the
    kill lands while both run: the workers and the tracker end within seconds, and the rerun's
    files stay as its index records them once the gate opens."""
    gate, out = tmp_path / "gate", tmp_path / "out"
    gate.mkdir()
    document: dict[str, Any] = {
        "base": {"workload": "gated", "runs": 3},
        "grid": {"model": ["durable", "baseline"]},
    }
    (tmp_path / "v1.yaml").write_text(yaml.safe_dump(document))
    document["base"]["runs"] = 1
    (tmp_path / "v2.yaml").write_text(yaml.safe_dump(document))
    tests = Path(__file__).resolve().parent
    command = [sys.executable, "-m", "durable_sim.cli", "--import", "gated_workload", "sweep"]
    env = {**os.environ, "DURABLE_SIM_TEST_GATE": str(gate)}
    sweep = subprocess.Popen(
        [*command, str(tmp_path / "v1.yaml"), "--out", str(out), "--workers", "2", "-q"],
        cwd=tests,
        env=env,
    )
    try:
        assert _wait_for(lambda: len(list(gate.glob("started-*"))) == 2, 180), "no runs began"
        pool = _children(sweep.pid)
        workers = [int(p.name.removeprefix("started-")) for p in gate.glob("started-*")]
        assert set(workers) < set(pool)  # the two workers and the resource tracker
    finally:
        sweep.kill()
        sweep.wait()
    assert _wait_for(lambda: not any(map(_alive, pool)), 30), "the pool outlived its sweep"
    rerun = subprocess.run(
        [*command, str(tmp_path / "v2.yaml"), "--out", str(out), "-q"],
        cwd=tests,
        env={**os.environ, "DURABLE_SIM_TEST_GATE": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    (gate / "open").touch()
    time.sleep(1.0)  # a worker left behind would publish its point by now
    index = pd.read_csv(out / INDEX_FILE)
    assert list(index["rows"]) == [1, 1]
    for file, sha256 in zip(index["file"], index["sha256"], strict=True):
        assert hashlib.sha256((out / file).read_bytes()).hexdigest() == sha256


def test_a_sweeps_files_index_and_point_ids_never_hold_a_password(postgres_cluster, tmp_path):
    """The reviewer's: ``database: <URL>`` in ``base`` put the password in every point's
    sidecar, and ``grid: {database: [memory, <URL>]}`` in the points' file names and the index
    too. A sweep writes a DSN down masked, and points that differ only in a password are one
    experiment: a rerun with another password runs nothing again."""
    secret = "S3cretPassw0rdXYZ"

    def url(password: str) -> str:
        return postgres_cluster.dsn.replace("postgres@", f"postgres:{password}@", 1)

    def every_byte(out: Path) -> bytes:
        return b"".join(p.name.encode() + p.read_bytes() for p in sorted(out.iterdir()))

    for name, document in {
        "base": {
            "base": {"workload": "counter", "runs": 1, "database": url(secret)},
            "grid": {"model": ["durable", "baseline"]},
        },
        "grid": {
            "base": {"workload": "counter", "runs": 1, "model": "baseline"},
            "grid": {"database": ["memory", url(secret)]},
        },
    }.items():
        out = tmp_path / name
        assert run_sweep(parse_sweep(document), out, progress=False).ran >= 1
        assert secret.encode() not in every_byte(out)
        before = files(out)
        again = yaml.safe_load(yaml.safe_dump(document).replace(secret, "another"))
        result = run_sweep(parse_sweep(again), out, progress=False)
        assert result.ran == 0 and files(out) == before
    index = pd.read_csv(tmp_path / "grid" / INDEX_FILE)
    masked = "user=postgres password=*** dbname=postgres host=127.0.0.1 port="
    assert index["database"][1].startswith(masked)
    assert index["point"][1].startswith("database=user%3Dpostgres%20password%3D%2A%2A%2A%20")


def test_a_recovery_waits_for_a_save_in_flight_of_a_killed_sweeps_worker(tmp_path):
    """`durable-sim recover` takes a swept directory whose lock no sweep holds for one no writer
    is live in, and removes its temporary files: a worker of a killed sweep that is saving a
    point there is such a writer until its save ends. The recovery waits for it."""
    out = tmp_path / "out"
    with sweeps._locked(out):
        pass
    entered: list[list[Path]] = []

    def recover() -> None:
        with sweeps.quiet_sweeps(out) as held:
            entered.append(held)

    with (out / SAVE_LOCK_FILE).open("a+") as saving:
        fcntl.flock(saving, fcntl.LOCK_SH)  # the killed sweep's worker, mid-save
        thread = threading.Thread(target=recover)
        thread.start()
        time.sleep(0.5)
        assert entered == []
    thread.join(timeout=30)
    assert entered == [[out]]


# --- lock files that cannot serve, and who holds a lock ------------------------------------------


def _make_fifo(path: Path) -> None:
    os.mkfifo(path)


def _make_directory(path: Path) -> None:
    path.mkdir()


def _make_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))


_NOT_FILES = {
    "a FIFO (named pipe)": _make_fifo,
    "a directory": _make_directory,
    "a socket": _make_socket,
}


def _without_hanging(call, fifo: Path | None = None, timeout_s: float = 60.0) -> Any:
    """`call()`'s result, failing (not hanging) if it does not return within `timeout_s`: a
    thread stuck opening the FIFO `fifo` is let go by opening its other end."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = call()
        except BaseException as exc:  # handed to the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout_s)
        pytest.fail(f"{call} did not return within {timeout_s} s (blocked on a lock file)")
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.mark.parametrize("what", sorted(_NOT_FILES))
@pytest.mark.parametrize("name", [LOCK_FILE, SAVE_LOCK_FILE])
def test_a_lock_file_that_is_no_regular_file_is_refused_by_sweep_and_recover_without_hanging(
    tmp_path, capsys, what, name
):
    """A FIFO at .sweep.lock hung recover (its open blocked for a writer), a directory gave an
    unexpected IsADirectoryError (exit 1): each is one line naming the path, what stands there
    and what should, exit 2 (bad usage), for sweep and recover alike, and nothing is written."""
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).touch()  # a sweep ran there (recover looks at the save lock then only)
    lock = out / name
    lock.unlink(missing_ok=True)
    _NOT_FILES[what](lock)
    fifo = lock if what.startswith("a FIFO") else None
    sweep_file = tmp_path / "small.yaml"
    sweep_file.write_text(yaml.safe_dump(SMALL))
    before = sorted(p.name for p in out.iterdir())
    for argv in (["recover", str(out)], ["sweep", str(sweep_file), "--out", str(out), "-q"]):
        capsys.readouterr()
        assert _without_hanging(lambda argv=argv: main(argv), fifo) == 2, argv
        err = capsys.readouterr().err
        assert f"lock file {str(lock)!r} is {what} (accepted: a regular file" in err, err
        assert err.count("\n") == 1, err
        assert sorted(p.name for p in out.iterdir()) == before
        assert not [p for p in out.iterdir() if p.suffix == ".csv"]


def test_a_filesystem_without_locks_is_named_not_an_unexpected_error(tmp_path, capsys, monkeypatch):
    """flock failing with ENOLCK (NFS without its lock manager) printed "unexpected OSError:
    [Errno 37] No locks available", exit 1, naming no directory."""
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).touch()
    sweep_file = tmp_path / "small.yaml"
    sweep_file.write_text(yaml.safe_dump(SMALL))

    def no_locks(fd: Any, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(sweeps.fcntl, "flock", no_locks)
    for argv in (["recover", str(out)], ["sweep", str(sweep_file), "--out", str(out), "-q"]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"cannot lock {str(out / LOCK_FILE)!r}: No locks available" in err, err
        assert "accepted: a directory on a filesystem that keeps advisory locks" in err
        assert err.count("\n") == 1 and "unexpected" not in err
    assert not [p for p in out.iterdir() if p.suffix == ".csv"]


def test_a_sweep_refused_by_a_recover_says_a_recover_may_hold_the_lock(tmp_path):
    """A sweep starting while recover held its shared lock said "in use by another sweep"."""
    out = tmp_path / "out"
    run_sweep(parse_sweep(SMALL), out, progress=False)
    with sweeps.quiet_sweeps(out) as held:
        assert held == [out]
        with pytest.raises(SweepError) as err:
            run_sweep(parse_sweep(SMALL), out, progress=False)
    assert str(err.value) == (
        f"output directory {str(out)!r} is in use: its {LOCK_FILE} is held by another sweep or "
        "by a durable-sim recover (accepted: one sweep or recover per directory at a time; run "
        "again once it has ended)"
    )


def test_a_sweep_waits_out_a_probe_of_its_lock(tmp_path):
    """A worker's probe of the lock (`_still_held`, a shared lock for microseconds) no longer
    makes a sweep starting at that instant fail: it waits up to LOCK_WAIT_S."""
    out = tmp_path / "out"
    out.mkdir()
    probe = (out / LOCK_FILE).open("a")
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
    timer = threading.Timer(sweeps.LOCK_WAIT_S / 4, probe.close)
    timer.start()
    try:
        assert run_sweep(parse_sweep(SMALL), out, progress=False).ran == 6
    finally:
        timer.join()
