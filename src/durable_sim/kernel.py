"""The project's Jupyter kernel ``durable-sim``: this interpreter, with a private Matplotlib dir.

The kernel spec lives in the environment (``<sys.prefix>/share/jupyter/kernels/durable-sim``),
so JupyterLab (`make lab` makes it the default for new notebooks), papermill and the reproduce
driver started from this environment all find it, and a ``python3`` kernel elsewhere on
``JUPYTER_PATH`` cannot stand in for it. Its command runs
`main` (`LAUNCH`, through ``python -c`` rather than ``-m``: the package itself imports this
module, and ``-m`` would then warn on every start): before ipykernel starts, the launcher
points Matplotlib's, IPython's and Jupyter's configuration at a directory only this user can
write (`kernel_environment`). Without that, a kernel whose ``HOME`` is not writable (a container
run as another user) prints Matplotlib's "created a temporary cache directory at
/tmp/matplotlib-XXXX" warning, with a random name, into the first cell that imports Matplotlib,
and a user's matplotlibrc, IPython startup script or kernel config could change outputs.

``main(["--install"])`` (run by `make env`; also ``install_kernel()``) writes or refreshes the
kernel spec.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

#: The kernel's name in notebooks' ``metadata.kernelspec`` and on disk.
KERNEL_NAME = "durable-sim"
#: What JupyterLab's launcher and kernel picker show.
KERNEL_DISPLAY_NAME = "durable-sim (Python 3.11)"


def private_dir() -> Path:
    """A per-user directory that only this user can write: the kernels' configuration home.

    ``<tempdir>/durable-sim-<uid>``, created with mode 0700 and reused (Matplotlib's font cache
    is built once). If that path exists but is not a directory owned by this user and closed to
    others, a fresh private directory is made instead.
    """
    uid = os.getuid()
    path = Path(tempfile.gettempdir()) / f"durable-sim-{uid}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o022:
            return path
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="durable-sim-"))


def kernel_environment() -> dict[str, str]:
    """Variables every project kernel runs with (the launcher and the reproduce driver set them).

    Matplotlib's config and cache (``MPLCONFIGDIR``), IPython's profile (``IPYTHONDIR``) and
    Jupyter's config (``JUPYTER_CONFIG_DIR``) live in `private_dir`, so neither an unwritable
    ``HOME`` (warnings) nor the user's own rc files, startup scripts or kernel config (changed
    outputs) reach a notebook.
    """
    base = private_dir()
    env = {}
    for name, sub in (
        ("MPLCONFIGDIR", "matplotlib"),
        ("IPYTHONDIR", "ipython"),
        ("JUPYTER_CONFIG_DIR", "jupyter"),
    ):
        (base / sub).mkdir(mode=0o700, exist_ok=True)
        env[name] = str(base / sub)
    return env


#: The kernel's command after the interpreter: ``main`` with ipykernel's arguments.
LAUNCH = ("-c", "from durable_sim.kernel import main; main()")

#: Variables removed from a kernel's environment: each lets the user's configuration in.
UNSET = ("MATPLOTLIBRC", "JUPYTER_CONFIG_PATH", "PYTHONSTARTUP")


def apply_kernel_environment(environ: MutableMapping[str, str]) -> None:
    """Set `kernel_environment` in `environ` and remove the `UNSET` variables."""
    environ.update(kernel_environment())
    for name in UNSET:
        environ.pop(name, None)


def kernel_spec(python: str = sys.executable) -> dict[str, Any]:
    """The ``kernel.json`` of the project kernel for interpreter `python`."""
    return {
        "argv": [python, *LAUNCH, "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


def kernel_dir(prefix: str | Path = sys.prefix) -> Path:
    """Where the project kernel's spec lives inside the environment at `prefix`."""
    return Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def install_kernel(prefix: str | Path = sys.prefix, python: str = sys.executable) -> Path:
    """Write the project kernel's spec into the environment at `prefix` unless it is current.

    Returns the spec's directory. Idempotent: an up-to-date spec is not rewritten.
    """
    target = kernel_dir(prefix)
    text = json.dumps(kernel_spec(python), indent=1) + "\n"
    spec = target / "kernel.json"
    if not spec.is_file() or spec.read_text(encoding="utf-8") != text:
        target.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".kernel.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, spec)  # concurrent installers each replace it whole
    return target


def main(argv: list[str] | None = None) -> None:
    """``--install``: write the spec. Otherwise start the kernel (the spec's command)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--install"]:
        print(install_kernel())
        return
    apply_kernel_environment(os.environ)
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance(argv=args)


if __name__ == "__main__":
    main()
