"""Normalize executed notebooks to what is committed: outputs and execution counts, fixed metadata.

Metadata is cut to an allow-list, so whatever an editor or a run adds (papermill's timestamps
and paths, nbclient's timings, JupyterLab's ``jupyter.outputs_hidden``, VS Code's ``vscode``,
widget state, ``collapsed``/``scrolled``) never reaches a commit:

- notebook: ``kernelspec`` (always the project kernel, `durable_sim.kernel`) and
  ``language_info`` with its version cut to major.minor (every 3.11.x gives the same bytes);
- cell: ``tags`` only (papermill's ``parameters``, nbval's ``nbval-ignore-output``).

It also gives papermill's injected-parameters cell a fixed id (papermill creates it with a random
one), masks the secrets of any connection string that cell assigns (a ``database`` DSN's
password: `durable_sim.dsn.redact`), and merges consecutive stream outputs, which stdout flushes
in timing-dependent pieces.
Usage: ``python tools/strip_notebook.py NOTEBOOK...``.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import nbformat

from durable_sim.dsn import redact, secrets
from durable_sim.kernel import KERNEL_DISPLAY_NAME, KERNEL_NAME

INJECTED_TAG = "injected-parameters"
#: The kernelspec every committed notebook names.
KERNELSPEC = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}


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


def redacted_parameters(source: str) -> str:
    """papermill's injected assignments (`source`) with every text value that holds a secret
    (`durable_sim.dsn.secrets`) replaced by its redacted form, written as papermill writes a
    text (double quotes); the rest of the cell as it was."""
    lines = source.splitlines(keepends=True)
    texts = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and secrets(node.value)
    ]
    # Last first, so that the positions of the earlier ones still hold.
    for node in sorted(texts, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        assert node.end_lineno is not None and node.end_col_offset is not None
        head = lines[node.lineno - 1].encode()[: node.col_offset].decode()
        tail = lines[node.end_lineno - 1].encode()[node.end_col_offset :].decode()
        literal = json.dumps(redact(node.value), ensure_ascii=False)
        lines[node.lineno - 1 : node.end_lineno] = [head + literal + tail]
    return "".join(lines)


def _language_info(info: dict[str, object]) -> nbformat.NotebookNode:
    """The kernel's language info with the version cut to major.minor ('3.11.2' -> '3.11')."""
    info = dict(info)
    if isinstance(info.get("version"), str):
        info["version"] = ".".join(str(info["version"]).split(".")[:2])
    return nbformat.from_dict(info)


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` with metadata cut to the allow-list (modified in place and returned)."""
    language = nb.metadata.get("language_info")
    nb.metadata = nbformat.from_dict({"kernelspec": dict(KERNELSPEC)})
    if language:
        nb.metadata.language_info = _language_info(language)
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict({"tags": list(cell.metadata.get("tags", []))})
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
        if INJECTED_TAG in cell.metadata.tags:
            cell.id = INJECTED_TAG
            cell.source = redacted_parameters(cell.source)
    return nb


def stripped_text(path: str | Path) -> str:
    """The normalized text of the notebook at `path` (as `strip_file` would write it)."""
    nb = nbformat.read(Path(path), as_version=4)
    return nbformat.writes(strip(nb)) + "\n"


def strip_file(path: str | Path) -> None:
    """Normalize the notebook at `path` in place (same bytes if already normalized)."""
    path = Path(path)
    text = stripped_text(path)
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
