"""Fault plans: validation, step failures by name or id, keyed probabilities, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from durable_sim import MemoryJournal, run_durable
from durable_sim.errors import FaultPlanError
from durable_sim.faults import (
    CRASH_PROCESS_ENV,
    NO_FAULTS,
    FaultPlan,
    SimulatedCrash,
    dedicated_crash_env,
)
from durable_sim.kernel import KERNEL_NAME


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_probability": 1.0}, r"failure_probability must be in \[0, 1\), got 1.0"),
        ({"failure_probability": -0.1}, r"failure_probability must be in \[0, 1\), got -0.1"),
        ({"crash_after_checkpoint": 0}, "crash_after_checkpoint must be >= 1, got 0"),
        ({"crash_mode": "explode"}, "crash_mode must be 'raise' or 'kill', got 'explode'"),
        ({"step_failures": {"s": {0, 2}}}, r"step_failures\['s'\] has attempts \[0\]"),
    ],
)
def test_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPlan(**kwargs)


def test_step_failures_by_name_or_op_id() -> None:
    plan = FaultPlan(step_failures={"charge": {1, 2}, "3.1": (1,)})
    assert plan.step_attempt_fails("7", "charge", 2)
    assert not plan.step_attempt_fails("7", "charge", 3)
    assert plan.step_attempt_fails("3.1", None, 1)
    assert not plan.step_attempt_fails("3.2", None, 1)
    assert not NO_FAULTS.step_attempt_fails("1", "charge", 1)


def test_keyed_probability_is_deterministic_and_order_independent() -> None:
    keys = [(f"{i}", a) for i in range(300) for a in (1, 2)]
    plan = FaultPlan(seed=5, failure_probability=0.3)
    forward = [plan.step_attempt_fails(op, None, a) for op, a in keys]
    backward = [plan.step_attempt_fails(op, None, a) for op, a in reversed(keys)][::-1]
    assert forward == backward
    assert 0.22 < sum(forward) / len(forward) < 0.38
    other = FaultPlan(seed=6, failure_probability=0.3)
    assert forward != [other.step_attempt_fails(op, None, a) for op, a in keys]


def test_crash_after_checkpoint_raise_mode() -> None:
    plan = FaultPlan(crash_after_checkpoint=3, crash_mode="raise")
    plan.after_checkpoint(1)
    plan.after_checkpoint(2)
    with pytest.raises(SimulatedCrash, match="after checkpoint 3"):
        plan.after_checkpoint(3)
    plan.after_checkpoint(4)
    assert not issubclass(SimulatedCrash, Exception)  # workflow code cannot swallow it


def test_crash_mode_defaults_to_an_in_process_crash() -> None:
    assert FaultPlan(crash_after_checkpoint=1).crash_mode == "raise"
    with pytest.raises(SimulatedCrash):
        FaultPlan(crash_after_checkpoint=1).after_checkpoint(1)


def test_kill_outside_a_dedicated_subprocess_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(CRASH_PROCESS_ENV, raising=False)
    with pytest.raises(FaultPlanError, match=r"crash_mode='kill' would SIGKILL this process") as e:
        FaultPlan(crash_after_checkpoint=1, crash_mode="kill")
    assert "\n" not in str(e.value)
    assert CRASH_PROCESS_ENV in str(e.value)


def test_a_kill_plan_moved_into_an_ordinary_process_does_not_kill_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CRASH_PROCESS_ENV, "1")
    plan = FaultPlan(crash_after_checkpoint=2, crash_mode="kill")  # built where it was allowed
    monkeypatch.delenv(CRASH_PROCESS_ENV)
    plan.after_checkpoint(1)
    with pytest.raises(FaultPlanError, match="not a dedicated subprocess"):
        plan.after_checkpoint(2)


def test_a_dedicated_subprocess_that_asks_for_kill_is_killed(tmp_path: Path) -> None:
    script = (
        "from durable_sim.faults import FaultPlan\n"
        "plan = FaultPlan(crash_after_checkpoint=1, crash_mode='kill')\n"
        "plan.after_checkpoint(1)\n"
        "print('survived')\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script], env=dedicated_crash_env(), capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL
    assert "survived" not in killed.stdout
    refused = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert refused.returncode == 1
    assert "FaultPlanError: crash_mode='kill' would SIGKILL" in refused.stderr


def _counter_handler(event: Any, ctx: Any) -> int:
    total = 0
    for i in range(4):
        total = ctx.step(lambda _, i=i, total=total: total + i, name=f"add{i}")
    return total


def test_a_notebook_style_caller_gets_a_simulated_crash_and_resumes() -> None:
    journal = MemoryJournal()
    with pytest.raises(SimulatedCrash, match="after checkpoint 2"):
        run_durable(
            _counter_handler,
            {},
            journal=journal,
            execution_id="nb",
            faults=FaultPlan(crash_after_checkpoint=2),
        )
    resumed = run_durable(_counter_handler, {}, journal=journal, execution_id="nb")
    assert (resumed.status, resumed.result) == ("SUCCEEDED", 6)


@pytest.mark.slow
def test_a_jupyter_kernel_is_never_sigkilled_by_a_crash_plan() -> None:
    """In a real kernel (as in JupyterLab) the default crash and a refused 'kill' both leave
    the kernel alive: the next cell runs in the same process."""
    cells = [
        "import os\nfrom durable_sim import FaultPlan, MemoryJournal, SimulatedCrash, run_durable\n"
        "pid = os.getpid()",
        "def handler(event, ctx):\n"
        "    return sum(ctx.step(lambda _, i=i: i, name=f's{i}') for i in range(4))\n"
        "journal = MemoryJournal()\n"
        "try:\n"
        "    run_durable(handler, {}, journal=journal, execution_id='x',\n"
        "                faults=FaultPlan(crash_after_checkpoint=2))\n"
        "except SimulatedCrash as crash:\n"
        "    print('crashed:', crash)",
        "try:\n"
        "    FaultPlan(crash_after_checkpoint=1, crash_mode='kill')\n"
        "except ValueError as refused:\n"
        "    print('refused:', type(refused).__name__)",
        "run = run_durable(handler, {}, journal=journal, execution_id='x')\n"
        "print(run.status, run.result, os.getpid() == pid)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env = {k: v for k, v in os.environ.items() if k != CRASH_PROCESS_ENV}
    NotebookClient(notebook, timeout=120, kernel_name=KERNEL_NAME).execute(env=env)
    texts = ["".join(o.get("text", "") for o in cell.outputs) for cell in notebook.cells]
    assert texts[1] == "crashed: simulated crash after checkpoint 2\n"
    assert texts[2] == "refused: FaultPlanError\n"
    assert texts[3] == "SUCCEEDED 6 True\n"
