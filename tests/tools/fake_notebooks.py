"""The reproduce driver with a stand-in for papermill, for the kill trials of test_reproduce.

`fork_driver` starts, in a forked child (everything already imported, so a trial costs no
interpreter start), the real driver (`reproduce.main` on a root with ``params/quick`` and
``--no-paper``): parameter checks, the lock, recovery, the kernel spec and environment, staging
the inputs, the per-notebook snapshots and one-writer check, stripping, the manifest, the run
log and the publish with its commit point. Only the notebooks' execution is stood in for: the
stand-in "executes" a notebook by writing, into the stage, every file the committed manifest
lists for it, with new bytes: run rows as real CSV + sidecar pairs
(`durable_sim.files.publish_pair`), the rest as the committed bytes with a marker, the executed
notebook as the committed one plus a cell. A short pause after each file spreads the staging
over a few hundred ms, so random kills land in every phase.
"""

from __future__ import annotations

import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import nbformat
import reproduce

from durable_sim.files import DATA_FILE_KEY, publish_pair, read_pair, sidecar_path
from durable_sim.project import ROOT_ENV

#: Seconds of pause after each file the stand-in writes.
PAUSE_S = 0.002


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    time.sleep(PAUSE_S)


def fake_execute(root: Path) -> Any:
    """A papermill ``execute_notebook`` that writes the committed outputs of `root`, changed."""
    manifest = json.loads((root / "notebooks" / "manifest.json").read_text(encoding="utf-8"))

    def execute_notebook(input_path: str, output_path: str, **_: Any) -> None:
        stage = Path(os.environ[ROOT_ENV])
        stem = Path(input_path).stem
        for rel in manifest[stem]:
            source, target = root / rel, stage / rel
            if rel.endswith(".meta.json"):
                continue  # written with its CSV
            if rel.endswith(".csv") and sidecar_path(source).is_file():
                data, meta = read_pair(source)
                meta = {k: v for k, v in meta.items() if k != DATA_FILE_KEY}
                target.parent.mkdir(parents=True, exist_ok=True)
                publish_pair(target, data + b"\n", {**meta, "trial": True})
                time.sleep(PAUSE_S)
            elif rel == f"notebooks/{stem}.ipynb":
                nb = nbformat.read(input_path, as_version=4)
                cell = nbformat.v4.new_markdown_cell("executed by the stand-in", id="stand-in")
                nb.cells.append(cell)  # a fixed id: the finished tree is the same every run
                _write(Path(output_path), nbformat.writes(nb).encode())
            else:
                _write(target, source.read_bytes() + b"\n")

    return execute_notebook


def fork_driver(root: Path) -> int:
    """Run the driver on `root` in a forked child, its output discarded; returns the child's pid
    (its exit status is the driver's)."""
    import matplotlib.font_manager  # noqa: F401  (what the driver imports: loaded before the fork)

    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        sys.modules["papermill"] = types.SimpleNamespace(  # type: ignore[assignment]
            execute_notebook=fake_execute(root)
        )
        code = reproduce.main(["--root", str(root), "--params", "params/quick", "--no-paper"])
    finally:
        os._exit(code)  # no atexit handlers or buffers of the test process
