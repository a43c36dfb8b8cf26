"""A pool job that starts a process of its own which outlives the job (a workload's server, a
daemon): by `os.fork` or by `subprocess` keeping the parent's descriptors. Imported by the
spawned workers of `test_sweeps_parent_death` by module name."""

from __future__ import annotations

import os
import subprocess
import time


def start_descendant(how: str) -> int:
    """Start a process that sleeps 30 s in a session of its own and return its pid; `how` is
    ``"fork"`` (`os.fork`, every descriptor inherited) or ``"popen"`` (`subprocess.Popen` with
    ``close_fds=False``: every inheritable descriptor kept across the exec)."""
    if how == "fork":
        pid = os.fork()
        if pid == 0:
            os.setsid()
            time.sleep(30)
            os._exit(0)
        return pid
    return subprocess.Popen(["sleep", "30"], close_fds=False, start_new_session=True).pid
