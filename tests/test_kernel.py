"""The project kernel: its spec names this interpreter and our launcher; private config dirs."""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from durable_sim import KERNEL_NAME, kernel


def test_install_writes_the_spec_once(tmp_path: Path) -> None:
    target = kernel.install_kernel(tmp_path, python="/opt/py/bin/python")
    assert target == tmp_path / "share" / "jupyter" / "kernels" / "durable-sim"
    spec = json.loads((target / "kernel.json").read_text())
    assert spec["argv"] == [
        "/opt/py/bin/python",
        "-c",
        "from durable_sim.kernel import main; main()",
        "-f",
        "{connection_file}",
    ]
    assert spec["language"] == "python"
    assert spec["display_name"] == kernel.KERNEL_DISPLAY_NAME
    assert "durable-sim" in kernel.KERNEL_DISPLAY_NAME
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


def test_the_environment_has_the_kernel() -> None:
    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert KERNEL_NAME == "durable-sim"
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
    assert spec.argv[1:3] == list(kernel.LAUNCH)  # our launcher, not ipykernel's
