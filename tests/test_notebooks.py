"""The committed notebooks: well-formed, executed, and reproduced cell by cell by nbval (strict).

nbval runs on a temporary copy of notebooks/params/data/figures/paper with ``DURABLE_SIM_ROOT``
pointing at it, on the project kernel the notebooks name, so re-executing the notebooks never
rewrites files in the working tree.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from durable_sim.kernel import install_kernel
from durable_sim.notebook import NOTEBOOK_PARAMETERS
from durable_sim.project import ROOT_ENV

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))
COPIED = ("notebooks", "params", "data", "figures", "paper", "tools")
NO_OUTPUT_TAGS = {"parameters", "injected-parameters"}


def test_notebooks_exist() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_counter.ipynb",
        "02_video_pipeline.ipynb",
        "03_actor_semantics.ipynb",
        "04_sensitivity.ipynb",
        "05_figure_and_statistics.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_executed_and_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert "papermill" not in nb.metadata, "run-varying papermill metadata not stripped"
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"stale or partial execution: {counts}"
    for cell in code:
        tags = set(cell.metadata.get("tags", []))
        assert not {"papermill", "execution"} & set(cell.metadata), cell.id
        if not tags & NO_OUTPUT_TAGS:
            assert cell.outputs, f"cell {cell.id} has no outputs"
        for out in cell.outputs:
            assert out.output_type != "error", f"cell {cell.id} raised"
            assert not (out.output_type == "stream" and out.name == "stderr"), (
                f"cell {cell.id} wrote to stderr (a warning?): {out.text[:200]}"
            )
        if not tags & NO_OUTPUT_TAGS:
            comments = [ln for ln in cell.source.splitlines() if ln.lstrip().startswith("#")]
            assert not comments, f"cell {cell.id}: roles belong in tags, not comments"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_matches_the_parameter_model(path: Path) -> None:
    """The parameters cell and `durable_sim.notebook` declare the same names and defaults."""
    model = NOTEBOOK_PARAMETERS[path.stem]
    declared = pm.inspect_notebook(str(path))
    assert sorted(declared) == sorted(model.model_fields)
    for name, field in model.model_fields.items():
        default = ast.literal_eval(declared[name]["default"])
        checked = getattr(model.check({name: default}), name)
        assert checked == field.default and type(checked) is type(field.default), name
        # as written, too (a list for a tuple of names: papermill has no tuple type)
        written = list if isinstance(field.default, tuple) else type(field.default)
        assert type(default) is written, name
        assert declared[name]["help"], f"{name} has no comment in the parameters cell"


def test_nbval_strict(tmp_path: Path) -> None:
    for name in COPIED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, tmp_path / name)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    install_kernel()  # the kernel the notebooks name, in this environment
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_PATH"}
    env[ROOT_ENV] = str(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--nbval",
            "--nbval-sanitize-with",
            str(tmp_path / "tools" / "nbval_sanitize.cfg"),
            str(tmp_path / "notebooks"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
