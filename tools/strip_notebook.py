"""Strip run-varying metadata from executed notebooks, keeping outputs and execution counts.

Removes papermill's timestamps, durations and paths (notebook and cell metadata), nbclient's
per-cell execution timings, and gives papermill's injected-parameters cell a fixed id (papermill
creates it with a random one), and merges consecutive stream outputs, which stdout flushes
in timing-dependent pieces. Usage: ``python tools/strip_notebook.py NOTEBOOK...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

INJECTED_TAG = "injected-parameters"


def coalesce_streams(outputs: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """Merge consecutive same-name stream outputs (stdout arrives in timing-dependent pieces)."""
    merged: list[nbformat.NotebookNode] = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and out.output_type == "stream"
            and prev.output_type == "stream"
            and prev.name == out.name
        ):
            prev.text = "".join(prev.text) + "".join(out.text)
        else:
            merged.append(out)
    return merged


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` without run-varying metadata (modified in place and returned)."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
        if INJECTED_TAG in cell.metadata.get("tags", []):
            cell.id = INJECTED_TAG
    return nb


def strip_file(path: str | Path) -> None:
    """Strip the notebook at `path` in place (same bytes if already stripped)."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    text = nbformat.writes(strip(nb)) + "\n"
    if path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: strip_notebook.py NOTEBOOK...", file=sys.stderr)
        return 2
    for name in argv:
        strip_file(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
