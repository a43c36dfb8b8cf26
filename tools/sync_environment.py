"""Write environment.yml from requirements.lock and pyproject.toml, so the conda environment
mirrors the pins and the optional dependency groups.

python tools/sync_environment.py          # rewrite environment.yml
python tools/sync_environment.py --check  # exit 1 if it is out of date, or a direct
                                          # dependency of pyproject.toml has no pin in the lock

requirements.lock stays the one set of exact pins: `make env` installs all of it, every
optional group included; environment.yml lists the same pins and installs the project with
every group (``-e .[dask,dev,lab,postgres]``), naming each group's direct needs in a comment.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
HEADER = """\
# Generated from requirements.lock and pyproject.toml by tools/sync_environment.py; do not edit by
# hand. The pins are requirements.lock's; the project is installed with every optional group:
{groups}name: durable-sim
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def lock_pins(lock_text: str) -> list[str]:
    """The lock's ``name==version`` lines, in order."""
    return [
        line.strip()
        for line in lock_text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def groups(pyproject: dict[str, object]) -> dict[str, list[str]]:
    """The project's direct requirements by group (``""`` is the core), as written."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    found: dict[str, list[str]] = {"": list(project.get("dependencies", []))}
    found.update(project.get("optional-dependencies", {}))
    return found


def _extra_packages(name: str, extra: str) -> list[str]:
    """The packages that `name`'s `extra` adds, read from its installed metadata."""
    try:
        requires = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return []
    found = []
    for text in requires:
        req = Requirement(text)
        marker = req.marker
        if marker is not None and marker.evaluate({"extra": extra}) and not marker.evaluate():
            found.append(req.name)
    return found


def unpinned(pins: list[str], by_group: dict[str, list[str]]) -> list[str]:
    """Direct requirements (and the packages their extras add) with no pin in the lock."""
    pinned = {canonicalize_name(pin.split("==")[0]) for pin in pins}
    missing = []
    for group, requirements in by_group.items():
        for text in requirements:
            req = Requirement(text)
            names = [
                req.name,
                *(n for e in sorted(req.extras) for n in _extra_packages(req.name, e)),
            ]
            missing += [
                f"{n} ({group or 'core'})" for n in names if canonicalize_name(n) not in pinned
            ]
    return missing


def render(lock_text: str, by_group: dict[str, list[str]]) -> str:
    """environment.yml's text for these pins and groups."""
    optional = {name: reqs for name, reqs in by_group.items() if name}
    comment = "".join(f"#   {name}: {', '.join(reqs)}\n" for name, reqs in sorted(optional.items()))
    extras = ",".join(sorted(optional))
    pins = "".join(f"      - {pin}\n" for pin in lock_pins(lock_text))
    return HEADER.format(groups=comment) + pins + f"      - -e .[{extras}]\n"


def main(argv: list[str]) -> int:
    lock_text = (ROOT / "requirements.lock").read_text()
    by_group = groups(tomllib.loads((ROOT / "pyproject.toml").read_text()))
    expected = render(lock_text, by_group)
    target = ROOT / "environment.yml"
    if "--check" in argv:
        missing = unpinned(lock_pins(lock_text), by_group)
        if missing:
            print(f"requirements.lock has no pin for: {', '.join(missing)}")
            return 1
        if not target.exists() or target.read_text() != expected:
            print("environment.yml is out of date: run python tools/sync_environment.py")
            return 1
        return 0
    target.write_text(expected)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
