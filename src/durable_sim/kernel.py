"""The project's Jupyter kernel: a named kernelspec that runs this environment's Python.

`make env` installs it into the virtual environment (``python -m durable_sim.kernel``), `make lab`
starts JupyterLab with it as the default, and the notebooks' kernelspec names it, so a notebook
runs this package's interpreter whatever other ``python3`` kernels the user's Jupyter knows.
The kernelspec's ``argv`` holds the absolute path of the interpreter that installed it.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The kernelspec name notebooks, papermill and JupyterLab use for this project.
KERNEL_NAME = "durable-sim"
#: What JupyterLab's launcher and kernel picker show.
KERNEL_DISPLAY_NAME = "durable-sim (Python 3.11)"


def install_kernel(prefix: str | Path | None = None) -> Path:
    """Install (or refresh) the `KERNEL_NAME` kernelspec under ``<prefix>/share/jupyter/kernels``.

    `prefix` defaults to ``sys.prefix`` (the virtual environment). Returns the kernelspec's
    directory. Needs ``ipykernel`` (the ``lab`` dependency group).
    """
    from ipykernel.kernelspec import install

    return Path(
        install(
            kernel_name=KERNEL_NAME,
            display_name=KERNEL_DISPLAY_NAME,
            prefix=str(prefix if prefix is not None else sys.prefix),
        )
    )


def main() -> int:
    """Entry point of ``python -m durable_sim.kernel``: install the kernel, print its directory."""
    print(install_kernel())
    return 0


if __name__ == "__main__":
    sys.exit(main())
