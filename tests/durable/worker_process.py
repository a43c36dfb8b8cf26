"""A ``durable-sim worker`` process serving the test functions (`tests.durable.worker_functions`),
for the tests that run several workers on one journal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
FUNCTIONS_SPEC = f"{HERE / 'worker_functions.py'}:FUNCTIONS"


def start_worker(journal: str | Path, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """A quiet worker on `journal` (a SQLite path or a Postgres DSN) polling every 0.02 s,
    with the CLI `options` (e.g. ``--lease-s 2``); its stderr is appended to the file `log`."""
    with log.open("a") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "durable_sim.cli",
                "worker",
                "--journal",
                str(journal),
                "--functions",
                FUNCTIONS_SPEC,
                "--poll-s",
                "0.02",
                "--quiet",
                *options,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
