"""A process SIGKILLed after any checkpoint resumes from its SQLite journal, re-running no step."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from durable_sim.faults import dedicated_crash_env

HELPER = Path(__file__).with_name("crash_workflow.py")


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HELPER), str(tmp_path / "j.sqlite"), str(tmp_path / "side"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dedicated_crash_env(),
    )


@pytest.fixture(scope="module")
def clean_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("clean")
    proc = _run(tmp)
    assert proc.returncode == 0, proc.stderr
    assert (tmp / "side").read_text().split() == [f"s{i}" for i in range(12)]
    result: dict[str, object] = json.loads(proc.stdout)
    assert result["status"] == "SUCCEEDED"
    return result


@pytest.mark.slow
@pytest.mark.parametrize("k", range(1, 13))  # the workflow writes one checkpoint per step
def test_sigkill_after_checkpoint_k_then_resume(
    k: int, tmp_path: Path, clean_result: dict[str, object]
) -> None:
    crashed = _run(tmp_path, str(k))
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert crashed.stdout == ""
    before = (tmp_path / "side").read_text().split()
    assert before == [f"s{i}" for i in range(k)]  # killed right after step k's checkpoint

    resumed = _run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == clean_result
    executed = (tmp_path / "side").read_text().split()
    assert executed == [f"s{i}" for i in range(12)]  # every step body ran exactly once


def test_crash_after_the_last_checkpoint_is_not_a_rerun(tmp_path: Path) -> None:
    """k beyond the checkpoints written: the run completes without being killed."""
    proc = _run(tmp_path, "13")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "SUCCEEDED"
