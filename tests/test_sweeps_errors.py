"""Sweeps: what a sweep reports when a grid point fails, on every executor, and every error path
of a sweep file and of the experiment spec it holds: one line naming the value and the accepted
range."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import pytest

from durable_sim import sweeps
from durable_sim.errors import SpecError
from durable_sim.experiments import ExperimentSpec, run_experiment
from durable_sim.sweeps import (
    MAX_POINTS,
    SWEEP_KEYS,
    PointFailedError,
    SweepError,
    load_sweep,
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
    command = [sys.executable, "-m", "durable_sim.cli", "sweep", str(sweep), "--out", str(out)]
    done = subprocess.run(
        [*command, "-q", *options],
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
        f'reached: connection failed: connection to server at "127.0.0.1", port {port} '
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


# --- every error path of a spec and of a sweep file: one line, the value, the accepted range ----

# A spec every field of which applies, to which each case adds one field's bad value.
BASE = {"workload": "video", "model": "durable"}
# A value no field accepts: no field holds a list.
WRONG_TYPE = [1]
# Fields whose accepted values are names or files rather than a type and bounds, and a value
# of each outside them. A new such field fails `_out_of_range` until it is listed here.
NAMED = {
    "workload": "no-such-workload",
    "profile": "no-such-profile",
    "database": "no-such-database",
    "prices": "no/such/prices.yaml",
    "costs": {"no_such_cost": 1.0},
    "options": {"no_such_option": 1},
}


def _out_of_range(name: str, field: Any) -> list[Any]:
    """Values just outside what field `name` accepts, from its type and bounds."""
    if name in NAMED:
        return [NAMED[name]]
    annotation = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        (annotation,) = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return ["no-such-value"]
    values: list[Any] = []
    for item in field.metadata:
        for bound, outside in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
            limit = getattr(item, bound, None)
            if isinstance(item, annotated_types.BaseMetadata) and limit is not None:
                values.append(limit + outside)
        if isinstance(item, annotated_types.MinLen):
            values.append("")
    assert values, f"field {name!r}: no bad value known (add one to NAMED)"
    return values


CASES = [
    pytest.param(name, value, id=f"{name}={value!r}")
    for name, field in ExperimentSpec.model_fields.items()
    for value in [WRONG_TYPE, *_out_of_range(name, field)]
]


def _mentions(text: str, value: Any) -> int:
    """How often `text` names `value`, as a whole word."""
    return len(re.findall(rf"(?<![\w.]){re.escape(repr(value))}(?![\w.])", text))


def _names(text: str, value: Any) -> bool:
    """Whether `text` names `value` (a mapping: it or its bad key)."""
    keys = value if isinstance(value, dict) else {}
    return _mentions(text, value) > 0 or any(repr(key) in text for key in keys)


@pytest.mark.parametrize(("name", "value"), CASES)
def test_every_bad_spec_field_is_one_line_with_the_accepted_range(name: str, value: Any) -> None:
    with pytest.raises(SpecError) as info:
        ExperimentSpec.parse({**BASE, name: value})
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("bad experiment spec: ") and name in text
    assert _names(text, value), text
    assert "(accepted: " in text, text
    if value is WRONG_TYPE:
        assert text.startswith(f"bad experiment spec: {name}=[1] ")
        assert text.endswith(f"(accepted: {ExperimentSpec.accepted(name)})")


@pytest.mark.parametrize(("name", "value"), CASES)
@pytest.mark.parametrize("where", ["base", "grid"])
def test_every_bad_sweep_value_is_one_line_naming_it_once(
    where: str, name: str, value: Any
) -> None:
    """The reviewer's "grid point chunks=0: chunks=0: ..." and pydantic's wording without the
    range: every field's bad value, in the base and in the grid, is one line naming the
    value once (a mapping's bad key may be named again), with the accepted range."""
    base = {k: v for k, v in BASE.items() if k != name}
    document = (
        {"base": {**base, name: value}, "grid": {}}
        if where == "base"
        else {"base": base, "grid": {name: [value]}}
    )
    with pytest.raises(SweepError) as info:
        parse_sweep(document, source="s.yaml")
    text = str(info.value)
    assert "\n" not in text
    prefix = (
        "bad sweep s.yaml: base: " if where == "base" else f"bad sweep s.yaml: grid point {name}="
    )
    assert text.startswith(prefix), text
    assert _names(text, value), text
    assert _mentions(text, value) == 1, text
    assert "(accepted: " in text, text


@pytest.mark.parametrize(
    ("document", "message"),
    [
        *(
            pytest.param(
                {k: {} for k in SWEEP_KEYS if k != key},
                f"missing key {key!r} (accepted: exactly {list(SWEEP_KEYS)})",
                id=f"missing {key}",
            )
            for key in SWEEP_KEYS
        ),
        *(
            pytest.param(
                {**{k: {} for k in SWEEP_KEYS}, key: [1]},
                f"{key} must be a mapping, got [1] (accepted: {key}: {{key: ",
                id=f"{key} not a mapping",
            )
            for key in SWEEP_KEYS
        ),
        *(
            pytest.param(
                {**{k: {} for k in SWEEP_KEYS}, key: {"no_such_key": 1}},
                f"{key} key 'no_such_key' is not an experiment spec field (accepted: [",
                id=f"unknown {key} key",
            )
            for key in SWEEP_KEYS
        ),
        pytest.param(
            {"base": {}, "grid": {}, "extra": 1},
            f"unknown key 'extra' (accepted: exactly {list(SWEEP_KEYS)})",
            id="unknown key",
        ),
        pytest.param(
            [1], f"[1] is no mapping (accepted: a mapping with keys {list(SWEEP_KEYS)})", id="list"
        ),
        pytest.param(
            None,
            f"None is no mapping (accepted: a mapping with keys {list(SWEEP_KEYS)})",
            id="empty",
        ),
        pytest.param(
            {"base": BASE, "grid": {"chunks": []}},
            "grid key 'chunks' has [] (accepted: a non-empty list of values)",
            id="empty grid list",
        ),
        pytest.param(
            {"base": BASE, "grid": {"chunks": 3}},
            "grid key 'chunks' has 3 (accepted: a non-empty list of values)",
            id="grid value not a list",
        ),
        pytest.param(
            {"base": BASE, "grid": {"chunks": [3, 3.0]}},
            "grid key 'chunks' lists 3 and 3.0, which are the same value 3 (accepted: distinct "
            "values)",
            id="duplicate points",
        ),
        pytest.param(
            {"base": BASE, "grid": {"model": ["durable"]}},
            "key 'model' is in both base and grid (accepted: one of them)",
            id="key in both",
        ),
        pytest.param(
            {"base": BASE, "grid": {"seed": list(range(1001)), "runs": list(range(1, 1001))}},
            f"the grid has 1,001,000 points (accepted: at most {MAX_POINTS:,})",
            id="too many points",
        ),
    ],
)
def test_every_bad_sweep_document_is_one_line_with_the_accepted(
    document: Any, message: str
) -> None:
    with pytest.raises(SweepError) as info:
        parse_sweep(document, source="s.yaml")
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("bad sweep s.yaml: ")
    assert message in text, text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory (accepted: a readable UTF-8 YAML file)"),
        ("dir", "Is a directory (accepted: a readable UTF-8 YAML file)"),
        (b"\xff\xfe", "can't decode byte 0xff in position 0: invalid start byte (accepted: a "),
        (b"x: [\n", "did not find expected node content at line 2, column 1 (accepted: a YAML "),
        (
            b"base: {}\ngrid: {}\ngrid: {}\n",
            "key 'grid' given twice (lines 2 and 3; accepted: each key once) at line 3, column 1",
        ),
        (b"", "None is no mapping (accepted: a mapping with keys ['base', 'grid'])"),
    ],
    ids=["missing", "directory", "not UTF-8", "bad YAML", "key twice", "empty"],
)
def test_every_bad_sweep_file_is_one_line_with_the_accepted(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "s.yaml"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(SweepError) as info:
        load_sweep(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(("bad sweep file ", "bad sweep ")) and str(path) in text
    assert message in text, text
    assert text.count("accepted: ") == 1, text
