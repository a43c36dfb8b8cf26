"""The README's examples run as written, in a temporary copy of the repository.

Every ``sh`` block except the two set-up commands (``make reproduce``/``make test``, which are
this suite) and every ``python`` block is run from the copy's root, with a ``HOME`` that cannot
be written: the executed notebooks must show no warning, the outputs must land in ``scratch/``
and the copy's committed files must stay as they were.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from durable_sim.kernel import install_kernel

REPO = Path(__file__).resolve().parents[1]
COPIED = ("notebooks", "params", "data", "figures", "paper", "tools")


def _blocks(language: str) -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.S | re.M)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for name in COPIED
        for p in sorted((root / name).rglob("*"))
        if p.is_file()
    }


def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    for name in COPIED:
        shutil.copytree(REPO / name, copy / name)
    before = _tree(copy)
    install_kernel()  # what `make env` does: the kernel the notebooks name
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "JUPYTER", "MPL"))}
    env.pop("DURABLE_SIM_ROOT", None)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME="/dev/null/home",  # not writable, even by root
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),  # Jupyter's own need, not ours
    )
    shell = [b for b in _blocks("sh") if not b.lstrip().startswith("make ")]
    assert shell and any("papermill" in b for b in shell)
    for block in shell:
        for line in block.strip().splitlines():
            done = subprocess.run(
                ["bash", "-c", line], cwd=copy, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"
    for block in _blocks("python"):
        done = subprocess.run(
            [sys.executable, "-c", block],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert _tree(copy) == before, "an example wrote into the committed files"
    executed = sorted((copy / "scratch").glob("*.ipynb"))
    assert [p.name for p in executed] == ["01.ipynb", "02.ipynb"]
    for path in executed:
        for cell in nbformat.read(path, as_version=4).cells:
            for out in cell.get("outputs", []):
                assert out.get("name") != "stderr", f"{path.name}: {out.get('text', '')[:300]}"
                assert out.output_type != "error"
    video = (copy / "scratch" / "data" / "experiments" / "phase2_video.csv").read_text()
    assert video.count("\n") == 1 + 10 + 5  # header, 10 durable runs, -p runs_baseline 5
    assert (copy / "scratch" / "video.csv").is_file()
