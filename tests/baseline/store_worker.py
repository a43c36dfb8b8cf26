"""One process of the cross-process store test: increments shared counters, three ways.

    python store_worker.py LOCATION ROUNDS

LOCATION is a SQLite file path or a ``postgresql://`` URL. The worker opens the store, prints
``ready`` and waits for a line on stdin (so that every worker starts at once), then runs ROUNDS
rounds, each incrementing three items of table ``counters`` (the test seeds them) by one:

- ``cas``: read the value, pause, write value + 1 on the condition that it is still the value
  read; on `ConditionalCheckFailed` read again and retry (the baseline's compare-and-swap loop);
- ``add``: one atomic add;
- ``racy``: read, pause, put value + 1 unconditionally. The control: it loses updates whenever
  workers overlap, so the test can tell that they did.

The pause (1 ms) stands for the work a function does between its read and its write. Prints one
JSON line: the rounds done, the conditional failures met, and the store's call counts.
"""

from __future__ import annotations

import json
import sys
import time

from durable_sim.baseline import ConditionalCheckFailed, KVStore, open_store
from durable_sim.clock import VirtualClock
from durable_sim.latency import LatencyProfile, Sampler

THINK_S = 0.001


def _value(kv: KVStore, key: str) -> int:
    item = kv.get("counters", key)
    assert item is not None, f"the test seeds counters[{key!r}] before starting workers"
    value: int = item["n"]
    return value


def main(location: str, rounds: int) -> None:
    args = {"backend": location} if "://" in location else {"backend": "sqlite", "path": location}
    kv = open_store(**args, clock=VirtualClock(), sampler=Sampler(LatencyProfile(name="z"), 0))
    print("ready", flush=True)
    sys.stdin.readline()
    failures = 0
    for _ in range(rounds):
        while True:
            seen = _value(kv, "cas")
            time.sleep(THINK_S)
            try:
                kv.update("counters", "cas", {"n": seen + 1}, condition={"n": seen})
                break
            except ConditionalCheckFailed:
                failures += 1
        kv.add("counters", "add", "n", 1)
        seen = _value(kv, "racy")
        time.sleep(THINK_S)
        kv.put("counters", "racy", {"n": seen + 1})
    counts = kv.counters
    kv.close()
    print(json.dumps({"rounds": rounds, "failures": failures, "writes": counts.writes}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
