"""`tools/reproduce.py` on a temporary copy, in a hostile environment, gives the committed outputs
byte for byte: the `git status`-equivalence of `make reproduce`.

The environment is the one users report: a matplotlibrc that says ``savefig.bbox: tight`` (via
``MATPLOTLIBRC`` and ``XDG_CONFIG_HOME``), a ``HOME`` that cannot be written (Matplotlib's cache
and Jupyter's runtime directory would go there), and ``JUPYTER_PATH`` pointing at foreign
``python3`` and ``durable-sim`` kernels that must never be started. The copy's outputs are
deleted first, so no stale file can pass for a new one. Covers the executed notebooks, the
manifest, the run rows and their sidecars, every table, Figure 1 and the paper PDF. A failure
means a committed output is stale (run `make reproduce` and commit) or the pipeline depends on
something it should not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
COPIED = ("notebooks", "params", "data", "figures", "paper", "tools")
GENERATED = ("notebooks", "data/experiments", "paper/generated", "figures", "paper/build")
#: Provenance keys that legitimately differ between checkouts with uncommitted source edits.
VOLATILE_META_KEYS = ("code_sha256",)
HOSTILE_RC = "savefig.bbox: tight\nfont.size: 19\naxes.grid: False\nsavefig.facecolor: red\n"


def test_committed_runs_without_injected_failures_all_succeeded() -> None:
    # Every data file the experiment harness wrote (its sidecar lists experiment specs): a run
    # with failure_probability 0 that is not ok is a fault of the code, never a result.
    checked = 0
    for meta_path in sorted((REPO / "data").rglob("*.meta.json")):
        specs = json.loads(meta_path.read_text())["specs"]
        if not all("workload" in spec for spec in specs):
            continue  # not experiment runs (e.g. the actor study, whose ok means "no lost update")
        rows = pd.read_csv(meta_path.with_name(meta_path.name.removesuffix(".meta.json") + ".csv"))
        injected = rows.get("failure_probability", 0.0)
        failed = rows[~rows["ok"].astype(bool) & (injected == 0)]
        assert failed.empty, f"{meta_path.name}: runs {failed['run_id'].tolist()} failed"
        checked += 1
    assert checked >= 10


def _files(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name in GENERATED:
        for path in sorted((root / name).rglob("*")):
            if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                data = path.read_bytes()
                if path.name.endswith(".meta.json"):
                    meta = json.loads(data)
                    for key in VOLATILE_META_KEYS:
                        meta.pop(key, None)
                    data = json.dumps(meta, indent=2, sort_keys=True).encode()
                out[path.relative_to(root).as_posix()] = data
    return out


def _hostile_environment(base: Path) -> dict[str, str]:
    """The caller's environment as a user with their own Matplotlib and Jupyter setup has it."""
    rc_dir = base / "rc"
    (base / "xdg" / "matplotlib").mkdir(parents=True)
    rc_dir.mkdir()
    for path in (rc_dir / "matplotlibrc", base / "xdg" / "matplotlib" / "matplotlibrc"):
        path.write_text(HOSTILE_RC)
    marker = base / "foreign-kernel-started"
    foreign = base / "foreign" / "kernels"
    for name in ("python3", "durable-sim"):
        (foreign / name).mkdir(parents=True)
        spec = {
            "argv": ["/bin/sh", "-c", f"touch {marker}; exit 1", "{connection_file}"],
            "display_name": f"foreign {name}",
            "language": "python",
        }
        (foreign / name / "kernel.json").write_text(json.dumps(spec))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "JUPYTER_", "MPL", "IPYTHON"))
    }
    env.update(
        HOME="/dev/null/home",  # not a directory: nothing can be created under it, even by root
        MATPLOTLIBRC=str(rc_dir),
        XDG_CONFIG_HOME=str(base / "xdg"),
        JUPYTER_PATH=str(foreign.parent),
    )
    return env


def test_reproduce_in_a_hostile_environment_is_byte_identical(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    for name in COPIED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, copy / name)
    for name in GENERATED:  # regenerate from nothing: no stale file can pass for a new one
        for path in (copy / name).rglob("*"):
            if path.is_file() and path.suffix != ".ipynb" and path.name != "paper.typ":
                path.unlink()
    result = subprocess.run(
        [sys.executable, "tools/reproduce.py", "--params", "params/paper", "--root", "."],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=900,
        env=_hostile_environment(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert not (tmp_path / "foreign-kernel-started").exists(), "a foreign kernel was started"
    committed, rerun = _files(REPO), _files(copy)
    assert sorted(rerun) == sorted(committed), "generated file sets differ"
    differing = [name for name in committed if committed[name] != rerun[name]]
    assert not differing, f"not byte-identical after a rerun: {differing}"
    log = json.loads((copy / "logs" / "reproduce.json").read_text())
    assert log["environment"]["python"] == sys.version  # the full version is recorded here
