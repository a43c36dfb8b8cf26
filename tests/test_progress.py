"""Progress of a run loop: off, a tqdm bar, or a callback."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from durable_sim import KERNEL_NAME
from durable_sim.experiments import ExperimentSpec, run_experiment
from durable_sim.progress import progress_reporter


def test_off_bar_and_callback(capsys: Any) -> None:
    with progress_reporter(None, total=3, description="x") as report:
        assert report is None
    with progress_reporter(False, total=3, description="x") as report:
        assert report is None
    with progress_reporter(True, total=3, description="counter/durable") as report:
        assert report is not None
        report(3)
    assert "counter/durable: 100%" in capsys.readouterr().err
    seen: list[int] = []
    with progress_reporter(seen.append, total=3, description="x") as report:
        assert report == seen.append
    with (
        pytest.raises(TypeError, match=r"bad progress=3 \(accepted: None, False, True"),
        progress_reporter(3, total=3, description="x"),  # type: ignore[arg-type]
    ):
        pass


def test_run_experiment_reports_every_run_and_is_silent_by_default(capsys: Any) -> None:
    spec = ExperimentSpec(workload="counter", model="durable", runs=5)
    seen: list[int] = []
    run_experiment(spec, progress=seen.append)
    assert sum(seen) == 5
    run_experiment(spec)
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_in_a_notebook_the_bar_is_a_widget_and_nothing_warns() -> None:
    cell = (
        "from durable_sim.experiments import ExperimentSpec, run_experiment\n"
        "spec = ExperimentSpec(workload='counter', model='durable', runs=5)\n"
        "print(len(run_experiment(spec, progress=True)))"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    NotebookClient(notebook, timeout=120, kernel_name=KERNEL_NAME).execute()
    outputs = notebook.cells[0].outputs
    assert [o.get("name") for o in outputs if o.output_type == "stream"] == ["stdout"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert outputs[-1].text == "5\n"
