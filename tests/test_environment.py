"""The lock: exact pins, mirrored for conda, installable on every Python 3.11.x."""

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
#: The oldest and a late 3.11 release; Debian 12 ships 3.11.2.
PYTHONS_311 = ("3.11.0", "3.11.2", "3.11.15")


def _pins() -> list[tuple[str, str]]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return [tuple(line.split("==")) for line in lines if line.strip()]  # type: ignore[misc]


def test_environment_yml_mirrors_requirements_lock():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "sync_environment.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout


def test_every_pin_is_exact():
    pins = [line for line in (ROOT / "requirements.lock").read_text().splitlines() if line.strip()]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", pin) for pin in pins)


def test_every_pinned_package_installs_on_every_python_311():
    """Each pin is what is installed here, and its Requires-Python admits every 3.11.x
    (soupsieve 4.1.3 needs >= 3.11.5 and broke `make env` on Debian 12's 3.11.2)."""
    refused = []
    for name, version in _pins():
        dist = metadata.distribution(name)
        assert dist.version == version, f"{name}: installed {dist.version}, locked {version}"
        requires = dist.metadata.get("Requires-Python")  # absent: any Python
        if requires and not all(SpecifierSet(requires).contains(v) for v in PYTHONS_311):
            refused.append(f"{name}=={version} (Requires-Python {requires})")
    assert not refused, f"pins that some Python 3.11.x cannot install: {refused}"


def test_project_declares_python_311_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.12"
