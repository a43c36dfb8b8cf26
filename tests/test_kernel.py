"""The project kernel: installed by `make env` under its constant name, running this Python."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

from durable_sim import KERNEL_NAME
from durable_sim.kernel import KERNEL_DISPLAY_NAME, install_kernel


def test_install_kernel_writes_a_spec_that_runs_this_interpreter(tmp_path: Path) -> None:
    directory = install_kernel(prefix=tmp_path)
    assert directory == tmp_path / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec = json.loads((directory / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    assert "ipykernel_launcher" in spec["argv"]
    assert spec["display_name"] == KERNEL_DISPLAY_NAME and "durable-sim" in KERNEL_DISPLAY_NAME


def test_the_environment_has_the_kernel() -> None:
    spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    assert KERNEL_NAME == "durable-sim"
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
