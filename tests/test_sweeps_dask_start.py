"""Sweeps on a LocalCluster whose workers start at different times: results and progress flow
from the first worker that runs, whatever the others are doing."""

from __future__ import annotations

import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from durable_sim import sweeps
from durable_sim.sweeps import SweepError, parse_sweep, run_sweep

SMALL = {
    "base": {"workload": "counter", "runs": 1},
    "grid": {"model": ["durable", "baseline"], "seed": [0, 1, 2]},
}


def _gated_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gate: Path) -> None:
    """Make worker '1' of the next LocalCluster wait, while it starts, until `gate` exists."""
    preload = tmp_path / "gated.py"
    preload.write_text(
        "import os\nimport time\n\n\ndef dask_setup(worker):\n"
        f"    while str(worker.name) == '1' and not os.path.exists({str(gate)!r}):\n"
        "        time.sleep(0.02)\n"
    )
    settings = {**sweeps.DASK_CONFIG, "distributed.worker.preload": [str(preload)]}
    monkeypatch.setattr(sweeps, "DASK_CONFIG", MappingProxyType(settings))


class _OpenGateBar:
    """A progress bar that opens a gate when the sweep's first progress reaches it."""

    def __init__(self, gate: Path) -> None:
        self.gate = gate
        self.counts: list[int] = []

    def __call__(self, **_: Any) -> _OpenGateBar:
        return self

    def __enter__(self) -> _OpenGateBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, count: int) -> None:
        self.counts.append(count)
        self.gate.touch()

    def close(self) -> None:
        pass


def test_results_and_progress_flow_while_a_worker_is_still_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """last session's leftover: while the sweep waited for every LocalCluster worker to start,
    no result or progress reached it (the first worker might run every batch meanwhile). Here
    the second worker cannot finish starting until the sweep has shown progress: before, the
    sweep waited for it until the start timeout; now the first worker's results arrive, the
    gate opens, and the sweep ends with every point."""
    gate = tmp_path / "gate"
    _gated_worker(tmp_path, monkeypatch, gate)
    monkeypatch.setattr(sweeps, "WORKER_START_TIMEOUT_S", 30.0)
    bar = _OpenGateBar(gate)
    monkeypatch.setattr(sweeps, "tqdm", bar)
    started = time.monotonic()
    result = run_sweep(parse_sweep(SMALL), tmp_path / "out", executor="dask", workers=2)
    assert (result.ran, result.skipped) == (6, 0)
    assert sum(bar.counts) == 6
    assert time.monotonic() - started < 30


def test_a_worker_that_never_starts_still_ends_the_sweep_after_the_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start timeout and its error stay: a worker that never finishes starting ends the
    sweep with one `SweepError` naming it, even when the other worker ran every point (which
    stay saved; the next run writes the index)."""
    _gated_worker(tmp_path, monkeypatch, tmp_path / "never")
    monkeypatch.setattr(sweeps, "WORKER_START_TIMEOUT_S", 4.0)
    out = tmp_path / "out"
    with pytest.raises(SweepError, match=r"workers \['1'\] did not start within 4 s"):
        run_sweep(parse_sweep(SMALL), out, executor="dask", workers=2, progress=False)
    saved = len(list(out.glob("*.meta.json")))
    assert saved >= 1  # worker '0' ran while '1' was starting
    monkeypatch.undo()
    result = run_sweep(parse_sweep(SMALL), out, progress=False)
    assert result.skipped == saved and result.ran == 6 - saved
