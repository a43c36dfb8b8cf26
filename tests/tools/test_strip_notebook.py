"""Notebook normalization: metadata cut to the allow-list, whatever an editor or run added."""

from __future__ import annotations

from pathlib import Path

import nbformat
from strip_notebook import KERNELSPEC, strip_file, stripped_text

REPO = Path(__file__).resolve().parents[2]


def _edited(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` as JupyterLab, VS Code and papermill leave it after a run on Python 3.11.2."""
    nb.metadata.kernelspec = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.language_info.version = "3.11.2"
    nb.metadata.vscode = {"interpreter": {"hash": "abc"}}
    nb.metadata.papermill = {"duration": 1.5, "start_time": "2026-01-01"}
    nb.metadata.widgets = {"state": {}}
    for cell in nb.cells:
        cell.metadata.jupyter = {"outputs_hidden": True, "source_hidden": False}
        cell.metadata.vscode = {"languageId": "python"}
        cell.metadata.collapsed = True
        cell.metadata.execution = {"iopub.status.busy": "2026-01-01T00:00:00"}
        cell.metadata.papermill = {"status": "completed"}
    return nb


def test_editor_and_run_metadata_are_removed(tmp_path: Path) -> None:
    source = REPO / "notebooks" / "01_counter.ipynb"
    committed = source.read_text(encoding="utf-8")
    path = tmp_path / source.name
    nbformat.write(_edited(nbformat.read(source, as_version=4)), path)
    assert path.read_text(encoding="utf-8") != committed
    strip_file(path)
    assert path.read_text(encoding="utf-8") == committed


def test_committed_notebooks_are_normalized() -> None:
    for path in sorted((REPO / "notebooks").glob("[0-9]*.ipynb")):
        assert stripped_text(path) == path.read_text(encoding="utf-8"), path.name
        nb = nbformat.read(path, as_version=4)
        assert set(nb.metadata) == {"kernelspec", "language_info"}
        assert dict(nb.metadata.kernelspec) == KERNELSPEC
        assert nb.metadata.language_info.version == "3.11"
        assert all(set(cell.metadata) == {"tags"} for cell in nb.cells)


def test_a_dsns_secrets_in_the_injected_parameters_are_masked(tmp_path: Path) -> None:
    """papermill writes the parameters it was given into the executed notebook: a ``database``
    DSN's password would be committed with it. The normalized notebook shows it masked."""
    source = REPO / "notebooks" / "01_counter.ipynb"
    nb = nbformat.read(source, as_version=4)
    (at,) = [i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.tags]
    nb.cells[at].source = (
        "# Parameters\n"
        'database = "postgresql://su:S3cretPassw0rdXYZ@127.0.0.1:5432/postgres"\n'
        "counter_runs = 3\n"
        'other_profiles = ["host=h sslpassword=KeyPassZZZ", "aws-lambda"]\n'
    )
    path = tmp_path / source.name
    nbformat.write(nb, path)
    strip_file(path)
    cell = nbformat.read(path, as_version=4).cells[at]
    assert cell.source == (
        "# Parameters\n"
        'database = "user=su password=*** dbname=postgres host=127.0.0.1 port=5432"\n'
        "counter_runs = 3\n"
        'other_profiles = ["host=h sslpassword=***", "aws-lambda"]\n'
    )
