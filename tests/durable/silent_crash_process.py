"""Helper script for the silent-crash tests: an execution whose first invocation fails and
whose retry blocks before it writes anything, until the test kills the process.

usage: python silent_crash_process.py BACKEND LOCATION READY_FILE
BACKEND is ``sqlite`` (LOCATION a path) or ``postgres`` (LOCATION a DSN). The retry creates
READY_FILE, then sleeps: the test kills the process with SIGKILL once the file exists.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python import DurableContext

from durable_sim import LeaseConfig, run_durable
from durable_sim.durable import Journal, PostgresJournal, SqliteJournal

EXECUTION_ID = "silent"
# The killed process's lease blocks the next run until it expires: a short one, waited for.
LEASE = LeaseConfig(duration_s=1.0, on_busy="wait")


class BadStr(Exception):
    """An error the SDK cannot print: its invocation fails, and is run again 5 s later."""

    def __str__(self) -> str:
        raise RuntimeError("str broke")


def open_journal(backend: str, location: str) -> Journal:
    return SqliteJournal(location) if backend == "sqlite" else PostgresJournal(location)


def main() -> None:
    backend, location, ready = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    invocations: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> str:
        invocations.append(1)
        if len(invocations) == 2:  # the retry: nothing written yet
            ready.touch()
            time.sleep(600)
        ctx.step(lambda _: "a", name="a")
        raise BadStr()

    with open_journal(backend, location) as journal:
        run_durable(handler, None, journal=journal, execution_id=EXECUTION_ID, lease=LEASE)


if __name__ == "__main__":
    main()
