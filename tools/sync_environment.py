"""Write environment.yml from requirements.lock, so the conda environment mirrors the pins.

python tools/sync_environment.py          # rewrite environment.yml
python tools/sync_environment.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = """\
# Generated from requirements.lock by tools/sync_environment.py; do not edit by hand.
name: durable-sim
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def render(lock_text: str) -> str:
    pins = [
        line.strip()
        for line in lock_text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return HEADER + "".join(f"      - {pin}\n" for pin in pins) + "      - -e .\n"


def main(argv: list[str]) -> int:
    expected = render((ROOT / "requirements.lock").read_text())
    target = ROOT / "environment.yml"
    if "--check" in argv:
        if not target.exists() or target.read_text() != expected:
            print("environment.yml is out of date: run python tools/sync_environment.py")
            return 1
        return 0
    target.write_text(expected)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
