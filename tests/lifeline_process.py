"""A process that runs a pool on a sweep's lifeline (`durable_sim.sweeps._lifeline`): two
spawned workers, then a child forked from this process as a workload's server or another
thread's fork would be (it inherits both ends of the lifeline's pipe), whose pid it prints.

``python lifeline_process.py end``: the workers return at once and the pool ends; prints
``ended`` once the lifeline has closed. ``python lifeline_process.py wait``: the workers sleep
for 10 minutes, for the test to SIGKILL this process. ``python lifeline_process.py
wait-without-proc``: as ``wait`` on a host without ``/proc`` (no reaper: the workers' own
fallback), and no child forked (prints 0)."""

from __future__ import annotations

import os
import sys
import time

from durable_sim import sweeps


def nap(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def main(mode: str) -> None:
    if mode == "wait-without-proc":
        isdir = os.path.isdir
        os.path.isdir = lambda path: path != "/proc/self/fd" and isdir(path)  # type: ignore[assignment]
    with sweeps._pool_on_lifeline(2) as pool:
        futures = [pool.submit(nap, 0.0 if mode == "end" else 600.0) for _ in range(2)]
        child = 0 if mode == "wait-without-proc" else os.fork()
        if child == 0 and mode != "wait-without-proc":
            time.sleep(30)
            os._exit(0)
        print(child, flush=True)
        for future in futures:
            future.result()
    print("ended", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
