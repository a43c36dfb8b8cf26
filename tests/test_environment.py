"""The conda environment mirrors the lock file exactly."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_mirrors_requirements_lock():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "sync_environment.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout


def test_every_pin_is_exact():
    pins = [line for line in (ROOT / "requirements.lock").read_text().splitlines() if line.strip()]
    assert pins and all("==" in pin for pin in pins)
