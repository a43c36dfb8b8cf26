"""The project kernel: its spec names this interpreter and our launcher; private config dirs."""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from durable_sim import kernel


def test_install_writes_the_spec_once(tmp_path: Path) -> None:
    target = kernel.install_kernel(tmp_path, python="/opt/py/bin/python")
    assert target == tmp_path / "share" / "jupyter" / "kernels" / "durable-sim"
    spec = json.loads((target / "kernel.json").read_text())
    assert spec["argv"] == [
        "/opt/py/bin/python",
        "-m",
        "durable_sim.kernel",
        "-f",
        "{connection_file}",
    ]
    assert spec["language"] == "python"
    first = (target / "kernel.json").stat().st_mtime_ns
    kernel.install_kernel(tmp_path, python="/opt/py/bin/python")
    assert (target / "kernel.json").stat().st_mtime_ns == first  # current: not rewritten
    kernel.install_kernel(tmp_path, python=sys.executable)
    assert json.loads((target / "kernel.json").read_text())["argv"][0] == sys.executable


def test_private_dir_is_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = kernel.private_dir()
    assert path == tmp_path / f"durable-sim-{os.getuid()}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert kernel.private_dir() == path  # reused: the font cache is built once
    os.chmod(path, 0o777)  # opened to others: not trusted any more
    other = kernel.private_dir()
    assert other != path and stat.S_IMODE(other.stat().st_mode) == 0o700


def test_kernel_environment_isolates_user_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    environ = {"MATPLOTLIBRC": "/home/u/rc", "PYTHONSTARTUP": "/home/u/s.py", "KEEP": "1"}
    kernel.apply_kernel_environment(environ)
    assert "MATPLOTLIBRC" not in environ and "PYTHONSTARTUP" not in environ
    assert environ["KEEP"] == "1"
    for name in ("MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_CONFIG_DIR"):
        assert Path(environ[name]).parent == kernel.private_dir()
        assert os.access(environ[name], os.W_OK)
