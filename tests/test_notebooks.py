"""The committed notebooks: well-formed, executed, and reproduced cell by cell by nbval (strict).

nbval runs on a temporary copy of notebooks/params/data/figures/paper, so re-executing the
notebooks never rewrites files in the working tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))
COPIED = ("notebooks", "params", "data", "figures", "paper", "tools")
NO_OUTPUT_TAGS = {"parameters", "injected-parameters"}


def test_notebooks_exist() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_counter.ipynb",
        "02_video_pipeline.ipynb",
        "03_figure_and_statistics.ipynb",
        "04_actor_semantics.ipynb",
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


def test_nbval_strict(tmp_path: Path) -> None:
    for name in COPIED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, tmp_path / name)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
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
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(tmp_path / "tools" / "nbval_sanitize.cfg"),
            str(tmp_path / "notebooks"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
