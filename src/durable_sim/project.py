"""Where a project's files are: its root, whatever the working directory, and its directories.

A notebook, the reproduce driver and ``durable-sim report`` all read and write through
`ProjectPaths`, so a path never depends on the process's working directory. The root comes from
one of two rules:

- `project_root` (notebooks, the driver): an explicit absolute ``output_root``, else the
  ``DURABLE_SIM_ROOT`` environment variable (the reproduce driver points it at its scratch
  tree), else the checkout this package is installed from (editable install);
- `find_project_root` (the command line's default ``--root``): the nearest directory at or
  above a start directory that holds ``paper/paper.typ``.

Layout under a root::

    data/experiments/*.csv (+ .meta.json)   run rows, written by notebooks 01 to 04
    data/measured/                          the measured data set (`make measure`), read
    data/prices/*.yaml                      price tables (the experiments), read
    figures/*.{pdf,svg,png}                 figures
    paper/generated/*.{csv,tex,md}          tables and sentences the paper reads
    paper/paper.typ -> paper/build/paper.pdf
"""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from durable_sim.errors import OutputPathError
from durable_sim.files import refuses_files

#: Environment variable naming the output root when a notebook's ``output_root`` is empty.
ROOT_ENV = "DURABLE_SIM_ROOT"
#: The distribution name that marks a checkout's ``pyproject.toml`` as this project's.
PROJECT_NAME = "durable-sim"


class ProjectRootError(OutputPathError):
    """The project root cannot be found or is not usable; the message says what to set."""


def _is_project(root: Path) -> bool:
    try:
        meta = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return bool(meta.get("project", {}).get("name") == PROJECT_NAME)


@functools.cache
def installed_checkout() -> Path | None:
    """The checkout this package is installed from (editable install), or None.

    Found once per process (its ``pyproject.toml`` is parsed then): where this module's file
    lies does not change while the process runs, and `project_root` asks on every call (a
    sweep's point resolves its price table twice)."""
    root = Path(__file__).resolve().parents[2]
    return root if _is_project(root) else None


def project_root(output_root: str | Path = "") -> Path:
    """The directory holding ``data/``, ``figures/`` and ``paper/``, independent of the cwd.

    `output_root` if given, else ``$DURABLE_SIM_ROOT``, else `installed_checkout()`. An explicit
    root must be an absolute path. Raises `ProjectRootError` when none applies.
    """
    for value, source in ((output_root, "output_root"), (os.environ.get(ROOT_ENV, ""), ROOT_ENV)):
        if str(value):
            path = Path(value).expanduser()
            if not path.is_absolute():
                raise ProjectRootError(
                    f"bad {source}={str(value)!r}: an absolute path is needed, so the result "
                    "does not depend on the working directory"
                )
            return path
    checkout = installed_checkout()
    if checkout is None:
        raise ProjectRootError(
            f"durable_sim is installed outside a {PROJECT_NAME} checkout "
            f"({Path(__file__).resolve().parent}); "
            f"set output_root or {ROOT_ENV} to an absolute path"
        )
    return checkout


def find_project_root(start: str | Path = ".") -> Path:
    """The nearest directory at or above `start` that holds ``paper/paper.typ``.

    Raises `ProjectRootError` (a `durable_sim.errors.SpecError`) naming `start` if there is none.
    """
    here = Path(start).resolve()
    for candidate in (here, *here.parents):
        if ProjectPaths(candidate).paper_source.is_file():
            return candidate
    raise ProjectRootError(
        f"no durable-sim project at or above {str(here)!r} "
        "(accepted: a directory holding paper/paper.typ; pass --root)"
    )


@dataclass(frozen=True)
class ProjectPaths:
    """The directories and files of a project root (see the module docstring's layout)."""

    root: Path

    #: The generated-output directories the notebooks write, relative to the root.
    OUTPUT_DIRS: ClassVar[tuple[str, ...]] = ("data/experiments", "figures", "paper/generated")

    @property
    def data(self) -> Path:
        """Run rows: ``<root>/data/experiments/*.csv`` with ``.meta.json`` sidecars."""
        return self.root / "data" / "experiments"

    @property
    def measured(self) -> Path:
        """The measured data set (``make measure``): ``<root>/data/measured``; may be absent."""
        return self.root / "data" / "measured"

    @property
    def figures(self) -> Path:
        """Figures: ``<root>/figures/*.{pdf,svg,png}``."""
        return self.root / "figures"

    @property
    def tables(self) -> Path:
        """Generated tables the paper reads: ``<root>/paper/generated/*.{csv,tex,md}``."""
        return self.root / "paper" / "generated"

    @property
    def paper_source(self) -> Path:
        """The Typst source of the paper: ``<root>/paper/paper.typ``."""
        return self.root / "paper" / "paper.typ"

    @property
    def paper_pdf(self) -> Path:
        """The compiled paper: ``<root>/paper/build/paper.pdf``."""
        return self.root / "paper" / "build" / "paper.pdf"

    def ensure(self) -> ProjectPaths:
        """Create the output directories and check each is writable, before any work is done.

        Raises `ProjectRootError` naming the first directory that cannot be used.
        """
        for rel in self.OUTPUT_DIRS:
            path = self.root / rel
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ProjectRootError(f"cannot create output directory {path}: {exc}") from None
            reason = refuses_files(path)
            if reason is not None:
                raise ProjectRootError(f"bad output directory: {reason}")
        return self
