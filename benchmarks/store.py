"""Benchmarks of the baseline's store on PostgreSQL: a store call vs a bare INSERT ... COMMIT.

Both run on one throwaway cluster with ``fsync`` on (the server default, so each commit waits
for its WAL flush), each over its own psycopg connection in autocommit mode. The contenders are
interleaved: every round times `CALLS` of each, in an order that rotates from round to round,
and a ratio is taken within a round, so drift in the shared machine's speed hits both sides of
it. Reported: the median over the rounds, and their range.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import psycopg

from benchmarks.registry import Row, benchmark
from durable_sim.baseline import open_store
from durable_sim.clock import VirtualClock
from durable_sim.latency import LatencyProfile, Sampler
from durable_sim.pgcluster import PostgresCluster

AREA = "store"
ROUNDS = 15
CALLS = 300


def _timed(calls: Callable[[int], None], offset: int) -> float:
    """Seconds per call over `CALLS` calls numbered from `offset`."""
    start = time.perf_counter()
    for i in range(offset, offset + CALLS):
        calls(i)
    return (time.perf_counter() - start) / CALLS


def _spread(values: list[float]) -> str:
    return f"median of {len(values)} rounds, range {min(values):.2f}-{max(values):.2f}"


@benchmark("postgres_store")
def postgres_store() -> list[Row]:
    """Per-call time of a store put and a store atomic add, each over a bare single-row insert."""
    with PostgresCluster(fsync=True) as pg:
        bare = psycopg.connect(pg.dsn, autocommit=True)
        bare.execute("CREATE TABLE bare (k text PRIMARY KEY, v text NOT NULL)")
        item = '{"status": "new"}'  # the JSON text the put below stores
        kv = open_store(pg.dsn, clock=VirtualClock(), sampler=Sampler(LatencyProfile(name="z"), 0))

        def bare_insert(i: int) -> None:
            bare.execute("INSERT INTO bare VALUES (%s, %s)", (f"k{i}", item))

        def put(i: int) -> None:
            kv.put("jobs", f"k{i}", {"status": "new"})

        def add(i: int) -> None:  # the counter workload's call: one hot item
            kv.add("counters", "c", "value", 1)

        contenders = {"bare": bare_insert, "put": put, "add": add}
        names = list(contenders)
        for name in names:  # warm up: connections, prepared statements, table files
            _timed(contenders[name], 10**6)
        per_call: dict[str, list[float]] = {name: [] for name in names}
        for r in range(ROUNDS):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                per_call[name].append(_timed(contenders[name], r * CALLS))
        kv.close()
        bare.close()
    ratios = {
        name: [c / b for c, b in zip(per_call[name], per_call["bare"], strict=True)]
        for name in ("put", "add")
    }
    median_ms = {name: statistics.median(v) * 1000 for name, v in per_call.items()}
    return [
        Row(AREA, "bare INSERT ... COMMIT, per row", median_ms["bare"], "ms", "-", None),
        Row(AREA, "Postgres store put, per call", median_ms["put"], "ms", "-", None),
        Row(AREA, "Postgres store atomic add, per call", median_ms["add"], "ms", "-", None),
        Row(
            AREA,
            f"store put / bare INSERT ({_spread(ratios['put'])})",
            statistics.median(ratios["put"]),
            "x",
            "-",
            None,
        ),
        Row(
            AREA,
            f"store atomic add / bare INSERT ({_spread(ratios['add'])})",
            statistics.median(ratios["add"]),
            "x",
            "-",
            None,
        ),
    ]
